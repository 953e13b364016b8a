//! Resources a caller may not see answer as if they did not exist.
//!
//! A 403 on a resource tells the caller it exists (a private image, a token of another
//! user); Glance and Keystone answer 404 there, the same 404 as for an id nobody ever used.
//! Every check of that kind goes through [`authorize_or_hide`], so the two answers cannot
//! drift apart (message included).

use crate::{Error, ErrorKind, Result};

/// `result`, except that a refusal (403) or a not-found becomes `missing()`: the answer
/// the caller gets for a resource that does not exist.
pub fn authorize_or_hide<T>(result: Result<T>, missing: impl FnOnce() -> Error) -> Result<T> {
    result.map_err(|e| match e.kind {
        ErrorKind::Forbidden | ErrorKind::NotFound => missing(),
        _ => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_look_like_absence() {
        let missing = || Error::not_found("No image found with ID x");
        for e in [Error::forbidden("not yours"), Error::not_found("gone")] {
            let got = authorize_or_hide::<()>(Err(e), missing).unwrap_err();
            assert_eq!(got.kind, ErrorKind::NotFound);
            assert_eq!(got.message, "No image found with ID x");
        }
        let other = authorize_or_hide::<()>(Err(Error::conflict("busy")), missing).unwrap_err();
        assert_eq!(other.kind, ErrorKind::Conflict);
        assert_eq!(authorize_or_hide(Ok(1), missing).unwrap(), 1);
    }
}

//! How a database failure reaches the user: the one classification of `sqlx::Error`.
//!
//! It lives here, beside [`Error`], because of the orphan rule: `impl From<sqlx::Error>
//! for Error` may only be written in the crate that defines `Error` or the one that
//! defines `sqlx::Error`, and it must exist for `?` to work on queries in every service's
//! store. The db crate's documentation points here.
//!
//! | sqlx error | kind | message |
//! |---|---|---|
//! | `RowNotFound` (`fetch_one` found nothing) | NotFound | generic |
//! | unique violation | Conflict | generic "already exists" |
//! | pool timed out, pool closed | Unavailable | "The database is not available." |
//! | anything else (including a column that does not decode) | Internal | generic |
//!
//! The sqlx error is always kept as the [source](Error::with_source), so the log shows
//! the constraint, the column or the engine's own message; the user never does.
//! Services that can say more (which resource, which name) map the kind themselves:
//! prefer [`Error::not_found_id`] and [`Error::conflict_id`] over these generic texts.

use super::{Error, ErrorKind};

/// The message of a unique violation the service did not word itself.
pub const DUPLICATE: &str =
    "Conflict occurred attempting to store the resource: it already exists.";

/// The message of a `RowNotFound` the service did not word itself.
pub const NO_ROW: &str = "Could not find the requested resource.";

/// Which kind of [`Error`] a sqlx error is (the table above).
pub fn classify(e: &sqlx::Error) -> ErrorKind {
    match e {
        sqlx::Error::RowNotFound => ErrorKind::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => ErrorKind::Conflict,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        let err = match classify(&e) {
            ErrorKind::NotFound => Error::not_found(NO_ROW),
            ErrorKind::Conflict => Error::conflict(DUPLICATE),
            ErrorKind::Unavailable => Error::unavailable("The database is not available."),
            _ => return Error::internal_from(e),
        };
        err.with_source(e)
    }
}

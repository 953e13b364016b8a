//! TempURL: a signed, expiring URL to one object, for callers without a token.
//!
//! The signature is an HMAC of `METHOD\nEXPIRES\nPATH` with one of the account's keys
//! (`X-Account-Meta-Temp-URL-Key`, `-Key-2`) or the container's (`X-Container-Meta-
//! Temp-URL-Key`, `-Key-2`), sent as `temp_url_sig` (hex: SHA-1, SHA-256 or SHA-512 by
//! its length, or `<digest>:<base64>`), with `temp_url_expires` (seconds since the
//! epoch). GET and HEAD signatures read (a GET one serves HEAD too), PUT ones write.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::model::Meta;

/// What a request brings of a TempURL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempUrl {
    pub method: String,
    /// The request's path, decoded (`/v1/AUTH_p/c/o`).
    pub path: String,
    pub sig: String,
    pub expires: u64,
}

/// The keys of an account's or a container's metadata.
pub fn keys(meta: &Meta) -> impl Iterator<Item = &str> {
    ["temp-url-key", "temp-url-key-2"]
        .into_iter()
        .filter_map(|k| meta.get(k).map(String::as_str))
        .filter(|k| !k.is_empty())
}

/// The HMAC of `msg` with `key`, by the digest's name (`sha1`, `sha256`, `sha512`).
fn mac(algo: &str, key: &str, msg: &str) -> Vec<u8> {
    macro_rules! hmac_of {
        ($d:ty) => {{
            let mut m =
                Hmac::<$d>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
            m.update(msg.as_bytes());
            m.finalize().into_bytes().to_vec()
        }};
    }
    match algo {
        "sha1" => hmac_of!(sha1::Sha1),
        "sha256" => hmac_of!(sha2::Sha256),
        _ => hmac_of!(sha2::Sha512),
    }
}

/// The signature's digest and bytes.
fn decode(sig: &str) -> Option<(&'static str, Vec<u8>)> {
    if let Some((algo, b64)) = sig.split_once(':') {
        let algo = match algo {
            "sha1" => "sha1",
            "sha256" => "sha256",
            "sha512" => "sha512",
            _ => return None,
        };
        let b64 = b64.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
            .ok()?;
        return Some((algo, bytes));
    }
    let bytes = hex::decode(sig).ok()?;
    let algo = match bytes.len() {
        20 => "sha1",
        32 => "sha256",
        64 => "sha512",
        _ => return None,
    };
    Some((algo, bytes))
}

/// Whether `t` is signed by one of `keys` for `method`, and not expired at `now`.
pub fn valid<'k>(t: &TempUrl, method: &str, now: u64, keys: impl Iterator<Item = &'k str>) -> bool {
    if t.expires <= now {
        return false;
    }
    let Some((algo, sig)) = decode(&t.sig) else {
        return false;
    };
    // a GET signature also serves HEAD
    let methods: &[&str] = if method == "HEAD" {
        &["HEAD", "GET"]
    } else {
        &[method]
    };
    for key in keys {
        for m in methods {
            let msg = format!("{m}\n{}\n{}", t.expires, t.path);
            let want = mac(algo, key, &msg);
            if bool::from(want.ct_eq(&sig)) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let path = "/v1/AUTH_p/c/o";
        let sign =
            |m: &str, exp: u64| hex::encode(mac("sha256", "k", &format!("{m}\n{exp}\n{path}")));
        let t = |sig: String, exp: u64| TempUrl {
            method: "GET".into(),
            path: path.into(),
            sig,
            expires: exp,
        };
        let keys = || ["k"].into_iter();
        assert!(valid(&t(sign("GET", 100), 100), "GET", 50, keys()));
        assert!(valid(&t(sign("GET", 100), 100), "HEAD", 50, keys()));
        assert!(!valid(&t(sign("GET", 100), 100), "PUT", 50, keys()));
        assert!(
            !valid(&t(sign("GET", 100), 100), "GET", 100, keys()),
            "expired"
        );
        assert!(!valid(
            &t(sign("GET", 100), 100),
            "GET",
            50,
            ["other"].into_iter()
        ));
        assert!(!valid(&t("zz".into(), 100), "GET", 50, keys()));
        let sha1 = hex::encode(mac("sha1", "k", &format!("GET\n100\n{path}")));
        assert!(valid(&t(sha1, 100), "GET", 50, keys()));
        let raw = mac("sha512", "k", &format!("GET\n100\n{path}"));
        let b64 = format!(
            "sha512:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        assert!(valid(&t(b64, 100), "GET", 50, keys()));
    }
}

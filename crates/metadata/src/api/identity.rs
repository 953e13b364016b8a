//! Who asks: the identity the metadata proxy vouches for, checked as Nova checks it.
//! The proxy sends `X-Instance-ID`, `X-Tenant-ID`, `X-Forwarded-For` (the guest's
//! address) and `X-Instance-ID-Signature`, the HMAC-SHA256 of the instance id keyed
//! with `metadata_proxy_shared_secret`, in hex. A bare instance id is worth nothing.

use std::net::IpAddr;

use api_common::Error;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

/// The identity of a request the proxy signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub instance_id: String,
    pub tenant_id: String,
    /// The guest's address, when the proxy named one.
    pub address: Option<IpAddr>,
}

impl Requester {
    /// The instance id as a UUID (`None`: no instance can have it).
    pub fn instance_uuid(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.instance_id).ok()
    }
}

/// `X-Instance-ID-Signature` of `instance_id`: HMAC-SHA256 keyed with `secret`, in
/// lowercase hex.
pub fn sign(secret: &str, instance_id: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(instance_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The requester, or Nova's refusal: 400 for a missing or repeated header, 403 for a
/// signature that does not match (compared in constant time).
pub fn identify(headers: &HeaderMap, secret: &str) -> Result<Requester, Error> {
    let one = |name: &str| -> Result<Option<String>, Error> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.to_owned()))
                .map_err(|_| Error::bad_request(format!("The {name} header is not text."))),
        }
    };
    let many = |name: &str| headers.get_all(name).iter().count() > 1;
    let instance_id = one("X-Instance-ID")?;
    let signature = one("X-Instance-ID-Signature")?;
    let tenant_id = one("X-Tenant-ID")?;
    let (Some(instance_id), Some(signature), Some(tenant_id)) = (instance_id, signature, tenant_id)
    else {
        let missing = if headers.get("X-Instance-ID").is_none() {
            "X-Instance-ID"
        } else if headers.get("X-Instance-ID-Signature").is_none() {
            "X-Instance-ID-Signature"
        } else {
            "X-Tenant-ID"
        };
        return Err(Error::bad_request(format!(
            "{missing} header is missing from request."
        )));
    };
    if many("X-Instance-ID") {
        return Err(Error::bad_request(
            "Multiple X-Instance-ID headers found within request.",
        ));
    }
    if many("X-Tenant-ID") {
        return Err(Error::bad_request(
            "Multiple X-Tenant-ID headers found within request.",
        ));
    }
    let address = one("X-Forwarded-For")?;
    let expected = sign(secret, &instance_id);
    let matches: bool = expected.as_bytes().ct_eq(signature.as_bytes()).into();
    if signature.is_empty() || !matches {
        tracing::warn!(
            %instance_id, %signature, from = ?address,
            "X-Instance-ID-Signature does not match the expected signature"
        );
        return Err(Error::forbidden("Invalid proxy request signature."));
    }
    Ok(Requester {
        instance_id,
        tenant_id,
        address: address.and_then(|a| a.split(',').next()?.trim().parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const SECRET: &str = "s3cret";
    const ID: &str = "0b7e5f1c-1111-4c1a-9d6e-000000000001";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn refused(h: &HeaderMap) -> (u16, String) {
        let e = identify(h, SECRET).unwrap_err();
        (api_common::fault::status(e.kind).as_u16(), e.message)
    }

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2
        assert_eq!(
            sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_signed_request_names_its_instance() {
        let sig = sign(SECRET, ID);
        let h = headers(&[
            ("x-instance-id", ID),
            ("x-tenant-id", "p1"),
            ("x-instance-id-signature", &sig),
            ("x-forwarded-for", "10.0.0.5, 10.0.0.1"),
        ]);
        let r = identify(&h, SECRET).unwrap();
        assert_eq!(r.instance_uuid(), Some(ID.parse().unwrap()));
        assert_eq!(r.tenant_id, "p1");
        assert_eq!(r.address, Some("10.0.0.5".parse().unwrap()));
    }

    #[test]
    fn refusals_are_novas() {
        let sig = sign(SECRET, ID);
        let check = |pairs: &[(&'static str, &str)], want: (u16, &str)| {
            let got = refused(&headers(pairs));
            assert_eq!((got.0, got.1.as_str()), want, "{pairs:?}");
        };
        check(
            &[("x-tenant-id", "p"), ("x-instance-id-signature", &sig)],
            (400, "X-Instance-ID header is missing from request."),
        );
        check(
            &[("x-instance-id", ID), ("x-tenant-id", "p")],
            (
                400,
                "X-Instance-ID-Signature header is missing from request.",
            ),
        );
        check(
            &[("x-instance-id", ID), ("x-instance-id-signature", &sig)],
            (400, "X-Tenant-ID header is missing from request."),
        );
        check(
            &[
                ("x-instance-id", ID),
                ("x-instance-id", ID),
                ("x-tenant-id", "p"),
                ("x-instance-id-signature", &sig),
            ],
            (400, "Multiple X-Instance-ID headers found within request."),
        );
        check(
            &[
                ("x-instance-id", ID),
                ("x-tenant-id", "p"),
                ("x-tenant-id", "q"),
                ("x-instance-id-signature", &sig),
            ],
            (400, "Multiple X-Tenant-ID headers found within request."),
        );
        let forbidden = (403, "Invalid proxy request signature.");
        let other = "0b7e5f1c-1111-4c1a-9d6e-000000000002";
        for bad in [
            String::new(),
            "00".repeat(32),
            sign("other secret", ID),
            sign(SECRET, other),
            sig.to_uppercase(),
            sig[..63].to_owned(),
            format!("{sig}0"),
        ] {
            check(
                &[
                    ("x-instance-id", ID),
                    ("x-tenant-id", "p"),
                    ("x-instance-id-signature", &bad),
                ],
                forbidden,
            );
        }
    }
}

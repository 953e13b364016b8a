//! Microversions (`OpenStack-API-Version: compute 2.53`), as the OpenStack services with
//! microversions negotiate them: the request names a version of the service type (or
//! `latest`); absent, the minimum. A malformed version is a 400, one outside the range a
//! 406. The answer echoes the version in the same headers, with `Vary`. Handlers read
//! the negotiated version with the [`Microversion`] extractor.

use std::{fmt, str::FromStr};

use axum::{
    extract::{FromRequestParts, Request},
    http::{request::Parts, HeaderMap, HeaderName, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{Error, ErrorKind};

/// A version `major.minor`, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16) -> Version {
        Version { major, minor }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for Version {
    type Err = ();
    fn from_str(s: &str) -> Result<Version, ()> {
        let (a, b) = s.split_once('.').ok_or(())?;
        let num = |t: &str| {
            if t.is_empty()
                || !t.bytes().all(|c| c.is_ascii_digit())
                || (t.len() > 1 && t.starts_with('0'))
            {
                Err(())
            } else {
                t.parse::<u16>().map_err(|_| ())
            }
        };
        Ok(Version::new(num(a)?, num(b)?))
    }
}

/// A service's microversion range and the headers it reads.
#[derive(Debug, Clone, Copy)]
pub struct Versions {
    /// The service type in `OpenStack-API-Version` (`compute`, `placement`).
    pub service_type: &'static str,
    pub min: Version,
    pub max: Version,
    /// The service's older header, read when the standard one names no version for it
    /// (`X-OpenStack-Nova-API-Version`), and echoed too.
    pub legacy_header: Option<&'static str>,
}

const STANDARD: &str = "openstack-api-version";

impl Versions {
    /// The version `headers` ask for.
    pub fn negotiate(&self, headers: &HeaderMap) -> Result<Version, Error> {
        let mut asked = None;
        for v in headers.get_all(STANDARD) {
            let text = v.to_str().unwrap_or("");
            for part in text.split(',') {
                let mut words = part.split_whitespace();
                if let (Some(kind), Some(ver)) = (words.next(), words.next()) {
                    if kind.eq_ignore_ascii_case(self.service_type) {
                        asked = Some(ver.to_owned());
                    }
                }
            }
        }
        if asked.is_none() {
            if let Some(h) = self.legacy_header {
                asked = headers
                    .get(h)
                    .map(|v| v.to_str().unwrap_or("").trim().to_owned());
            }
        }
        let Some(asked) = asked else {
            return Ok(self.min);
        };
        if asked.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let v: Version = asked.parse().map_err(|_| {
            Error::bad_request(format!(
                "API Version String {asked} is of invalid format. Must be of format MajorNum.MinorNum."
            ))
        })?;
        if v < self.min || v > self.max {
            return Err(Error::new(
                ErrorKind::NotAcceptable,
                format!(
                    "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                    self.min, self.max
                ),
            ));
        }
        Ok(v)
    }

    fn echo(&self, v: Version, headers: &mut HeaderMap) {
        let text = |s: String| HeaderValue::from_str(&s).expect("a version is a header value");
        headers.insert(STANDARD, text(format!("{} {v}", self.service_type)));
        let mut vary = STANDARD.to_owned();
        if let Some(h) = self.legacy_header {
            if let Ok(name) = HeaderName::from_bytes(h.as_bytes()) {
                headers.insert(name, text(v.to_string()));
            }
            vary = format!("{STANDARD}, {h}");
        }
        headers.append(axum::http::header::VARY, text(vary));
    }
}

/// The negotiated version of this request (the minimum when no layer negotiated one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Microversion(pub Version);

impl Microversion {
    /// At least `major.minor`.
    pub fn at_least(&self, major: u16, minor: u16) -> bool {
        self.0 >= Version::new(major, minor)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Microversion {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        parts
            .extensions
            .get::<Microversion>()
            .copied()
            .ok_or_else(|| Error::internal("no microversion layer on this route"))
    }
}

/// The middleware: negotiate, hand the version to the handler, echo it in the answer
/// (faults included).
pub async fn negotiate(versions: &'static Versions, mut req: Request, next: Next) -> Response {
    let v = match versions.negotiate(req.headers()) {
        Ok(v) => v,
        Err(e) => {
            let mut resp = e.into_response();
            versions.echo(versions.min, resp.headers_mut());
            return resp;
        }
    };
    req.extensions_mut().insert(Microversion(v));
    let mut resp = next.run(req).await;
    versions.echo(v, resp.headers_mut());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOVA: Versions = Versions {
        service_type: "compute",
        min: Version::new(2, 1),
        max: Version::new(2, 96),
        legacy_header: Some("x-openstack-nova-api-version"),
    };

    fn check(headers: &[(&str, &str)], expect: Result<&str, u16>) {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let got = NOVA
            .negotiate(&h)
            .map(|v| v.to_string())
            .map_err(|e| crate::status(e.kind).as_u16());
        assert_eq!(got.as_deref().map_err(|c| *c), expect, "{headers:?}");
    }

    #[test]
    fn negotiation() {
        check(&[], Ok("2.1"));
        check(&[("openstack-api-version", "compute 2.53")], Ok("2.53"));
        check(
            &[("openstack-api-version", "placement 1.2, compute 2.10")],
            Ok("2.10"),
        );
        check(&[("openstack-api-version", "compute latest")], Ok("2.96"));
        check(&[("x-openstack-nova-api-version", "2.20")], Ok("2.20"));
        check(
            &[
                ("openstack-api-version", "compute 2.30"),
                ("x-openstack-nova-api-version", "2.20"),
            ],
            Ok("2.30"),
        );
        check(&[("openstack-api-version", "placement 1.2")], Ok("2.1"));
        check(&[("openstack-api-version", "compute 2.97")], Err(406));
        check(&[("openstack-api-version", "compute 3.0")], Err(406));
        check(&[("openstack-api-version", "compute 2.0")], Err(406));
        check(&[("openstack-api-version", "compute 2.x")], Err(400));
        check(&[("openstack-api-version", "compute 2.01")], Err(400));
    }

    #[test]
    fn order() {
        assert!(Version::new(2, 10) > Version::new(2, 9));
    }
}

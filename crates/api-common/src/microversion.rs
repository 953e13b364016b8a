//! Microversions (`OpenStack-API-Version: <service> X.Y`), negotiated per service with a
//! declared minimum and maximum, as microversion-parse does for Placement and Nova.
//!
//! A service declares its range ([`Microversions`]) and wraps its routes with
//! [`Routes::microversions`](crate::routes::Routes::microversions). Every request then:
//! - without the header gets the minimum, with `latest` the maximum;
//! - with a malformed value (`1.2.3`, `pony`) is a 400;
//! - outside the range is a 406;
//!
//! both worded (and, for Nova, parsed) in the service's [`Dialect`]. Every answer (faults
//! included) carries the version it was served at and `Vary: openstack-api-version` (and
//! the legacy header, where the service has one). Handlers read the version with the
//! [`Version`] extractor.

use std::{
    convert::Infallible,
    fmt,
    str::FromStr,
    task::{Context, Poll},
};

use axum::{
    extract::{FromRequestParts, Request},
    response::{IntoResponse, Response},
};
use futures::future::BoxFuture;
use http::{request::Parts, HeaderMap, HeaderValue};

use crate::error::{Error, ErrorKind};

/// The header of every microversioned service.
pub const HEADER: &str = "openstack-api-version";

/// A microversion, `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

impl Version {
    pub const fn new(major: u16, minor: u16) -> Version {
        Version { major, minor }
    }

    /// Whether this version is `major.minor` or later (`v.at_least(1, 14)`).
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= Version::new(major, minor)
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
        let num = |p: &str| {
            if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
                Err(())
            } else {
                p.parse::<u16>().map_err(|_| ())
            }
        };
        Ok(Version::new(num(a)?, num(b)?))
    }
}

/// A service's microversion range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Microversions {
    /// The service type named in the header (`placement`, `compute`).
    pub service: &'static str,
    pub min: Version,
    pub max: Version,
    /// A legacy header also read and answered (Nova's `X-OpenStack-Nova-API-Version`).
    pub legacy_header: Option<&'static str>,
    /// How the service parses versions and words its refusals.
    pub dialect: Dialect,
}

/// How a service parses a requested version and words the 400 and 406 it refuses one
/// with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// microversion-parse (Placement): any digits; `invalid version string: X`,
    /// `Unacceptable version header: X`.
    Placement,
    /// Nova's `APIVersionRequest`: no leading zeros, no major 0; `API Version String X
    /// is of invalid format...`, `Version X is not supported by the API. Minimum is ...
    /// and maximum is ...`.
    Nova,
}

impl Dialect {
    fn parse(self, asked: &str) -> Option<Version> {
        let v: Version = asked.parse().ok()?;
        if self == Dialect::Nova {
            let (a, b) = asked.split_once('.')?;
            let padded = |t: &str| t.len() > 1 && t.starts_with('0');
            if v.major == 0 || padded(a) || padded(b) {
                return None;
            }
        }
        Some(v)
    }

    fn invalid(self, asked: &str) -> Error {
        Error::bad_request(match self {
            Dialect::Placement => format!("invalid version string: {asked}"),
            Dialect::Nova => format!(
                "API Version String {asked} is of invalid format. Must be of format MajorNum.MinorNum."
            ),
        })
    }

    fn unsupported(self, asked: &str, v: Version, spec: &Microversions) -> Error {
        let message = match self {
            Dialect::Placement => format!("Unacceptable version header: {asked}"),
            Dialect::Nova => format!(
                "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                spec.min, spec.max
            ),
        };
        Error::new(ErrorKind::NotAcceptable, message)
    }
}

/// Left in the extensions of a 406 answer made because negotiation failed, so that the
/// fault can name the supported range (Placement's body does).
#[derive(Debug, Clone, Copy)]
pub struct Unnegotiated(pub Microversions);

impl Microversions {
    /// The version a request asks for, from its headers.
    pub fn negotiate(&self, headers: &HeaderMap) -> Result<Version, Error> {
        let mut asked: Option<String> = None;
        for v in headers.get_all(HEADER) {
            let text = v.to_str().unwrap_or("");
            // "placement 1.2, compute 2.1" and repeated headers are both allowed
            for part in text.split(',') {
                let mut words = part.split_whitespace();
                if let (Some(svc), Some(value), None) = (words.next(), words.next(), words.next()) {
                    if svc.eq_ignore_ascii_case(self.service) {
                        asked = Some(value.to_owned());
                    }
                }
            }
        }
        if asked.is_none() {
            if let Some(h) = self.legacy_header {
                asked = headers
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(|s| s.trim().to_owned());
            }
        }
        let Some(asked) = asked else {
            return Ok(self.min);
        };
        if asked.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let v = self
            .dialect
            .parse(&asked)
            .ok_or_else(|| self.dialect.invalid(&asked))?;
        if v < self.min || v > self.max {
            return Err(self.dialect.unsupported(&asked, v, self));
        }
        Ok(v)
    }

    fn header_value(&self, v: Version) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!("{} {v}", self.service)).ok()
    }

    /// Set the answer's version headers.
    pub fn stamp(&self, v: Version, headers: &mut HeaderMap) {
        if let Some(h) = self.header_value(v) {
            headers.insert(HEADER, h);
        }
        if let Some(legacy) = self.legacy_header {
            if let Ok(h) = HeaderValue::from_str(&v.to_string()) {
                headers.insert(legacy, h);
            }
        }
        let vary = match self.legacy_header {
            Some(l) => format!("{HEADER}, {}", l.to_ascii_lowercase()),
            None => HEADER.to_owned(),
        };
        if let Ok(h) = HeaderValue::from_str(&vary) {
            headers.append(http::header::VARY, h);
        }
    }
}

/// Handlers take `Version` to read the negotiated microversion.
impl<S: Send + Sync> FromRequestParts<S> for Version {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Version>()
            .copied()
            .ok_or_else(|| Error::internal("no microversion layer on this route"))
    }
}

/// The layer negotiating a service's microversion (see the module documentation).
#[derive(Clone, Copy)]
pub struct MicroversionLayer(pub Microversions);

impl<S> tower::Layer<S> for MicroversionLayer {
    type Service = Negotiate<S>;
    fn layer(&self, inner: S) -> Negotiate<S> {
        Negotiate {
            inner,
            spec: self.0,
        }
    }
}

/// The service of [`MicroversionLayer`].
#[derive(Clone)]
pub struct Negotiate<S> {
    inner: S,
    spec: Microversions,
}

impl<S> tower::Service<Request> for Negotiate<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let spec = self.spec;
        let version = match spec.negotiate(req.headers()) {
            Ok(v) => v,
            Err(e) => {
                let mut resp = e.into_response();
                resp.extensions_mut().insert(Unnegotiated(spec));
                return Box::pin(async move { Ok(resp) });
            }
        };
        req.extensions_mut().insert(version);
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let Ok(mut resp) = ready.call(req).await;
            spec.stamp(version, resp.headers_mut());
            resp.extensions_mut().insert(version);
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Microversions = Microversions {
        service: "placement",
        min: Version::new(1, 0),
        max: Version::new(1, 39),
        legacy_header: None,
        dialect: Dialect::Placement,
    };

    const NOVA: Microversions = Microversions {
        service: "compute",
        min: Version::new(2, 1),
        max: Version::new(2, 96),
        legacy_header: Some("x-openstack-nova-api-version"),
        dialect: Dialect::Nova,
    };

    fn check(header: Option<&str>, want: Result<&str, (ErrorKind, &str)>) {
        let mut h = HeaderMap::new();
        if let Some(v) = header {
            h.insert(HEADER, HeaderValue::from_str(v).unwrap());
        }
        match (P.negotiate(&h), want) {
            (Ok(v), Ok(w)) => assert_eq!(v.to_string(), w, "{header:?}"),
            (Err(e), Err((k, m))) => {
                assert_eq!(e.kind, k, "{header:?}");
                assert!(e.message.contains(m), "{header:?}: {}", e.message);
            }
            (got, want) => panic!("{header:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn negotiation() {
        check(None, Ok("1.0"));
        check(Some("placement 1.14"), Ok("1.14"));
        check(Some("placement latest"), Ok("1.39"));
        check(Some("compute 2.1, placement 1.2"), Ok("1.2"));
        check(Some("compute 2.90"), Ok("1.0"));
        check(
            Some("placement 1.40"),
            Err((
                ErrorKind::NotAcceptable,
                "Unacceptable version header: 1.40",
            )),
        );
        check(
            Some("placement 0.5"),
            Err((ErrorKind::NotAcceptable, "Unacceptable version header: 0.5")),
        );
        check(
            Some("placement pony.horse"),
            Err((ErrorKind::BadRequest, "invalid version string: pony.horse")),
        );
        check(
            Some("placement 1.2.3"),
            Err((ErrorKind::BadRequest, "invalid version string: 1.2.3")),
        );
        assert!(Version::new(1, 10) > Version::new(1, 9));
        assert!(Version::new(1, 28).at_least(1, 28));
    }

    fn nova(headers: &[(&'static str, &str)]) -> Result<String, (ErrorKind, String)> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        NOVA.negotiate(&h)
            .map(|v| v.to_string())
            .map_err(|e| (e.kind, e.message))
    }

    #[test]
    fn nova_negotiation() {
        let standard = "openstack-api-version";
        let legacy = "x-openstack-nova-api-version";
        assert_eq!(nova(&[]), Ok("2.1".into()));
        assert_eq!(nova(&[(standard, "compute 2.53")]), Ok("2.53".into()));
        assert_eq!(
            nova(&[(standard, "placement 1.2, compute 2.10")]),
            Ok("2.10".into())
        );
        assert_eq!(nova(&[(standard, "compute latest")]), Ok("2.96".into()));
        assert_eq!(nova(&[(legacy, "2.20")]), Ok("2.20".into()));
        assert_eq!(
            nova(&[(standard, "compute 2.30"), (legacy, "2.20")]),
            Ok("2.30".into())
        );
        assert_eq!(nova(&[(standard, "placement 1.2")]), Ok("2.1".into()));
        let unsupported = |v: &str| -> Result<String, (ErrorKind, String)> {
            Err((
                ErrorKind::NotAcceptable,
                format!(
                    "Version {v} is not supported by the API. Minimum is 2.1 and maximum is 2.96."
                ),
            ))
        };
        assert_eq!(nova(&[(standard, "compute 2.97")]), unsupported("2.97"));
        assert_eq!(nova(&[(standard, "compute 3.0")]), unsupported("3.0"));
        assert_eq!(nova(&[(standard, "compute 2.0")]), unsupported("2.0"));
        for bad in ["2.x", "2.01", "0.5"] {
            let asked = format!("compute {bad}");
            assert_eq!(
                nova(&[(standard, asked.as_str())]),
                Err((
                    ErrorKind::BadRequest,
                    format!("API Version String {bad} is of invalid format. Must be of format MajorNum.MinorNum.")
                )),
            );
        }
    }
}

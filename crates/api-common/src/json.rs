//! JSON request bodies with errors a person can act on.

use axum::{
    body::HttpBody as _,
    extract::{FromRequest, Request},
    response::{IntoResponse, Response},
    RequestExt as _,
};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Deserialize, Deserializer};

use crate::error::{Error, ErrorKind};

/// A JSON body. Malformed JSON, a wrong type or a missing field is a 400 naming the field;
/// a body over the configured limit (`DefaultBodyLimit`) is a 413, refused before any of
/// it is read when its `Content-Length` already says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // The limited body's size hint is capped at the limit: a declared length above
        // it is over the limit, and nothing needs to be read to know it.
        let req = req.with_limited_body();
        if let (Some(d), Some(cap)) = (declared, req.body().size_hint().upper()) {
            if d > cap {
                return Err(too_large());
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                Error::bad_request(format!(
                    "Could not read the request body: {}",
                    e.body_text()
                ))
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

fn too_large() -> Error {
    Error::new(ErrorKind::PayloadTooLarge, "Request is too large.")
}

/// For `#[serde(default, deserialize_with = "api_common::json::non_null")]` on an
/// `Option<T>` field: the field may be absent (`None`), but an explicit `null` is a 400
/// naming the field, as OpenStack's schemas answer for e.g. `"enabled": null`.
pub fn non_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Parse a JSON document into `T`, naming the offending field on failure.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request(
            "The request body is empty; a JSON document is required.",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = if inner.is_syntax() || inner.is_eof() {
            format!("Malformed request body: {inner}")
        } else if path == "." || path.is_empty() {
            format!("Invalid input: {inner}")
        } else {
            format!("Invalid input for field '{path}': {inner}")
        };
        Error::bad_request(msg)
    })
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        project: Project,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Project {
        name: String,
        enabled: Option<bool>,
    }

    fn check(input: &str, expect: &str) {
        let err = parse::<Body>(input.as_bytes()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadRequest);
        assert!(
            err.message.contains(expect),
            "{:?} does not contain {expect:?}",
            err.message
        );
    }

    #[test]
    fn errors_name_the_field() {
        check("", "empty");
        check("{", "Malformed");
        check(r#"{"project": {"name": 1}}"#, "'project.name'");
        check(
            r#"{"project": {"name": "x", "enabled": "yes"}}"#,
            "'project.enabled'",
        );
        check(r#"{"project": {}}"#, "missing field `name`");
        check(
            r#"{"project": {"name": "x"}, "extra": 1}"#,
            "unknown field `extra`",
        );
    }
}

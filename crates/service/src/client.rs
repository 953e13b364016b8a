//! A client of another service's public API, as services call each other: over HTTP at
//! the endpoint of the catalog, with the `[service_auth]` user's token (and the user's,
//! where the user's view matters), the answer's refusals turned into errors of the same
//! kind.

use std::collections::BTreeMap;

pub use reqwest::Method;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::Value;
use types::{Error, ErrorKind, Result};

use crate::ServiceToken;

/// On whose behalf a call is made.
#[derive(Debug, Clone, Copy)]
pub enum As<'a> {
    /// The service user alone.
    Service,
    /// The user's token (its view, its project), with the service token beside it.
    User(&'a str),
}

/// An HTTP client of one service's API.
#[derive(Clone)]
pub struct Http {
    http: reqwest::Client,
    token: ServiceToken,
    /// The service's endpoint (`http://host:port/v2.0` style, without a trailing slash).
    base: Option<String>,
    /// The catalog type, for messages.
    kind: &'static str,
}

impl Http {
    pub fn new(
        token: ServiceToken,
        endpoints: &BTreeMap<&'static str, String>,
        kind: &'static str,
    ) -> Http {
        Http {
            http: reqwest::Client::new(),
            token,
            base: endpoints
                .get(kind)
                .map(|b| b.trim_end_matches('/').to_owned()),
            kind,
        }
    }

    /// The service's endpoint, if the catalog has it.
    pub fn base(&self) -> Option<&str> {
        self.base.as_deref()
    }

    fn unavailable(&self) -> Error {
        Error::unavailable(format!("The {} service is not available.", self.kind))
    }

    /// A request to `path` (below the endpoint), authenticated.
    pub async fn request(
        &self,
        auth: As<'_>,
        method: Method,
        path: &str,
    ) -> Result<RequestBuilder> {
        let base = self.base.as_ref().ok_or_else(|| self.unavailable())?;
        let service = self.token.token().await?;
        let b = self.http.request(method, format!("{base}{path}"));
        Ok(match auth {
            As::Service => b.header("x-auth-token", service),
            As::User(t) => b
                .header("x-auth-token", t)
                .header("x-service-token", service),
        })
    }

    /// Send, and turn the service's refusals into errors of the same kind.
    pub async fn send(&self, b: RequestBuilder) -> Result<Response> {
        let resp = b
            .send()
            .await
            .map_err(|e| self.unavailable().with_detail(e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        let message = fault_message(&body).unwrap_or_else(|| status.to_string());
        let kind = match status {
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            StatusCode::CONFLICT => ErrorKind::Conflict,
            StatusCode::FORBIDDEN => ErrorKind::Forbidden,
            StatusCode::BAD_REQUEST => ErrorKind::BadRequest,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::OverLimit,
            s if s.is_client_error() => ErrorKind::BadRequest,
            _ => ErrorKind::Unavailable,
        };
        Err(Error::new(kind, message)
            .with_detail(format!("{} answered {status}: {body}", self.kind)))
    }

    /// A JSON call; `None` body for none; the JSON answer (`null` for an empty one).
    pub async fn json(
        &self,
        auth: As<'_>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut b = self.request(auth, method, path).await?;
        if let Some(v) = body {
            b = b.json(v);
        }
        let resp = self.send(b).await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.unavailable().with_detail(e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::unavailable(format!("The {} service answered no JSON.", self.kind))
                .with_detail(e)
        })
    }
}

/// The message of an OpenStack fault body (Neutron's, Glance's, Nova's, Keystone's).
fn fault_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    if let Some(m) = v["NeutronError"]["message"].as_str() {
        return Some(m.to_owned());
    }
    if let Some(m) = v["error"]["message"].as_str() {
        return Some(m.to_owned());
    }
    v.as_object()?
        .values()
        .find_map(|inner| inner["message"].as_str().map(str::to_owned))
}

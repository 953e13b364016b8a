//! The Swift v1 HTTP API: routes, headers and bodies. Handlers parse, authorize (in
//! the app layer: keystoneauth's rules and ACLs), call and render.

mod accounts;
mod containers;
mod info;
mod listing;
mod objects;
mod range;

use std::sync::Arc;

use api_common::{
    auth::{AuthLayerState, AUTH_TOKEN},
    request_id::RequestId,
    routes::{Api, Routes},
    Error, FaultStyle,
};
use axum::{
    extract::FromRequestParts,
    http::{request::Parts, HeaderMap, HeaderName, HeaderValue},
    response::Response,
    routing::get,
};

use crate::{
    app::{tempurl::TempUrl, Caller, ObjectStore},
    model::{Meta, Timestamp},
};

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub svc: Arc<ObjectStore>,
    pub auth: AuthLayerState,
}

/// The Swift API: its router and its route table. Tokens are optional here: a
/// container's ACL may serve callers without one (`.r:*`), so each request's caller is
/// established by [`SwiftCaller`] and the app layer decides.
pub fn api(svc: Arc<ObjectStore>, auth: AuthLayerState) -> Api {
    let st = ApiState { svc, auth };
    Routes::new()
        .route("/info", get(info::info))
        .route(
            "/v1/{account}",
            get(accounts::account_list)
                .head(accounts::account_show)
                .post(accounts::account_update),
        )
        .route(
            "/v1/{account}/{container}",
            get(containers::container_list)
                .head(containers::container_show)
                .put(containers::container_create)
                .post(containers::container_update)
                .delete(containers::container_delete),
        )
        .route(
            "/v1/{account}/{container}/{*object}",
            get(objects::object_get)
                .put(objects::object_put)
                .post(objects::object_update)
                .delete(objects::object_delete)
                .fallback(objects::object_other),
        )
        .with_state(st)
        .finish(FaultStyle::Swift, 1 << 16)
}

/// The caller: a valid `X-Auth-Token`'s context, or anonymous (an invalid token is
/// anonymous too, as keystonemiddleware's delayed decision leaves it).
pub struct SwiftCaller(pub Caller);

impl FromRequestParts<ApiState> for SwiftCaller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, st: &ApiState) -> Result<Self, Error> {
        let referrer = header(&parts.headers, "referer").map(str::to_owned);
        let auth = match header(&parts.headers, AUTH_TOKEN) {
            Some(t) => st.auth.validator.validate(t).await.ok(),
            None => None,
        };
        let temp_url = temp_url(parts);
        Ok(SwiftCaller(Caller {
            auth,
            referrer,
            temp_url,
        }))
    }
}

/// A TempURL's signature and expiry from the query, with the request's method and
/// decoded path.
fn temp_url(parts: &Parts) -> Option<TempUrl> {
    let q = parts.uri.query()?;
    let mut sig = None;
    let mut expires = None;
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "temp_url_sig" => sig = Some(v.into_owned()),
            "temp_url_expires" => expires = v.parse::<u64>().ok(),
            _ => {}
        }
    }
    Some(TempUrl {
        method: parts.method.as_str().to_owned(),
        path: percent_decode(parts.uri.path()),
        sig: sig?,
        expires: expires?,
    })
}

/// `%XX` escapes of a URL path decoded (`+` stays a plus, as in paths).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request id, which Swift calls the transaction id.
pub struct TransId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for TransId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Ok(TransId(
            parts
                .extensions
                .get::<RequestId>()
                .map(|r| r.0.clone())
                .unwrap_or_default(),
        ))
    }
}

pub(crate) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The user metadata of a request: `X-<kind>-Meta-<name>` (and, where `removals`,
/// `X-Remove-<kind>-Meta-<name>` as an empty value).
pub(crate) fn meta_from(h: &HeaderMap, kind: &str, removals: bool) -> Meta {
    let set = format!("x-{kind}-meta-");
    let remove = format!("x-remove-{kind}-meta-");
    let mut m = Meta::new();
    for (k, v) in h {
        let k = k.as_str();
        if let Some(name) = k.strip_prefix(&set) {
            m.insert(
                name.to_owned(),
                String::from_utf8_lossy(v.as_bytes()).trim().to_owned(),
            );
        } else if let Some(name) = k.strip_prefix(&remove).filter(|_| removals) {
            m.insert(name.to_owned(), String::new());
        }
    }
    m
}

/// A response under construction, with Swift's common headers.
pub(crate) struct Reply {
    resp: Response,
}

impl Reply {
    pub fn new(status: u16, trans: &TransId) -> Reply {
        let mut resp = Response::new(axum::body::Body::empty());
        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        let mut r = Reply { resp };
        r.set("x-trans-id", &trans.0);
        r.set("content-type", "text/html; charset=UTF-8");
        r.set("content-length", "0");
        r
    }

    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.resp.headers_mut().insert(n, v);
        }
        self
    }

    pub fn timestamp(&mut self, ts: Timestamp) -> &mut Self {
        self.set("x-timestamp", &ts.normal())
    }

    pub fn meta(&mut self, kind: &str, meta: &Meta) -> &mut Self {
        for (k, v) in meta {
            self.set(&format!("x-{kind}-meta-{k}"), v);
        }
        self
    }

    pub fn body(mut self, content_type: &str, body: axum::body::Body, len: u64) -> Response {
        self.set("content-type", content_type);
        self.set("content-length", &len.to_string());
        *self.resp.body_mut() = body;
        self.resp
    }

    pub fn done(self) -> Response {
        self.resp
    }
}

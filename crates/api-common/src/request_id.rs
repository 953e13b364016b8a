//! `x-openstack-request-id` on every response, and one structured log line per request.

use std::time::Instant;

use axum::{extract::Request, middleware::Next, response::Response};
use http::HeaderValue;

pub const HEADER: &str = "x-openstack-request-id";

/// The id of the request being served, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub fn new_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4())
}

/// Middleware: assign a request id, log the request, set the response header.
pub async fn request_id_layer(mut req: Request, next: Next) -> Response {
    let id = new_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    req.extensions_mut().insert(RequestId(id.clone()));
    let start = Instant::now();
    let mut resp = next.run(req).await;
    let status = resp.status().as_u16();
    tracing::info!(
        target: "oxistack::request",
        request_id = %id,
        %method,
        path,
        status,
        micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

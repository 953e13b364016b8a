//! Each OpenStack service has its own fault body. Handlers return [`Error`]; its
//! `IntoResponse` leaves the error in the response extensions and [`fault_layer`] renders
//! it in the style of the service that owns the router. Errors are logged here, once.

use std::sync::Arc;

use axum::{
    extract::Request,
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{header, HeaderValue, StatusCode};
use serde_json::json;

use crate::error::{Error, ErrorKind};

/// The fault formats of the OpenStack services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultStyle {
    /// `{"error": {"code", "title", "message"}}`
    Keystone,
    /// `{"itemNotFound": {"code", "message"}}` (Nova, Cinder, Placement-like)
    Nova,
    /// `{"NeutronError": {"type", "message", "detail"}}`
    Neutron,
    /// webob's HTML error page, as Glance and Swift serve it.
    Webob,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut resp = self.status().into_response();
        resp.extensions_mut().insert(Arc::new(self));
        resp
    }
}

/// The reason phrase of a status ("Not Found").
pub fn title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

fn nova_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::BadRequest => "badRequest",
        ErrorKind::Unauthenticated => "unauthorized",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::NotFound => "itemNotFound",
        ErrorKind::MethodNotAllowed => "badMethod",
        ErrorKind::Conflict => "conflictingRequest",
        ErrorKind::OverLimit | ErrorKind::PayloadTooLarge => "overLimit",
        ErrorKind::UnsupportedMediaType => "badMediaType",
        ErrorKind::NotImplemented => "notImplemented",
        ErrorKind::Unavailable => "serviceUnavailable",
        ErrorKind::Gone | ErrorKind::RangeNotSatisfiable | ErrorKind::Internal => "computeFault",
    }
}

fn neutron_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::BadRequest => "HTTPBadRequest",
        ErrorKind::Unauthenticated => "HTTPUnauthorized",
        ErrorKind::Forbidden => "HTTPForbidden",
        ErrorKind::NotFound => "HTTPNotFound",
        ErrorKind::MethodNotAllowed => "HTTPMethodNotAllowed",
        ErrorKind::Conflict => "HTTPConflict",
        ErrorKind::OverLimit => "OverQuota",
        ErrorKind::PayloadTooLarge => "HTTPRequestEntityTooLarge",
        ErrorKind::UnsupportedMediaType => "HTTPUnsupportedMediaType",
        ErrorKind::NotImplemented => "HTTPNotImplemented",
        ErrorKind::Unavailable => "HTTPServiceUnavailable",
        _ => "HTTPInternalServerError",
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Render an error in a service's fault style.
pub fn render(style: FaultStyle, err: &Error) -> Response {
    let status = err.status();
    let code = status.as_u16();
    match style {
        FaultStyle::Keystone => (
            status,
            axum::Json(json!({"error": {"code": code, "title": title(status), "message": err.message}})),
        )
            .into_response(),
        FaultStyle::Nova => (
            status,
            axum::Json(json!({ nova_name(err.kind): {"code": code, "message": err.message} })),
        )
            .into_response(),
        FaultStyle::Neutron => (
            status,
            axum::Json(json!({"NeutronError": {
                "type": neutron_type(err.kind), "message": err.message, "detail": ""}})),
        )
            .into_response(),
        FaultStyle::Webob => {
            let t = title(status);
            let body = format!(
                "<html>\n <head>\n  <title>{code} {t}</title>\n </head>\n <body>\n  <h1>{code} {t}</h1>\n  {}<br /><br />\n\n\n\n </body>\n</html>",
                escape_html(&err.message)
            );
            (
                status,
                [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=UTF-8"))],
                body,
            )
                .into_response()
        }
    }
}

/// Middleware: turn an [`Error`] left in the response into the service's fault body, and
/// log it (server errors with their internal detail).
pub async fn fault_layer(
    axum::extract::State(style): axum::extract::State<FaultStyle>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    let Some(err) = resp.extensions().get::<Arc<Error>>().cloned() else {
        return resp;
    };
    if err.status().is_server_error() {
        tracing::error!(kind = ?err.kind, message = %err.message, detail = ?err.detail, "request failed");
    } else {
        tracing::debug!(kind = ?err.kind, message = %err.message, detail = ?err.detail, "request refused");
    }
    let mut out = render(style, &err);
    // Keep headers a handler set on purpose (e.g. WWW-Authenticate, Allow).
    for (k, v) in resp.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Fallback for unknown paths.
pub async fn not_found() -> Error {
    Error::not_found("The resource could not be found.")
}

/// Fallback for a known path with a method it does not serve.
pub async fn method_not_allowed() -> Error {
    Error::new(ErrorKind::MethodNotAllowed, "The method is not allowed for the requested URL.")
}

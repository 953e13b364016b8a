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
    /// Glance: webob's error page in the form the `Accept` header picks, as webob does
    /// (HTML by default, `{"message", "code", "title"}` for JSON clients, plain text
    /// otherwise); a 401 is keystonemiddleware's Keystone-style JSON.
    Glance,
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
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Render an error in a service's fault style, for a request with the given `Accept`
/// header (only [`FaultStyle::Glance`] looks at it).
pub fn render_negotiated(style: FaultStyle, err: &Error, accept: Option<&str>) -> Response {
    match style {
        FaultStyle::Glance => render_glance(err, accept),
        _ => render(style, err),
    }
}

/// The media types webob offers for an error page, in its order of preference.
const WEBOB_OFFERS: [&str; 2] = ["text/html", "application/json"];

/// Which of webob's offers an `Accept` header picks: the acceptable offer of highest
/// quality, the earlier offer on a tie; `None` when neither is acceptable. A missing or
/// empty header accepts everything.
pub fn webob_offer(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept.map(str::trim).filter(|a| !a.is_empty());
    let Some(accept) = accept else {
        return Some(WEBOB_OFFERS[0]);
    };
    let mut best: Option<(f32, usize)> = None;
    for (i, offer) in WEBOB_OFFERS.iter().enumerate() {
        let (otype, osub) = offer.split_once('/').unwrap_or((offer, ""));
        // The most specific matching range decides the quality of an offer.
        let mut q_for: Option<(u8, f32)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            let (rtype, rsub) = media.split_once('/').unwrap_or((media.as_str(), ""));
            let specificity = match (rtype, rsub) {
                ("*", "*") => 1,
                (t, "*") if t == otype => 2,
                (t, s) if t == otype && s == osub => 3,
                _ => continue,
            };
            if q_for.is_none_or(|(sp, _)| specificity > sp) {
                q_for = Some((specificity, q));
            }
        }
        if let Some((_, q)) = q_for {
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, i));
            }
        }
    }
    best.map(|(_, i)| WEBOB_OFFERS[i])
}

fn render_glance(err: &Error, accept: Option<&str>) -> Response {
    let status = err.status();
    let code = status.as_u16();
    let t = title(status);
    if err.kind == ErrorKind::Unauthenticated {
        // keystonemiddleware answers for Glance when the token is missing or invalid.
        return render(FaultStyle::Keystone, err);
    }
    match webob_offer(accept) {
        Some("text/html") => render(FaultStyle::Webob, err),
        Some(_) => {
            // webob's body template: explanation, two breaks, the (empty) detail.
            let body = json!({
                "message": format!("{}<br /><br />\n\n\n", err.message),
                "code": format!("{code} {t}"),
                "title": t,
            });
            (status, axum::Json(body)).into_response()
        }
        None => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=UTF-8"),
            )],
            format!("{code} {t}\n\n{}\n\n   ", err.message),
        )
            .into_response(),
    }
}

/// Render an error in a service's fault style.
pub fn render(style: FaultStyle, err: &Error) -> Response {
    let status = err.status();
    let code = status.as_u16();
    match style {
        FaultStyle::Keystone => (
            status,
            axum::Json(
                json!({"error": {"code": code, "title": title(status), "message": err.message}}),
            ),
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
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=UTF-8"),
                )],
                body,
            )
                .into_response()
        }
        FaultStyle::Glance => render_glance(err, None),
    }
}

/// Middleware: turn an [`Error`] left in the response into the service's fault body, and
/// log it (server errors with their internal detail).
pub async fn fault_layer(
    axum::extract::State(style): axum::extract::State<FaultStyle>,
    req: Request,
    next: Next,
) -> Response {
    let accept = match style {
        FaultStyle::Glance => req.headers().get(header::ACCEPT).cloned(),
        _ => None,
    };
    let resp = next.run(req).await;
    let Some(err) = resp.extensions().get::<Arc<Error>>().cloned() else {
        return resp;
    };
    if err.status().is_server_error() {
        tracing::error!(kind = ?err.kind, message = %err.message, detail = ?err.detail, "request failed");
    } else {
        tracing::debug!(kind = ?err.kind, message = %err.message, detail = ?err.detail, "request refused");
    }
    let mut out = render_negotiated(style, &err, accept.as_ref().and_then(|a| a.to_str().ok()));
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
    Error::new(
        ErrorKind::MethodNotAllowed,
        "The method is not allowed for the requested URL.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webob_negotiation() {
        let check = |accept: Option<&str>, want: Option<&str>| {
            assert_eq!(webob_offer(accept), want, "{accept:?}")
        };
        check(None, Some("text/html"));
        check(Some(""), Some("text/html"));
        check(Some("*/*"), Some("text/html"));
        check(Some("application/json"), Some("application/json"));
        check(
            Some("application/json, */*;q=0.5"),
            Some("application/json"),
        );
        check(
            Some("text/html;q=0.1, application/*"),
            Some("application/json"),
        );
        check(Some("application/octet-stream"), None);
        check(Some("text/plain"), None);
    }
}

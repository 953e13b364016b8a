//! Each OpenStack service has its own fault body. Handlers return [`Error`]; its
//! `IntoResponse` (in the types crate, for the orphan rule) leaves the error in the
//! response extensions and [`render_fault`] renders it, with the [`status`] of its kind, in
//! the style of the service that owns the router. Errors are logged here, once, with
//! their whole source chain.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
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
    /// Swift (swob): an error with a message is that message as `text/plain`; one
    /// without is swob's one-line HTML page for its status. Every answer carries
    /// `X-Trans-Id` (the request id).
    Swift,
    /// Placement (the API-SIG errors guideline): `{"errors": [{"status", "title",
    /// "detail", "code", "request_id"}]}`, `code` from microversion 1.23 on (see
    /// [`render_placement`]); a 401 is keystonemiddleware's Keystone-style JSON.
    Placement,
}

/// The HTTP status of each kind of error: the one place that maps the app layers'
/// transport-independent errors to HTTP. (`Error`'s `IntoResponse` only leaves the error
/// in the response; [`render_fault`] sets this status and the body.)
pub fn status(kind: ErrorKind) -> StatusCode {
    use StatusCode as S;
    match kind {
        ErrorKind::BadRequest => S::BAD_REQUEST,
        ErrorKind::Unauthenticated => S::UNAUTHORIZED,
        ErrorKind::Forbidden => S::FORBIDDEN,
        ErrorKind::NotFound => S::NOT_FOUND,
        ErrorKind::MethodNotAllowed => S::METHOD_NOT_ALLOWED,
        ErrorKind::Conflict => S::CONFLICT,
        ErrorKind::Gone => S::GONE,
        ErrorKind::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
        ErrorKind::UnsupportedMediaType => S::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::NotAcceptable => S::NOT_ACCEPTABLE,
        ErrorKind::RangeNotSatisfiable => S::RANGE_NOT_SATISFIABLE,
        ErrorKind::PreconditionFailed => S::PRECONDITION_FAILED,
        ErrorKind::LengthRequired => S::LENGTH_REQUIRED,
        ErrorKind::Unprocessable => S::UNPROCESSABLE_ENTITY,
        ErrorKind::OverLimit => S::PAYLOAD_TOO_LARGE,
        ErrorKind::Internal => S::INTERNAL_SERVER_ERROR,
        ErrorKind::NotImplemented => S::NOT_IMPLEMENTED,
        ErrorKind::Unavailable => S::SERVICE_UNAVAILABLE,
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
        ErrorKind::Gone
        | ErrorKind::NotAcceptable
        | ErrorKind::RangeNotSatisfiable
        | ErrorKind::PreconditionFailed
        | ErrorKind::LengthRequired
        | ErrorKind::Unprocessable
        | ErrorKind::Internal => "computeFault",
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
        ErrorKind::PreconditionFailed => "HTTPPreconditionFailed",
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
    let status = status(err.kind);
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

/// webob's explanation of a status, which Placement's `detail` starts with.
fn webob_explanation(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The server could not comply with the request since it is either malformed or otherwise incorrect.",
        403 => "Access was denied to this resource.",
        404 => "The resource could not be found.",
        405 => "The method specified is not allowed for this resource.",
        406 => "The resource could not be generated that was acceptable to your request.",
        409 => "There was a conflict when trying to complete your request.",
        413 => "The request is larger than the server is willing or able to process.",
        415 => "The request media type is not supported by this server.",
        501 => "The server has not implemented the request method.",
        503 => "The server is currently unavailable. Please try again at a later time.",
        _ => "The server has either erred or is incapable of performing the requested operation.",
    }
}

/// What a Placement fault says besides the error: the request id, the microversion the
/// request was served at (error codes appear from 1.23), and, when negotiation itself
/// failed, the supported range.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlacementContext<'a> {
    pub request_id: &'a str,
    pub version: Option<crate::microversion::Version>,
    pub unnegotiated: Option<crate::microversion::Microversions>,
}

/// Placement's fault: `{"errors": [{"status", "title", "detail", "code" (1.23+),
/// "request_id"}]}`, the detail as webob words it (its explanation, then the message).
/// The code is the error's own ([`Error::code`]) or `placement.undefined_code`.
pub fn render_placement(err: &Error, cx: PlacementContext<'_>) -> Response {
    if err.kind == ErrorKind::Unauthenticated {
        return render(FaultStyle::Keystone, err);
    }
    let status = status(err.kind);
    let mut e = json!({
        "status": status.as_u16(),
        "title": title(status),
        "detail": format!("{}\n\n {}  ", webob_explanation(status), err.message),
    });
    if cx.version.is_some_and(|v| v.at_least(1, 23)) {
        e["code"] = json!(err.code.unwrap_or("placement.undefined_code"));
    }
    if !cx.request_id.is_empty() {
        e["request_id"] = json!(cx.request_id);
    }
    if let Some(range) = cx.unnegotiated {
        e["max_version"] = json!(range.max.to_string());
        e["min_version"] = json!(range.min.to_string());
    }
    (status, axum::Json(json!({"errors": [e]}))).into_response()
}

/// Render an error in a service's fault style.
pub fn render(style: FaultStyle, err: &Error) -> Response {
    if style == FaultStyle::Placement {
        return render_placement(err, PlacementContext::default());
    }
    if err.kind == ErrorKind::Unauthenticated
        && matches!(style, FaultStyle::Neutron | FaultStyle::Nova)
    {
        // keystonemiddleware answers for Neutron and Nova when the token is missing or
        // invalid.
        return render(FaultStyle::Keystone, err);
    }
    let status = status(err.kind);
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
                "type": err.code.unwrap_or(neutron_type(err.kind)), "message": err.message, "detail": ""}})),
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
        FaultStyle::Swift => render_swift(status, err),
        FaultStyle::Placement => unreachable!("rendered above"),
    }
}

/// swob's explanation of a status, for an error without a message of its own.
fn swift_explanation(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The server could not comply with the request since it is either malformed or otherwise incorrect.",
        401 => "This server could not verify that you are authorized to access the document you requested.",
        403 => "Access was denied to this resource.",
        404 => "The resource could not be found.",
        405 => "The method is not allowed for this resource.",
        409 => "There was a conflict when trying to complete your request.",
        411 => "Length Required.",
        412 => "A precondition for this request was not met.",
        413 => "The body of your request was too large for this server.",
        416 => "The Range requested is not available.",
        422 => "Unable to process the contained instructions",
        503 => "The server is currently unavailable. Please try again at a later time.",
        _ => "The server has either erred or is incapable of performing the requested operation.",
    }
}

fn render_swift(status: StatusCode, err: &Error) -> Response {
    let (ctype, body) = if err.message.is_empty() || err.kind == ErrorKind::Internal {
        let t = match status.as_u16() {
            500 => "Internal Error",
            416 => "Requested Range Not Satisfiable",
            _ => title(status),
        };
        (
            "text/html; charset=UTF-8",
            format!(
                "<html><h1>{t}</h1><p>{}</p></html>",
                swift_explanation(status)
            ),
        )
    } else {
        ("text/plain; charset=UTF-8", err.message.clone())
    };
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(ctype))],
        body,
    )
        .into_response()
}

/// Turn an [`Error`] left in `resp` into the service's fault body (for a request with
/// the given `Accept` header), and log it (server errors with their internal detail).
/// Any other response is returned as it is. The shared layers
/// ([`crate::routes::service_layers`]) call it on every response.
pub fn render_fault(
    style: FaultStyle,
    accept: Option<&HeaderValue>,
    request_id: &str,
    resp: Response,
) -> Response {
    let Some(err) = resp.extensions().get::<Arc<Error>>().cloned() else {
        return resp;
    };
    // The whole chain goes to the log (the user got only the message).
    if status(err.kind).is_server_error() {
        tracing::error!(kind = ?err.kind, error = %err.report(), "request failed");
    } else {
        tracing::debug!(kind = ?err.kind, error = %err.report(), "request refused");
    }
    let mut out = match style {
        FaultStyle::Placement => render_placement(
            &err,
            PlacementContext {
                request_id,
                version: resp
                    .extensions()
                    .get::<crate::microversion::Version>()
                    .copied(),
                unnegotiated: resp
                    .extensions()
                    .get::<crate::microversion::Unnegotiated>()
                    .map(|u| u.0),
            },
        ),
        _ => render_negotiated(style, &err, accept.and_then(|a| a.to_str().ok())),
    };
    if style == FaultStyle::Swift {
        if let Some(v) = crate::request_id::header_value(request_id) {
            out.headers_mut().insert("x-trans-id", v);
        }
    }
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
    use axum::extract::Request;

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

    #[test]
    fn statuses() {
        let check =
            |kind: ErrorKind, code: u16| assert_eq!(status(kind).as_u16(), code, "{kind:?}");
        check(ErrorKind::BadRequest, 400);
        check(ErrorKind::Unauthenticated, 401);
        check(ErrorKind::Forbidden, 403);
        check(ErrorKind::NotFound, 404);
        check(ErrorKind::MethodNotAllowed, 405);
        check(ErrorKind::Conflict, 409);
        check(ErrorKind::Gone, 410);
        check(ErrorKind::PayloadTooLarge, 413);
        check(ErrorKind::NotAcceptable, 406);
        check(ErrorKind::OverLimit, 413);
        check(ErrorKind::UnsupportedMediaType, 415);
        check(ErrorKind::RangeNotSatisfiable, 416);
        check(ErrorKind::LengthRequired, 411);
        check(ErrorKind::Unprocessable, 422);
        check(ErrorKind::Internal, 500);
        check(ErrorKind::NotImplemented, 501);
        check(ErrorKind::Unavailable, 503);
    }

    /// A log sink for one test (the subscriber is the test thread's own).
    #[derive(Clone, Default)]
    struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Log {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
        }
    }

    /// Through the layers every service has: the status of the kind, the body of the
    /// style, and the cause in the log only.
    #[tokio::test]
    async fn faults_render_and_log_the_chain() {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        use types::{kind, Id};

        const IMAGE: &str = "6f1e2b9c-3a4d-4e5f-8a7b-0c1d2e3f4a5b";
        let log = Log::default();
        let sink = log.clone();
        let _guard = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || sink.clone())
                .finish(),
        );
        let secret = || std::io::Error::other("open /srv/secret/key: permission denied");
        let router = || {
            axum::Router::new()
                .route(
                    "/internal",
                    axum::routing::get(move || async move {
                        Err::<(), _>(Error::internal_from(secret()))
                    }),
                )
                .route(
                    "/image",
                    axum::routing::get(|| async {
                        let id: Id<kind::Image> = IMAGE.to_uppercase().parse()?;
                        Err::<(), _>(Error::not_found_id(&id))
                    }),
                )
        };
        let check = |style: FaultStyle, path: &'static str, code: u16, body: &'static str| {
            let app = crate::routes::service_layers(router(), style, 1024);
            async move {
                let req = Request::get(path)
                    .header(header::ACCEPT, "application/json")
                    .body(axum::body::Body::empty())
                    .expect("request");
                let resp = app.oneshot(req).await.expect("infallible");
                assert_eq!(resp.status().as_u16(), code, "{style:?} {path}");
                let bytes = resp.into_body().collect().await.expect("body").to_bytes();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                assert!(text.contains(body), "{style:?} {path}: {text}");
                assert!(!text.contains("secret"), "{style:?} {path}: {text}");
            }
        };
        check(
            FaultStyle::Keystone,
            "/internal",
            500,
            "An unexpected error",
        )
        .await;
        check(FaultStyle::Nova, "/internal", 500, "computeFault").await;
        check(FaultStyle::Neutron, "/image", 404, "HTTPNotFound").await;
        check(
            FaultStyle::Glance,
            "/image",
            404,
            "No image found with ID 6f1e2b9c-3a4d",
        )
        .await;
        check(FaultStyle::Nova, "/image", 404, "itemNotFound").await;
        check(
            FaultStyle::Placement,
            "/image",
            404,
            r#""detail":"The resource could not be found.\n\n No image found with ID 6f1e2b9c"#,
        )
        .await;
        check(
            FaultStyle::Placement,
            "/internal",
            500,
            r#""request_id":"req-"#,
        )
        .await;
        let logged = log.text();
        assert!(
            logged.contains("An unexpected error prevented the server from fulfilling your request.: open /srv/secret/key: permission denied"),
            "{logged}"
        );
    }
}

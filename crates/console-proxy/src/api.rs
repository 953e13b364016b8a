//! The proxy over HTTP: a websocket upgrade with a valid token at `/` or `/websockify`
//! is relayed to the token's VNC server; any other GET is a file of noVNC's pages.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use api_common::{
    routes::{Api, Routes},
    Error, FaultStyle,
};
use axum::{
    body::Bytes,
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        Path, Query, State,
    },
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tokio_util::sync::CancellationToken;

use crate::Consoles;

/// What the proxy needs besides the tokens.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// noVNC's directory.
    pub web: PathBuf,
    /// Host names an `Origin` may name besides the request's `Host`.
    pub allowed_origins: Vec<String>,
    /// Cancelled at shutdown: open consoles are closed.
    pub shutdown: CancellationToken,
}

struct AppState {
    consoles: Arc<dyn Consoles>,
    options: Options,
}

/// The proxy's routes over `consoles`.
pub fn api(consoles: Arc<dyn Consoles>, options: Options) -> Api {
    let state = Arc::new(AppState { consoles, options });
    Routes::new()
        .route("/", get(console_connect))
        .route("/websockify", get(console_connect))
        .route("/{*file}", get(web_file))
        .with_state(state)
        .finish(FaultStyle::Glance, 4096)
}

/// The subprotocol noVNC asks for: raw bytes in binary frames.
const BINARY: &str = "binary";

fn invalid_token() -> Error {
    Error::forbidden("The token is invalid or has expired.")
}

/// The token: `?token=`, else the `token` cookie (noVNC may keep it there).
fn token(query: &HashMap<String, String>, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = query.get("token").filter(|t| !t.is_empty()) {
        return Some(t.clone());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("token="))
        .find(|t| !t.is_empty())
        .map(str::to_owned)
}

/// The host name of a `host[:port]` or of a URL's authority.
fn hostname(authority: &str) -> &str {
    let rest = authority.split_once("://").map_or(authority, |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    if let Some(v6) = rest.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    rest.rsplit_once(':').map_or(rest, |(h, _)| h)
}

/// A browser's `Origin` must be this host (or an allowed one), as Nova checks it, so
/// another site's page cannot open a console with a token it got hold of.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), Error> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| Error::forbidden("Origin header not valid."))?;
    let origin_host = hostname(origin);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(hostname);
    if origin_host.is_empty() {
        return Err(Error::forbidden("Origin header not valid."));
    }
    if host == Some(origin_host) || allowed.iter().any(|a| a == origin_host) {
        Ok(())
    } else {
        Err(Error::forbidden("Origin header does not match this host."))
    }
}

/// `/?token=` and `/websockify?token=`: the websocket to the token's console. Without
/// an upgrade, `/` is noVNC's index page.
async fn console_connect(
    State(st): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let Ok(ws) = ws else {
        return serve_file(&st.options.web, "vnc_auto.html").await;
    };
    check_origin(&headers, &st.options.allowed_origins)?;
    let token = token(&query, &headers).ok_or_else(invalid_token)?;
    let Some(addr) = st.consoles.resolve(&token).await? else {
        tracing::info!("refused a console connection: invalid or expired token");
        return Err(invalid_token());
    };
    let tcp = TcpStream::connect(addr).await.map_err(|e| {
        Error::unavailable("The console cannot be reached.")
            .with_detail(format!("connecting to the VNC server at {addr}"))
            .with_source(e)
    })?;
    let _ = tcp.set_nodelay(true);
    tracing::info!(%addr, "console connection opened");
    let shutdown = st.options.shutdown.clone();
    Ok(ws
        .protocols([BINARY])
        .on_upgrade(move |socket| relay(socket, tcp, shutdown)))
}

/// Bytes both ways until either side closes (or the process stops).
async fn relay(mut ws: WebSocket, mut tcp: TcpStream, shutdown: CancellationToken) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            m = ws.recv() => match m {
                Some(Ok(Message::Binary(b))) => {
                    if tcp.write_all(&b).await.is_err() {
                        break;
                    }
                }
                // pings are answered by the websocket itself
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    tracing::debug!("text frame on a console websocket: only binary is spoken");
                    break;
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            n = tcp.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if ws.send(Message::Binary(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        break;
                    }
                }
            },
            () = shutdown.cancelled() => break,
        }
    }
    let _ = ws.send(Message::Close(None)).await;
    let _ = tcp.shutdown().await;
    tracing::info!("console connection closed");
}

/// A file of noVNC's pages.
async fn web_file(
    State(st): State<Arc<AppState>>,
    Path(file): Path<String>,
) -> Result<Response, Error> {
    serve_file(&st.options.web, &file).await
}

fn not_found() -> Error {
    Error::not_found("The resource could not be found.")
}

async fn serve_file(web: &std::path::Path, file: &str) -> Result<Response, Error> {
    if file
        .split('/')
        .any(|t| t.is_empty() || t == "." || t == ".." || t.starts_with('.'))
    {
        return Err(not_found());
    }
    let path = web.join(file);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !web.is_dir() => {
            return Err(Error::not_found(format!(
                "noVNC is not installed: [novncproxy] web ({}) does not exist.",
                web.display()
            )))
        }
        Err(_) => return Err(not_found()),
    };
    let kind = match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=UTF-8",
        Some("js" | "mjs") => "text/javascript; charset=UTF-8",
        Some("css") => "text/css; charset=UTF-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("ogg" | "oga") => "audio/ogg",
        Some("mp3") => "audio/mpeg",
        _ => "application/octet-stream",
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_query_or_the_cookie() {
        let mut q = HashMap::new();
        let mut h = HeaderMap::new();
        assert_eq!(token(&q, &h), None);
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; token=c00k"));
        assert_eq!(token(&q, &h).as_deref(), Some("c00k"));
        q.insert("token".into(), "qu3ry".into());
        assert_eq!(token(&q, &h).as_deref(), Some("qu3ry"));
    }

    #[test]
    fn origins_must_be_this_host() {
        let check = |origin: Option<&'static str>, host: &'static str, allowed: &[&str]| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static(host));
            if let Some(o) = origin {
                h.insert(header::ORIGIN, HeaderValue::from_static(o));
            }
            let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
            check_origin(&h, &allowed).is_ok()
        };
        assert!(check(None, "cloud:6080", &[]));
        assert!(check(Some("http://cloud:6080"), "cloud:6080", &[]));
        assert!(check(Some("https://cloud"), "cloud:6080", &[]));
        assert!(check(Some("http://[::1]:6080"), "[::1]:6080", &[]));
        assert!(!check(Some("http://evil.example"), "cloud:6080", &[]));
        assert!(check(
            Some("http://dash.example"),
            "cloud:6080",
            &["dash.example"]
        ));
        assert!(!check(Some("null"), "cloud:6080", &[]));
    }
}

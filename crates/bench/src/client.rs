//! A lean HTTP/1.1 client: one keep-alive connection driven by hyper's connection-level
//! API. No pool, no URL parsing per request; header values are built once and cloned
//! (a reference-count increment) per request.

use std::{net::SocketAddr, time::Duration};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one request may take before the benchmark calls it failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One keep-alive connection to a server on the loopback.
pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: SendRequest<Full<Bytes>>,
}

/// A whole response.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("response body is not JSON")
    }
}

async fn handshake(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Conn> {
        let host = HeaderValue::from_str(&addr.to_string())?;
        Ok(Conn {
            addr,
            host,
            sender: handshake(addr).await?,
        })
    }

    /// A request for `path` (`/v3/...`, with any query) with the given extra headers.
    pub fn request(
        &self,
        method: Method,
        path: &Uri,
        headers: &[(&'static str, &HeaderValue)],
        body: Bytes,
    ) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = path.clone();
        let h = req.headers_mut();
        h.insert(header::HOST, self.host.clone());
        for (k, v) in headers {
            h.insert(*k, (*v).clone());
        }
        req
    }

    /// Get a fresh connection after the server closed this one.
    pub async fn reconnect(&mut self) -> anyhow::Result<()> {
        self.sender = handshake(self.addr).await?;
        Ok(())
    }

    async fn ready(&mut self) -> anyhow::Result<()> {
        if self.sender.ready().await.is_err() || self.sender.is_closed() {
            self.reconnect().await?;
            self.sender.ready().await?;
        }
        Ok(())
    }

    /// Send a request and read the whole response.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<Reply> {
        let fut = async {
            self.ready().await?;
            let resp = self.sender.send_request(req).await?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, anyhow::Error>(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
            Ok(r) => r,
            Err(_) => bail!("request timed out after {REQUEST_TIMEOUT:?}"),
        }
    }

    /// Send a request and read the response body without keeping it: the status and the
    /// body length. The hot path of the load loops.
    pub async fn send_discard(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> anyhow::Result<(StatusCode, usize)> {
        let fut = async {
            self.ready().await?;
            let resp = self.sender.send_request(req).await?;
            let status = resp.status();
            let mut body = resp.into_body();
            let mut len = 0;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data() {
                    len += data.len();
                }
            }
            Ok::<_, anyhow::Error>((status, len))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
            Ok(r) => r,
            Err(_) => bail!("request timed out after {REQUEST_TIMEOUT:?}"),
        }
    }
}

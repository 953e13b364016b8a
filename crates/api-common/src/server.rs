//! Serving a service router: the layers every service gets, the connection limits and
//! timeouts, and graceful shutdown.
//!
//! The serve loop is hyper's HTTP/1 connection driver under our own accept loop (not
//! `axum::serve`, which has no timeouts and no connection limit), so that a client cannot
//! hold the process's file descriptors: half-sent headers and idle keep-alive
//! connections are closed after a timeout, the number of connections is bounded by
//! [`ServerConfig::max_connections`] and by the open-files limit, and when the bound is
//! reached the connection that has waited longest for its client is closed to make room
//! for the new one. A request in flight is never cut.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::pin,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use axum::{body::Body, extract::ConnectInfo, Router};
use hyper::{body::Incoming, server::conn::http1, Request, Response};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{watch, OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};
use tower::Service;

use crate::connection::{
    open_files_soft_limit, ConnState, InFlight, Timeouts, TrackedBody, TrackedIo, Verdict, REGISTRY,
};

/// Limits of the HTTP servers: how long a client may keep a connection without using it,
/// and how many connections may be open at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Seconds a client has to send a whole request header, from its first byte (for a
    /// new connection: from the connect). Trickling bytes does not extend it. A client
    /// that is late is disconnected.
    pub header_read_timeout: u64,
    /// Seconds a connection may stay open between requests with no bytes moving; then it
    /// is closed. A request in flight is never cut: a slow handler, a long upload or
    /// download keep their connection whatever this says.
    pub idle_timeout: u64,
    /// Most connections one listener keeps open at once. When it is reached, the
    /// connection that has waited longest for its client (no request in flight) is
    /// closed to make room; with none, new clients wait in the listen backlog.
    pub max_connections: usize,
    /// File descriptors kept for the process's own use (database, image files, logs,
    /// outgoing connections): all listeners together keep at most the open-files soft
    /// limit (`ulimit -n`) minus this many connections open. The first server started in
    /// the process fixes it.
    pub reserved_fds: usize,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            header_read_timeout: 30,
            idle_timeout: 60,
            max_connections: 10_000,
            reserved_fds: 128,
        }
    }
}

impl ServerConfig {
    fn timeouts(&self) -> Timeouts {
        Timeouts {
            header: Duration::from_secs(self.header_read_timeout),
            idle: Duration::from_secs(self.idle_timeout),
        }
    }
}

/// Bind a listener, reporting the address in the error.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serve `router` on `listener` with the default [`ServerConfig`] until `shutdown`
/// resolves, then drain in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, &ServerConfig::default()).await
}

/// A server of its own on `127.0.0.1` (an OS-picked port), for tests and development
/// tools: it serves until dropped.
pub struct Background {
    pub addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Background {
    /// `http://127.0.0.1:port`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Serve `router` on a loopback port of its own until the returned handle is dropped.
pub async fn serve_in_background(router: Router) -> io::Result<Background> {
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let until = async move {
            let _ = stopped.await;
        };
        if let Err(e) = serve(listener, router, until).await {
            tracing::warn!(error = %e, "a background server stopped");
        }
    });
    Ok(Background { addr, _stop: stop })
}

/// Serve `router` on `listener` until `shutdown` resolves: stop accepting, close the
/// connections that have no request in flight, and return once every request in flight
/// has been answered. Handlers can extract `ConnectInfo<SocketAddr>` (the peer).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    config: &ServerConfig,
) -> std::io::Result<()> {
    let listener_id = REGISTRY.listener_id();
    let local = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let global = process_budget(config.reserved_fds);
    let timeouts = config.timeouts();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut accept_errors = AcceptErrors::default();
    let mut shutdown = pin!(shutdown);
    'serve: loop {
        let permits = tokio::select! {
            p = acquire(&local, &global, listener_id) => p,
            () = shutdown.as_mut() => break 'serve,
            Some(done) = conns.join_next() => { reap(done); continue 'serve; }
        };
        let (stream, peer) = loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok(conn) => break conn,
                    Err(e) => {
                        let pause = accept_errors.failed(&e);
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            () = shutdown.as_mut() => break 'serve,
                        }
                    }
                },
                () = shutdown.as_mut() => break 'serve,
                Some(done) = conns.join_next() => reap(done),
            }
        };
        accept_errors.succeeded();
        let conn = Connection {
            state: Arc::new(ConnState::new(listener_id)),
            router: router.clone(),
            peer,
            timeouts,
        };
        conns.spawn(conn.run(stream, permits, stop_rx.clone()));
    }
    drop(listener);
    // `send` fails only when no connection is left to tell.
    let _ = stop_tx.send(true);
    while let Some(done) = conns.join_next().await {
        reap(done);
    }
    Ok(())
}

/// The connections all listeners of the process may keep open together: the open-files
/// soft limit less `reserved_fds` (unbounded when the limit is unknown).
fn process_budget(reserved_fds: usize) -> Arc<Semaphore> {
    static BUDGET: OnceLock<Arc<Semaphore>> = OnceLock::new();
    BUDGET
        .get_or_init(|| {
            let n = match open_files_soft_limit() {
                Some(limit) => limit.saturating_sub(reserved_fds).max(1),
                None => Semaphore::MAX_PERMITS,
            };
            tracing::debug!(connections = n, "process connection budget");
            Arc::new(Semaphore::new(n))
        })
        .clone()
}

/// The places a connection holds: one of its listener's, one of the process's.
type Permits = (OwnedSemaphorePermit, OwnedSemaphorePermit);

/// Take a place for one more connection, closing the stalest waiting connection while
/// none is free (again every 100 ms: a connection asked to close may have received a
/// request meanwhile and stays open).
async fn acquire(local: &Arc<Semaphore>, global: &Arc<Semaphore>, listener: u64) -> Permits {
    let a = take(local, Some(listener)).await;
    let b = take(global, None).await;
    (a, b)
}

async fn take(sem: &Arc<Semaphore>, listener: Option<u64>) -> OwnedSemaphorePermit {
    loop {
        if let Ok(p) = sem.clone().try_acquire_owned() {
            return p;
        }
        REGISTRY.evict_stalest(listener);
        // The semaphores are never closed, so `acquire_owned` only ever succeeds.
        if let Ok(Ok(p)) =
            tokio::time::timeout(Duration::from_millis(100), sem.clone().acquire_owned()).await
        {
            return p;
        }
    }
}

fn reap(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "connection task failed");
    }
}

/// Failed accepts in a row: logged once when they begin and once when they end, not
/// once each, and answered with a growing pause (10 ms to 1 s) so that a process out
/// of file descriptors does not spin, while its open connections are still served.
#[derive(Debug, Default)]
struct AcceptErrors {
    count: u64,
    since: Option<Instant>,
    pause: Duration,
}

/// `EMFILE` (process) and `ENFILE` (system): out of file descriptors; the same numbers
/// on Linux and the BSDs.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

impl AcceptErrors {
    /// How long to wait before accepting again.
    fn failed(&mut self, e: &io::Error) -> Duration {
        // Errors of one connection that the client already gave up: try the next one.
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
        ) {
            return Duration::ZERO;
        }
        let out_of_fds = matches!(e.raw_os_error(), Some(EMFILE | ENFILE));
        if out_of_fds {
            // Make room: the descriptor of a connection that waits for its client is
            // better spent on a client that is knocking now.
            REGISTRY.evict_stalest(None);
        }
        self.count += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            tracing::warn!(error = %e, out_of_fds, "accept failed; pausing new connections while open ones are served");
        }
        self.pause = (self.pause * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        self.pause
    }

    fn succeeded(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::warn!(
                failures = self.count,
                after_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "accepting connections again"
            );
        }
        self.count = 0;
        self.pause = Duration::ZERO;
    }
}

/// One accepted connection.
struct Connection {
    state: Arc<ConnState>,
    router: Router,
    peer: SocketAddr,
    timeouts: Timeouts,
}

impl Connection {
    /// Serve the connection until the client or hyper closes it, a timeout passes with
    /// no request in flight, the registry asks for its place, or the server stops (then
    /// the request in flight, if any, is finished first).
    async fn run(self, stream: TcpStream, permits: Permits, mut stop: watch::Receiver<bool>) {
        // Latency over batching, as axum::serve does.
        let _ = stream.set_nodelay(true);
        let _registered = REGISTRY.register(self.state.clone());
        let state = self.state.clone();
        let io = TokioIo::new(TrackedIo {
            inner: stream,
            state: state.clone(),
        });
        let service = RouterService {
            router: self.router,
            peer: self.peer,
            state: state.clone(),
        };
        let mut conn = pin!(http1::Builder::new()
            // Our watchdog times headers from their first byte; hyper's own timer would
            // also run between keep-alive requests.
            .header_read_timeout(None)
            // A client that closes its side while its request is in flight still gets
            // the answer, and the handler is not dropped halfway through its work (a
            // request in flight is never cut, see above). It also spares a read per
            // request: without it hyper reads the socket while the handler runs, to see
            // an early close, and that read takes a fresh read buffer each time, since
            // the request still holds the previous one.
            .half_close(true)
            .serve_connection(io, service)
            // a websocket (the console proxy) takes the connection over after its 101
            .with_upgrades());
        let mut stopping = false;
        loop {
            let wait = match state.verdict(self.timeouts) {
                Verdict::Close => break,
                Verdict::Wait(_) if stopping && !state.in_flight() => break,
                Verdict::Wait(wait) => wait,
            };
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended");
                    }
                    break;
                }
                () = tokio::time::sleep(wait) => {}
                () = state.evict.notified() => {
                    if !state.in_flight() {
                        tracing::debug!(peer = %self.peer, "connection closed to make room");
                        break;
                    }
                }
                r = stop.changed(), if !stopping => {
                    stopping = true;
                    if r.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        drop(permits);
    }
}

/// The router as hyper's service for one connection: adds the peer address for
/// `ConnectInfo` and counts the request as in flight until its response body is done.
#[derive(Clone)]
struct RouterService {
    router: Router,
    peer: SocketAddr,
    state: Arc<ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for RouterService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Response<TrackedBody>, Infallible>> + Send + 'static>,
    >;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::start(&self.state);
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let response = self.router.clone().call(req);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|inner| TrackedBody {
                inner,
                _in_flight: in_flight,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_config_defaults_and_refuses_unknown_fields() {
        let empty: ServerConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, ServerConfig::default());
        let some: ServerConfig = serde_json::from_str(r#"{"idle_timeout": 5}"#).unwrap();
        assert_eq!(some.idle_timeout, 5);
        assert_eq!(some.header_read_timeout, 30);
        assert!(serde_json::from_str::<ServerConfig>(r#"{"idle_timeout_secs": 5}"#).is_err());
        let printed = serde_json::to_string(&ServerConfig::default()).unwrap();
        assert_eq!(
            serde_json::from_str::<ServerConfig>(&printed).unwrap(),
            ServerConfig::default()
        );
    }
}

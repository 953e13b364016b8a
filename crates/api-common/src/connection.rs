//! What the serve loop knows about each open connection: whether a request is in flight,
//! when bytes last moved, when the current request's header began; and the process-wide
//! registry that picks a connection to close when connections or file descriptors run out.
//!
//! The clocks are milliseconds since one process-wide instant, kept in atomics: the
//! connection's I/O wrapper and its requests' response bodies update them, the
//! connection's watchdog and the registry read them.

use std::{
    collections::HashMap,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed},
        Arc, LazyLock, Mutex, PoisonError,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::Notify,
};

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since [`EPOCH`]; never 0 (0 means "not set" in [`ConnState`]).
fn now_ms() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// The state of one connection.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// Which `serve` call accepted it.
    pub listener: u64,
    /// Requests handed to the router whose response body is not finished yet.
    in_flight: AtomicUsize,
    /// When bytes were last read or written.
    last_io: AtomicU64,
    /// When the first byte of the next request's header arrived (at accept for a new
    /// connection); 0 while a request is in flight or the connection idles between
    /// requests.
    header_started: AtomicU64,
    /// Set once the registry has asked this connection to close.
    evicted: AtomicBool,
    /// Wakes the connection's task when the registry asks it to close.
    pub evict: Notify,
}

/// What a connection's watchdog should do now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Close the connection: no request is in flight and a timeout passed.
    Close,
    /// Look again after this long at the latest.
    Wait(Duration),
}

/// The timeouts that apply to a connection with no request in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

impl Timeouts {
    /// How often a watchdog looks at its connection: an eighth of the shorter timeout
    /// (so a timeout is overshot by at most that), between 10 ms and 2 s.
    fn tick(&self) -> Duration {
        (self.header.min(self.idle) / 8).clamp(Duration::from_millis(10), Duration::from_secs(2))
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ConnState {
    pub fn new(listener: u64) -> ConnState {
        let now = now_ms();
        ConnState {
            listener,
            in_flight: AtomicUsize::new(0),
            last_io: AtomicU64::new(now),
            header_started: AtomicU64::new(now),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
        }
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight.load(Relaxed) > 0
    }

    fn on_read(&self) {
        let now = now_ms();
        self.last_io.store(now, Relaxed);
        if !self.in_flight() && self.header_started.load(Relaxed) == 0 {
            self.header_started.store(now, Relaxed);
        }
    }

    fn on_write(&self) {
        self.last_io.store(now_ms(), Relaxed);
    }

    /// Since when this connection has been waiting for a client that owes it something
    /// (a header, or just a next request); `None` while a request is in flight.
    fn waiting_since(&self) -> Option<u64> {
        if self.in_flight() {
            return None;
        }
        match self.header_started.load(Relaxed) {
            0 => Some(self.last_io.load(Relaxed)),
            started => Some(started),
        }
    }

    /// Whether to close the connection now. A request in flight is never cut, however
    /// slow its handler or its body; otherwise a header must be complete within
    /// `header` of its first byte (so trickling bytes does not extend it), and a
    /// connection between requests may sit with no bytes moving for `idle`.
    pub fn verdict(&self, t: Timeouts) -> Verdict {
        if self.in_flight() {
            return Verdict::Wait(t.tick());
        }
        let deadline = match self.header_started.load(Relaxed) {
            0 => self.last_io.load(Relaxed).saturating_add(ms(t.idle)),
            started => started.saturating_add(ms(t.header)),
        };
        match deadline.checked_sub(now_ms()) {
            Some(left) if left > 0 => Verdict::Wait(Duration::from_millis(left).min(t.tick())),
            _ => Verdict::Close,
        }
    }
}

/// A request in flight on a connection: made when the router is called, dropped with
/// the response body (hyper drops it once written, or with the connection).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<ConnState>);

impl InFlight {
    pub fn start(state: &Arc<ConnState>) -> InFlight {
        state.in_flight.fetch_add(1, Relaxed);
        state.header_started.store(0, Relaxed);
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // The idle time counts from the end of the response.
        self.0.last_io.store(now_ms(), Relaxed);
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
pub(crate) struct TrackedBody {
    pub inner: Body,
    pub _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket that records when bytes move on it.
pub(crate) struct TrackedIo<T> {
    pub inner: T,
    pub state: Arc<ConnState>,
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.state.on_read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.state.on_write();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.state.on_write();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Every open connection of the process, so that the stalest waiting one can be closed
/// when a new client needs its place. One registry for all listeners, because file
/// descriptors are one budget for the whole process.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
}

pub(crate) static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

/// A connection's entry in the registry, removed when dropped.
#[derive(Debug)]
pub(crate) struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        REGISTRY.lock().remove(&self.0);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        // The map stays consistent whatever panicked while it was held.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A listener id for a new `serve` call.
    pub fn listener_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    pub fn register(&self, state: Arc<ConnState>) -> Registered {
        let id = self.next_id.fetch_add(1, Relaxed);
        self.lock().insert(id, state);
        Registered(id)
    }

    /// Ask the connection that has waited longest for its client (no request in flight)
    /// to close, among those of `listener` or of every listener. Returns whether one was
    /// found. Connections with a request in flight are never chosen.
    pub fn evict_stalest(&self, listener: Option<u64>) -> bool {
        let conns = self.lock();
        let victim = conns
            .values()
            .filter(|c| listener.is_none_or(|l| c.listener == l))
            .filter(|c| !c.evicted.load(Relaxed))
            .filter_map(|c| c.waiting_since().map(|since| (since, c)))
            .min_by_key(|(since, _)| *since)
            .map(|(_, c)| c);
        match victim {
            Some(c) => {
                c.evicted.store(true, Relaxed);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The process's soft limit of open files (`RLIMIT_NOFILE`), read from
/// `/proc/self/limits` (no unsafe `getrlimit` call needed); `None` when unknown or
/// unlimited.
pub(crate) fn open_files_soft_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files_limit(&limits)
}

fn parse_open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_open_files_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             63704                63704                processes \n\
                    Max open files            256                  524288               files     \n";
        assert_eq!(parse_open_files_limit(text), Some(256));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), None);
        assert!(open_files_soft_limit().is_some());
    }

    #[test]
    fn a_request_in_flight_is_never_closed() {
        let t = Timeouts {
            header: Duration::ZERO,
            idle: Duration::ZERO,
        };
        let state = Arc::new(ConnState::new(0));
        assert_eq!(state.verdict(t), Verdict::Close);
        let req = InFlight::start(&state);
        assert!(matches!(state.verdict(t), Verdict::Wait(_)));
        drop(req);
        assert_eq!(state.verdict(t), Verdict::Close);
    }
}

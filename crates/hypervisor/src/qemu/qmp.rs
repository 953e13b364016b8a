//! A small QMP client: one connection to a guest's `qmp.sock`, shared by every caller.
//!
//! QEMU interleaves asynchronous events with the replies to commands (the POWERDOWN
//! event can come before the reply to `system_powerdown`), so a reader task
//! demultiplexes: a message with `event` goes to every [`Qmp::events`] subscriber, a
//! `return` or `error` goes to the caller whose `id` it carries. When QEMU exits the
//! connection ends: calls in flight and later ones fail with [`Error::Failed`].

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{unix::OwnedWriteHalf, UnixStream},
    sync::{broadcast, oneshot},
    task::JoinHandle,
};

use crate::{Error, Result};

/// How long a command may take before its caller gives up on it.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// An asynchronous QMP event.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Event {
    pub name: String,
    pub data: Value,
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value>>>>>;

/// One QMP connection.
pub(crate) struct Qmp {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    pending: Pending,
    events: broadcast::Sender<Event>,
    next_id: AtomicU64,
    closed: Arc<AtomicBool>,
    reader: JoinHandle<()>,
}

impl Drop for Qmp {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn failed(what: impl std::fmt::Display) -> Error {
    Error::Failed(format!("QMP: {what}"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Qmp {
    /// Connect, read the greeting and leave negotiation mode (`qmp_capabilities`).
    pub(crate) async fn connect(socket: &Path) -> Result<Qmp> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| failed(format!("cannot connect to {}: {e}", socket.display())))?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let greeting = tokio::time::timeout(COMMAND_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| failed(format!("no greeting on {}", socket.display())))?
            .map_err(|e| failed(format!("reading the greeting: {e}")))?
            .ok_or_else(|| failed(format!("{} closed before its greeting", socket.display())))?;
        let greeting: Value = serde_json::from_str(&greeting)
            .map_err(|e| failed(format!("bad greeting {greeting:?}: {e}")))?;
        if greeting.get("QMP").is_none() {
            return Err(failed(format!("not a QMP greeting: {greeting}")));
        }
        write
            .write_all(b"{\"execute\":\"qmp_capabilities\",\"id\":0}\n")
            .await
            .map_err(|e| failed(format!("writing qmp_capabilities: {e}")))?;

        let pending: Pending = Arc::default();
        let (events, _) = broadcast::channel(256);
        let closed = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = oneshot::channel();
        lock(&pending).insert(0, ready_tx);
        let reader = tokio::spawn(read_loop(
            lines,
            pending.clone(),
            events.clone(),
            closed.clone(),
        ));
        let qmp = Qmp {
            writer: tokio::sync::Mutex::new(write),
            pending,
            events,
            next_id: AtomicU64::new(1),
            closed,
            reader,
        };
        qmp.wait_reply(0, ready_rx, "qmp_capabilities").await?;
        Ok(qmp)
    }

    /// Whether the connection has ended (QEMU exited or closed it).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Every event from now on.
    pub(crate) fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Run `command` with `arguments` (`Value::Null`: none) and return its `return`.
    pub(crate) async fn execute(&self, command: &str, arguments: Value) -> Result<Value> {
        if self.is_closed() {
            return Err(failed(format!("{command}: the connection is closed")));
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut msg = json!({ "execute": command, "id": id });
        if !arguments.is_null() {
            msg["arguments"] = arguments;
        }
        let mut line = msg.to_string();
        line.push('\n');
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        if self.is_closed() {
            // the reader ended between the check above and the insert
            lock(&self.pending).remove(&id);
            return Err(failed(format!("{command}: the connection is closed")));
        }
        let written = self.writer.lock().await.write_all(line.as_bytes()).await;
        if let Err(e) = written {
            lock(&self.pending).remove(&id);
            return Err(failed(format!("{command}: {e}")));
        }
        self.wait_reply(id, rx, command).await
    }

    async fn wait_reply(
        &self,
        id: u64,
        rx: oneshot::Receiver<Result<Value>>,
        command: &str,
    ) -> Result<Value> {
        match tokio::time::timeout(COMMAND_TIMEOUT, rx).await {
            Ok(Ok(reply)) => reply.map_err(|e| match e {
                Error::Failed(m) => Error::Failed(format!("{command}: {m}")),
                e => e,
            }),
            Ok(Err(_)) => Err(failed(format!(
                "{command}: the connection closed before the reply"
            ))),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(failed(format!(
                    "{command}: no reply within {COMMAND_TIMEOUT:?}"
                )))
            }
        }
    }
}

/// Waits for the first event on `rx` that `want` accepts, at most `timeout`.
pub(crate) async fn wait_event(
    rx: &mut broadcast::Receiver<Event>,
    timeout: Duration,
    want: impl Fn(&Event) -> bool,
) -> Result<Event> {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) if want(&e) => return Ok(e),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(failed("the connection closed while waiting for an event"))
                }
            }
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| failed(format!("the awaited event did not come within {timeout:?}")))?
}

async fn read_loop(
    mut lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    pending: Pending,
    events: broadcast::Sender<Event>,
    closed: Arc<AtomicBool>,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            tracing::warn!(line, "QMP: not JSON");
            continue;
        };
        if let Some(name) = msg.get("event").and_then(Value::as_str) {
            let _ = events.send(Event {
                name: name.to_owned(),
                data: msg.get("data").cloned().unwrap_or(Value::Null),
            });
            continue;
        }
        let Some(id) = msg.get("id").and_then(Value::as_u64) else {
            tracing::warn!(%msg, "QMP: a reply without our id");
            continue;
        };
        let reply = if let Some(ret) = msg.get("return") {
            Ok(ret.clone())
        } else {
            let err = msg.get("error").cloned().unwrap_or(Value::Null);
            Err(Error::Failed(format!(
                "{} ({})",
                err.get("desc").and_then(Value::as_str).unwrap_or("error"),
                err.get("class").and_then(Value::as_str).unwrap_or("?")
            )))
        };
        if let Some(tx) = lock(&pending).remove(&id) {
            let _ = tx.send(reply);
        }
    }
    closed.store(true, Ordering::SeqCst);
    // Dropping the senders fails every call still waiting.
    lock(&pending).clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    fn socket_path(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("oxi-qmp-{}-{tag}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    /// A scripted peer: greets, answers qmp_capabilities, then for two commands sends an
    /// event first and the replies in reverse order; then closes.
    async fn peer(listener: UnixListener) {
        let (stream, _) = listener.accept().await.unwrap();
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
            .await
            .unwrap();
        let caps: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(caps["execute"], "qmp_capabilities");
        w.write_all(format!("{{\"return\": {{}}, \"id\": {}}}\n", caps["id"]).as_bytes())
            .await
            .unwrap();
        let a: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let b: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let (status, powerdown) = if a["execute"] == "query-status" {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(powerdown["execute"], "system_powerdown");
        w.write_all(b"{\"timestamp\": {}, \"event\": \"POWERDOWN\"}\n")
            .await
            .unwrap();
        w.write_all(
            format!(
                "{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"no\"}}, \"id\": {}}}\n",
                powerdown["id"]
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        w.write_all(
            format!(
                "{{\"return\": {{\"status\": \"running\", \"running\": true}}, \"id\": {}}}\n",
                status["id"]
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        // a third command never gets its reply: the peer goes away
        let _ = lines.next_line().await;
    }

    #[tokio::test]
    async fn replies_are_matched_by_id_and_events_set_apart() {
        let path = socket_path("demux");
        let listener = UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(peer(listener));
        let qmp = Qmp::connect(&path).await.unwrap();
        let mut events = qmp.events();
        let (status, powerdown) = tokio::join!(
            qmp.execute("query-status", Value::Null),
            qmp.execute("system_powerdown", Value::Null)
        );
        assert_eq!(status.unwrap()["status"], "running");
        let e = powerdown.unwrap_err().to_string();
        assert!(e.contains("system_powerdown: no (GenericError)"), "{e}");
        let ev = wait_event(&mut events, Duration::from_secs(5), |e| {
            e.name == "POWERDOWN"
        })
        .await
        .unwrap();
        assert_eq!(ev.data, Value::Null);
        let e = qmp.execute("quit", Value::Null).await.unwrap_err();
        assert!(e.to_string().contains("closed"), "{e}");
        assert!(qmp.is_closed());
        assert!(qmp.execute("cont", Value::Null).await.is_err());
        server.await.unwrap();
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_socket_that_is_not_qmp_is_refused() {
        let path = socket_path("notqmp");
        let listener = UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"{\"hello\": 1}\n").await.unwrap();
        });
        let e = Qmp::connect(&path).await.err().unwrap();
        assert!(e.to_string().contains("not a QMP greeting"), "{e}");
        server.await.unwrap();
        let _ = std::fs::remove_file(&path);
    }
}

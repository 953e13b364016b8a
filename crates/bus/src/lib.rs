//! The internal message bus, in the model of oslo.messaging RPC.
//!
//! A server listens on a topic (`compute`) and, with a server name, also on
//! `<topic>.<server>` (`compute.host1`). `call` sends a request to one listener and waits
//! for its answer; `cast` sends one-way to one listener; `fanout` sends one-way to every
//! listener of the topic. Listeners of the same topic share the work round-robin.
//!
//! [`Bus`] is the trait services use; [`InProcessBus`] is the transport of the
//! all-in-one process. A transport over AMQP implements the same trait.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BusError {
    #[error("no listener on topic {0}")]
    NoListener(String),
    #[error("call to {topic}.{method} timed out after {after:?}")]
    Timeout {
        topic: String,
        method: String,
        after: Duration,
    },
    #[error("remote error in {method}: {message}")]
    Remote { method: String, message: String },
    #[error("bus closed")]
    Closed,
}

/// Where a message goes: a topic, optionally one server of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub topic: String,
    pub server: Option<String>,
}

impl Target {
    pub fn topic(topic: impl Into<String>) -> Self {
        Target {
            topic: topic.into(),
            server: None,
        }
    }
    pub fn server(topic: impl Into<String>, server: impl Into<String>) -> Self {
        Target {
            topic: topic.into(),
            server: Some(server.into()),
        }
    }
    fn key(&self) -> String {
        match &self.server {
            None => self.topic.clone(),
            Some(s) => format!("{}.{}", self.topic, s),
        }
    }
}

/// A request received by a listener.
#[derive(Debug)]
pub struct Message {
    pub method: String,
    pub args: Value,
    reply: Option<oneshot::Sender<Result<Value, String>>>,
}

impl Message {
    /// Whether the sender waits for an answer (`call`).
    pub fn wants_reply(&self) -> bool {
        self.reply.is_some()
    }
    /// Answer a `call`; ignored for `cast` and `fanout`.
    pub fn reply(self, result: Result<Value, String>) {
        if let Some(tx) = self.reply {
            let _ = tx.send(result);
        }
    }
}

/// The RPC operations every transport offers.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Send to one listener and wait (at most `timeout`) for its answer.
    async fn call(
        &self,
        target: &Target,
        method: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<Value, BusError>;
    /// Send to one listener without waiting.
    async fn cast(&self, target: &Target, method: &str, args: Value) -> Result<(), BusError>;
    /// Send to every listener of `topic` without waiting.
    async fn fanout(&self, topic: &str, method: &str, args: Value) -> Result<(), BusError>;
    /// Start listening on `topic` (and `topic.server` when a server name is given).
    async fn listen(
        &self,
        topic: &str,
        server: Option<&str>,
    ) -> Result<mpsc::Receiver<Message>, BusError>;
}

#[derive(Default)]
struct Topic {
    next: AtomicUsize,
    queues: Vec<mpsc::Sender<Message>>,
}

/// The bus of the all-in-one process: tokio channels.
#[derive(Default, Clone)]
pub struct InProcessBus {
    topics: Arc<Mutex<HashMap<String, Topic>>>,
    fanout: Arc<Mutex<HashMap<String, Vec<mpsc::Sender<Message>>>>>,
}

impl InProcessBus {
    fn pick(&self, key: &str) -> Result<mpsc::Sender<Message>, BusError> {
        let mut topics = self.topics.lock().expect("bus poisoned");
        let t = topics
            .get_mut(key)
            .ok_or_else(|| BusError::NoListener(key.into()))?;
        t.queues.retain(|q| !q.is_closed());
        if t.queues.is_empty() {
            return Err(BusError::NoListener(key.into()));
        }
        let i = t.next.fetch_add(1, Ordering::Relaxed) % t.queues.len();
        Ok(t.queues[i].clone())
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn call(
        &self,
        target: &Target,
        method: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<Value, BusError> {
        let q = self.pick(&target.key())?;
        let (tx, rx) = oneshot::channel();
        q.send(Message {
            method: method.into(),
            args,
            reply: Some(tx),
        })
        .await
        .map_err(|_| BusError::NoListener(target.key()))?;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(BusError::Timeout {
                topic: target.key(),
                method: method.into(),
                after: timeout,
            }),
            Ok(Err(_)) => Err(BusError::Remote {
                method: method.into(),
                message: "listener dropped the call".into(),
            }),
            Ok(Ok(r)) => r.map_err(|message| BusError::Remote {
                method: method.into(),
                message,
            }),
        }
    }

    async fn cast(&self, target: &Target, method: &str, args: Value) -> Result<(), BusError> {
        let q = self.pick(&target.key())?;
        q.send(Message {
            method: method.into(),
            args,
            reply: None,
        })
        .await
        .map_err(|_| BusError::NoListener(target.key()))
    }

    async fn fanout(&self, topic: &str, method: &str, args: Value) -> Result<(), BusError> {
        let queues: Vec<_> = {
            let mut f = self.fanout.lock().expect("bus poisoned");
            let qs = f.entry(topic.to_owned()).or_default();
            qs.retain(|q| !q.is_closed());
            qs.clone()
        };
        for q in queues {
            let _ = q
                .send(Message {
                    method: method.into(),
                    args: args.clone(),
                    reply: None,
                })
                .await;
        }
        Ok(())
    }

    async fn listen(
        &self,
        topic: &str,
        server: Option<&str>,
    ) -> Result<mpsc::Receiver<Message>, BusError> {
        let (tx, rx) = mpsc::channel(256);
        let mut topics = self.topics.lock().expect("bus poisoned");
        topics
            .entry(topic.to_owned())
            .or_default()
            .queues
            .push(tx.clone());
        if let Some(s) = server {
            topics
                .entry(format!("{topic}.{s}"))
                .or_default()
                .queues
                .push(tx.clone());
        }
        self.fanout
            .lock()
            .expect("bus poisoned")
            .entry(topic.to_owned())
            .or_default()
            .push(tx);
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn echo(
        mut rx: mpsc::Receiver<Message>,
        name: &'static str,
    ) -> tokio::task::JoinHandle<Vec<String>> {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(m) = rx.recv().await {
                seen.push(m.method.clone());
                let args = m.args.clone();
                m.reply(Ok(json!({"server": name, "args": args})));
                if seen.len() == 2 {
                    break;
                }
            }
            seen
        })
    }

    #[tokio::test]
    async fn call_cast_fanout() {
        let bus = InProcessBus::default();
        let a = echo(bus.listen("compute", Some("a")).await.unwrap(), "a");
        let b = echo(bus.listen("compute", Some("b")).await.unwrap(), "b");
        let t = Duration::from_secs(1);
        let r = bus
            .call(&Target::server("compute", "b"), "ping", json!(1), t)
            .await
            .unwrap();
        assert_eq!(r, json!({"server": "b", "args": 1}));
        bus.fanout("compute", "refresh", json!(null)).await.unwrap();
        bus.cast(&Target::server("compute", "a"), "poke", json!(null))
            .await
            .unwrap();
        assert_eq!(a.await.unwrap(), vec!["refresh", "poke"]);
        assert_eq!(b.await.unwrap(), vec!["ping", "refresh"]);
        assert_eq!(
            bus.call(&Target::topic("nothing"), "x", json!(null), t)
                .await,
            Err(BusError::NoListener("nothing".into()))
        );
    }

    #[tokio::test]
    async fn call_times_out() {
        let bus = InProcessBus::default();
        let _rx = bus.listen("slow", None).await.unwrap();
        let e = bus
            .call(
                &Target::topic("slow"),
                "m",
                json!(null),
                Duration::from_millis(20),
            )
            .await;
        assert!(matches!(e, Err(BusError::Timeout { .. })));
    }
}

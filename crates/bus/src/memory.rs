//! The transport of the all-in-one process: tokio channels, no broker.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::{
    transport::{Incoming, Listener, ReplySink, Target, Transport, LISTENER_BACKLOG},
    BusError,
};

#[derive(Default)]
struct Queue {
    next: AtomicUsize,
    listeners: Vec<mpsc::Sender<Incoming>>,
}

type Queues = HashMap<String, Queue>;

/// Listeners by queue name (`topic`, `topic.server`), and by topic for fanout.
#[derive(Default, Clone)]
pub struct InProcess {
    queues: Arc<Mutex<Queues>>,
    fanout: Arc<Mutex<HashMap<String, Vec<mpsc::Sender<Incoming>>>>>,
}

#[async_trait]
impl ReplySink for oneshot::Sender<Vec<u8>> {
    async fn send(self: Box<Self>, body: Vec<u8>) -> Result<(), BusError> {
        // The caller may have timed out and gone: nothing to do then.
        let _ = (*self).send(body);
        Ok(())
    }
}

impl InProcess {
    /// The next listener of `key`, round robin, forgetting the ones that stopped.
    fn pick(&self, key: &str) -> Result<mpsc::Sender<Incoming>, BusError> {
        let mut queues = self.queues.lock().expect("bus poisoned");
        let q = queues
            .get_mut(key)
            .ok_or_else(|| BusError::NoListener(key.into()))?;
        q.listeners.retain(|l| !l.is_closed());
        if q.listeners.is_empty() {
            return Err(BusError::NoListener(key.into()));
        }
        let i = q.next.fetch_add(1, Ordering::Relaxed) % q.listeners.len();
        Ok(q.listeners[i].clone())
    }

    async fn send(&self, target: &Target, message: Incoming) -> Result<(), BusError> {
        let key = target.routing_key();
        self.pick(&key)?
            .send(message)
            .await
            .map_err(|_| BusError::NoListener(key))
    }
}

#[async_trait]
impl Transport for InProcess {
    async fn call(
        &self,
        target: &Target,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let (tx, rx) = oneshot::channel();
        let timed_out = || BusError::Timeout {
            target: target.routing_key(),
            after: timeout,
        };
        tokio::time::timeout(timeout, async {
            self.send(target, Incoming::new(body, Some(Box::new(tx))))
                .await?;
            // A listener that drops the request without answering is a server that
            // never answers: the caller sees the same timeout as over AMQP.
            match rx.await {
                Ok(reply) => Ok(reply),
                Err(_) => std::future::pending().await,
            }
        })
        .await
        .unwrap_or_else(|_| Err(timed_out()))
    }

    async fn cast(&self, target: &Target, body: Vec<u8>) -> Result<(), BusError> {
        self.send(target, Incoming::new(body, None)).await
    }

    async fn fanout(&self, topic: &str, body: Vec<u8>) -> Result<(), BusError> {
        let listeners: Vec<_> = {
            let mut f = self.fanout.lock().expect("bus poisoned");
            let ls = f.entry(topic.to_owned()).or_default();
            ls.retain(|l| !l.is_closed());
            ls.clone()
        };
        for l in listeners {
            // One listener stopping meanwhile does not concern the others.
            let _ = l.send(Incoming::new(body.clone(), None)).await;
        }
        Ok(())
    }

    async fn listen(&self, topic: &str, server: Option<&str>) -> Result<Listener, BusError> {
        let (tx, rx) = mpsc::channel(LISTENER_BACKLOG);
        let mut keys = vec![topic.to_owned()];
        keys.extend(server.map(|s| format!("{topic}.{s}")));
        let mut queues = self.queues.lock().expect("bus poisoned");
        for key in keys {
            queues.entry(key).or_default().listeners.push(tx.clone());
        }
        self.fanout
            .lock()
            .expect("bus poisoned")
            .entry(topic.to_owned())
            .or_default()
            .push(tx);
        Ok(rx)
    }

    async fn close(&self) {}

    fn kind(&self) -> &'static str {
        "in-process"
    }
}

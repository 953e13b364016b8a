//! What a transport moves: encoded messages to a topic, to one server of it, or to all
//! of its servers. The typed layer ([`crate::rpc`]) encodes and decodes; a transport
//! never looks inside a body.

use std::{fmt, time::Duration};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::BusError;

/// Where a message goes: any server of a topic (round robin), or one named server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub topic: String,
    pub server: Option<String>,
}

impl Target {
    /// The name a message to this target is routed by: `topic` or `topic.server`, the
    /// queue names of oslo.messaging.
    pub fn routing_key(&self) -> String {
        match &self.server {
            None => self.topic.clone(),
            Some(s) => format!("{}.{}", self.topic, s),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.routing_key())
    }
}

/// Sends the answer of one `call` back to its caller.
#[async_trait]
pub trait ReplySink: Send {
    async fn send(self: Box<Self>, body: Vec<u8>) -> Result<(), BusError>;
}

/// A message received by a listener.
pub struct Incoming {
    pub body: Vec<u8>,
    reply: Option<Box<dyn ReplySink>>,
}

impl Incoming {
    /// `reply` is `None` for `cast` and `fanout`.
    pub fn new(body: Vec<u8>, reply: Option<Box<dyn ReplySink>>) -> Self {
        Incoming { body, reply }
    }

    /// Whether the sender waits for an answer (a `call`).
    pub fn wants_reply(&self) -> bool {
        self.reply.is_some()
    }

    /// Answer a `call`; does nothing for `cast` and `fanout`.
    pub async fn reply(self, body: Vec<u8>) -> Result<(), BusError> {
        match self.reply {
            Some(sink) => sink.send(body).await,
            None => Ok(()),
        }
    }
}

/// The messages of one listener; dropping it stops the listening.
pub type Listener = mpsc::Receiver<Incoming>;

/// How many received messages wait in a listener before the transport holds back.
pub(crate) const LISTENER_BACKLOG: usize = 256;

/// The RPC operations every transport offers, on encoded messages. Object safe: the
/// services hold an `Arc<dyn Transport>` and do not know which one it is.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Send to one server and wait, at most `timeout`, for its answer.
    async fn call(
        &self,
        target: &Target,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError>;
    /// Send to one server without waiting for an answer.
    async fn cast(&self, target: &Target, body: Vec<u8>) -> Result<(), BusError>;
    /// Send to every server listening on `topic`.
    async fn fanout(&self, topic: &str, body: Vec<u8>) -> Result<(), BusError>;
    /// Listen on `topic` (shared with the other servers of the topic), on
    /// `topic.server` when a server name is given, and on the topic's fanout.
    async fn listen(&self, topic: &str, server: Option<&str>) -> Result<Listener, BusError>;
    /// Stop sending and receiving, after delivering to the broker what is queued
    /// (acknowledgements, replies): call it at shutdown, after the servers stopped.
    /// Dropping a transport without it may leave a message to be delivered again.
    async fn close(&self);
    /// `in-process` or `amqp`, for logs and status.
    fn kind(&self) -> &'static str;
}

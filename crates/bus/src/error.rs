//! The errors of the bus: what went wrong on the way (transport) apart from what the
//! remote service answered (a [`RemoteError`] it chose to send back).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An error a server's handler returns to the caller of a `call`, as oslo.messaging
/// sends an exception's class and message back. Services map their own error type to
/// it; `kind` is what a caller matches on, `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct RemoteError {
    pub kind: String,
    pub message: String,
}

impl RemoteError {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        RemoteError {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The in-process transport knows at once that nobody listens; over AMQP such a
    /// call times out instead (the broker keeps the message for a server to come).
    #[error("no server listens on {0}")]
    NoListener(String),
    /// No answer in time: the server is slow, gone, or the broker went away while the
    /// call was in flight.
    #[error("no reply from {target} within {after:?}")]
    Timeout { target: String, after: Duration },
    /// The server received the request and answered with an error.
    #[error("{target} answered with an error: {error}")]
    Remote { target: String, error: RemoteError },
    /// A message that does not fit the protocol's types (a bug or a version skew).
    #[error("message on {topic} does not fit its protocol: {detail}")]
    Codec { topic: String, detail: String },
    /// The broker could not be reached (in time) to send a message.
    #[error("message broker unavailable: {0}")]
    Unavailable(String),
    /// The `[bus]` section cannot be used.
    #[error("invalid [bus] configuration: {0}")]
    Config(String),
}

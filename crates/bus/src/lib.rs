//! The internal message bus of oxistack services, in the model of oslo.messaging RPC.
//!
//! A service declares a [`Protocol`]: its topic (`compute`) and its messages, a serde
//! enum of requests and one of replies. Callers hold a [`Client`] and `call` (send to
//! one server, wait for its answer), `cast` (send to one server, no answer) or
//! `fanout` (send to every server of the topic); [`Client::to_server`] aims at one
//! server (`compute.host1`) instead of any. The service runs a [`Server`] with a
//! [`Handler`] mapping each request to `Result<Reply, RemoteError>`; a handler's error
//! reaches the caller as [`BusError::Remote`], no answer in time as
//! [`BusError::Timeout`]. Servers of one topic take turns.
//!
//! Underneath, a [`Transport`] carries encoded messages; it is object safe, and
//! services hold an `Arc<dyn Transport>` made by [`connect`] from the `[bus]` section
//! ([`BusConfig`]):
//! - no `url`: [`InProcess`], tokio channels inside one process (`oxistack up`);
//! - `url = "amqp://..."`: [`Amqp`], RabbitMQ with oslo.messaging's layout of
//!   exchanges and queues, which reconnects by itself after a broker restart.
//!
//! Both carry the same JSON bodies, so one test suite (`tests/transports.rs`) runs
//! against both. At shutdown, stop the servers, then [`Transport::close`] (over AMQP
//! it sends what is still queued, acknowledgements included, before disconnecting).
//!
//! Delivery is as in oslo.messaging: a `cast` or `fanout` is sent once, with no
//! confirmation; over AMQP a message is acknowledged once its server has taken it, so
//! a server killed at that moment may see it again after a restart, and a `call`
//! whose answer is lost (broker restart) ends in [`BusError::Timeout`], never a hang.
//! `examples/bus_bench.rs` measures both transports.

mod amqp;
mod config;
mod error;
mod memory;
mod rpc;
mod transport;

use std::sync::Arc;

pub use amqp::Amqp;
pub use config::BusConfig;
pub use error::{BusError, RemoteError};
pub use memory::InProcess;
pub use rpc::{Client, Handler, Protocol, Server, DEFAULT_CALL_TIMEOUT};
pub use transport::{Incoming, Listener, ReplySink, Target, Transport};

/// The transport `cfg` names: in-process without a `url`, RabbitMQ with an `amqp://`
/// one (connected before this returns, or an error saying why not).
pub async fn connect(cfg: &BusConfig) -> Result<Arc<dyn Transport>, BusError> {
    match cfg.url.as_deref().map(str::trim) {
        None | Some("") => Ok(Arc::new(InProcess::default())),
        Some(url) => Ok(Arc::new(Amqp::connect(cfg, url).await?)),
    }
}

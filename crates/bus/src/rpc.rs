//! Typed messages: a service declares its [`Protocol`] once; callers get a [`Client`],
//! the service runs a [`Server`] with a [`Handler`]. Bodies are JSON, made and read only
//! here, so a message that does not fit the protocol fails at the boundary as a
//! [`BusError::Codec`] on the in-process transport just as over AMQP.

use std::{
    future::Future, marker::PhantomData, panic::AssertUnwindSafe, sync::Arc, time::Duration,
};

use futures::FutureExt;
use serde::{de::DeserializeOwned, Serialize};
use tokio::task::JoinSet;

use crate::{
    transport::{Incoming, Listener, Target, Transport},
    BusError, RemoteError,
};

/// The messages of one topic.
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// struct Compute;
/// #[derive(Serialize, Deserialize)]
/// enum ComputeRequest { Ping, Reboot { instance: String } }
/// #[derive(Serialize, Deserialize)]
/// enum ComputeReply { Pong, Done }
///
/// impl bus::Protocol for Compute {
///     const TOPIC: &'static str = "compute";
///     type Request = ComputeRequest;
///     type Reply = ComputeReply;
/// }
/// ```
pub trait Protocol: Send + Sync + 'static {
    /// The topic its servers listen on (`compute`; one server is `compute.<host>`).
    const TOPIC: &'static str;
    /// What callers send: a serde enum, one variant per operation.
    type Request: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What a `call` answers (`cast` and `fanout` get no answer).
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

/// How long a `call` waits for its answer unless the client says otherwise; the
/// default `rpc_response_timeout` of oslo.messaging.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The answer of a `call` on the wire.
type Outcome<R> = Result<R, RemoteError>;

fn encode<T: Serialize>(topic: &str, value: &T) -> Result<Vec<u8>, BusError> {
    serde_json::to_vec(value).map_err(|e| BusError::Codec {
        topic: topic.into(),
        detail: e.to_string(),
    })
}

fn decode<T: DeserializeOwned>(topic: &str, body: &[u8]) -> Result<T, BusError> {
    serde_json::from_slice(body).map_err(|e| BusError::Codec {
        topic: topic.into(),
        detail: e.to_string(),
    })
}

/// Sends the requests of protocol `P`: `call`, `cast` and `fanout`.
pub struct Client<P> {
    bus: Arc<dyn Transport>,
    target: Target,
    timeout: Duration,
    protocol: PhantomData<fn() -> P>,
}

impl<P> Clone for Client<P> {
    fn clone(&self) -> Self {
        Client {
            bus: self.bus.clone(),
            target: self.target.clone(),
            timeout: self.timeout,
            protocol: PhantomData,
        }
    }
}

impl<P: Protocol> Client<P> {
    /// A client of any server of `P::TOPIC`, with [`DEFAULT_CALL_TIMEOUT`].
    pub fn new(bus: Arc<dyn Transport>) -> Self {
        Client {
            bus,
            target: Target {
                topic: P::TOPIC.into(),
                server: None,
            },
            timeout: DEFAULT_CALL_TIMEOUT,
            protocol: PhantomData,
        }
    }

    /// The same client aimed at one server (`compute.<host>`), as oslo.messaging's
    /// `prepare(server=...)`.
    pub fn to_server(&self, server: impl Into<String>) -> Self {
        Client {
            target: Target {
                topic: P::TOPIC.into(),
                server: Some(server.into()),
            },
            ..self.clone()
        }
    }

    /// The same client with another `call` timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Client {
            timeout,
            ..self.clone()
        }
    }

    /// Send `request` to one server and wait for its answer. A handler's error comes
    /// back as [`BusError::Remote`]; no answer in time is [`BusError::Timeout`].
    pub async fn call(&self, request: &P::Request) -> Result<P::Reply, BusError> {
        let body = encode(P::TOPIC, request)?;
        let reply = self.bus.call(&self.target, body, self.timeout).await?;
        decode::<Outcome<P::Reply>>(P::TOPIC, &reply)?.map_err(|error| BusError::Remote {
            target: self.target.routing_key(),
            error,
        })
    }

    /// Send `request` to one server without waiting.
    pub async fn cast(&self, request: &P::Request) -> Result<(), BusError> {
        self.bus
            .cast(&self.target, encode(P::TOPIC, request)?)
            .await
    }

    /// Send `request` to every server of the topic.
    pub async fn fanout(&self, request: &P::Request) -> Result<(), BusError> {
        self.bus.fanout(P::TOPIC, encode(P::TOPIC, request)?).await
    }
}

/// What a server does with each request of `P`. Closures
/// `Fn(P::Request) -> impl Future<Output = Result<P::Reply, RemoteError>>` are handlers.
pub trait Handler<P: Protocol>: Send + Sync + 'static {
    fn handle(
        &self,
        request: P::Request,
    ) -> impl Future<Output = Result<P::Reply, RemoteError>> + Send;
}

impl<P, F, Fut> Handler<P> for F
where
    P: Protocol,
    F: Fn(P::Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<P::Reply, RemoteError>> + Send,
{
    fn handle(
        &self,
        request: P::Request,
    ) -> impl Future<Output = Result<P::Reply, RemoteError>> + Send {
        self(request)
    }
}

/// How many requests one server handles at once.
const MAX_IN_FLIGHT: usize = 64;

/// A server of protocol `P`, listening from the moment [`Server::listen`] returns (so a
/// caller may send at once) until [`Server::run`] sees its shutdown.
pub struct Server<P> {
    listener: Listener,
    protocol: PhantomData<fn() -> P>,
}

impl<P: Protocol> Server<P> {
    /// Listen on `P::TOPIC`, on `P::TOPIC.<server>` when named, and on its fanout.
    pub async fn listen(bus: &dyn Transport, server: Option<&str>) -> Result<Self, BusError> {
        Ok(Server {
            listener: bus.listen(P::TOPIC, server).await?,
            protocol: PhantomData,
        })
    }

    /// Handle requests, up to [`MAX_IN_FLIGHT`] at once, until `shutdown` completes;
    /// then stop listening and finish the requests already received.
    pub async fn run<H: Handler<P>>(self, handler: H, shutdown: impl Future<Output = ()>) {
        let Server { mut listener, .. } = self;
        let handler = Arc::new(handler);
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                message = listener.recv(), if tasks.len() < MAX_IN_FLIGHT => {
                    let Some(message) = message else { break };
                    let handler = handler.clone();
                    tasks.spawn(async move { serve_one::<P, H>(&*handler, message).await });
                }
            }
        }
        // Take nothing more, but serve what the transport already handed over (over
        // AMQP it is acknowledged: dropped here, it would be lost).
        listener.close();
        while let Some(message) = listener.recv().await {
            let handler = handler.clone();
            tasks.spawn(async move { serve_one::<P, H>(&*handler, message).await });
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Decode, handle, and answer one request.
async fn serve_one<P: Protocol, H: Handler<P>>(handler: &H, message: Incoming) {
    let outcome: Outcome<P::Reply> = match decode::<P::Request>(P::TOPIC, &message.body) {
        Err(e) => Err(RemoteError::new("InvalidRequest", e.to_string())),
        Ok(request) => AssertUnwindSafe(handler.handle(request))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(RemoteError::new("Internal", "the handler panicked"))),
    };
    if !message.wants_reply() {
        if let Err(e) = &outcome {
            tracing::warn!(topic = P::TOPIC, error = %e, "one-way request failed");
        }
        return;
    }
    let body = match encode(P::TOPIC, &outcome) {
        Ok(body) => body,
        Err(e) => encode(
            P::TOPIC,
            &Outcome::<P::Reply>::Err(RemoteError::new("Internal", e.to_string())),
        )
        .expect("a remote error encodes"),
    };
    if let Err(e) = message.reply(body).await {
        tracing::warn!(topic = P::TOPIC, error = %e, "cannot send a reply");
    }
}

//! The AMQP 0-9-1 transport (RabbitMQ), laid out as oslo.messaging's rabbit driver:
//!
//! - one topic exchange, the control exchange (`oxistack` unless configured);
//! - per topic a shared queue `topic` (its servers take turns) and per server a queue
//!   `topic.server`, both bound to the control exchange by their own names;
//! - per topic a fanout exchange `topic_fanout`, and per listener an exclusive,
//!   auto-deleted queue bound to it;
//! - `call` publishes with `reply_to` (this process's exclusive queue `reply_<uuid>`)
//!   and a correlation id, and an expiration equal to its timeout so a server never
//!   works on a request its caller gave up on; replies go back through the default
//!   exchange.
//!
//! One connection per transport, heartbeats on. [`link`] owns it: when it breaks
//! (broker restart, network) it reconnects with backoff and declares everything again,
//! listeners included, without their owners noticing. Calls in flight then fail with a
//! timeout; `cast` and `fanout` wait for the broker up to `connect_timeout_secs`.

mod link;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use lapin::{options::BasicPublishOptions, uri::AMQPUri, BasicProperties};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use crate::{
    config::BusConfig,
    transport::{Listener, Target, Transport, LISTENER_BACKLOG},
    BusError,
};

use link::{Link, Session, Spec};

/// Calls waiting for their reply, by correlation id.
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// The AMQP transport; see the module documentation.
pub struct Amqp {
    link: Arc<Link>,
    pending: Pending,
    exchange: String,
    reply_queue: String,
    send_wait: Duration,
    supervisor: tokio::task::JoinHandle<()>,
}

impl Drop for Amqp {
    fn drop(&mut self) {
        // The supervisor owns the connection and every consumer task.
        self.supervisor.abort();
    }
}

/// Removes a call from [`Pending`] however it ends.
struct PendingGuard<'a> {
    pending: &'a Pending,
    id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending.lock().expect("bus poisoned").remove(&self.id);
    }
}

/// `url` with its password left out, for logs and errors.
fn display_url(uri: &AMQPUri) -> String {
    format!(
        "{}://{}@{}:{}/{}",
        uri.scheme,
        uri.authority.userinfo.username,
        uri.authority.host,
        uri.authority.port,
        uri.vhost
    )
}

impl Amqp {
    /// Connect to the broker of `cfg.url`, waiting up to `connect_timeout_secs` for the
    /// first connection (a wrong URL or password fails here, not at the first call).
    pub async fn connect(cfg: &BusConfig, url: &str) -> Result<Self, BusError> {
        let mut uri: AMQPUri = url
            .parse()
            .map_err(|e| BusError::Config(format!("bus url: {e}")))?;
        if uri.scheme != lapin::uri::AMQPScheme::AMQP {
            return Err(BusError::Config(
                "bus url: only amqp:// is supported (this build has no TLS for AMQP)".into(),
            ));
        }
        let connect_wait = Duration::from_secs(cfg.connect_timeout_secs.max(1));
        uri.query.heartbeat.get_or_insert(cfg.heartbeat_secs);
        uri.query
            .connection_timeout
            .get_or_insert(u64::try_from(connect_wait.as_millis()).unwrap_or(u64::MAX));
        let shown = display_url(&uri);
        let pending = Pending::default();
        let reply_queue = format!("reply_{}", uuid::Uuid::new_v4().simple());
        let link = Arc::new(Link::new(
            uri,
            cfg.control_exchange.clone(),
            reply_queue.clone(),
            pending.clone(),
        ));
        let supervisor = tokio::spawn(link.clone().supervise());
        let amqp = Amqp {
            link,
            pending,
            exchange: cfg.control_exchange.clone(),
            reply_queue,
            send_wait: connect_wait,
            supervisor,
        };
        if amqp
            .link
            .session(Instant::now() + connect_wait)
            .await
            .is_err()
        {
            let why = amqp.link.last_error().unwrap_or_else(|| "no answer".into());
            return Err(BusError::Unavailable(format!(
                "cannot connect to {shown}: {why}"
            )));
        }
        tracing::info!(broker = %shown, "bus connected");
        Ok(amqp)
    }

    /// Publish on the current connection; if it breaks, wait for the next one and
    /// publish again, until `deadline`.
    async fn publish(
        &self,
        exchange: Exchange<'_>,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        deadline: Instant,
    ) -> Result<(), BusError> {
        let mut session = self.link.session(deadline).await?;
        loop {
            match self
                .try_publish(&session, exchange, routing_key, body, properties.clone())
                .await
            {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(error = %e, "publish failed; waiting for the broker");
                    self.link.report_lost(session.generation);
                    session = self
                        .link
                        .session_after(session.generation, deadline)
                        .await?;
                }
            }
        }
    }

    async fn try_publish(
        &self,
        session: &Session,
        exchange: Exchange<'_>,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), lapin::Error> {
        let exchange = match exchange {
            Exchange::Control => self.exchange.clone(),
            Exchange::Fanout(topic) => session.fanout_exchange(&self.exchange, topic).await?,
        };
        session
            .channel
            .basic_publish(
                exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await?
            .await?;
        Ok(())
    }
}

/// Where a message is published.
#[derive(Clone, Copy)]
enum Exchange<'a> {
    /// The control exchange, routed by `topic` or `topic.server`.
    Control,
    /// The fanout exchange of a topic.
    Fanout(&'a str),
}

#[async_trait]
impl Transport for Amqp {
    async fn call(
        &self,
        target: &Target,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("bus poisoned")
            .insert(id.clone(), tx);
        let _guard = PendingGuard {
            pending: &self.pending,
            id: id.clone(),
        };
        let deadline = Instant::now() + timeout;
        let properties = BasicProperties::default()
            .with_reply_to(self.reply_queue.as_str().into())
            .with_correlation_id(id.into())
            .with_expiration(timeout.as_millis().to_string().into());
        let key = target.routing_key();
        let sent = tokio::time::timeout_at(deadline, async {
            self.publish(Exchange::Control, &key, &body, properties, deadline)
                .await?;
            // The sender is dropped only by a reconnect that lost the reply queue.
            rx.await
                .map_err(|_| BusError::Unavailable("reply queue lost".into()))
        })
        .await;
        match sent {
            Ok(Ok(reply)) => Ok(reply),
            // Out of time, whether waiting for the broker or for the server.
            Err(_) | Ok(Err(BusError::Unavailable(_))) => Err(BusError::Timeout {
                target: key,
                after: timeout,
            }),
            Ok(Err(e)) => Err(e),
        }
    }

    async fn cast(&self, target: &Target, body: Vec<u8>) -> Result<(), BusError> {
        let deadline = Instant::now() + self.send_wait;
        self.publish(
            Exchange::Control,
            &target.routing_key(),
            &body,
            BasicProperties::default(),
            deadline,
        )
        .await
    }

    async fn fanout(&self, topic: &str, body: Vec<u8>) -> Result<(), BusError> {
        let deadline = Instant::now() + self.send_wait;
        self.publish(
            Exchange::Fanout(topic),
            "",
            &body,
            BasicProperties::default(),
            deadline,
        )
        .await
    }

    async fn listen(&self, topic: &str, server: Option<&str>) -> Result<Listener, BusError> {
        let (tx, rx) = mpsc::channel(LISTENER_BACKLOG);
        self.link
            .listen(Spec {
                topic: topic.into(),
                server: server.map(Into::into),
                fanout_queue: format!(
                    "{}.{topic}_fanout_{}",
                    self.exchange,
                    uuid::Uuid::new_v4().simple()
                ),
                tx,
            })
            .await?;
        Ok(rx)
    }

    async fn close(&self) {
        self.supervisor.abort();
        self.link.teardown().await;
    }

    fn kind(&self) -> &'static str {
        "amqp"
    }
}

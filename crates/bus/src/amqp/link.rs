//! The connection to the broker and everything declared on it, kept alive: a
//! supervisor task connects, declares the exchanges, the reply queue and every
//! listener's queues and consumers, then watches the connection; when it breaks it
//! tears the session down and does it all again, with backoff.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use lapin::{
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
        ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
    },
    types::{FieldTable, ShortString},
    uri::AMQPUri,
    BasicProperties, Channel, Connection, ConnectionProperties, ConnectionStatus, Consumer,
    ExchangeKind,
};
use tokio::{
    sync::{mpsc, watch, Notify},
    task::JoinSet,
    time::Instant,
};

use super::Pending;
use crate::{
    transport::{Incoming, ReplySink},
    BusError,
};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(3);
/// Deliveries the broker sends a listener ahead of its acknowledgements; more servers
/// of a topic then share its work more evenly.
const PREFETCH: u16 = 32;

/// One listener, kept to be declared again on every new connection.
pub(super) struct Spec {
    pub topic: String,
    pub server: Option<String>,
    /// Its exclusive queue on the topic's fanout exchange (the same name every time).
    pub fanout_queue: String,
    pub tx: mpsc::Sender<Incoming>,
}

/// What publishers use of one connection.
#[derive(Clone)]
pub(super) struct Session {
    /// Counts connections, so a publisher reports the loss of the one it used only.
    pub generation: u64,
    pub channel: Channel,
    fanouts: Arc<Mutex<HashSet<String>>>,
}

impl Session {
    /// The fanout exchange of `topic` under the control exchange `exchange`, declared on
    /// first use: publishing to an exchange that does not exist would close the channel.
    pub async fn fanout_exchange(
        &self,
        exchange: &str,
        topic: &str,
    ) -> Result<String, lapin::Error> {
        let name = fanout_name(exchange, topic);
        if !self.fanouts.lock().expect("bus poisoned").contains(&name) {
            declare_fanout(&self.channel, &name).await?;
            self.fanouts
                .lock()
                .expect("bus poisoned")
                .insert(name.clone());
        }
        Ok(name)
    }
}

/// The live connection and the tasks consuming on it.
struct Live {
    conn: Connection,
    consumers: JoinSet<()>,
}

#[derive(Default)]
struct State {
    specs: Vec<Spec>,
    live: Option<Live>,
}

pub(super) struct Link {
    uri: AMQPUri,
    exchange: String,
    reply_queue: String,
    pending: Pending,
    session: watch::Sender<Option<Session>>,
    /// Listeners are added under this lock, so none is missed by a reconnect.
    state: tokio::sync::Mutex<State>,
    /// Rung by a publisher or a consumer that found the connection broken.
    lost: Arc<Notify>,
    generation: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Link {
    pub fn new(uri: AMQPUri, exchange: String, reply_queue: String, pending: Pending) -> Self {
        Link {
            uri,
            exchange,
            reply_queue,
            pending,
            session: watch::Sender::new(None),
            state: tokio::sync::Mutex::default(),
            lost: Arc::default(),
            generation: AtomicU64::new(0),
            last_error: Mutex::default(),
        }
    }

    /// Why the last connection attempt failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("bus poisoned").clone()
    }

    /// The current session, waiting for one until `deadline`.
    pub async fn session(&self, deadline: Instant) -> Result<Session, BusError> {
        self.session_matching(deadline, |_| true).await
    }

    /// A session other than the broken one of `generation`, waiting until `deadline`.
    pub async fn session_after(
        &self,
        generation: u64,
        deadline: Instant,
    ) -> Result<Session, BusError> {
        self.session_matching(deadline, |s| s.generation != generation)
            .await
    }

    async fn session_matching(
        &self,
        deadline: Instant,
        ok: impl Fn(&Session) -> bool,
    ) -> Result<Session, BusError> {
        let mut rx = self.session.subscribe();
        let found =
            tokio::time::timeout_at(deadline, rx.wait_for(|s| s.as_ref().is_some_and(&ok))).await;
        match found {
            Ok(Ok(s)) => Ok(s.clone().expect("waited for a session")),
            _ => Err(BusError::Unavailable(
                "no connection to the message broker".into(),
            )),
        }
    }

    /// A publisher found the connection of `generation` broken.
    pub fn report_lost(&self, generation: u64) {
        if self.generation.load(Ordering::SeqCst) == generation {
            self.lost.notify_waiters();
        }
    }

    /// Declare and consume `spec` now if connected, and on every reconnection.
    pub async fn listen(&self, spec: Spec) -> Result<(), BusError> {
        let mut state = self.state.lock().await;
        state.specs.retain(|s| !s.tx.is_closed());
        if let Some(live) = &mut state.live {
            start_listener(&live.conn, self, &spec, &mut live.consumers)
                .await
                .map_err(|e| {
                    BusError::Unavailable(format!("cannot listen on {}: {e}", spec.topic))
                })?;
        }
        state.specs.push(spec);
        Ok(())
    }

    /// Keep a connection up, forever (the transport aborts this task when dropped).
    pub async fn supervise(self: Arc<Self>) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            match self.establish(generation).await {
                Ok(status) => {
                    backoff = MIN_BACKOFF;
                    *self.last_error.lock().expect("bus poisoned") = None;
                    if generation > 1 {
                        tracing::info!("bus reconnected to the broker");
                    }
                    self.wait_lost(status).await;
                    tracing::warn!("bus lost its connection to the broker; reconnecting");
                    self.teardown().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "bus cannot connect to the broker");
                    *self.last_error.lock().expect("bus poisoned") = Some(e.to_string());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Connect and declare everything; publish the new session.
    async fn establish(&self, generation: u64) -> Result<ConnectionStatus, lapin::Error> {
        let mut state = self.state.lock().await;
        let conn = Connection::connect_uri(
            self.uri.clone(),
            ConnectionProperties::default().with_connection_name("oxistack bus".into()),
        )
        .await?;
        let channel = conn.create_channel().await?;
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut consumers = JoinSet::new();
        let replies = conn.create_channel().await?;
        replies
            .queue_declare(
                self.reply_queue.as_str().into(),
                exclusive(),
                FieldTable::default(),
            )
            .await?;
        let consumer = replies
            .basic_consume(
                self.reply_queue.as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        consumers.spawn(forward_replies(
            consumer,
            self.pending.clone(),
            self.lost.clone(),
        ));
        state.specs.retain(|s| !s.tx.is_closed());
        for spec in &state.specs {
            start_listener(&conn, self, spec, &mut consumers).await?;
        }
        let status = conn.status().clone();
        state.live = Some(Live { conn, consumers });
        self.session.send_replace(Some(Session {
            generation,
            channel,
            fanouts: Arc::default(),
        }));
        Ok(status)
    }

    /// Until the connection breaks, as a consumer (the reply consumer always runs), a
    /// publisher, or the connection's status (checked each second) tells.
    async fn wait_lost(&self, status: ConnectionStatus) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = self.lost.notified() => return,
                _ = tick.tick() => if !status.connected() { return },
            }
        }
    }

    /// Close the connection cleanly, so what is queued on it (acknowledgements,
    /// replies) reaches the broker. The supervisor must be stopped first.
    pub async fn teardown(&self) {
        self.session.send_replace(None);
        let live = self.state.lock().await.live.take();
        if let Some(mut live) = live {
            live.consumers.shutdown().await;
            let closed = live.conn.close(200, "reconnecting".into());
            let _ = tokio::time::timeout(Duration::from_secs(1), closed).await;
        }
    }
}

fn exclusive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..QueueDeclareOptions::default()
    }
}

async fn declare_fanout(channel: &Channel, name: &str) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            name.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Declare the queues of one listener on its own channel and consume them.
async fn start_listener(
    conn: &Connection,
    link: &Link,
    spec: &Spec,
    consumers: &mut JoinSet<()>,
) -> Result<(), lapin::Error> {
    let exchange = link.exchange.as_str();
    let channel = conn.create_channel().await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    // Queues and fanout exchanges carry the control exchange's name, so clouds sharing a
    // broker (each with its own control exchange) never take each other's messages.
    let mut keys = vec![spec.topic.clone()];
    keys.extend(spec.server.as_ref().map(|s| format!("{}.{s}", spec.topic)));
    let mut queues = Vec::new();
    for key in &keys {
        let queue = format!("{exchange}.{key}");
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await?;
        bind(&channel, &queue, exchange, key).await?;
        queues.push(queue);
    }
    let fanout = fanout_name(exchange, &spec.topic);
    declare_fanout(&channel, &fanout).await?;
    channel
        .queue_declare(
            spec.fanout_queue.as_str().into(),
            exclusive(),
            FieldTable::default(),
        )
        .await?;
    bind(&channel, &spec.fanout_queue, &fanout, "").await?;
    queues.push(spec.fanout_queue.clone());
    let mut streams = Vec::new();
    for queue in queues {
        let consumer = channel
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        streams.push(consumer);
    }
    // One task for the three queues: it acknowledges before it closes the channel.
    consumers.spawn(forward(
        futures::stream::select_all(streams),
        channel,
        spec.tx.clone(),
        link.lost.clone(),
        link.session.subscribe(),
    ));
    Ok(())
}

/// The fanout exchange of `topic` under control exchange `exchange`.
fn fanout_name(exchange: &str, topic: &str) -> String {
    format!("{exchange}.{topic}_fanout")
}

async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> Result<(), lapin::Error> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
}

/// Hand the deliveries of one listener's queues to it, acknowledging each once the
/// listener has it; when the listener stops, close its channel (the broker then gives
/// unacknowledged messages to another server).
async fn forward(
    mut consumer: impl Stream<Item = lapin::Result<Delivery>> + Unpin,
    channel: Channel,
    tx: mpsc::Sender<Incoming>,
    lost: Arc<Notify>,
    sessions: watch::Receiver<Option<Session>>,
) {
    loop {
        let delivery = tokio::select! {
            () = tx.closed() => {
                let _ = channel.close(200, "listener stopped".into()).await;
                return;
            }
            d = consumer.next() => d,
        };
        let delivery = match delivery {
            None => return,
            // A stopped listener's channel closing ends its consumers: not a loss.
            Some(Err(_)) if tx.is_closed() => return,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "bus consumer failed");
                lost.notify_waiters();
                return;
            }
            Some(Ok(d)) => d,
        };
        let props = &delivery.properties;
        let reply = match (props.reply_to(), props.correlation_id()) {
            (Some(to), Some(id)) => Some(Box::new(AmqpReply {
                sessions: sessions.clone(),
                to: to.clone(),
                id: id.clone(),
            }) as Box<dyn ReplySink>),
            _ => None,
        };
        let acker = delivery.acker;
        if tx.send(Incoming::new(delivery.data, reply)).await.is_err() {
            let _ = channel.close(200, "listener stopped".into()).await;
            return;
        }
        if let Err(e) = acker.ack(BasicAckOptions::default()).await {
            tracing::debug!(error = %e, "bus cannot acknowledge a delivery");
        }
    }
}

/// Give each reply to the call waiting for it; a late reply (its call timed out) is
/// dropped.
async fn forward_replies(mut consumer: Consumer, pending: Pending, lost: Arc<Notify>) {
    while let Some(delivery) = consumer.next().await {
        match delivery {
            Ok(d) => {
                let Some(id) = d.properties.correlation_id() else {
                    continue;
                };
                let waiter = pending.lock().expect("bus poisoned").remove(id.as_str());
                if let Some(waiter) = waiter {
                    let _ = waiter.send(d.data);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "bus reply consumer failed");
                lost.notify_waiters();
                return;
            }
        }
    }
}

/// The way back to one caller: its reply queue, by the default exchange, on the
/// publishing channel of the connection of the moment (the listener's own channel may
/// be closed by then: a server stopping still answers what it took).
struct AmqpReply {
    sessions: watch::Receiver<Option<Session>>,
    to: ShortString,
    id: ShortString,
}

#[async_trait]
impl ReplySink for AmqpReply {
    async fn send(self: Box<Self>, body: Vec<u8>) -> Result<(), BusError> {
        let session = self.sessions.borrow().clone();
        let Some(session) = session else {
            return Err(BusError::Unavailable(format!(
                "reply to {}: no connection to the broker",
                self.to
            )));
        };
        let sent = async {
            session
                .channel
                .basic_publish(
                    "".into(),
                    self.to.clone(),
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default().with_correlation_id(self.id.clone()),
                )
                .await?
                .await
        };
        sent.await
            .map(drop)
            .map_err(|e| BusError::Unavailable(format!("reply to {}: {e}", self.to)))
    }
}

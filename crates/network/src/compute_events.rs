//! Telling Compute what changed on its servers' ports, as Neutron's Nova notifier does:
//! `network-changed` when a floating IP is associated with or taken from a server's
//! port or the port's addresses change, `network-vif-deleted` when a server's port is
//! deleted. Compute then reads the server's ports again (its `addresses`).
//!
//! The app queues an event after its change committed ([`ComputeEvents::port_changed`]);
//! one task sends what is queued in batches to Compute's `os-server-external-events`
//! as the `[service_auth]` user. Sending never holds up or fails the API call that
//! caused it; an event that cannot be sent is logged and dropped (Compute reads the
//! ports again whenever the server's network changes through it).

use std::{collections::BTreeMap, time::Duration};

use serde_json::{json, Value};
use service::{
    client::{As, Http, Method},
    ServiceToken, Tasks,
};
use tokio::sync::mpsc;

use crate::model::Port;

/// How long the sender gathers events before it posts them (Neutron waits 2 s).
const BATCH: Duration = Duration::from_millis(50);

/// One event for one server.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    server: String,
    port: String,
    name: &'static str,
}

/// The queue of events to Compute (a no-op when the cloud has no Compute service).
#[derive(Clone, Default)]
pub struct ComputeEvents {
    tx: Option<mpsc::UnboundedSender<Event>>,
}

/// The server a port is a NIC of, if it is one (`compute:*` owned, with a device).
fn server_of(p: &Port) -> Option<&str> {
    (p.device_owner.starts_with("compute:") && !p.device_id.is_empty())
        .then_some(p.device_id.as_str())
}

impl ComputeEvents {
    /// Start the sender on `tasks`, if the catalog has a Compute endpoint.
    pub fn start(
        tasks: &Tasks,
        token: ServiceToken,
        endpoints: &BTreeMap<&'static str, String>,
    ) -> ComputeEvents {
        if !endpoints.contains_key("compute") {
            return ComputeEvents::default();
        }
        let http = Http::new(token, endpoints, "compute");
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.spawn("network-compute-events", move |progress| async move {
            progress.set("sending port changes to Compute");
            let shutdown = progress.shutdown();
            tokio::select! {
                () = send_all(http, rx) => {}
                () = shutdown.cancelled() => {}
            }
            Ok("stopped".into())
        });
        ComputeEvents { tx: Some(tx) }
    }

    /// Whether events go anywhere (the cloud has a Compute service).
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// The port's addresses or floating IPs changed.
    pub fn port_changed(&self, p: &Port) {
        self.queue(p, "network-changed");
    }

    /// The port was deleted.
    pub fn port_deleted(&self, p: &Port) {
        self.queue(p, "network-vif-deleted");
    }

    fn queue(&self, p: &Port, name: &'static str) {
        let (Some(tx), Some(server)) = (&self.tx, server_of(p)) else {
            return;
        };
        let _ = tx.send(Event {
            server: server.to_owned(),
            port: p.id.to_string(),
            name,
        });
    }
}

async fn send_all(http: Http, mut rx: mpsc::UnboundedReceiver<Event>) {
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(BATCH).await;
        let mut batch = vec![first];
        while let Ok(e) = rx.try_recv() {
            if !batch.contains(&e) {
                batch.push(e);
            }
        }
        let body = json!({"events": batch.iter().map(|e| json!({
            "name": e.name, "server_uuid": e.server, "tag": e.port, "status": "completed",
        })).collect::<Vec<Value>>()});
        match http
            .json(
                As::Service,
                Method::POST,
                "/os-server-external-events",
                Some(&body),
            )
            .await
        {
            Ok(_) => tracing::debug!(events = batch.len(), "sent port events to Compute"),
            // Every server of the batch is gone (deleted with its ports): nothing to do.
            Err(e) if e.kind == types::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "Compute did not take the port events"),
        }
    }
}

//! Events other services send about servers (os-server-external-events). The Networking
//! service sends `network-changed` when a port's addresses or floating IPs change and
//! `network-vif-deleted` when a server's port is deleted; the server's recorded ports
//! (its `addresses`) are then read again from the Networking service, as Nova refreshes
//! its network info cache. The other events are accepted and change nothing here.

use std::collections::BTreeSet;

use api_common::Result;
use types::{ErrorKind, PortId, ServerId};

use super::{Caller, Compute};
use crate::{clients::As, conductor::ports, policies::Rule};

/// The events a microversion accepts, with the one that added each.
pub const EVENT_NAMES: &[(&str, (u16, u16))] = &[
    ("network-changed", (2, 1)),
    ("network-vif-plugged", (2, 1)),
    ("network-vif-unplugged", (2, 1)),
    ("network-vif-deleted", (2, 1)),
    ("volume-extended", (2, 51)),
    ("power-update", (2, 76)),
    ("accelerator-request-bound", (2, 82)),
    ("volume-reimaged", (2, 93)),
];

/// One event as it was sent.
#[derive(Debug, Clone)]
pub struct ExternalEvent {
    pub name: String,
    pub server_uuid: String,
    pub tag: Option<String>,
    pub status: String,
}

/// What became of an event: Nova's per-event `code` (200 delivered, 404 no such
/// server, 422 a server on no host, 500 the refresh failed).
#[derive(Debug, Clone)]
pub struct EventOutcome {
    pub event: ExternalEvent,
    pub code: u16,
}

impl Compute {
    pub async fn external_events(
        &self,
        caller: &Caller<'_>,
        events: Vec<ExternalEvent>,
    ) -> Result<Vec<EventOutcome>> {
        self.authorize_own(caller, Rule::ExternalEventsCreate)?;
        let mut refreshed: BTreeSet<ServerId> = BTreeSet::new();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let server = match event.server_uuid.parse::<ServerId>() {
                Ok(id) => match self.server(&id).await {
                    Ok(s) if !s.deleted => Some(s),
                    Ok(_) => None,
                    Err(e) if e.kind == ErrorKind::NotFound => None,
                    Err(e) => return Err(e),
                },
                Err(_) => None,
            };
            let code = match server {
                None => 404,
                Some(s) if s.host.is_none() => 422,
                Some(s) => match event.name.as_str() {
                    "network-changed" | "network-vif-deleted" if refreshed.contains(&s.id) => 200,
                    "network-changed" | "network-vif-deleted" => {
                        let gone = (event.name == "network-vif-deleted")
                            .then(|| event.tag.as_deref().and_then(|t| t.parse().ok()))
                            .flatten();
                        match self.refresh_ports(&s.id, gone).await {
                            Ok(()) => {
                                refreshed.insert(s.id);
                                200
                            }
                            Err(e) => {
                                tracing::warn!(server = %s.id, error = %e, "refreshing the ports after {} failed", event.name);
                                500
                            }
                        }
                    }
                    _ => 200,
                },
            };
            out.push(EventOutcome { event, code });
        }
        Ok(out)
    }

    /// Read the server's ports again from the Networking service (those bound to it, in
    /// the order it recorded them, new ones after), with their floating IPs; `gone` is
    /// left out (a port being deleted).
    pub async fn refresh_ports(&self, id: &ServerId, gone: Option<PortId>) -> Result<()> {
        let net = &self.clients.network;
        let mut found = net
            .ports(As::Service, &[("device_id", id.as_str())])
            .await?;
        found.retain(|p| {
            gone.as_ref()
                .is_none_or(|g| p["id"].as_str() != Some(g.as_str()))
        });
        let recorded = self.server(id).await?.ports;
        let position = |p: &serde_json::Value| {
            recorded
                .iter()
                .position(|r| p["id"].as_str() == Some(r.port_id.as_str()))
                .unwrap_or(usize::MAX)
        };
        found.sort_by_key(position);
        let (mut infos, _) = ports::describe_ports(net, &found).await?;
        self.update_server(id, |s| {
            for i in &mut infos {
                i.tag = s
                    .ports
                    .iter()
                    .find(|r| r.port_id == i.port_id)
                    .and_then(|r| r.tag.clone());
            }
            s.ports = std::mem::take(&mut infos);
            Ok(())
        })
        .await
        .map(drop)
    }
}

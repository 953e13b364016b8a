//! The bus protocol between the Networking service and the agents of the hosts, in the
//! model of Neutron's plugin RPC: agents ask for their host's plan (`q-plugin`), report
//! heartbeats and the ports they wired; the service tells every agent when something
//! changed (`q-agent-notifier`, a fanout), and each asks again.
//!
//! The service sends only "something changed", never the change itself: an agent that
//! missed a message (restarted, broker down) is right again at its next sync, and the
//! periodic resync repairs what someone changed on the host by hand.

use std::{sync::Arc, time::Duration};

use bus::{Client, Protocol, RemoteError, Server};
use dataplane::plan::HostPlan;
use serde::{Deserialize, Serialize};
use types::PortId;

use crate::{app::AgentReport, Networking};

/// Agents -> service.
pub struct Plugin;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PluginRequest {
    /// The plan of a host.
    Sync { host: String },
    /// A heartbeat, with the ports the host has wired (ACTIVE) and those it could not
    /// (their device is missing: DOWN).
    Report {
        report: AgentReport,
        wired: Vec<PortId>,
        unwired: Vec<PortId>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PluginReply {
    Plan(HostPlan),
    Done,
}

impl Protocol for Plugin {
    const TOPIC: &'static str = "q-plugin";
    type Request = PluginRequest;
    type Reply = PluginReply;
}

/// Service -> every agent.
pub struct AgentNotifier;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Notification {
    /// Something an agent may wire changed: sync now.
    Changed,
}

impl Protocol for AgentNotifier {
    const TOPIC: &'static str = "q-agent-notifier";
    type Request = Notification;
    type Reply = ();
}

fn remote(e: types::Error) -> RemoteError {
    RemoteError::new(format!("{:?}", e.kind), e.message)
}

impl Networking {
    async fn handle(&self, request: PluginRequest) -> Result<PluginReply, RemoteError> {
        match request {
            PluginRequest::Sync { host } => self
                .host_plan(&host)
                .await
                .map(PluginReply::Plan)
                .map_err(remote),
            PluginRequest::Report {
                report,
                wired,
                unwired,
            } => {
                self.agent_heartbeat(&report).await.map_err(remote)?;
                self.ports_wired_on(&report.host, &wired, &unwired)
                    .await
                    .map_err(remote)?;
                Ok(PluginReply::Done)
            }
        }
    }
}

/// Start listening for the agents (before the service reports itself started, so an
/// agent's first request finds a server).
pub async fn listen(bus: &dyn bus::Transport) -> Result<Server<Plugin>, bus::BusError> {
    Server::<Plugin>::listen(bus, None).await
}

/// Serve the agents until `shutdown`: answer their requests, and tell them (coalesced,
/// at most every `debounce`) when the service changed something they wire.
pub async fn serve(
    server: Server<Plugin>,
    svc: Arc<Networking>,
    bus: Arc<dyn bus::Transport>,
    shutdown: tokio_util::sync::CancellationToken,
    debounce: Duration,
) {
    let handler_svc = svc.clone();
    let handler = move |req: PluginRequest| {
        let svc = handler_svc.clone();
        async move { svc.handle(req).await }
    };
    let notifier = Client::<AgentNotifier>::new(bus.clone());
    let mut changes = svc.watch_changes();
    let stop = shutdown.clone();
    let notify = async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                r = changes.changed() => {
                    if r.is_err() {
                        break;
                    }
                    tokio::time::sleep(debounce).await;
                    changes.borrow_and_update();
                    if let Err(e) = notifier.fanout(&Notification::Changed).await {
                        tracing::warn!(error = %e, "cannot notify the network agents");
                    }
                }
            }
        }
    };
    tokio::join!(server.run(handler, shutdown.cancelled()), notify);
}

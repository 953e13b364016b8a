//! The bus protocol between the Networking service and the agents of the hosts, in the
//! model of Neutron's plugin RPC: agents ask for their host's plan (`q-plugin`), report
//! heartbeats and the ports they wired; the service tells every agent when something
//! changed (`q-agent-notifier`, a fanout), and each asks again.
//!
//! The service sends only "something changed", never the change itself: an agent that
//! missed a message (restarted, broker down) is right again at its next sync, and the
//! periodic resync repairs what someone changed on the host by hand.

use std::{net::IpAddr, sync::Arc, time::Duration};

use bus::{Client, Protocol, RemoteError, Server};
use dataplane::plan::HostPlan;
use serde::{Deserialize, Serialize};
use types::PortId;

use crate::{
    app::AgentReport,
    model::{Port, DEVICE_OWNER_ROUTER_INTERFACE},
    store, Networking,
};

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
    /// Whose is `address` as seen by a metadata proxy (Neutron's metadata agent asks
    /// the same): a port on the network `network_id` (a proxy in a DHCP namespace), or
    /// on one of the networks the router `router_id` has an interface on (a proxy in a
    /// router namespace). Network-owned ports (DHCP, router) are no instances.
    Instance {
        router_id: Option<String>,
        network_id: Option<String>,
        address: IpAddr,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PluginReply {
    Plan(HostPlan),
    Done,
    /// The answer to [`PluginRequest::Instance`]; `None`: no port has the address.
    Instance(Option<Instance>),
}

/// An instance as the metadata service needs it: its port's `device_id` (the server's
/// uuid) and `project_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub device_id: String,
    pub project_id: String,
}

/// The instance among `ports` that owns `address` (see [`PluginRequest::Instance`]).
pub fn instance_of(
    ports: &[Port],
    router_id: Option<&str>,
    network_id: Option<&str>,
    address: IpAddr,
) -> Option<Instance> {
    let networks: Vec<&str> = match (router_id, network_id) {
        (Some(r), _) => ports
            .iter()
            .filter(|p| p.device_owner == DEVICE_OWNER_ROUTER_INTERFACE && p.device_id == r)
            .map(|p| p.network_id.as_str())
            .collect(),
        (None, Some(n)) => vec![n],
        (None, None) => Vec::new(),
    };
    ports
        .iter()
        .filter(|p| networks.contains(&p.network_id.as_str()))
        .filter(|p| !p.device_owner.starts_with("network:") && !p.device_id.is_empty())
        .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == address))
        .map(|p| Instance {
            device_id: p.device_id.clone(),
            project_id: p.project_id.clone(),
        })
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
    /// Every port (a metadata lookup filters them: few per request, no cache yet).
    async fn all_ports(&self) -> api_common::Result<Vec<Port>> {
        let mut conn = self.db.pool.acquire().await?;
        store::list_ports(&mut conn, store::PortScope::default()).await
    }

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
            PluginRequest::Instance {
                router_id,
                network_id,
                address,
            } => {
                let ports = self.all_ports().await.map_err(remote)?;
                Ok(PluginReply::Instance(instance_of(
                    &ports,
                    router_id.as_deref(),
                    network_id.as_deref(),
                    address,
                )))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FixedIp, DEVICE_OWNER_DHCP};
    use types::{Id, NetworkId, SubnetId};

    fn port(network: &NetworkId, owner: &str, device: &str, ip: &str) -> Port {
        Port {
            id: Id::generate(),
            project_id: "p1".into(),
            network_id: network.clone(),
            name: String::new(),
            description: String::new(),
            admin_state_up: true,
            mac_address: "fa:16:3e:00:00:01".into(),
            fixed_ips: vec![FixedIp {
                subnet_id: SubnetId::generate(),
                ip_address: ip.parse().unwrap(),
            }],
            device_id: device.into(),
            device_owner: owner.into(),
            host_id: String::new(),
            vnic_type: "normal".into(),
            profile: serde_json::Value::Null,
            status: "ACTIVE".into(),
            port_security_enabled: true,
            security_groups: vec![],
            allowed_address_pairs: vec![],
            extra_dhcp_opts: vec![],
            dns_name: String::new(),
            qos_policy_id: None,
            revision: 1,
            created_at: String::new(),
            updated_at: String::new(),
            tags: vec![],
        }
    }

    #[test]
    fn an_address_names_its_instance_on_the_router_or_network_asked() {
        let (a, b) = (NetworkId::generate(), NetworkId::generate());
        let ports = [
            port(&a, DEVICE_OWNER_ROUTER_INTERFACE, "r1", "10.0.0.1"),
            port(&a, DEVICE_OWNER_DHCP, "dhcp", "10.0.0.2"),
            port(&a, "compute:nova", "server-a", "10.0.0.5"),
            // the same address on another network (overlapping tenant ranges)
            port(&b, "compute:nova", "server-b", "10.0.0.5"),
            port(&b, "", "", "10.0.0.6"),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let found = instance_of(&ports, Some("r1"), None, ip("10.0.0.5"));
        assert_eq!(
            found,
            Some(Instance {
                device_id: "server-a".into(),
                project_id: "p1".into()
            })
        );
        let on_b = instance_of(&ports, None, Some(b.as_str()), ip("10.0.0.5"));
        assert_eq!(on_b.map(|i| i.device_id), Some("server-b".into()));
        // network ports and ports without a device are no instances; unknown routers
        // have no networks
        assert_eq!(instance_of(&ports, Some("r1"), None, ip("10.0.0.2")), None);
        assert_eq!(
            instance_of(&ports, None, Some(b.as_str()), ip("10.0.0.6")),
            None
        );
        assert_eq!(instance_of(&ports, Some("r2"), None, ip("10.0.0.5")), None);
    }
}

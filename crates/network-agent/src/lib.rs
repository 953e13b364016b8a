//! The network agent of a host (`serve --role network-agent`, and inside `oxistack up`):
//! Neutron's Linux bridge, DHCP and (with routers) L3 agents in one.
//!
//! It asks the Networking service for its host's plan over the bus
//! ([`network::rpc::Plugin`]), makes the host match it with the Linux dataplane
//! ([`dataplane::linux::Linux`]), and reports which ports it wired (the service sets them
//! ACTIVE) with each heartbeat. It syncs again when the service says something changed
//! ([`network::rpc::AgentNotifier`]), every second while a planned port's device is
//! still missing (a VM whose tap QEMU has not made yet), and every `resync_interval` to
//! repair what was changed on the host by hand. The dataplane reconciles, so a restarted
//! agent rebuilds what is missing and leaves what is right alone.

pub mod metadata;
mod tools;

use std::{collections::BTreeMap, net::IpAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use bus::{Client, Server};
use dataplane::{plan::HostPlan, Dataplane};
use network::{
    app::AgentReport,
    rpc::{AgentNotifier, Notification, Plugin, PluginReply, PluginRequest},
};
use serde::{Deserialize, Serialize};
use service::{AgentContext, Progress};
use tokio::sync::Notify;
use types::PortId;

/// The `[network_agent]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Whether `oxistack up` runs the agent (it needs root: it makes bridges,
    /// namespaces and firewall rules).
    pub enabled: bool,
    /// The host name ports are bound to (`binding:host_id`); default: the machine's.
    pub host: Option<String>,
    /// This host's VXLAN endpoint address; without it, VXLAN networks stay local to the
    /// host.
    pub tunnel_ip: Option<IpAddr>,
    /// Physical network -> host interface enslaved to flat (and VLAN) networks' bridges.
    /// A physical network without an interface gets a bridge of its own only.
    pub bridge_mappings: BTreeMap<String, String>,
    /// Whether this host serves DHCP for the networks scheduled to it.
    pub dhcp: bool,
    /// Whether this host runs routers (Neutron's L3 agent).
    pub l3: bool,
    /// The physical network of the external network (its flat networks are external).
    pub external_physnet: String,
    /// How floating IPs and SNAT leave this host: `bridged` (the external network's
    /// bridge holds the physnet's interface of `bridge_mappings`, or none: a network of
    /// the host alone, which the host reaches at the subnet's gateway address, as
    /// DevStack's br-ex) or `routed` (for uplinks that drop frames from MACs they did not
    /// assign, such as a cloud VM's: the host routes floating IPs through
    /// `external_uplink` with proxy ARP and masquerades SNAT with its own address).
    pub external_mode: ExternalModeName,
    /// The host's interface for `routed` mode.
    pub external_uplink: Option<String>,
    /// Seconds between full resyncs (repairs what was changed by hand).
    pub resync_interval: u64,
    /// Seconds between heartbeats.
    pub heartbeat_interval: u64,
    /// Where the agent keeps its files (default `<data_dir>/network-agent`).
    pub state_dir: Option<PathBuf>,
    /// The tag of everything the agent creates (link aliases, the nftables table).
    pub owner: String,
    /// Appended to its DHCP namespaces' names (`qdhcp-<network>-<tag>`): needed only
    /// when several hosts' agents run on one machine, which share `/run/netns`.
    pub namespace_tag: Option<String>,
    /// The compute metadata service the metadata proxies forward guests' requests to.
    pub metadata_url: String,
    /// The secret shared with the metadata service: the proxies sign the instance id
    /// with it (`X-Instance-ID-Signature`), as Neutron's metadata agent does.
    pub metadata_proxy_shared_secret: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            host: None,
            tunnel_ip: None,
            bridge_mappings: BTreeMap::new(),
            dhcp: true,
            l3: true,
            external_physnet: "public".into(),
            external_mode: ExternalModeName::Bridged,
            external_uplink: None,
            resync_interval: 30,
            heartbeat_interval: 10,
            state_dir: None,
            owner: "oxistack".into(),
            namespace_tag: None,
            metadata_url: "http://127.0.0.1:8775".into(),
            metadata_proxy_shared_secret: String::new(),
        }
    }
}

pub const EXAMPLE: &str = r#"[network_agent]
# Run the agent inside `oxistack up` (it needs root: bridges, namespaces, nftables).
enabled = true
# The host name ports are bound to (default: this machine's name).
# host = "compute1"
# This host's VXLAN endpoint; without it VXLAN networks stay on this host.
# tunnel_ip = "192.0.2.10"
# Physical network -> host interface enslaved to its flat networks' bridges.
bridge_mappings = {}
# Serve DHCP for the networks scheduled to this host.
dhcp = true
# Run routers (SNAT, floating IPs, port forwarding) on this host.
l3 = true
# The physical network of the external network.
external_physnet = "public"
# How floating IPs and SNAT leave this host: "bridged" (the external bridge holds the
# physnet's interface from bridge_mappings, or none: the host alone reaches it, at the
# subnet's gateway address) or "routed" (for uplinks that drop frames from foreign MACs,
# such as a cloud VM's: the host routes floating IPs through external_uplink with proxy
# ARP, and SNAT leaves with the host's own address).
external_mode = "bridged"
# external_uplink = "eth0"
resync_interval = 30
heartbeat_interval = 10
# Where the agent keeps its files (default <data_dir>/network-agent).
# state_dir = "/var/lib/oxistack/network-agent"
# The tag of everything the agent creates (link aliases, the nftables table).
owner = "oxistack"
# Only for several hosts' agents on one machine (a simulation): appended to the DHCP
# namespaces' names (qdhcp-<network>-<tag>), different for each.
# namespace_tag = "host1"
# Guests' metadata requests (http://169.254.169.254/) go on to this service, signed
# with the shared secret (X-Instance-ID-Signature), as Neutron's metadata agent does.
metadata_url = "http://127.0.0.1:8775"
metadata_proxy_shared_secret = ""
"#;

/// `external_mode` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalModeName {
    Bridged,
    Routed,
}

impl Config {
    /// The external mode the plan carries (`None`: bridged, nothing special).
    fn external_mode(&self) -> anyhow::Result<Option<dataplane::plan::ExternalMode>> {
        match (self.external_mode, &self.external_uplink) {
            (ExternalModeName::Bridged, _) => Ok(None),
            (ExternalModeName::Routed, Some(uplink)) => {
                Ok(Some(dataplane::plan::ExternalMode::Routed {
                    uplink: uplink.clone(),
                }))
            }
            (ExternalModeName::Routed, None) => {
                anyhow::bail!("[network_agent] external_mode = \"routed\" needs external_uplink")
            }
        }
    }
}

/// The network agent, as the kit registers it.
pub struct NetworkAgent;

impl service::Agent for NetworkAgent {
    type Config = Config;
    const NAME: &'static str = "network_agent";
    const CONFIG_EXAMPLE: &'static str = EXAMPLE;

    fn enabled(cfg: &Config) -> bool {
        cfg.enabled
    }

    async fn start(cfg: Config, ctx: AgentContext) -> anyhow::Result<()> {
        cfg.external_mode()?;
        let state_dir = cfg
            .state_dir
            .clone()
            .unwrap_or_else(|| ctx.data_dir.join("network-agent"));
        let dp = dataplane::linux::Linux::new(dataplane::linux::Config {
            state_dir,
            owner: cfg.owner.clone(),
            namespace_tag: cfg.namespace_tag.clone(),
        })
        .context("cannot set up the Linux dataplane")?;
        let agent = Agent::new(cfg, ctx.bus.clone(), Arc::new(dp))?;
        // Listening before start returns: a change made right after is not missed.
        let notices = Server::<AgentNotifier>::listen(&*ctx.bus, Some(&agent.host)).await?;
        ctx.tasks
            .spawn("network-agent", move |progress| async move {
                tools::ensure(|m| progress.set(m)).await?;
                agent.run(notices, progress).await;
                Ok("stopped".into())
            });
        Ok(())
    }
}

/// The machine's host name.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// One host's agent.
pub struct Agent {
    cfg: Config,
    pub host: String,
    plugin: Client<Plugin>,
    dataplane: Arc<dyn Dataplane>,
    started_at: String,
    /// What the metadata proxies forward to (they start with [`Agent::run`]).
    upstream: Arc<metadata::Upstream>,
}

/// What the last sync left.
#[derive(Default)]
struct Synced {
    plan: Option<HostPlan>,
    wired: Vec<PortId>,
    unwired: Vec<PortId>,
}

impl Agent {
    pub fn new(
        cfg: Config,
        bus: Arc<dyn bus::Transport>,
        dataplane: Arc<dyn Dataplane>,
    ) -> anyhow::Result<Agent> {
        let host = cfg.host.clone().unwrap_or_else(hostname);
        // a guest waits for its metadata: a lookup gets seconds, not a sync's 30
        let lookups = Client::<Plugin>::new(bus.clone()).with_timeout(Duration::from_secs(5));
        let upstream = Arc::new(metadata::Upstream::new(
            lookups,
            &cfg.metadata_url,
            &cfg.metadata_proxy_shared_secret,
        )?);
        Ok(Agent {
            cfg,
            host,
            plugin: Client::<Plugin>::new(bus).with_timeout(Duration::from_secs(30)),
            dataplane,
            started_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            upstream,
        })
    }

    fn report(&self, synced: &Synced) -> AgentReport {
        let devices = synced.plan.as_ref().map_or(0, |p| p.ports.len());
        AgentReport {
            host: self.host.clone(),
            agent_type: "Linux bridge agent".into(),
            binary: "oxistack-network-agent".into(),
            started_at: self.started_at.clone(),
            availability_zone: "nova".into(),
            configurations: serde_json::json!({
                "tunnel_ip": self.cfg.tunnel_ip,
                "bridge_mappings": self.cfg.bridge_mappings,
                "dhcp": self.cfg.dhcp,
                "l3": self.cfg.l3,
                "external_physnet": self.cfg.external_physnet,
                "external_mode": self.cfg.external_mode().ok().flatten(),
                "devices": devices,
                "tunnel_types": if self.cfg.tunnel_ip.is_some() { vec!["vxlan"] } else { vec![] },
            }),
        }
    }

    async fn send_report(&self, synced: &Synced) {
        let req = PluginRequest::Report {
            report: self.report(synced),
            wired: synced.wired.clone(),
            unwired: synced.unwired.clone(),
        };
        if let Err(e) = self.plugin.call(&req).await {
            tracing::warn!(error = %e, "cannot report to the networking service");
        }
    }

    /// Fetch the plan, apply it (unless it is the one applied last and `force` is off),
    /// report what changed.
    async fn sync(&self, synced: &mut Synced, progress: &Progress, force: bool) {
        let plan = match self
            .plugin
            .call(&PluginRequest::Sync {
                host: self.host.clone(),
            })
            .await
        {
            Ok(PluginReply::Plan(p)) => p,
            Ok(other) => {
                tracing::warn!(?other, "unexpected answer to a sync");
                return;
            }
            Err(e) => {
                progress.set(format!("cannot reach the networking service: {e}"));
                return;
            }
        };
        if !force && synced.unwired.is_empty() && synced.plan.as_ref() == Some(&plan) {
            return;
        }
        match self.dataplane.apply(&plan).await {
            Ok(applied) => {
                for c in &applied.changes {
                    tracing::info!(host = %self.host, "{c}");
                }
                let wired: Vec<PortId> = applied
                    .wired
                    .iter()
                    .filter_map(|p| p.parse().ok())
                    .collect();
                let unwired: Vec<PortId> = plan
                    .ports
                    .iter()
                    .filter(|p| !applied.wired.contains(&p.id))
                    .filter_map(|p| p.id.parse().ok())
                    .collect();
                progress.set(format!(
                    "{} networks, {} ports wired, {} waiting for their device",
                    plan.networks.len(),
                    wired.len(),
                    unwired.len()
                ));
                let report_now = wired != synced.wired || unwired != synced.unwired;
                synced.wired = wired;
                synced.unwired = unwired;
                synced.plan = Some(plan);
                if report_now {
                    self.send_report(synced).await;
                }
            }
            Err(e) => {
                progress.set(format!("cannot wire the host: {e}"));
                tracing::warn!(host = %self.host, error = %e, "cannot apply the host's plan");
            }
        }
    }

    /// Sync until shutdown (see the crate docs).
    pub async fn run(self, notices: Server<AgentNotifier>, progress: Progress) {
        let shutdown = progress.shutdown();
        let notify = Arc::new(Notify::new());
        let poke = notify.clone();
        let listen = notices.run(
            move |_: Notification| {
                let poke = poke.clone();
                async move {
                    poke.notify_one();
                    Ok(())
                }
            },
            shutdown.clone().cancelled_owned(),
        );
        let work = async {
            let mut synced = Synced::default();
            let mut proxies =
                metadata::Proxies::new(self.upstream.clone(), self.cfg.namespace_tag.clone());
            let resync = Duration::from_secs(self.cfg.resync_interval.max(1));
            let beat = Duration::from_secs(self.cfg.heartbeat_interval.max(1));
            let mut last_beat = tokio::time::Instant::now();
            let mut last_full = tokio::time::Instant::now();
            self.sync(&mut synced, &progress, true).await;
            self.send_report(&synced).await;
            loop {
                if let Some(plan) = &synced.plan {
                    proxies.reconcile(plan);
                }
                let wait = if synced.unwired.is_empty() {
                    resync.min(beat)
                } else {
                    Duration::from_secs(1)
                };
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = notify.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
                if last_beat.elapsed() >= beat {
                    last_beat = tokio::time::Instant::now();
                    self.send_report(&synced).await;
                }
                let force = last_full.elapsed() >= resync;
                if force {
                    last_full = tokio::time::Instant::now();
                }
                self.sync(&mut synced, &progress, force).await;
            }
            proxies.stop_all().await;
        };
        tokio::join!(listen, work);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_is_the_defaults() {
        let v: toml::Value = toml::from_str(super::EXAMPLE).unwrap();
        let cfg: super::Config = v["network_agent"].clone().try_into().unwrap();
        assert_eq!(cfg, super::Config::default());
    }
}

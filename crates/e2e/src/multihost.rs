//! A cloud of three machines on one: a control plane (`oxistack serve --role api`,
//! every service, over PostgreSQL and RabbitMQ, bootstrapped with `oxistack manage
//! bootstrap`) in the machine's namespace on 127.0.0.1, and hosts `hostA` and `hostB`,
//! each a network namespace running `oxistack serve --role network-agent` (and, when
//! asked, `--role compute`), joined by an underlay of their own.
//!
//! Network safety: the hosts' underlay is one veth pair between hostA and hostB
//! (192.0.2.1/24 and 192.0.2.2/24, a documentation range) and nothing else: no route,
//! forwarding or interface leads out of them. The hosts reach RabbitMQ and the APIs,
//! which listen on the machine's 127.0.0.1 only, through a [`LoopbackRelay`] per port:
//! a socket on 127.0.0.1:<port> inside the host namespace, made by a thread of the
//! test that entered it, relayed to the server by the test process. So no link between
//! a host namespace and the machine's exists at all, and the servers see loopback peers
//! (RabbitMQ admits its `guest` user from loopback only).

use std::time::Duration;

use crate::{
    eventually,
    netns::{self, LoopbackRelay, Netns},
    network::s,
    Bus, Cloud, Engine, HostAgent, ADMIN,
};

/// The secret the metadata service and the agents' metadata proxies share.
const METADATA_SECRET: &str = "e2e-multihost-metadata";

/// The APIs a compute host calls (configuration sections of [`Cloud::api_ports`]).
const COMPUTE_CALLS: [&str; 4] = ["identity", "image", "network", "placement"];

/// A host: its namespace, its relays to the control plane, its network agent and, once
/// [`Host::add_compute`] ran, its compute host. Dropped in that order: the processes
/// first, then the relays, then the namespace.
pub struct Host {
    pub agent: HostAgent,
    pub compute: Option<HostAgent>,
    _relays: Vec<LoopbackRelay>,
    pub ns: Netns,
}

impl Host {
    /// A host namespace `name` with its network agent (`options`: more lines of its
    /// `[network_agent]`) started.
    pub fn new(name: &str, bus: &Bus, options: &[&str]) -> Host {
        let ns = Netns::new(&format!("oxi-{name}-"));
        let relay = LoopbackRelay::new(&ns, bus.port());
        let mut agent = HostAgent::new(&ns, name, bus, options);
        agent.start();
        Host {
            agent,
            compute: None,
            _relays: vec![relay],
            ns,
        }
    }

    /// Relay the APIs a compute host calls into this host and spawn its compute host
    /// (`options`: more lines of its `[compute]`); see [`Host::wait_compute`].
    pub fn add_compute(&mut self, c: &Cloud, bus: &Bus, options: &[&str]) {
        for (section, port) in c.api_ports() {
            if COMPUTE_CALLS.contains(&section) {
                self._relays.push(LoopbackRelay::new(&self.ns, port));
            }
        }
        let mut compute = HostAgent::compute(&self.ns, &self.agent.host, bus, c, options);
        compute.spawn();
        self.compute = Some(compute);
    }

    /// Wait until the compute host has reported itself (to Placement and the conductor).
    pub fn wait_compute(&mut self, within: Duration) {
        self.compute
            .as_mut()
            .expect("Host::add_compute first")
            .wait_ready(within);
    }

    /// The host's name (`binding:host_id`, `OS-EXT-SRV-ATTR:host`).
    pub fn name(&self) -> &str {
        &self.agent.host
    }

    /// What the agent made on this host, as the kernel shows it: the nftables ruleset
    /// (without counters), the static forwarding entries (those the agent adds, and the
    /// kernel's own; learned ones come and go with traffic) and the links with their
    /// index, master, MTU, state and alias (a link made again gets a new index).
    pub fn snapshot(&self) -> String {
        self.sh_ok(
            "nft -s list ruleset; echo ---; bridge fdb show | grep permanent; echo ---; ip -o link show",
        )
    }

    /// `cmd` inside the host, which must succeed; its stdout.
    #[track_caller]
    pub fn sh_ok(&self, cmd: &str) -> String {
        let out = self.ns.sh(cmd);
        assert!(out.success(), "{out}");
        out.stdout
    }
}

/// The network agents the API lists, as (host, alive), sorted.
pub fn agents(c: &Cloud) -> Vec<(String, bool)> {
    let list = c.os_json(ADMIN, &["network", "agent", "list"]);
    let mut out: Vec<(String, bool)> = list
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|a| (s(a, "Host").to_owned(), a["Alive"] == true))
        .collect();
    out.sort();
    out
}

/// [`agents`] when hostA's and hostB's are alive.
pub fn both_alive() -> Vec<(String, bool)> {
    vec![("hostA".to_owned(), true), ("hostB".to_owned(), true)]
}

/// The control plane on RabbitMQ and a fresh PostgreSQL database, bootstrapped, with
/// `network_options` in its `[network]`; `None`: this machine cannot run the test.
pub fn control_plane(network_options: &[&str]) -> Option<(Bus, Cloud)> {
    if !netns::available() {
        return None;
    }
    let bus = Bus::from_env()?;
    let mut c = Cloud::new(Engine::Postgres)?;
    c.with_bus(&bus);
    c.metadata_option(&format!(
        "metadata_proxy_shared_secret = \"{METADATA_SECRET}\""
    ));
    for o in network_options {
        c.network_option(o);
    }
    c.configure();
    let boot = c.manage(&["bootstrap"]);
    assert!(boot.success(), "{boot}");
    c.with_service_auth();
    c.serve("api");
    Some((bus, c))
}

/// hostA (192.0.2.1) and hostB (192.0.2.2) on an underlay of their own, their agents
/// (with `options` each) reporting alive, their metadata proxies forwarding to the
/// control plane's metadata service.
pub fn hosts(c: &Cloud, bus: &Bus, options: [&[&str]; 2]) -> (Host, Host) {
    let metadata = [
        format!("metadata_url = \"http://127.0.0.1:{}/\"", c.metadata_port),
        format!("metadata_proxy_shared_secret = \"{METADATA_SECRET}\""),
    ];
    let host = |name: &str, ip: &str, options: &[&str]| {
        let tunnel = format!("tunnel_ip = \"{ip}\"");
        let mut all = vec![tunnel.as_str(), &metadata[0], &metadata[1]];
        all.extend_from_slice(options);
        let mut h = Host::new(name, bus, &all);
        h._relays.push(LoopbackRelay::new(&h.ns, c.metadata_port));
        h
    };
    let a = host("hostA", "192.0.2.1", options[0]);
    let b = host("hostB", "192.0.2.2", options[1]);
    netns::veth_between(&a.ns, "192.0.2.1/24", &b.ns, "192.0.2.2/24", "underlay0");
    eventually("both agents report", Duration::from_secs(20), || {
        agents(c) == both_alive()
    });
    (a, b)
}

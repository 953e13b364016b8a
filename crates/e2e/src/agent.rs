//! Hosts of a multi-host cloud on one machine: `oxistack serve --role network-agent`
//! inside a host's network namespace, talking to the control plane over RabbitMQ
//! ([`Bus`]), with its own configuration, data and state directory.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Child,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use crate::{end, netns, print_tail, spawn_oxistack, TempDir};

/// Environment variable naming the test RabbitMQ broker (`amqp://user:pw@host:port/vhost`),
/// which `scripts/test` starts.
pub const AMQP_URL_ENV: &str = "OXISTACK_TEST_AMQP_URL";

/// The `[bus]` of a multi-process cloud: the test broker and an exchange of this
/// test's own. An exchange is not enough to keep two clouds on one broker apart:
/// crates/bus names a topic's shared queue (`q-plugin`) and fanout exchange by the
/// topic alone, so one cloud's agents would get their plans from the other's service.
/// So the tests holding a `Bus` of one broker take turns (an exclusive lock on a file
/// named by the broker's port, held until the last clone is dropped).
#[derive(Debug, Clone)]
pub struct Bus {
    pub url: String,
    pub control_exchange: String,
    _turn: Arc<fs::File>,
}

impl Bus {
    /// The test broker with a fresh exchange, once this test's turn has come (see
    /// [`Bus`]); `None` (the test is skipped, or fails
    /// under scripts/test and CI) when `OXISTACK_TEST_AMQP_URL` is not set.
    pub fn from_env() -> Option<Bus> {
        match std::env::var(AMQP_URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            Some(url) => {
                let port = port_of(&url);
                let path = std::env::temp_dir().join(format!("oxistack-e2e-amqp-{port}.lock"));
                let turn = fs::File::create(&path)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
                rustix::fs::flock(&turn, rustix::fs::FlockOperation::LockExclusive)
                    .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
                Some(Bus {
                    url,
                    control_exchange: crate::unique("e2e_"),
                    _turn: Arc::new(turn),
                })
            }
            None => {
                db::testing::missing(&format!("no RabbitMQ: {AMQP_URL_ENV} is not set"));
                None
            }
        }
    }

    /// The broker's port (for a [`netns::LoopbackRelay`]).
    pub fn port(&self) -> u16 {
        port_of(&self.url)
    }

    /// The `[bus]` section of a configuration file.
    pub(crate) fn section(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        format!(
            "\n[bus]\nurl = {}\ncontrol_exchange = {}\n",
            q(&self.url),
            q(&self.control_exchange)
        )
    }
}

/// The port of an `amqp://user:pw@host:port/vhost` URL (5672 when it names none).
fn port_of(url: &str) -> u16 {
    let after_at = url.rsplit_once('@').map_or(url, |(_, r)| r);
    let host_port = after_at.split('/').next().unwrap_or(after_at);
    host_port
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(5672)
}

/// `oxistack serve --role network-agent` of one host, run inside that host's namespace.
/// Its DHCP namespaces carry its host name (`namespace_tag`), as every host sharing
/// this machine's `/run/netns` must have its own. Dropping it stops it (SIGTERM, then SIGKILL) and removes the DHCP namespaces and
/// dnsmasq processes it made, also when the test fails (whose agent log is then printed).
pub struct HostAgent {
    /// `binding:host_id` of the ports it wires.
    pub host: String,
    netns: String,
    config: PathBuf,
    state_dir: PathBuf,
    log: PathBuf,
    starts: u32,
    child: Option<Child>,
    dir: TempDir,
}

impl HostAgent {
    /// An agent for `host` in `ns` on `bus` (the broker reachable from inside `ns` at
    /// the URL's address), with `options` as more lines of its `[network_agent]`
    /// section (e.g. `tunnel_ip = "192.0.2.1"`). Not started.
    pub fn new(ns: &netns::Netns, host: &str, bus: &Bus, options: &[&str]) -> HostAgent {
        let dir = TempDir::new(&format!("oxistack-agent-{host}-"));
        let data_dir = dir.path().join("data");
        let state_dir = data_dir.join("network-agent");
        let config = dir.path().join("oxistack.toml");
        let q = |p: &Path| serde_json::to_string(&p.display().to_string()).unwrap_or_default();
        let mut text = format!(
            "# written by the e2e tests\ndata_dir = {}\nlog = \"info\"\n{}\n[network_agent]\nenabled = true\nhost = {h}\nnamespace_tag = {h}\nstate_dir = {}\n",
            q(&data_dir),
            bus.section(),
            q(&state_dir),
            h = serde_json::to_string(host).unwrap_or_default(),
        );
        for o in options {
            text.push_str(o);
            text.push('\n');
        }
        fs::write(&config, text).expect("agent config");
        HostAgent {
            host: host.to_owned(),
            netns: ns.name.clone(),
            config,
            state_dir,
            log: PathBuf::new(),
            starts: 0,
            child: None,
            dir,
        }
    }

    /// Start the agent and wait until it runs its loop (its task reports itself).
    pub fn start(&mut self) {
        assert!(
            self.child.is_none(),
            "the agent of {} runs already",
            self.host
        );
        self.starts += 1;
        self.log = self.dir.path().join(format!("agent-{}.log", self.starts));
        let args = ["serve".into(), "--role".into(), "network-agent".into()];
        let mut child = spawn_oxistack(&self.config, &args, &self.log, Some(&self.netns));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "the agent of {} exited with {status}:\n{}",
                    self.host,
                    self.log()
                );
            }
            if self.log().contains("network-agent") {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the agent of {} did not start within 30 s:\n{}",
                    self.host,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    /// SIGKILL the agent (a crash: nothing of its shutdown runs) and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the agent printed in its latest run.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where the agent keeps its files.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
}

impl Drop for HostAgent {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            end(child);
        }
        netns::remove_tagged_agent_leftovers(&self.state_dir, Some(&self.host));
        if thread::panicking() {
            print_tail(&format!("the agent log of {}", self.host), &self.log, 40);
        }
    }
}

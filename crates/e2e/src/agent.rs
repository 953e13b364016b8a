//! Hosts of a multi-host cloud on one machine: `oxistack serve --role network-agent`
//! and `--role compute` inside a host's network namespace, talking to the control
//! plane over RabbitMQ ([`Bus`]), each with its own configuration, data and state
//! directory.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Child,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use crate::{end, netns, print_tail, spawn_oxistack, Cloud, TempDir};

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

/// `oxistack serve --role <role>` of one host (`network-agent` or `compute`), run
/// inside that host's namespace, with its own configuration, data and log. A network
/// agent's DHCP namespaces carry its host name (`namespace_tag`), as every host sharing
/// this machine's `/run/netns` must have its own. Dropping it stops it (SIGTERM, then
/// SIGKILL) and removes the DHCP namespaces and dnsmasq processes a network agent made,
/// also when the test fails (whose log is then printed).
pub struct HostAgent {
    /// `binding:host_id` of the ports it wires, `OS-EXT-SRV-ATTR:host` of its guests.
    pub host: String,
    role: &'static str,
    /// What its log says once it runs its loop.
    ready: String,
    netns: String,
    config: PathBuf,
    data_dir: PathBuf,
    state_dir: PathBuf,
    log: PathBuf,
    starts: u32,
    child: Option<Child>,
    dir: TempDir,
}

/// A TOML string.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn qp(p: &Path) -> String {
    q(&p.display().to_string())
}

impl HostAgent {
    /// A network agent for `host` in `ns` on `bus` (the broker reachable from inside
    /// `ns` at the URL's address), with `options` as more lines of its
    /// `[network_agent]` section (e.g. `tunnel_ip = "192.0.2.1"`). Not started.
    pub fn new(ns: &netns::Netns, host: &str, bus: &Bus, options: &[&str]) -> HostAgent {
        let mut a = HostAgent::unstarted(ns, host, "network-agent", "network-agent");
        let text = format!(
            "{}\n[network_agent]\nenabled = true\nhost = {h}\nnamespace_tag = {h}\nstate_dir = {}\n{}",
            a.head(bus, ""),
            qp(&a.state_dir),
            lines(options),
            h = q(host),
        );
        a.write_config(&text);
        a
    }

    /// The compute host `host` in `ns` on `bus` (`serve --role compute`, the QEMU
    /// driver, its guests under its own data directory), calling the APIs of the
    /// control plane `cloud` at `127.0.0.1` (reachable from inside `ns`: see
    /// [`netns::LoopbackRelay`] and [`Cloud::api_ports`]) as the admin user, with
    /// `options` as more lines of its `[compute]` section. Not started; ready once it
    /// has reported itself to Placement and the conductor.
    pub fn compute(
        ns: &netns::Netns,
        host: &str,
        bus: &Bus,
        cloud: &Cloud,
        options: &[&str],
    ) -> HostAgent {
        let ready = format!("serving compute.{host}");
        let mut a = HostAgent::unstarted(ns, host, "compute", &ready);
        // the control plane's APIs, on this host's loopback
        let mut text = a.head(bus, "public_host = \"127.0.0.1\"\n");
        for (section, port) in cloud.api_ports() {
            text.push_str(&format!("\n[{section}]\nport = {port}\n"));
        }
        text.push_str(&format!(
            "\n[service_auth]\npassword = {}\n\n[network_agent]\nenabled = false\n\n[compute]\nenabled = true\nhost = {}\ndriver = \"qemu\"\n{}",
            q(&cloud.password("admin")),
            q(host),
            lines(options),
        ));
        a.write_config(&text);
        a
    }

    fn unstarted(ns: &netns::Netns, host: &str, role: &'static str, ready: &str) -> HostAgent {
        let dir = TempDir::new(&format!("oxistack-{role}-{host}-"));
        let data_dir = dir.path().join("data");
        HostAgent {
            host: host.to_owned(),
            role,
            ready: ready.to_owned(),
            netns: ns.name.clone(),
            config: dir.path().join("oxistack.toml"),
            state_dir: data_dir.join("network-agent"),
            data_dir,
            log: PathBuf::new(),
            starts: 0,
            child: None,
            dir,
        }
    }

    /// The top of its configuration: data directory, log level, the `top` lines (of
    /// the binary's own keys), `[bus]`.
    fn head(&self, bus: &Bus, top: &str) -> String {
        format!(
            "# written by the e2e tests\ndata_dir = {}\nlog = \"info\"\n{top}{}",
            qp(&self.data_dir),
            bus.section(),
        )
    }

    fn write_config(&mut self, text: &str) {
        fs::write(&self.config, text).expect("host config");
    }

    /// Start it and wait until it runs its loop (its task reports itself).
    pub fn start(&mut self) {
        self.spawn();
        self.wait_ready(Duration::from_secs(30));
    }

    /// Start it without waiting (see [`HostAgent::wait_ready`]).
    pub fn spawn(&mut self) {
        assert!(
            self.child.is_none(),
            "the {} of {} runs already",
            self.role,
            self.host
        );
        self.starts += 1;
        self.log = self
            .dir
            .path()
            .join(format!("{}-{}.log", self.role, self.starts));
        let args = ["serve".into(), "--role".into(), self.role.into()];
        self.child = Some(spawn_oxistack(
            &self.config,
            &args,
            &self.log,
            Some(&self.netns),
        ));
    }

    /// Wait until the started process says it is ready; fail if it exits or `within`
    /// passes first.
    pub fn wait_ready(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let child = self.child.as_mut().expect("spawned");
            let exited = child.try_wait().ok().flatten();
            if let Some(status) = exited {
                self.child = None;
                panic!(
                    "the {} of {} exited with {status}:\n{}",
                    self.role,
                    self.host,
                    self.log()
                );
            }
            if self.log().contains(&self.ready) {
                return;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "the {} of {} was not ready within {within:?}:\n{}",
                    self.role,
                    self.host,
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
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

    /// Where a network agent keeps its files.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Its data directory (a compute host's guests are under `instances/`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Drop for HostAgent {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            end(child);
        }
        netns::remove_tagged_agent_leftovers(&self.state_dir, Some(&self.host));
        if thread::panicking() {
            let what = format!("the {} log of {}", self.role, self.host);
            print_tail(&what, &self.log, 40);
        }
    }
}

/// Option lines, each ended by a newline.
fn lines(options: &[&str]) -> String {
    options.iter().map(|o| format!("{o}\n")).collect()
}

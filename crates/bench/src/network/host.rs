//! Figures 5 and 6: `oxistack up` inside a "host" network namespace of the benchmark's
//! own with its network agent on, 200 ports bound to that host with a veth "tap" each
//! (the peers in a second namespace, where VMs would be); the agent's restart, and the
//! idle memory with the agent on and off.
//!
//! The benchmark talks to the server from a thread of its own that entered the host
//! namespace (so that its sockets reach that namespace's loopback), on a runtime of its
//! own.

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{bail, Context};
use http::{Method, StatusCode};

use super::{api::create_ports, mark, network_config, Baseline, Neutron, Opts};
use crate::{
    server::{free_port, fresh_dir, Launch, LogMode, Server},
    stats::ms,
};

/// The host name the agent wires and the ports are bound to.
const HOST: &str = "h1";
/// How long the agent may take to wire or reconcile the host.
const WIRE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct HostReport {
    pub baseline: Baseline,
    pub ports: usize,
    /// Taps created -> every port ACTIVE (the first start).
    pub first_wiring: Duration,
    /// Changes the agent logged at the first start, and after the restart.
    pub changes_first: usize,
    pub changes_restart: usize,
    /// The restart: spawn -> `GET /v3`, spawn -> reconciled, agent task start ->
    /// reconciled.
    pub startup: Duration,
    pub from_spawn: Duration,
    pub from_agent: Duration,
    pub reconciled: String,
    /// Idle VmRSS (KiB) of `up` with the agent on (200 ports) and off.
    pub rss_on: u64,
    pub rss_off: u64,
    /// dnsmasq processes of the agent and their VmRSS (KiB) in all.
    pub dnsmasq: usize,
    pub dnsmasq_rss: u64,
}

fn sh(cmd: &str) -> anyhow::Result<()> {
    let out = Command::new("sh").args(["-c", cmd]).output()?;
    if !out.status.success() {
        bail!("{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A network namespace of the benchmark's own, removed (with what runs in it) on drop.
pub(crate) struct Netns {
    pub(crate) name: String,
}

impl Netns {
    pub(crate) fn new(prefix: &str) -> anyhow::Result<Netns> {
        let name = format!("{prefix}-{}", std::process::id());
        sh(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ))?;
        Ok(Netns { name })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&format!(
            "for p in $(ip netns pids {n}); do kill -9 $p; done; ip netns del {n}",
            n = self.name
        ));
    }
}

/// What the agent made outside its host namespace: the DHCP namespaces and their
/// dnsmasq processes, found in its state directory; removed on drop.
pub(crate) struct AgentLeftovers {
    pub(crate) state_dir: PathBuf,
}

impl AgentLeftovers {
    /// The agent's dnsmasq processes.
    fn dnsmasq_pids(&self) -> Vec<String> {
        let Ok(dirs) = fs::read_dir(self.state_dir.join("dhcp")) else {
            return Vec::new();
        };
        dirs.flatten()
            .filter_map(|d| fs::read_to_string(d.path().join("pid")).ok())
            .map(|p| p.trim().to_owned())
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
            .collect()
    }
}

impl Drop for AgentLeftovers {
    fn drop(&mut self) {
        for pid in self.dnsmasq_pids() {
            let _ = sh(&format!("kill -9 {pid}"));
        }
        if let Ok(dirs) = fs::read_dir(self.state_dir.join("dhcp")) {
            for d in dirs.flatten() {
                let net = d.file_name().to_string_lossy().into_owned();
                let _ = sh(&format!("ip netns del qdhcp-{net} 2>/dev/null"));
            }
        }
        // the routers `up` makes (router1): their radvd and namespaces
        if let Ok(dirs) = fs::read_dir(self.state_dir.join("routers")) {
            for d in dirs.flatten() {
                if let Ok(pid) = fs::read_to_string(d.path().join("radvd.pid")) {
                    let _ = sh(&format!("kill -9 {} 2>/dev/null", pid.trim()));
                }
                let router = d.file_name().to_string_lossy().into_owned();
                let _ = sh(&format!("ip netns del qrouter-{router} 2>/dev/null"));
            }
        }
    }
}

/// VmRSS of a process, KiB.
fn rss_of(pid: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The agent's change lines in the server's log from byte `from` on (it logs each
/// change it makes at info, under its crate's target).
fn agent_changes(dir: &Path, from: usize) -> (usize, Option<String>) {
    let text = fs::read(dir.join("server.err")).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[from.min(text.len())..]).into_owned();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("INFO") && l.contains("network_agent"))
        .collect();
    (lines.len(), lines.first().map(|l| (*l).to_owned()))
}

fn log_len(dir: &Path) -> usize {
    fs::metadata(dir.join("server.err")).map_or(0, |m| usize::try_from(m.len()).unwrap_or(0))
}

/// The agent's progress line in the status file of process `pid`, the agent task's
/// start, and when the file was written.
fn agent_progress(dir: &Path, pid: u32) -> Option<(String, SystemTime, SystemTime)> {
    let path = dir.join("run").join(format!("{pid}.json"));
    let written = fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
    let task = doc["tasks"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == "network-agent")?;
    let started = chrono::DateTime::parse_from_rfc3339(task["started_at"].as_str()?).ok()?;
    let started = SystemTime::UNIX_EPOCH
        + Duration::from_nanos(u64::try_from(started.timestamp_nanos_opt()?).ok()?);
    Some((task["message"].as_str()?.to_owned(), started, written))
}

/// Whether a progress line says that at least `ports` ports are wired and none waits.
fn reconciled(message: &str, ports: usize) -> bool {
    let Some((before, after)) = message.split_once(" ports wired, ") else {
        return false;
    };
    let wired: usize = before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    wired >= ports && after.starts_with("0 waiting")
}

/// Enter namespace `ns` on this thread (its sockets are made there from now on).
pub(crate) fn enter(ns: &str) -> anyhow::Result<()> {
    let f = fs::File::open(format!("/var/run/netns/{ns}"))?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&f),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )?;
    Ok(())
}

/// Figures 5 and 6.
pub async fn run(bin: &Path, o: &Opts) -> anyhow::Result<HostReport> {
    let host = Netns::new("oxb-host")?;
    let vms = Netns::new("oxb-vms")?;
    let (bin, o2) = (bin.to_owned(), o.clone());
    let (hn, vn) = (host.name.clone(), vms.name.clone());
    // A thread of its own, which never leaves the host namespace; joined here (this
    // runtime has nothing else to do meanwhile).
    let report = std::thread::spawn(move || {
        enter(&hn)?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(in_host(&bin, &o2, &hn, &vn))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the host thread panicked"))?;
    drop((vms, host));
    report
}

/// Wait until every port of `network` is ACTIVE.
async fn all_active(n: &Neutron, network: &str, ports: usize) -> anyhow::Result<()> {
    let mut conn = n.conn().await?;
    let t0 = Instant::now();
    loop {
        let v = n
            .expect(
                &mut conn,
                Method::GET,
                &format!("/v2.0/ports?network_id={network}&binding:host_id={HOST}"),
                None,
                StatusCode::OK,
            )
            .await?;
        let active = v["ports"]
            .as_array()
            .context("no ports")?
            .iter()
            .filter(|p| p["status"] == "ACTIVE" && p["binding:host_id"] == HOST)
            .count();
        if active >= ports {
            return Ok(());
        }
        if t0.elapsed() > WIRE_TIMEOUT {
            bail!("only {active} of {ports} ports ACTIVE after {WIRE_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn in_host(bin: &Path, o: &Opts, host: &str, vms: &str) -> anyhow::Result<HostReport> {
    let dir = fresh_dir("network-agent")?;
    println!("-- agent in namespace {host}, data dir {}", dir.display());
    let leftovers = AgentLeftovers {
        state_dir: dir.join("network-agent"),
    };
    let baseline = Baseline::measure().await?;
    println!("  {}", baseline.line());
    let net_port = free_port()?;
    let mut how = Launch {
        top: "test_image = false\n".into(),
        config: network_config(net_port),
        netns: Some(host.to_owned()),
        agent: Some(format!("host = \"{HOST}\"\n")),
    };
    let server = Server::launch(bin, &dir, LogMode::Default, &[], &how).await?;
    let n = Neutron::login(
        &dir,
        server.addr,
        SocketAddr::from(([127, 0, 0, 1], net_port)),
    )
    .await?;
    let mut conn = n.conn().await?;
    let net = n
        .network(&mut conn, "bench-agent", "10.80.0.0/22", true)
        .await?;
    let made = create_ports(&n, &net, o.host_ports, 4, Some(HOST)).await?;
    if made.ports.len() != o.host_ports {
        bail!(
            "created {} of {} ports: {:?}",
            made.ports.len(),
            o.host_ports,
            made.first_error
        );
    }
    // A veth per port: `tap<id[..11]>` in the host (where a hypervisor puts the tap),
    // its peer in the VMs' namespace.
    let mut up_host = String::new();
    let mut up_vms = String::new();
    for (i, (id, mac, _)) in made.ports.iter().enumerate() {
        let tap = format!("tap{}", &id[..11]);
        up_host.push_str(&format!(
            "link add {tap} type veth peer name vm{i}\nlink set vm{i} netns {vms}\nlink set {tap} up\n"
        ));
        up_vms.push_str(&format!(
            "link set vm{i} address {mac}\nlink set vm{i} up\n"
        ));
    }
    let batch = |ns: &str, cmds: &str, name: &str| -> anyhow::Result<()> {
        let f = dir.join(name);
        fs::write(&f, cmds)?;
        sh(&format!("ip -n {ns} -batch {}", f.display()))
    };
    let t0 = Instant::now();
    batch(host, &up_host, "taps.batch")?;
    batch(vms, &up_vms, "vms.batch")?;
    all_active(&n, &net, o.host_ports).await?;
    let first_wiring = t0.elapsed();
    let (changes_first, sample) = agent_changes(&dir, 0);
    println!(
        "  {} taps made -> all ACTIVE: {} ({changes_first} changes logged at the first start, e.g. {:?})",
        o.host_ports,
        ms(first_wiring),
        sample.unwrap_or_default()
    );
    drop(conn);
    // Let the agent finish what it does after wiring (reports, DHCP hosts files).
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.stop().await?;

    // The restart.
    let log_from = log_len(&dir);
    let spawned = SystemTime::now();
    let server = Server::launch(bin, &dir, LogMode::Default, &[], &how).await?;
    let startup = server.startup;
    let t0 = Instant::now();
    let (message, agent_started, done) = loop {
        if let Some((m, started, written)) = agent_progress(&dir, server.pid()) {
            if reconciled(&m, o.host_ports) {
                break (m, started, written);
            }
        }
        if t0.elapsed() > WIRE_TIMEOUT {
            bail!("the agent did not say it reconciled within {WIRE_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let since = |t: SystemTime| done.duration_since(t).unwrap_or_default();
    let (from_spawn, from_agent) = (since(spawned), since(agent_started));
    tokio::time::sleep(Duration::from_secs_f64(o.settle_secs)).await;
    let (changes_restart, sample) = agent_changes(&dir, log_from);
    println!(
        "  restart: GET /v3 after {}, reconciled ({message:?}) {} after spawn, {} after the agent task started; {changes_restart} changes logged{}",
        ms(server.startup),
        ms(from_spawn),
        ms(from_agent),
        sample.map(|s| format!(" (first: {s})")).unwrap_or_default()
    );
    let (rss_on, _) = server.memory()?;
    let pids = leftovers.dnsmasq_pids();
    let dnsmasq_rss = pids.iter().map(|p| rss_of(p)).sum();
    println!(
        "  idle RSS of up with the agent and {} ports: {:.1} MiB (+ {} dnsmasq: {:.1} MiB)",
        o.host_ports,
        rss_on as f64 / 1024.0,
        pids.len(),
        dnsmasq_rss as f64 / 1024.0
    );
    server.stop().await?;

    // The same cloud with the agent off.
    how.agent = None;
    let server = Server::launch(bin, &dir, LogMode::Default, &[], &how).await?;
    tokio::time::sleep(Duration::from_secs_f64(o.settle_secs)).await;
    let (rss_off, _) = server.memory()?;
    println!(
        "  idle RSS of up with the agent off: {:.1} MiB",
        rss_off as f64 / 1024.0
    );
    server.stop().await?;
    // Before the data directory goes: the leftovers are found in it.
    drop(leftovers);
    if o.keep {
        println!("  kept {}", dir.display());
    } else {
        let _ = fs::remove_dir_all(&dir);
    }
    Ok(HostReport {
        baseline,
        ports: o.host_ports,
        first_wiring,
        changes_first,
        changes_restart,
        startup,
        from_spawn,
        from_agent,
        reconciled: message,
        rss_on,
        rss_off,
        dnsmasq: pids.len(),
        dnsmasq_rss,
    })
}

impl HostReport {
    pub fn print(&self) {
        println!(
            "agent (oxistack up inside a namespace, {} ports on host {HOST}):",
            self.ports
        );
        println!("  baseline: {}", self.baseline.line());
        println!(
            "  5. restart -> reconciled: {} from spawn, {} from the agent's start (GET /v3 at {}); changes made {}   target < 2 s and 0 changes: {}",
            ms(self.from_spawn),
            ms(self.from_agent),
            ms(self.startup),
            self.changes_restart,
            mark(self.from_spawn < Duration::from_secs(2) && self.changes_restart == 0)
        );
        println!(
            "     (first start: taps -> all ACTIVE {}, {} changes; agent says {:?})",
            ms(self.first_wiring),
            self.changes_first,
            self.reconciled
        );
        println!(
            "  6. idle RSS of up: {:.1} MiB with the agent and {} ports, {:.1} MiB without: the agent's share {:.1} MiB (dnsmasq: {} processes, {:.1} MiB)",
            self.rss_on as f64 / 1024.0,
            self.ports,
            self.rss_off as f64 / 1024.0,
            (self.rss_on as f64 - self.rss_off as f64) / 1024.0,
            self.dnsmasq,
            self.dnsmasq_rss as f64 / 1024.0
        );
    }
}

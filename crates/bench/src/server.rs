//! Running the release `oxistack` binary under test: start it on a fresh data directory
//! and a free loopback port, wait for it to answer, read its memory, stop it with SIGTERM.

use std::{
    fs,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use http::{Method, StatusCode, Uri};

use crate::client::Conn;

/// How long the server may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// As the default configuration does (`info`: one line per request on stderr).
    Default,
    /// `RUST_LOG=warn`.
    Warn,
}

impl LogMode {
    pub fn label(self) -> &'static str {
        match self {
            LogMode::Default => "log=info (default)",
            LogMode::Warn => "RUST_LOG=warn",
        }
    }
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Spawn to first successful `GET /v3`.
    pub startup: Duration,
    /// What the server printed about its own start ("oxistack is up in ...").
    pub self_reported: Option<String>,
}

/// A port nobody listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `oxistack` binary beside this one (`target/release/oxistack` for
/// `target/release/bench`), unless given.
pub fn find_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_owned(),
        None => std::env::current_exe()?.with_file_name("oxistack"),
    };
    if !path.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p oxistack` (or pass --server-bin)",
            path.display()
        );
    }
    Ok(path)
}

/// A new empty directory under the system temporary directory.
pub fn fresh_dir(tag: &str) -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "oxistack-bench-{tag}-{}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

async fn get_v3(addr: SocketAddr) -> bool {
    let Ok(mut c) = Conn::connect(addr).await else {
        return false;
    };
    let req = c.request(
        Method::GET,
        &Uri::from_static("/v3"),
        &[],
        Default::default(),
    );
    matches!(c.send(req).await, Ok(r) if r.status == StatusCode::OK)
}

/// What a benchmark changes in how the server is started.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// Top-level keys of the configuration file (e.g. `test_image = false\n`).
    pub top: String,
    /// More of the configuration file (whole sections, e.g. `[network]\nport = 1234\n`).
    pub config: String,
    /// Run the server inside this network namespace (`nsenter --net`); the caller must
    /// then be in that namespace too, to reach its loopback.
    pub netns: Option<String>,
    /// Run the network agent, with these extra keys of its section (it wires the
    /// namespace the server runs in: only inside a namespace of the benchmark's own).
    pub agent: Option<String>,
}

impl Server {
    /// Start `bin up` on `dir` (created if needed; the server bootstraps it when empty).
    /// Its stdout and stderr go to `dir/server.out` and `dir/server.err`.
    pub async fn start(
        bin: &Path,
        dir: &Path,
        log: LogMode,
        env: &[String],
    ) -> anyhow::Result<Server> {
        Server::launch(bin, dir, log, env, &Launch::default()).await
    }

    /// [`Server::start`], configured by `how`. Without `how.agent` the network agent is
    /// off, so that a benchmark never wires the machine's own namespace.
    pub async fn launch(
        bin: &Path,
        dir: &Path,
        log: LogMode,
        env: &[String],
        how: &Launch,
    ) -> anyhow::Result<Server> {
        fs::create_dir_all(dir)?;
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let cfg = dir.join("bench-config.toml");
        fs::write(
            &cfg,
            format!(
                "{}\n[identity]\nport = {port}\n\n[network_agent]\nenabled = {}\n{}\n{}",
                how.top,
                how.agent.is_some(),
                how.agent.as_deref().unwrap_or(""),
                how.config
            ),
        )?;
        let out = fs::File::create(dir.join("server.out"))?;
        let err = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.err"))?;
        let mut cmd = match &how.netns {
            // `nsenter --net` rather than `ip netns exec`: the latter also gives the
            // server a mount namespace of its own, in which the network namespaces the
            // agent makes (`ip netns add qdhcp-...`) are mounted and die with the
            // process, so a restarted agent would find their files but not them. A real
            // host has one mount namespace.
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg("--").arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.arg("up")
            .arg("--data-dir")
            .arg(dir)
            .arg("-c")
            .arg(&cfg)
            .env_remove("OXISTACK_CONFIG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        match log {
            LogMode::Default => cmd.env_remove("RUST_LOG"),
            LogMode::Warn => cmd.env("RUST_LOG", "warn"),
        };
        for kv in env {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--server-env {kv}: expected KEY=VALUE"))?;
            cmd.env(k, v);
        }
        let t0 = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        loop {
            if get_v3(addr).await {
                break;
            }
            if let Some(st) = child.try_wait()? {
                bail!(
                    "oxistack exited during startup ({st}); see {}",
                    dir.join("server.err").display()
                );
            }
            if t0.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                bail!("oxistack did not answer GET /v3 within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let startup = t0.elapsed();
        let self_reported = fs::read_to_string(dir.join("server.out"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("oxistack is up in"))
                    .map(|l| l.trim_end_matches('.').to_owned())
            });
        Ok(Server {
            child,
            addr,
            startup,
            self_reported,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu(&self) -> Duration {
        cpu_of(&self.pid().to_string())
    }

    /// (VmRSS, VmHWM) in KiB.
    pub fn memory(&self) -> anyhow::Result<(u64, u64)> {
        let s = fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = s
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("no {name}"))?;
            Ok(line[name.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()?)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Send SIGTERM and wait for the exit (SIGKILL after a timeout). Returns how long
    /// the server took to exit and whether it exited cleanly.
    pub async fn stop(mut self) -> anyhow::Result<(Duration, bool)> {
        let t0 = Instant::now();
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()?;
        if !st.success() {
            bail!("kill -TERM {} failed", self.pid());
        }
        loop {
            if let Some(st) = self.child.try_wait()? {
                return Ok((t0.elapsed(), st.success()));
            }
            if t0.elapsed() > STOP_TIMEOUT {
                self.child.kill()?;
                self.child.wait()?;
                return Ok((t0.elapsed(), false));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// CPU time (user + system, all threads) of a process (`self` for this one), from
/// `/proc/<pid>/stat` (in USER_HZ ticks, 100 per second on Linux); zero if unreadable.
pub fn cpu_of(pid: &str) -> Duration {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

/// The 1-minute load average of the machine.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

/// A database of its own on the PostgreSQL server of `admin_url`, dropped on drop.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .context("cannot run psql")?;
    if !out.status.success() {
        bail!("psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

impl PgDatabase {
    /// A fresh database `bench_<tag>_<pid>` on the server of `admin_url`.
    pub fn create(admin_url: &str, tag: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("bench_{tag}_{}", std::process::id());
        psql(
            admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        // The same server URL naming the new database.
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url, String::new()),
        };
        let after_scheme = base.find("://").map_or(0, |i| i + 3);
        let server = match base[after_scheme..].find('/') {
            Some(i) => &base[..after_scheme + i],
            None => base,
        };
        Ok(PgDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{server}/{name}{query}"),
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("  cannot drop the benchmark database: {e}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server behind when the benchmark fails half-way.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

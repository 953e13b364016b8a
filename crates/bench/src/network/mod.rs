//! The networking benchmark (`bench network`): the Networking API's IPAM under load, and
//! the network agent's restart on a host with 200 ports, each figure next to the bare
//! HTTP "hello" route measured in the same run.
//!
//! 1. port create (`POST /v2.0/ports`, an address picked by IPAM) at concurrency 1:
//!    p50/p99;
//! 2. 1,000 ports on one network (a /22), wall time, at concurrency 1 and 4;
//! 3. 20 concurrent creators filling one small subnet (a /26): duplicates (must be 0),
//!    409s, and the server's own retries after a lost race;
//! 4. `GET /v2.0/ports?network_id=` of those 1,000 ports, and `GET /v2.0/networks`: p50;
//!
//! on SQLite, and on PostgreSQL with `--pg URL` (or `OXISTACK_TEST_PG_URL`), in a database
//! of its own that is dropped at the end. Then, with `oxistack up` inside a network
//! namespace of the benchmark's own with its network agent on (host `h1`):
//!
//! 5. 200 ports bound to `h1`, a veth "tap" for each (its peer in a second namespace);
//!    once all are ACTIVE the server is restarted, and the time from spawn (and from
//!    the agent task's start) to the agent's "200 ports wired, 0 waiting" is measured,
//!    with the changes the agent logged after the restart counted (must be 0);
//! 6. the idle resident memory of that `up` (agent on, 200 ports), and of the same `up`
//!    restarted with the agent off: the difference is the agent's share (dnsmasq runs
//!    in processes of its own, reported apart).
//!
//! Everything it creates (namespaces, dnsmasq, databases, data directories) it removes.

mod api;
pub(crate) mod host;

use std::{path::Path, time::Duration};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Uri};

use crate::{
    bare::{HelloServer, Loop},
    client::{Conn, Reply},
    identity::get_load,
    stats::Lat,
};

#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Also measure on this PostgreSQL server (default: `OXISTACK_TEST_PG_URL`); the
    /// benchmark creates a database of its own there and drops it at the end.
    #[arg(long)]
    pub pg: Option<String>,
    /// Measured port creates at concurrency 1 (figure 1).
    #[arg(long, default_value_t = 500)]
    pub creates: usize,
    /// Ports of the bulk runs (figure 2) and the list (figure 4).
    #[arg(long, default_value_t = 1000)]
    pub ports: usize,
    /// Concurrent creators on the small subnet (figure 3).
    #[arg(long, default_value_t = 20)]
    pub creators: usize,
    /// Ports bound to the agent's host (figure 5).
    #[arg(long, default_value_t = 200)]
    pub host_ports: usize,
    /// Requests of each list measurement (figure 4).
    #[arg(long, default_value_t = 200)]
    pub list_requests: usize,
    /// Skip the agent figures (5 and 6), which need root, `ip`, dnsmasq and nftables.
    #[arg(long)]
    pub no_agent: bool,
    /// Skip the API figures (1 to 4).
    #[arg(long)]
    pub no_api: bool,
    /// Seconds to let a server settle before reading its idle memory.
    #[arg(long, default_value_t = 2.0)]
    pub settle_secs: f64,
    /// Keep the temporary data directories (with the servers' stdout and stderr).
    #[arg(long)]
    pub keep: bool,
}

/// The bare "hello" route on the services' serve loop, at concurrency 1 and 4.
pub struct Baseline {
    pub c1: Lat,
    pub c4: Lat,
}

impl Baseline {
    pub async fn measure() -> anyhow::Result<Baseline> {
        let h = HelloServer::start(Loop::Oxistack).await?;
        let max = Duration::from_secs(10);
        get_load(h.addr, crate::bare::PATH, vec![], 2_000, 1, max).await?;
        let c1 = get_load(h.addr, crate::bare::PATH, vec![], 20_000, 1, max).await?;
        let c4 = get_load(h.addr, crate::bare::PATH, vec![], 40_000, 4, max).await?;
        h.stop().await?;
        Ok(Baseline { c1, c4 })
    }

    pub fn line(&self) -> String {
        format!(
            "bare hello (api_common::server::serve): c=1 p50 {} {:.0} req/s; c=4 p50 {} {:.0} req/s",
            crate::stats::ms(self.c1.p50),
            self.c1.per_sec(),
            crate::stats::ms(self.c4.p50),
            self.c4.per_sec()
        )
    }
}

/// An admin's session with the Networking API of a running cloud.
#[derive(Clone)]
pub struct Neutron {
    pub addr: std::net::SocketAddr,
    pub token: HeaderValue,
}

fn uri(path: &str) -> anyhow::Result<Uri> {
    Uri::try_from(path).with_context(|| format!("bad path {path}"))
}

impl Neutron {
    /// Log in as the bootstrap admin of the cloud in `data_dir` (identity on
    /// `identity`, networking on `network`).
    pub async fn login(
        data_dir: &Path,
        identity: std::net::SocketAddr,
        network: std::net::SocketAddr,
    ) -> anyhow::Result<Neutron> {
        let password = std::fs::read_to_string(data_dir.join("admin-password"))
            .context("cannot read admin-password")?;
        let mut conn = Conn::connect(identity).await?;
        let token = crate::identity::password_token(&mut conn, password.trim()).await?;
        Ok(Neutron {
            addr: network,
            token: HeaderValue::from_str(&token)?,
        })
    }

    pub async fn conn(&self) -> anyhow::Result<Conn> {
        Conn::connect(self.addr).await
    }

    /// One request on `conn`; its whole reply.
    pub async fn send(
        &self,
        conn: &mut Conn,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<Reply> {
        let ct = HeaderValue::from_static("application/json");
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let req = conn.request(
            method,
            &uri(path)?,
            &[("x-auth-token", &self.token), ("content-type", &ct)],
            body,
        );
        conn.send(req).await
    }

    /// A request that must answer `want`; its JSON body.
    pub async fn expect(
        &self,
        conn: &mut Conn,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        want: StatusCode,
    ) -> anyhow::Result<serde_json::Value> {
        let r = self.send(conn, method.clone(), path, body).await?;
        if r.status != want {
            bail!(
                "{method} {path} answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        if r.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        r.json()
    }

    /// A network with one IPv4 subnet of `cidr`; the network's id.
    pub async fn network(
        &self,
        conn: &mut Conn,
        name: &str,
        cidr: &str,
        dhcp: bool,
    ) -> anyhow::Result<String> {
        let net = self
            .expect(
                conn,
                Method::POST,
                "/v2.0/networks",
                Some(&serde_json::json!({"network": {"name": name}})),
                StatusCode::CREATED,
            )
            .await?;
        let id = net["network"]["id"]
            .as_str()
            .context("network without id")?
            .to_owned();
        self.expect(
            conn,
            Method::POST,
            "/v2.0/subnets",
            Some(&serde_json::json!({"subnet": {
                "network_id": id, "name": name, "ip_version": 4, "cidr": cidr,
                "enable_dhcp": dhcp,
            }})),
            StatusCode::CREATED,
        )
        .await?;
        Ok(id)
    }
}

/// The Networking section of a benchmark server's configuration: its port, and no port
/// quota (the default of 500 per project is below what the figures create).
pub fn network_config(port: u16) -> String {
    format!("[network]\nport = {port}\n\n[network.quotas]\nport = -1\n")
}

/// Run every figure and print them.
pub async fn run(bin: &Path, o: &Opts) -> anyhow::Result<()> {
    println!(
        "== network, server {}, load average {}",
        bin.display(),
        crate::server::loadavg()
    );
    let mut api_reports = Vec::new();
    if !o.no_api {
        let pg =
            o.pg.clone()
                .or_else(|| std::env::var("OXISTACK_TEST_PG_URL").ok());
        api_reports.push(api::run(bin, o, None).await?);
        match pg {
            Some(url) => api_reports.push(api::run(bin, o, Some(&url)).await?),
            None => println!("  (no PostgreSQL: pass --pg URL or set OXISTACK_TEST_PG_URL)"),
        }
    }
    let host_report = if o.no_agent {
        None
    } else {
        Some(host::run(bin, o).await?)
    };
    println!();
    println!("summary (load average now {})", crate::server::loadavg());
    for r in &api_reports {
        r.print();
    }
    if let Some(h) = &host_report {
        h.print();
    }
    Ok(())
}

/// `ok` or `MISS` for a target.
pub fn mark(ok: bool) -> &'static str {
    crate::mark(ok)
}

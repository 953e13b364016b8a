//! Figures 1 to 4: the Networking API's port create (IPAM), bulk creates, contention on
//! one small subnet, and lists, against `oxistack up` (agent off) on one engine.

use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use http::{Method, StatusCode};

use super::{mark, network_config, Baseline, Neutron, Opts};
use crate::{
    identity::get_load,
    server::{free_port, fresh_dir, Launch, LogMode, PgDatabase, Server},
    stats::{ms, Lat},
};

/// What the server logs at each retry of a port create (`network::app::ports`, debug).
const RETRY_LINE: &str = "picking again after a lost race";
/// The server's log filter: the default `info`, plus the retries above.
const RUST_LOG: &str = "RUST_LOG=info,network::app::ports=debug";

/// The outcome of a batch of port creates.
#[derive(Default)]
pub struct Created {
    /// Latency of the successful creates, and the batch's wall time.
    pub lat: Lat,
    /// (port id, MAC, first address) of each port created.
    pub ports: Vec<(String, String, IpAddr)>,
    /// 409s saying the subnet is full.
    pub exhausted: usize,
    /// Other 409s (the server gave up after its retries).
    pub conflicts: usize,
    /// Anything else.
    pub errors: usize,
    pub first_error: Option<String>,
}

/// `count` port creates on `network` over `concurrency` connections (one task each);
/// bound to `host` when given.
pub async fn create_ports(
    n: &Neutron,
    network: &str,
    count: usize,
    concurrency: usize,
    host: Option<&str>,
) -> anyhow::Result<Created> {
    let mut body = serde_json::json!({"port": {"network_id": network}});
    if let Some(h) = host {
        body["port"]["binding:host_id"] = h.into();
    }
    let body = Arc::new(body);
    let next = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::new();
    for _ in 0..concurrency {
        conns.push(n.conn().await?);
    }
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let (n, body, next) = (n.clone(), body.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Created::default();
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let s = Instant::now();
                let r = n
                    .send(&mut conn, Method::POST, "/v2.0/ports", Some(&body))
                    .await;
                let e = s.elapsed();
                match r {
                    Ok(r) if r.status == StatusCode::CREATED => {
                        lat.push(u64::try_from(e.as_nanos()).unwrap_or(u64::MAX));
                        let v = r.json()?;
                        let p = &v["port"];
                        let ip = p["fixed_ips"][0]["ip_address"]
                            .as_str()
                            .context("a port without an address")?
                            .parse()?;
                        out.ports.push((
                            p["id"].as_str().context("no id")?.to_owned(),
                            p["mac_address"].as_str().context("no MAC")?.to_owned(),
                            ip,
                        ));
                    }
                    Ok(r) if r.status == StatusCode::CONFLICT => {
                        if String::from_utf8_lossy(&r.body).contains("No more IP addresses") {
                            out.exhausted += 1;
                        } else {
                            out.conflicts += 1;
                            out.first_error
                                .get_or_insert_with(|| String::from_utf8_lossy(&r.body).into());
                        }
                    }
                    Ok(r) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| {
                            format!("{}: {}", r.status, String::from_utf8_lossy(&r.body))
                        });
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| e.to_string());
                        conn.reconnect().await?;
                    }
                }
            }
            Ok::<_, anyhow::Error>((out, lat))
        }));
    }
    let mut all = Created::default();
    let mut samples = Vec::new();
    for t in tasks {
        let (c, lat) = t.await??;
        samples.extend(lat);
        all.ports.extend(c.ports);
        all.exhausted += c.exhausted;
        all.conflicts += c.conflicts;
        all.errors += c.errors;
        if all.first_error.is_none() {
            all.first_error = c.first_error;
        }
    }
    all.lat = Lat::from_samples(samples, all.errors + all.conflicts, t0.elapsed(), 0);
    Ok(all)
}

/// Figure 3: creators racing to fill one small subnet.
pub struct Contention {
    pub creators: usize,
    /// Addresses in the subnet's pool.
    pub pool: usize,
    pub created: Created,
    /// Addresses handed out twice: as the creators were told, and as the port list shows.
    pub duplicates_told: usize,
    pub duplicates_listed: usize,
    /// Ports the list shows on the subnet's network.
    pub listed: usize,
    /// Retries the server logged (a lost race, picked again).
    pub retries: usize,
}

/// Everything measured on one engine.
pub struct Report {
    pub engine: String,
    pub baseline: Baseline,
    pub create_c1: Lat,
    pub bulk: Vec<(usize, Created)>,
    pub contention: Contention,
    pub list_ports: Lat,
    pub listed_ports: usize,
    pub list_networks: Lat,
    pub listed_networks: usize,
    pub rss_idle: u64,
}

/// How many addresses appear more than once.
fn duplicates(addrs: impl IntoIterator<Item = IpAddr>) -> usize {
    let mut seen = HashSet::new();
    addrs.into_iter().filter(|a| !seen.insert(*a)).count()
}

/// The first addresses of every port on `network`, as `GET /v2.0/ports` shows them.
async fn listed_addresses(n: &Neutron, network: &str) -> anyhow::Result<Vec<IpAddr>> {
    let mut conn = n.conn().await?;
    let v = n
        .expect(
            &mut conn,
            Method::GET,
            &format!("/v2.0/ports?network_id={network}"),
            None,
            StatusCode::OK,
        )
        .await?;
    let mut out = Vec::new();
    for p in v["ports"].as_array().context("no ports")? {
        for f in p["fixed_ips"].as_array().context("no fixed_ips")? {
            out.push(f["ip_address"].as_str().context("no address")?.parse()?);
        }
    }
    Ok(out)
}

/// Lines of the server's log holding `needle`.
fn log_count(dir: &Path, needle: &str) -> usize {
    std::fs::read_to_string(dir.join("server.err"))
        .map(|s| s.lines().filter(|l| l.contains(needle)).count())
        .unwrap_or(0)
}

/// A `'static` path for [`get_load`] (a handful per run).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Figures 1 to 4 on SQLite (`pg` = None) or on a fresh database of `pg`.
pub async fn run(bin: &Path, o: &Opts, pg: Option<&str>) -> anyhow::Result<Report> {
    let engine = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    let db = pg.map(|u| PgDatabase::create(u, "network")).transpose()?;
    let dir = fresh_dir(&format!("network-{}", engine.to_lowercase()))?;
    println!("-- API on {engine}, data dir {}", dir.display());
    let net_port = free_port()?;
    let mut config = network_config(net_port);
    if let Some(db) = &db {
        config.push_str(&format!(
            "\n[database]\nurl = {}\n",
            serde_json::to_string(&db.url)?
        ));
    }
    let how = Launch {
        top: "test_image = false\n".into(),
        config,
        ..Launch::default()
    };
    let server = Server::launch(bin, &dir, LogMode::Default, &[RUST_LOG.into()], &how).await?;
    println!("  up in {} (spawn -> GET /v3)", ms(server.startup));
    let n = Neutron::login(
        &dir,
        server.addr,
        SocketAddr::from(([127, 0, 0, 1], net_port)),
    )
    .await?;
    let baseline = Baseline::measure().await?;
    println!("  {}", baseline.line());

    // 1. Port create at concurrency 1, on a network of its own.
    let mut conn = n.conn().await?;
    let net1 = n
        .network(&mut conn, "bench-create", "10.64.0.0/20", false)
        .await?;
    create_ports(&n, &net1, 20, 1, None).await?;
    let c1 = create_ports(&n, &net1, o.creates, 1, None).await?;
    println!("  port create c=1: {}", c1.lat.line());
    if let Some(e) = &c1.first_error {
        println!("    (first error: {e})");
    }

    // 2. 1,000 ports on one /22 network, at concurrency 1 and 4.
    let mut bulk = Vec::new();
    let mut bulk_net = String::new();
    for (i, c) in [1, 4].into_iter().enumerate() {
        let net = n
            .network(
                &mut conn,
                &format!("bench-bulk-{c}"),
                &format!("10.{}.0.0/22", 65 + i),
                false,
            )
            .await?;
        let r = create_ports(&n, &net, o.ports, c, None).await?;
        println!(
            "  {} ports on one /22, c={c}: {:.3} s wall  ({})",
            o.ports,
            r.lat.elapsed.as_secs_f64(),
            r.lat.line()
        );
        if let Some(e) = &r.first_error {
            println!("    (first error: {e})");
        }
        bulk_net = net;
        bulk.push((c, r));
    }

    // 3. Creators racing on one /26 until it is full.
    let small = n
        .network(&mut conn, "bench-small", "10.70.0.0/26", false)
        .await?;
    let pool = 61;
    let before = log_count(&dir, RETRY_LINE);
    let created = create_ports(&n, &small, pool + o.creators, o.creators, None).await?;
    // The log is written asynchronously: give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let retries = log_count(&dir, RETRY_LINE) - before;
    let listed = listed_addresses(&n, &small).await?;
    let contention = Contention {
        creators: o.creators,
        pool,
        duplicates_told: duplicates(created.ports.iter().map(|p| p.2)),
        duplicates_listed: duplicates(listed.iter().copied()),
        listed: listed.len(),
        created,
        retries,
    };
    println!(
        "  {} creators on a /26 ({pool} addresses): {} created, {} listed, {} duplicates told / {} listed, {} full (409), {} gave up (409), {} other errors, {} server retries  ({})",
        o.creators,
        contention.created.ports.len(),
        contention.listed,
        contention.duplicates_told,
        contention.duplicates_listed,
        contention.created.exhausted,
        contention.created.conflicts,
        contention.created.errors,
        contention.retries,
        contention.created.lat.line()
    );

    // 4. Lists.
    let headers = vec![("x-auth-token", n.token.clone())];
    let ports_path = leak(format!("/v2.0/ports?network_id={bulk_net}"));
    let listed_ports = listed_addresses(&n, &bulk_net).await?.len();
    let max = Duration::from_secs(30);
    get_load(n.addr, ports_path, headers.clone(), 5, 1, max).await?;
    let list_ports = get_load(n.addr, ports_path, headers.clone(), o.list_requests, 1, max).await?;
    println!(
        "  GET {ports_path} ({listed_ports} ports) c=1: {}",
        list_ports.line()
    );
    let v = n
        .expect(
            &mut conn,
            Method::GET,
            "/v2.0/networks",
            None,
            StatusCode::OK,
        )
        .await?;
    let listed_networks = v["networks"].as_array().map_or(0, Vec::len);
    get_load(n.addr, "/v2.0/networks", headers.clone(), 50, 1, max).await?;
    let list_networks = get_load(
        n.addr,
        "/v2.0/networks",
        headers,
        o.list_requests * 10,
        1,
        max,
    )
    .await?;
    println!(
        "  GET /v2.0/networks ({listed_networks} networks) c=1: {}",
        list_networks.line()
    );
    drop(conn);
    tokio::time::sleep(Duration::from_secs_f64(o.settle_secs)).await;
    let (rss_idle, _) = server.memory()?;
    server.stop().await?;
    if o.keep {
        println!("  kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    drop(db);
    Ok(Report {
        engine: engine.into(),
        baseline,
        create_c1: c1.lat,
        bulk,
        contention,
        list_ports,
        listed_ports,
        list_networks,
        listed_networks,
        rss_idle,
    })
}

fn p50_p99(l: &Lat) -> String {
    format!("p50 {} p99 {}", ms(l.p50), ms(l.p99))
}

impl Report {
    pub fn print(&self) {
        let b = &self.baseline;
        println!("API on {}:", self.engine);
        println!(
            "  baseline: bare hello c=1 p50 {} ({:.0} req/s), c=4 p50 {} ({:.0} req/s)",
            ms(b.c1.p50),
            b.c1.per_sec(),
            ms(b.c4.p50),
            b.c4.per_sec()
        );
        let c = &self.create_c1;
        println!(
            "  1. port create c=1: {} ({:.0}/s; {:.1}x hello's p50)   target p50 < 2 ms: {}",
            p50_p99(c),
            c.per_sec(),
            c.p50.as_secs_f64() / b.c1.p50.as_secs_f64().max(1e-9),
            mark(c.p50 < Duration::from_millis(2) && c.errors == 0)
        );
        for (conc, r) in &self.bulk {
            println!(
                "  2. {} ports on one /22 c={conc}: {:.3} s ({:.0}/s, {}, {} errors)   target < 3 s: {}",
                r.ports.len(),
                r.lat.elapsed.as_secs_f64(),
                r.lat.per_sec(),
                p50_p99(&r.lat),
                r.lat.errors,
                mark(r.lat.elapsed < Duration::from_secs(3) && r.lat.errors == 0)
            );
        }
        let k = &self.contention;
        println!(
            "  3. {} creators on a /26 ({} addresses): {} created, duplicates {} (told) / {} (listed), 409 full {}, 409 gave up {}, other errors {}, server retries {}   target 0 duplicates and the pool filled: {}",
            k.creators,
            k.pool,
            k.created.ports.len(),
            k.duplicates_told,
            k.duplicates_listed,
            k.created.exhausted,
            k.created.conflicts,
            k.created.errors,
            k.retries,
            mark(k.duplicates_told == 0 && k.duplicates_listed == 0 && k.listed == k.pool)
        );
        println!(
            "  4. list {} ports c=1: {} ({:.0}/s); list {} networks: {} ({:.0}/s)",
            self.listed_ports,
            p50_p99(&self.list_ports),
            self.list_ports.per_sec(),
            self.listed_networks,
            p50_p99(&self.list_networks),
            self.list_networks.per_sec()
        );
        println!(
            "  idle RSS of up (agent off) after all this: {:.1} MiB",
            self.rss_idle as f64 / 1024.0
        );
    }
}

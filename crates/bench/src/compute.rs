//! `-- compute`: the boot flow on the fake driver, against `oxistack up` with
//! `[compute] fake_hosts` simulated hosts in the one process (network agent off,
//! servers on `networks: none`), on SQLite and, with `--pg URL` (or
//! `OXISTACK_TEST_PG_URL`), on PostgreSQL in a database of its own, beside the bare
//! HTTP baseline (the services' serve loop answering "hello") measured in the same run:
//!
//! 1. POST /servers to ACTIVE, one server at a time (target p50 < 20 ms), and the POST
//!    alone (its 202);
//! 2. `--servers` servers created over `--concurrency` connections at once, to every
//!    one ACTIVE (target < 10 s for 500 over 100 hosts): none lost, none placed twice
//!    (each allocation on exactly one provider, the server's host's), no provider used
//!    beyond its capacity ((total - reserved) x allocation ratio), Placement's usage the
//!    sum of the flavors;
//! 3. the server's resident memory after the load, and the deletes to nothing (the
//!    usage back to zero).
//!
//! `--profile` runs the server with its request log and the saga executor's step
//! timings (`saga=debug`) and prints, for the one-at-a-time boots, where the time of a
//! boot went: each saga step, and each API request the flow made (Compute, Placement,
//! Image), as mean time per boot. Logging costs time itself: take the figures from a
//! run without it.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use http::{HeaderValue, Method, StatusCode};

use crate::{
    client::Conn,
    network::{mark, network_config, Baseline, Neutron},
    server::{free_port, fresh_dir, loadavg, Launch, LogMode, PgDatabase, Server},
    stats::{ms, Lat},
};

#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Boots measured one at a time (figure 1).
    #[arg(long, default_value_t = 50)]
    pub sequential: usize,
    /// Servers booted at once (figure 2).
    #[arg(long, default_value_t = 500)]
    pub servers: usize,
    /// Compute hosts (the host of `up` and simulated ones).
    #[arg(long, default_value_t = 100)]
    pub hosts: u32,
    /// Connections creating servers at once (figure 2).
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Keep the temporary data directory.
    #[arg(long)]
    pub keep: bool,
    /// Also measure on this PostgreSQL server (default: `OXISTACK_TEST_PG_URL`); the
    /// benchmark creates a database of its own there and drops it at the end.
    #[arg(long)]
    pub pg: Option<String>,
    /// Only SQLite, even when a PostgreSQL server is known.
    #[arg(long)]
    pub no_pg: bool,
    /// Log requests and saga steps, and print where a boot's time went (slower).
    #[arg(long)]
    pub profile: bool,
}

/// A session of the bootstrap admin with the cloud's APIs (each its own address).
#[derive(Clone)]
struct Api {
    compute: Neutron,
    image: Neutron,
    placement: Neutron,
}

fn with_addr(n: &Neutron, addr: SocketAddr) -> Neutron {
    Neutron {
        addr,
        token: n.token.clone(),
    }
}

async fn placement_get(
    p: &Neutron,
    conn: &mut Conn,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    let mv = HeaderValue::from_static("placement 1.36");
    let req = conn.request(
        Method::GET,
        &http::Uri::try_from(path)?,
        &[("x-auth-token", &p.token), ("openstack-api-version", &mv)],
        Default::default(),
    );
    let r = conn.send(req).await?;
    if r.status != StatusCode::OK {
        bail!("GET {path}: {}", r.status);
    }
    r.json()
}

async fn upload_image(api: &Api) -> anyhow::Result<String> {
    let mut c = api.image.conn().await?;
    let img = api
        .image
        .expect(
            &mut c,
            Method::POST,
            "/v2/images",
            Some(&serde_json::json!({"name": "bench", "disk_format": "raw", "container_format": "bare", "visibility": "public"})),
            StatusCode::CREATED,
        )
        .await?;
    let id = img["id"].as_str().context("image without id")?.to_owned();
    let ct = HeaderValue::from_static("application/octet-stream");
    let req = c.request(
        Method::PUT,
        &http::Uri::try_from(format!("/v2/images/{id}/file"))?,
        &[("x-auth-token", &api.image.token), ("content-type", &ct)],
        bytes::Bytes::from_static(b"a tiny raw disk for the fake driver"),
    );
    let r = c.send(req).await?;
    if r.status != StatusCode::NO_CONTENT {
        bail!("image upload: {}", r.status);
    }
    Ok(id)
}

async fn create_server(
    api: &Api,
    conn: &mut Conn,
    image: &str,
    flavor: &str,
    name: &str,
) -> anyhow::Result<String> {
    // 2.37: `networks` may be "none"
    let body = serde_json::json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none"}});
    let (ct, mv) = (
        HeaderValue::from_static("application/json"),
        HeaderValue::from_static("compute 2.37"),
    );
    let req = conn.request(
        Method::POST,
        &http::Uri::from_static("/v2.1/servers"),
        &[
            ("x-auth-token", &api.compute.token),
            ("content-type", &ct),
            ("openstack-api-version", &mv),
        ],
        bytes::Bytes::from(body.to_string()),
    );
    let r = conn.send(req).await?;
    if r.status != StatusCode::ACCEPTED {
        bail!(
            "POST /v2.1/servers answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let s: serde_json::Value = r.json()?;
    Ok(s["server"]["id"]
        .as_str()
        .context("server without id")?
        .to_owned())
}

async fn status(api: &Api, conn: &mut Conn, id: &str) -> anyhow::Result<String> {
    let s = api
        .compute
        .expect(
            conn,
            Method::GET,
            &format!("/v2.1/servers/{id}"),
            None,
            StatusCode::OK,
        )
        .await?;
    Ok(s["server"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// The ids of the servers in BUILD.
async fn building(api: &Api, conn: &mut Conn) -> anyhow::Result<HashSet<String>> {
    let page = api
        .compute
        .expect(
            conn,
            Method::GET,
            "/v2.1/servers?all_tenants=1&status=BUILD&limit=1000",
            None,
            StatusCode::OK,
        )
        .await?;
    Ok(page["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect())
}

/// Every server of the cloud: id -> (status, host).
async fn all_servers(
    api: &Api,
    conn: &mut Conn,
) -> anyhow::Result<HashMap<String, (String, String)>> {
    let mut out = HashMap::new();
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            None => "/v2.1/servers/detail?all_tenants=1&limit=1000".to_owned(),
            Some(m) => format!("/v2.1/servers/detail?all_tenants=1&limit=1000&marker={m}"),
        };
        let page = api
            .compute
            .expect(conn, Method::GET, &path, None, StatusCode::OK)
            .await?;
        let list = page["servers"].as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            break;
        }
        for s in &list {
            out.insert(
                s["id"].as_str().unwrap_or_default().to_owned(),
                (
                    s["status"].as_str().unwrap_or_default().to_owned(),
                    s["OS-EXT-SRV-ATTR:host"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ),
            );
        }
        marker = list
            .last()
            .and_then(|s| s["id"].as_str())
            .map(str::to_owned);
    }
    Ok(out)
}

/// The figures of one engine.
struct Report {
    engine: &'static str,
    /// Spawn to every host's hypervisor listed.
    hosts_up: Duration,
    /// POST to ACTIVE, one at a time.
    seq: Lat,
    /// The POST alone (to its 202), one at a time.
    post: Lat,
    burst: usize,
    accepted: Duration,
    took: Duration,
    active: usize,
    errored: usize,
    servers: usize,
    hosts_used: usize,
    max_per_host: usize,
    misplaced: usize,
    /// (provider, resource class, used, capacity) beyond capacity.
    over_capacity: Vec<(String, String, u64, f64)>,
    usage: serde_json::Value,
    want: serde_json::Value,
    rss: u64,
    hwm: u64,
    deleted_in: Duration,
    usage_after: serde_json::Value,
    profile: Option<Profile>,
}

impl Report {
    fn usage_ok(&self) -> bool {
        self.usage == self.want
    }

    fn seq_ok(&self) -> bool {
        self.seq.p50 < Duration::from_millis(20) && self.seq.errors == 0
    }

    fn burst_ok(&self) -> bool {
        self.took < Duration::from_secs(10) && self.active == self.burst
    }

    fn placed_ok(&self) -> bool {
        self.misplaced == 0 && self.over_capacity.is_empty()
    }

    fn print(&self, o: &Opts) {
        println!("  {}:", self.engine);
        println!(
            "    1. POST to ACTIVE, one at a time ({} boots): p50 {}, p90 {}, p99 {} ({} errors) [{}: p50 < 20 ms]; the POST alone p50 {}",
            self.seq.n + self.seq.errors,
            ms(self.seq.p50),
            ms(self.seq.p90),
            ms(self.seq.p99),
            self.seq.errors,
            mark(self.seq_ok()),
            ms(self.post.p50),
        );
        println!(
            "    2. {} servers at once over {} connections, {} hosts: accepted in {:.2} s, {} ACTIVE and {} ERROR after {:.2} s [{}: all ACTIVE < 10 s]",
            self.burst,
            o.concurrency,
            o.hosts,
            self.accepted.as_secs_f64(),
            self.active,
            self.errored,
            self.took.as_secs_f64(),
            mark(self.burst_ok()),
        );
        println!(
            "       {} servers on {} hosts (at most {} on one); {} not placed exactly once on their host, {} provider classes over capacity [{}]",
            self.servers,
            self.hosts_used,
            self.max_per_host,
            self.misplaced,
            self.over_capacity.len(),
            mark(self.placed_ok()),
        );
        for (rp, class, used, cap) in self.over_capacity.iter().take(5) {
            println!("         provider {rp}: {class} used {used} of {cap}");
        }
        println!(
            "       placement usage {} [{}: the flavors' sum {}]",
            self.usage,
            mark(self.usage_ok()),
            self.want
        );
        println!(
            "    3. memory with {} servers: VmRSS {:.1} MiB, VmHWM {:.1} MiB; all deleted in {:.2} s, usage after {}",
            self.servers,
            self.rss as f64 / 1024.0,
            self.hwm as f64 / 1024.0,
            self.deleted_in.as_secs_f64(),
            self.usage_after,
        );
        println!(
            "       (hosts up {:.1} s after spawn)",
            self.hosts_up.as_secs_f64()
        );
        if let Some(p) = &self.profile {
            p.print();
        }
    }
}

/// Where the one-at-a-time boots' time went, from the server's log.
struct Profile {
    boots: usize,
    /// Saga step -> (count, total micros).
    steps: BTreeMap<String, (u64, u64)>,
    /// "METHOD path" (ids folded) -> (count, total micros).
    requests: BTreeMap<String, (u64, u64)>,
}

impl Profile {
    /// Read the log lines written during the one-at-a-time boots (`from`..`to` bytes of
    /// `server.err`).
    fn read(dir: &Path, from: u64, to: u64, boots: usize) -> anyhow::Result<Profile> {
        let all = std::fs::read(dir.join("server.err"))?;
        let end = usize::try_from(to).unwrap_or(all.len()).min(all.len());
        let start = usize::try_from(from).unwrap_or(0).min(end);
        let text = String::from_utf8_lossy(&all[start..end]);
        let mut p = Profile {
            boots,
            steps: BTreeMap::new(),
            requests: BTreeMap::new(),
        };
        for line in text.lines() {
            let Some(micros) = field(line, "micros").and_then(|m| m.parse::<u64>().ok()) else {
                continue;
            };
            if line.contains("saga step done") {
                let (Some(saga), Some(step)) = (field(line, "name"), field(line, "step")) else {
                    continue;
                };
                let e = p.steps.entry(format!("{saga}/{step}")).or_default();
                e.0 += 1;
                e.1 += micros;
                if let Some(l) = field(line, "log_micros").and_then(|m| m.parse::<u64>().ok()) {
                    let e = p.steps.entry(format!("{saga}/(log writes)")).or_default();
                    e.0 += 1;
                    e.1 += l;
                }
                continue;
            }
            let (Some(m), Some(path)) = (field(line, "method"), field(line, "path")) else {
                continue;
            };
            let key = format!("{m} {}", fold_ids(path));
            let e = p.requests.entry(key).or_default();
            e.0 += 1;
            e.1 += micros;
        }
        Ok(p)
    }

    fn print(&self) {
        let n = self.boots.max(1) as f64;
        println!(
            "    profile of the one-at-a-time boots (mean per boot over {} boots; server log on):",
            self.boots
        );
        println!("      saga steps (action time, as the executor measured it):");
        for (k, (count, total)) in &self.steps {
            println!(
                "        {k:<40} {:>5.2} per boot  {:>8.3} ms per boot  {:>8.3} ms each",
                *count as f64 / n,
                *total as f64 / 1e3 / n,
                *total as f64 / 1e3 / (*count).max(1) as f64
            );
        }
        let mut reqs: Vec<_> = self.requests.iter().collect();
        reqs.sort_by_key(|r| std::cmp::Reverse(r.1 .1));
        println!("      API requests served (the benchmark's own polling included):");
        for (k, (count, total)) in reqs.into_iter().take(20) {
            println!(
                "        {k:<60} {:>6.2} per boot  {:>8.3} ms per boot  {:>8.3} ms each",
                *count as f64 / n,
                *total as f64 / 1e3 / n,
                *total as f64 / 1e3 / (*count).max(1) as f64
            );
        }
    }
}

/// `key=value` (or `key="value"`) of a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!(" {key}=");
    let at = line.find(&pat)? + pat.len();
    let rest = &line[at..];
    if let Some(q) = rest.strip_prefix('"') {
        return q.split('"').next();
    }
    rest.split_whitespace().next()
}

/// A path with its uuids (and hex ids) as `{id}`, its query dropped.
fn fold_ids(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|seg| {
            let hexish = seg.len() >= 32 && seg.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            if hexish {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every figure, on SQLite and (when one is known) PostgreSQL, then the summary.
pub async fn run(bin: &Path, o: &Opts) -> anyhow::Result<()> {
    println!(
        "== compute (fake driver, {} hosts), server {}, load average {}",
        o.hosts,
        bin.display(),
        loadavg()
    );
    let baseline = Baseline::measure().await?;
    println!("  {}", baseline.line());
    let mut reports = vec![run_engine(bin, o, None).await?];
    let pg =
        o.pg.clone()
            .or_else(|| std::env::var("OXISTACK_TEST_PG_URL").ok());
    match pg {
        Some(url) if !o.no_pg => reports.push(run_engine(bin, o, Some(&url)).await?),
        _ => println!("  (no PostgreSQL: pass --pg URL or set OXISTACK_TEST_PG_URL)"),
    }
    println!();
    println!("summary (load average now {})", loadavg());
    println!("  {}", baseline.line());
    for r in &reports {
        r.print(o);
    }
    Ok(())
}

/// The figures on SQLite (`pg` = None) or on a fresh database of `pg`.
async fn run_engine(bin: &Path, o: &Opts, pg: Option<&str>) -> anyhow::Result<Report> {
    let engine = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    let db = pg.map(|u| PgDatabase::create(u, "compute")).transpose()?;
    let dir = fresh_dir(&format!("compute-{}", engine.to_lowercase()))?;
    println!("-- {engine}, data dir {}", dir.display());
    let (cport, pport, iport, nport) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let mut config = format!(
        "[compute_api]\nport = {cport}\n\n[compute_api.quotas]\ninstances = -1\ncores = -1\nram = -1\n\n\
         [placement]\nport = {pport}\n\n[image]\nport = {iport}\n\n{}\n\
         [compute]\ndriver = \"fake\"\nhost = \"bench\"\nfake_hosts = {}\nfake_vcpus = 64\nfake_memory_mb = 262144\nfake_disk_gb = 4000\nreport_interval = 10\nsync_interval = 30\n",
        network_config(nport),
        o.hosts.saturating_sub(1)
    );
    if let Some(db) = &db {
        config.push_str(&format!(
            "\n[database]\nurl = {}\n",
            serde_json::to_string(&db.url)?
        ));
    }
    let how = Launch {
        top: "test_image = false\n".into(),
        config,
        ..Default::default()
    };
    let (log, env): (LogMode, Vec<String>) = if o.profile {
        (
            LogMode::Default,
            vec!["RUST_LOG=warn,oxistack::request=info,saga=debug".into()],
        )
    } else {
        (LogMode::Warn, Vec::new())
    };
    let t0 = Instant::now();
    let server = Server::launch(bin, &dir, log, &env, &how).await?;
    let at = |p: u16| -> SocketAddr { ([127, 0, 0, 1], p).into() };
    let admin = Neutron::login(&dir, server.addr, at(nport)).await?;
    let api = Arc::new(Api {
        compute: with_addr(&admin, at(cport)),
        image: with_addr(&admin, at(iport)),
        placement: with_addr(&admin, at(pport)),
    });
    let image = upload_image(&api).await?;
    let flavor = "1"; // m1.tiny: 1 vCPU, 512 MiB, 1 GiB
    let mut c = api.compute.conn().await?;
    // every host reported
    loop {
        let h = api
            .compute
            .expect(
                &mut c,
                Method::GET,
                "/v2.1/os-hypervisors",
                None,
                StatusCode::OK,
            )
            .await?;
        let n = h["hypervisors"].as_array().map_or(0, Vec::len);
        if n >= o.hosts as usize {
            break;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            bail!("only {n} of {} hosts reported", o.hosts);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hosts_up = t0.elapsed();
    println!(
        "  {} hypervisors up after {:.1} s",
        o.hosts,
        hosts_up.as_secs_f64()
    );

    // 1. one at a time (a few first, unmeasured: connections, caches)
    for i in 0..3 {
        let id = create_server(&api, &mut c, &image, flavor, &format!("warm{i}")).await?;
        while !matches!(
            status(&api, &mut c, &id).await?.as_str(),
            "ACTIVE" | "ERROR"
        ) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let log_from = log_size(&dir);
    let mut samples = Vec::new();
    let mut posts = Vec::new();
    let t1 = Instant::now();
    let mut errors = 0;
    for i in 0..o.sequential {
        let start = Instant::now();
        let id = create_server(&api, &mut c, &image, flavor, &format!("seq{i}")).await?;
        posts.push(nanos(start.elapsed()));
        loop {
            let st = status(&api, &mut c, &id).await?;
            if st == "ACTIVE" {
                samples.push(nanos(start.elapsed()));
                break;
            }
            if st == "ERROR" {
                errors += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let seq = Lat::from_samples(samples, errors, t1.elapsed(), 0);
    let post = Lat::from_samples(posts, 0, t1.elapsed(), 0);
    let profile = if o.profile {
        // the executor logs a step when it is recorded: let the last boot's land
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some(Profile::read(&dir, log_from, log_size(&dir), o.sequential)?)
    } else {
        None
    };
    println!(
        "  1. POST to ACTIVE, one at a time: p50 {}, p90 {}, p99 {} ({errors} errors); POST alone p50 {}",
        ms(seq.p50),
        ms(seq.p90),
        ms(seq.p99),
        ms(post.p50)
    );

    // 2. many at once
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per = o.servers.div_ceil(o.concurrency.max(1));
    for t in 0..o.concurrency.max(1) {
        let (api, image) = (api.clone(), image.clone());
        let n = per.min(o.servers.saturating_sub(t * per));
        tasks.spawn(async move {
            let mut c = api.compute.conn().await?;
            let mut ids = Vec::new();
            for i in 0..n {
                ids.push(
                    create_server(&api, &mut c, &image, flavor, &format!("burst{t}-{i}")).await?,
                );
            }
            anyhow::Ok(ids)
        });
    }
    let mut burst = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        burst.extend(r??);
    }
    let accepted = t0.elapsed();
    // until none is building (the short list of those still in BUILD: polling the
    // whole detailed list would take the server's time from the boots it measures)
    loop {
        let building = building(&api, &mut c).await?;
        if !burst.iter().any(|id| building.contains(id)) || t0.elapsed() > Duration::from_secs(300)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = t0.elapsed();
    let all = all_servers(&api, &mut c).await?;
    let count = |status: &str| {
        burst
            .iter()
            .filter(|id| all.get(*id).is_some_and(|s| s.0 == status))
            .count()
    };
    let (active, errored) = (count("ACTIVE"), count("ERROR"));
    println!(
        "  2. {} servers at once: accepted in {:.2} s, {active} ACTIVE and {errored} ERROR after {:.2} s",
        burst.len(),
        accepted.as_secs_f64(),
        took.as_secs_f64()
    );

    // checks: every allocation on the server's host's provider, no provider over its
    // capacity, usage the flavors' sum
    let mut pc = api.placement.conn().await?;
    let rps = placement_get(&api.placement, &mut pc, "/resource_providers").await?;
    let names: HashMap<String, String> = rps["resource_providers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["uuid"].as_str().unwrap_or_default().to_owned(),
                p["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let all = all_servers(&api, &mut c).await?;
    let mut misplaced = 0;
    let mut per_host: HashMap<String, usize> = HashMap::new();
    for (id, (_, host)) in &all {
        let a = placement_get(&api.placement, &mut pc, &format!("/allocations/{id}")).await?;
        let providers: Vec<&String> = a["allocations"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        if providers.len() != 1 || names.get(providers[0]) != Some(host) {
            misplaced += 1;
        }
        *per_host.entry(host.clone()).or_default() += 1;
    }
    let over_capacity = over_capacity(&api.placement, &mut pc, &names).await?;
    let project = {
        let t = api
            .compute
            .expect(
                &mut c,
                Method::GET,
                "/v2.1/servers/detail?limit=1",
                None,
                StatusCode::OK,
            )
            .await?;
        t["servers"][0]["tenant_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let usage = placement_get(
        &api.placement,
        &mut pc,
        &format!("/usages?project_id={project}"),
    )
    .await?;
    let n = all.len() as u64;
    let want = serde_json::json!({"VCPU": n, "MEMORY_MB": n * 512, "DISK_GB": n});
    let (rss, hwm) = server.memory()?;

    let t0 = Instant::now();
    for id in all.keys() {
        let r = api
            .compute
            .send(&mut c, Method::DELETE, &format!("/v2.1/servers/{id}"), None)
            .await?;
        if r.status != StatusCode::NO_CONTENT {
            bail!("delete {id}: {}", r.status);
        }
    }
    loop {
        let left = all_servers(&api, &mut c).await?.len();
        if left == 0 {
            break;
        }
        if t0.elapsed() > Duration::from_secs(300) {
            bail!("{left} servers never went");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deleted_in = t0.elapsed();
    let usage_after = placement_get(
        &api.placement,
        &mut pc,
        &format!("/usages?project_id={project}"),
    )
    .await?;
    server.stop().await?;
    if o.keep {
        println!("  kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    drop(db);
    Ok(Report {
        engine,
        hosts_up,
        seq,
        post,
        burst: burst.len(),
        accepted,
        took,
        active,
        errored,
        servers: all.len(),
        hosts_used: per_host.len(),
        max_per_host: per_host.values().max().copied().unwrap_or(0),
        misplaced,
        over_capacity,
        usage: usage["usages"].clone(),
        want,
        rss,
        hwm,
        deleted_in,
        usage_after: usage_after["usages"].clone(),
        profile,
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn log_size(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("server.err")).map_or(0, |m| m.len())
}

/// Every (provider, class, used, capacity) whose usage is beyond
/// `(total - reserved) * allocation_ratio`.
async fn over_capacity(
    p: &Neutron,
    conn: &mut Conn,
    providers: &HashMap<String, String>,
) -> anyhow::Result<Vec<(String, String, u64, f64)>> {
    let mut out = Vec::new();
    for (uuid, name) in providers {
        let inv =
            placement_get(p, conn, &format!("/resource_providers/{uuid}/inventories")).await?;
        let used = placement_get(p, conn, &format!("/resource_providers/{uuid}/usages")).await?;
        for (class, u) in used["usages"].as_object().into_iter().flatten() {
            let u = u.as_u64().unwrap_or(0);
            let i = &inv["inventories"][class];
            let total = i["total"].as_f64().unwrap_or(0.0);
            let reserved = i["reserved"].as_f64().unwrap_or(0.0);
            let ratio = i["allocation_ratio"].as_f64().unwrap_or(1.0);
            // placement's own rounding: the capacity is an integer
            let cap = ((total - reserved) * ratio).floor().max(0.0);
            if u as f64 > cap {
                out.push((name.clone(), class.clone(), u, cap));
            }
        }
    }
    Ok(out)
}

//! `-- compute`: the boot flow on the fake driver, against `oxistack up` with
//! `[compute] fake_hosts` simulated hosts in the one process (network agent off,
//! servers on `networks: none`):
//!
//! 1. POST /servers to ACTIVE, one server at a time (target p50 < 20 ms);
//! 2. `--servers` servers created over `--concurrency` connections at once, to every
//!    one ACTIVE (target < 10 s for 500 over 100 hosts): none lost, none placed twice
//!    (each allocation on exactly one provider, the server's host's), Placement's usage
//!    the sum of the flavors;
//! 3. the server's resident memory after the load, and the deletes to nothing.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use http::{HeaderValue, Method, StatusCode};

use crate::{
    client::Conn,
    network::{mark, network_config, Neutron},
    server::{free_port, fresh_dir, Launch, LogMode, Server},
    stats::Lat,
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
    let body = serde_json::json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none"}});
    let s = api
        .compute
        .expect(
            conn,
            Method::POST,
            "/v2.1/servers",
            Some(&body),
            StatusCode::ACCEPTED,
        )
        .await?;
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

pub async fn run(bin: &Path, o: &Opts) -> anyhow::Result<()> {
    let dir = fresh_dir("compute")?;
    let (cport, pport, iport, nport) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let how = Launch {
        top: "test_image = false\n".into(),
        config: format!(
            "[compute_api]\nport = {cport}\n\n[compute_api.quotas]\ninstances = -1\ncores = -1\nram = -1\n\n\
             [placement]\nport = {pport}\n\n[image]\nport = {iport}\n\n{}\n\
             [compute]\ndriver = \"fake\"\nhost = \"bench\"\nfake_hosts = {}\nfake_vcpus = 64\nfake_memory_mb = 262144\nfake_disk_gb = 4000\nreport_interval = 10\nsync_interval = 30\n",
            network_config(nport),
            o.hosts.saturating_sub(1)
        ),
        ..Default::default()
    };
    println!(
        "== compute (fake driver, {} hosts), server {}",
        o.hosts,
        bin.display()
    );
    let server = Server::launch(bin, &dir, LogMode::Warn, &[], &how).await?;
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
    let t0 = Instant::now();
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
            println!(
                "  {n} hypervisors up after {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            break;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            bail!("only {n} of {} hosts reported", o.hosts);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 1. one at a time
    let mut samples = Vec::new();
    let t0 = Instant::now();
    let mut errors = 0;
    for i in 0..o.sequential {
        let start = Instant::now();
        let id = create_server(&api, &mut c, &image, flavor, &format!("seq{i}")).await?;
        loop {
            let st = status(&api, &mut c, &id).await?;
            if st == "ACTIVE" {
                samples.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
                break;
            }
            if st == "ERROR" {
                errors += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let seq = Lat::from_samples(samples, errors, t0.elapsed(), 0);
    println!(
        "  1. POST to ACTIVE, one at a time: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms ({} errors) [{}: p50 < 20 ms]",
        seq.p50.as_secs_f64() * 1e3,
        seq.p90.as_secs_f64() * 1e3,
        seq.p99.as_secs_f64() * 1e3,
        errors,
        mark(seq.p50 < Duration::from_millis(20) && errors == 0)
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
    let (active, errored) = loop {
        let all = all_servers(&api, &mut c).await?;
        let active = burst
            .iter()
            .filter(|id| all.get(*id).is_some_and(|s| s.0 == "ACTIVE"))
            .count();
        let errored = burst
            .iter()
            .filter(|id| all.get(*id).is_some_and(|s| s.0 == "ERROR"))
            .count();
        if active + errored == burst.len() || t0.elapsed() > Duration::from_secs(300) {
            break (active, errored);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = t0.elapsed();
    println!(
        "  2. {} servers at once over {} connections: all accepted in {:.2} s, {} ACTIVE and {} ERROR after {:.2} s [{}: < 10 s]",
        burst.len(),
        o.concurrency,
        accepted.as_secs_f64(),
        active,
        errored,
        took.as_secs_f64(),
        mark(took < Duration::from_secs(10) && active == burst.len())
    );

    // checks: every allocation on the server's host's provider, usage the flavors' sum
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
    let usage_ok = usage["usages"] == want;
    println!(
        "     {} servers on {} hosts (at most {} on one), {} not placed exactly once on their host [{}]; placement usage {} [{}: {}]",
        all.len(),
        per_host.len(),
        per_host.values().max().copied().unwrap_or(0),
        misplaced,
        mark(misplaced == 0),
        usage["usages"],
        mark(usage_ok),
        want
    );
    let (rss, hwm) = server.memory()?;
    println!(
        "  3. server memory with {} servers: VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        all.len(),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );

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
    let usage = placement_get(
        &api.placement,
        &mut pc,
        &format!("/usages?project_id={project}"),
    )
    .await?;
    println!(
        "     deleted all in {:.2} s; placement usage after: {}",
        t0.elapsed().as_secs_f64(),
        usage["usages"]
    );
    server.stop().await?;
    if o.keep {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

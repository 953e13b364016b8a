//! `GET /allocation_candidates` over 100 providers (VCPU, MEMORY_MB, DISK_GB; a third
//! with traits, a quarter in an aggregate), against `oxistack up` on SQLite, beside the
//! bare HTTP baseline on the same serve loop: p50/p99 of a few thousand sequential
//! requests of each query.

use std::{net::SocketAddr, path::Path, time::Duration};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Uri};
use serde_json::{json, Value};

use crate::{
    bare::{HelloServer, Loop},
    client::Conn,
    identity,
    server::{free_port, fresh_dir, Launch, LogMode, Server},
    stats::Lat,
};

#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Resource providers to create.
    #[arg(long, default_value_t = 100)]
    pub providers: usize,
    /// Measured requests per query.
    #[arg(long, default_value_t = 3_000)]
    pub requests: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Unmeasured requests first.
    #[arg(long, default_value_t = 300)]
    pub warmup: usize,
    /// Keep the data directory.
    #[arg(long)]
    pub keep: bool,
}

const AGGREGATE: &str = "5a8f7a2c-3b7e-4f4e-9f1e-2d3c4b5a6978";

/// The queries measured.
const QUERIES: &[(&str, &str)] = &[
    (
        "resources only",
        "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512,DISK_GB:10",
    ),
    (
        "+ required trait, aggregate, limit",
        "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512,DISK_GB:10&required=HW_CPU_X86_AVX2&member_of=in:5a8f7a2c-3b7e-4f4e-9f1e-2d3c4b5a6978&limit=10",
    ),
    (
        "+ forbidden trait",
        "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512&required=!CUSTOM_SLOW",
    ),
];

struct Client {
    addr: SocketAddr,
    token: HeaderValue,
    version: HeaderValue,
}

impl Client {
    async fn send(
        &self,
        conn: &mut Conn,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let ct = HeaderValue::from_static("application/json");
        let uri = Uri::try_from(path)?;
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let req = conn.request(
            method,
            &uri,
            &[
                ("x-auth-token", &self.token),
                ("openstack-api-version", &self.version),
                ("content-type", &ct),
            ],
            body,
        );
        let r = conn.send(req).await?;
        let v = if r.body.is_empty() {
            Value::Null
        } else {
            r.json()?
        };
        Ok((r.status, v))
    }

    async fn ok(
        &self,
        conn: &mut Conn,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (s, v) = self.send(conn, method.clone(), path, body).await?;
        if !s.is_success() {
            bail!("{method} {path}: {s} {v}");
        }
        Ok(v)
    }
}

/// Providers with inventories, traits and aggregates.
async fn populate(c: &Client, n: usize) -> anyhow::Result<()> {
    let mut conn = Conn::connect(c.addr).await?;
    c.ok(&mut conn, Method::PUT, "/traits/CUSTOM_SLOW", None)
        .await?;
    for i in 0..n {
        let rp = c
            .ok(
                &mut conn,
                Method::POST,
                "/resource_providers",
                Some(json!({"name": format!("bench-cn{i}")})),
            )
            .await?;
        let id = rp["uuid"].as_str().context("no uuid")?.to_owned();
        c.ok(
            &mut conn,
            Method::PUT,
            &format!("/resource_providers/{id}/inventories"),
            Some(json!({"resource_provider_generation": 0, "inventories": {
                "VCPU": {"total": 16 + (i % 8) * 8, "allocation_ratio": 4.0},
                "MEMORY_MB": {"total": 65536, "reserved": 2048},
                "DISK_GB": {"total": 1000}}})),
        )
        .await?;
        let mut generation = 1;
        if i % 3 == 0 {
            let traits = if i % 2 == 0 {
                json!(["HW_CPU_X86_AVX2", "COMPUTE_VOLUME_MULTI_ATTACH"])
            } else {
                json!(["CUSTOM_SLOW"])
            };
            c.ok(
                &mut conn,
                Method::PUT,
                &format!("/resource_providers/{id}/traits"),
                Some(json!({"traits": traits, "resource_provider_generation": generation})),
            )
            .await?;
            generation += 1;
        }
        if i % 4 == 0 {
            c.ok(
                &mut conn,
                Method::PUT,
                &format!("/resource_providers/{id}/aggregates"),
                Some(
                    json!({"aggregates": [AGGREGATE], "resource_provider_generation": generation}),
                ),
            )
            .await?;
        }
    }
    Ok(())
}

pub async fn run(bin: &Path, o: &Opts) -> anyhow::Result<()> {
    println!(
        "== placement, server {}, load average {}",
        bin.display(),
        crate::server::loadavg()
    );
    let dir = fresh_dir("placement")?;
    let port = free_port()?;
    let how = Launch {
        top: "test_image = false\n".into(),
        config: format!("\n[placement]\nport = {port}\n"),
        ..Default::default()
    };
    let server = Server::launch(bin, &dir, LogMode::Warn, &[], &how).await?;
    let password = std::fs::read_to_string(dir.join("admin-password"))
        .context("cannot read admin-password")?;
    let mut conn = Conn::connect(server.addr).await?;
    let token = identity::password_token(&mut conn, password.trim()).await?;
    let c = Client {
        addr: ([127, 0, 0, 1], port).into(),
        token: HeaderValue::from_str(&token)?,
        version: HeaderValue::from_static("placement 1.39"),
    };
    let t0 = std::time::Instant::now();
    populate(&c, o.providers).await?;
    println!(
        "{} providers created in {:.1} s",
        o.providers,
        t0.elapsed().as_secs_f64()
    );
    let mut results: Vec<(&str, Lat, usize)> = Vec::new();
    let max = Duration::from_secs(120);
    for (label, q) in QUERIES {
        let mut conn = Conn::connect(c.addr).await?;
        let (_, v) = c.send(&mut conn, Method::GET, q, None).await?;
        let found = v["allocation_requests"].as_array().map_or(0, Vec::len);
        let headers = vec![
            ("x-auth-token", c.token.clone()),
            ("openstack-api-version", c.version.clone()),
        ];
        identity::get_load(c.addr, q, headers.clone(), o.warmup, o.concurrency, max).await?;
        let lat = identity::get_load(c.addr, q, headers, o.requests, o.concurrency, max).await?;
        println!("  {label}: {found} candidates, {}", lat.line());
        results.push((label, lat, found));
    }
    server.stop().await?;
    // the baseline: the same serve loop with nothing behind it
    let hello = HelloServer::start(Loop::Oxistack).await?;
    let dash = HeaderValue::from_static("-");
    identity::validate_load(
        hello.addr,
        crate::bare::PATH,
        &dash,
        o.warmup,
        o.concurrency,
        max,
    )
    .await?;
    let bare = identity::validate_load(
        hello.addr,
        crate::bare::PATH,
        &dash,
        o.requests,
        o.concurrency,
        max,
    )
    .await?;
    hello.stop().await?;
    println!();
    println!(
        "GET /allocation_candidates, {} providers, {} requests each, concurrency {}:",
        o.providers, o.requests, o.concurrency
    );
    for (label, lat, found) in &results {
        println!(
            "  {:<40} {:>4} candidates  p50 {:.3} ms  p99 {:.3} ms  {:>6.0} req/s  errors {}  {}",
            label,
            found,
            lat.p50.as_secs_f64() * 1e3,
            lat.p99.as_secs_f64() * 1e3,
            lat.per_sec(),
            lat.errors,
            crate::mark(lat.p50 < Duration::from_millis(1)),
        );
    }
    println!(
        "  {:<40} {:>4}             p50 {:.3} ms  p99 {:.3} ms  {:>6.0} req/s  (bare hello baseline)",
        "bare GET / on the services' serve loop",
        "",
        bare.p50.as_secs_f64() * 1e3,
        bare.p99.as_secs_f64() * 1e3,
        bare.per_sec()
    );
    if o.keep {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

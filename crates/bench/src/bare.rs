//! The bare HTTP baseline: a `GET /` answering "hello" with no layers, served by the
//! same serve loop as the services (`api_common::server::serve`), and for comparison by
//! `axum::serve` (which the services used before it had timeouts and connection limits).
//! Each server runs in a child process of its own (`bench bare-server`), on a
//! multi-threaded runtime as `oxistack` does, so the load generator's runtime stays apart.

use std::{
    net::SocketAddr,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::{routing::get, Router};
use http::HeaderValue;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::{identity, server::cpu_of, stats::Lat};

/// Which serve loop a hello server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Loop {
    /// `api_common::server::serve`, as the services.
    Oxistack,
    /// `axum::serve`, the loop without timeouts or limits.
    Axum,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Requests per serve loop.
    #[arg(long, default_value_t = 200_000)]
    pub requests: usize,
    /// Longest a measurement may run, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub max_secs: f64,
    /// Concurrent keep-alive connections (one task each).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Unmeasured requests first.
    #[arg(long, default_value_t = 5_000)]
    pub warmup: usize,
    /// Rounds, alternating the loops (the figure is each loop's best round).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// Serve the hello route on 127.0.0.1 with `which`, print `LISTENING <addr>`, and stop
/// when standard input closes.
pub async fn hello_server(which: Loop) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("LISTENING {}", listener.local_addr()?);
    let app = Router::new().route("/", get(|| async { "hello" }));
    let stop = async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    match which {
        Loop::Oxistack => api_common::server::serve(listener, app, stop).await?,
        Loop::Axum => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await?
        }
    }
    Ok(())
}

/// The path the hello server answers.
pub const PATH: &str = "/";

/// A hello server in a child process of its own (killed if dropped before [`stop`]).
///
/// [`stop`]: HelloServer::stop
pub struct HelloServer {
    child: tokio::process::Child,
    pub addr: SocketAddr,
    /// The child's pid, for its CPU time.
    pub pid: String,
}

impl HelloServer {
    pub async fn start(which: Loop) -> anyhow::Result<HelloServer> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("bare-server")
            .arg("--loop")
            .arg(match which {
                Loop::Oxistack => "oxistack",
                Loop::Axum => "axum",
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut out = BufReader::new(child.stdout.take().context("child stdout")?);
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(10), out.read_line(&mut line)).await??;
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("LISTENING ")
            .with_context(|| format!("hello server said {line:?}"))?
            .parse()?;
        let pid = child.id().context("child pid")?.to_string();
        Ok(HelloServer { child, addr, pid })
    }

    /// Close its standard input and wait for it to drain and exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await??;
        Ok(())
    }
}

/// One round against a fresh hello server.
async fn round(which: Loop, o: &Opts) -> anyhow::Result<Lat> {
    let server = HelloServer::start(which).await?;
    let (addr, pid) = (server.addr, server.pid.clone());
    let max = Duration::from_secs_f64(o.max_secs);
    let headers = HeaderValue::from_static("-");
    identity::validate_load(addr, PATH, &headers, o.warmup, o.concurrency, max).await?;
    let (s0, c0) = (cpu_of(&pid), cpu_of("self"));
    let mut lat =
        identity::validate_load(addr, PATH, &headers, o.requests, o.concurrency, max).await?;
    lat.server_cpu = cpu_of(&pid).saturating_sub(s0);
    lat.client_cpu = cpu_of("self").saturating_sub(c0);
    server.stop().await?;
    Ok(lat)
}

/// Measure both loops, alternating, and print each loop's best round.
pub async fn run(o: &Opts) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut best: Vec<(Loop, Lat)> = Vec::new();
    for r in 0..o.rounds.max(1) {
        for which in [Loop::Oxistack, Loop::Axum] {
            let lat = round(which, o).await?;
            println!("  round {r} {which:?}: {}", lat.line());
            match best.iter_mut().find(|(w, _)| *w == which) {
                Some((_, b)) if b.per_sec() >= lat.per_sec() => {}
                Some((_, b)) => *b = lat,
                None => best.push((which, lat)),
            }
        }
    }
    println!();
    println!(
        "bare GET / (\"hello\"), concurrency {}, best of {} rounds ({:.0} s in all):",
        o.concurrency,
        o.rounds.max(1),
        started.elapsed().as_secs_f64()
    );
    for (which, lat) in &best {
        let (srv, cli) = lat.cpu_per_req();
        println!(
            "  {:<40} {:>8.0} req/s  p50 {:.3} ms  p99 {:.3} ms  CPU/req {srv:.0} + {cli:.0} us  errors {}",
            match which {
                Loop::Oxistack => "api_common::server::serve (services)",
                Loop::Axum => "axum::serve (before)",
            },
            lat.per_sec(),
            lat.p50.as_secs_f64() * 1e3,
            lat.p99.as_secs_f64() * 1e3,
            lat.errors
        );
    }
    Ok(())
}

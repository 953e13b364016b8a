//! Benchmarks of a running oxistack. They print figures; they are not tests.
//!
//! ```text
//! cargo build --release -p oxistack        # the server under test: target/release/oxistack
//! cargo run --release -p bench -- identity  # see `-- identity --help` for counts and limits
//! ```
//!
//! `identity` starts `target/release/oxistack up` (the binary beside this one, or
//! `--server-bin`) on a fresh temporary data directory and a free loopback port, and
//! measures:
//!
//! 1. startup: wall time from spawn to the first `200` on `GET /v3` (the fresh data
//!    directory is bootstrapped, which hashes two passwords), and again on restart;
//! 2. token validation (`GET /v3/auth/tokens`, `X-Auth-Token` = `X-Subject-Token` = one
//!    project-scoped admin token) over `--concurrency` keep-alive connections, with and
//!    without `?nocatalog`: throughput and p50/p90/p99 latency;
//! 3. token issue with the `token` method (rescoping that token to the admin project),
//!    sequential, with and without `?nocatalog`; and with the `password` method (Argon2,
//!    slow by design);
//! 4. the server's resident memory (VmRSS) when idle after startup and after the load;
//!
//! then stops the server with SIGTERM. By default all of it runs twice: with the server
//! logging as the default configuration does (`info`, a line per request on stderr, which
//! goes to a file in the data directory) and with `RUST_LOG=warn`. A summary table closes.
//! Everything is bounded by counts and time and stays on the loopback.
//!
//! The load generator shares the machine's cores with the server, so it is lean: hyper's
//! connection-level HTTP/1 client, one connection per task, on a single-threaded runtime
//! by default (`--client-threads`).

mod bare;
mod boot;
mod client;
mod compute;
mod identity;
mod network;
mod placement;
mod server;
mod stats;

use std::{path::PathBuf, time::Duration};

use clap::{Parser, Subcommand, ValueEnum};

use crate::{identity::Report, server::LogMode, stats::ms};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Benchmarks of a running oxistack (prints figures)"
)]
struct Cli {
    /// The oxistack binary (default: `oxistack` beside this executable, i.e.
    /// target/release/oxistack; build it with `cargo build --release -p oxistack`).
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
    /// Worker threads of the load generator (1: a single-threaded runtime).
    #[arg(long, global = true, default_value_t = 1)]
    client_threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Logs {
    /// As the default configuration does (`info`).
    Default,
    /// `RUST_LOG=warn`.
    Warn,
    /// Both, one after the other.
    Both,
}

#[derive(Subcommand)]
enum Command {
    /// The bare HTTP baseline: "hello" on the services' serve loop and on axum::serve.
    Bare {
        #[command(flatten)]
        opts: bare::Opts,
    },
    /// A bare "hello" server (the child process of `bare`).
    #[command(hide = true)]
    BareServer {
        #[arg(long = "loop", value_enum)]
        which: bare::Loop,
    },
    /// Port create with IPAM, bulk creates, contention, lists; the network agent's
    /// restart and memory (see `-- network --help`).
    Network {
        #[command(flatten)]
        opts: network::Opts,
    },
    /// GET /allocation_candidates over 100 providers, beside the bare baseline.
    Placement {
        #[command(flatten)]
        opts: placement::Opts,
    },
    /// The boot flow on the fake driver: POST to ACTIVE, hundreds of servers at once
    /// over simulated hosts, placement consistency (see `-- compute --help`).
    Compute {
        #[command(flatten)]
        opts: compute::Opts,
    },
    /// A real guest (QEMU, the test image): POST /servers to ACTIVE and to SSH on its
    /// floating IP through the whole cloud, against QEMU started by hand (as root; see
    /// `-- boot --help`).
    Boot {
        #[command(flatten)]
        opts: boot::Opts,
    },
    /// Startup, token validation and issue, and memory of the identity service.
    Identity {
        #[command(flatten)]
        opts: identity::Opts,
        /// How the server logs.
        #[arg(long, value_enum, default_value_t = Logs::Both)]
        log: Logs,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::BareServer { which } = cli.command {
        // A server's runtime, as oxistack's: one worker per core.
        return tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(bare::hello_server(which));
    }
    let rt = if cli.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.client_threads)
            .enable_all()
            .build()?
    };
    rt.block_on(async move {
        match cli.command {
            Command::BareServer { .. } => unreachable!("served above"),
            Command::Bare { opts } => bare::run(&opts).await,
            Command::Network { opts } => {
                let bin = server::find_binary(cli.server_bin.as_deref())?;
                network::run(&bin, &opts).await
            }
            Command::Placement { opts } => {
                let bin = server::find_binary(cli.server_bin.as_deref())?;
                placement::run(&bin, &opts).await
            }
            Command::Compute { opts } => {
                let bin = server::find_binary(cli.server_bin.as_deref())?;
                compute::run(&bin, &opts).await
            }
            Command::Boot { opts } => {
                let bin = server::find_binary(cli.server_bin.as_deref())?;
                boot::run(&bin, &opts).await
            }
            Command::Identity { opts, log } => {
                let bin = server::find_binary(cli.server_bin.as_deref())?;
                let modes: &[LogMode] = match log {
                    Logs::Default => &[LogMode::Default],
                    Logs::Warn => &[LogMode::Warn],
                    Logs::Both => &[LogMode::Default, LogMode::Warn],
                };
                println!(
                    "client: {} thread(s), {} cores on this machine",
                    cli.client_threads.max(1),
                    std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(0)
                );
                let mut reports = Vec::new();
                for m in modes {
                    reports.push(identity::run(&bin, *m, &opts).await?);
                }
                summary(&reports, &opts);
                for r in &reports {
                    if opts.keep {
                        println!("kept {}", r.dir.display());
                    } else {
                        let _ = std::fs::remove_dir_all(&r.dir);
                    }
                }
                Ok(())
            }
        }
    })
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn rate(l: &stats::Lat) -> String {
    format!("{:.0} req/s", l.per_sec())
}

fn pcts(l: &stats::Lat) -> String {
    format!(
        "{:.3} / {:.3} / {:.3} ms",
        l.p50.as_secs_f64() * 1e3,
        l.p90.as_secs_f64() * 1e3,
        l.p99.as_secs_f64() * 1e3
    )
}

fn p50_p99(l: &stats::Lat) -> String {
    format!(
        "{:.3} / {:.3} ms",
        l.p50.as_secs_f64() * 1e3,
        l.p99.as_secs_f64() * 1e3
    )
}

fn ratio(a: &stats::Lat, b: &stats::Lat) -> String {
    format!("{:.0}%", 100.0 * a.per_sec() / b.per_sec().max(1.0))
}

fn cpu(l: &stats::Lat) -> String {
    let (s, c) = l.cpu_per_req();
    format!("{s:.0} + {c:.0} us")
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISS"
    }
}

/// The closing table: one row per figure, one column per server log mode.
fn summary(reports: &[Report], o: &identity::Opts) {
    type Row = (
        &'static str,
        &'static str,
        fn(&Report) -> String,
        Option<fn(&Report) -> bool>,
    );
    let rows: Vec<Row> = vec![
        (
            "startup, fresh dir (spawn -> GET /v3)",
            "< 1 s",
            |r| ms(r.startup),
            Some(|r| r.startup < Duration::from_secs(1)),
        ),
        (
            "startup, existing dir",
            "< 1 s",
            |r| ms(r.restart),
            Some(|r| r.restart < Duration::from_secs(1)),
        ),
        (
            "validate ?nocatalog throughput",
            "> 20000/s",
            |r| rate(&r.validate_nocat),
            Some(|r| r.validate_nocat.per_sec() > 20_000.0),
        ),
        (
            "validate ?nocatalog p50/p90/p99",
            "p50 < 1 ms",
            |r| pcts(&r.validate_nocat),
            Some(|r| r.validate_nocat.p50 < Duration::from_millis(1)),
        ),
        (
            "validate +catalog throughput",
            "> 20000/s",
            |r| rate(&r.validate_cat),
            Some(|r| r.validate_cat.per_sec() > 20_000.0),
        ),
        (
            "validate +catalog p50/p90/p99",
            "p50 < 1 ms",
            |r| pcts(&r.validate_cat),
            Some(|r| r.validate_cat.p50 < Duration::from_millis(1)),
        ),
        (
            "bare axum hello throughput (baseline)",
            "-",
            |r| rate(&r.hello),
            None,
        ),
        (
            "validate ?nocatalog / hello",
            ">= 75%",
            |r| ratio(&r.validate_nocat, &r.hello),
            Some(|r| r.validate_nocat.per_sec() >= 0.75 * r.hello.per_sec()),
        ),
        (
            "validate +catalog / hello",
            ">= 75%",
            |r| ratio(&r.validate_cat, &r.hello),
            Some(|r| r.validate_cat.per_sec() >= 0.75 * r.hello.per_sec()),
        ),
        (
            "list projects (50) throughput",
            "> 10000/s",
            |r| rate(&r.projects),
            Some(|r| r.projects.per_sec() > 10_000.0),
        ),
        (
            "list projects (50) c=1 p50/p90/p99",
            "p50 < 0.3ms",
            |r| pcts(&r.projects_c1),
            Some(|r| r.projects_c1.p50 < Duration::from_micros(300)),
        ),
        (
            "list users (50) throughput",
            "> 10000/s",
            |r| rate(&r.users),
            Some(|r| r.users.per_sec() > 10_000.0),
        ),
        (
            "list users (50) c=1 p50/p90/p99",
            "p50 < 0.3ms",
            |r| pcts(&r.users_c1),
            Some(|r| r.users_c1.p50 < Duration::from_micros(300)),
        ),
        (
            "list projects / users CPU/req srv",
            "-",
            |r| {
                format!(
                    "{:.0} / {:.0} us",
                    r.projects.cpu_per_req().0,
                    r.users.cpu_per_req().0
                )
            },
            None,
        ),
        (
            "validate ?nocatalog CPU/req srv+cli",
            "-",
            |r| cpu(&r.validate_nocat),
            None,
        ),
        (
            "validate +catalog CPU/req srv+cli",
            "-",
            |r| cpu(&r.validate_cat),
            None,
        ),
        (
            "validate errors (nocat + cat)",
            "0",
            |r| format!("{}", r.validate_nocat.errors + r.validate_cat.errors),
            Some(|r| r.validate_nocat.errors + r.validate_cat.errors == 0),
        ),
        (
            "issue token ?nocatalog p50/p99",
            "p50 < 2 ms",
            |r| p50_p99(&r.issue_nocat),
            Some(|r| r.issue_nocat.p50 < Duration::from_millis(2)),
        ),
        (
            "issue token +catalog p50/p99",
            "p50 < 2 ms",
            |r| p50_p99(&r.issue_cat),
            Some(|r| r.issue_cat.p50 < Duration::from_millis(2)),
        ),
        (
            "issue token ?nocatalog server CPU/req",
            "-",
            |r| format!("{:.0} us", r.issue_nocat.cpu_per_req().0),
            None,
        ),
        (
            "issue password p50/p99 (argon2)",
            "-",
            |r| p50_p99(&r.password),
            None,
        ),
        (
            "issue errors (token + password)",
            "0",
            |r| {
                format!(
                    "{}",
                    r.issue_nocat.errors + r.issue_cat.errors + r.password.errors
                )
            },
            Some(|r| r.issue_nocat.errors + r.issue_cat.errors + r.password.errors == 0),
        ),
        (
            "RSS idle after startup",
            "< 50 MiB",
            |r| mib(r.rss_start),
            Some(|r| r.rss_start < 50 * 1024),
        ),
        (
            "RSS idle after load",
            "< 50 MiB",
            |r| mib(r.rss_after),
            Some(|r| r.rss_after < 50 * 1024),
        ),
        ("RSS peak (VmHWM)", "-", |r| mib(r.hwm), None),
        (
            "SIGTERM -> exit",
            "clean",
            |r| {
                format!(
                    "{} {}",
                    ms(r.stop),
                    if r.clean_exit { "clean" } else { "unclean" }
                )
            },
            Some(|r| r.clean_exit),
        ),
        (
            "server stderr written",
            "-",
            |r| format!("{:.1} MiB", r.log_bytes as f64 / 1048576.0),
            None,
        ),
    ];
    println!();
    println!(
        "summary: validation {} req x2 at concurrency {} (max {} s each); token issue {} x2 and password {} sequential; load average now {}",
        o.requests, o.concurrency, o.max_secs, o.issue_requests, o.password_requests, server::loadavg()
    );
    let mut head = format!("{:<40} {:<11}", "figure", "target");
    for r in reports {
        head.push_str(&format!(" | {:<30}", r.mode.label()));
    }
    println!("{head}");
    println!("{}", "-".repeat(head.len()));
    for (name, target, show, ok) in rows {
        let mut line = format!("{name:<40} {target:<11}");
        for r in reports {
            let cell = match ok {
                Some(f) => format!("{} {}", show(r), mark(f(r))),
                None => show(r),
            };
            line.push_str(&format!(" | {cell:<30}"));
        }
        println!("{line}");
    }
}

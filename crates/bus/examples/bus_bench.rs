//! Figures of the bus: round-trip `call` latency (p50, p99) and `cast` throughput, on
//! the in-process transport and, given a broker, over AMQP.
//!
//!     cargo run --release -p bus --example bus_bench -- [--amqp URL] [--calls N] [--casts N]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bus::{BusConfig, Client, Protocol, Server, Transport};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

#[derive(Serialize, Deserialize)]
enum Request {
    Ping { instance: String },
    Count,
}

#[derive(Serialize, Deserialize)]
enum Reply {
    Pong { instance: String },
    Counted,
}

struct Bench;
impl Protocol for Bench {
    const TOPIC: &'static str = "bus-bench";
    type Request = Request;
    type Reply = Reply;
}

struct Args {
    amqp: Option<String>,
    calls: usize,
    casts: usize,
}

fn args() -> Args {
    let mut a = Args {
        amqp: None,
        calls: 20_000,
        casts: 100_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--amqp" => a.amqp = Some(value()),
            "--calls" => a.calls = value().parse().expect("--calls N"),
            "--casts" => a.casts = value().parse().expect("--casts N"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// The `per_mille`th of 1000 of `sorted`.
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    sorted[sorted.len().saturating_sub(1) * per_mille / 1000]
}

/// Operations per second.
fn rate(n: usize, took: Duration) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX)) / took.as_secs_f64()
}

async fn run(name: &str, bus: Arc<dyn Transport>, calls: usize, casts: usize) {
    let (counted_tx, mut counted) = mpsc::unbounded_channel::<()>();
    let server = Server::<Bench>::listen(&*bus, Some("bench"))
        .await
        .expect("listen");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(
        move |req: Request| {
            let counted = counted_tx.clone();
            async move {
                Ok(match req {
                    Request::Ping { instance } => Reply::Pong { instance },
                    Request::Count => {
                        let _ = counted.send(());
                        Reply::Counted
                    }
                })
            }
        },
        async {
            let _ = stopped.await;
        },
    ));
    let client = Client::<Bench>::new(bus.clone());
    let ping = Request::Ping {
        instance: "3f0c5b52-8d6e-4a8f-9a51-1d3b7f2c9e10".into(),
    };
    for _ in 0..calls / 10 {
        client.call(&ping).await.expect("warm-up call");
    }
    let mut lat = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        client.call(&ping).await.expect("call");
        lat.push(t.elapsed());
    }
    let call_took = started.elapsed();
    lat.sort();
    let started = Instant::now();
    for _ in 0..casts {
        client.cast(&Request::Count).await.expect("cast");
    }
    for _ in 0..casts {
        counted.recv().await.expect("server running");
    }
    let cast_took = started.elapsed();
    println!(
        "{name:<11} call p50 {:>7.1} us  p99 {:>7.1} us  ({:>6.0} calls/s, 1 caller)   cast {:>7.0} msgs/s (sent and handled, {casts})",
        percentile(&lat, 500).as_secs_f64() * 1e6,
        percentile(&lat, 990).as_secs_f64() * 1e6,
        rate(calls, call_took),
        rate(casts, cast_took),
    );
    let _ = stop.send(());
    task.await.expect("server");
    bus.close().await;
}

#[tokio::main]
async fn main() {
    let a = args();
    let bus = bus::connect(&BusConfig::default())
        .await
        .expect("in-process");
    run("in-process", bus, a.calls, a.casts).await;
    if let Some(url) = a.amqp {
        let cfg = BusConfig {
            url: Some(url),
            control_exchange: format!("bench-{}", std::process::id()),
            ..BusConfig::default()
        };
        let bus = bus::connect(&cfg).await.expect("connect to the broker");
        run("amqp", bus, a.calls / 4, a.casts / 4).await;
    }
}

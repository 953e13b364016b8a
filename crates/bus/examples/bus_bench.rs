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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let last = sorted.len().saturating_sub(1) as f64;
    sorted[(last * p).round() as usize]
}

async fn run(name: &str, bus: Arc<dyn Transport>, calls: usize, casts: usize) {
    let (counted_tx, mut counted) = mpsc::unbounded_channel::<()>();
    let server = Server::<Bench>::listen(&*bus, Some("bench")).await.expect("listen");
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
    let call_secs = started.elapsed().as_secs_f64();
    lat.sort();
    let started = Instant::now();
    for _ in 0..casts {
        client.cast(&Request::Count).await.expect("cast");
    }
    for _ in 0..casts {
        counted.recv().await.expect("server running");
    }
    let cast_secs = started.elapsed().as_secs_f64();
    println!(
        "{name:<11} call p50 {:>7.1} us  p99 {:>7.1} us  ({:>6.0} calls/s, 1 caller)   cast {:>7.0} msgs/s (sent and handled, {casts})",
        percentile(&lat, 0.50).as_secs_f64() * 1e6,
        percentile(&lat, 0.99).as_secs_f64() * 1e6,
        calls as f64 / call_secs,
        casts as f64 / cast_secs,
    );
    let _ = stop.send(());
    task.await.expect("server");
    bus.close().await;
}

#[tokio::main]
async fn main() {
    let a = args();
    let bus = bus::connect(&BusConfig::default()).await.expect("in-process");
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

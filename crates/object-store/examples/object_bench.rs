//! Object Storage figures on this machine, through the proxy's app layer (three
//! replicas on three device directories of one disk; no HTTP):
//!
//! - 4 KiB objects: PUT and GET per second at concurrency 16, with p50/p99;
//! - 64 MiB objects: PUT and GET MB/s, against `cp` of the same data (a PUT writes
//!   three replicas, so the ratio to one `cp` and to three is printed).
//!
//! `cargo run --release -p object-store --example object_bench [-- <dir>]` (default: a
//! directory under the system's temporary directory, removed at the end).

// figures: counts and sizes as floats and back
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use api_common::{auth::AuthContext, Error};
use bytes::Bytes;
use futures::{stream, StreamExt};
use object_store::{
    app::{self, objects::PutRequest, Caller},
    model::ContainerUpdate,
    Config, ObjectStore,
};

const SMALL: usize = 4096;
const SMALL_COUNT: usize = 2000;
const CONCURRENCY: usize = 16;
const LARGE: usize = 64 << 20;
const LARGE_COUNT: usize = 3;

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn body(data: Bytes) -> impl futures::Stream<Item = Result<Bytes, Error>> + Unpin {
    // 64 KiB chunks, as a client's body arrives
    let chunks: Vec<Result<Bytes, Error>> = (0..data.len())
        .step_by(1 << 16)
        .map(|i| Ok(data.slice(i..(i + (1 << 16)).min(data.len()))))
        .collect();
    stream::iter(chunks)
}

async fn get_all(svc: &ObjectStore, caller: &Caller, name: &str) -> usize {
    let found = svc
        .object_get(caller, "AUTH_bench", "bench", name)
        .await
        .expect("a stored object");
    let f = object_store::disk::open_range(&found.path, 0, found.info.content_length)
        .await
        .expect("an open replica");
    let mut s = tokio_util::io::ReaderStream::with_capacity(f, 1 << 16);
    let mut n = 0;
    while let Some(c) = s.next().await {
        n += c.expect("a read").len();
    }
    n
}

#[tokio::main]
async fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("oxistack-object-bench-{}", std::process::id()))
        });
    let ring = app::default_ring(8, &dir.join("devices")).expect("a ring");
    for d in &ring.devices {
        std::fs::create_dir_all(&d.path).expect("a device");
    }
    let policy = policy::Policy::from_defaults(object_store::policies::DEFAULTS).expect("policy");
    let svc = Arc::new(ObjectStore::new(Config::default(), ring, policy));
    let caller = Caller {
        auth: Some(Arc::new(AuthContext {
            project_id: Some("bench".into()),
            roles: vec!["member".into()],
            ..Default::default()
        })),
        ..Default::default()
    };
    svc.container_create(&caller, "AUTH_bench", "bench", &ContainerUpdate::default())
        .await
        .expect("a container");

    // ---- 4 KiB at concurrency 16
    let small = Bytes::from(vec![7u8; SMALL]);
    for (what, put) in [("PUT", true), ("GET", false)] {
        let started = Instant::now();
        let times: Vec<Duration> = stream::iter(0..SMALL_COUNT)
            .map(|i| {
                let (svc, caller, small) = (svc.clone(), caller.clone(), small.clone());
                async move {
                    let t = Instant::now();
                    let name = format!("small/{i}");
                    if put {
                        let req = PutRequest {
                            content_length: Some(SMALL as u64),
                            ..Default::default()
                        };
                        svc.object_put(&caller, "AUTH_bench", "bench", &name, req, body(small))
                            .await
                            .expect("a put");
                    } else {
                        assert_eq!(get_all(&svc, &caller, &name).await, SMALL);
                    }
                    t.elapsed()
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "4 KiB {what}: {:.0}/s at concurrency {CONCURRENCY} (p50 {:.1} ms, p99 {:.1} ms, {SMALL_COUNT} objects)",
            SMALL_COUNT as f64 / secs,
            pct(times.clone(), 0.5).as_secs_f64() * 1e3,
            pct(times, 0.99).as_secs_f64() * 1e3,
        );
    }

    // ---- 64 MiB, one at a time, against cp
    let large = Bytes::from((0..LARGE).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let src = dir.join("large.src");
    std::fs::write(&src, &large).expect("a source file");
    let started = Instant::now();
    for i in 0..LARGE_COUNT {
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cp {} {}/cp{i} && sync {}/cp{i}",
                src.display(),
                dir.display(),
                dir.display()
            ))
            .status()
            .expect("cp")
            .success();
        assert!(ok);
    }
    let cp = (LARGE * LARGE_COUNT) as f64 / started.elapsed().as_secs_f64() / 1e6;
    println!("cp of 64 MiB (with sync): {cp:.0} MB/s");
    let started = Instant::now();
    for i in 0..LARGE_COUNT {
        let req = PutRequest {
            content_length: Some(LARGE as u64),
            ..Default::default()
        };
        svc.object_put(
            &caller,
            "AUTH_bench",
            "bench",
            &format!("large/{i}"),
            req,
            body(large.clone()),
        )
        .await
        .expect("a put");
    }
    let put = (LARGE * LARGE_COUNT) as f64 / started.elapsed().as_secs_f64() / 1e6;
    println!(
        "64 MiB PUT: {put:.0} MB/s ({:.2} of one cp, {:.2} of three: three replicas, fsynced)",
        put / cp,
        put * 3.0 / cp
    );
    let started = Instant::now();
    for i in 0..LARGE_COUNT {
        assert_eq!(get_all(&svc, &caller, &format!("large/{i}")).await, LARGE);
    }
    let get = (LARGE * LARGE_COUNT) as f64 / started.elapsed().as_secs_f64() / 1e6;
    println!("64 MiB GET: {get:.0} MB/s (from the page cache when it holds the replica)");
    let _ = std::fs::remove_dir_all(&dir);
}

//! Figures for the image service (not a test): run with
//! `cargo run --release -p image --example image_bench [-- SIZE_MIB]`.
//!
//! (a) Upload and download of a 1 GiB file through the real HTTP API on loopback,
//!     against `cp` of the same file on the same disk, with the server's resident
//!     memory before, during and after.
//! (b) Listing 1,000 images, one page of 25: p50 / p99 latency.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use api_common::{auth::AuthLayerState, fixed_tokens::FixedTokens, AuthContext};
use futures::StreamExt;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Samples VmRSS while a transfer runs; returns the peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<()>,
}

impl RssSampler {
    fn start() -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib()));
        let (s, p) = (stop.clone(), peak.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssSampler { stop, peak, handle }
    }
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
        self.peak.load(Ordering::Relaxed)
    }
}

/// CPU seconds used so far: (this process, its waited-for children).
fn cpu_secs() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14), in ticks
    let tick = 100.0;
    ((f[11] + f[12]) / tick, (f[13] + f[14]) / tick)
}

fn make_file(path: &Path, bytes: u64) {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

/// The `per_mille`/1000 quantile (nearest rank) of sorted samples.
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    sorted[((sorted.len() - 1) * per_mille).div_ceil(1000)]
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let size = mib << 20;
    let dir: PathBuf = std::env::var("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::current_dir()
                .unwrap()
                .join("target")
                .join(format!("image-bench-{}", std::process::id()))
        });
    std::fs::create_dir_all(&dir).unwrap();
    println!("image_bench: {mib} MiB file, work dir {}", dir.display());

    let src = dir.join("source.img");
    make_file(&src, size);
    // cp of the same file on the same disk (best of three, after a sync; the source is in
    // page cache, as it will be for the upload). `cat > dst` too, a plain read/write
    // copy (cp may copy inside the kernel).
    let copy = |cmd: &str| {
        let mut best = Duration::MAX;
        for i in 0..3 {
            let dst = dir.join(format!("copy{i}.img"));
            std::process::Command::new("sync").status().unwrap();
            let t = Instant::now();
            let script = format!("{cmd} '{}' > '{}'", src.display(), dst.display());
            let script = if cmd == "cp" {
                format!("cp '{}' '{}'", src.display(), dst.display())
            } else {
                script
            };
            assert!(std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .status()
                .unwrap()
                .success());
            best = best.min(t.elapsed());
            std::fs::remove_file(dst).unwrap();
        }
        best
    };
    let (_, child0) = cpu_secs();
    let cp_best = copy("cp");
    let (_, child1) = cpu_secs();
    let cat_best = copy("cat");
    let (_, child2) = cpu_secs();
    let gib = size as f64 / (1u64 << 30) as f64;
    println!(
        "CPU per GiB copied: cp {:.2} s, cat {:.2} s",
        (child1 - child0) / 3.0 / gib,
        (child2 - child1) / 3.0 / gib
    );
    std::process::Command::new("sync").status().unwrap();
    let cp_rate = mbps(size, cp_best);
    println!(
        "cp:        {cp_rate:8.1} MB/s ({:.2} s)",
        cp_best.as_secs_f64()
    );
    println!(
        "cat:       {:8.1} MB/s ({:.2} s)",
        mbps(size, cat_best),
        cat_best.as_secs_f64()
    );

    // The service on a real listener.
    let db = db::Db::connect(&format!("sqlite://{}/image.db", dir.display()), 8)
        .await
        .unwrap();
    db.migrate("image", image::MIGRATIONS).await.unwrap();
    db.migrate(saga::SERVICE, saga::MIGRATIONS).await.unwrap();
    let svc = image::start(db, image::Config::default(), &dir, None, "bench")
        .await
        .unwrap();
    let ctx = Arc::new(AuthContext {
        token: "t".into(),
        user_id: "u".into(),
        project_id: Some("p".into()),
        roles: vec!["admin".into(), "member".into(), "reader".into()],
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        ..Default::default()
    });
    let auth = AuthLayerState {
        validator: Arc::new(FixedTokens::default().with(
            "t",
            "u",
            "p",
            &["admin", "member", "reader"],
        )),
        identity_uri: String::new(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let app = image::api::router(svc.clone(), base.clone(), auth);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();

    // (a) upload
    let created: serde_json::Value = http
        .post(format!("{base}/v2/images"))
        .header("x-auth-token", "t")
        .json(
            &serde_json::json!({"name": "bench", "disk_format": "raw", "container_format": "bare"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let rss_before = rss_kib();
    let sampler = RssSampler::start();
    let cpu0 = cpu_secs().0;
    let t = Instant::now();
    let file = tokio::fs::File::open(&src).await.unwrap();
    let body =
        reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
    let resp = http
        .put(format!("{base}/v2/images/{id}/file"))
        .header("x-auth-token", "t")
        .header("content-type", "application/octet-stream")
        .header("content-length", size)
        .body(body)
        .send()
        .await
        .unwrap();
    let up = t.elapsed();
    let up_cpu = cpu_secs().0 - cpu0;
    let rss_up_peak = sampler.finish();
    assert_eq!(
        resp.status(),
        204,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let rss_after_up = rss_kib();
    let up_rate = mbps(size, up);
    println!(
        "upload:    {up_rate:8.1} MB/s ({:.2} s), {:.0}% of cp (md5 + sha512 + format inspection)",
        up.as_secs_f64(),
        100.0 * up_rate / cp_rate
    );

    // download
    let sampler = RssSampler::start();
    let cpu0 = cpu_secs().0;
    let t = Instant::now();
    let resp = http
        .get(format!("{base}/v2/images/{id}/file"))
        .header("x-auth-token", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut got = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(c) = stream.next().await {
        got += c.unwrap().len() as u64;
    }
    let down = t.elapsed();
    let down_cpu = cpu_secs().0 - cpu0;
    let gib = size as f64 / (1u64 << 30) as f64;
    println!(
        "CPU per GiB (client and server, one process): upload {:.2} s, download {:.2} s",
        up_cpu / gib,
        down_cpu / gib
    );
    let rss_down_peak = sampler.finish();
    assert_eq!(got, size);
    let down_rate = mbps(size, down);
    println!(
        "download:  {down_rate:8.1} MB/s ({:.2} s), {:.0}% of cp",
        down.as_secs_f64(),
        100.0 * down_rate / cp_rate
    );
    println!(
        "RSS (KiB): before {rss_before}, peak during upload {rss_up_peak}, after upload {rss_after_up}, peak during download {rss_down_peak}, after {}",
        rss_kib()
    );

    // The same upload with os_hash sha256 (Glance's `hashing_algorithm`), for reference.
    {
        let cfg = image::Config {
            hashing_algorithm: image::HashAlgo::Sha256,
            ..Default::default()
        };
        let d2 = dir.join("sha256");
        std::fs::create_dir_all(&d2).unwrap();
        let db = db::Db::connect(&format!("sqlite://{}/image.db", d2.display()), 4)
            .await
            .unwrap();
        db.migrate("image", image::MIGRATIONS).await.unwrap();
        db.migrate(saga::SERVICE, saga::MIGRATIONS).await.unwrap();
        let svc2 = image::start(db, cfg, &d2, None, "bench").await.unwrap();
        let caller_ctx = ctx.clone();
        let caller = svc2.caller(&caller_ctx);
        let n = image::app::NewImage {
            name: Some("bench-sha256".into()),
            disk_format: Some("raw".into()),
            container_format: Some("bare".into()),
            ..Default::default()
        };
        let img = svc2.create_image(&caller, n).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base2 = format!("http://{}", listener.local_addr().unwrap());
        let auth = AuthLayerState {
            validator: Arc::new(FixedTokens::default().with(
                "t",
                "u",
                "p",
                &["admin", "member", "reader"],
            )),
            identity_uri: String::new(),
        };
        let app = image::api::router(svc2.clone(), base2.clone(), auth);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let cpu0 = cpu_secs().0;
        let t = Instant::now();
        let file = tokio::fs::File::open(&src).await.unwrap();
        let body =
            reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
        let resp = http
            .put(format!("{base2}/v2/images/{}/file", img.id))
            .header("x-auth-token", "t")
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        let el = t.elapsed();
        println!(
            "upload with hashing_algorithm=sha256: {:8.1} MB/s, {:.0}% of cp, CPU {:.2} s per GiB",
            mbps(size, el),
            100.0 * mbps(size, el) / cp_rate,
            (cpu_secs().0 - cpu0) / (size as f64 / (1u64 << 30) as f64)
        );
        let _ = std::fs::remove_dir_all(&d2);
    }

    // Hashing alone, single thread, for reference.
    {
        use md5::Digest as _;
        let buf = vec![0xA5u8; 64 << 20];
        let t = Instant::now();
        let mut m = md5::Md5::new();
        m.update(&buf);
        let _ = m.finalize();
        let md5_rate = mbps(buf.len() as u64, t.elapsed());
        let t = Instant::now();
        let mut s = sha2::Sha512::new();
        s.update(&buf);
        let _ = s.finalize();
        let sha_rate = mbps(buf.len() as u64, t.elapsed());
        let t = Instant::now();
        let mut s = sha2::Sha256::new();
        s.update(&buf);
        let _ = s.finalize();
        println!(
            "reference: sha256 {:.0} MB/s on one core",
            mbps(buf.len() as u64, t.elapsed())
        );
        println!("reference: md5 {md5_rate:.0} MB/s, sha512 {sha_rate:.0} MB/s on one core; both in sequence {:.0} MB/s", 1.0 / (1.0 / md5_rate + 1.0 / sha_rate));
    }

    // (b) list: 1,000 images, a page of 25
    let caller_ctx = ctx.clone();
    let caller = svc.caller(&caller_ctx);
    for i in 0..1000 {
        let n = image::app::NewImage {
            name: Some(format!("img-{i:04}")),
            disk_format: Some("qcow2".into()),
            container_format: Some("bare".into()),
            properties: [("os_distro".to_owned(), Some("cirros".to_owned()))].into(),
            tags: ["bench".to_owned()].into(),
            ..Default::default()
        };
        svc.create_image(&caller, n).await.unwrap();
    }
    let url = format!("{base}/v2/images?limit=25");
    for _ in 0..50 {
        http.get(&url)
            .header("x-auth-token", "t")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let mut times = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        let r = http
            .get(&url)
            .header("x-auth-token", "t")
            .send()
            .await
            .unwrap();
        let body = r.bytes().await.unwrap();
        times.push(t.elapsed());
        assert!(body.len() > 1000);
    }
    times.sort();
    println!(
        "list 25 of 1001 images over HTTP: p50 {:.3} ms, p99 {:.3} ms",
        percentile(&times, 500).as_secs_f64() * 1e3,
        percentile(&times, 990).as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
}

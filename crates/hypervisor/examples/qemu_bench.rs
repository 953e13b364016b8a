//! Time to READY and to SSH of the test image: QEMU started by hand with a minimal
//! command line vs. the QEMU driver's `spawn`, same guest, same run, alternating.
//!
//!   cargo run --release -p hypervisor --example qemu_bench [-- ROUNDS]
//!
//! As root (a network namespace with a bridge, dnsmasq and a metadata server serving
//! an SSH key; QEMU runs inside it). One guest at a time, TCG.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use hypervisor::{
    qemu::{Config, Qemu, VirtType},
    Driver, InstanceSpec, MachineOptions, Nic, RootDisk,
};
use test_image_check::{self as timg, sandbox::*};

const TIMEOUT: Duration = Duration::from_secs(180);

struct Times {
    ready: Duration,
    ssh: Duration,
    /// The guest's own uptime at READY (its serial line), in seconds.
    guest: String,
}

fn ready_ip(log: &str) -> Option<String> {
    timg::is_ready(log)
        .then(|| timg::serial_value(log, "ip"))
        .flatten()
}

/// From `started`: READY on the console (read by `console`), then SSH answering.
async fn measure<F, Fut>(sb: &Sandbox, key: &Path, started: Instant, console: F) -> Times
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let (ip, guest) = loop {
        let log = console().await;
        if let Some(ip) = ready_ip(&log) {
            break (ip, timg::serial_value(&log, "uptime").unwrap_or_default());
        }
        assert!(started.elapsed() < TIMEOUT, "no READY within {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ready = started.elapsed();
    loop {
        let out = sb
            .ssh(key, &ip, "true")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        assert!(started.elapsed() < TIMEOUT, "no SSH within {TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Times {
        ready,
        ssh: started.elapsed(),
        guest,
    }
}

async fn by_hand(sb: &mut Sandbox, key: &Path, a: &timg::Artifacts, round: usize) -> Times {
    let overlay = sb.path(&format!("hand-{round}.qcow2"));
    run_ok(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&a.qcow2)
            .arg(&overlay),
    );
    let log = sb.path(&format!("hand-{round}.log"));
    let tap = format!("taphand{round}");
    let mut qemu = sb.ns_command("qemu-system-x86_64");
    qemu.args(["-accel", "tcg", "-m", "256", "-smp", "1", "-nodefaults"])
        .args(["-display", "none", "-serial"])
        .arg(format!("file:{}", log.display()))
        .arg("-blockdev")
        .arg(format!(
            "driver=qcow2,node-name=root,file.driver=file,file.filename={}",
            overlay.display()
        ))
        .args([
            "-device",
            "virtio-blk-pci,drive=root,bootindex=0",
            "-netdev",
        ])
        .arg(format!(
            "tap,id=n0,ifname={tap},script=no,downscript=no,vhost=off"
        ))
        .args([
            "-device",
            &format!("virtio-net-pci,netdev=n0,mac=fa:16:3e:00:99:{round:02x}"),
        ]);
    let label = format!("qemu-hand-{round}");
    let started = Instant::now();
    sb.spawn(&label, qemu);
    sb.plug(&tap, Duration::from_secs(30)).unwrap();
    let t = measure(sb, key, started, || async {
        String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned()
    })
    .await;
    sb.stop(&label);
    t
}

async fn by_driver(
    sb: &Sandbox,
    d: &Qemu,
    key: &Path,
    a: &timg::Artifacts,
    round: usize,
) -> (Times, Duration) {
    let id = uuid::Uuid::new_v4().to_string();
    let port_id = uuid::Uuid::new_v4().to_string();
    let tap = format!("tap{}", &port_id[..11]);
    let spec = InstanceSpec {
        name: format!("bench-{round}"),
        id: id.clone(),
        vcpus: 1,
        memory_mb: 256,
        root: RootDisk {
            base: a.qcow2.clone(),
            base_format: "qcow2".into(),
            size_gb: 1,
        },
        ephemeral_gb: 0,
        swap_mb: 0,
        nics: vec![Nic {
            port_id,
            mac: format!("fa:16:3e:00:98:{round:02x}"),
            tap: tap.clone(),
            mtu: 1500,
        }],
        config_drive: None,
        machine: MachineOptions::default(),
    };
    let started = Instant::now();
    d.spawn(&spec).await.unwrap();
    let spawned = started.elapsed();
    sb.plug(&tap, Duration::from_secs(30)).unwrap();
    let t = measure(sb, key, started, || async {
        d.console_log(&id, 1 << 20).await.unwrap()
    })
    .await;
    d.destroy(&id).await.unwrap();
    (t, spawned)
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse().expect("ROUNDS is a number"))
        .unwrap_or(3);
    assert!(is_root(), "run as root (network namespaces, taps)");
    let a = timg::build_once().unwrap_or_else(|e| panic!("building the test image: {e}"));
    let mut sb = Sandbox::new("qemu-bench");
    sb.create_netns();
    let (key, public_key) = ssh_keypair(&sb);
    write(
        &sb.path("metadata/openstack/latest/meta_data.json"),
        &openstack_meta_data("bench", &public_key),
    );
    start_network_services(&mut sb);
    let wrapper = sb.ns_wrapper("qemu-system-x86_64");
    let d = Qemu::new(Config {
        instances_dir: sb.path("instances"),
        virt_type: VirtType::Qemu,
        qemu_binary: wrapper,
        ..Config::default()
    })
    .await
    .unwrap();

    println!("round  how            READY s  SSH s  guest uptime at READY s  (spawn returned s)");
    let (mut hand, mut driver) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let h = by_hand(&mut sb, &key, a, round).await;
        println!(
            "{round:>5}  by hand        {:>7}  {:>5}  {:>23}",
            secs(h.ready),
            secs(h.ssh),
            h.guest
        );
        let (t, spawned) = by_driver(&sb, &d, &key, a, round).await;
        println!(
            "{round:>5}  driver spawn   {:>7}  {:>5}  {:>23}  ({})",
            secs(t.ready),
            secs(t.ssh),
            t.guest,
            secs(spawned)
        );
        hand.push(h);
        driver.push(t);
    }
    let med = |v: &[Times], f: fn(&Times) -> Duration| secs(median(v.iter().map(f).collect()));
    println!(
        "median over {rounds}: by hand READY {} s, SSH {} s; driver READY {} s, SSH {} s",
        med(&hand, |t| t.ready),
        med(&hand, |t| t.ssh),
        med(&driver, |t| t.ready),
        med(&driver, |t| t.ssh),
    );
}

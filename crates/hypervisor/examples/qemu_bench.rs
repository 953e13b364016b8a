//! Time to READY and to SSH of the test image: QEMU started by hand with a minimal
//! command line vs. the QEMU driver's `spawn`, same guest, same run, alternating.
//!
//!   cargo run --release -p hypervisor --example qemu_bench [-- ROUNDS]
//!
//! As root (a network namespace with a bridge, dnsmasq and a metadata server serving
//! an SSH key; QEMU runs inside it). One guest at a time, TCG.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use hypervisor::{
    qemu::{Config, Qemu, VirtType},
    Driver, InstanceSpec, MachineOptions, Nic, RootDisk,
};
use test_image_check::{
    self as timg,
    sandbox::*,
    timing::{boot_by_hand, measure, median, secs, Times},
};

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
    let console = sb.path("instances").join(&id).join("console.log");
    let t = measure(sb, key, started, || {
        String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).into_owned()
    });
    d.destroy(&id).await.unwrap();
    (t, spawned)
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
        let h = boot_by_hand(&mut sb, &key, a, round);
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

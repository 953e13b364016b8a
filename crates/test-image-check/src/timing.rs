//! Timing the test image's boot: from a start to READY on its serial console, then to
//! SSH answering; and the reference boot, QEMU started by hand with a minimal command
//! line in a [`Sandbox`] (what the QEMU driver's and the whole cloud's boots are
//! compared with: `hypervisor`'s `qemu_bench` example, `bench -- boot`).

use std::{
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    is_ready,
    sandbox::{run_ok, Sandbox},
    serial_value, Artifacts,
};

/// How long one boot may take to READY and to SSH.
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// One boot's figures, from its start.
#[derive(Debug, Clone)]
pub struct Times {
    pub ready: Duration,
    pub ssh: Duration,
    /// The guest's own uptime at READY (its serial line), in seconds.
    pub guest: String,
}

fn ready_ip(log: &str) -> Option<String> {
    is_ready(log).then(|| serial_value(log, "ip")).flatten()
}

/// From `started`: READY on the console (read by `console`), then SSH answering (as
/// root with `key`, from the sandbox's namespace).
pub fn measure(sb: &Sandbox, key: &Path, started: Instant, console: impl Fn() -> String) -> Times {
    let (ip, guest) = loop {
        let log = console();
        if let Some(ip) = ready_ip(&log) {
            break (ip, serial_value(&log, "uptime").unwrap_or_default());
        }
        assert!(started.elapsed() < TIMEOUT, "no READY within {TIMEOUT:?}");
        thread::sleep(Duration::from_millis(50));
    };
    let ready = started.elapsed();
    loop {
        let out = sb
            .ssh(key, &ip, "true")
            .stdin(Stdio::null())
            .output()
            .expect("ssh");
        if out.status.success() {
            break;
        }
        assert!(started.elapsed() < TIMEOUT, "no SSH within {TIMEOUT:?}");
        thread::sleep(Duration::from_millis(100));
    }
    Times {
        ready,
        ssh: started.elapsed(),
        guest,
    }
}

/// The test image's disk booted by hand (TCG, 256 MiB, one virtio disk on a qcow2
/// overlay and one virtio NIC on a tap of the sandbox's bridge): its figures from the
/// QEMU command's start. The sandbox must have its namespace and network services
/// ([`crate::sandbox::start_network_services`]) with `key`'s public half in its
/// metadata.
pub fn boot_by_hand(sb: &mut Sandbox, key: &Path, a: &Artifacts, round: usize) -> Times {
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
    sb.plug(&tap, Duration::from_secs(30))
        .expect("plug the tap");
    let t = measure(sb, key, started, || {
        String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned()
    });
    sb.stop(&label);
    t
}

/// Seconds with one decimal.
pub fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// The median (the upper one of an even count); zero for none.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

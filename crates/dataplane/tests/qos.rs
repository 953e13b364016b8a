//! Test 4: a rate-limited port: tc qdiscs and filter in place (read back by `tc -j`),
//! idempotent, removed with the limit, and the rate roughly measured.

mod common;

use common::*;
use dataplane::plan::QosPlan;

/// Seconds to send `bytes` from `from` to `to_ip` over TCP (bash /dev/tcp to busybox nc).
fn transfer_seconds(from: &Vm, to: &Vm, to_ip: &str, bytes: usize) -> f64 {
    let mut listener = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &to.ns.name,
            "sh",
            "-c",
            "busybox nc -l -p 5001 > /dev/null",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    from.ns.exec(&format!(
        "bash -c 'exec 3<>/dev/tcp/{to_ip}/5001; head -c {bytes} /dev/zero >&3; exec 3>&-'"
    ));
    // the sender's last bytes may still be queued: wait for the receiver to see EOF
    let _ = listener.wait();
    started.elapsed().as_secs_f64()
}

#[test]
fn a_rate_limited_port_is_shaped_both_ways() {
    if !can_run() {
        return;
    }
    let Lan {
        host,
        a,
        b,
        net,
        mut plan,
    } = Lan::new("10.6.0", 3);
    plan.ports[0].qos = Some(QosPlan {
        max_kbps: 8000,
        max_burst_kbps: 800,
    });
    let first = host.apply(&plan);
    assert!(
        first
            .changes
            .contains(&format!("set qos 8000 kbit/s on {}", a.tap)),
        "{:?}",
        first.changes
    );
    let qdiscs = host.ns.exec(&format!("tc -j qdisc show dev {}", a.tap));
    assert!(
        qdiscs.contains("\"kind\":\"tbf\"") && qdiscs.contains("\"kind\":\"ingress\""),
        "{qdiscs}"
    );
    let ifb = dataplane::names::ifb(&a.tap);
    let filters = host
        .ns
        .exec(&format!("tc -j filter show dev {} ingress", a.tap));
    assert!(
        filters.contains(&format!("\"to_dev\":\"{ifb}\"")),
        "{filters}"
    );
    let ifb_qdiscs = host.ns.exec(&format!("tc -j qdisc show dev {ifb}"));
    assert!(ifb_qdiscs.contains("\"kind\":\"tbf\""), "{ifb_qdiscs}");
    assert_eq!(host.apply(&plan).changes, Vec::<String>::new());

    // 2 MB at 8 Mbit/s takes about 2 s (the burst allows 100 kB at once)
    let up = transfer_seconds(&a, &b, "10.6.0.11", 2_000_000);
    let down = transfer_seconds(&b, &a, "10.6.0.10", 2_000_000);
    eprintln!("2 MB through an 8 Mbit/s port: from it {up:.2} s, to it {down:.2} s");
    assert!(up > 1.4, "egress of the VM not policed: {up} s");
    assert!(down > 1.4, "ingress of the VM not shaped: {down} s");

    plan.ports[0].qos = None;
    let mut removed = host.apply(&plan).changes;
    removed.sort();
    assert_eq!(
        removed,
        vec![
            format!("deleted {ifb} of network {net}"),
            format!("removed qos from {}", a.tap)
        ]
    );
    let qdiscs = host.ns.exec(&format!("tc -j qdisc show dev {}", a.tap));
    assert!(
        !qdiscs.contains("tbf") && !qdiscs.contains("ingress"),
        "{qdiscs}"
    );
    let unlimited = transfer_seconds(&a, &b, "10.6.0.11", 2_000_000);
    eprintln!("unlimited: {unlimited:.2} s");
    assert!(unlimited < 1.0);
}

//! Test 2: security groups. Ingress denied by default, allowed by a rule; a rewrite of
//! the rules does not cut an established flow; a VM that takes another IP (spoofing)
//! reaches nobody; a port can never answer DHCP.

mod common;

use common::*;
use dataplane::plan::{Direction, SecurityPlan, SgRule};

/// Whether a UDP datagram from `from`'s port 67 (a DHCP server's) reaches `to`'s
/// port 68 (`to`'s ingress allows DHCP replies).
fn dhcp_answer_delivered(from: &Vm, to: &Vm, to_ip: &str) -> bool {
    let py = |code: &str| {
        format!("python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); {code}\"")
    };
    let mut receiver = spawn_in(
        &to.ns,
        &py("s.bind(('0.0.0.0', 68)); s.settimeout(2); s.recv(100)"),
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    from.ns.exec(&py(&format!(
        "s.bind(('0.0.0.0', 67)); s.sendto(b'offer', ('{to_ip}', 68))"
    )));
    receiver.wait().expect("receiver").success()
}

fn security(rules: Vec<SgRule>) -> Option<SecurityPlan> {
    Some(SecurityPlan {
        allowed_pairs: vec![],
        rules,
        stateful: true,
    })
}

#[test]
fn ingress_is_denied_until_allowed_and_rewrites_keep_flows_and_spoofers_are_cut() {
    if !can_run() {
        return;
    }
    let Lan {
        host,
        a,
        b,
        mut plan,
        ..
    } = Lan::new("10.8.0", 1);
    let t = tag();
    let egress_any = rule(Direction::Egress, None, None);
    plan.ports[0].security = security(vec![egress_any.clone()]);
    plan.ports[1].security = security(vec![
        egress_any.clone(),
        rule(Direction::Ingress, Some(6), Some(5000)),
    ]);
    let first = host.apply(&plan);
    assert_eq!(first.wired.len(), 2);
    assert!(
        !a.ping("10.8.0.11"),
        "ingress ICMP must be denied by default"
    );
    assert!(
        !b.ping("10.8.0.10"),
        "ingress ICMP must be denied by default"
    );

    // an established TCP flow a -> b (allowed by b's tcp/5000 rule)
    let received = std::env::temp_dir().join(format!("dpt-flow-{t}"));
    let listener = spawn_in(
        &b.ns,
        &format!("busybox nc -l -p 5000 > {}", received.display()),
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    // busybox nc sends only its first read: bash keeps writing to one connection
    let sender = spawn_in(
        &a.ns,
        "exec bash -c 'exec 3<>/dev/tcp/10.8.0.11/5000; while true; do echo tick >&3; sleep 0.1; done'",
    );
    let size = || std::fs::metadata(&received).map(|m| m.len()).unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(size() > 0, "the flow did not start");
    let before = size();
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(size() > before, "the flow stalled before any rewrite");

    // allow ICMP to both; drop b's tcp/5000 rule: the established flow goes on
    plan.ports[0].security = security(vec![
        egress_any.clone(),
        rule(Direction::Ingress, Some(1), None),
    ]);
    plan.ports[1].security = security(vec![
        egress_any.clone(),
        rule(Direction::Ingress, Some(1), None),
    ]);
    let second = host.apply(&plan);
    eprintln!("second apply: {:?}", second.changes);
    let mut changed = second.changes.clone();
    changed.sort();
    let mut want = vec![
        format!("rewrote nft chain inet ing_{}", a.tap),
        format!("rewrote nft chain inet ing_{}", b.tap),
    ];
    want.sort();
    assert_eq!(changed, want);
    assert!(
        a.ping("10.8.0.11") && b.ping("10.8.0.10"),
        "ICMP allowed by the new rule"
    );
    let before = size();
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(
        size() > before,
        "the established flow was cut by the rewrite"
    );
    assert_eq!(host.apply(&plan).changes, Vec::<String>::new());

    // a rule deleted by hand comes back, only that chain is rewritten
    let chain = format!("ing_{}", b.tap);
    let listing = host
        .ns
        .exec(&format!("nft -a list chain inet oxitest {chain}"));
    let handle = listing
        .lines()
        .find(|l| l.contains("ct state established"))
        .and_then(|l| l.rsplit("handle ").next())
        .unwrap()
        .trim()
        .to_owned();
    host.ns.exec(&format!(
        "nft delete rule inet oxitest {chain} handle {handle}"
    ));
    assert_eq!(
        host.apply(&plan).changes,
        vec![format!("rewrote nft chain inet {chain}")]
    );

    // a port can never answer DHCP
    assert!(
        !dhcp_answer_delivered(&a, &b, "10.8.0.11"),
        "a secured port answered DHCP"
    );

    // spoofing: a takes another address; nothing passes (no new flow, no ping)
    a.set_ip("10.8.0.99/24");
    assert!(!a.ping("10.8.0.11"), "a spoofed source address passed");
    a.set_ip("10.8.0.10/24");
    assert!(a.ping_soon("10.8.0.11", 3));

    // port security disabled: no filtering at all, its chains removed
    plan.ports[0].security = None;
    let off = host.apply(&plan);
    assert!(
        off.changes
            .contains(&format!("deleted nft chain inet ing_{}", a.tap)),
        "{:?}",
        off.changes
    );
    assert!(
        dhcp_answer_delivered(&a, &b, "10.8.0.11"),
        "control: an unfiltered port's datagram"
    );
    a.set_ip("10.8.0.99/24");
    assert!(
        b.ping_soon("10.8.0.99", 3),
        "an unfiltered port may use any address"
    );

    for mut child in [sender, listener] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_file(&received);
}

//! Test 2: security groups. Ingress denied by default, allowed by a rule; a rewrite of
//! the rules does not cut an established flow; a VM that takes another IP (spoofing)
//! reaches nobody; a port can never answer DHCP.

mod common;

use common::*;
use dataplane::plan::{Direction, Ethertype, HostPlan, NetworkKind, NetworkPlan, Remote, SecurityPlan, SgRule};

fn rule(direction: Direction, protocol: Option<u8>, port: Option<u16>) -> SgRule {
    SgRule { direction, ethertype: Ethertype::V4, protocol, port_min: port, port_max: port, remote: Remote::Any }
}

fn security(rules: Vec<SgRule>) -> Option<SecurityPlan> {
    Some(SecurityPlan { allowed_pairs: vec![], rules, stateful: true })
}

#[test]
fn ingress_is_denied_until_allowed_and_rewrites_keep_flows_and_spoofers_are_cut() {
    if !can_run() {
        return;
    }
    let t = tag();
    let net = id();
    let (pa, pb) = (id(), id());
    let host = Host::new(format!("dpt-h-{t}"));
    let a = Vm::new(format!("dpt-a-{t}"), &host, &pa, "fa:16:3e:00:01:0a");
    let b = Vm::new(format!("dpt-b-{t}"), &host, &pb, "fa:16:3e:00:01:0b");
    a.set_ip("10.8.0.10/24");
    b.set_ip("10.8.0.11/24");
    let egress_any = rule(Direction::Egress, None, None);
    let mut plan = HostPlan {
        networks: vec![NetworkPlan { id: net.clone(), kind: NetworkKind::Local, mtu: 1500, dhcp: None }],
        ports: vec![port(&pa, &net, &a, "10.8.0.10"), port(&pb, &net, &b, "10.8.0.11")],
    };
    plan.ports[0].security = security(vec![egress_any.clone()]);
    plan.ports[1].security = security(vec![egress_any.clone(), rule(Direction::Ingress, Some(6), Some(5000))]);
    let first = host.apply(&plan);
    assert_eq!(first.wired.len(), 2);
    assert!(!a.ping("10.8.0.11"), "ingress ICMP must be denied by default");
    assert!(!b.ping("10.8.0.10"), "ingress ICMP must be denied by default");

    // an established TCP flow a -> b (allowed by b's tcp/5000 rule)
    let received = std::env::temp_dir().join(format!("dpt-flow-{t}"));
    let listener = std::process::Command::new("ip")
        .args(["netns", "exec", &b.ns.name, "sh", "-c", &format!("busybox nc -l -p 5000 > {}", received.display())])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let sender = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &a.ns.name,
            "bash",
            "-c",
            // busybox nc sends only its first read: bash keeps writing to one connection
            "exec 3<>/dev/tcp/10.8.0.11/5000; while true; do echo tick >&3; sleep 0.1; done",
        ])
        .spawn()
        .unwrap();
    let size = || std::fs::metadata(&received).map(|m| m.len()).unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(size() > 0, "the flow did not start");
    let before = size();
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(size() > before, "the flow stalled before any rewrite");

    // allow ICMP to both; drop b's tcp/5000 rule: the established flow goes on
    plan.ports[0].security = security(vec![egress_any.clone(), rule(Direction::Ingress, Some(1), None)]);
    plan.ports[1].security = security(vec![egress_any.clone(), rule(Direction::Ingress, Some(1), None)]);
    let second = host.apply(&plan);
    eprintln!("second apply: {:?}", second.changes);
    let mut changed = second.changes.clone();
    changed.sort();
    assert_eq!(
        changed,
        vec![format!("rewrote nft chain inet ing_{}", a.tap), format!("rewrote nft chain inet ing_{}", b.tap)]
    );
    assert!(a.ping("10.8.0.11") && b.ping("10.8.0.10"), "ICMP allowed by the new rule");
    let before = size();
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(size() > before, "the established flow was cut by the rewrite");
    assert_eq!(host.apply(&plan).changes, Vec::<String>::new());

    // a rule deleted by hand comes back, only that chain is rewritten
    let chain = format!("ing_{}", b.tap);
    let listing = host.ns.exec(&format!("nft -a list chain inet oxitest {chain}"));
    let handle = listing.lines().find(|l| l.contains("ct state established")).and_then(|l| l.rsplit("handle ").next()).unwrap().trim().to_owned();
    host.ns.exec(&format!("nft delete rule inet oxitest {chain} handle {handle}"));
    assert_eq!(host.apply(&plan).changes, vec![format!("rewrote nft chain inet {chain}")]);

    // spoofing: a takes another address; nothing passes (no new flow, no ping)
    a.set_ip("10.8.0.99/24");
    assert!(!a.ping("10.8.0.11"), "a spoofed source address passed");
    a.set_ip("10.8.0.10/24");
    assert!(a.ping_soon("10.8.0.11", 3));

    // port security disabled: no filtering at all, its chains removed
    plan.ports[0].security = None;
    let off = host.apply(&plan);
    assert!(off.changes.contains(&format!("deleted nft chain inet ing_{}", a.tap)), "{:?}", off.changes);
    a.set_ip("10.8.0.99/24");
    assert!(b.ping_soon("10.8.0.99", 3), "an unfiltered port may use any address");

    for mut child in [sender, listener] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_file(&received);
}

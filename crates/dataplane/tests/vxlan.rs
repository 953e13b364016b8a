//! Test 3: VXLAN between two hosts over a veth underlay, l2population-style forwarding
//! entries from the plan; re-applying one host does not disturb the other.

mod common;

use common::*;
use dataplane::names;
use dataplane::plan::{FdbEntry, HostPlan, NetworkKind, NetworkPlan};

#[test]
fn vms_on_two_hosts_reach_each_other_over_vxlan() {
    if !can_run() {
        return;
    }
    let t = tag();
    let net = id();
    let (pa, pb) = (id(), id());
    let h1 = Host::new(format!("dpt-h1-{t}"));
    let h2 = Host::new(format!("dpt-h2-{t}"));
    sh(&format!(
        "ip -n {} link add ul type veth peer name ul netns {}",
        h1.ns.name, h2.ns.name
    ));
    h1.ns.exec("ip addr add 192.168.77.1/24 dev ul");
    h2.ns.exec("ip addr add 192.168.77.2/24 dev ul");
    h1.ns.exec("ip link set ul up");
    h2.ns.exec("ip link set ul up");
    let a = Vm::new(format!("dpt-a-{t}"), &h1, &pa, "fa:16:3e:00:02:0a");
    let b = Vm::new(format!("dpt-b-{t}"), &h2, &pb, "fa:16:3e:00:02:0b");
    a.set_ip("10.7.0.10/24");
    b.set_ip("10.7.0.11/24");
    let vni = 4000 + std::process::id() % 1000;
    let plan = |local: &str, peer: &str, remote_mac: &str, port| HostPlan {
        networks: vec![NetworkPlan {
            id: net.clone(),
            kind: NetworkKind::Vxlan {
                vni,
                local_ip: local.parse().unwrap(),
                peers: vec![peer.parse().unwrap()],
                fdb: vec![FdbEntry {
                    mac: remote_mac.into(),
                    peer: peer.parse().unwrap(),
                }],
            },
            mtu: 1450,
            dhcp: None,
            host_address: None,
        }],
        ports: vec![port],
        ..Default::default()
    };
    let p1 = plan(
        "192.168.77.1",
        "192.168.77.2",
        &b.mac,
        port(&pa, &net, &a, "10.7.0.10"),
    );
    let p2 = plan(
        "192.168.77.2",
        "192.168.77.1",
        &a.mac,
        port(&pb, &net, &b, "10.7.0.11"),
    );
    let first = h1.apply(&p1);
    assert!(
        first
            .changes
            .contains(&format!("created vxlan {}", names::vxlan(vni))),
        "{:?}",
        first.changes
    );
    assert!(first.changes.contains(&format!(
        "added fdb {} dst 192.168.77.2 on {}",
        b.mac,
        names::vxlan(vni)
    )));
    h2.apply(&p2);
    assert!(a.ping_soon("10.7.0.11", 3), "a cannot reach b over vxlan");
    let link = h1
        .ns
        .exec(&format!("ip -d link show {}", names::vxlan(vni)));
    assert!(
        link.contains("nolearning") && link.contains("mtu 1450"),
        "{link}"
    );

    // re-applying one host changes nothing and the other keeps working
    assert_eq!(h1.apply(&p1).changes, Vec::<String>::new());
    assert!(a.ping("10.7.0.11"));
    // a third port elsewhere appears in h1's plan: one entry added, traffic unaffected
    let mut more = p1.clone();
    if let NetworkKind::Vxlan { fdb, .. } = &mut more.networks[0].kind {
        fdb.push(FdbEntry {
            mac: "fa:16:3e:00:02:0c".into(),
            peer: "192.168.77.2".parse().unwrap(),
        });
    }
    assert_eq!(
        h1.apply(&more).changes,
        vec![format!(
            "added fdb fa:16:3e:00:02:0c dst 192.168.77.2 on {}",
            names::vxlan(vni)
        )]
    );
    assert!(a.ping("10.7.0.11") && b.ping("10.7.0.10"));
    // an fdb entry deleted by hand comes back
    h1.ns.exec(&format!(
        "bridge fdb del {} dev {} dst 192.168.77.2",
        b.mac,
        names::vxlan(vni)
    ));
    assert_eq!(
        h1.apply(&more).changes,
        vec![format!(
            "added fdb {} dst 192.168.77.2 on {}",
            b.mac,
            names::vxlan(vni)
        )]
    );
    assert!(a.ping_soon("10.7.0.11", 2));
}

//! Networking across hosts: three kinds of processes on one machine, as on three
//! machines. A control plane (`oxistack serve --role api`, every service, over
//! PostgreSQL and RabbitMQ, bootstrapped with `oxistack manage bootstrap`) and two hosts,
//! `hostA` and `hostB`, each a network namespace running `oxistack serve --role
//! network-agent`. VMs (namespaces plugged where a VM's tap would be) on the two hosts
//! get their addresses by DHCP (served by hostA only: hostB's VM gets its lease over
//! VXLAN) and reach each other over VXLAN. Killing hostB's agent leaves traffic flowing;
//! its bridge deleted by hand meanwhile is rebuilt when it restarts; hostA is not touched
//! by any of it (its nftables ruleset, forwarding entries and links are the same before
//! and after).
//!
//! Network safety: everything runs in namespaces the test makes, removed at the end,
//! also on failure. The control plane runs in the machine's namespace on 127.0.0.1 (it
//! makes no network device). The hosts' underlay is one veth pair between hostA and
//! hostB (192.0.2.1/24 and 192.0.2.2/24, a documentation range) and nothing else: no
//! route, forwarding or interface leads out of them. The agents reach RabbitMQ, which
//! listens on the machine's 127.0.0.1 only, through a [`LoopbackRelay`] per host: a
//! socket on 127.0.0.1:<broker port> inside the host namespace, made by a thread of the
//! test that entered it, relayed to the broker by the test process. So no link between
//! a host namespace and the machine's exists at all, and the broker sees loopback peers
//! (RabbitMQ admits its `guest` user from loopback only).

use std::{
    thread,
    time::{Duration, Instant},
};

use e2e::{
    eventually,
    multihost::{agents, both_alive, control_plane, hosts, Host},
    netns::{self, Vm},
    network::{fixed_ip, s},
    Cloud, ADMIN, DEMO,
};
use serde_json::Value;

/// A port of the demo project on `net` bound to `host`, and a VM plugged on it there.
fn vm(c: &Cloud, host: &Host, net: &str, name: &str) -> (Value, Vm) {
    let port = c.os_json(
        ADMIN,
        &[
            "port",
            "create",
            "--network",
            net,
            "--project",
            "demo",
            "--host",
            &host.agent.host,
            name,
        ],
    );
    let v = Vm::plug(&host.ns, s(&port, "id"), s(&port, "mac_address"));
    (port, v)
}

/// A VXLAN network `mh-net` of the demo project with a subnet; its id.
fn network(c: &Cloud) -> String {
    let net = c.os_json(DEMO, &["network", "create", "mh-net"]);
    assert_eq!(net["mtu"], 1450, "a VXLAN project network: {net}");
    let range = ["--subnet-range", "10.20.0.0/24"];
    c.os(
        DEMO,
        &[
            "subnet",
            "create",
            "--network",
            "mh-net",
            range[0],
            range[1],
            "mh-sub",
        ],
    );
    s(&net, "id").to_owned()
}

#[test]
fn two_hosts_over_vxlan_survive_an_agent_restart() {
    let started = Instant::now();
    let Some((bus, c)) = control_plane(&[]) else {
        return;
    };
    // DHCP on hostA only, so where it runs is known; resyncs every 5 s.
    let fast = ["resync_interval = 5", "heartbeat_interval = 2"];
    let (a, mut b) = hosts(
        &c,
        &bus,
        [
            &[fast[0], fast[1], "dhcp = true"],
            &[fast[0], fast[1], "dhcp = false"],
        ],
    );
    // A VXLAN network with a VM on each host.
    let net_id = network(&c);
    let (pa, vma) = vm(&c, &a, &net_id, "vm-a");
    let (pb, vmb) = vm(&c, &b, &net_id, "vm-b");
    assert_eq!(vma.dhcp(), Some(fixed_ip(&pa)), "DHCP on hostA");
    assert_eq!(
        vmb.dhcp(),
        Some(fixed_ip(&pb)),
        "DHCP for hostB's VM, over VXLAN from hostA"
    );
    eventually("both ports go ACTIVE", Duration::from_secs(20), || {
        let ports = c.os_json(ADMIN, &["port", "list", "--network", &net_id, "--long"]);
        [&pa, &pb].iter().all(|p| {
            ports.as_array().is_some_and(|l| {
                l.iter()
                    .any(|q| q["ID"] == p["id"] && q["Status"] == "ACTIVE")
            })
        })
    });
    assert!(
        vma.ping(fixed_ip(&pb)),
        "hostA's VM cannot reach hostB's over VXLAN"
    );
    assert!(
        vmb.ping(fixed_ip(&pa)),
        "hostB's VM cannot reach hostA's over VXLAN"
    );
    // The DHCP namespace is on hostA: hostB has the network's bridge and VXLAN only.
    let bridge = format!("brq{}", &net_id[..11]);
    let links_b = b.sh_ok("ip -o link show");
    assert!(
        links_b.contains(&bridge) && links_b.contains("vxlan-"),
        "{links_b}"
    );
    let before_a = a.snapshot();

    // hostB's agent dies: the dataplane it made keeps carrying traffic.
    b.agent.kill();
    assert!(
        vma.ping(fixed_ip(&pb)),
        "traffic stopped with hostB's agent"
    );
    // Someone deletes hostB's bridge meanwhile: hostB's VM is cut off...
    b.sh_ok(&format!("ip link del {bridge}"));
    assert!(
        !vma.ping(fixed_ip(&pb)),
        "hostB's VM still reachable without its bridge"
    );
    // ...until the agent is back and rebuilds it.
    b.agent.start();
    eventually("hostB's bridge is rebuilt", Duration::from_secs(20), || {
        vma.ping(fixed_ip(&pb))
    });
    let tap_b = format!("tap{}", &s(&pb, "id")[..11]);
    let in_bridge = b.sh_ok(&format!("ip -o link show master {bridge}"));
    assert!(
        in_bridge.contains(&tap_b) && in_bridge.contains("vxlan-"),
        "{in_bridge}"
    );
    assert!(
        vmb.ping(fixed_ip(&pa)),
        "hostB's VM cannot reach hostA's after the restart"
    );
    // hostA was left alone through all of it, resyncs included (every 5 s).
    thread::sleep(Duration::from_secs(6));
    assert_eq!(
        a.snapshot(),
        before_a,
        "hostA changed while hostB's agent restarted"
    );
    assert_eq!(agents(&c), both_alive());

    // Deleting the ports and the network removes the DHCP namespace.
    drop((vma, vmb));
    c.os(ADMIN, &["port", "delete", s(&pa, "id"), s(&pb, "id")]);
    c.os(DEMO, &["network", "delete", "mh-net"]);
    eventually(
        "the DHCP namespace is removed",
        Duration::from_secs(10),
        || !netns::sh(&format!("ip netns list | grep -q qdhcp-{net_id}")).success(),
    );
    eventually("the bridges are removed", Duration::from_secs(10), || {
        [&a, &b]
            .iter()
            .all(|h| !h.ns.sh(&format!("ip link show {bridge}")).success())
    });
    eprintln!("network_multihost: {:.1?}", started.elapsed());
}

/// The DHCP server of a network moves to another host when its host dies: with both
/// hosts offering DHCP, the one that serves the network goes down (its agent and its
/// dnsmasq killed), and once the service counts it down (`agent_down_time`), the other
/// host starts a DHCP server of its own, which its VM renews its lease from.
#[test]
fn dhcp_moves_to_the_other_host_when_its_host_dies() {
    let started = Instant::now();
    let Some((bus, c)) = control_plane(&["agent_down_time = 4"]) else {
        return;
    };
    let fast: &[&str] = &["resync_interval = 2", "heartbeat_interval = 1"];
    let (mut a, mut b) = hosts(&c, &bus, [fast, fast]);
    let net_id = network(&c);
    let (pa, vma) = vm(&c, &a, &net_id, "vm-a");
    let (pb, vmb) = vm(&c, &b, &net_id, "vm-b");
    assert_eq!(vma.dhcp(), Some(fixed_ip(&pa)));
    assert_eq!(vmb.dhcp(), Some(fixed_ip(&pb)));
    let serves = |h: &Host| h.agent.state_dir().join("dhcp").join(&net_id).is_dir();
    assert!(
        serves(&a) != serves(&b),
        "one host serves DHCP for the network"
    );
    let (dead, alive, vm_alive, ip_alive) = if serves(&a) {
        (&mut a, &b, &vmb, fixed_ip(&pb))
    } else {
        (&mut b, &a, &vma, fixed_ip(&pa))
    };
    // The DHCP host dies: its agent and its dnsmasq.
    dead.agent.kill();
    let pid = dead
        .agent
        .state_dir()
        .join("dhcp")
        .join(&net_id)
        .join("pid");
    let pid = std::fs::read_to_string(&pid).unwrap_or_else(|e| panic!("{}: {e}", pid.display()));
    assert!(netns::sh(&format!("kill -9 {}", pid.trim())).success());
    eventually(
        "the other host takes over DHCP",
        Duration::from_secs(20),
        || serves(alive),
    );
    assert_eq!(
        vm_alive.dhcp(),
        Some(ip_alive),
        "no lease from the new DHCP host"
    );
    let ns = format!("qdhcp-{net_id}-{}", alive.agent.host);
    assert!(
        netns::sh(&format!("ip netns list | grep -q {ns}")).success(),
        "no {ns}"
    );
    let log = alive.agent.log();
    assert!(!log.contains("cannot apply"), "{log}");
    eprintln!("network_multihost (DHCP move): {:.1?}", started.elapsed());
}

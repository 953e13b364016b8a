//! Routers with real packets: one host with two internal networks and a flat external
//! network bridged to an "external host"; a router between them with SNAT, a floating
//! IP and a port forwarding; then routed mode behind an uplink that drops frames from
//! MACs it did not assign.

mod common;

use common::*;
use dataplane::names;
use dataplane::plan::{
    Direction, ExternalMode, ExternalPlan, FloatingIpPlan, HostPlan, NetworkKind, NetworkPlan,
    PortForwardingPlan, RouterGateway, RouterInterface, RouterPlan, SecurityPlan,
};

/// Egress anything; ingress ICMP and TCP 8081 only.
fn icmp_and_8081() -> SecurityPlan {
    SecurityPlan {
        allowed_pairs: vec![],
        rules: vec![
            rule(Direction::Egress, None, None),
            rule(Direction::Ingress, Some(1), None),
            rule(Direction::Ingress, Some(6), Some(8081)),
        ],
        stateful: true,
    }
}

fn network(id: &str, kind: NetworkKind, host_address: Option<&str>) -> NetworkPlan {
    NetworkPlan {
        id: id.to_owned(),
        kind,
        mtu: 1500,
        dhcp: None,
        host_address: host_address.map(|a| a.parse().unwrap()),
    }
}

fn router(id: &str, public: &str, snat: bool) -> RouterPlan {
    RouterPlan {
        id: id.to_owned(),
        gateway: Some(RouterGateway {
            network_id: public.to_owned(),
            port_id: common::id(),
            mac: "fa:16:3e:aa:00:01".into(),
            addresses: vec!["172.24.4.10/24".parse().unwrap()],
            gateway_ip: Some("172.24.4.1".parse().unwrap()),
            enable_snat: snat,
        }),
        interfaces: vec![],
        routes: vec![],
        floating_ips: vec![],
        port_forwardings: vec![],
        metadata: false,
    }
}

fn interface(network_id: &str, mac: &str, address: &str) -> RouterInterface {
    RouterInterface {
        port_id: common::id(),
        network_id: network_id.to_owned(),
        mac: mac.to_owned(),
        addresses: vec![address.parse().unwrap()],
        ipv6_subnets: vec![],
    }
}

fn fip(floating: &str, fixed: &str) -> FloatingIpPlan {
    FloatingIpPlan {
        floating_ip: floating.parse().unwrap(),
        fixed_ip: fixed.parse().unwrap(),
    }
}

/// A VM on `network` at `cidr` whose default route is `gateway`.
fn vm(host: &Host, t: &str, n: &str, mac: &str, cidr: &str, gateway: &str) -> (Vm, String) {
    let port_id = common::id();
    let v = Vm::new(format!("dpt-{n}-{t}"), host, &port_id, mac);
    v.set_ip(cidr);
    v.ns.exec(&format!("ip route add default via {gateway}"));
    (v, port_id)
}

/// The "external host": a namespace whose eth0 is the peer of `uplink` in the host.
fn external_host(host: &Host, t: &str, uplink: &str, cidr: &str) -> Ns {
    let x = Ns::new(format!("dpt-x-{t}"));
    sh(&format!(
        "ip -n {h} link add {uplink} type veth peer name eth0 netns {x} && ip -n {x} link set eth0 up && ip -n {x} addr add {cidr} dev eth0",
        h = host.ns.name,
        x = x.name
    ));
    x
}

#[test]
fn a_router_routes_nats_forwards_and_is_rebuilt() {
    if !can_run() {
        return;
    }
    let t = tag();
    let (private, private2, public) = (common::id(), common::id(), common::id());
    let rid = common::id();
    let mut host = Host::new(format!("dpt-h-{t}"));
    host.dhcp_namespaces.push(names::router_namespace(&rid));
    let (a, pa) = vm(
        &host,
        &t,
        "a",
        "fa:16:3e:01:00:0a",
        "10.0.0.10/24",
        "10.0.0.1",
    );
    let (b, pb) = vm(
        &host,
        &t,
        "b",
        "fa:16:3e:01:00:0b",
        "10.0.0.11/24",
        "10.0.0.1",
    );
    let (c, pc) = vm(
        &host,
        &t,
        "c",
        "fa:16:3e:01:00:0c",
        "10.1.0.10/24",
        "10.1.0.1",
    );
    let x = external_host(&host, &t, "ext0", "172.24.4.100/24");

    let mut r = router(&rid, &public, true);
    r.interfaces = vec![
        interface(&private, "fa:16:3e:aa:00:02", "10.0.0.1/24"),
        interface(&private2, "fa:16:3e:aa:00:03", "10.1.0.1/24"),
    ];
    r.floating_ips = vec![fip("172.24.4.20", "10.0.0.10")];
    r.port_forwardings = vec![PortForwardingPlan {
        external_ip: "172.24.4.21".parse().unwrap(),
        protocol: 6,
        external_port: 2222,
        internal_ip: "10.0.0.11".parse().unwrap(),
        internal_port: 22,
    }];
    let plan = HostPlan {
        networks: vec![
            network(&private, NetworkKind::Local, None),
            network(&private2, NetworkKind::Local, None),
            network(
                &public,
                NetworkKind::Flat {
                    interface: Some("ext0".into()),
                },
                Some("172.24.4.1/24"),
            ),
        ],
        ports: vec![
            dataplane::plan::PortPlan {
                security: Some(icmp_and_8081()),
                ..port(&pa, &private, &a, "10.0.0.10")
            },
            port(&pb, &private, &b, "10.0.0.11"),
            port(&pc, &private2, &c, "10.1.0.10"),
        ],
        routers: vec![r.clone()],
        external: None,
    };
    let first = host.apply(&plan);
    eprintln!("first apply: {:#?}", first.changes);
    let qrouter = names::router_namespace(&rid);
    assert!(first
        .changes
        .contains(&format!("created namespace {qrouter}")));
    assert_eq!(
        sh(&format!(
            "ip netns exec {qrouter} cat /proc/sys/net/ipv4/ip_forward"
        ))
        .trim(),
        "1"
    );
    assert_eq!(
        host.ns.exec("cat /proc/sys/net/ipv4/ip_forward").trim(),
        "0",
        "forwarding stays off in the host"
    );

    // east-west through the router
    assert!(
        a.ping_soon("10.1.0.10", 3),
        "a cannot reach c via the router"
    );
    assert!(c.ping("10.0.0.11"), "c cannot reach b via the router");
    // SNAT: b has no floating IP, the external host sees the gateway address
    assert_eq!(
        tcp_peer(&x, 8080, &b.ns, "172.24.4.100", 8080).as_deref(),
        Some("172.24.4.10"),
        "SNAT to the gateway address"
    );
    // the floating IP: reached from outside, and what a sends leaves from it
    assert!(
        x.ok("busybox ping -c 1 -W 2 172.24.4.20"),
        "external host cannot ping the floating IP"
    );
    assert_eq!(
        tcp_peer(&a.ns, 8081, &x, "172.24.4.20", 8081).as_deref(),
        Some("172.24.4.100"),
        "DNAT keeps the external source"
    );
    assert_eq!(
        tcp_peer(&x, 8082, &a.ns, "172.24.4.100", 8082).as_deref(),
        Some("172.24.4.20"),
        "a's traffic leaves from its floating IP"
    );
    // a's security group still filters what the router forwards to it (the allowed
    // port, tried as often, is the control)
    assert!(tcp_peer_tries(&a.ns, 8081, &x, "172.24.4.20", 8081, 4).is_some());
    assert_eq!(
        tcp_peer_tries(&a.ns, 9999, &x, "172.24.4.20", 9999, 4),
        None,
        "a's security group lets tcp 9999 in"
    );
    // port forwarding tcp 172.24.4.21:2222 -> b:22
    assert_eq!(
        tcp_peer(&b.ns, 22, &x, "172.24.4.21", 2222).as_deref(),
        Some("172.24.4.100"),
        "port forwarding"
    );
    // hairpin: b reaches a (on its own subnet) by a's floating IP, through the router
    assert!(b.ping("172.24.4.20"), "b cannot ping a's floating IP");
    assert_eq!(
        tcp_peer(&a.ns, 8081, &b.ns, "172.24.4.20", 8081).as_deref(),
        Some("10.0.0.1"),
        "hairpin: masqueraded to the router's internal address"
    );
    // the host itself reaches the floating IP through its address on the external bridge
    assert!(
        host.ns.ok("busybox ping -c 1 -W 2 172.24.4.20"),
        "host cannot reach the floating IP"
    );

    assert_eq!(host.apply(&plan).changes, Vec::<String>::new());

    // the floating IP removed: its /32 and NAT rules go, nothing else
    let mut without = plan.clone();
    without.routers[0].floating_ips.clear();
    let removed = host.apply(&without);
    eprintln!("floating IP removed: {:#?}", removed.changes);
    assert!(removed
        .changes
        .iter()
        .any(|c| c.starts_with("removed 172.24.4.20/32 from qg-")));
    assert!(
        removed
            .changes
            .iter()
            .all(|c| c.starts_with("removed 172.24.4.20/32") || c.contains("nft chain ip")),
        "{:?}",
        removed.changes
    );
    assert!(!x.ok("busybox ping -c 1 -W 1 172.24.4.20"));
    assert!(
        tcp_peer(&b.ns, 22, &x, "172.24.4.21", 2222).is_some(),
        "the port forwarding survives"
    );
    assert!(a.ping("10.1.0.10"));

    // an interface removed: its devices go, its network is cut off
    let mut one_interface = without.clone();
    one_interface.routers[0].interfaces.truncate(1);
    let cut = host.apply(&one_interface);
    eprintln!("interface removed: {:#?}", cut.changes);
    assert!(cut
        .changes
        .iter()
        .any(|c| c.starts_with("deleted qr-") && c.contains(&rid)));
    assert!(!a.ping("10.1.0.10"));
    assert!(a.ping("172.24.4.100"), "the other interface is untouched");
    host.apply(&without);
    assert!(
        a.ping_soon("10.1.0.10", 3),
        "the interface did not come back"
    );

    // the router's namespace deleted by hand: rebuilt
    sh(&format!("ip netns del {qrouter}"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!a.ping("10.1.0.10"));
    let rebuilt = host.apply(&plan);
    eprintln!("rebuilt: {:#?}", rebuilt.changes);
    assert!(rebuilt
        .changes
        .contains(&format!("created namespace {qrouter}")));
    assert!(a.ping_soon("10.1.0.10", 3), "east-west did not come back");
    assert!(
        x.ok("busybox ping -c 1 -W 2 172.24.4.20"),
        "the floating IP did not come back"
    );
    assert_eq!(host.apply(&plan).changes, Vec::<String>::new());

    // the router removed: its namespace and bridge ends go
    let mut no_router = plan.clone();
    no_router.routers.clear();
    let gone = host.apply(&no_router);
    assert!(gone.changes.contains(&format!("removed router {rid}")));
    assert!(!std::path::Path::new(&format!("/run/netns/{qrouter}")).exists());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let links = host.ns.exec("ip -o link show");
    assert!(!links.contains("tr-") && !links.contains("tg-"), "{links}");
    host.apply(&plan);
    host.teardown();
    assert!(!std::path::Path::new(&format!("/run/netns/{qrouter}")).exists());
}

#[test]
fn routed_mode_reaches_floating_ips_behind_an_uplink_that_drops_foreign_macs() {
    if !can_run() {
        return;
    }
    let t = tag();
    let (private, public) = (common::id(), common::id());
    let rid = common::id();
    let mut host = Host::new(format!("dpt-h-{t}"));
    host.dhcp_namespaces.push(names::router_namespace(&rid));
    let (a, pa) = vm(
        &host,
        &t,
        "a",
        "fa:16:3e:02:00:0a",
        "10.0.0.10/24",
        "10.0.0.1",
    );
    // the provider's network: the host's uplink 198.51.100.2, a neighbour at .100 that
    // sees the floating IP range on its link and drops frames from any other MAC
    let x = external_host(&host, &t, "up0", "198.51.100.100/24");
    host.ns.exec("ip addr add 198.51.100.2/24 dev up0");
    host.ns.exec("ip link set up0 up");
    let uplink_mac = host.ns.exec("cat /sys/class/net/up0/address");
    x.exec("ip route add 172.24.4.0/24 dev eth0");
    x.exec(&format!(
        "nft -f - <<'EOF'\ntable netdev provider {{\n chain in {{ type filter hook ingress device eth0 priority 0; policy accept;\n  ether saddr != {} counter drop\n }}\n}}\nEOF",
        uplink_mac.trim()
    ));

    let mut r = router(&rid, &public, true);
    r.interfaces = vec![interface(&private, "fa:16:3e:bb:00:02", "10.0.0.1/24")];
    r.floating_ips = vec![fip("172.24.4.20", "10.0.0.10")];
    let mut plan = HostPlan {
        networks: vec![
            network(&private, NetworkKind::Local, None),
            network(
                &public,
                NetworkKind::Flat {
                    interface: Some("up0".into()),
                },
                Some("172.24.4.1/24"),
            ),
        ],
        ports: vec![port(&pa, &private, &a, "10.0.0.10")],
        routers: vec![r],
        external: Some(ExternalPlan {
            network_id: public.clone(),
            mode: ExternalMode::Bridged,
        }),
    };

    // bridged: the router's MAC never gets through
    host.apply(&plan);
    assert!(
        host.ns.exec("ip -o link show up0").contains("master brq"),
        "bridged: the uplink is in the bridge"
    );
    assert!(
        !x.ok("busybox ping -c 2 -W 1 172.24.4.20"),
        "bridged: the floating IP must be unreachable behind this uplink"
    );
    // because of the provider's filter: it dropped the router's frames
    let dropped = x.exec("nft -j list table netdev provider");
    assert!(
        !dropped.contains("\"packets\": 0"),
        "the uplink filter dropped nothing: {dropped}"
    );

    // routed: the host answers for the floating IP with the uplink's MAC and routes it
    plan.external = Some(ExternalPlan {
        network_id: public.clone(),
        mode: ExternalMode::Routed {
            uplink: "up0".into(),
        },
    });
    let routed = host.apply(&plan);
    eprintln!("routed: {:#?}", routed.changes);
    assert!(!host.ns.exec("ip -o link show up0").contains("master"));
    assert!(host
        .ns
        .exec("ip neigh show proxy dev up0")
        .contains("172.24.4.20"));
    x.exec("ip neigh flush dev eth0");
    assert!(
        (0..3).any(|_| x.ok("busybox ping -c 1 -W 1 172.24.4.20")),
        "routed: the external host cannot ping the floating IP"
    );
    assert!(x
        .exec("ip neigh show 172.24.4.20")
        .contains(uplink_mac.trim()));
    assert_eq!(
        tcp_peer(&a.ns, 8081, &x, "172.24.4.20", 8081).as_deref(),
        Some("198.51.100.100"),
        "routed: TCP to the floating IP"
    );
    assert_eq!(
        tcp_peer(&x, 8082, &a.ns, "198.51.100.100", 8082).as_deref(),
        Some("198.51.100.2"),
        "routed: what leaves is masqueraded to the uplink's address"
    );
    assert_eq!(host.apply(&plan).changes, Vec::<String>::new());

    // back to bridged: the proxy entries and routes go, the uplink is enslaved again
    plan.external = None;
    let back = host.apply(&plan);
    eprintln!("bridged again: {:#?}", back.changes);
    assert!(!host
        .ns
        .exec("ip neigh show proxy dev up0")
        .contains("172.24.4.20"));
    assert!(!host
        .ns
        .exec("ip route show proto 77")
        .contains("172.24.4.20"));
    assert!(host.ns.exec("ip -o link show up0").contains("master brq"));

    // teardown in routed mode leaves no route, proxy entry or table behind
    plan.external = Some(ExternalPlan {
        network_id: public.clone(),
        mode: ExternalMode::Routed {
            uplink: "up0".into(),
        },
    });
    host.apply(&plan);
    host.teardown();
    assert_eq!(host.ns.exec("ip neigh show proxy dev up0").trim(), "");
    assert_eq!(host.ns.exec("ip route show proto 77").trim(), "");
    assert!(!host.ns.exec("nft list tables").contains("oxitest"));
}

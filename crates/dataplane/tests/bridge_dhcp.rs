//! Test 1: one host, two VMs on a local network: DHCP, ping, idempotent re-apply, and
//! a bridge deleted by hand rebuilt by the next apply.

mod common;

use common::*;
use dataplane::names;
use dataplane::plan::{DhcpHost, DhcpPlan, DhcpSubnet, HostPlan, NetworkKind, NetworkPlan};

#[test]
fn two_vms_get_dhcp_and_reach_each_other_and_a_deleted_bridge_comes_back() {
    if !can_run() {
        return;
    }
    let t = tag();
    let net = id();
    let (pa, pb) = (id(), id());
    let mut host = Host::new(format!("dpt-h-{t}"));
    host.dhcp_namespaces.push(names::dhcp_namespace(&net));
    let a = Vm::new(format!("dpt-a-{t}"), &host, &pa, "fa:16:3e:00:00:0a");
    let b = Vm::new(format!("dpt-b-{t}"), &host, &pb, "fa:16:3e:00:00:0b");
    let plan = HostPlan {
        networks: vec![NetworkPlan {
            id: net.clone(),
            kind: NetworkKind::Local,
            mtu: 1400,
            dhcp: Some(DhcpPlan {
                port_mac: "fa:16:3e:00:00:02".into(),
                addresses: vec!["10.9.0.2/24".parse().unwrap()],
                subnets: vec![DhcpSubnet {
                    cidr: "10.9.0.0/24".parse().unwrap(),
                    gateway: Some("10.9.0.1".parse().unwrap()),
                    dns_nameservers: vec![],
                    host_routes: vec![],
                    lease_seconds: 600,
                    ipv6_address_mode: None,
                    ipv6_ra_mode: None,
                }],
                hosts: vec![
                    DhcpHost {
                        mac: a.mac.clone(),
                        ip: "10.9.0.10".parse().unwrap(),
                        hostname: "vm-a".into(),
                    },
                    DhcpHost {
                        mac: b.mac.clone(),
                        ip: "10.9.0.11".parse().unwrap(),
                        hostname: "vm-b".into(),
                    },
                ],
                metadata: true,
            }),
            host_address: None,
        }],
        ports: vec![
            port(&pa, &net, &a, "10.9.0.10"),
            port(&pb, &net, &b, "10.9.0.11"),
        ],
        ..Default::default()
    };

    let first = host.apply(&plan);
    eprintln!("first apply: {:#?}", first.changes);
    assert!(
        first
            .changes
            .iter()
            .any(|c| c.starts_with("created bridge")),
        "{:?}",
        first.changes
    );
    let mut wired = first.wired.clone();
    wired.sort();
    let mut want = vec![pa.clone(), pb.clone()];
    want.sort();
    assert_eq!(wired, want);

    let env_a = a.dhcp().expect("vm a got no DHCP lease");
    assert!(env_a.contains("ip=10.9.0.10"), "{env_a}");
    assert!(env_a.contains("mtu=1400"), "{env_a}");
    assert!(env_a.contains("hostname=vm-a"), "{env_a}");
    // option 121: metadata via the DHCP port, and the default route
    assert!(
        env_a.contains("staticroutes=169.254.169.254/32 10.9.0.2 0.0.0.0/0 10.9.0.1"),
        "{env_a}"
    );
    assert!(b
        .dhcp()
        .expect("vm b got no DHCP lease")
        .contains("ip=10.9.0.11"));
    assert!(a.ping_soon("10.9.0.11", 3), "a cannot reach b");
    // the route a guest's DHCP client installs from option 121
    a.ns.exec("ip route add 169.254.169.254/32 via 10.9.0.2");
    assert!(
        a.ping("169.254.169.254"),
        "the DHCP namespace holds the metadata address"
    );
    let qdhcp = names::dhcp_namespace(&net);
    assert!(sh(&format!("ip -n {qdhcp} -o addr show")).contains("169.254.169.254/32"));

    let second = host.apply(&plan);
    assert_eq!(second.changes, Vec::<String>::new());
    assert_eq!(second.wired.len(), 2);

    // a host added: SIGHUP, no restart
    let pid =
        std::fs::read_to_string(host.state_dir().join("dhcp").join(&net).join("pid")).unwrap();
    let mut more = plan.clone();
    if let Some(d) = more.networks[0].dhcp.as_mut() {
        d.hosts.push(DhcpHost {
            mac: "fa:16:3e:00:00:0c".into(),
            ip: "10.9.0.12".parse().unwrap(),
            hostname: "vm-c".into(),
        });
    }
    let reload = host.apply(&more);
    assert_eq!(
        reload.changes,
        vec![format!("reloaded dnsmasq hosts for {net}")]
    );
    let pid_after =
        std::fs::read_to_string(host.state_dir().join("dhcp").join(&net).join("pid")).unwrap();
    assert_eq!(pid, pid_after);
    assert_eq!(host.apply(&more).changes, Vec::<String>::new());

    // someone deletes the bridge and kills dnsmasq
    host.ns
        .exec(&format!("ip link del {}", names::bridge(&net)));
    sh(&format!("kill {}", pid.trim()));
    assert!(!a.ping("10.9.0.11"));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let rebuilt = host.apply(&more);
    eprintln!("rebuild: {:#?}", rebuilt.changes);
    assert!(rebuilt
        .changes
        .contains(&format!("created bridge {}", names::bridge(&net))));
    assert!(
        rebuilt
            .changes
            .contains(&format!("started dnsmasq for {net}")),
        "{:?}",
        rebuilt.changes
    );
    assert!(a.ping_soon("10.9.0.11", 3), "traffic did not come back");
    assert!(a.dhcp().is_some(), "DHCP did not come back");

    // a port removed: its tap is released; the network removed: all gone
    let mut fewer = more.clone();
    fewer.ports.retain(|p| p.id == pa);
    let removed = host.apply(&fewer);
    assert!(
        removed
            .changes
            .contains(&format!("unplugged {} from {}", b.tap, names::bridge(&net))),
        "{:?}",
        removed.changes
    );
    let empty = host.apply(&HostPlan::default());
    assert!(
        empty.changes.iter().any(|c| c.starts_with("removed dhcp")),
        "{:?}",
        empty.changes
    );
    assert!(!std::path::Path::new(&format!("/run/netns/{qdhcp}")).exists());
    assert!(!host.ns.ok(&format!("ip link show {}", names::bridge(&net))));

    // the DHCP namespace deleted by hand (dnsmasq keeps the old one alive): rebuilt
    host.apply(&more);
    sh(&format!("ip netns del {qdhcp}"));
    let again = host.apply(&more);
    assert!(
        again
            .changes
            .contains(&format!("created namespace {qdhcp}")),
        "{:?}",
        again.changes
    );
    assert!(
        a.dhcp().is_some(),
        "DHCP did not come back after its namespace was deleted"
    );

    // teardown leaves nothing of the dataplane behind
    host.teardown();
    assert!(!std::path::Path::new(&format!("/run/netns/{qdhcp}")).exists());
    let links = host.ns.exec("ip -o link show");
    assert!(
        !links.contains("brq") && !links.contains(&names::dhcp_tap(&net)),
        "{links}"
    );
    assert!(!host.ns.exec("nft list tables").contains("oxitest"));
    let conf = host
        .state_dir()
        .join("dhcp")
        .join(&net)
        .join("dnsmasq.conf");
    // by process name, so that the shell running pgrep (whose command line holds the path) does not count
    let running = std::process::Command::new("pgrep")
        .args(["-a", "dnsmasq"])
        .output()
        .unwrap();
    let running = String::from_utf8_lossy(&running.stdout);
    assert!(
        !running.contains(&conf.display().to_string()),
        "dnsmasq still runs: {running}"
    );
}

//! IPv6 guests configured as Neutron configures them, with real packets: one host, a
//! router with interfaces on a SLAAC, a DHCPv6-stateful and a DHCPv6-stateless
//! network (radvd in its namespace), DHCP servers on the last two (dnsmasq in their
//! namespaces), and VM namespaces behind security groups that allow nothing in: the
//! base rules alone let router advertisements and DHCPv6 replies reach them. A VM
//! sending router advertisements reaches no one.

mod common;

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::*;
use dataplane::names;
use dataplane::plan::{
    DhcpHost, DhcpPlan, DhcpSubnet, Direction, Ethertype, HostPlan, Ipv6Mode, Ipv6Subnet,
    NetworkKind, NetworkPlan, Remote, RouterInterface, RouterPlan, SecurityPlan, SgRule,
};

/// The EUI-64 address of `mac` in the /64 `prefix` (what SLAAC gives a guest).
fn eui64(prefix: &str, mac: &str) -> Ipv6Addr {
    let p: Ipv6Addr = prefix.parse().expect("prefix");
    let m: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).expect("mac"))
        .collect();
    let mut o = p.octets();
    o[8..].copy_from_slice(&[m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    Ipv6Addr::from(o)
}

/// Egress anything (both families), nothing in: only the base rules let traffic in.
fn egress_only() -> SecurityPlan {
    let egress = |ethertype| SgRule {
        direction: Direction::Egress,
        ethertype,
        protocol: None,
        port_min: None,
        port_max: None,
        remote: Remote::Any,
    };
    SecurityPlan {
        allowed_pairs: vec![],
        rules: vec![egress(Ethertype::V4), egress(Ethertype::V6)],
        stateful: true,
    }
}

fn subnet(cidr: &str, mode: Ipv6Mode, dns: &[&str]) -> Ipv6Subnet {
    Ipv6Subnet {
        cidr: cidr.parse().unwrap(),
        ra_mode: Some(mode),
        address_mode: Some(mode),
        dns_nameservers: dns.iter().map(|d| d.parse().unwrap()).collect(),
    }
}

fn dhcp_subnet(s: &Ipv6Subnet) -> DhcpSubnet {
    DhcpSubnet {
        cidr: s.cidr,
        gateway: None,
        dns_nameservers: s.dns_nameservers.clone(),
        host_routes: vec![],
        lease_seconds: 86400,
        ipv6_address_mode: s.address_mode,
        ipv6_ra_mode: s.ra_mode,
    }
}

fn network(id: &str, dhcp: Option<DhcpPlan>) -> NetworkPlan {
    NetworkPlan {
        id: id.to_owned(),
        kind: NetworkKind::Local,
        mtu: 1450,
        dhcp,
        host_address: None,
    }
}

/// The IPv6 addresses of `dev` in a namespace, as `ip -6 addr` prints them (with
/// flags such as `tentative`), one a line.
fn addresses(ns: &Ns, dev: &str) -> String {
    ns.exec(&format!("ip -6 -o addr show dev {dev}"))
}

/// Wait until `check` holds, up to `secs` seconds.
fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    check()
}

/// Let the VM's eth0 take router advertisements and solicit them now (a link that
/// comes up sends router solicitations).
fn accept_ra(vm: &Vm) {
    vm.ns.exec(
        "sh -c 'sysctl -qw net.ipv6.conf.eth0.accept_ra=2 net.ipv6.conf.eth0.autoconf=1 && ip link set eth0 down && ip link set eth0 up'",
    );
    // the link-local address must pass duplicate address detection before DHCPv6
    assert!(
        eventually(10, || {
            let a = addresses(&vm.ns, "eth0");
            a.contains("fe80::") && !a.contains("tentative")
        }),
        "no link-local address on {}",
        vm.ns.name
    );
}

/// Run `dhclient -6` (`-S`: information request only) once in the VM; returns the
/// environment its script saw on success (`new_ip6_address`, `new_dhcp6_name_servers`).
fn dhclient6(vm: &Vm, stateless: bool) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("dhclient6-{}", vm.ns.name));
    std::fs::create_dir_all(&dir).ok()?;
    let (script, env) = (dir.join("script"), dir.join("env"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$reason\" in BOUND6|RENEW6|REBIND6) env > {env}; [ -n \"$new_ip6_address\" ] && /usr/sbin/ip -6 addr add $new_ip6_address/$new_ip6_prefixlen dev $interface;; esac\nexit 0\n",
            env = env.display()
        ),
    )
    .ok()?;
    sh(&format!("chmod +x {}", script.display()));
    let mode = if stateless { "-S" } else { "-N" };
    let got = vm.ns.ok(&format!(
        "timeout 25 dhclient -6 {mode} -1 -sf {s} -lf {d}/lease -pf {d}/pid eth0",
        s = script.display(),
        d = dir.display()
    ));
    // after a lease dhclient stays in the background: end it
    if let Ok(pid) = std::fs::read_to_string(dir.join("pid")) {
        let _ = ok(&format!("kill {}", pid.trim()));
    }
    let out = got.then(|| std::fs::read_to_string(&env).ok()).flatten();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// `name=value` of a dhclient environment.
fn env_value<'a>(env: &'a str, name: &str) -> Option<&'a str> {
    env.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
}

#[test]
fn guests_get_ipv6_by_slaac_and_dhcpv6_and_rogue_ras_are_dropped() {
    if !can_run() {
        return;
    }
    assert!(
        ok("command -v radvd") && ok("command -v dhclient"),
        "needs radvd and dhclient (scripts/test installs them)"
    );
    let t = tag();
    let (n1, n2, n3) = (common::id(), common::id(), common::id());
    let rid = common::id();
    let mut host = Host::new(format!("dpt-h-{t}"));
    host.dhcp_namespaces.push(names::router_namespace(&rid));
    for n in [&n2, &n3] {
        host.dhcp_namespaces.push(names::dhcp_namespace(n));
    }
    let slaac = subnet("2001:db8:1::/64", Ipv6Mode::Slaac, &[]);
    let stateful = subnet(
        "2001:db8:2::/64",
        Ipv6Mode::Dhcpv6Stateful,
        &["2001:db8::53"],
    );
    let stateless = subnet(
        "2001:db8:3::/64",
        Ipv6Mode::Dhcpv6Stateless,
        &["2001:db8::54"],
    );

    let (ma, mb, mc, md) = (
        "fa:16:3e:06:00:0a",
        "fa:16:3e:06:00:0b",
        "fa:16:3e:06:00:0c",
        "fa:16:3e:06:00:0d",
    );
    let (pa, pb, pc, pd) = (common::id(), common::id(), common::id(), common::id());
    let a = Vm::new(format!("dpt-a-{t}"), &host, &pa, ma);
    let b = Vm::new(format!("dpt-b-{t}"), &host, &pb, mb);
    let c = Vm::new(format!("dpt-c-{t}"), &host, &pc, mc);
    let rogue = Vm::new(format!("dpt-d-{t}"), &host, &pd, md);
    let ip_a = eui64("2001:db8:1::", ma);
    let ip_b: Ipv6Addr = "2001:db8:2::55".parse().unwrap();
    let ip_c = eui64("2001:db8:3::", mc);
    let ip_d = eui64("2001:db8:1::", md);

    let router_if = |net: &str, mac: &str, gw: &str, s: &Ipv6Subnet| RouterInterface {
        port_id: common::id(),
        network_id: net.to_owned(),
        mac: mac.to_owned(),
        addresses: vec![gw.parse().unwrap()],
        ipv6_subnets: vec![s.clone()],
    };
    let router = RouterPlan {
        id: rid.clone(),
        gateway: None,
        interfaces: vec![
            router_if(&n1, "fa:16:3e:06:01:01", "2001:db8:1::1/64", &slaac),
            router_if(&n2, "fa:16:3e:06:01:02", "2001:db8:2::1/64", &stateful),
            router_if(&n3, "fa:16:3e:06:01:03", "2001:db8:3::1/64", &stateless),
        ],
        routes: vec![],
        floating_ips: vec![],
        port_forwardings: vec![],
        metadata: false,
    };
    let dhcp = |mac: &str, address: &str, s: &Ipv6Subnet, hosts: Vec<DhcpHost>| DhcpPlan {
        port_mac: mac.to_owned(),
        addresses: vec![address.parse().unwrap()],
        subnets: vec![dhcp_subnet(s)],
        hosts,
        metadata: false,
    };
    let host_entry = |mac: &str, ip: Ipv6Addr| DhcpHost {
        mac: mac.to_owned(),
        ip: IpAddr::V6(ip),
        hostname: format!("host-{}", ip.to_string().replace(':', "-")),
    };
    let secured = |id: &str, net: &str, vm: &Vm, ip: Ipv6Addr| {
        let mut p = port(id, net, vm, &ip.to_string());
        p.security = Some(egress_only());
        p
    };
    let mut plan = HostPlan {
        networks: vec![
            network(&n1, None),
            network(
                &n2,
                Some(dhcp(
                    "fa:16:3e:06:02:02",
                    "2001:db8:2::2/64",
                    &stateful,
                    vec![host_entry(mb, ip_b)],
                )),
            ),
            network(
                &n3,
                Some(dhcp(
                    "fa:16:3e:06:02:03",
                    "2001:db8:3::2/64",
                    &stateless,
                    vec![host_entry(mc, ip_c)],
                )),
            ),
        ],
        ports: vec![
            secured(&pa, &n1, &a, ip_a),
            secured(&pb, &n2, &b, ip_b),
            secured(&pc, &n3, &c, ip_c),
            secured(&pd, &n1, &rogue, ip_d),
        ],
        routers: vec![router],
        external: None,
    };
    let applied = host.apply(&plan);
    assert!(
        applied
            .changes
            .iter()
            .any(|c| c.starts_with("started radvd")),
        "{:?}",
        applied.changes
    );
    assert_eq!(host.apply(&plan).changes, Vec::<String>::new());
    let ns = names::router_namespace(&rid);
    let radvd_conf = host
        .state_dir()
        .join("routers")
        .join(&rid)
        .join("radvd.conf");
    let conf = std::fs::read_to_string(&radvd_conf).expect("radvd.conf");
    assert!(conf.contains("AdvManagedFlag on;") && conf.contains("AdvOtherConfigFlag on;"));
    assert_eq!(
        sh(&format!(
            "ip netns exec {ns} sysctl -n net.ipv6.conf.all.forwarding"
        ))
        .trim(),
        "1"
    );
    let router_lla = |mac: &str| eui64("fe80::", mac).to_string();

    // SLAAC: the address from the advertised prefix, the default route via the router
    for vm in [&a, &b, &c] {
        accept_ra(vm);
    }
    assert!(
        eventually(20, || addresses(&a.ns, "eth0")
            .contains(&format!("{ip_a}/64"))),
        "no SLAAC address: {}",
        addresses(&a.ns, "eth0")
    );
    let routes = a.ns.exec("ip -6 route show default");
    assert!(
        routes.contains(&format!("via {}", router_lla("fa:16:3e:06:01:01"))),
        "{routes}"
    );
    // ... which routes: the router answers on its address in another subnet
    assert!(
        eventually(10, || a.ns.ok("busybox ping -6 -c 1 -W 1 2001:db8:2::1")),
        "router unreachable from a"
    );

    // DHCPv6 stateful: exactly the port's address, and the DNS server; no SLAAC address
    let env = dhclient6(&b, false).expect("a DHCPv6 lease");
    assert_eq!(
        env_value(&env, "new_ip6_address"),
        Some(ip_b.to_string().as_str()),
        "{env}"
    );
    assert_eq!(
        env_value(&env, "new_dhcp6_name_servers"),
        Some("2001:db8::53"),
        "{env}"
    );
    assert!(
        eventually(10, || b
            .ns
            .exec("ip -6 route show default")
            .contains(&router_lla("fa:16:3e:06:01:02"))),
        "no default route on b"
    );
    let b_addrs = addresses(&b.ns, "eth0");
    assert!(
        !b_addrs.contains(&eui64("2001:db8:2::", mb).to_string()),
        "the stateful prefix is not autonomous: {b_addrs}"
    );

    // DHCPv6 stateless: the address by SLAAC, the DNS servers by DHCPv6
    assert!(
        eventually(20, || addresses(&c.ns, "eth0")
            .contains(&format!("{ip_c}/64"))),
        "no SLAAC address on c: {}",
        addresses(&c.ns, "eth0")
    );
    let env = dhclient6(&c, true).expect("a DHCPv6 information reply");
    assert_eq!(
        env_value(&env, "new_dhcp6_name_servers"),
        Some("2001:db8::54"),
        "{env}"
    );
    assert_eq!(env_value(&env, "new_ip6_address"), None, "{env}");

    // a VM's router advertisements reach no one...
    let rogue_dir = std::env::temp_dir().join(format!("rogue-radvd-{t}"));
    std::fs::create_dir_all(&rogue_dir).unwrap();
    std::fs::write(
        rogue_dir.join("radvd.conf"),
        "interface eth0\n{\n    AdvSendAdvert on;\n    MinRtrAdvInterval 3;\n    MaxRtrAdvInterval 4;\n    prefix 2001:db8:bad::/64\n    {\n        AdvOnLink on;\n        AdvAutonomous on;\n    };\n};\n",
    )
    .unwrap();
    rogue.ns.exec("sysctl -qw net.ipv6.conf.all.forwarding=1");
    let mut rogue_radvd = spawn_in(
        &rogue.ns,
        &format!(
            "exec radvd -n -m stderr -C {d}/radvd.conf -p {d}/radvd.pid 2>/dev/null",
            d = rogue_dir.display()
        ),
    );
    let rogue_prefix = "2001:db8:bad:";
    accept_ra(&a);
    assert!(
        !eventually(8, || addresses(&a.ns, "eth0").contains(rogue_prefix)),
        "a took the rogue prefix: {}",
        addresses(&a.ns, "eth0")
    );
    // ... unless its port is not secured
    plan.ports[3].security = None;
    host.apply(&plan);
    accept_ra(&a);
    assert!(
        eventually(15, || addresses(&a.ns, "eth0").contains(rogue_prefix)),
        "the check above proves nothing: no rogue prefix even without security"
    );
    let _ = rogue_radvd.kill();
    let _ = rogue_radvd.wait();
    let _ = std::fs::remove_dir_all(&rogue_dir);

    // a killed radvd and dnsmasq come back
    let radvd_pid = host
        .state_dir()
        .join("routers")
        .join(&rid)
        .join("radvd.pid");
    let dnsmasq_pid = host.state_dir().join("dhcp").join(&n2).join("pid");
    for pid in [&radvd_pid, &dnsmasq_pid] {
        sh(&format!("kill -9 $(cat {})", pid.display()));
    }
    std::thread::sleep(Duration::from_millis(300));
    let changes = host.apply(&plan).changes;
    assert!(
        changes.iter().any(|c| c.starts_with("started radvd"))
            && changes
                .iter()
                .any(|c| c == &format!("started dnsmasq for {n2}")),
        "{changes:?}"
    );
    assert_eq!(host.apply(&plan).changes, Vec::<String>::new());

    // removing the stateful subnet (router interface and DHCP) removes its config
    plan.routers[0].interfaces.remove(1);
    plan.networks[1].dhcp = None;
    let changes = host.apply(&plan).changes;
    assert!(
        changes.iter().any(|c| c.starts_with("reloaded radvd")),
        "{changes:?}"
    );
    let conf = std::fs::read_to_string(&radvd_conf).unwrap();
    assert!(
        !conf.contains("2001:db8:2::") && !conf.contains("AdvManagedFlag"),
        "{conf}"
    );
    assert!(!host.state_dir().join("dhcp").join(&n2).exists());
    // a router with no IPv6 subnet left to advertise runs no radvd
    plan.routers[0].interfaces.clear();
    let changes = host.apply(&plan).changes;
    assert!(
        changes.iter().any(|c| c.starts_with("stopped radvd")),
        "{changes:?}"
    );
    assert!(!radvd_conf.exists());
    assert!(
        !ok(&format!("ip netns pids {ns} | grep -q .")),
        "radvd still runs in {ns}"
    );

    host.teardown();
}

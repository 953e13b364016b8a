//! Networking (Neutron v2.0) driven by the unmodified clients against the real binary,
//! with real packets: `oxistack up` runs inside a "host" network namespace with its
//! network agent, and namespaces standing in for VMs are plugged where a VM's tap would
//! be. The endpoints get their addresses by DHCP, reach each other, are blocked and
//! unblocked by security group rules, and cannot spoof another address. openstacksdk
//! drives the same objects once.

use std::{net::IpAddr, thread, time::Duration};

use e2e::{
    netns::{self, Netns},
    network::{eventually, fixed_ip, host_cloud, s, vm},
    Engine, ADMIN, DEMO,
};

#[test]
fn cli_networks_with_real_packets() {
    let Some((host, c)) = host_cloud(Engine::Sqlite) else {
        return;
    };
    // The user's view: a network, a subnet, refusals with Neutron's words.
    let net = c.os_json(DEMO, &["network", "create", "net1"]);
    let net_id = s(&net, "id").to_owned();
    assert_eq!(net["mtu"], 1450, "a VXLAN project network: {net}");
    let subnet = c.os_json(
        DEMO,
        &[
            "subnet",
            "create",
            "--network",
            "net1",
            "--subnet-range",
            "10.10.0.0/24",
            "sub1",
        ],
    );
    assert_eq!(s(&subnet, "gateway_ip"), "10.10.0.1");
    let err = c.os_err(
        DEMO,
        &[
            "subnet",
            "create",
            "--network",
            "net1",
            "--subnet-range",
            "10.10.0.128/25",
            "overlap",
        ],
    );
    assert!(err.stderr.contains("overlaps with another subnet"), "{err}");
    let err = c.os_err(
        DEMO,
        &[
            "subnet",
            "create",
            "--network",
            "net1",
            "--subnet-range",
            "10.11.0.0/24",
            "--gateway",
            "10.12.0.1",
            "badgw",
        ],
    );
    assert!(err.stderr.contains("is not in subnet"), "{err}");
    // Two VMs on it: DHCP gives each the address the API chose, and the ports go ACTIVE.
    let (p1, vm1) = vm(&c, &host, &net_id, "vm1", &[]);
    let (p2, vm2) = vm(&c, &host, &net_id, "vm2", &[]);
    for (p, v) in [(&p1, &vm1), (&p2, &vm2)] {
        assert_eq!(v.dhcp(), Some(fixed_ip(p)), "DHCP for {}", s(p, "name"));
    }
    for p in [&p1, &p2] {
        let id = s(p, "id").to_owned();
        eventually("the port goes ACTIVE", Duration::from_secs(20), || {
            c.os_json(DEMO, &["port", "show", &id])["status"] == "ACTIVE"
        });
    }
    let shown = c.os_json(ADMIN, &["port", "show", s(&p1, "id")]);
    assert_eq!(shown["binding_vif_type"], "bridge", "{shown}");
    // The default group lets members of the group reach each other.
    assert!(
        vm1.ping(fixed_ip(&p2)),
        "vm1 cannot reach vm2 in the default group"
    );
    // A group with no ingress rule cuts vm2 off; a rule for ICMP lets pings in again.
    c.os(DEMO, &["security", "group", "create", "closed"]);
    c.os(
        DEMO,
        &[
            "port",
            "set",
            "--no-security-group",
            "--security-group",
            "closed",
            s(&p2, "id"),
        ],
    );
    eventually(
        "the closed group blocks pings",
        Duration::from_secs(10),
        || !vm1.ping(fixed_ip(&p2)),
    );
    c.os(
        DEMO,
        &[
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "icmp",
            "--ingress",
            "closed",
        ],
    );
    eventually(
        "the ICMP rule lets pings in",
        Duration::from_secs(10),
        || vm1.ping(fixed_ip(&p2)),
    );
    // vm1 cannot take another address: its port sends from its own only.
    vm1.readdress("10.10.0.250/24");
    assert!(!vm1.ping(fixed_ip(&p2)), "a spoofed source got through");
    // RBAC: the network shared with another project (as admin: the target is by name).
    c.os(
        ADMIN,
        &["project", "create", "--domain", "default", "other"],
    );
    let grant = c.os_json(
        ADMIN,
        &[
            "network",
            "rbac",
            "create",
            "--target-project",
            "other",
            "--action",
            "access_as_shared",
            "--type",
            "network",
            &net_id,
        ],
    );
    assert_eq!(grant["action"], "access_as_shared", "{grant}");
    let listed = c.os_json(ADMIN, &["network", "rbac", "list"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Object ID"] == net_id.as_str()),
        "{listed}"
    );
    c.os(ADMIN, &["network", "rbac", "delete", s(&grant, "id")]);
    // The agent is listed, alive, on host h1.
    let agents = c.os_json(ADMIN, &["network", "agent", "list"]);
    assert_eq!(agents[0]["Host"], "h1", "{agents}");
    assert_eq!(agents[0]["Alive"], true, "{agents}");
    // Deleting the ports and the network removes what the agent made.
    drop((vm1, vm2));
    c.os(ADMIN, &["port", "delete", s(&p1, "id"), s(&p2, "id")]);
    c.os(DEMO, &["network", "delete", "net1"]);
    let bridge = format!("brq{}", &net_id[..11]);
    eventually("the bridge is removed", Duration::from_secs(10), || {
        !host.sh(&format!("ip link show {bridge}")).success()
    });
    eventually(
        "the DHCP namespace is removed",
        Duration::from_secs(10),
        || !netns::sh(&format!("ip netns list | grep -q qdhcp-{net_id}")).success(),
    );
}

#[test]
fn sdk_networks_ports_and_groups() {
    let Some((_host, c)) = host_cloud(Engine::Sqlite) else {
        return;
    };
    let out = c.python(
        r#"
import openstack
conn = openstack.connect(cloud="oxistack-demo")
net = conn.network.create_network(name="sdk-net")
sub = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="192.168.50.0/24", name="sdk-sub")
port = conn.network.create_port(network_id=net.id, name="sdk-port")
assert port.fixed_ips[0]["subnet_id"] == sub.id, port
sg = conn.network.create_security_group(name="sdk-sg")
rule = conn.network.create_security_group_rule(security_group_id=sg.id, direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22)
assert [p.name for p in conn.network.ports(network_id=net.id) if p.name] == ["sdk-port"]
assert conn.network.find_network("sdk-net").id == net.id
assert sorted(s.name for s in conn.network.subnets(network_id=net.id)) == ["sdk-sub"]
page = list(conn.network.networks(limit=1))
assert net.id in [n.id for n in page], page
ext = conn.network.find_network("public")
router = conn.network.find_router("router1")
assert router.external_gateway_info["network_id"] == ext.id, router
r2 = conn.network.create_router(name="sdk-router", external_gateway_info={"network_id": ext.id})
conn.network.add_interface_to_router(r2, subnet_id=sub.id)
fip = conn.network.create_ip(floating_network_id=ext.id, port_id=port.id)
assert fip.fixed_ip_address == port.fixed_ips[0]["ip_address"], fip
assert fip.router_id == r2.id, fip
conn.network.delete_ip(fip)
conn.network.remove_interface_from_router(r2, subnet_id=sub.id)
conn.network.delete_router(r2)
assert any(a.alias == "router" for a in conn.network.extensions())
conn.network.delete_security_group_rule(rule)
conn.network.delete_security_group(sg)
conn.network.delete_port(port)
conn.network.delete_network(net)
print("OK")
"#,
    );
    assert!(out.success() && out.stdout.contains("OK"), "{out}");
}

/// The address a TCP client in `from` appears with at a listener in `to` (a one-shot
/// listener on `port` printing its peer), connecting to `address`.
fn seen_as(to: &Netns, from: &Netns, address: &str, port: u16) -> String {
    seen_via(to, from, address, port, port)
}

/// [`seen_as`] where `from` dials `address:dial` and `to` listens on `port` (a port
/// forwarding in between).
fn seen_via(to: &Netns, from: &Netns, address: &str, dial: u16, port: u16) -> String {
    use std::io::BufRead;
    let mut listener = to
        .command("python3")
        .args([
            "-c",
            &format!(
                "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',{port}));s.listen(1);print('listening',flush=True);s.settimeout(15);c,a=s.accept();print(a[0]);c.close()"
            ),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("listener");
    // Connect only once it listens (a loaded machine starts python slowly).
    let mut lines = std::io::BufReader::new(listener.stdout.take().expect("stdout")).lines();
    let ready = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(
        ready, "listening",
        "the listener in {} did not start",
        to.name
    );
    let _ = from.sh(&format!("echo hi | timeout 5 busybox nc {address} {dial}"));
    let seen = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = listener.wait();
    seen.trim().to_owned()
}

#[test]
fn cli_router_floating_ips_port_forwarding_and_qos() {
    let Some((host, c)) = host_cloud(Engine::Sqlite) else {
        return;
    };
    // `up` made public, private and router1 (as DevStack), the host holds 172.24.4.1.
    let nets = c.os_json(DEMO, &["network", "list"]);
    let names: Vec<&str> = nets
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(n, "Name"))
        .collect();
    assert!(
        names.contains(&"private") && names.contains(&"public"),
        "{nets}"
    );
    let router = c.os_json(DEMO, &["router", "show", "router1"]);
    let gw_ip = s(
        &router["external_gateway_info"]["external_fixed_ips"][0],
        "ip_address",
    )
    .to_owned();
    let (port, vm) = vm(&c, &host, "private", "web", &[]);
    let fixed = fixed_ip(&port);
    assert_eq!(vm.dhcp(), Some(fixed));
    // Out through the router: SNAT to the router's gateway address.
    eventually("the router answers", Duration::from_secs(20), || {
        vm.ping("10.0.0.1".parse().unwrap())
    });
    assert!(
        vm.ping("172.24.4.1".parse().unwrap()),
        "the VM cannot reach the host through SNAT"
    );
    assert_eq!(seen_as(&host, &vm.ns, "172.24.4.1", 7001), gw_ip, "SNAT");
    // In through a floating IP, once the group lets it in; out as the floating IP.
    c.os(
        DEMO,
        &[
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "icmp",
            "default",
        ],
    );
    c.os(
        DEMO,
        &[
            "security",
            "group",
            "rule",
            "create",
            "--protocol",
            "tcp",
            "--dst-port",
            "22",
            "default",
        ],
    );
    let fip = c.os_json(
        DEMO,
        &[
            "floating",
            "ip",
            "create",
            "public",
            "--port",
            s(&port, "id"),
        ],
    );
    let fip_ip: IpAddr = s(&fip, "floating_ip_address").parse().unwrap();
    eventually("the floating IP answers", Duration::from_secs(20), || {
        host.sh(&format!("busybox ping -c 1 -W 1 {fip_ip}"))
            .success()
    });
    assert_eq!(
        seen_as(&host, &vm.ns, "172.24.4.1", 7002),
        fip_ip.to_string(),
        "floating IP SNAT"
    );
    assert_eq!(
        seen_as(&vm.ns, &host, &fip_ip.to_string(), 22),
        "172.24.4.1",
        "floating IP DNAT"
    );
    // A port forwarding on a second floating IP: its port 2222 reaches the VM's 22
    // (a port with a floating IP of its own takes none, as in Neutron: unset it first).
    c.os(DEMO, &["floating", "ip", "unset", "--port", s(&fip, "id")]);
    let fip2 = c.os_json(DEMO, &["floating", "ip", "create", "public"]);
    let fip2_ip = s(&fip2, "floating_ip_address").to_owned();
    c.os(
        DEMO,
        &[
            "floating",
            "ip",
            "port",
            "forwarding",
            "create",
            "--internal-ip-address",
            &fixed.to_string(),
            "--port",
            s(&port, "id"),
            "--internal-protocol-port",
            "22",
            "--external-protocol-port",
            "2222",
            "--protocol",
            "tcp",
            &fip2_ip,
        ],
    );
    thread::sleep(Duration::from_secs(2));
    let via_pf = seen_via(&vm.ns, &host, &fip2_ip, 2222, 22);
    assert_eq!(via_pf, "172.24.4.1", "port forwarding");
    // QoS: a bandwidth limit on the port puts a shaper on its tap.
    c.os(
        ADMIN,
        &["network", "qos", "policy", "create", "--share", "slow"],
    );
    c.os(
        ADMIN,
        &[
            "network",
            "qos",
            "rule",
            "create",
            "--type",
            "bandwidth-limit",
            "--max-kbps",
            "8000",
            "--max-burst-kbits",
            "800",
            "--egress",
            "slow",
        ],
    );
    c.os(
        DEMO,
        &["port", "set", "--qos-policy", "slow", s(&port, "id")],
    );
    let tap = format!("tap{}", &s(&port, "id")[..11]);
    eventually("the tap is shaped", Duration::from_secs(20), || {
        host.sh(&format!("tc qdisc show dev {tap}"))
            .stdout
            .contains("tbf")
    });
    // The agent list shows the host's agent.
    let agents = c.os_json(ADMIN, &["network", "agent", "list", "--host", "h1"]);
    assert_eq!(agents.as_array().map(Vec::len), Some(1), "{agents}");
}

#[test]
fn cli_ipv6_router_advertisements_and_dhcpv6() {
    let Some((host, c)) = host_cloud(Engine::Sqlite) else {
        return;
    };
    // Two IPv6 networks behind one router: SLAAC on one, DHCPv6 stateful on the other.
    let mut subnets = Vec::new();
    for (net, cidr, mode) in [
        ("v6slaac", "2001:db8:60::/64", "slaac"),
        ("v6dhcp", "2001:db8:61::/64", "dhcpv6-stateful"),
    ] {
        c.os_json(DEMO, &["network", "create", net]);
        let subnet = c.os_json(
            DEMO,
            &[
                "subnet",
                "create",
                "--network",
                net,
                "--ip-version",
                "6",
                "--subnet-range",
                cidr,
                "--ipv6-ra-mode",
                mode,
                "--ipv6-address-mode",
                mode,
                "--dns-nameserver",
                "2001:db8::53",
                &format!("{net}-sub"),
            ],
        );
        assert_eq!(s(&subnet, "ipv6_ra_mode"), mode, "{subnet}");
        assert_eq!(s(&subnet, "ipv6_address_mode"), mode, "{subnet}");
        subnets.push(format!("{net}-sub"));
    }
    c.os_json(DEMO, &["router", "create", "r6"]);
    for sub in &subnets {
        c.os(DEMO, &["router", "add", "subnet", "r6", sub]);
    }
    let router_ports = c.os_json(DEMO, &["port", "list", "--router", "r6"]);
    assert_eq!(
        router_ports.as_array().map(Vec::len),
        Some(2),
        "{router_ports}"
    );

    // SLAAC: the guest takes the address the API gave its port (EUI-64 of its MAC) from
    // the router's advertisement, and its default route via the router.
    let (p1, vm1) = vm(&c, &host, "v6slaac", "slaac-vm", &[]);
    let want = fixed_ip(&p1);
    assert!(want.is_ipv6() && want.to_string().starts_with("2001:db8:60:"));
    assert!(vm1.accept_ra(), "no link-local address");
    eventually("the SLAAC address", Duration::from_secs(30), || {
        vm1.ipv6_addresses().contains(&want)
    });
    let routes = vm1.ns.sh("ip -6 route show default").stdout;
    assert!(routes.contains("via fe80::"), "{routes}");
    // DHCPv6 stateful: exactly the port's address, no SLAAC address (A off).
    let (p2, vm2) = vm(&c, &host, "v6dhcp", "dhcp6-vm", &[]);
    let want = fixed_ip(&p2);
    assert!(vm2.accept_ra(), "no link-local address");
    let mut got = None;
    eventually("a DHCPv6 lease", Duration::from_secs(60), || {
        got = vm2.dhcp6();
        got.is_some()
    });
    assert_eq!(got, Some(want));
    assert_eq!(vm2.ipv6_addresses(), vec![want]);
    // Across the router, by the addresses the API gave.
    eventually("IPv6 across the router", Duration::from_secs(20), || {
        vm1.ns
            .sh(&format!("busybox ping -6 -c 1 -W 2 {want}"))
            .success()
    });
}

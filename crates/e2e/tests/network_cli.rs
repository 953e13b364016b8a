//! Networking (Neutron v2.0) driven by the unmodified clients against the real binary,
//! with real packets: `oxistack up` runs inside a "host" network namespace with its
//! network agent, and namespaces standing in for VMs are plugged where a VM's tap would
//! be. The endpoints get their addresses by DHCP, reach each other, are blocked and
//! unblocked by security group rules, and cannot spoof another address. openstacksdk
//! drives the same objects once.

use std::{net::IpAddr, thread, time::{Duration, Instant}};

use e2e::{
    netns::{self, Netns, Vm},
    Cloud, Engine, ADMIN, DEMO,
};
use serde_json::Value;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The cloud inside a fresh host namespace (`None`: this machine cannot run it).
fn host_cloud(engine: Engine) -> Option<(Netns, Cloud)> {
    if !netns::available() {
        return None;
    }
    let host = Netns::new("oxi-host");
    let mut c = Cloud::new(engine)?;
    c.in_netns(&host);
    c.up();
    Some((host, c))
}

/// Wait until `f` holds (or fail after `within`).
#[track_caller]
fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        thread::sleep(Duration::from_millis(200));
    }
}

/// A port of the demo project on `net`, bound to the agent's host (as Compute binds a
/// server's port), and a VM plugged on it.
fn vm(c: &Cloud, host: &Netns, net: &str, name: &str, extra: &[&str]) -> (Value, Vm) {
    let mut args = vec!["port", "create", "--network", net, "--project", "demo", "--host", "h1"];
    args.extend_from_slice(extra);
    args.push(name);
    let port = c.os_json(ADMIN, &args);
    let v = Vm::plug(host, s(&port, "id"), s(&port, "mac_address"));
    (port, v)
}

fn fixed_ip(port: &Value) -> IpAddr {
    s(&port["fixed_ips"][0], "ip_address").parse().unwrap()
}

#[test]
fn cli_networks_with_real_packets() {
    let Some((host, c)) = host_cloud(Engine::Sqlite) else { return };
    // The user's view: a network, a subnet, refusals with Neutron's words.
    let net = c.os_json(DEMO, &["network", "create", "net1"]);
    let net_id = s(&net, "id").to_owned();
    assert_eq!(net["mtu"], 1450, "a VXLAN project network: {net}");
    let subnet = c.os_json(DEMO, &["subnet", "create", "--network", "net1", "--subnet-range", "10.10.0.0/24", "sub1"]);
    assert_eq!(s(&subnet, "gateway_ip"), "10.10.0.1");
    let err = c.os_err(DEMO, &["subnet", "create", "--network", "net1", "--subnet-range", "10.10.0.128/25", "overlap"]);
    assert!(err.stderr.contains("overlaps with another subnet"), "{err}");
    let err = c.os_err(DEMO, &["subnet", "create", "--network", "net1", "--subnet-range", "10.11.0.0/24", "--gateway", "10.12.0.1", "badgw"]);
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
    assert!(vm1.ping(fixed_ip(&p2)), "vm1 cannot reach vm2 in the default group");
    // A group with no ingress rule cuts vm2 off; a rule for ICMP lets pings in again.
    c.os(DEMO, &["security", "group", "create", "closed"]);
    c.os(DEMO, &["port", "set", "--no-security-group", "--security-group", "closed", s(&p2, "id")]);
    eventually("the closed group blocks pings", Duration::from_secs(10), || !vm1.ping(fixed_ip(&p2)));
    c.os(DEMO, &["security", "group", "rule", "create", "--protocol", "icmp", "--ingress", "closed"]);
    eventually("the ICMP rule lets pings in", Duration::from_secs(10), || vm1.ping(fixed_ip(&p2)));
    // vm1 cannot take another address: its port sends from its own only.
    vm1.readdress("10.10.0.250/24");
    assert!(!vm1.ping(fixed_ip(&p2)), "a spoofed source got through");
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
    eventually("the DHCP namespace is removed", Duration::from_secs(10), || {
        !netns::sh(&format!("ip netns list | grep -q qdhcp-{net_id}")).success()
    });
}

#[test]
fn sdk_networks_ports_and_groups() {
    let Some((_host, c)) = host_cloud(Engine::Sqlite) else { return };
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
conn.network.delete_security_group_rule(rule)
conn.network.delete_security_group(sg)
conn.network.delete_port(port)
conn.network.delete_network(net)
print("OK")
"#,
    );
    assert!(out.success() && out.stdout.contains("OK"), "{out}");
}

//! `network_data.json`: links, networks and services, as Nova derives them from an
//! instance's ports.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::model::{Port, Subnet};

/// The VIF types Nova names in a link's `type`; any other is `phy`.
const EXPOSED_VIF_TYPES: [&str; 9] = [
    "bridge",
    "dvs",
    "hw_veb",
    "hyperv",
    "ovs",
    "tap",
    "vhostuser",
    "vif",
    "vrouter",
];

/// Interface names are cut to this many characters (Linux's IFNAMSIZ less one).
const NIC_NAME_LEN: usize = 14;

/// `network_data.json` of these ports (`{}` without any). Only each port's first IPv4
/// and first IPv6 subnet count, as in Nova.
pub fn network_data(ports: &[Port]) -> Value {
    if ports.is_empty() {
        return json!({});
    }
    let mut links = Vec::new();
    let mut networks = Vec::new();
    let mut services: Vec<Value> = Vec::new();
    let mut net_num = 0usize;
    for port in ports.iter().filter(|p| !p.subnets.is_empty()) {
        let first = |v4: bool| port.subnets.iter().find(|s| s.cidr.addr().is_ipv4() == v4);
        let (v4, v6) = (first(true), first(false));
        if v4.is_none() && v6.is_none() {
            continue;
        }
        let link_id = link_name(port);
        links.push(link(port, &link_id));
        for subnet in [v4, v6].into_iter().flatten() {
            if subnet.ips.is_empty() {
                continue;
            }
            networks.push(net(port, subnet, net_num, &link_id));
            net_num += 1;
            for dns in dns_services(subnet) {
                if !services.contains(&dns) {
                    services.push(dns);
                }
            }
        }
    }
    json!({"links": links, "networks": networks, "services": services})
}

/// The tap device Nova names after the port (`tap` + the start of its id).
fn link_name(port: &Port) -> String {
    let mut name = format!("tap{}", port.id);
    name.truncate(NIC_NAME_LEN);
    name
}

fn link(port: &Port, id: &str) -> Value {
    let kind = if EXPOSED_VIF_TYPES.contains(&port.vif_type.as_str()) {
        port.vif_type.as_str()
    } else {
        "phy"
    };
    // with a DHCP server the guest learns its MTU from DHCP
    let mtu = if port.subnets.iter().any(|s| s.dhcp_server.is_some()) {
        None
    } else {
        port.mtu
    };
    json!({
        "id": id,
        "vif_id": port.id,
        "type": kind,
        "mtu": mtu,
        "ethernet_mac_address": port.mac_address,
    })
}

fn net(port: &Port, subnet: &Subnet, net_num: usize, link_id: &str) -> Value {
    let version = if subnet.cidr.addr().is_ipv4() { 4 } else { 6 };
    let id = format!("network{net_num}");
    let suffix = match &subnet.ipv6_address_mode {
        Some(mode) => format!("_{mode}"),
        None if subnet.dhcp_server.is_some() || subnet.enable_dhcp => {
            return json!({
                "id": id,
                "type": format!("ipv{version}_dhcp"),
                "link": link_id,
                "network_id": port.network_id,
            });
        }
        None => String::new(),
    };
    let mut routes = Vec::new();
    if let Some(gw) = subnet.gateway {
        let any = if version == 4 { "0.0.0.0" } else { "::" };
        routes.push(json!({"network": any, "netmask": any, "gateway": gw}));
    }
    for r in &subnet.host_routes {
        routes.push(json!({
            "network": r.destination.network(),
            "netmask": r.destination.netmask(),
            "gateway": r.nexthop,
        }));
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("type".into(), json!(format!("ipv{version}{suffix}")));
    m.insert("link".into(), json!(link_id));
    m.insert("ip_address".into(), json!(subnet.ips[0]));
    m.insert("netmask".into(), json!(subnet.cidr.netmask()));
    m.insert("routes".into(), Value::Array(routes));
    m.insert("network_id".into(), json!(port.network_id));
    m.insert("services".into(), Value::Array(dns_services(subnet)));
    Value::Object(m)
}

fn dns_services(subnet: &Subnet) -> Vec<Value> {
    subnet
        .dns_nameservers
        .iter()
        .map(|a: &IpAddr| json!({"type": "dns", "address": a}))
        .collect()
}

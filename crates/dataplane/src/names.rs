//! Device and namespace names, as Neutron's Linux bridge agent gives them. Linux limits
//! interface names to 15 characters, hence the 11-character prefixes of uuids.

use sha2::{Digest, Sha256};

fn prefix11(id: &str) -> &str {
    // uuids are ASCII; fall back to the whole string for shorter ids
    id.get(..11).unwrap_or(id)
}

/// The bridge of a network: `brq` + the first 11 characters of its id.
pub fn bridge(network_id: &str) -> String {
    format!("brq{}", prefix11(network_id))
}

/// A port's tap device: `tap` + the first 11 characters of its id.
pub fn tap(port_id: &str) -> String {
    format!("tap{}", prefix11(port_id))
}

/// The ifb device shaping what a port's VM sends (its tap's ingress is redirected
/// there): `ifb` + the tap name's 11 characters after `tap`.
pub fn ifb(tap: &str) -> String {
    format!("ifb{}", tap.strip_prefix("tap").unwrap_or(tap))
}

/// The VXLAN device of a VNI.
pub fn vxlan(vni: u32) -> String {
    format!("vxlan-{vni}")
}

/// The VLAN subinterface of a physnet interface.
pub fn vlan(interface: &str, vlan_id: u16) -> String {
    format!("{interface}.{vlan_id}")
}

/// The DHCP namespace of a network.
pub fn dhcp_namespace(network_id: &str) -> String {
    format!("qdhcp-{network_id}")
}

/// The DHCP namespace of a network on a host whose namespaces carry `tag` (several
/// hosts on one machine share its `/run/netns`): `qdhcp-<network>-<tag>`.
pub fn tagged_dhcp_namespace(network_id: &str, tag: Option<&str>) -> String {
    match tag {
        Some(tag) => format!("{}-{tag}", dhcp_namespace(network_id)),
        None => dhcp_namespace(network_id),
    }
}

/// The 11 hex characters naming a network's DHCP port devices: a hash of the network
/// id rather than its prefix, so they never equal a VM tap's name (`tap` + port id).
fn dhcp_suffix(network_id: &str) -> String {
    let digest = Sha256::digest(format!("dhcp:{network_id}").as_bytes());
    hex::encode(digest)[..11].to_owned()
}

/// The host end of a network's DHCP port veth (a port of the bridge):
/// `tap` + 11 hex characters of sha256("dhcp:" + network id).
pub fn dhcp_tap(network_id: &str) -> String {
    format!("tap{}", dhcp_suffix(network_id))
}

/// The namespace end of a network's DHCP port veth: `ns-` + the same 11 characters.
pub fn dhcp_ns_device(network_id: &str) -> String {
    format!("ns-{}", dhcp_suffix(network_id))
}

/// A router's namespace: `qrouter-` + its id (as Neutron's L3 agent).
pub fn router_namespace(router_id: &str) -> String {
    format!("qrouter-{router_id}")
}

/// A router's internal interface in its namespace: `qr-` + 11 characters of the port id.
pub fn router_internal(port_id: &str) -> String {
    format!("qr-{}", prefix11(port_id))
}

/// A router's gateway interface in its namespace: `qg-` + 11 characters of the port id.
pub fn router_gateway(port_id: &str) -> String {
    format!("qg-{}", prefix11(port_id))
}

/// The host end (a port of the internal network's bridge) of a `qr-` veth:
/// `tr-` + the same 11 characters (`tap` is the VM ports' prefix).
pub fn router_internal_peer(port_id: &str) -> String {
    format!("tr-{}", prefix11(port_id))
}

/// The host end (a port of the external network's bridge) of a `qg-` veth:
/// `tg-` + the same 11 characters.
pub fn router_gateway_peer(port_id: &str) -> String {
    format!("tg-{}", prefix11(port_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_in_ifnamsiz() {
        let id = "6f2c1c33-0b5e-4a6e-9d51-1e0c7a3bb0a2";
        for name in [
            bridge(id),
            tap(id),
            dhcp_tap(id),
            dhcp_ns_device(id),
            vxlan(16_777_215),
            router_internal(id),
            router_gateway(id),
            router_internal_peer(id),
            router_gateway_peer(id),
        ] {
            assert!(name.len() <= 15, "{name}");
        }
        assert_eq!(bridge(id), "brq6f2c1c33-0b");
        assert_eq!(tap(id), "tap6f2c1c33-0b");
        assert_ne!(dhcp_tap(id), tap(id));
        assert_eq!(router_internal(id), "qr-6f2c1c33-0b");
        assert_eq!(router_gateway_peer(id), "tg-6f2c1c33-0b");
        assert_eq!(router_namespace(id), format!("qrouter-{id}"));
    }
}

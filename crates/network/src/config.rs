//! The `[network]` section of the configuration.

use serde::{Deserialize, Serialize};

/// The `[network]` section of the configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port of the Networking API.
    pub port: u16,
    /// MTU of the physical networks; VXLAN networks get 50 bytes less (its header).
    pub global_physnet_mtu: u32,
    /// The type of networks projects create (Neutron's `tenant_network_types`):
    /// `vxlan` or `local`.
    pub tenant_network_type: String,
    /// VXLAN network identifiers handed to project networks, inclusive.
    pub vni_ranges: Vec<[u32; 2]>,
    /// Physical networks `flat` networks may use (`*`: any).
    pub flat_networks: Vec<String>,
    /// Physical networks `vlan` networks may use, with the VLAN ids projects get.
    pub network_vlan_ranges: Vec<VlanRange>,
    /// The first three bytes of generated MAC addresses.
    pub base_mac: String,
    /// Domain of the host names DHCP gives (`dns_domain`).
    pub dns_domain: String,
    /// DHCP lease time, in seconds.
    pub dhcp_lease_duration: u32,
    /// An agent whose last heartbeat is older than this, in seconds, is down.
    pub agent_down_time: u64,
    /// Largest JSON request body, in bytes.
    pub max_request_body_size: usize,
    /// Largest page of a list (`limit` above it is cut to it).
    pub pagination_max_limit: usize,
    /// The default quotas of every project; `-1` is unlimited.
    pub quotas: Quotas,
    /// What `oxistack up` creates.
    pub bootstrap: Bootstrap,
}

/// The networks `oxistack up` creates (DevStack's `public`, `private`, `router1`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Bootstrap {
    /// Create them at all.
    pub enabled: bool,
    /// The subnet of the external network `public`; the host holds its first address.
    pub public_cidr: String,
    /// The subnet of the demo project's network `private`.
    pub private_cidr: String,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            enabled: true,
            public_cidr: "172.24.4.0/24".into(),
            private_cidr: "10.0.0.0/26".into(),
        }
    }
}

/// A physical network's VLAN ids open to project networks.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VlanRange {
    pub physical_network: String,
    pub min: u16,
    pub max: u16,
}

/// Neutron's `[quotas]` defaults.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    pub network: i64,
    pub subnet: i64,
    pub port: i64,
    pub security_group: i64,
    pub security_group_rule: i64,
    pub router: i64,
    pub floatingip: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            network: 100,
            subnet: 100,
            port: 500,
            security_group: 10,
            security_group_rule: 100,
            router: 10,
            floatingip: 50,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 9696,
            global_physnet_mtu: 1500,
            tenant_network_type: "vxlan".into(),
            vni_ranges: vec![[1, 1000]],
            flat_networks: vec!["*".into()],
            network_vlan_ranges: Vec::new(),
            base_mac: "fa:16:3e".into(),
            dns_domain: "openstacklocal.".into(),
            dhcp_lease_duration: 86400,
            agent_down_time: 75,
            max_request_body_size: 114_688,
            pagination_max_limit: 1000,
            quotas: Quotas::default(),
            bootstrap: Bootstrap::default(),
        }
    }
}

/// The documented section, as `oxistack config` prints it.
pub const EXAMPLE: &str = r#"[network]
port = 9696
# MTU of the physical networks; VXLAN networks get 50 bytes less.
global_physnet_mtu = 1500
# The type of networks projects create: "vxlan" or "local".
tenant_network_type = "vxlan"
# VXLAN ids handed to project networks (inclusive ranges).
vni_ranges = [[1, 1000]]
# Physical networks flat networks may use ("*": any).
flat_networks = ["*"]
# VLAN ids open to project networks, per physical network, e.g.
# network_vlan_ranges = [{ physical_network = "physnet1", min = 100, max = 199 }]
network_vlan_ranges = []
# The first three bytes of generated MAC addresses.
base_mac = "fa:16:3e"
# Domain of the host names DHCP gives.
dns_domain = "openstacklocal."
dhcp_lease_duration = 86400
# An agent silent for longer than this (seconds) is shown as down.
agent_down_time = 75
# Largest JSON request body, in bytes.
max_request_body_size = 114688
# Largest page of a list.
pagination_max_limit = 1000

[network.bootstrap]
# What `oxistack up` creates: an external network `public` (the host holds the first
# address of its subnet, so it reaches floating IPs) and, for the demo project, a network
# `private` behind a router `router1`.
enabled = true
public_cidr = "172.24.4.0/24"
private_cidr = "10.0.0.0/26"

[network.quotas]
# Default per-project quotas; -1 is unlimited.
network = 100
subnet = 100
port = 500
security_group = 10
security_group_rule = 100
router = 10
floatingip = 50
"#;

impl Config {
    /// The MTU of a new network of `network_type`.
    pub fn mtu_for(&self, network_type: &str) -> u32 {
        match network_type {
            "vxlan" => self.global_physnet_mtu.saturating_sub(50),
            _ => self.global_physnet_mtu,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_is_the_defaults() {
        let v: toml::Value = toml::from_str(super::EXAMPLE).unwrap();
        let cfg: super::Config = v["network"].clone().try_into().unwrap();
        assert_eq!(cfg, super::Config::default());
    }
}

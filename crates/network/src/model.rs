//! The resources of the Networking service, as the app layer handles them (no JSON
//! here: `api/` renders them in Neutron's form).

use std::net::IpAddr;

use ipnet::IpNet;
use types::{
    AddressScopeId, FloatingIpId, NetworkId, PortId, QosPolicyId, RbacPolicyId, RouterId,
    SecurityGroupId, SecurityGroupRuleId, SubnetId, SubnetPoolId,
};

/// How a network reaches the wire (Neutron's provider attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `local`, `flat`, `vlan` or `vxlan`.
    pub network_type: String,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Network {
    pub id: NetworkId,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub shared: bool,
    pub external: bool,
    pub mtu: u32,
    pub port_security_enabled: bool,
    pub segment: Segment,
    pub availability_zone_hints: Vec<String>,
    pub dns_domain: String,
    pub qos_policy_id: Option<QosPolicyId>,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Its subnets' ids (read with the network).
    pub subnets: Vec<SubnetId>,
    pub tags: Vec<String>,
}

/// An allocation pool: `start` to `end`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pool {
    pub start: IpAddr,
    pub end: IpAddr,
}

/// A static route a subnet's DHCP pushes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostRoute {
    pub destination: IpNet,
    pub nexthop: IpAddr,
}

#[derive(Debug, Clone)]
pub struct Subnet {
    pub id: SubnetId,
    pub project_id: String,
    pub network_id: NetworkId,
    pub name: String,
    pub description: String,
    pub cidr: IpNet,
    pub gateway_ip: Option<IpAddr>,
    pub allocation_pools: Vec<Pool>,
    pub dns_nameservers: Vec<IpAddr>,
    pub host_routes: Vec<HostRoute>,
    pub enable_dhcp: bool,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub subnetpool_id: Option<String>,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    pub tags: Vec<String>,
}

impl Subnet {
    pub fn ip_version(&self) -> u8 {
        match self.cidr {
            IpNet::V4(_) => 4,
            IpNet::V6(_) => 6,
        }
    }

    /// Addresses of this subnet come from the port's MAC (SLAAC), not from the pools.
    pub fn auto_address(&self) -> bool {
        matches!(
            self.ipv6_address_mode.as_deref(),
            Some("slaac") | Some("dhcpv6-stateless")
        )
    }
}

/// An address of a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIp {
    pub subnet_id: SubnetId,
    pub ip_address: IpAddr,
}

/// An extra address (or range) a port may send from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

/// A DHCP option set for one port (`extra_dhcp_opts`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DhcpOpt {
    pub opt_name: String,
    pub opt_value: String,
    pub ip_version: u8,
}

#[derive(Debug, Clone)]
pub struct Port {
    pub id: PortId,
    pub project_id: String,
    pub network_id: NetworkId,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_id: String,
    pub device_owner: String,
    /// `binding:host_id`: the host whose agent wires it.
    pub host_id: String,
    /// `binding:vnic_type`.
    pub vnic_type: String,
    /// `binding:profile`, as the client gave it.
    pub profile: serde_json::Value,
    /// `DOWN` until the agent of its host has wired it, then `ACTIVE`.
    pub status: String,
    pub port_security_enabled: bool,
    pub security_groups: Vec<SecurityGroupId>,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub extra_dhcp_opts: Vec<DhcpOpt>,
    pub dns_name: String,
    pub qos_policy_id: Option<QosPolicyId>,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    pub tags: Vec<String>,
}

impl Port {
    /// The tap device a hypervisor creates for the port (and the agent plugs), as
    /// Neutron's Linux bridge agent names it.
    pub fn device_name(&self) -> String {
        device_name(&self.id)
    }

    /// The port is bound to a host, so an agent wires it.
    pub fn bound(&self) -> bool {
        !self.host_id.is_empty()
    }
}

/// `tap` + the first 11 characters of the port id.
pub fn device_name(id: &PortId) -> String {
    format!("tap{}", &id.as_str()[..11])
}

/// What Neutron's DHCP ports own.
pub const DEVICE_OWNER_DHCP: &str = "network:dhcp";
/// Ports owned by the cloud itself: only an admin (or the network's owner) makes them.
pub fn network_device(owner: &str) -> bool {
    owner.starts_with("network:")
}

#[derive(Debug, Clone)]
pub struct SecurityGroup {
    pub id: SecurityGroupId,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub stateful: bool,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    pub rules: Vec<SecurityGroupRule>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ingress" => Ok(Direction::Ingress),
            "egress" => Ok(Direction::Egress),
            _ => Err(format!("{s:?} is not a direction")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SecurityGroupRule {
    pub id: SecurityGroupRuleId,
    pub project_id: String,
    pub security_group_id: SecurityGroupId,
    pub direction: Direction,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// As the client wrote it (`tcp`, `6`), normalized to lower case; `None`: any.
    pub protocol: Option<String>,
    pub port_range_min: Option<u16>,
    pub port_range_max: Option<u16>,
    pub remote_ip_prefix: Option<IpNet>,
    pub remote_group_id: Option<SecurityGroupId>,
    pub description: String,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A router's connection to an external network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub network_id: NetworkId,
    pub enable_snat: bool,
    /// The addresses of its gateway port (read with the router).
    pub external_fixed_ips: Vec<FixedIp>,
}

#[derive(Debug, Clone)]
pub struct Router {
    pub id: RouterId,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub gateway: Option<Gateway>,
    pub routes: Vec<HostRoute>,
    pub availability_zone_hints: Vec<String>,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct FloatingIp {
    pub id: FloatingIpId,
    pub project_id: String,
    pub floating_network_id: NetworkId,
    /// The port on the external network that holds the address.
    pub floating_port_id: PortId,
    pub floating_ip_address: IpAddr,
    pub port_id: Option<PortId>,
    pub fixed_ip_address: Option<IpAddr>,
    pub router_id: Option<RouterId>,
    pub description: String,
    pub dns_name: String,
    pub dns_domain: String,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PortForwarding {
    pub id: String,
    pub floatingip_id: FloatingIpId,
    /// `tcp` or `udp`.
    pub protocol: String,
    pub internal_port_id: PortId,
    pub internal_ip_address: IpAddr,
    pub internal_port: u16,
    pub external_port: u16,
    pub description: String,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A QoS policy and its rules.
#[derive(Debug, Clone)]
pub struct QosPolicy {
    pub id: QosPolicyId,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub shared: bool,
    pub is_default: bool,
    pub rules: Vec<BandwidthLimitRule>,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    pub tags: Vec<String>,
}

/// A bandwidth limit of a QoS policy, for one direction (seen from the VM: `egress`
/// is what it sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandwidthLimitRule {
    pub id: String,
    pub policy_id: QosPolicyId,
    pub max_kbps: u64,
    pub max_burst_kbps: u64,
    pub direction: String,
}

/// An RBAC policy: `object` of `object_type` shared with `target_project` (`*`: all).
#[derive(Debug, Clone)]
pub struct RbacPolicy {
    pub id: RbacPolicyId,
    pub project_id: String,
    /// `network` or `qos_policy`.
    pub object_type: String,
    pub object_id: String,
    /// `access_as_shared` or `access_as_external`.
    pub action: String,
    pub target_project: String,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A pool subnets take their prefixes from.
#[derive(Debug, Clone)]
pub struct SubnetPool {
    pub id: SubnetPoolId,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub ip_version: u8,
    pub prefixes: Vec<IpNet>,
    pub default_prefixlen: u8,
    pub min_prefixlen: u8,
    pub max_prefixlen: u8,
    pub shared: bool,
    pub is_default: bool,
    pub address_scope_id: Option<AddressScopeId>,
    pub default_quota: Option<i64>,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
    pub tags: Vec<String>,
}

/// A scope of addresses pools belong to (routing between scopes is not NATed).
#[derive(Debug, Clone)]
pub struct AddressScope {
    pub id: AddressScopeId,
    pub project_id: String,
    pub name: String,
    pub ip_version: u8,
    pub shared: bool,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// What router and floating IP ports own.
pub const DEVICE_OWNER_ROUTER_INTERFACE: &str = "network:router_interface";
pub const DEVICE_OWNER_ROUTER_GATEWAY: &str = "network:router_gateway";
pub const DEVICE_OWNER_FLOATINGIP: &str = "network:floatingip";

/// A host's agent, as it reported itself.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub host: String,
    pub agent_type: String,
    pub binary: String,
    pub topic: String,
    pub admin_state_up: bool,
    pub availability_zone: String,
    pub configurations: serde_json::Value,
    pub description: String,
    pub started_at: String,
    pub heartbeat_at: String,
    pub created_at: String,
    /// Its last heartbeat is recent enough (`agent_down_time`).
    pub alive: bool,
}

/// Now, as Neutron writes times (`2026-12-01T12:00:00Z`).
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A resource with tags (Neutron's `standard-attr-tag`).
pub trait HasTags {
    fn id(&self) -> &str;
    fn tags(&self) -> &[String];
    fn tags_mut(&mut self) -> &mut Vec<String>;
}

macro_rules! has_tags {
    ($($t:ty),* $(,)?) => {$(
        impl HasTags for $t {
            fn id(&self) -> &str {
                self.id.as_str()
            }
            fn tags(&self) -> &[String] {
                &self.tags
            }
            fn tags_mut(&mut self) -> &mut Vec<String> {
                &mut self.tags
            }
        }
    )*};
}

has_tags! { Network, Subnet, Port, SecurityGroup, Router, FloatingIp, QosPolicy, SubnetPool }

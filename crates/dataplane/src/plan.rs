//! The desired state of one host: what the agent computes from API objects and hands to
//! a [`Dataplane`](crate::Dataplane). Plain data, serializable so it can travel over the
//! bus, comparable so the agent can skip an apply when nothing changed.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The metadata address guests ask (`http://169.254.169.254/`).
pub const METADATA_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// The port of the agent's metadata proxy in a router namespace: guests' connections
/// to [`METADATA_ADDRESS`] port 80 are redirected there (Neutron's 9697).
pub const METADATA_PROXY_PORT: u16 = 9697;

/// Everything one host must have: its networks and the ports plugged on it. Whatever the
/// dataplane owns and this plan does not name is removed by the next apply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPlan {
    /// The networks with at least one port (or a DHCP server) on this host.
    pub networks: Vec<NetworkPlan>,
    /// The ports bound to this host; each names its network by `network_id`.
    pub ports: Vec<PortPlan>,
    /// The routers hosted here (Neutron's L3 agent): each a `qrouter-<id>` namespace
    /// whose devices are plugged into the bridges of [`HostPlan::networks`].
    #[serde(default)]
    pub routers: Vec<RouterPlan>,
    /// How the external network reaches the world from this host; `None` = bridged
    /// like any flat network.
    #[serde(default)]
    pub external: Option<ExternalPlan>,
}

/// The external network of this host and how it leaves the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalPlan {
    /// The external network (in [`HostPlan::networks`]).
    pub network_id: String,
    /// Bridged to its interface, or routed by the host.
    pub mode: ExternalMode,
}

/// How floating IPs and SNAT traffic reach the world.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExternalMode {
    /// The network's bridge has its flat interface enslaved: routers' gateway and
    /// floating IP MACs appear on the physical network (DevStack's br-ex with
    /// PUBLIC_INTERFACE).
    Bridged,
    /// For uplinks that drop frames from MACs they did not assign (a cloud VM): the
    /// bridge is *not* enslaved; the host routes between `uplink` and the bridge. What
    /// is set in the host namespace (see [`crate::linux`] for the details):
    /// `net.ipv4.ip_forward=1`; a /32 route via the bridge for every floating IP and
    /// router gateway address of this host; a proxy neighbour entry for each of them on
    /// `uplink` (so the host answers ARP for them with the uplink's MAC) and
    /// `net.ipv4.neigh.<uplink>.proxy_delay=0`; and masquerade (the uplink's own
    /// address) of what the external subnets send out of `uplink`.
    Routed {
        /// The host's real interface.
        uplink: String,
    },
}

/// One router on this host: the namespace `qrouter-<id>` with `net.ipv4.ip_forward=1`,
/// a `qg-` device on the external network, `qr-` devices on internal ones, and one nft
/// table doing SNAT, floating IPs and port forwardings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterPlan {
    /// The router's uuid (names the namespace).
    pub id: String,
    /// Its external gateway (Neutron's `external_gateway_info`), if set.
    pub gateway: Option<RouterGateway>,
    /// Its interfaces on internal networks.
    pub interfaces: Vec<RouterInterface>,
    /// Its extra routes (Neutron's `routes`): next hops in one of its subnets.
    pub routes: Vec<HostRoute>,
    /// The floating IPs associated with ports behind it (1:1 NAT).
    pub floating_ips: Vec<FloatingIpPlan>,
    /// Port forwardings of floating IPs to internal addresses.
    pub port_forwardings: Vec<PortForwardingPlan>,
    /// Whether guests behind it reach the metadata service through it: TCP to
    /// [`METADATA_ADDRESS`] port 80 arriving on a `qr-` device is redirected to
    /// [`METADATA_PROXY_PORT`] in the namespace (the source address stays: it tells the
    /// instance), where the agent's metadata proxy listens; that port is closed to
    /// anything not redirected.
    #[serde(default)]
    pub metadata: bool,
}

/// A router's gateway port on the external network: the `qg-` device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterGateway {
    /// The external network: its bridge is `brq<id>` on this host, in
    /// [`HostPlan::networks`].
    pub network_id: String,
    /// The gateway port's uuid (names the devices).
    pub port_id: String,
    /// The gateway port's MAC.
    pub mac: String,
    /// Its addresses with prefix, e.g. `172.24.4.10/24`.
    pub addresses: Vec<IpNet>,
    /// The default route's next hop (the external subnet's gateway).
    pub gateway_ip: Option<IpAddr>,
    /// Whether traffic of the internal subnets leaving by the gateway is source-NATed
    /// to the first gateway address (floating IPs are NATed regardless).
    pub enable_snat: bool,
}

/// A router's interface on an internal network: the `qr-` device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterInterface {
    /// The interface port's uuid (names the devices).
    pub port_id: String,
    /// The internal network (in [`HostPlan::networks`]).
    pub network_id: String,
    /// The port's MAC.
    pub mac: String,
    /// Its addresses with prefix, e.g. `10.0.0.1/24` (the subnets' gateways).
    pub addresses: Vec<IpNet>,
    /// The IPv6 subnets it is on, with their modes: the router advertises (radvd on
    /// the `qr-` device) the prefixes of those with an `ipv6_ra_mode`.
    #[serde(default)]
    pub ipv6_subnets: Vec<Ipv6Subnet>,
}

/// How an IPv6 subnet's guests are configured: Neutron's `ipv6_ra_mode` and
/// `ipv6_address_mode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ipv6Mode {
    /// Addresses by SLAAC from the advertised prefix; no DHCPv6.
    Slaac,
    /// Addresses and options by DHCPv6 (the RA's M flag, prefix not autonomous).
    Dhcpv6Stateful,
    /// Addresses by SLAAC, options by DHCPv6 (the RA's O flag).
    Dhcpv6Stateless,
}

/// What DHCPv6 serves on an IPv6 subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dhcpv6 {
    /// Addresses (the ports' own, by MAC) and options.
    Stateful,
    /// Options only (addresses come by SLAAC).
    Stateless,
}

impl Dhcpv6 {
    /// What DHCPv6 serves on an IPv6 subnet with these modes, as Neutron's DHCP agent:
    /// `dhcpv6-stateful`, and no mode at all (the pre-Juno behaviour), are served
    /// statefully; `dhcpv6-stateless` statelessly; `slaac`, and a RA mode without an
    /// address mode, not at all.
    pub fn of(ra_mode: Option<Ipv6Mode>, address_mode: Option<Ipv6Mode>) -> Option<Dhcpv6> {
        match (ra_mode, address_mode) {
            (_, Some(Ipv6Mode::Dhcpv6Stateful)) | (None, None) => Some(Dhcpv6::Stateful),
            (_, Some(Ipv6Mode::Dhcpv6Stateless)) => Some(Dhcpv6::Stateless),
            (_, Some(Ipv6Mode::Slaac)) | (Some(_), None) => None,
        }
    }
}

/// An IPv6 subnet a router has an interface on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Subnet {
    /// The prefix, e.g. `2001:db8:1::/64`.
    pub cidr: IpNet,
    /// Who sends router advertisements and with which flags: `None` = not this
    /// router (an external one, or none).
    pub ra_mode: Option<Ipv6Mode>,
    /// How guests get their addresses.
    pub address_mode: Option<Ipv6Mode>,
    /// The subnet's DNS servers (advertised as RDNSS on SLAAC subnets).
    pub dns_nameservers: Vec<IpAddr>,
}

/// A floating IP: DNAT floating -> fixed on the way in, SNAT fixed -> floating on the
/// way out, and the floating address as a /32 on the router's `qg-` device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIpPlan {
    /// The floating address (in the external subnet).
    pub floating_ip: IpAddr,
    /// The internal port's fixed address.
    pub fixed_ip: IpAddr,
}

/// A port forwarding: (floating IP, protocol, port) -> (internal address, port). Its
/// floating IP is held on `qg-` as a /32 too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForwardingPlan {
    /// The floating IP.
    pub external_ip: IpAddr,
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    /// The port on the floating IP.
    pub external_port: u16,
    /// The internal port's fixed address.
    pub internal_ip: IpAddr,
    /// The port on the internal address.
    pub internal_port: u16,
}

/// One network on this host: a bridge `brq<id[..11]>`, its uplink, and maybe DHCP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkPlan {
    /// The network's uuid (names the bridge and the DHCP namespace).
    pub id: String,
    /// How the bridge reaches other hosts.
    pub kind: NetworkKind,
    /// MTU of the bridge, its uplink device and the DHCP port (and pushed by DHCP
    /// option 26). VXLAN networks need 50 bytes less than the underlay.
    pub mtu: u32,
    /// The DHCP server of this network on this host, if it runs here.
    pub dhcp: Option<DhcpPlan>,
    /// An address the host itself holds on the network's bridge, e.g. `172.24.4.1/24`
    /// on the external network (DevStack's br-ex: the host reaches floating IPs
    /// through it).
    #[serde(default)]
    pub host_address: Option<IpNet>,
}

/// The segmentation of a network (Neutron's `provider:network_type`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NetworkKind {
    /// A bridge with no uplink: ports on this host only.
    Local,
    /// The bridge with a physical network's host interface enslaved.
    Flat {
        /// The physnet's host interface to enslave; `None` = bridge only.
        interface: Option<String>,
    },
    /// The bridge with `<interface>.<vlan_id>` enslaved. Built, but untestable on a
    /// kernel without 802.1Q (see [`crate::linux`]).
    Vlan {
        /// The physnet's host interface carrying the tagged frames.
        interface: String,
        /// The 802.1Q tag (1-4094).
        vlan_id: u16,
    },
    /// The bridge with `vxlan-<vni>` enslaved: no learning, no multicast; flooding and
    /// unicast forwarding come from `peers` and `fdb` (l2population).
    Vxlan {
        /// The VXLAN network identifier (24 bits).
        vni: u32,
        /// This host's VTEP address (must be configured on this host).
        local_ip: IpAddr,
        /// The other hosts' VTEP addresses that have ports on this network:
        /// broadcast, unknown unicast and multicast frames are sent to each.
        peers: Vec<IpAddr>,
        /// Remote ports' MACs and their host's VTEP.
        fdb: Vec<FdbEntry>,
    },
}

/// A remote port's MAC and the VTEP of the host it lives on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    /// The remote port's MAC, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The VTEP address of the host that port is on.
    pub peer: IpAddr,
}

/// The DHCP server of one network: dnsmasq in `qdhcp-<network id>`, static leases only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpPlan {
    /// The MAC of the network's DHCP port (the `ns-` device in the namespace).
    pub port_mac: String,
    /// The DHCP port's addresses with prefix, e.g. `10.0.0.2/24`.
    pub addresses: Vec<IpNet>,
    /// The subnets served: IPv4 ones, and IPv6 ones by DHCPv6 as their
    /// [`DhcpSubnet::ipv6_address_mode`] says.
    pub subnets: Vec<DhcpSubnet>,
    /// The static leases: every port of the network with an address in a served subnet.
    pub hosts: Vec<DhcpHost>,
    /// The network has no router: hold 169.254.169.254/32 in the namespace and push it
    /// to guests as an option-121 route via the DHCP port; the agent's metadata proxy
    /// listens on 169.254.169.254:80 in the namespace.
    pub metadata: bool,
}

/// One subnet dnsmasq serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpSubnet {
    /// The subnet, e.g. `10.0.0.0/24`.
    pub cidr: IpNet,
    /// The default gateway pushed (option 3, and 0.0.0.0/0 in option 121).
    pub gateway: Option<IpAddr>,
    /// DNS servers pushed (option 6); empty = none.
    pub dns_nameservers: Vec<IpAddr>,
    /// Extra routes pushed by option 121.
    pub host_routes: Vec<HostRoute>,
    /// The lease time.
    pub lease_seconds: u32,
    /// IPv6 only: how guests get their addresses. `dhcpv6-stateful` (or no mode at
    /// all, Neutron's pre-Juno behaviour): addresses of the static leases and options;
    /// `dhcpv6-stateless`: options only; `slaac`: nothing (no DHCPv6 on it).
    #[serde(default)]
    pub ipv6_address_mode: Option<Ipv6Mode>,
    /// IPv6 only: the subnet's `ipv6_ra_mode` (with no address mode, a subnet with a
    /// RA mode gets no DHCPv6, as in Neutron).
    #[serde(default)]
    pub ipv6_ra_mode: Option<Ipv6Mode>,
}

/// A static route pushed to guests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    /// The destination, e.g. `192.168.0.0/16`.
    pub destination: IpNet,
    /// The next hop, inside the subnet.
    pub nexthop: IpAddr,
}

/// One static lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpHost {
    /// The port's MAC.
    pub mac: String,
    /// The address given to it.
    pub ip: IpAddr,
    /// The hostname given to it (letters, digits and `-`).
    pub hostname: String,
}

/// A port bound to this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortPlan {
    /// The port's uuid.
    pub id: String,
    /// The network it is on (must be in [`HostPlan::networks`]).
    pub network_id: String,
    /// The tap device, `tap` + the first 11 characters of the port id
    /// ([`crate::names::tap`]); created by the VM side (QEMU, or a test's veth). The
    /// dataplane only plugs it; a port whose device does not exist yet is not wired.
    pub device: String,
    /// The port's MAC.
    pub mac: String,
    /// The port's fixed IPs.
    pub ips: Vec<IpAddr>,
    /// Its filtering; `None` = port security disabled: no filtering at all.
    pub security: Option<SecurityPlan>,
    /// Its bandwidth limit; `None` = unlimited.
    pub qos: Option<QosPlan>,
}

/// A bandwidth limit, applied in both directions of the port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QosPlan {
    /// The rate, in kilobits per second.
    pub max_kbps: u64,
    /// The burst, in kilobits (Neutron's `max_burst_kbps`); 0 = 80% of a second's worth.
    pub max_burst_kbps: u64,
}

/// The filtering of one port: anti-spoofing plus its security groups' rules merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityPlan {
    /// Extra (MAC, address or prefix) pairs the port may send from, besides its own MAC
    /// with its own IPs. A bare address is given as a /32 or /128.
    pub allowed_pairs: Vec<AllowedPair>,
    /// The rules of all its security groups. Ingress is denied unless a rule allows it;
    /// egress likewise (Neutron's default group has allow-all egress rules).
    pub rules: Vec<SgRule>,
    /// Whether replies to allowed traffic are allowed by connection tracking. When
    /// false, every packet must match a rule in its own direction.
    pub stateful: bool,
}

/// An allowed address pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedPair {
    /// The MAC (the port's own when the API request gave none).
    pub mac: String,
    /// The address or prefix.
    pub ip: IpNet,
}

/// One security group rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgRule {
    /// Ingress = to the port, egress = from the port.
    pub direction: Direction,
    /// IPv4 or IPv6.
    pub ethertype: Ethertype,
    /// IP protocol number (the API layer maps names: tcp = 6, udp = 17, icmp = 1,
    /// ipv6-icmp = 58); `None` = any.
    pub protocol: Option<u8>,
    /// First destination port (TCP/UDP/SCTP/DCCP), or the ICMP type for ICMP.
    pub port_min: Option<u16>,
    /// Last destination port, or the ICMP code for ICMP.
    pub port_max: Option<u16>,
    /// The other end.
    pub remote: Remote,
}

/// A rule's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Traffic to the port.
    Ingress,
    /// Traffic from the port.
    Egress,
}

/// A rule's address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ethertype {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// The other end of a rule: source for ingress, destination for egress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remote {
    /// Anywhere.
    Any,
    /// `remote_ip_prefix`.
    Prefix(IpNet),
    /// `remote_group_id`, resolved by the caller to the group members' addresses. An
    /// empty list matches nothing.
    Addresses(Vec<IpAddr>),
}

//! What one host must wire, from the database: the [`HostPlan`] its agent applies.
//!
//! A host gets the ports bound to it (`binding:host_id`), the networks they are on, and
//! the DHCP servers of the networks scheduled to it. DHCP runs on one alive agent that
//! offers it (`configurations.dhcp`), picked by the network id, so every network has one
//! server and a host that goes down hands its networks to another. VXLAN networks list
//! the other hosts on them as flooding peers and their ports' MACs as forwarding entries
//! (l2population), so no multicast is needed.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::IpAddr,
};

use dataplane::plan::{self as dp, HostPlan};
use ipnet::IpNet;
use serde_json::Value;

use crate::{
    app::{security_groups::protocol_number, Networking},
    model::{self, Agent, Network, Port, Subnet},
    store,
};
use api_common::Result;

/// An agent as the plan needs it.
struct Host {
    tunnel_ip: Option<IpAddr>,
    /// physnet -> host interface
    mappings: BTreeMap<String, String>,
    /// How the external network leaves this host (`external_mode` of its agent).
    external: Option<dp::ExternalMode>,
    /// The physical network of the external network (`external_physnet`).
    external_physnet: String,
}

fn host_of(a: &Agent) -> Host {
    let c = &a.configurations;
    Host {
        tunnel_ip: c["tunnel_ip"].as_str().and_then(|s| s.parse().ok()),
        mappings: c["bridge_mappings"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        external: serde_json::from_value(c["external_mode"].clone()).ok(),
        external_physnet: c["external_physnet"]
            .as_str()
            .unwrap_or("public")
            .to_owned(),
    }
}

/// The host serving DHCP for `network`: one of `dhcp_hosts` (sorted), by the id.
fn dhcp_host<'a>(network: &str, dhcp_hosts: &'a [String]) -> Option<&'a str> {
    if dhcp_hosts.is_empty() {
        return None;
    }
    let h = network
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let n = u64::try_from(dhcp_hosts.len()).unwrap_or(1);
    let i = usize::try_from(h % n).unwrap_or(0);
    Some(dhcp_hosts[i].as_str())
}

/// Everything the plans of all hosts are made from, read once.
struct World {
    networks: HashMap<String, Network>,
    subnets: Vec<Subnet>,
    ports: Vec<Port>,
    groups: HashMap<String, model::SecurityGroup>,
    members: HashMap<String, Vec<IpAddr>>,
    qos: HashMap<String, model::QosPolicy>,
    routers: Vec<model::Router>,
    fips: Vec<model::FloatingIp>,
    pfs: Vec<model::PortForwarding>,
    hosts: HashMap<String, Host>,
    dhcp_hosts: Vec<String>,
    l3_hosts: Vec<String>,
}

impl Networking {
    async fn world(&self) -> Result<World> {
        let mut conn = self.db.pool.acquire().await?;
        let networks = store::list_networks(&mut conn, None)
            .await?
            .into_iter()
            .map(|n| (n.id.to_string(), n))
            .collect();
        let subnets = store::list_subnets(&mut conn, None).await?;
        let ports = store::list_ports(&mut conn, store::PortScope::default()).await?;
        let groups = store::list_groups(&mut conn, None)
            .await?
            .into_iter()
            .map(|g| (g.id.to_string(), g))
            .collect();
        let members = store::group_members(&mut conn).await?;
        let qos = store::list_qos(&mut conn)
            .await?
            .into_iter()
            .map(|p| (p.id.to_string(), p))
            .collect();
        let routers = store::list_routers(&mut conn, None).await?;
        let fips = store::list_fips(&mut conn, store::FipScope::default()).await?;
        let pfs = store::list_pfs(&mut conn, None).await?;
        drop(conn);
        let agents = self.agents().await?;
        let offering = |what: &str| {
            let mut hosts: Vec<String> = agents
                .iter()
                .filter(|a| {
                    a.alive && a.admin_state_up && a.configurations[what] == Value::Bool(true)
                })
                .map(|a| a.host.clone())
                .collect();
            hosts.sort();
            hosts.dedup();
            hosts
        };
        let dhcp_hosts = offering("dhcp");
        let l3_hosts = offering("l3");
        let hosts = agents
            .iter()
            .map(|a| (a.host.clone(), host_of(a)))
            .collect();
        Ok(World {
            networks,
            subnets,
            ports,
            groups,
            members,
            qos,
            routers,
            fips,
            pfs,
            hosts,
            dhcp_hosts,
            l3_hosts,
        })
    }

    /// The plan of `host`.
    pub async fn host_plan(&self, host: &str) -> Result<HostPlan> {
        let w = self.world().await?;
        Ok(plan_for(&w, host, self.cfg.dhcp_lease_duration))
    }
}

/// The host a port is wired on (its binding, or the DHCP host for DHCP ports).
fn port_host<'a>(w: &'a World, p: &'a Port) -> Option<&'a str> {
    if p.device_owner == model::DEVICE_OWNER_DHCP {
        dhcp_host(p.network_id.as_str(), &w.dhcp_hosts)
    } else if p.bound() {
        Some(p.host_id.as_str())
    } else {
        None
    }
}

fn plan_for(w: &World, host: &str, lease: u32) -> HostPlan {
    let here: Vec<&Port> = w
        .ports
        .iter()
        .filter(|p| p.device_owner != model::DEVICE_OWNER_DHCP && p.host_id == host)
        .collect();
    let mut net_ids: BTreeSet<&str> = here.iter().map(|p| p.network_id.as_str()).collect();
    let dhcp_here: BTreeSet<&str> = w
        .networks
        .keys()
        .filter(|n| dhcp_host(n, &w.dhcp_hosts) == Some(host))
        .filter(|n| {
            w.subnets
                .iter()
                .any(|s| s.network_id.as_str() == *n && dhcp_served(s))
        })
        .map(String::as_str)
        .collect();
    net_ids.extend(dhcp_here.iter().copied());
    let router_plans: Vec<dp::RouterPlan> = w
        .routers
        .iter()
        .filter(|r| r.admin_state_up && dhcp_host(r.id.as_str(), &w.l3_hosts) == Some(host))
        .map(|r| router_plan(w, r))
        .collect();
    for r in &router_plans {
        net_ids.extend(r.gateway.iter().map(|g| g.network_id.as_str()));
        net_ids.extend(r.interfaces.iter().map(|i| i.network_id.as_str()));
    }
    let me = w.hosts.get(host);
    let mut networks = Vec::new();
    for id in net_ids {
        let Some(net) = w.networks.get(id) else {
            continue;
        };
        let kind = network_kind(w, net, host, me);
        let dhcp = dhcp_here
            .contains(id)
            .then(|| dhcp_plan(w, net, lease))
            .flatten();
        let host_address = host_address(w, net, &kind, !router_plans.is_empty());
        networks.push(dp::NetworkPlan {
            id: id.to_owned(),
            kind,
            mtu: net.mtu,
            dhcp,
            host_address,
        });
    }
    let external = me.and_then(|h| {
        let mode = h.external.clone()?;
        let net = w.networks.values().find(|n| {
            n.external
                && n.segment.network_type == "flat"
                && n.segment.physical_network.as_deref() == Some(h.external_physnet.as_str())
        })?;
        networks
            .iter()
            .any(|p| p.id == net.id.as_str())
            .then(|| dp::ExternalPlan {
                network_id: net.id.to_string(),
                mode,
            })
    });
    let ports = here
        .iter()
        .filter(|p| networks.iter().any(|n| n.id == p.network_id.as_str()))
        .map(|p| port_plan(w, p))
        .collect();
    HostPlan {
        networks,
        ports,
        routers: router_plans,
        external,
    }
}

/// The host's own address on an external flat network with no uplink on this host
/// (DevStack's br-ex): its subnet's gateway address, so routers' default route leads to
/// the host and the host reaches floating IPs. Only on a host that runs routers.
fn host_address(
    w: &World,
    net: &Network,
    kind: &dp::NetworkKind,
    routers_here: bool,
) -> Option<IpNet> {
    if !routers_here || !net.external || !matches!(kind, dp::NetworkKind::Flat { interface: None })
    {
        return None;
    }
    w.subnets
        .iter()
        .filter(|s| s.network_id == net.id && s.ip_version() == 4)
        .find_map(|s| IpNet::new(s.gateway_ip?, s.cidr.prefix_len()).ok())
}

/// A port's addresses with their subnets' prefix lengths.
fn addresses(w: &World, p: &Port) -> Vec<IpNet> {
    p.fixed_ips
        .iter()
        .filter_map(|f| {
            let s = w.subnets.iter().find(|s| s.id == f.subnet_id)?;
            IpNet::new(f.ip_address, s.cidr.prefix_len()).ok()
        })
        .collect()
}

/// A subnet's `ipv6_ra_mode` / `ipv6_address_mode` value.
fn ipv6_mode(mode: Option<&str>) -> Option<dp::Ipv6Mode> {
    match mode? {
        "slaac" => Some(dp::Ipv6Mode::Slaac),
        "dhcpv6-stateful" => Some(dp::Ipv6Mode::Dhcpv6Stateful),
        "dhcpv6-stateless" => Some(dp::Ipv6Mode::Dhcpv6Stateless),
        _ => None,
    }
}

/// Whether the network's DHCP server serves the subnet: IPv4 with DHCP enabled, IPv6
/// with DHCP enabled and a mode served by DHCPv6 ([`dp::Dhcpv6::of`]).
fn dhcp_served(s: &Subnet) -> bool {
    s.enable_dhcp
        && (s.ip_version() == 4
            || dp::Dhcpv6::of(
                ipv6_mode(s.ipv6_ra_mode.as_deref()),
                ipv6_mode(s.ipv6_address_mode.as_deref()),
            )
            .is_some())
}

/// The IPv6 subnets a router port is on, with their modes.
fn ipv6_subnets(w: &World, p: &Port) -> Vec<dp::Ipv6Subnet> {
    p.fixed_ips
        .iter()
        .filter_map(|f| w.subnets.iter().find(|s| s.id == f.subnet_id))
        .filter(|s| s.ip_version() == 6)
        .map(|s| dp::Ipv6Subnet {
            cidr: s.cidr,
            ra_mode: ipv6_mode(s.ipv6_ra_mode.as_deref()),
            address_mode: ipv6_mode(s.ipv6_address_mode.as_deref()),
            dns_nameservers: s.dns_nameservers.clone(),
        })
        .collect()
}

fn router_plan(w: &World, r: &model::Router) -> dp::RouterPlan {
    let owned = |owner: &'static str| {
        w.ports
            .iter()
            .filter(move |p| p.device_owner == owner && p.device_id == r.id.as_str())
    };
    let gateway = r.gateway.as_ref().and_then(|g| {
        let port = owned(model::DEVICE_OWNER_ROUTER_GATEWAY).next()?;
        let gateway_ip = port.fixed_ips.iter().find_map(|f| {
            w.subnets
                .iter()
                .find(|s| s.id == f.subnet_id && s.ip_version() == 4)?
                .gateway_ip
        });
        Some(dp::RouterGateway {
            network_id: g.network_id.to_string(),
            port_id: port.id.to_string(),
            mac: port.mac_address.clone(),
            addresses: addresses(w, port),
            gateway_ip,
            enable_snat: g.enable_snat,
        })
    });
    let interfaces: Vec<dp::RouterInterface> = owned(model::DEVICE_OWNER_ROUTER_INTERFACE)
        .map(|p| dp::RouterInterface {
            port_id: p.id.to_string(),
            network_id: p.network_id.to_string(),
            mac: p.mac_address.clone(),
            addresses: addresses(w, p),
            ipv6_subnets: ipv6_subnets(w, p),
        })
        .collect();
    let mine: Vec<&model::FloatingIp> = w
        .fips
        .iter()
        .filter(|f| f.router_id.as_ref() == Some(&r.id))
        .collect();
    let floating_ips = mine
        .iter()
        .filter_map(|f| {
            Some(dp::FloatingIpPlan {
                floating_ip: f.floating_ip_address,
                fixed_ip: f.fixed_ip_address?,
            })
        })
        .collect();
    let port_forwardings = w
        .pfs
        .iter()
        .filter_map(|pf| {
            let f = mine.iter().find(|f| f.id == pf.floatingip_id)?;
            Some(dp::PortForwardingPlan {
                external_ip: f.floating_ip_address,
                protocol: if pf.protocol == "udp" { 17 } else { 6 },
                external_port: pf.external_port,
                internal_ip: pf.internal_ip_address,
                internal_port: pf.internal_port,
            })
        })
        .collect();
    dp::RouterPlan {
        id: r.id.to_string(),
        gateway,
        routes: r
            .routes
            .iter()
            .map(|h| dp::HostRoute {
                destination: h.destination,
                nexthop: h.nexthop,
            })
            .collect(),
        floating_ips,
        port_forwardings,
        // guests behind it ask it for metadata (their DHCP namespace does not hold it)
        metadata: !interfaces.is_empty(),
        interfaces,
    }
}

fn network_kind(w: &World, net: &Network, host: &str, me: Option<&Host>) -> dp::NetworkKind {
    let seg = &net.segment;
    let mapping = |physnet: &Option<String>| {
        physnet
            .as_ref()
            .and_then(|p| me.and_then(|h| h.mappings.get(p)))
            .cloned()
    };
    match seg.network_type.as_str() {
        "flat" => dp::NetworkKind::Flat {
            interface: mapping(&seg.physical_network),
        },
        "vlan" => match (mapping(&seg.physical_network), seg.segmentation_id) {
            (Some(interface), Some(v)) => dp::NetworkKind::Vlan {
                interface,
                vlan_id: u16::try_from(v).unwrap_or(0),
            },
            _ => dp::NetworkKind::Local,
        },
        "vxlan" => {
            let (Some(local_ip), Some(vni)) = (me.and_then(|h| h.tunnel_ip), seg.segmentation_id)
            else {
                return dp::NetworkKind::Local;
            };
            let mut peers = BTreeSet::new();
            let mut fdb = Vec::new();
            for p in w.ports.iter().filter(|p| p.network_id == net.id) {
                let Some(h) = port_host(w, p) else { continue };
                if h == host {
                    continue;
                }
                let Some(peer) = w.hosts.get(h).and_then(|h| h.tunnel_ip) else {
                    continue;
                };
                peers.insert(peer);
                fdb.push(dp::FdbEntry {
                    mac: p.mac_address.clone(),
                    peer,
                });
            }
            fdb.sort_by(|a, b| a.mac.cmp(&b.mac));
            dp::NetworkKind::Vxlan {
                vni,
                local_ip,
                peers: peers.into_iter().collect(),
                fdb,
            }
        }
        _ => dp::NetworkKind::Local,
    }
}

/// Whether a router has an interface on the network (its guests get metadata through
/// that router rather than through the DHCP namespace).
fn has_router_interface(w: &World, network: &types::NetworkId) -> bool {
    w.ports
        .iter()
        .any(|p| p.network_id == *network && p.device_owner == model::DEVICE_OWNER_ROUTER_INTERFACE)
}

fn dhcp_plan(w: &World, net: &Network, lease: u32) -> Option<dp::DhcpPlan> {
    let subnets: Vec<&Subnet> = w
        .subnets
        .iter()
        .filter(|s| s.network_id == net.id && dhcp_served(s))
        .collect();
    let port = w
        .ports
        .iter()
        .find(|p| p.network_id == net.id && p.device_owner == model::DEVICE_OWNER_DHCP)?;
    let addresses = port
        .fixed_ips
        .iter()
        .filter_map(|f| {
            let s = subnets.iter().find(|s| s.id == f.subnet_id)?;
            IpNet::new(f.ip_address, s.cidr.prefix_len()).ok()
        })
        .collect();
    let mut hosts = Vec::new();
    for p in w
        .ports
        .iter()
        .filter(|p| p.network_id == net.id && p.id != port.id)
    {
        for f in &p.fixed_ips {
            if subnets.iter().any(|s| s.id == f.subnet_id) {
                hosts.push(dp::DhcpHost {
                    mac: p.mac_address.clone(),
                    ip: f.ip_address,
                    hostname: crate::api::hostname(p, &f.ip_address),
                });
            }
        }
    }
    hosts.sort_by(|a, b| a.mac.cmp(&b.mac).then(a.ip.cmp(&b.ip)));
    Some(dp::DhcpPlan {
        port_mac: port.mac_address.clone(),
        addresses,
        subnets: subnets
            .iter()
            .map(|s| dp::DhcpSubnet {
                cidr: s.cidr,
                gateway: s.gateway_ip,
                dns_nameservers: s.dns_nameservers.clone(),
                host_routes: s
                    .host_routes
                    .iter()
                    .map(|r| dp::HostRoute {
                        destination: r.destination,
                        nexthop: r.nexthop,
                    })
                    .collect(),
                lease_seconds: lease,
                ipv6_address_mode: ipv6_mode(s.ipv6_address_mode.as_deref()),
                ipv6_ra_mode: ipv6_mode(s.ipv6_ra_mode.as_deref()),
            })
            .collect(),
        hosts,
        // without a router, guests reach the metadata proxy in the DHCP namespace
        metadata: !has_router_interface(w, &net.id),
    })
}

fn port_plan(w: &World, p: &Port) -> dp::PortPlan {
    let security = p.port_security_enabled.then(|| {
        let groups: Vec<&model::SecurityGroup> = p
            .security_groups
            .iter()
            .filter_map(|g| w.groups.get(g.as_str()))
            .collect();
        let mut rules = Vec::new();
        for g in &groups {
            for r in &g.rules {
                let remote = match (&r.remote_ip_prefix, &r.remote_group_id) {
                    (Some(prefix), _) => dp::Remote::Prefix(*prefix),
                    (None, Some(group)) => {
                        let v6 = r.ethertype == "IPv6";
                        let mut ips: Vec<IpAddr> = w
                            .members
                            .get(group.as_str())
                            .map(|m| m.iter().filter(|ip| ip.is_ipv6() == v6).copied().collect())
                            .unwrap_or_default();
                        ips.sort();
                        ips.dedup();
                        dp::Remote::Addresses(ips)
                    }
                    (None, None) => dp::Remote::Any,
                };
                rules.push(dp::SgRule {
                    direction: match r.direction {
                        model::Direction::Ingress => dp::Direction::Ingress,
                        model::Direction::Egress => dp::Direction::Egress,
                    },
                    ethertype: if r.ethertype == "IPv6" {
                        dp::Ethertype::V6
                    } else {
                        dp::Ethertype::V4
                    },
                    protocol: r.protocol.as_deref().and_then(protocol_number),
                    port_min: r.port_range_min,
                    port_max: r.port_range_max,
                    remote,
                });
            }
        }
        dp::SecurityPlan {
            allowed_pairs: p
                .allowed_address_pairs
                .iter()
                .filter_map(|a| {
                    let ip: IpNet = a
                        .ip_address
                        .parse()
                        .or_else(|_| a.ip_address.parse::<IpAddr>().map(IpNet::from))
                        .ok()?;
                    Some(dp::AllowedPair {
                        mac: a.mac_address.clone(),
                        ip,
                    })
                })
                .collect(),
            rules,
            stateful: groups.iter().all(|g| g.stateful),
        }
    });
    dp::PortPlan {
        id: p.id.to_string(),
        network_id: p.network_id.to_string(),
        device: p.device_name(),
        mac: p.mac_address.clone(),
        ips: p.fixed_ips.iter().map(|f| f.ip_address).collect(),
        security,
        qos: qos_plan(w, p),
    }
}

/// The bandwidth limit of a port: its own QoS policy, else its network's. The dataplane
/// limits both directions alike: the `egress` rule (what the VM sends) is taken, else
/// the `ingress` one.
fn qos_plan(w: &World, p: &Port) -> Option<dp::QosPlan> {
    let policy = p.qos_policy_id.as_ref().or_else(|| {
        w.networks
            .get(p.network_id.as_str())
            .and_then(|n| n.qos_policy_id.as_ref())
    })?;
    let rules = &w.qos.get(policy.as_str())?.rules;
    let rule = rules
        .iter()
        .find(|r| r.direction == "egress")
        .or_else(|| rules.first())?;
    Some(dp::QosPlan {
        max_kbps: rule.max_kbps,
        max_burst_kbps: rule.max_burst_kbps,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn dhcp_is_spread_over_hosts_and_stable() {
        let hosts = vec!["a".to_owned(), "b".to_owned()];
        let picks: Vec<&str> = (0..20)
            .map(|i| super::dhcp_host(&format!("net-{i}"), &hosts).unwrap())
            .collect();
        assert!(picks.contains(&"a") && picks.contains(&"b"));
        assert_eq!(
            super::dhcp_host("net-3", &hosts),
            super::dhcp_host("net-3", &hosts)
        );
        assert_eq!(super::dhcp_host("x", &[]), None);
    }
}

//! Resources in Neutron's JSON form, and the attribute names each list may filter and
//! sort on.

use serde_json::{json, Value};

use crate::model::*;

pub const NETWORK_ATTRS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "admin_state_up",
    "mtu",
    "status",
    "subnets",
    "shared",
    "availability_zone_hints",
    "availability_zones",
    "ipv4_address_scope",
    "ipv6_address_scope",
    "router:external",
    "description",
    "port_security_enabled",
    "dns_domain",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "l2_adjacency",
    "is_default",
    "qos_policy_id",
    "provider:network_type",
    "provider:physical_network",
    "provider:segmentation_id",
];

pub fn network(n: &Network, provider: bool) -> Value {
    let mut v = json!({
        "id": n.id,
        "name": n.name,
        "tenant_id": n.project_id,
        "project_id": n.project_id,
        "admin_state_up": n.admin_state_up,
        "mtu": n.mtu,
        "status": "ACTIVE",
        "subnets": n.subnets,
        "shared": n.shared,
        "availability_zone_hints": n.availability_zone_hints,
        "availability_zones": ["nova"],
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "router:external": n.external,
        "description": n.description,
        "port_security_enabled": n.port_security_enabled,
        "dns_domain": n.dns_domain,
        "tags": n.tags,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
        "revision_number": n.revision,
        "l2_adjacency": true,
        "is_default": false,
        "qos_policy_id": n.qos_policy_id,
    });
    if provider {
        v["provider:network_type"] = json!(n.segment.network_type);
        v["provider:physical_network"] = json!(n.segment.physical_network);
        v["provider:segmentation_id"] = json!(n.segment.segmentation_id);
    }
    v
}

pub const SUBNET_ATTRS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "network_id",
    "ip_version",
    "subnetpool_id",
    "enable_dhcp",
    "ipv6_ra_mode",
    "ipv6_address_mode",
    "gateway_ip",
    "cidr",
    "allocation_pools",
    "host_routes",
    "dns_nameservers",
    "description",
    "service_types",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "segment_id",
    "dns_publish_fixed_ip",
];

pub fn subnet(s: &Subnet) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "tenant_id": s.project_id,
        "project_id": s.project_id,
        "network_id": s.network_id,
        "ip_version": s.ip_version(),
        "subnetpool_id": s.subnetpool_id,
        "enable_dhcp": s.enable_dhcp,
        "ipv6_ra_mode": s.ipv6_ra_mode,
        "ipv6_address_mode": s.ipv6_address_mode,
        "gateway_ip": s.gateway_ip,
        "cidr": s.cidr.to_string(),
        "allocation_pools": s.allocation_pools,
        "host_routes": s.host_routes.iter().map(|r| json!({"destination": r.destination.to_string(), "nexthop": r.nexthop})).collect::<Vec<_>>(),
        "dns_nameservers": s.dns_nameservers,
        "description": s.description,
        "service_types": [],
        "tags": s.tags,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "revision_number": s.revision,
        "segment_id": null,
        "dns_publish_fixed_ip": false,
    })
}

pub const PORT_ATTRS: &[&str] = &[
    "id",
    "name",
    "network_id",
    "tenant_id",
    "project_id",
    "mac_address",
    "admin_state_up",
    "status",
    "device_id",
    "device_owner",
    "fixed_ips",
    "allowed_address_pairs",
    "extra_dhcp_opts",
    "security_groups",
    "description",
    "binding:vnic_type",
    "binding:host_id",
    "binding:profile",
    "binding:vif_type",
    "binding:vif_details",
    "port_security_enabled",
    "qos_policy_id",
    "qos_network_policy_id",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
    "dns_name",
    "dns_assignment",
    "dns_domain",
    "propagate_uplink_status",
    "ip_allocation",
    "resource_request",
];

/// The host name DHCP gives a port without a `dns_name` (Neutron's `host-10-0-0-5`).
pub fn hostname(p: &Port, ip: &std::net::IpAddr) -> String {
    if p.dns_name.is_empty() {
        format!("host-{}", ip.to_string().replace(['.', ':'], "-"))
    } else {
        p.dns_name.clone()
    }
}

pub fn port(
    p: &Port,
    binding: bool,
    dns_domain: &str,
    network_qos: Option<&types::QosPolicyId>,
) -> Value {
    let mut v = json!({
        "id": p.id,
        "name": p.name,
        "network_id": p.network_id,
        "tenant_id": p.project_id,
        "project_id": p.project_id,
        "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up,
        "status": p.status,
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "fixed_ips": p.fixed_ips.iter().map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address})).collect::<Vec<_>>(),
        "allowed_address_pairs": p.allowed_address_pairs,
        "extra_dhcp_opts": p.extra_dhcp_opts,
        "security_groups": p.security_groups,
        "description": p.description,
        "binding:vnic_type": p.vnic_type,
        "port_security_enabled": p.port_security_enabled,
        "qos_policy_id": p.qos_policy_id,
        "qos_network_policy_id": network_qos,
        "tags": p.tags,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "revision_number": p.revision,
        "dns_name": p.dns_name,
        "dns_assignment": p.fixed_ips.iter().map(|f| {
            let h = hostname(p, &f.ip_address);
            json!({"hostname": h, "ip_address": f.ip_address, "fqdn": format!("{h}.{dns_domain}")})
        }).collect::<Vec<_>>(),
        "dns_domain": "",
        "propagate_uplink_status": false,
        "ip_allocation": "immediate",
        "resource_request": null,
    });
    if binding {
        let bound = p.bound();
        v["binding:host_id"] = json!(p.host_id);
        v["binding:profile"] = p.profile.clone();
        v["binding:vif_type"] = json!(if bound { "bridge" } else { "unbound" });
        v["binding:vif_details"] = if bound {
            json!({"port_filter": true, "connectivity": "l2"})
        } else {
            json!({})
        };
    }
    v
}

pub const GROUP_ATTRS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "description",
    "security_group_rules",
    "stateful",
    "shared",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
];

pub fn group(g: &SecurityGroup) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "tenant_id": g.project_id,
        "project_id": g.project_id,
        "description": g.description,
        "security_group_rules": g.rules.iter().map(|r| rule(r, g.name == "default")).collect::<Vec<_>>(),
        "stateful": g.stateful,
        "shared": false,
        "tags": g.tags,
        "created_at": g.created_at,
        "updated_at": g.updated_at,
        "revision_number": g.revision,
    })
}

pub const RULE_ATTRS: &[&str] = &[
    "id",
    "tenant_id",
    "project_id",
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "remote_address_group_id",
    "normalized_cidr",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
    "belongs_to_default_sg",
];

pub fn rule(r: &SecurityGroupRule, default_group: bool) -> Value {
    let normalized = r.remote_ip_prefix.map(|p| p.to_string());
    json!({
        "id": r.id,
        "tenant_id": r.project_id,
        "project_id": r.project_id,
        "security_group_id": r.security_group_id,
        "direction": r.direction.as_str(),
        "ethertype": r.ethertype,
        "protocol": r.protocol,
        "port_range_min": r.port_range_min,
        "port_range_max": r.port_range_max,
        "remote_ip_prefix": normalized,
        "remote_group_id": r.remote_group_id,
        "remote_address_group_id": null,
        "normalized_cidr": normalized,
        "description": r.description,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "revision_number": r.revision,
        "belongs_to_default_sg": default_group,
    })
}

pub const AGENT_ATTRS: &[&str] = &[
    "id",
    "agent_type",
    "binary",
    "topic",
    "host",
    "admin_state_up",
    "alive",
    "availability_zone",
    "configurations",
    "description",
    "started_at",
    "heartbeat_timestamp",
    "created_at",
    "resources_synced",
];

pub fn agent(a: &Agent) -> Value {
    json!({
        "id": a.id,
        "agent_type": a.agent_type,
        "binary": a.binary,
        "topic": a.topic,
        "host": a.host,
        "admin_state_up": a.admin_state_up,
        "alive": a.alive,
        "availability_zone": a.availability_zone,
        "configurations": a.configurations,
        "description": a.description,
        "started_at": a.started_at.replace('T', " ").trim_end_matches('Z'),
        "heartbeat_timestamp": a.heartbeat_at.replace('T', " ").trim_end_matches('Z'),
        "created_at": a.created_at.replace('T', " ").trim_end_matches('Z'),
        "resources_synced": null,
    })
}

pub const ROUTER_ATTRS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "admin_state_up",
    "status",
    "external_gateway_info",
    "routes",
    "description",
    "availability_zone_hints",
    "availability_zones",
    "distributed",
    "ha",
    "flavor_id",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
];

pub fn router(r: &Router) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "tenant_id": r.project_id,
        "project_id": r.project_id,
        "admin_state_up": r.admin_state_up,
        "status": "ACTIVE",
        "external_gateway_info": r.gateway.as_ref().map(|g| json!({
            "network_id": g.network_id,
            "enable_snat": g.enable_snat,
            "external_fixed_ips": g.external_fixed_ips.iter().map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address})).collect::<Vec<_>>(),
        })),
        "routes": r.routes.iter().map(|h| json!({"destination": h.destination.to_string(), "nexthop": h.nexthop})).collect::<Vec<_>>(),
        "description": r.description,
        "availability_zone_hints": r.availability_zone_hints,
        "availability_zones": ["nova"],
        "distributed": false,
        "ha": false,
        "flavor_id": null,
        "tags": r.tags,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "revision_number": r.revision,
    })
}

pub fn interface(i: &crate::app::InterfaceInfo) -> Value {
    json!({
        "id": i.router_id,
        "tenant_id": i.project_id,
        "project_id": i.project_id,
        "port_id": i.port_id,
        "network_id": i.network_id,
        "subnet_id": i.subnet_ids.first(),
        "subnet_ids": i.subnet_ids,
    })
}

pub const FIP_ATTRS: &[&str] = &[
    "id",
    "tenant_id",
    "project_id",
    "floating_network_id",
    "floating_ip_address",
    "fixed_ip_address",
    "port_id",
    "router_id",
    "status",
    "description",
    "dns_name",
    "dns_domain",
    "qos_policy_id",
    "port_forwardings",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
];

pub fn floating_ip(f: &FloatingIp, pfs: &[PortForwarding]) -> Value {
    json!({
        "id": f.id,
        "tenant_id": f.project_id,
        "project_id": f.project_id,
        "floating_network_id": f.floating_network_id,
        "floating_ip_address": f.floating_ip_address,
        "fixed_ip_address": f.fixed_ip_address,
        "port_id": f.port_id,
        "router_id": f.router_id,
        "status": if f.port_id.is_some() || !pfs.is_empty() { "ACTIVE" } else { "DOWN" },
        "description": f.description,
        "dns_name": f.dns_name,
        "dns_domain": f.dns_domain,
        "qos_policy_id": null,
        "port_forwardings": pfs.iter().map(|p| json!({
            "protocol": p.protocol, "internal_ip_address": p.internal_ip_address,
            "internal_port": p.internal_port, "external_port": p.external_port,
        })).collect::<Vec<_>>(),
        "tags": f.tags,
        "created_at": f.created_at,
        "updated_at": f.updated_at,
        "revision_number": f.revision,
    })
}

pub const PF_ATTRS: &[&str] = &[
    "id",
    "protocol",
    "internal_port_id",
    "internal_ip_address",
    "internal_port",
    "external_port",
    "description",
    "internal_port_range",
    "external_port_range",
];

pub fn port_forwarding(p: &PortForwarding) -> Value {
    json!({
        "id": p.id,
        "protocol": p.protocol,
        "internal_port_id": p.internal_port_id,
        "internal_ip_address": p.internal_ip_address,
        "internal_port": p.internal_port,
        "external_port": p.external_port,
        "internal_port_range": format!("{0}:{0}", p.internal_port),
        "external_port_range": format!("{0}:{0}", p.external_port),
        "description": p.description,
    })
}

pub const QOS_ATTRS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "description",
    "shared",
    "is_default",
    "rules",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
];

pub fn bandwidth_rule(r: &BandwidthLimitRule) -> Value {
    json!({
        "id": r.id,
        "qos_policy_id": r.policy_id,
        "max_kbps": r.max_kbps,
        "max_burst_kbps": r.max_burst_kbps,
        "direction": r.direction,
        "type": "bandwidth_limit",
    })
}

pub fn qos_policy(p: &QosPolicy) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "tenant_id": p.project_id,
        "project_id": p.project_id,
        "description": p.description,
        "shared": p.shared,
        "is_default": p.is_default,
        "rules": p.rules.iter().map(bandwidth_rule).collect::<Vec<_>>(),
        "tags": p.tags,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "revision_number": p.revision,
    })
}

pub const RBAC_ATTRS: &[&str] = &[
    "id",
    "tenant_id",
    "project_id",
    "object_type",
    "object_id",
    "action",
    "target_tenant",
];

pub fn rbac(p: &RbacPolicy) -> Value {
    json!({
        "id": p.id,
        "tenant_id": p.project_id,
        "project_id": p.project_id,
        "object_type": p.object_type,
        "object_id": p.object_id,
        "action": p.action,
        "target_tenant": p.target_project,
    })
}

pub const POOL_ATTRS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "description",
    "ip_version",
    "prefixes",
    "default_prefixlen",
    "min_prefixlen",
    "max_prefixlen",
    "shared",
    "is_default",
    "address_scope_id",
    "default_quota",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
];

pub fn subnet_pool(p: &SubnetPool) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "tenant_id": p.project_id,
        "project_id": p.project_id,
        "description": p.description,
        "ip_version": p.ip_version,
        "prefixes": p.prefixes.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "default_prefixlen": p.default_prefixlen,
        "min_prefixlen": p.min_prefixlen,
        "max_prefixlen": p.max_prefixlen,
        "shared": p.shared,
        "is_default": p.is_default,
        "address_scope_id": p.address_scope_id,
        "default_quota": p.default_quota,
        "tags": p.tags,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "revision_number": p.revision,
    })
}

pub const SCOPE_ATTRS: &[&str] = &[
    "id",
    "name",
    "tenant_id",
    "project_id",
    "ip_version",
    "shared",
];

pub fn address_scope(s: &AddressScope) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "tenant_id": s.project_id,
        "project_id": s.project_id,
        "ip_version": s.ip_version,
        "shared": s.shared,
    })
}

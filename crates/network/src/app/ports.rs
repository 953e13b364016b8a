//! Ports: an attachment to a network with its MAC and addresses (IPAM), its security
//! groups and its binding to a host, whose agent wires it and sets it ACTIVE.

use std::{collections::HashSet, net::IpAddr};

use serde::Deserialize;
use serde_json::{json, Value};
use types::{NetworkId, PortId, SecurityGroupId, SubnetId};

use super::{check_revision, target, Caller, Networking};
use crate::{
    ipam::{self, invalid},
    model::{self, now, AddressPair, DhcpOpt, FixedIp, Network, Port, Subnet},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// An entry of `fixed_ips` in a request: a subnet, an address, or both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedIpRequest {
    pub subnet_id: Option<SubnetId>,
    pub ip_address: Option<IpAddr>,
}

/// `POST /v2.0/ports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortCreate {
    pub network_id: NetworkId,
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub mac_address: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    #[serde(rename = "binding:host_id")]
    pub host_id: Option<String>,
    #[serde(rename = "binding:vnic_type")]
    pub vnic_type: Option<String>,
    #[serde(rename = "binding:profile")]
    pub profile: Option<Value>,
    pub port_security_enabled: Option<bool>,
    pub security_groups: Option<Vec<SecurityGroupId>>,
    pub allowed_address_pairs: Option<Vec<PairRequest>>,
    pub extra_dhcp_opts: Option<Vec<DhcpOptRequest>>,
    pub dns_name: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub qos_policy_id: Option<Option<String>>,
    pub propagate_uplink_status: Option<bool>,
}

/// `PUT /v2.0/ports/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub mac_address: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    #[serde(rename = "binding:host_id")]
    pub host_id: Option<String>,
    #[serde(rename = "binding:vnic_type")]
    pub vnic_type: Option<String>,
    #[serde(rename = "binding:profile")]
    pub profile: Option<Value>,
    pub port_security_enabled: Option<bool>,
    pub security_groups: Option<Vec<SecurityGroupId>>,
    pub allowed_address_pairs: Option<Vec<PairRequest>>,
    pub extra_dhcp_opts: Option<Vec<DhcpOptRequest>>,
    pub dns_name: Option<String>,
    pub qos_policy_id: Option<Option<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairRequest {
    pub ip_address: String,
    pub mac_address: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpOptRequest {
    pub opt_name: String,
    pub opt_value: String,
    pub ip_version: Option<u8>,
}

pub(super) fn not_found(id: &str) -> Error {
    Error::not_found(format!("Port {id} could not be found.")).with_code("PortNotFound")
}

fn port_target(p: &Port, net: &Network) -> Value {
    target(
        &p.project_id,
        &[
            ("network_project_id", json!(net.project_id)),
            ("network_id", json!(net.id)),
            ("device_owner", json!(p.device_owner)),
        ],
    )
}

const VNIC_TYPES: &[&str] = &[
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "virtio-forwarder",
];
/// How many times a port create picks again after losing an address or MAC race.
const RETRIES: usize = 20;

impl Networking {
    async fn visible_port(&self, caller: &Caller<'_>, id: &PortId) -> Result<(Port, Network)> {
        let mut conn = self.conn().await?;
        let p = store::get_port(&mut conn, id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        let net = store::get_network(&mut conn, &p.network_id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        if !self.allowed(caller, Rule::GetPort, &port_target(&p, &net)) {
            return Err(not_found(id.as_str()));
        }
        Ok((p, net))
    }

    pub async fn port_show(&self, caller: &Caller<'_>, id: &PortId) -> Result<Port> {
        Ok(self.visible_port(caller, id).await?.0)
    }

    /// Binding details are shown to admins and services only.
    pub fn sees_binding(&self, caller: &Caller<'_>) -> bool {
        self.allowed(caller, Rule::GetPortBinding, &target(caller.project(), &[]))
    }

    /// Ports the caller may see; `network` and `device_id` filters are applied in SQL.
    pub async fn port_list(
        &self,
        caller: &Caller<'_>,
        network: Option<&NetworkId>,
        device_id: Option<&str>,
    ) -> Result<Vec<Port>> {
        let mut conn = self.conn().await?;
        let scope = store::PortScope {
            visible_to: caller.scope(),
            network,
            device_id,
            host: None,
        };
        let ports = store::list_ports(&mut conn, scope).await?;
        if caller.admin {
            return Ok(ports);
        }
        let mut nets = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(ports.len());
        for p in ports {
            if !nets.contains_key(p.network_id.as_str()) {
                let n = store::get_network(&mut conn, &p.network_id).await?;
                nets.insert(p.network_id.to_string(), n);
            }
            if let Some(Some(net)) = nets.get(p.network_id.as_str()) {
                if self.allowed(caller, Rule::GetPort, &port_target(&p, net)) {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// The security groups of a new port: those asked for (which must be the port
    /// project's), or the project's default group.
    async fn port_groups(
        &self,
        project: &str,
        requested: Option<Vec<SecurityGroupId>>,
        port_security: bool,
    ) -> Result<Vec<SecurityGroupId>> {
        match requested {
            Some(groups) if !groups.is_empty() && !port_security => Err(Error::bad_request(
                "Port has security group associated. Cannot disable port security or ip address until security group is removed",
            )
            .with_code("PortSecurityAndIPRequiredForSecurityGroups")),
            Some(groups) => {
                let mut conn = self.conn().await?;
                for g in &groups {
                    match store::get_group(&mut conn, g).await? {
                        Some(sg) if sg.project_id == project => {}
                        _ => {
                            return Err(Error::not_found(format!("Security group {g} does not exist"))
                                .with_code("SecurityGroupNotFound"))
                        }
                    }
                }
                Ok(groups)
            }
            None if port_security => Ok(vec![self.default_group(project).await?]),
            None => Ok(Vec::new()),
        }
    }

    fn pairs(&self, mac: &str, req: Vec<PairRequest>) -> Result<Vec<AddressPair>> {
        let mut out: Vec<AddressPair> = Vec::new();
        for p in req {
            let ok = p.ip_address.parse::<IpAddr>().is_ok()
                || p.ip_address.parse::<ipnet::IpNet>().is_ok();
            if !ok {
                return Err(invalid(format_args!(
                    "'{}' is not a valid IP address",
                    p.ip_address
                )));
            }
            let pair = AddressPair {
                ip_address: p.ip_address,
                mac_address: match p.mac_address {
                    Some(m) => ipam::normalize_mac(&m)?,
                    None => mac.to_owned(),
                },
            };
            if out.contains(&pair) {
                return Err(
                    Error::bad_request("Request contains duplicate address pair")
                        .with_code("DuplicateAddressPairInRequest"),
                );
            }
            out.push(pair);
        }
        Ok(out)
    }

    /// Choose the addresses of a port on `net`: what was asked (checked), else one
    /// address of the first IPv4 subnet with room and of each IPv6 subnet.
    async fn plan_addresses(
        &self,
        conn: &mut sqlx::AnyConnection,
        net: &Network,
        mac: &str,
        requested: Option<&[FixedIpRequest]>,
        skip: &HashSet<IpAddr>,
        gateway_ok: bool,
    ) -> Result<Vec<FixedIp>> {
        let subnets = store::list_subnets(conn, Some(&net.id)).await?;
        let mut out = Vec::new();
        match requested {
            Some(reqs) => {
                for r in reqs {
                    let subnet = match (&r.subnet_id, r.ip_address) {
                        (Some(id), _) => subnets.iter().find(|s| &s.id == id).ok_or_else(|| {
                            invalid(format_args!("Failed to create port on network {}, because fixed_ips included invalid subnet {id}", net.id))
                        })?,
                        (None, Some(ip)) => subnets
                            .iter()
                            .find(|s| s.cidr.contains(&ip))
                            .ok_or_else(|| invalid(format_args!("IP address {ip} is not a valid IP for any of the subnets on the specified network")))?,
                        (None, None) => return Err(invalid("Exceeded maximum amount of fixed ips per port or no subnet_id/ip_address given")),
                    };
                    let ip = match r.ip_address {
                        Some(ip) => {
                            ipam::check_address(&subnet.cidr, ip)?;
                            if subnet.gateway_ip == Some(ip) && !gateway_ok {
                                return Err(Error::conflict(format!(
                                    "IP address {ip} already allocated in subnet {}",
                                    subnet.id
                                ))
                                .with_code("IpAddressAlreadyAllocated"));
                            }
                            ip
                        }
                        None => self.pick(conn, subnet, mac, skip).await?,
                    };
                    out.push(FixedIp {
                        subnet_id: subnet.id.clone(),
                        ip_address: ip,
                    });
                }
            }
            None => {
                let mut v4_done = false;
                for s in &subnets {
                    if s.ip_version() == 4 {
                        if v4_done {
                            continue;
                        }
                        match self.pick(conn, s, mac, skip).await {
                            Ok(ip) => {
                                out.push(FixedIp {
                                    subnet_id: s.id.clone(),
                                    ip_address: ip,
                                });
                                v4_done = true;
                            }
                            Err(e) if e.code == Some("IpAddressGenerationFailure") => continue,
                            Err(e) => return Err(e),
                        }
                    } else {
                        let ip = self.pick(conn, s, mac, skip).await?;
                        out.push(FixedIp {
                            subnet_id: s.id.clone(),
                            ip_address: ip,
                        });
                    }
                }
                if !subnets.iter().any(|s| s.ip_version() == 6) && !subnets.is_empty() && !v4_done {
                    return Err(exhausted(&net.id));
                }
            }
        }
        let mut seen = HashSet::new();
        for f in &out {
            if !seen.insert(f.ip_address) {
                return Err(invalid(format_args!(
                    "Duplicate IP address '{}'",
                    f.ip_address
                )));
            }
        }
        Ok(out)
    }

    /// A free address of `subnet`: its SLAAC address, or one of the first free ones of
    /// its pools (a random one of the first few, so concurrent creators rarely collide),
    /// never one in `skip` (lost races).
    async fn pick(
        &self,
        conn: &mut sqlx::AnyConnection,
        subnet: &Subnet,
        mac: &str,
        skip: &HashSet<IpAddr>,
    ) -> Result<IpAddr> {
        if subnet.auto_address() {
            return ipam::eui64(&subnet.cidr, mac);
        }
        let mut taken = store::taken_addresses(conn, &subnet.id).await?;
        taken.extend(skip.iter().copied());
        let free = ipam::free_addresses(&subnet.allocation_pools, &taken, 8);
        if free.is_empty() {
            return Err(exhausted(&subnet.network_id));
        }
        use rand::seq::SliceRandom;
        Ok(*free.choose(&mut rand::thread_rng()).unwrap_or(&free[0]))
    }

    pub async fn port_create(&self, caller: &Caller<'_>, req: PortCreate) -> Result<Port> {
        let net = self
            .visible_network(caller, &req.network_id)
            .await
            .map_err(|_| super::networks::not_found(req.network_id.as_str()))?;
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        let device_owner = req.device_owner.clone().unwrap_or_default();
        let t = target(
            &project,
            &[
                ("network_project_id", json!(net.project_id)),
                ("network_id", json!(net.id)),
                ("device_owner", json!(device_owner)),
            ],
        );
        self.authorize(caller, Rule::CreatePort, &t)?;
        // A port on another project's network needs the network shared (or an admin).
        if net.project_id != project && !net.shared && !caller.admin {
            return Err(refused(Rule::CreatePort, &net));
        }
        if model::network_device(&device_owner) {
            self.authorize(caller, Rule::CreatePortDeviceOwner, &t)?;
        }
        if req.mac_address.is_some() {
            self.authorize(caller, Rule::CreatePortMacAddress, &t)?;
        }
        if req
            .fixed_ips
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f.ip_address.is_some()))
        {
            self.authorize(caller, Rule::CreatePortFixedIps, &t)?;
        }
        if req.host_id.as_ref().is_some_and(|h| !h.is_empty()) || req.profile.is_some() {
            self.authorize(caller, Rule::CreatePortBinding, &t)?;
        }
        if req.port_security_enabled.is_some() {
            self.authorize(caller, Rule::CreatePortPortSecurity, &t)?;
        }
        if req
            .allowed_address_pairs
            .as_ref()
            .is_some_and(|p| !p.is_empty())
        {
            self.authorize(caller, Rule::CreatePortAddressPairs, &t)?;
        }
        let vnic_type = req.vnic_type.clone().unwrap_or_else(|| "normal".into());
        if !VNIC_TYPES.contains(&vnic_type.as_str()) {
            return Err(invalid(format_args!(
                "'{vnic_type}' is not in {VNIC_TYPES:?}"
            )));
        }
        let port_security = req
            .port_security_enabled
            .unwrap_or(net.port_security_enabled);
        let groups = if model::network_device(&device_owner) && req.security_groups.is_none() {
            Vec::new()
        } else {
            self.port_groups(&project, req.security_groups.clone(), port_security)
                .await?
        };
        let given_mac = req
            .mac_address
            .as_deref()
            .map(ipam::normalize_mac)
            .transpose()?;
        self.check_quota(&project, "port", 1).await?;
        let ts = now();
        let port = Port {
            id: PortId::generate(),
            project_id: project,
            network_id: net.id.clone(),
            name: req.name.unwrap_or_default(),
            description: req.description.unwrap_or_default(),
            admin_state_up: req.admin_state_up.unwrap_or(true),
            mac_address: String::new(),
            fixed_ips: Vec::new(),
            device_id: req.device_id.unwrap_or_default(),
            device_owner,
            host_id: req.host_id.unwrap_or_default(),
            vnic_type,
            profile: req.profile.unwrap_or_else(|| json!({})),
            status: "DOWN".into(),
            port_security_enabled: port_security,
            security_groups: groups,
            allowed_address_pairs: Vec::new(),
            extra_dhcp_opts: dhcp_opts(req.extra_dhcp_opts.unwrap_or_default())?,
            dns_name: req.dns_name.unwrap_or_default(),
            qos_policy_id: self
                .usable_qos(caller, req.qos_policy_id.clone().flatten().as_deref())
                .await?,
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
            tags: req.tags.unwrap_or_default(),
        };
        let pairs = req.allowed_address_pairs.unwrap_or_default();
        if !pairs.is_empty() && !port_security {
            return Err(Error::conflict(
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            )
            .with_code("AddressPairAndPortSecurityRequired"));
        }
        self.insert_new_port(&net, port, given_mac, req.fixed_ips.as_deref(), &pairs)
            .await
    }

    /// Insert `port` on `net` with a MAC (`given_mac`, else a fresh one) and its
    /// addresses (`fixed`, else the defaults), picking again when a concurrent creator
    /// took the same MAC or address first.
    pub(super) async fn insert_new_port(
        &self,
        net: &Network,
        mut port: Port,
        given_mac: Option<String>,
        fixed: Option<&[FixedIpRequest]>,
        pairs: &[PairRequest],
    ) -> Result<Port> {
        let mut lost = HashSet::new();
        for attempt in 0..RETRIES {
            if attempt > 0 {
                // Counted by `bench network` (contention on one subnet).
                tracing::debug!(network = %net.id, attempt, "port create: picking again after a lost race");
            }
            port.mac_address = given_mac
                .clone()
                .unwrap_or_else(|| ipam::random_mac(&self.cfg.base_mac));
            port.allowed_address_pairs = self.pairs(&port.mac_address, pairs.to_vec())?;
            let mut tx = self.db.begin_write().await?;
            if store::mac_in_use(&mut tx, &net.id, &port.mac_address).await? {
                if given_mac.is_some() {
                    return Err(Error::conflict(format!(
                        "Unable to complete operation for network {}. The mac address {} is in use.",
                        net.id, port.mac_address
                    ))
                    .with_code("MacAddressInUse"));
                }
                continue;
            }
            port.fixed_ips = self
                .plan_addresses(
                    &mut tx,
                    net,
                    &port.mac_address,
                    fixed,
                    &lost,
                    port.device_owner == model::DEVICE_OWNER_ROUTER_INTERFACE,
                )
                .await?;
            if !store::insert_port(&mut tx, &port).await? {
                continue;
            }
            let mut ok = true;
            for ip in &port.fixed_ips {
                if !store::allocate(&mut tx, &net.id, &port.id, ip).await? {
                    let asked = fixed
                        .is_some_and(|f| f.iter().any(|r| r.ip_address == Some(ip.ip_address)));
                    if asked {
                        return Err(Error::conflict(format!(
                            "IP address {} already allocated in subnet {}",
                            ip.ip_address, ip.subnet_id
                        ))
                        .with_code("IpAddressAlreadyAllocated"));
                    }
                    lost.insert(ip.ip_address);
                    ok = false;
                    break;
                }
            }
            if !ok {
                // Another creator took it between our read and our write: pick again.
                continue;
            }
            match tx.commit().await.map_err(Error::from) {
                Ok(()) => {
                    self.changed();
                    return Ok(port);
                }
                // PostgreSQL: a concurrent transaction committed the same address.
                Err(e) if e.kind == api_common::ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict(format!(
            "Unable to allocate an address on network {}: too many concurrent requests. Try again.",
            net.id
        ))
        .with_code("IpAddressGenerationFailure"))
    }

    pub async fn port_update(
        &self,
        caller: &Caller<'_>,
        id: &PortId,
        req: PortUpdate,
        if_match: Option<i64>,
    ) -> Result<Port> {
        let (mut p, net) = self.visible_port(caller, id).await?;
        check_revision(if_match, p.revision)?;
        let t = port_target(&p, &net);
        self.authorize(caller, Rule::UpdatePort, &t)?;
        if req.host_id.is_some() || req.profile.is_some() {
            self.authorize(caller, Rule::UpdatePortBinding, &t)?;
        }
        if req
            .device_owner
            .as_deref()
            .is_some_and(model::network_device)
        {
            self.authorize(caller, Rule::UpdatePortDeviceOwner, &t)?;
        }
        if req.mac_address.is_some() {
            self.authorize(caller, Rule::UpdatePortMacAddress, &t)?;
        }
        if req
            .fixed_ips
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f.ip_address.is_some()))
        {
            self.authorize(caller, Rule::UpdatePortFixedIps, &t)?;
        }
        if req.port_security_enabled.is_some() {
            self.authorize(caller, Rule::UpdatePortPortSecurity, &t)?;
        }
        let revision = p.revision;
        if let Some(v) = req.name {
            p.name = v;
        }
        if let Some(v) = req.description {
            p.description = v;
        }
        if let Some(v) = req.admin_state_up {
            p.admin_state_up = v;
        }
        if let Some(v) = req.device_id {
            p.device_id = v;
        }
        if let Some(v) = req.device_owner {
            p.device_owner = v;
        }
        if let Some(v) = req.host_id {
            if v != p.host_id {
                // A port moved to another host is down until that host's agent wires it.
                p.status = "DOWN".into();
            }
            p.host_id = v;
        }
        if let Some(v) = req.vnic_type {
            if !VNIC_TYPES.contains(&v.as_str()) {
                return Err(invalid(format_args!("'{v}' is not in {VNIC_TYPES:?}")));
            }
            p.vnic_type = v;
        }
        if let Some(v) = req.profile {
            p.profile = v;
        }
        if let Some(v) = req.dns_name {
            p.dns_name = v;
        }
        if let Some(q) = req.qos_policy_id {
            p.qos_policy_id = self.usable_qos(caller, q.as_deref()).await?;
        }
        if let Some(v) = req.extra_dhcp_opts {
            p.extra_dhcp_opts = dhcp_opts(v)?;
        }
        if let Some(v) = req.port_security_enabled {
            p.port_security_enabled = v;
        }
        if let Some(m) = req.mac_address {
            if p.bound() && p.status == "ACTIVE" {
                return Err(Error::conflict(format!("Unable to complete operation on port {id}: the MAC address of a bound port cannot change")).with_code("PortBound"));
            }
            p.mac_address = ipam::normalize_mac(&m)?;
        }
        if let Some(pairs) = req.allowed_address_pairs {
            p.allowed_address_pairs = self.pairs(&p.mac_address, pairs)?;
        }
        let groups_changed = req.security_groups.is_some();
        if let Some(g) = req.security_groups {
            p.security_groups = self
                .port_groups(&p.project_id, Some(g), p.port_security_enabled)
                .await?;
        }
        if !p.port_security_enabled
            && (!p.security_groups.is_empty() || !p.allowed_address_pairs.is_empty())
        {
            return Err(Error::conflict(
                "Port has security group associated. Cannot disable port security or ip address until security group is removed",
            )
            .with_code("PortSecurityPortHasSecurityGroup"));
        }
        p.updated_at = now();
        let mut tx = self.db.begin_write().await?;
        let addresses_changed = req.fixed_ips.is_some();
        if let Some(reqs) = req.fixed_ips {
            let keep: Vec<FixedIp> = p.fixed_ips.clone();
            store::release_addresses(&mut tx, &p.id).await?;
            // Addresses the port keeps are asked again by address, so they stay.
            let reqs: Vec<FixedIpRequest> = reqs
                .into_iter()
                .map(|r| match (&r.subnet_id, r.ip_address) {
                    (Some(s), None) => match keep.iter().find(|k| &k.subnet_id == s) {
                        Some(k) => FixedIpRequest {
                            subnet_id: Some(s.clone()),
                            ip_address: Some(k.ip_address),
                        },
                        None => r,
                    },
                    _ => r,
                })
                .collect();
            p.fixed_ips = self
                .plan_addresses(
                    &mut tx,
                    &net,
                    &p.mac_address,
                    Some(&reqs),
                    &HashSet::new(),
                    false,
                )
                .await?;
            for ip in &p.fixed_ips {
                if !store::allocate(&mut tx, &net.id, &p.id, ip).await? {
                    return Err(Error::conflict(format!(
                        "IP address {} already allocated in subnet {}",
                        ip.ip_address, ip.subnet_id
                    ))
                    .with_code("IpAddressAlreadyAllocated"));
                }
            }
        }
        if !store::update_port(&mut tx, &p, revision).await? {
            return Err(super::revision_mismatch());
        }
        if groups_changed {
            store::set_port_groups(&mut tx, &p.id, &p.security_groups).await?;
        }
        tx.commit().await?;
        p.revision = revision + 1;
        self.changed();
        if addresses_changed {
            self.compute_events.port_changed(&p);
        }
        Ok(p)
    }

    pub async fn port_delete(&self, caller: &Caller<'_>, id: &PortId) -> Result<()> {
        let (p, net) = self.visible_port(caller, id).await?;
        self.authorize(caller, Rule::DeletePort, &port_target(&p, &net))?;
        if [
            model::DEVICE_OWNER_ROUTER_INTERFACE,
            model::DEVICE_OWNER_ROUTER_GATEWAY,
            model::DEVICE_OWNER_FLOATINGIP,
        ]
        .contains(&p.device_owner.as_str())
        {
            return Err(Error::conflict(format!(
                "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                p.device_owner
            ))
            .with_code("ServicePortInUse"));
        }
        let mut tx = self.db.begin_write().await?;
        store::delete_port(&mut tx, id).await?;
        tx.commit().await?;
        self.changed();
        self.compute_events.port_deleted(&p);
        Ok(())
    }

    /// The network's DHCP port (`network:dhcp`), with an address on each DHCP subnet:
    /// dnsmasq answers from it.
    pub(super) async fn ensure_dhcp_port(&self, net: &Network) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let ports = store::list_ports(
            &mut tx,
            store::PortScope {
                network: Some(&net.id),
                ..Default::default()
            },
        )
        .await?;
        let subnets: Vec<Subnet> = store::list_subnets(&mut tx, Some(&net.id))
            .await?
            .into_iter()
            .filter(|s| s.enable_dhcp)
            .collect();
        let existing = ports
            .into_iter()
            .find(|p| p.device_owner == model::DEVICE_OWNER_DHCP);
        let mut port = match existing {
            Some(p) => p,
            None => {
                let mut p = system_port(
                    net,
                    &net.project_id,
                    model::DEVICE_OWNER_DHCP,
                    &format!("dhcp-{}", net.id),
                );
                p.mac_address = ipam::random_mac(&self.cfg.base_mac);
                p.status = "ACTIVE".into();
                store::insert_port(&mut tx, &p).await?;
                p
            }
        };
        // dnsmasq answers DHCPv6 on a prefix it holds an address in: stateless
        // subnets too (their address is the port's EUI-64 one); SLAAC ones need none
        for s in subnets
            .iter()
            .filter(|s| s.ipv6_address_mode.as_deref() != Some("slaac"))
        {
            if port.fixed_ips.iter().any(|f| f.subnet_id == s.id) {
                continue;
            }
            let ip = self
                .pick(&mut tx, s, &port.mac_address, &HashSet::new())
                .await?;
            let f = FixedIp {
                subnet_id: s.id.clone(),
                ip_address: ip,
            };
            if store::allocate(&mut tx, &net.id, &port.id, &f).await? {
                port.fixed_ips.push(f);
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A port the cloud itself owns (`network:*`): no security, no address yet.
pub(super) fn system_port(net: &Network, project: &str, owner: &str, device_id: &str) -> Port {
    let ts = now();
    Port {
        id: PortId::generate(),
        project_id: project.to_owned(),
        network_id: net.id.clone(),
        name: String::new(),
        description: String::new(),
        admin_state_up: true,
        mac_address: String::new(),
        fixed_ips: Vec::new(),
        device_id: device_id.to_owned(),
        device_owner: owner.to_owned(),
        host_id: String::new(),
        vnic_type: "normal".into(),
        profile: json!({}),
        status: "DOWN".into(),
        port_security_enabled: false,
        security_groups: Vec::new(),
        allowed_address_pairs: Vec::new(),
        extra_dhcp_opts: Vec::new(),
        dns_name: String::new(),
        qos_policy_id: None,
        revision: 1,
        created_at: ts.clone(),
        updated_at: ts,
        tags: Vec::new(),
    }
}

fn dhcp_opts(req: Vec<DhcpOptRequest>) -> Result<Vec<DhcpOpt>> {
    req.into_iter()
        .map(|o| {
            let ip_version = o.ip_version.unwrap_or(4);
            if ip_version != 4 && ip_version != 6 {
                return Err(invalid(format_args!("'{ip_version}' is not in [4, 6]")));
            }
            if o.opt_name.is_empty()
                || o.opt_name.contains([',', '\n'])
                || o.opt_value.contains('\n')
            {
                return Err(invalid(format_args!(
                    "'{}' is not a valid DHCP option",
                    o.opt_name
                )));
            }
            Ok(DhcpOpt {
                opt_name: o.opt_name,
                opt_value: o.opt_value,
                ip_version,
            })
        })
        .collect()
}

fn exhausted(net: &NetworkId) -> Error {
    Error::conflict(format!("No more IP addresses available on network {net}."))
        .with_code("IpAddressGenerationFailure")
}

/// Neutron's 403 for a port on a network the caller may see but not use.
fn refused(rule: Rule, net: &Network) -> Error {
    Error::forbidden(format!(
        "({rule}) is disallowed by policy: network {} is not shared",
        net.id
    ))
    .with_code("PolicyNotAuthorized")
}

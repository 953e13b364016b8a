//! Subnets: a CIDR of a network, its gateway, pools, DNS servers and routes. A subnet
//! with DHCP gets the network's DHCP port an address of it.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::json;
use types::{NetworkId, SubnetId};

use super::{check_revision, nullable, target, Caller, Networking};
use crate::{
    ipam::{self, invalid},
    model::{now, HostRoute, Network, Pool, Subnet},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// `POST /v2.0/subnets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetCreate {
    pub network_id: NetworkId,
    pub cidr: Option<String>,
    pub ip_version: Option<u8>,
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub gateway_ip: Option<Option<IpAddr>>,
    pub allocation_pools: Option<Vec<Pool>>,
    pub dns_nameservers: Option<Vec<IpAddr>>,
    pub host_routes: Option<Vec<HostRoute>>,
    pub enable_dhcp: Option<bool>,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub subnetpool_id: Option<Option<String>>,
    pub prefixlen: Option<u8>,
    pub use_default_subnetpool: Option<bool>,
    pub segment_id: Option<Option<String>>,
    pub service_types: Option<Vec<String>>,
    pub dns_publish_fixed_ip: Option<bool>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

impl SubnetCreate {
    /// An IPv4 subnet with every default (for the bootstrap).
    pub fn new(network_id: NetworkId, cidr: &str, name: &str) -> SubnetCreate {
        SubnetCreate {
            network_id,
            cidr: Some(cidr.to_owned()),
            ip_version: Some(4),
            name: Some(name.to_owned()),
            description: None,
            gateway_ip: None,
            allocation_pools: None,
            dns_nameservers: None,
            host_routes: None,
            enable_dhcp: None,
            ipv6_ra_mode: None,
            ipv6_address_mode: None,
            subnetpool_id: None,
            prefixlen: None,
            use_default_subnetpool: None,
            segment_id: None,
            service_types: None,
            dns_publish_fixed_ip: None,
            project_id: None,
            tenant_id: None,
            tags: None,
        }
    }
}

/// `PUT /v2.0/subnets/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub gateway_ip: Option<Option<IpAddr>>,
    pub allocation_pools: Option<Vec<Pool>>,
    pub dns_nameservers: Option<Vec<IpAddr>>,
    pub host_routes: Option<Vec<HostRoute>>,
    pub enable_dhcp: Option<bool>,
    pub service_types: Option<Vec<String>>,
    pub segment_id: Option<Option<String>>,
}

pub(super) fn not_found(id: &str) -> Error {
    Error::not_found(format!("Subnet {id} could not be found.")).with_code("SubnetNotFound")
}

const V6_MODES: &[&str] = &["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

fn subnet_target(s: &Subnet, net: &Network) -> serde_json::Value {
    target(
        &s.project_id,
        &[
            ("network_project_id", json!(net.project_id)),
            ("shared", json!(net.shared)),
            ("network_id", json!(net.id)),
        ],
    )
}

fn check_routes(cidr: &ipnet::IpNet, routes: &[HostRoute]) -> Result<()> {
    for r in routes {
        if r.destination.addr().is_ipv4() != cidr.addr().is_ipv4()
            || r.nexthop.is_ipv4() != cidr.addr().is_ipv4()
        {
            return Err(invalid(format_args!(
                "host route {} via {} is not of the subnet's IP version",
                r.destination, r.nexthop
            ))
            .with_code("InvalidInput"));
        }
        if r.destination.trunc() != r.destination {
            return Err(invalid(format_args!(
                "'{}' isn't a recognized IP subnet cidr, '{}' is recommended",
                r.destination,
                r.destination.trunc()
            )));
        }
    }
    Ok(())
}

fn check_dns(cidr: &ipnet::IpNet, dns: &[IpAddr]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for d in dns {
        if d.is_ipv4() != cidr.addr().is_ipv4() {
            return Err(invalid(format_args!(
                "DNS nameserver {d} is not of the subnet's IP version"
            )));
        }
        if !seen.insert(d) {
            return Err(invalid(format_args!("Duplicate nameserver '{d}'")));
        }
    }
    Ok(())
}

impl Networking {
    async fn visible_subnet(
        &self,
        caller: &Caller<'_>,
        id: &SubnetId,
    ) -> Result<(Subnet, Network)> {
        let mut conn = self.conn().await?;
        let s = store::get_subnet(&mut conn, id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        let net = store::get_network(&mut conn, &s.network_id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        if !self.allowed(caller, Rule::GetSubnet, &subnet_target(&s, &net)) {
            return Err(not_found(id.as_str()));
        }
        Ok((s, net))
    }

    pub async fn subnet_show(&self, caller: &Caller<'_>, id: &SubnetId) -> Result<Subnet> {
        Ok(self.visible_subnet(caller, id).await?.0)
    }

    pub async fn subnet_list(&self, caller: &Caller<'_>) -> Result<Vec<Subnet>> {
        let nets = self.network_list(caller).await?;
        let mut conn = self.conn().await?;
        let by_id: std::collections::HashMap<&str, &Network> =
            nets.iter().map(|n| (n.id.as_str(), n)).collect();
        let all = store::list_subnets(&mut conn, None).await?;
        Ok(all
            .into_iter()
            .filter(|s| {
                by_id.get(s.network_id.as_str()).is_some_and(|net| {
                    self.allowed(caller, Rule::GetSubnet, &subnet_target(s, net))
                })
            })
            .collect())
    }

    pub async fn subnet_create(&self, caller: &Caller<'_>, req: SubnetCreate) -> Result<Subnet> {
        let net = self
            .visible_network(caller, &req.network_id)
            .await
            .map_err(|_| super::networks::not_found(req.network_id.as_str()))?;
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        let t = target(
            &project,
            &[
                ("network_project_id", json!(net.project_id)),
                ("shared", json!(net.shared)),
            ],
        );
        self.authorize(caller, Rule::CreateSubnet, &t)?;
        let ip_version = req.ip_version.unwrap_or(4);
        if ip_version != 4 && ip_version != 6 {
            return Err(invalid(format_args!("'{ip_version}' is not in [4, 6]")));
        }
        let pool = self
            .requested_pool(
                caller,
                req.subnetpool_id.clone().flatten().as_deref(),
                req.use_default_subnetpool == Some(true),
                ip_version,
            )
            .await?;
        let asked = req
            .cidr
            .as_deref()
            .map(|c| ipam::parse_cidr(c, Some(ip_version)))
            .transpose()?;
        if asked.is_none() && pool.is_none() {
            return Err(Error::bad_request(
                "Bad subnets request: a cidr must be specified in the absence of a subnet pool",
            )
            .with_code("BadRequest"));
        }
        self.check_quota(&project, "subnet", 1).await?;
        // With a pool, the prefix is carved in the transaction that inserts the subnet.
        let mut tx = self.db.begin_write().await?;
        let cidr = match (&pool, asked) {
            (Some(p), asked) => self.carve(&mut tx, p, asked, req.prefixlen).await?,
            (None, Some(c)) => c,
            (None, None) => unreachable!("checked above"),
        };
        for (what, mode) in [
            ("ipv6_ra_mode", &req.ipv6_ra_mode),
            ("ipv6_address_mode", &req.ipv6_address_mode),
        ] {
            if let Some(m) = mode {
                if ip_version != 6 {
                    return Err(invalid(format_args!(
                        "{what} is not valid when ip_version is 4"
                    )));
                }
                if !V6_MODES.contains(&m.as_str()) {
                    return Err(invalid(format_args!("'{m}' is not in {V6_MODES:?}")));
                }
            }
        }
        if let (Some(ra), Some(addr)) = (&req.ipv6_ra_mode, &req.ipv6_address_mode) {
            if ra != addr {
                return Err(invalid(format_args!(
                    "ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{addr}' is not valid. If both attributes are set, they must be the same value"
                )));
            }
        }
        let gateway = match req.gateway_ip {
            Some(None) => None,
            Some(Some(g)) => {
                ipam::check_gateway(&cidr, g)?;
                Some(g)
            }
            None => Some(ipam::first_host(&cidr)),
        };
        let pools = match req.allocation_pools {
            Some(p) if !p.is_empty() => {
                ipam::check_pools(&cidr, &p, gateway)?;
                p
            }
            _ => ipam::default_pools(&cidr, gateway),
        };
        let dns = req.dns_nameservers.unwrap_or_default();
        check_dns(&cidr, &dns)?;
        let routes = req.host_routes.unwrap_or_default();
        check_routes(&cidr, &routes)?;
        let ts = now();
        let s = Subnet {
            id: SubnetId::generate(),
            project_id: project,
            network_id: net.id.clone(),
            name: req.name.unwrap_or_default(),
            description: req.description.unwrap_or_default(),
            cidr,
            gateway_ip: gateway,
            allocation_pools: pools,
            dns_nameservers: dns,
            host_routes: routes,
            enable_dhcp: req.enable_dhcp.unwrap_or(true),
            ipv6_ra_mode: req.ipv6_ra_mode,
            ipv6_address_mode: req.ipv6_address_mode,
            subnetpool_id: pool.as_ref().map(|p| p.id.to_string()),
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
            tags: req.tags.unwrap_or_default(),
        };
        for other in store::list_subnets(&mut tx, Some(&net.id)).await? {
            if ipam::overlaps(&other.cidr, &s.cidr) {
                return Err(invalid(format_args!(
                    "Requested subnet with cidr: {} for network: {} overlaps with another subnet",
                    s.cidr, net.id
                )));
            }
        }
        store::insert_subnet(&mut tx, &s).await?;
        tx.commit().await?;
        if s.enable_dhcp {
            self.ensure_dhcp_port(&net).await?;
        }
        self.changed();
        Ok(s)
    }

    pub async fn subnet_update(
        &self,
        caller: &Caller<'_>,
        id: &SubnetId,
        req: SubnetUpdate,
        if_match: Option<i64>,
    ) -> Result<Subnet> {
        let (mut s, net) = self.visible_subnet(caller, id).await?;
        check_revision(if_match, s.revision)?;
        self.authorize(caller, Rule::UpdateSubnet, &subnet_target(&s, &net))?;
        let revision = s.revision;
        if let Some(v) = req.name {
            s.name = v;
        }
        if let Some(v) = req.description {
            s.description = v;
        }
        if let Some(g) = req.gateway_ip {
            if let Some(g) = g {
                ipam::check_gateway(&s.cidr, g)?;
            }
            s.gateway_ip = g;
        }
        if let Some(p) = req.allocation_pools {
            s.allocation_pools = p;
        }
        if req.gateway_ip.is_some() || !s.allocation_pools.is_empty() {
            ipam::check_pools(&s.cidr, &s.allocation_pools, s.gateway_ip)?;
        }
        if let Some(d) = req.dns_nameservers {
            check_dns(&s.cidr, &d)?;
            s.dns_nameservers = d;
        }
        if let Some(r) = req.host_routes {
            check_routes(&s.cidr, &r)?;
            s.host_routes = r;
        }
        if let Some(v) = req.enable_dhcp {
            s.enable_dhcp = v;
        }
        s.updated_at = now();
        let mut conn = self.conn().await?;
        if !store::update_subnet(&mut conn, &s, revision).await? {
            return Err(super::revision_mismatch());
        }
        drop(conn);
        s.revision = revision + 1;
        if s.enable_dhcp {
            self.ensure_dhcp_port(&net).await?;
        }
        self.changed();
        Ok(s)
    }

    pub async fn subnet_delete(&self, caller: &Caller<'_>, id: &SubnetId) -> Result<()> {
        let (s, net) = self.visible_subnet(caller, id).await?;
        self.authorize(caller, Rule::DeleteSubnet, &subnet_target(&s, &net))?;
        let mut tx = self.db.begin_write().await?;
        if !store::subnet_users(&mut tx, id, crate::model::DEVICE_OWNER_DHCP)
            .await?
            .is_empty()
        {
            return Err(Error::conflict(format!(
                "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
            ))
            .with_code("SubnetInUse"));
        }
        // The DHCP port keeps its other addresses; it loses this one.
        store::delete_subnet(&mut tx, id).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }
}

//! Routers: a gateway on an external network (SNAT), interfaces on project subnets
//! (by subnet, taking its gateway address, or by port), extra routes.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;
use types::{NetworkId, PortId, RouterId, SubnetId};

use super::{check_revision, ports::system_port, target, Caller, FixedIpRequest, Networking};
use crate::{
    model::{self, now, Gateway, HostRoute, Network, Port, Router},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// `external_gateway_info` of a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayRequest {
    pub network_id: NetworkId,
    pub enable_snat: Option<bool>,
    pub external_fixed_ips: Option<Vec<FixedIpRequest>>,
    pub qos_policy_id: Option<Option<String>>,
}

/// `POST /v2.0/routers`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    #[serde(default, deserialize_with = "super::nullable")]
    pub external_gateway_info: Option<Option<GatewayRequest>>,
    pub availability_zone_hints: Option<Vec<String>>,
    pub distributed: Option<bool>,
    pub ha: Option<bool>,
    pub flavor_id: Option<Option<String>>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// `PUT /v2.0/routers/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    #[serde(default, deserialize_with = "super::nullable")]
    pub external_gateway_info: Option<Option<GatewayRequest>>,
    pub routes: Option<Vec<HostRoute>>,
    pub distributed: Option<bool>,
    pub ha: Option<bool>,
}

/// `PUT .../add_router_interface` and `remove_router_interface`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceRequest {
    pub subnet_id: Option<SubnetId>,
    pub port_id: Option<PortId>,
}

/// What adding or removing an interface answers.
#[derive(Debug, Clone)]
pub struct InterfaceInfo {
    pub router_id: RouterId,
    pub project_id: String,
    pub port_id: PortId,
    pub network_id: NetworkId,
    pub subnet_ids: Vec<SubnetId>,
}

pub(super) fn not_found(id: &str) -> Error {
    Error::not_found(format!("Router {id} could not be found")).with_code("RouterNotFound")
}

fn router_target(r: &Router) -> Value {
    target(&r.project_id, &[])
}

fn bad_router(msg: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Bad router request: {msg}.")).with_code("BadRequest")
}

impl Networking {
    pub(super) async fn visible_router(
        &self,
        caller: &Caller<'_>,
        id: &RouterId,
    ) -> Result<Router> {
        let mut conn = self.conn().await?;
        let r = store::get_router(&mut conn, id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        if !self.allowed(caller, Rule::GetRouter, &router_target(&r)) {
            return Err(not_found(id.as_str()));
        }
        Ok(r)
    }

    pub async fn router_show(&self, caller: &Caller<'_>, id: &RouterId) -> Result<Router> {
        self.visible_router(caller, id).await
    }

    pub async fn router_list(&self, caller: &Caller<'_>) -> Result<Vec<Router>> {
        let mut conn = self.conn().await?;
        let routers = store::list_routers(&mut conn, caller.scope()).await?;
        Ok(routers
            .into_iter()
            .filter(|r| self.allowed(caller, Rule::GetRouter, &router_target(r)))
            .collect())
    }

    /// The external network a gateway names: visible, and external.
    async fn gateway_network(&self, caller: &Caller<'_>, req: &GatewayRequest) -> Result<Network> {
        let net = self
            .visible_network(caller, &req.network_id)
            .await
            .map_err(|_| super::networks::not_found(req.network_id.as_str()))?;
        if !net.external {
            return Err(bad_router(format_args!(
                "The network {} is not a valid external network",
                net.id
            )));
        }
        Ok(net)
    }

    fn authorize_gateway(
        &self,
        caller: &Caller<'_>,
        t: &Value,
        req: &GatewayRequest,
    ) -> Result<()> {
        if req.enable_snat.is_some() {
            self.authorize(caller, Rule::CreateRouterSnat, t)?;
        }
        if req
            .external_fixed_ips
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f.ip_address.is_some()))
        {
            self.authorize(caller, Rule::CreateRouterExternalIps, t)?;
        }
        Ok(())
    }

    /// Give `router` a gateway port on `net`.
    async fn add_gateway(
        &self,
        router: &RouterId,
        net: &Network,
        req: &GatewayRequest,
    ) -> Result<Port> {
        let port = system_port(net, "", model::DEVICE_OWNER_ROUTER_GATEWAY, router.as_str());
        self.insert_new_port(net, port, None, req.external_fixed_ips.as_deref(), &[])
            .await
            .map_err(|e| match e.code {
                Some("IpAddressGenerationFailure") => Error::conflict(format!(
                    "No more IP addresses available on network {} for the router gateway.",
                    net.id
                ))
                .with_code("IpAddressGenerationFailure"),
                _ => e,
            })
    }

    async fn remove_gateway(&self, router: &Router) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let fips = store::list_fips(
            &mut tx,
            store::FipScope {
                router: Some(&router.id),
                ..Default::default()
            },
        )
        .await?;
        if !fips.is_empty() {
            return Err(Error::conflict(format!(
                "Gateway cannot be updated for router {}, since a gateway to external network {} is required by one or more floating IPs.",
                router.id,
                router.gateway.as_ref().map(|g| g.network_id.to_string()).unwrap_or_default()
            ))
            .with_code("RouterExternalGatewayInUseByFloatingIp"));
        }
        for p in
            store::router_ports(&mut tx, &router.id, model::DEVICE_OWNER_ROUTER_GATEWAY).await?
        {
            store::delete_port(&mut tx, &p.id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn router_create(&self, caller: &Caller<'_>, req: RouterCreate) -> Result<Router> {
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        let t = target(&project, &[]);
        self.authorize(caller, Rule::CreateRouter, &t)?;
        if req.distributed == Some(true) || req.ha == Some(true) {
            self.authorize(caller, Rule::CreateRouterDistributed, &t)?;
        }
        let gw = req.external_gateway_info.clone().flatten();
        let gw_net = match &gw {
            Some(g) => {
                self.authorize_gateway(caller, &t, g)?;
                Some(self.gateway_network(caller, g).await?)
            }
            None => None,
        };
        self.check_quota(&project, "router", 1).await?;
        let ts = now();
        let mut r = Router {
            id: RouterId::generate(),
            project_id: project,
            name: req.name.unwrap_or_default(),
            description: req.description.unwrap_or_default(),
            admin_state_up: req.admin_state_up.unwrap_or(true),
            gateway: gw.as_ref().map(|g| Gateway {
                network_id: g.network_id.clone(),
                enable_snat: g.enable_snat.unwrap_or(true),
                external_fixed_ips: Vec::new(),
            }),
            routes: Vec::new(),
            availability_zone_hints: req.availability_zone_hints.unwrap_or_default(),
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
            tags: req.tags.unwrap_or_default(),
        };
        let mut tx = self.db.begin_write().await?;
        store::insert_router(&mut tx, &r).await?;
        tx.commit().await?;
        if let (Some(g), Some(net)) = (&gw, &gw_net) {
            match self.add_gateway(&r.id, net, g).await {
                Ok(port) => {
                    if let Some(gw) = &mut r.gateway {
                        gw.external_fixed_ips = port.fixed_ips;
                    }
                }
                Err(e) => {
                    // Nothing half-made: the router goes with its failed gateway.
                    let mut tx = self.db.begin_write().await?;
                    store::delete_router(&mut tx, &r.id).await?;
                    tx.commit().await?;
                    return Err(e);
                }
            }
        }
        self.changed();
        Ok(r)
    }

    pub async fn router_update(
        &self,
        caller: &Caller<'_>,
        id: &RouterId,
        req: RouterUpdate,
        if_match: Option<i64>,
    ) -> Result<Router> {
        let mut r = self.visible_router(caller, id).await?;
        check_revision(if_match, r.revision)?;
        let t = router_target(&r);
        self.authorize(caller, Rule::UpdateRouter, &t)?;
        if req.distributed == Some(true) || req.ha == Some(true) {
            self.authorize(caller, Rule::CreateRouterDistributed, &t)?;
        }
        let revision = r.revision;
        if let Some(v) = req.name {
            r.name = v;
        }
        if let Some(v) = req.description {
            r.description = v;
        }
        if let Some(v) = req.admin_state_up {
            r.admin_state_up = v;
        }
        if let Some(routes) = req.routes {
            self.check_routes(&r, &routes).await?;
            r.routes = routes;
        }
        let mut new_gateway = None;
        if let Some(gw) = req.external_gateway_info {
            match gw {
                None => {
                    if r.gateway.is_some() {
                        self.remove_gateway(&r).await?;
                    }
                    r.gateway = None;
                }
                Some(g) => {
                    self.authorize_gateway(caller, &t, &g)?;
                    let net = self.gateway_network(caller, &g).await?;
                    let same_net = r
                        .gateway
                        .as_ref()
                        .is_some_and(|cur| cur.network_id == g.network_id);
                    if !same_net || g.external_fixed_ips.is_some() {
                        if r.gateway.is_some() {
                            self.remove_gateway(&r).await?;
                        }
                        new_gateway = Some((net, g.clone()));
                    }
                    r.gateway = Some(Gateway {
                        network_id: g.network_id.clone(),
                        enable_snat: g.enable_snat.unwrap_or(true),
                        external_fixed_ips: r
                            .gateway
                            .map(|cur| cur.external_fixed_ips)
                            .unwrap_or_default(),
                    });
                }
            }
        }
        r.updated_at = now();
        let mut conn = self.conn().await?;
        if !store::update_router(&mut conn, &r, revision).await? {
            return Err(super::revision_mismatch());
        }
        drop(conn);
        if let Some((net, g)) = new_gateway {
            let port = self.add_gateway(&r.id, &net, &g).await?;
            if let Some(gw) = &mut r.gateway {
                gw.external_fixed_ips = port.fixed_ips;
            }
        }
        r.revision = revision + 1;
        self.changed();
        Ok(r)
    }

    /// Extra routes must go through a subnet the router is on.
    async fn check_routes(&self, r: &Router, routes: &[HostRoute]) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut ports =
            store::router_ports(&mut conn, &r.id, model::DEVICE_OWNER_ROUTER_INTERFACE).await?;
        ports.extend(
            store::router_ports(&mut conn, &r.id, model::DEVICE_OWNER_ROUTER_GATEWAY).await?,
        );
        let mut cidrs = Vec::new();
        for p in &ports {
            for f in &p.fixed_ips {
                if let Some(s) = store::get_subnet(&mut conn, &f.subnet_id).await? {
                    cidrs.push(s.cidr);
                }
            }
        }
        for route in routes {
            if !cidrs.iter().any(|c| c.contains(&route.nexthop)) {
                return Err(Error::bad_request(format!(
                    "Invalid format for routes: [{{'destination': '{}', 'nexthop': '{}'}}], the nexthop is not connected with router",
                    route.destination, route.nexthop
                ))
                .with_code("InvalidRoutes"));
            }
        }
        Ok(())
    }

    pub async fn router_delete(&self, caller: &Caller<'_>, id: &RouterId) -> Result<()> {
        let r = self.visible_router(caller, id).await?;
        self.authorize(caller, Rule::DeleteRouter, &router_target(&r))?;
        let mut tx = self.db.begin_write().await?;
        if !store::router_ports(&mut tx, id, model::DEVICE_OWNER_ROUTER_INTERFACE)
            .await?
            .is_empty()
        {
            return Err(
                Error::conflict(format!("Router {id} still has ports")).with_code("RouterInUse")
            );
        }
        if !store::list_fips(
            &mut tx,
            store::FipScope {
                router: Some(id),
                ..Default::default()
            },
        )
        .await?
        .is_empty()
        {
            return Err(Error::conflict(format!(
                "Router {id} still has floating IPs associated through it"
            ))
            .with_code("RouterInUse"));
        }
        for p in store::router_ports(&mut tx, id, model::DEVICE_OWNER_ROUTER_GATEWAY).await? {
            store::delete_port(&mut tx, &p.id).await?;
        }
        store::delete_router(&mut tx, id).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    pub async fn router_add_interface(
        &self,
        caller: &Caller<'_>,
        id: &RouterId,
        req: InterfaceRequest,
    ) -> Result<InterfaceInfo> {
        let r = self.visible_router(caller, id).await?;
        self.authorize(caller, Rule::AddRouterInterface, &router_target(&r))?;
        let info = match (req.subnet_id, req.port_id) {
            (Some(_), Some(_)) => {
                return Err(bad_router("Cannot specify both subnet-id and port-id"))
            }
            (None, None) => {
                return Err(bad_router("Either subnet_id or port_id must be specified"))
            }
            (Some(subnet_id), None) => {
                let subnet = self.subnet_show(caller, &subnet_id).await?;
                let Some(gateway) = subnet.gateway_ip else {
                    return Err(bad_router(format_args!(
                        "Subnet for router interface must have a gateway IP"
                    )));
                };
                let net = self.visible_network(caller, &subnet.network_id).await?;
                self.check_new_interface(&r, &subnet.cidr, &subnet.id)
                    .await?;
                let port = system_port(
                    &net,
                    &r.project_id,
                    model::DEVICE_OWNER_ROUTER_INTERFACE,
                    r.id.as_str(),
                );
                let fixed = [FixedIpRequest {
                    subnet_id: Some(subnet.id.clone()),
                    ip_address: Some(gateway),
                }];
                let port = self
                    .insert_new_port(&net, port, None, Some(&fixed), &[])
                    .await?;
                InterfaceInfo {
                    router_id: r.id.clone(),
                    project_id: r.project_id.clone(),
                    port_id: port.id,
                    network_id: net.id,
                    subnet_ids: vec![subnet.id],
                }
            }
            (None, Some(port_id)) => {
                let mut port = self.port_show(caller, &port_id).await?;
                if !port.device_owner.is_empty() || !port.device_id.is_empty() {
                    return Err(Error::conflict(format!(
                        "Port {port_id} is in use by {} {}",
                        port.device_owner, port.device_id
                    ))
                    .with_code("PortInUse"));
                }
                if port.fixed_ips.is_empty() {
                    return Err(bad_router(format_args!(
                        "Router port must have at least one fixed IP"
                    )));
                }
                let mut conn = self.conn().await?;
                for f in &port.fixed_ips {
                    let s = store::get_subnet(&mut conn, &f.subnet_id)
                        .await?
                        .ok_or_else(|| super::subnets::not_found(f.subnet_id.as_str()))?;
                    drop(conn);
                    self.check_new_interface(&r, &s.cidr, &s.id).await?;
                    conn = self.conn().await?;
                }
                let revision = port.revision;
                port.device_owner = model::DEVICE_OWNER_ROUTER_INTERFACE.into();
                port.device_id = r.id.to_string();
                port.security_groups.clear();
                port.port_security_enabled = false;
                port.allowed_address_pairs.clear();
                port.updated_at = now();
                let mut tx = self.db.begin_write().await?;
                if !store::update_port(&mut tx, &port, revision).await? {
                    return Err(super::revision_mismatch());
                }
                store::set_port_groups(&mut tx, &port.id, &[]).await?;
                tx.commit().await?;
                drop(conn);
                InterfaceInfo {
                    router_id: r.id.clone(),
                    project_id: r.project_id.clone(),
                    port_id: port.id,
                    network_id: port.network_id,
                    subnet_ids: port.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect(),
                }
            }
        };
        self.changed();
        Ok(info)
    }

    /// A router is on a subnet once, and its subnets do not overlap.
    async fn check_new_interface(
        &self,
        r: &Router,
        cidr: &ipnet::IpNet,
        subnet: &SubnetId,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        for p in store::router_ports(&mut conn, &r.id, model::DEVICE_OWNER_ROUTER_INTERFACE).await?
        {
            for f in &p.fixed_ips {
                if &f.subnet_id == subnet {
                    return Err(bad_router(format_args!(
                        "Router already has a port on subnet {subnet}"
                    )));
                }
                if let Some(s) = store::get_subnet(&mut conn, &f.subnet_id).await? {
                    if crate::ipam::overlaps(&s.cidr, cidr) {
                        return Err(bad_router(format_args!(
                            "Cidr {cidr} of subnet {subnet} overlaps with cidr {} of subnet {}",
                            s.cidr, s.id
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    pub async fn router_remove_interface(
        &self,
        caller: &Caller<'_>,
        id: &RouterId,
        req: InterfaceRequest,
    ) -> Result<InterfaceInfo> {
        let r = self.visible_router(caller, id).await?;
        self.authorize(caller, Rule::RemoveRouterInterface, &router_target(&r))?;
        let mut tx = self.db.begin_write().await?;
        let ports = store::router_ports(&mut tx, id, model::DEVICE_OWNER_ROUTER_INTERFACE).await?;
        let port = match (&req.subnet_id, &req.port_id) {
            (None, None) => {
                return Err(bad_router("Either subnet_id or port_id must be specified"))
            }
            (_, Some(pid)) => ports.into_iter().find(|p| &p.id == pid).ok_or_else(|| {
                Error::not_found(format!(
                    "Router {id} does not have an interface with id {pid}"
                ))
                .with_code("RouterInterfaceNotFound")
            })?,
            (Some(sid), None) => ports
                .into_iter()
                .find(|p| p.fixed_ips.iter().any(|f| &f.subnet_id == sid))
                .ok_or_else(|| {
                    Error::not_found(format!("Router {id} has no interface on subnet {sid}"))
                        .with_code("RouterInterfaceNotFoundForSubnet")
                })?,
        };
        // Floating IPs that reach their port through this interface would lose their way.
        for f in store::list_fips(
            &mut tx,
            store::FipScope {
                router: Some(id),
                ..Default::default()
            },
        )
        .await?
        {
            if let Some(fixed) = f.fixed_ip_address {
                if port_subnet_contains(&mut tx, &port, fixed).await? {
                    return Err(Error::conflict(format!(
                        "Router interface for subnet on router {id} cannot be deleted, as it is required by one or more floating IPs."
                    ))
                    .with_code("RouterInterfaceInUseByFloatingIP"));
                }
            }
        }
        store::delete_port(&mut tx, &port.id).await?;
        tx.commit().await?;
        self.changed();
        Ok(InterfaceInfo {
            router_id: r.id.clone(),
            project_id: r.project_id.clone(),
            port_id: port.id.clone(),
            network_id: port.network_id.clone(),
            subnet_ids: port.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect(),
        })
    }

    /// The router of the project's subnet holding `fixed`, with a gateway on `ext`.
    pub(super) async fn router_for(
        &self,
        port: &Port,
        fixed: IpAddr,
        ext: &NetworkId,
    ) -> Result<Option<RouterId>> {
        let mut conn = self.conn().await?;
        let Some(f) = port.fixed_ips.iter().find(|f| f.ip_address == fixed) else {
            return Ok(None);
        };
        let ports = store::list_ports(
            &mut conn,
            store::PortScope {
                network: Some(&port.network_id),
                ..Default::default()
            },
        )
        .await?;
        for p in ports
            .iter()
            .filter(|p| p.device_owner == model::DEVICE_OWNER_ROUTER_INTERFACE)
        {
            if !p.fixed_ips.iter().any(|g| g.subnet_id == f.subnet_id) {
                continue;
            }
            let Ok(rid) = p.device_id.parse::<RouterId>() else {
                continue;
            };
            if let Some(r) = store::get_router(&mut conn, &rid).await? {
                if r.gateway.as_ref().is_some_and(|g| &g.network_id == ext) {
                    return Ok(Some(rid));
                }
            }
        }
        Ok(None)
    }
}

async fn port_subnet_contains(
    conn: &mut sqlx::AnyConnection,
    port: &Port,
    ip: IpAddr,
) -> Result<bool> {
    for f in &port.fixed_ips {
        if let Some(s) = store::get_subnet(conn, &f.subnet_id).await? {
            if s.cidr.contains(&ip) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

//! Floating IPs: an address of an external network, given to a project and associated
//! with one of its ports (through a router gatewayed to that network), and port
//! forwardings on an unassociated one.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;
use types::{FloatingIpId, NetworkId, PortId, SubnetId};

use super::{
    check_revision, nullable, ports::system_port, target, Caller, FixedIpRequest, Networking,
};
use crate::{
    ipam::invalid,
    model::{self, now, FloatingIp, PortForwarding},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// `POST /v2.0/floatingips`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FipCreate {
    pub floating_network_id: NetworkId,
    pub floating_ip_address: Option<IpAddr>,
    pub subnet_id: Option<SubnetId>,
    pub port_id: Option<PortId>,
    pub fixed_ip_address: Option<IpAddr>,
    pub description: Option<String>,
    pub dns_name: Option<String>,
    pub dns_domain: Option<String>,
    pub qos_policy_id: Option<Option<String>>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// `PUT /v2.0/floatingips/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FipUpdate {
    #[serde(default, deserialize_with = "nullable")]
    pub port_id: Option<Option<PortId>>,
    pub fixed_ip_address: Option<IpAddr>,
    pub description: Option<String>,
    pub qos_policy_id: Option<Option<String>>,
}

/// `POST /v2.0/floatingips/{id}/port_forwardings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PfCreate {
    pub protocol: String,
    pub internal_port_id: PortId,
    pub internal_ip_address: IpAddr,
    pub internal_port: u16,
    pub external_port: u16,
    pub description: Option<String>,
}

pub(super) fn not_found(id: &str) -> Error {
    Error::not_found(format!("Floating IP {id} could not be found")).with_code("FloatingIPNotFound")
}

fn pf_not_found(id: &str) -> Error {
    Error::not_found(format!("Port Forwarding {id} could not be found."))
        .with_code("PortForwardingNotFound")
}

fn fip_target(f: &FloatingIp) -> Value {
    target(&f.project_id, &[])
}

impl Networking {
    async fn visible_fip(&self, caller: &Caller<'_>, id: &FloatingIpId) -> Result<FloatingIp> {
        let mut conn = self.conn().await?;
        let f = store::get_fip(&mut conn, id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        if !self.allowed(caller, Rule::GetFloatingIp, &fip_target(&f)) {
            return Err(not_found(id.as_str()));
        }
        Ok(f)
    }

    pub async fn fip_show(&self, caller: &Caller<'_>, id: &FloatingIpId) -> Result<FloatingIp> {
        self.visible_fip(caller, id).await
    }

    pub async fn fip_list(&self, caller: &Caller<'_>) -> Result<Vec<FloatingIp>> {
        let mut conn = self.conn().await?;
        let fips = store::list_fips(
            &mut conn,
            store::FipScope {
                project: caller.scope(),
                ..Default::default()
            },
        )
        .await?;
        Ok(fips
            .into_iter()
            .filter(|f| self.allowed(caller, Rule::GetFloatingIp, &fip_target(f)))
            .collect())
    }

    /// Check that `port` (of `project`) may take `fip` on its `fixed` address: the
    /// router that joins its subnet to the floating network. Returns (fixed, router).
    async fn association(
        &self,
        caller: &Caller<'_>,
        fip_id: &FloatingIpId,
        project: &str,
        ext: &NetworkId,
        port_id: &PortId,
        fixed: Option<IpAddr>,
    ) -> Result<(IpAddr, types::RouterId)> {
        let port = self.port_show(caller, port_id).await?;
        if port.project_id != project && !caller.admin {
            return Err(super::ports::not_found(port_id.as_str()));
        }
        if model::network_device(&port.device_owner) {
            return Err(Error::bad_request(format!(
                "Port {port_id} has owner {} and therefore cannot be associated with a floating IP",
                port.device_owner
            ))
            .with_code("BadRequest"));
        }
        let fixed = match fixed {
            Some(ip) => {
                if !port.fixed_ips.iter().any(|f| f.ip_address == ip) {
                    return Err(invalid(format_args!(
                        "Port {port_id} does not have fixed ip {ip}"
                    )));
                }
                ip
            }
            None => port
                .fixed_ips
                .iter()
                .map(|f| f.ip_address)
                .find(IpAddr::is_ipv4)
                .ok_or_else(|| {
                    Error::bad_request(format!("Port {port_id} does not have any IPv4 address"))
                        .with_code("BadRequest")
                })?,
        };
        let router = self.router_for(&port, fixed, ext).await?.ok_or_else(|| {
            Error::not_found(format!(
                "External network {ext} is not reachable from subnet of port {port_id}. Therefore, cannot associate Port {port_id} with a Floating IP."
            ))
            .with_code("ExternalGatewayForFloatingIPNotFound")
        })?;
        let mut conn = self.conn().await?;
        for other in store::list_fips(
            &mut conn,
            store::FipScope {
                port: Some(port_id),
                ..Default::default()
            },
        )
        .await?
        {
            if &other.id != fip_id && other.fixed_ip_address == Some(fixed) {
                return Err(Error::conflict(format!(
                    "Cannot associate floating IP {fip_id} with port {port_id} using fixed IP {fixed}, as that fixed IP already has a floating IP on external network {ext}."
                ))
                .with_code("FloatingIPPortAlreadyAssociated"));
            }
        }
        Ok((fixed, router))
    }

    pub async fn fip_create(&self, caller: &Caller<'_>, req: FipCreate) -> Result<FloatingIp> {
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        let t = target(&project, &[]);
        self.authorize(caller, Rule::CreateFloatingIp, &t)?;
        if req.floating_ip_address.is_some() {
            self.authorize(caller, Rule::CreateFloatingIpAddress, &t)?;
        }
        let net = self
            .visible_network(caller, &req.floating_network_id)
            .await
            .map_err(|_| super::networks::not_found(req.floating_network_id.as_str()))?;
        if !net.external {
            return Err(Error::bad_request(format!(
                "Bad floatingip request: Network {} is not a valid external network.",
                net.id
            ))
            .with_code("BadRequest"));
        }
        self.check_quota(&project, "floatingip", 1).await?;
        let id = FloatingIpId::generate();
        let assoc = match &req.port_id {
            Some(p) => Some(
                self.association(caller, &id, &project, &net.id, p, req.fixed_ip_address)
                    .await?,
            ),
            None => None,
        };
        let fixed = match (req.subnet_id, req.floating_ip_address) {
            (None, None) => None,
            (subnet_id, ip_address) => Some(vec![FixedIpRequest {
                subnet_id,
                ip_address,
            }]),
        };
        let port = system_port(&net, "", model::DEVICE_OWNER_FLOATINGIP, id.as_str());
        let port = self
            .insert_new_port(&net, port, None, fixed.as_deref(), &[])
            .await?;
        let Some(address) = port
            .fixed_ips
            .iter()
            .map(|f| f.ip_address)
            .find(IpAddr::is_ipv4)
        else {
            let mut tx = self.db.begin_write().await?;
            store::delete_port(&mut tx, &port.id).await?;
            tx.commit().await?;
            return Err(Error::bad_request(format!(
                "Bad floatingip request: Network {} has no IPv4 subnet.",
                net.id
            ))
            .with_code("BadRequest"));
        };
        let ts = now();
        let f = FloatingIp {
            id,
            project_id: project,
            floating_network_id: net.id.clone(),
            floating_port_id: port.id.clone(),
            floating_ip_address: address,
            port_id: req.port_id.clone().filter(|_| assoc.is_some()),
            fixed_ip_address: assoc.as_ref().map(|a| a.0),
            router_id: assoc.map(|a| a.1),
            description: req.description.unwrap_or_default(),
            dns_name: req.dns_name.unwrap_or_default(),
            dns_domain: req.dns_domain.unwrap_or_default(),
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
            tags: req.tags.unwrap_or_default(),
        };
        let mut tx = self.db.begin_write().await?;
        store::insert_fip(&mut tx, &f).await?;
        tx.commit().await?;
        self.changed();
        self.fips_changed(&[f.port_id.as_ref()]).await?;
        Ok(f)
    }

    pub async fn fip_update(
        &self,
        caller: &Caller<'_>,
        id: &FloatingIpId,
        req: FipUpdate,
        if_match: Option<i64>,
    ) -> Result<FloatingIp> {
        let mut f = self.visible_fip(caller, id).await?;
        check_revision(if_match, f.revision)?;
        self.authorize(caller, Rule::UpdateFloatingIp, &fip_target(&f))?;
        let revision = f.revision;
        let before = f.port_id.clone();
        if let Some(d) = req.description {
            f.description = d;
        }
        match req.port_id {
            Some(Some(port)) => {
                let mut conn = self.conn().await?;
                if !store::list_pfs(&mut conn, Some(id)).await?.is_empty() {
                    return Err(Error::conflict(format!("Floating IP {id} has port forwardings: it cannot be associated with a port.")).with_code("FipInUseByPortForwarding"));
                }
                drop(conn);
                let (fixed, router) = self
                    .association(
                        caller,
                        id,
                        &f.project_id,
                        &f.floating_network_id,
                        &port,
                        req.fixed_ip_address,
                    )
                    .await?;
                f.port_id = Some(port);
                f.fixed_ip_address = Some(fixed);
                f.router_id = Some(router);
            }
            Some(None) => {
                f.port_id = None;
                f.fixed_ip_address = None;
                f.router_id = None;
            }
            None => {}
        }
        f.updated_at = now();
        let mut conn = self.conn().await?;
        if !store::update_fip(&mut conn, &f, revision).await? {
            return Err(super::revision_mismatch());
        }
        f.revision = revision + 1;
        self.changed();
        if before != f.port_id {
            self.fips_changed(&[before.as_ref(), f.port_id.as_ref()])
                .await?;
        }
        Ok(f)
    }

    pub async fn fip_delete(&self, caller: &Caller<'_>, id: &FloatingIpId) -> Result<()> {
        let f = self.visible_fip(caller, id).await?;
        self.authorize(caller, Rule::DeleteFloatingIp, &fip_target(&f))?;
        let mut tx = self.db.begin_write().await?;
        store::delete_fip(&mut tx, id).await?;
        store::delete_port(&mut tx, &f.floating_port_id).await?;
        tx.commit().await?;
        self.changed();
        self.fips_changed(&[f.port_id.as_ref()]).await?;
        Ok(())
    }

    // -------------------------------------------------------------- port forwardings

    pub async fn pf_list(
        &self,
        caller: &Caller<'_>,
        fip: &FloatingIpId,
    ) -> Result<Vec<PortForwarding>> {
        self.visible_fip(caller, fip).await?;
        let mut conn = self.conn().await?;
        store::list_pfs(&mut conn, Some(fip)).await
    }

    pub async fn pf_show(
        &self,
        caller: &Caller<'_>,
        fip: &FloatingIpId,
        id: &str,
    ) -> Result<PortForwarding> {
        self.pf_list(caller, fip)
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| pf_not_found(id))
    }

    pub async fn pf_create(
        &self,
        caller: &Caller<'_>,
        fip: &FloatingIpId,
        req: PfCreate,
    ) -> Result<PortForwarding> {
        let f = self.visible_fip(caller, fip).await?;
        self.authorize(caller, Rule::CreatePortForwarding, &fip_target(&f))?;
        let protocol = req.protocol.to_ascii_lowercase();
        if protocol != "tcp" && protocol != "udp" {
            return Err(invalid(format_args!(
                "'{}' is not in ['tcp', 'udp']",
                req.protocol
            )));
        }
        if req.internal_port == 0 || req.external_port == 0 {
            return Err(invalid("port numbers must be between 1 and 65535"));
        }
        if f.port_id.is_some() {
            return Err(Error::conflict(format!(
                "The floating IP {fip} is associated with port {}: port forwardings need an unassociated floating IP.",
                f.port_id.as_ref().map(ToString::to_string).unwrap_or_default()
            ))
            .with_code("FipAssociated"));
        }
        // The internal port must be reachable from the floating network; its router
        // carries the forwarding.
        let (_, router) = self
            .association(
                caller,
                fip,
                &f.project_id,
                &f.floating_network_id,
                &req.internal_port_id,
                Some(req.internal_ip_address),
            )
            .await?;
        if f.router_id.as_ref().is_some_and(|r| r != &router) {
            return Err(Error::conflict(format!(
                "The port forwardings of floating IP {fip} must all go through router {}.",
                f.router_id
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ))
            .with_code("BadRequest"));
        }
        let ts = now();
        let pf = PortForwarding {
            id: uuid::Uuid::new_v4().to_string(),
            floatingip_id: fip.clone(),
            protocol,
            internal_port_id: req.internal_port_id,
            internal_ip_address: req.internal_ip_address,
            internal_port: req.internal_port,
            external_port: req.external_port,
            description: req.description.unwrap_or_default(),
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
        };
        let mut tx = self.db.begin_write().await?;
        if f.router_id.is_none() {
            let mut with_router = f.clone();
            with_router.router_id = Some(router);
            with_router.updated_at = now();
            if !store::update_fip(&mut tx, &with_router, f.revision).await? {
                return Err(super::revision_mismatch());
            }
        }
        if !store::insert_pf(&mut tx, &pf).await? {
            return Err(Error::conflict(format!(
                "A port forwarding for {} port {} of floating IP {fip} already exists.",
                pf.protocol, pf.external_port
            ))
            .with_code("PortForwardingExists"));
        }
        tx.commit().await?;
        self.changed();
        Ok(pf)
    }

    pub async fn pf_delete(&self, caller: &Caller<'_>, fip: &FloatingIpId, id: &str) -> Result<()> {
        let f = self.visible_fip(caller, fip).await?;
        self.authorize(caller, Rule::DeletePortForwarding, &fip_target(&f))?;
        let mut tx = self.db.begin_write().await?;
        if !store::delete_pf(&mut tx, fip, id).await? {
            return Err(pf_not_found(id));
        }
        if f.port_id.is_none() && store::list_pfs(&mut tx, Some(fip)).await?.is_empty() {
            // The last forwarding gone, the floating IP no longer goes through a router.
            let mut free = f.clone();
            free.router_id = None;
            free.updated_at = now();
            store::update_fip(&mut tx, &free, f.revision).await?;
        }
        tx.commit().await?;
        self.changed();
        Ok(())
    }
}

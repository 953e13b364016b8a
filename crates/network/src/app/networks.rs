//! Networks: create (with a segment from the configured ranges), list, show, update,
//! delete (refused while ports other than DHCP's use it).

use serde::Deserialize;
use serde_json::{json, Value};
use types::NetworkId;

use super::{check_revision, target, Caller, Networking};
use crate::{
    ipam::invalid,
    model::{now, Network, Segment},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// `POST /v2.0/networks`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    #[serde(rename = "router:external")]
    pub external: Option<bool>,
    pub mtu: Option<u32>,
    pub port_security_enabled: Option<bool>,
    #[serde(rename = "provider:network_type")]
    pub network_type: Option<String>,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<u32>,
    pub availability_zone_hints: Option<Vec<String>>,
    pub dns_domain: Option<String>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub is_default: Option<bool>,
    pub qos_policy_id: Option<Option<String>>,
}

/// `PUT /v2.0/networks/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    #[serde(rename = "router:external")]
    pub external: Option<bool>,
    pub mtu: Option<u32>,
    pub port_security_enabled: Option<bool>,
    pub dns_domain: Option<String>,
    pub qos_policy_id: Option<Option<String>>,
}

pub(super) fn not_found(id: &str) -> Error {
    Error::not_found(format!("Network {id} could not be found.")).with_code("NetworkNotFound")
}

/// A network as policy rules see it.
pub(super) fn network_target(n: &Network) -> Value {
    target(
        &n.project_id,
        &[
            ("shared", json!(n.shared)),
            ("router:external", json!(n.external)),
            ("network_project_id", json!(n.project_id)),
        ],
    )
}

const TYPES: &[&str] = &["local", "flat", "vlan", "vxlan"];

impl Networking {
    /// The network `id` if the caller may see it (else NotFound).
    pub(super) async fn visible_network(
        &self,
        caller: &Caller<'_>,
        id: &NetworkId,
    ) -> Result<Network> {
        let mut conn = self.conn().await?;
        let mut n = store::get_network(&mut conn, id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        drop(conn);
        let grants = self.grants().await?;
        self.rbac_view(caller, &grants, &mut n);
        if !self.allowed(caller, Rule::GetNetwork, &network_target(&n)) {
            return Err(not_found(id.as_str()));
        }
        Ok(n)
    }

    pub async fn network_show(&self, caller: &Caller<'_>, id: &NetworkId) -> Result<Network> {
        self.visible_network(caller, id).await
    }

    /// Provider attributes are shown to admins only.
    pub fn sees_provider(&self, caller: &Caller<'_>, n: &Network) -> bool {
        self.allowed(caller, Rule::GetNetworkProvider, &network_target(n))
    }

    pub async fn network_list(&self, caller: &Caller<'_>) -> Result<Vec<Network>> {
        let mut conn = self.conn().await?;
        let mut nets = store::list_networks(&mut conn, caller.scope()).await?;
        drop(conn);
        let grants = self.grants().await?;
        for n in &mut nets {
            self.rbac_view(caller, &grants, n);
        }
        Ok(nets
            .into_iter()
            .filter(|n| self.allowed(caller, Rule::GetNetwork, &network_target(n)))
            .collect())
    }

    /// Pick the segment of a new network: the admin's provider attributes, checked, or
    /// the next free id of the project network type.
    async fn segment(
        &self,
        conn: &mut sqlx::AnyConnection,
        req: &NetworkCreate,
    ) -> Result<Segment> {
        let requested = req.network_type.is_some()
            || req.physical_network.is_some()
            || req.segmentation_id.is_some();
        let network_type = match &req.network_type {
            Some(t) => t.clone(),
            None if requested => return Err(invalid("provider:network_type required")),
            None if req.external == Some(true) => "flat".to_owned(),
            None => self.cfg.tenant_network_type.clone(),
        };
        if !TYPES.contains(&network_type.as_str()) {
            return Err(invalid(format_args!(
                "network_type value '{network_type}' not supported"
            )));
        }
        let mut seg = Segment {
            network_type: network_type.clone(),
            physical_network: req.physical_network.clone(),
            segmentation_id: req.segmentation_id,
        };
        match network_type.as_str() {
            "local" => {
                if seg.physical_network.is_some() || seg.segmentation_id.is_some() {
                    return Err(invalid("provider:physical_network and provider:segmentation_id are not allowed for a local network"));
                }
            }
            "flat" => {
                if seg.segmentation_id.is_some() {
                    return Err(invalid(
                        "provider:segmentation_id prohibited for flat provider network",
                    ));
                }
                let physnet = seg
                    .physical_network
                    .get_or_insert_with(|| "public".to_owned())
                    .clone();
                let allowed = &self.cfg.flat_networks;
                if !allowed.iter().any(|p| p == "*" || *p == physnet) {
                    return Err(invalid(format_args!(
                        "physical_network '{physnet}' unknown for flat provider network"
                    )));
                }
                if store::flat_in_use(conn, &physnet).await? {
                    return Err(Error::conflict(format!(
                        "Unable to create the flat network. Physical network {physnet} is in use."
                    ))
                    .with_code("FlatNetworkInUse"));
                }
            }
            "vlan" => {
                let Some(physnet) = seg.physical_network.clone() else {
                    return Err(invalid(
                        "provider:physical_network required for a VLAN provider network",
                    ));
                };
                match seg.segmentation_id {
                    Some(v) if !(1..=4094).contains(&v) => {
                        return Err(invalid(format_args!(
                            "provider:segmentation_id out of range ({v} is not between 1 and 4094)"
                        )))
                    }
                    Some(_) => {}
                    None => {
                        let used = store::segments_in_use(conn, "vlan", &physnet).await?;
                        let ranges = self
                            .cfg
                            .network_vlan_ranges
                            .iter()
                            .filter(|r| r.physical_network == physnet)
                            .map(|r| [u32::from(r.min), u32::from(r.max)]);
                        seg.segmentation_id =
                            Some(first_free(ranges, &used).ok_or_else(no_segment)?);
                    }
                }
            }
            _ => {
                if seg.physical_network.is_some() {
                    return Err(invalid(
                        "provider:physical_network specified for vxlan network",
                    ));
                }
                match seg.segmentation_id {
                    Some(v) if !(1..=16_777_215).contains(&v) => {
                        return Err(invalid(format_args!(
                            "provider:segmentation_id {v} is not a VNI"
                        )))
                    }
                    Some(_) => {}
                    None => {
                        let used = store::segments_in_use(conn, "vxlan", "").await?;
                        let ranges = self.cfg.vni_ranges.iter().copied();
                        seg.segmentation_id =
                            Some(first_free(ranges, &used).ok_or_else(no_segment)?);
                    }
                }
            }
        }
        Ok(seg)
    }

    pub async fn network_create(&self, caller: &Caller<'_>, req: NetworkCreate) -> Result<Network> {
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        let t = target(&project, &[]);
        self.authorize(caller, Rule::CreateNetwork, &t)?;
        if req.shared.is_some() {
            self.authorize(caller, Rule::CreateNetworkShared, &t)?;
        }
        if req.external.is_some() {
            self.authorize(caller, Rule::CreateNetworkExternal, &t)?;
        }
        if req.network_type.is_some()
            || req.physical_network.is_some()
            || req.segmentation_id.is_some()
        {
            self.authorize(caller, Rule::CreateNetworkProvider, &t)?;
        }
        self.check_quota(&project, "network", 1).await?;
        let mut tx = self.db.begin_write().await?;
        let segment = self.segment(&mut tx, &req).await?;
        let max_mtu = self.cfg.mtu_for(&segment.network_type);
        let mtu = match req.mtu {
            Some(m) if m > max_mtu => {
                return Err(invalid(format_args!(
                    "Requested MTU is too big, maximum is {max_mtu}"
                )))
            }
            Some(m) if m < 68 => return Err(invalid("MTU must be at least 68")),
            Some(m) => m,
            None => max_mtu,
        };
        let ts = now();
        let n = Network {
            id: NetworkId::generate(),
            project_id: project,
            name: req.name.unwrap_or_default(),
            description: req.description.unwrap_or_default(),
            admin_state_up: req.admin_state_up.unwrap_or(true),
            shared: req.shared.unwrap_or(false),
            external: req.external.unwrap_or(false),
            mtu,
            port_security_enabled: req.port_security_enabled.unwrap_or(true),
            segment,
            availability_zone_hints: req.availability_zone_hints.unwrap_or_default(),
            dns_domain: req.dns_domain.unwrap_or_default(),
            qos_policy_id: self
                .usable_qos(caller, req.qos_policy_id.clone().flatten().as_deref())
                .await?,
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
            subnets: Vec::new(),
            tags: req.tags.unwrap_or_default(),
        };
        store::insert_network(&mut tx, &n).await?;
        if !store::claim_segment(&mut tx, &n.id, &n.segment).await? {
            return Err(Error::conflict(format!(
                "Unable to create the network. The {} {} on physical network {} is in use.",
                if n.segment.network_type == "vlan" {
                    "VLAN"
                } else {
                    "tunnel ID"
                },
                n.segment.segmentation_id.unwrap_or(0),
                n.segment.physical_network.as_deref().unwrap_or("None"),
            ))
            .with_code(if n.segment.network_type == "vlan" {
                "VlanIdInUse"
            } else {
                "TunnelIdInUse"
            }));
        }
        tx.commit().await?;
        self.changed();
        Ok(n)
    }

    pub async fn network_update(
        &self,
        caller: &Caller<'_>,
        id: &NetworkId,
        req: NetworkUpdate,
        if_match: Option<i64>,
    ) -> Result<Network> {
        let mut n = self.visible_network(caller, id).await?;
        check_revision(if_match, n.revision)?;
        let t = network_target(&n);
        self.authorize(caller, Rule::UpdateNetwork, &t)?;
        if req.shared.is_some_and(|s| s != n.shared) {
            self.authorize(caller, Rule::UpdateNetworkShared, &t)?;
        }
        if req.external.is_some_and(|e| e != n.external) {
            self.authorize(caller, Rule::UpdateNetworkExternal, &t)?;
        }
        let revision = n.revision;
        if let Some(v) = req.name {
            n.name = v;
        }
        if let Some(v) = req.description {
            n.description = v;
        }
        if let Some(v) = req.admin_state_up {
            n.admin_state_up = v;
        }
        if let Some(v) = req.shared {
            n.shared = v;
        }
        if let Some(v) = req.external {
            n.external = v;
        }
        if let Some(v) = req.port_security_enabled {
            n.port_security_enabled = v;
        }
        if let Some(v) = req.dns_domain {
            n.dns_domain = v;
        }
        if let Some(q) = req.qos_policy_id {
            n.qos_policy_id = self.usable_qos(caller, q.as_deref()).await?;
        }
        if let Some(m) = req.mtu {
            let max = self.cfg.mtu_for(&n.segment.network_type);
            if m > max || m < 68 {
                return Err(invalid(format_args!(
                    "Requested MTU {m} is out of range (68 to {max})"
                )));
            }
            n.mtu = m;
        }
        n.updated_at = now();
        let mut conn = self.conn().await?;
        if !store::update_network(&mut conn, &n, revision).await? {
            return Err(super::revision_mismatch());
        }
        n.revision = revision + 1;
        self.changed();
        Ok(n)
    }

    pub async fn network_delete(&self, caller: &Caller<'_>, id: &NetworkId) -> Result<()> {
        let n = self.visible_network(caller, id).await?;
        self.authorize(caller, Rule::DeleteNetwork, &network_target(&n))?;
        let mut tx = self.db.begin_write().await?;
        let users = store::network_users(&mut tx, id).await?;
        if users > 0 {
            return Err(Error::conflict(format!(
                "Unable to complete operation on network {id}. There are one or more ports still in use on the network."
            ))
            .with_code("NetworkInUse"));
        }
        // The network's own DHCP ports go with it, then its subnets.
        for p in store::list_ports(
            &mut tx,
            store::PortScope {
                network: Some(id),
                ..Default::default()
            },
        )
        .await?
        {
            store::delete_port(&mut tx, &p.id).await?;
        }
        for s in &n.subnets {
            store::delete_subnet(&mut tx, s).await?;
        }
        store::delete_network(&mut tx, id).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }
}

fn no_segment() -> Error {
    Error::new(
        api_common::ErrorKind::Unavailable,
        "Unable to create the network. No tenant network is available for allocation.",
    )
    .with_code("NoNetworkAvailable")
}

/// The lowest id of `ranges` not in `used`.
fn first_free(
    ranges: impl Iterator<Item = [u32; 2]>,
    used: &std::collections::HashSet<u32>,
) -> Option<u32> {
    for [lo, hi] in ranges {
        if let Some(v) = (lo..=hi).find(|v| !used.contains(v)) {
            return Some(v);
        }
    }
    None
}

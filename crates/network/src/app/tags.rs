//! Tags on every resource (`/v2.0/{resources}/{id}/tags`), checked with the
//! resource's own show and update rules.

use super::{Caller, Networking};
use crate::store;
use api_common::{Error, Result};

/// The resources that carry tags, by their collection name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    Router,
    FloatingIp,
    QosPolicy,
    SubnetPool,
}

impl Tagged {
    pub fn from_collection(c: &str) -> Option<Tagged> {
        Some(match c {
            "networks" => Tagged::Network,
            "subnets" => Tagged::Subnet,
            "ports" => Tagged::Port,
            "security-groups" => Tagged::SecurityGroup,
            "routers" => Tagged::Router,
            "floatingips" => Tagged::FloatingIp,
            "policies" => Tagged::QosPolicy,
            "subnetpools" => Tagged::SubnetPool,
            _ => return None,
        })
    }

    fn table(self) -> &'static str {
        match self {
            Tagged::Network => "networks",
            Tagged::Subnet => "subnets",
            Tagged::Port => "ports",
            Tagged::SecurityGroup => "security_groups",
            Tagged::Router => "routers",
            Tagged::FloatingIp => "floatingips",
            Tagged::QosPolicy => "qos_policies",
            Tagged::SubnetPool => "subnet_pools",
        }
    }
}

fn check_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.chars().count() > 255 || tag.contains(',') || tag.contains('/') {
        return Err(crate::ipam::invalid(format_args!(
            "'{tag}' is not a valid tag: 1 to 255 characters, without ',' or '/'"
        )));
    }
    Ok(())
}

fn parse<K: types::Kind>(id: &str, missing: fn(&str) -> Error) -> Result<types::Id<K>> {
    types::Id::parse(id).map_err(|_| missing(id))
}

impl Networking {
    /// The resource's tags, if the caller may see it; with `write`, if it may change it.
    async fn tagged(
        &self,
        caller: &Caller<'_>,
        kind: Tagged,
        id: &str,
        write: bool,
    ) -> Result<Vec<String>> {
        let tags = match kind {
            Tagged::Network => {
                let id = parse(id, super::networks::not_found)?;
                let n = self.visible_network(caller, &id).await?;
                if write {
                    self.authorize(
                        caller,
                        crate::policies::Rule::UpdateNetwork,
                        &super::networks::network_target(&n),
                    )?;
                }
                n.tags
            }
            Tagged::Subnet => {
                let id = parse(id, super::subnets::not_found)?;
                let s = self.subnet_show(caller, &id).await?;
                if write {
                    self.subnet_update(caller, &id, Default::default(), None)
                        .await?;
                }
                s.tags
            }
            Tagged::Port => {
                let id = parse(id, super::ports::not_found)?;
                let p = self.port_show(caller, &id).await?;
                if write {
                    self.port_update(caller, &id, Default::default(), None)
                        .await?;
                }
                p.tags
            }
            Tagged::SecurityGroup => {
                let id = parse(id, super::security_groups::not_found)?;
                let g = self.group_show(caller, &id).await?;
                if write {
                    self.group_update(caller, &id, Default::default(), None)
                        .await?;
                }
                g.tags
            }
            Tagged::Router => {
                let id = parse(id, super::routers::not_found)?;
                let r = self.router_show(caller, &id).await?;
                if write {
                    self.router_update(caller, &id, Default::default(), None)
                        .await?;
                }
                r.tags
            }
            Tagged::FloatingIp => {
                let id = parse(id, super::floating_ips::not_found)?;
                let f = self.fip_show(caller, &id).await?;
                if write {
                    self.fip_update(caller, &id, Default::default(), None)
                        .await?;
                }
                f.tags
            }
            Tagged::QosPolicy => {
                let id = parse(id, super::qos::not_found)?;
                let p = self.qos_show(caller, &id).await?;
                if write {
                    self.qos_update(caller, &id, Default::default(), None)
                        .await?;
                }
                p.tags
            }
            Tagged::SubnetPool => {
                let id = parse(id, super::subnet_pools::pool_not_found)?;
                let p = self.pool_show(caller, &id).await?;
                if write {
                    self.pool_update(caller, &id, Default::default(), None)
                        .await?;
                }
                p.tags
            }
        };
        Ok(tags)
    }

    pub async fn tags_list(
        &self,
        caller: &Caller<'_>,
        kind: Tagged,
        id: &str,
    ) -> Result<Vec<String>> {
        self.tagged(caller, kind, id, false).await
    }

    /// `GET .../tags/{tag}`: NotFound when the resource lacks it.
    pub async fn tag_check(
        &self,
        caller: &Caller<'_>,
        kind: Tagged,
        id: &str,
        tag: &str,
    ) -> Result<()> {
        if self
            .tagged(caller, kind, id, false)
            .await?
            .iter()
            .any(|t| t == tag)
        {
            Ok(())
        } else {
            Err(tag_not_found(id, tag))
        }
    }

    pub async fn tags_replace(
        &self,
        caller: &Caller<'_>,
        kind: Tagged,
        id: &str,
        tags: Vec<String>,
    ) -> Result<Vec<String>> {
        for t in &tags {
            check_tag(t)?;
        }
        self.tagged(caller, kind, id, true).await?;
        let mut tx = self.db.begin_write().await?;
        store::set_tags(&mut tx, id, &tags).await?;
        store::touch(&mut tx, kind.table(), id).await?;
        tx.commit().await?;
        self.tagged(caller, kind, id, false).await
    }

    pub async fn tag_add(
        &self,
        caller: &Caller<'_>,
        kind: Tagged,
        id: &str,
        tag: &str,
    ) -> Result<()> {
        check_tag(tag)?;
        self.tagged(caller, kind, id, true).await?;
        let mut tx = self.db.begin_write().await?;
        store::add_tag(&mut tx, id, tag).await?;
        store::touch(&mut tx, kind.table(), id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn tag_delete(
        &self,
        caller: &Caller<'_>,
        kind: Tagged,
        id: &str,
        tag: Option<&str>,
    ) -> Result<()> {
        self.tagged(caller, kind, id, true).await?;
        let mut tx = self.db.begin_write().await?;
        match tag {
            Some(t) => {
                if !store::delete_tag(&mut tx, id, t).await? {
                    return Err(tag_not_found(id, t));
                }
            }
            None => store::set_tags(&mut tx, id, &[]).await?,
        }
        store::touch(&mut tx, kind.table(), id).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn tag_not_found(id: &str, tag: &str) -> Error {
    Error::not_found(format!("Tag {tag} could not be found for resource {id}."))
        .with_code("TagNotFound")
}

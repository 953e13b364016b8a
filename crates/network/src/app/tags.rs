//! Tags on every resource (`/v2.0/{resources}/{id}/tags`), checked with the
//! resource's own show and update rules.

use super::{resource::Retaggable, Caller, Networking};
use crate::{model::*, store};
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

impl Networking {
    /// The tags of a resource of type `R`, if the caller may see it; with `write`, if it
    /// may change them.
    async fn tags_of<R: Retaggable>(
        &self,
        caller: &Caller<'_>,
        id: &str,
        write: bool,
    ) -> Result<Vec<String>> {
        let id = types::Id::parse(id).map_err(|_| R::not_found(id))?;
        let item = R::show(self, caller, &id).await?;
        if write {
            R::may_retag(self, caller, &id, &item).await?;
        }
        Ok(item.tags().to_vec())
    }

    /// The resource's tags, if the caller may see it; with `write`, if it may change it.
    async fn tagged(
        &self,
        caller: &Caller<'_>,
        kind: Tagged,
        id: &str,
        write: bool,
    ) -> Result<Vec<String>> {
        match kind {
            Tagged::Network => self.tags_of::<Network>(caller, id, write).await,
            Tagged::Subnet => self.tags_of::<Subnet>(caller, id, write).await,
            Tagged::Port => self.tags_of::<Port>(caller, id, write).await,
            Tagged::SecurityGroup => self.tags_of::<SecurityGroup>(caller, id, write).await,
            Tagged::Router => self.tags_of::<Router>(caller, id, write).await,
            Tagged::FloatingIp => self.tags_of::<FloatingIp>(caller, id, write).await,
            Tagged::QosPolicy => self.tags_of::<QosPolicy>(caller, id, write).await,
            Tagged::SubnetPool => self.tags_of::<SubnetPool>(caller, id, write).await,
        }
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
        self.retag(caller, kind, id, Retag::Replace(&tags)).await?;
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
        self.retag(caller, kind, id, Retag::Add(tag)).await
    }

    /// Remove one tag (NotFound when the resource lacks it), or all for `None`.
    pub async fn tag_delete(
        &self,
        caller: &Caller<'_>,
        kind: Tagged,
        id: &str,
        tag: Option<&str>,
    ) -> Result<()> {
        let change = match tag {
            Some(t) => Retag::Remove(t),
            None => Retag::Replace(&[]),
        };
        self.retag(caller, kind, id, change).await
    }

    /// Change the tags of a resource the caller may change, and bump its revision.
    async fn retag(
        &self,
        caller: &Caller<'_>,
        kind: Tagged,
        id: &str,
        change: Retag<'_>,
    ) -> Result<()> {
        self.tagged(caller, kind, id, true).await?;
        let mut tx = self.db.begin_write().await?;
        match change {
            Retag::Replace(tags) => store::set_tags(&mut tx, id, tags).await?,
            Retag::Add(t) => store::add_tag(&mut tx, id, t).await?,
            Retag::Remove(t) => {
                if !store::delete_tag(&mut tx, id, t).await? {
                    return Err(tag_not_found(id, t));
                }
            }
        }
        store::touch(&mut tx, kind.table(), id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A change of a resource's tags.
enum Retag<'a> {
    Replace(&'a [String]),
    Add(&'a str),
    Remove(&'a str),
}

fn tag_not_found(id: &str, tag: &str) -> Error {
    Error::not_found(format!("Tag {tag} could not be found for resource {id}."))
        .with_code("TagNotFound")
}

//! Subnet pools (prefixes subnets are carved from, by `prefixlen` or a CIDR inside them)
//! and address scopes (what pools belong to).

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::json;
use types::{AddressScopeId, SubnetPoolId};

use super::{check_revision, nullable, target, Caller, Networking};
use crate::{
    ipam::{self, invalid},
    model::{now, AddressScope, SubnetPool},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// `POST /v2.0/subnetpools`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub prefixes: Vec<String>,
    pub default_prefixlen: Option<u8>,
    pub min_prefixlen: Option<u8>,
    pub max_prefixlen: Option<u8>,
    pub shared: Option<bool>,
    pub is_default: Option<bool>,
    pub address_scope_id: Option<AddressScopeId>,
    pub default_quota: Option<i64>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// `PUT /v2.0/subnetpools/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub prefixes: Option<Vec<String>>,
    pub default_prefixlen: Option<u8>,
    pub min_prefixlen: Option<u8>,
    pub max_prefixlen: Option<u8>,
    pub is_default: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub address_scope_id: Option<Option<AddressScopeId>>,
    pub default_quota: Option<Option<i64>>,
}

/// `POST /v2.0/address-scopes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeCreate {
    pub name: Option<String>,
    pub ip_version: u8,
    pub shared: Option<bool>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
}

/// `PUT /v2.0/address-scopes/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeUpdate {
    pub name: Option<String>,
    pub shared: Option<bool>,
}

pub(super) fn pool_not_found(id: &str) -> Error {
    Error::not_found(format!("Subnet pool {id} could not be found."))
        .with_code("SubnetPoolNotFound")
}

pub(super) fn scope_not_found(id: &str) -> Error {
    Error::not_found(format!("Address scope {id} could not be found."))
        .with_code("AddressScopeNotFound")
}

/// Prefixes as given: network addresses of one IP version, merged where they touch.
fn parse_prefixes(prefixes: &[String]) -> Result<(Vec<IpNet>, u8)> {
    let mut nets = Vec::new();
    for p in prefixes {
        nets.push(ipam::parse_cidr(p, None)?);
    }
    let Some(first) = nets.first() else {
        return Err(invalid("a subnet pool needs at least one prefix"));
    };
    let version = if first.addr().is_ipv4() { 4 } else { 6 };
    if nets.iter().any(|n| n.addr().is_ipv4() != (version == 4)) {
        return Err(Error::bad_request(
            "Illegal subnetpool prefix: all prefixes must be of one IP version.",
        )
        .with_code("PrefixVersionMismatch"));
    }
    Ok((IpNet::aggregate(&nets), version))
}

fn check_lengths(p: &SubnetPool) -> Result<()> {
    let max_bits = if p.ip_version == 4 { 32 } else { 128 };
    let shortest = p.prefixes.iter().map(IpNet::prefix_len).min().unwrap_or(0);
    if p.min_prefixlen < shortest || p.max_prefixlen > max_bits || p.min_prefixlen > p.max_prefixlen
    {
        return Err(invalid(format_args!(
            "Illegal prefix bounds: min_prefixlen {} and max_prefixlen {} must be within {shortest}..{max_bits}",
            p.min_prefixlen, p.max_prefixlen
        )));
    }
    if !(p.min_prefixlen..=p.max_prefixlen).contains(&p.default_prefixlen) {
        return Err(invalid(format_args!(
            "Illegal prefix bounds: default_prefixlen {} must be between min_prefixlen {} and max_prefixlen {}",
            p.default_prefixlen, p.min_prefixlen, p.max_prefixlen
        )));
    }
    Ok(())
}

/// The first prefix of length `len` in `pool` that overlaps none of `taken`.
pub fn first_free_prefix(pool: &[IpNet], len: u8, taken: &[IpNet]) -> Option<IpNet> {
    for p in pool {
        let Ok(mut candidates) = p.subnets(len) else {
            continue;
        };
        if let Some(free) = candidates.find(|c| !taken.iter().any(|t| ipam::overlaps(t, c))) {
            return Some(free);
        }
    }
    None
}

impl Networking {
    pub(super) async fn visible_pool(
        &self,
        caller: &Caller<'_>,
        id: &SubnetPoolId,
    ) -> Result<SubnetPool> {
        let mut conn = self.conn().await?;
        let p = store::get_pool(&mut conn, id)
            .await?
            .ok_or_else(|| pool_not_found(id.as_str()))?;
        if !self.allowed(
            caller,
            Rule::GetSubnetPool,
            &target(&p.project_id, &[("shared", json!(p.shared))]),
        ) {
            return Err(pool_not_found(id.as_str()));
        }
        Ok(p)
    }

    pub async fn pool_show(&self, caller: &Caller<'_>, id: &SubnetPoolId) -> Result<SubnetPool> {
        self.visible_pool(caller, id).await
    }

    pub async fn pool_list(&self, caller: &Caller<'_>) -> Result<Vec<SubnetPool>> {
        let mut conn = self.conn().await?;
        Ok(store::list_pools(&mut conn)
            .await?
            .into_iter()
            .filter(|p| {
                self.allowed(
                    caller,
                    Rule::GetSubnetPool,
                    &target(&p.project_id, &[("shared", json!(p.shared))]),
                )
            })
            .collect())
    }

    async fn check_scope(
        &self,
        caller: &Caller<'_>,
        scope: Option<&AddressScopeId>,
        version: u8,
    ) -> Result<()> {
        let Some(id) = scope else { return Ok(()) };
        let s = self.scope_show(caller, id).await?;
        if s.ip_version != version {
            return Err(Error::bad_request(format!(
                "Illegal subnetpool association: subnetpool of IP version {version} cannot be associated with address scope {id} of IP version {}.",
                s.ip_version
            ))
            .with_code("IllegalSubnetPoolIpVersionAssociationWithAddressScope"));
        }
        Ok(())
    }

    pub async fn pool_create(&self, caller: &Caller<'_>, req: PoolCreate) -> Result<SubnetPool> {
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        let t = target(&project, &[]);
        self.authorize(caller, Rule::CreateSubnetPool, &t)?;
        if req.shared == Some(true) {
            self.authorize(caller, Rule::CreateSubnetPoolShared, &t)?;
        }
        if req.is_default == Some(true) {
            self.authorize(caller, Rule::CreateSubnetPoolDefault, &t)?;
        }
        let (prefixes, ip_version) = parse_prefixes(&req.prefixes)?;
        self.check_scope(caller, req.address_scope_id.as_ref(), ip_version)
            .await?;
        let shortest = prefixes.iter().map(IpNet::prefix_len).min().unwrap_or(0);
        let max_bits = if ip_version == 4 { 32 } else { 128 };
        let min = req
            .min_prefixlen
            .unwrap_or(if ip_version == 4 { 8 } else { 64 })
            .max(shortest);
        let ts = now();
        let p = SubnetPool {
            id: SubnetPoolId::generate(),
            project_id: project,
            name: req.name.unwrap_or_default(),
            description: req.description.unwrap_or_default(),
            ip_version,
            prefixes,
            default_prefixlen: req.default_prefixlen.unwrap_or(min),
            min_prefixlen: min,
            max_prefixlen: req.max_prefixlen.unwrap_or(max_bits),
            shared: req.shared.unwrap_or(false),
            is_default: req.is_default.unwrap_or(false),
            address_scope_id: req.address_scope_id,
            default_quota: req.default_quota,
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
            tags: req.tags.unwrap_or_default(),
        };
        check_lengths(&p)?;
        let mut tx = self.db.begin_write().await?;
        if p.is_default
            && store::list_pools(&mut tx)
                .await?
                .iter()
                .any(|o| o.is_default && o.ip_version == ip_version)
        {
            return Err(Error::bad_request(format!(
                "A default subnetpool for IPv{ip_version} already exists."
            ))
            .with_code("DefaultSubnetPoolExists"));
        }
        store::insert_pool(&mut tx, &p).await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn pool_update(
        &self,
        caller: &Caller<'_>,
        id: &SubnetPoolId,
        req: PoolUpdate,
        if_match: Option<i64>,
    ) -> Result<SubnetPool> {
        let mut p = self.visible_pool(caller, id).await?;
        check_revision(if_match, p.revision)?;
        let t = target(&p.project_id, &[]);
        self.authorize(caller, Rule::UpdateSubnetPool, &t)?;
        if req.is_default.is_some() {
            self.authorize(caller, Rule::CreateSubnetPoolDefault, &t)?;
        }
        let revision = p.revision;
        if let Some(v) = req.name {
            p.name = v;
        }
        if let Some(v) = req.description {
            p.description = v;
        }
        if let Some(prefixes) = req.prefixes {
            let (new, version) = parse_prefixes(&prefixes)?;
            if version != p.ip_version
                || p.prefixes
                    .iter()
                    .any(|old| !new.iter().any(|n| n.contains(old)))
            {
                return Err(Error::bad_request(
                    "Illegal update to prefixes: prefixes of a subnet pool may only grow.",
                )
                .with_code("IllegalSubnetPoolPrefixUpdate"));
            }
            p.prefixes = new;
        }
        if let Some(v) = req.default_prefixlen {
            p.default_prefixlen = v;
        }
        if let Some(v) = req.min_prefixlen {
            p.min_prefixlen = v;
        }
        if let Some(v) = req.max_prefixlen {
            p.max_prefixlen = v;
        }
        if let Some(v) = req.is_default {
            p.is_default = v;
        }
        if let Some(v) = req.address_scope_id {
            self.check_scope(caller, v.as_ref(), p.ip_version).await?;
            p.address_scope_id = v;
        }
        if let Some(v) = req.default_quota {
            p.default_quota = v;
        }
        check_lengths(&p)?;
        p.updated_at = now();
        let mut conn = self.conn().await?;
        if !store::update_pool(&mut conn, &p, revision).await? {
            return Err(super::revision_mismatch());
        }
        p.revision = revision + 1;
        Ok(p)
    }

    pub async fn pool_delete(&self, caller: &Caller<'_>, id: &SubnetPoolId) -> Result<()> {
        let p = self.visible_pool(caller, id).await?;
        self.authorize(caller, Rule::DeleteSubnetPool, &target(&p.project_id, &[]))?;
        let mut tx = self.db.begin_write().await?;
        if !store::pool_allocations(&mut tx, id).await?.is_empty() {
            return Err(Error::conflict(format!(
                "Unable to delete subnet pool {id}: subnets are allocated from it."
            ))
            .with_code("SubnetPoolInUse"));
        }
        store::delete_pool(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The CIDR a new subnet takes from `pool`: `cidr` (checked to be inside it and free)
    /// or the first free prefix of `prefixlen` (the pool's default when absent). The
    /// caller inserts the subnet in `tx`, where the pool's revision is compared and
    /// bumped, so concurrent allocations from one pool cannot take the same prefix.
    pub(super) async fn carve(
        &self,
        tx: &mut sqlx::AnyConnection,
        pool: &SubnetPool,
        cidr: Option<IpNet>,
        prefixlen: Option<u8>,
    ) -> Result<IpNet> {
        let taken = store::pool_allocations(tx, &pool.id).await?;
        let out = match cidr {
            Some(c) => {
                if !pool.prefixes.iter().any(|p| p.contains(&c)) {
                    return Err(Error::bad_request(format!(
                        "Cidr {c} is not within the prefixes of subnet pool {}.",
                        pool.id
                    ))
                    .with_code("CidrOutsideSubnetPool"));
                }
                if taken.iter().any(|t| ipam::overlaps(t, &c)) {
                    return Err(Error::conflict(format!("Subnet allocation of {c} from pool {} failed: it overlaps an allocated subnet.", pool.id)).with_code("SubnetAllocationError"));
                }
                c
            }
            None => {
                let len = prefixlen.unwrap_or(pool.default_prefixlen);
                if !(pool.min_prefixlen..=pool.max_prefixlen).contains(&len) {
                    return Err(invalid(format_args!(
                        "prefixlen {len} is outside the pool's bounds {}..{}",
                        pool.min_prefixlen, pool.max_prefixlen
                    )));
                }
                first_free_prefix(&pool.prefixes, len, &taken).ok_or_else(|| {
                    Error::conflict(format!(
                        "Insufficient prefix space to allocate subnet size /{len}."
                    ))
                    .with_code("SubnetAllocationError")
                })?
            }
        };
        let mut bumped = pool.clone();
        bumped.updated_at = now();
        if !store::update_pool(tx, &bumped, pool.revision).await? {
            return Err(Error::conflict(format!(
                "Subnet pool {} changed meanwhile: try again.",
                pool.id
            ))
            .with_code("SubnetPoolChanged"));
        }
        Ok(out)
    }

    /// The pool a subnet request names: `subnetpool_id`, or the default pool of its
    /// version with `use_default_subnetpool`.
    pub(super) async fn requested_pool(
        &self,
        caller: &Caller<'_>,
        id: Option<&str>,
        use_default: bool,
        ip_version: u8,
    ) -> Result<Option<SubnetPool>> {
        if let Some(id) = id {
            let id: SubnetPoolId = id.parse().map_err(|_| pool_not_found(id))?;
            let p = self.visible_pool(caller, &id).await?;
            if p.ip_version != ip_version {
                return Err(invalid(format_args!(
                    "Cannot allocate an IPv{ip_version} subnet from the IPv{} subnet pool {id}",
                    p.ip_version
                )));
            }
            return Ok(Some(p));
        }
        if !use_default {
            return Ok(None);
        }
        let pools = self.pool_list(caller).await?;
        pools
            .into_iter()
            .find(|p| p.is_default && p.ip_version == ip_version)
            .map(Some)
            .ok_or_else(|| {
                Error::bad_request(format!("No default subnetpool found for IPv{ip_version}"))
                    .with_code("BadRequest")
            })
    }

    // -------------------------------------------------------------- address scopes

    pub async fn scope_show(
        &self,
        caller: &Caller<'_>,
        id: &AddressScopeId,
    ) -> Result<AddressScope> {
        let mut conn = self.conn().await?;
        let s = store::get_scope(&mut conn, id)
            .await?
            .ok_or_else(|| scope_not_found(id.as_str()))?;
        if !self.allowed(
            caller,
            Rule::GetAddressScope,
            &target(&s.project_id, &[("shared", json!(s.shared))]),
        ) {
            return Err(scope_not_found(id.as_str()));
        }
        Ok(s)
    }

    pub async fn scope_list(&self, caller: &Caller<'_>) -> Result<Vec<AddressScope>> {
        let mut conn = self.conn().await?;
        Ok(store::list_scopes(&mut conn)
            .await?
            .into_iter()
            .filter(|s| {
                self.allowed(
                    caller,
                    Rule::GetAddressScope,
                    &target(&s.project_id, &[("shared", json!(s.shared))]),
                )
            })
            .collect())
    }

    pub async fn scope_create(
        &self,
        caller: &Caller<'_>,
        req: ScopeCreate,
    ) -> Result<AddressScope> {
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        let t = target(&project, &[]);
        self.authorize(caller, Rule::CreateAddressScope, &t)?;
        if req.shared == Some(true) {
            self.authorize(caller, Rule::CreateAddressScopeShared, &t)?;
        }
        if req.ip_version != 4 && req.ip_version != 6 {
            return Err(invalid(format_args!(
                "'{}' is not in [4, 6]",
                req.ip_version
            )));
        }
        let ts = now();
        let s = AddressScope {
            id: AddressScopeId::generate(),
            project_id: project,
            name: req.name.unwrap_or_default(),
            ip_version: req.ip_version,
            shared: req.shared.unwrap_or(false),
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
        };
        let mut conn = self.conn().await?;
        store::insert_scope(&mut conn, &s).await?;
        Ok(s)
    }

    pub async fn scope_update(
        &self,
        caller: &Caller<'_>,
        id: &AddressScopeId,
        req: ScopeUpdate,
    ) -> Result<AddressScope> {
        let mut s = self.scope_show(caller, id).await?;
        let t = target(&s.project_id, &[]);
        self.authorize(caller, Rule::UpdateAddressScope, &t)?;
        if req.shared.is_some() {
            self.authorize(caller, Rule::CreateAddressScopeShared, &t)?;
        }
        let revision = s.revision;
        if let Some(v) = req.name {
            s.name = v;
        }
        if let Some(v) = req.shared {
            s.shared = v;
        }
        s.updated_at = now();
        let mut conn = self.conn().await?;
        if !store::update_scope(&mut conn, &s, revision).await? {
            return Err(super::revision_mismatch());
        }
        s.revision = revision + 1;
        Ok(s)
    }

    pub async fn scope_delete(&self, caller: &Caller<'_>, id: &AddressScopeId) -> Result<()> {
        let s = self.scope_show(caller, id).await?;
        self.authorize(
            caller,
            Rule::DeleteAddressScope,
            &target(&s.project_id, &[]),
        )?;
        let mut conn = self.conn().await?;
        if store::scope_users(&mut conn, id).await? > 0 {
            return Err(Error::conflict(format!("Unable to complete operation on address scope {id}. There are one or more subnet pools in use on the address scope.")).with_code("AddressScopeInUse"));
        }
        store::delete_scope(&mut conn, id).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn carving_skips_what_is_taken() {
        let pool = vec!["10.100.0.0/16".parse().unwrap()];
        let taken = vec![
            "10.100.0.0/24".parse().unwrap(),
            "10.100.1.0/25".parse().unwrap(),
        ];
        assert_eq!(
            super::first_free_prefix(&pool, 24, &taken),
            Some("10.100.2.0/24".parse().unwrap())
        );
        assert_eq!(
            super::first_free_prefix(&pool, 25, &taken),
            Some("10.100.1.128/25".parse().unwrap())
        );
        assert_eq!(super::first_free_prefix(&pool, 15, &taken), None);
    }
}

//! Resource providers and what hangs on each: inventories, traits, aggregates, usages.

use std::collections::BTreeMap;

use api_common::{AuthContext, Error, Result};
use chrono::Utc;

use super::{codes, concurrent, no_provider, Placement};
use crate::{
    model::*,
    policies::Rule,
    standard,
    store::{self, is_duplicate},
};

/// `PUT /resource_providers/{uuid}`.
#[derive(Debug, Clone, Default)]
pub struct ProviderUpdate {
    pub name: String,
    /// Absent: unchanged; `Some(None)`: no parent.
    pub parent: Option<Option<ProviderId>>,
    /// 1.37: a provider with a parent may move or become a root.
    pub may_reparent: bool,
}

fn duplicate(what: &str, value: &str) -> Error {
    Error::conflict(format!(
        "Conflicting resource provider {what}: {value} already exists."
    ))
    .with_code(codes::DUPLICATE_NAME)
}

impl Placement {
    pub async fn provider(&self, ctx: &AuthContext, id: &ProviderId) -> Result<Provider> {
        self.authorize(ctx, Rule::ProviderShow)?;
        Self::provider_or_404(&mut *self.conn().await?, id).await
    }

    pub async fn provider_create(
        &self,
        ctx: &AuthContext,
        name: String,
        uuid: Option<ProviderId>,
        parent: Option<ProviderId>,
    ) -> Result<Provider> {
        self.authorize(ctx, Rule::ProviderCreate)?;
        let mut tx = self.db.begin_write().await?;
        let uuid = uuid.unwrap_or_else(ProviderId::generate);
        if store::get_provider(&mut tx, &uuid).await?.is_some() {
            return Err(duplicate("uuid", uuid.as_str()));
        }
        if store::provider_by_name(&mut tx, &name).await?.is_some() {
            return Err(duplicate("name", &name));
        }
        let root = match &parent {
            Some(p) => match store::get_provider(&mut tx, p).await? {
                Some(pp) => pp.root,
                None => {
                    return Err(Error::bad_request(format!(
                        "Unable to create resource provider \"{name}\", {uuid}: parent provider UUID does not exist."
                    )))
                }
            },
            None => uuid.clone(),
        };
        let now = Utc::now();
        let p = Provider {
            uuid,
            name,
            generation: 0,
            parent,
            root,
            created_at: now,
            updated_at: now,
        };
        store::insert_provider(&mut tx, &p).await.map_err(|e| {
            if is_duplicate(&e) {
                duplicate("name", &p.name)
            } else {
                e
            }
        })?;
        Self::commit(tx).await?;
        Ok(p)
    }

    pub async fn provider_update(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
        req: ProviderUpdate,
    ) -> Result<Provider> {
        self.authorize(ctx, Rule::ProviderUpdate)?;
        let mut tx = self.db.begin_write().await?;
        let mut p = Self::provider_or_404(&mut tx, id).await?;
        if req.name != p.name {
            if let Some(other) = store::provider_by_name(&mut tx, &req.name).await? {
                if other.uuid != p.uuid {
                    return Err(duplicate("name", &req.name));
                }
            }
        }
        p.name = req.name;
        let mut new_root = None;
        if let Some(parent) = req.parent {
            if parent != p.parent {
                if p.parent.is_some() && !req.may_reparent {
                    return Err(Error::bad_request(if parent.is_none() {
                        "Un-parenting a provider is not allowed."
                    } else {
                        "re-parenting a provider is not allowed."
                    }));
                }
                let below = store::descendants(&mut tx, id).await?;
                let root = match &parent {
                    Some(pp) if pp == id || below.contains(pp) => {
                        return Err(Error::bad_request(
                            "creating loop in the provider tree is not allowed.",
                        ))
                    }
                    Some(pp) => match store::get_provider(&mut tx, pp).await? {
                        Some(parent) => parent.root,
                        None => {
                            return Err(Error::bad_request("parent provider UUID does not exist."))
                        }
                    },
                    None => id.clone(),
                };
                p.parent = parent;
                p.root = root.clone();
                new_root = Some((root, below));
            }
        }
        p.updated_at = Utc::now();
        store::update_provider(&mut tx, &p).await.map_err(|e| {
            if is_duplicate(&e) {
                duplicate("name", &p.name)
            } else {
                e
            }
        })?;
        if let Some((root, below)) = new_root {
            for d in below {
                store::set_root(&mut tx, &d, &root).await?;
            }
        }
        Self::commit(tx).await?;
        Ok(p)
    }

    pub async fn provider_delete(&self, ctx: &AuthContext, id: &ProviderId) -> Result<()> {
        self.authorize(ctx, Rule::ProviderDelete)?;
        let mut tx = self.db.begin_write().await?;
        let p = Self::provider_or_404(&mut tx, id).await?;
        if store::provider_has_allocations(&mut tx, id).await? {
            return Err(Error::conflict(format!(
                "Unable to delete resource provider {id}: Resource provider has allocations."
            ))
            .with_code(codes::PROVIDER_IN_USE));
        }
        if store::count_children(&mut tx, id).await? > 0 {
            return Err(Error::conflict(format!(
                "Unable to delete parent resource provider {id}: It has child resource providers."
            ))
            .with_code(codes::CANNOT_DELETE_PARENT));
        }
        // the generation guards against an allocation made meanwhile
        if !store::bump_generation(&mut tx, id, p.generation).await? {
            return Err(concurrent(format!(
                "Unable to delete resource provider {id}: the provider was changed meanwhile."
            )));
        }
        store::delete_provider(&mut tx, id).await?;
        Self::commit(tx).await?;
        Ok(())
    }

    /// `GET /resource_providers` with its filters.
    pub async fn provider_list(
        &self,
        ctx: &AuthContext,
        f: ProviderFilter,
    ) -> Result<Vec<Provider>> {
        self.authorize(ctx, Rule::ProviderList)?;
        let mut conn = self.conn().await?;
        for rc in f.resources.keys() {
            self.check_class(&mut conn, rc).await.map_err(|_| {
                Error::bad_request(format!(
                    "Invalid resource class in resources parameter: No such resource class {rc}."
                ))
            })?;
        }
        self.check_traits(&mut conn, f.required.names()).await?;
        let root = match &f.in_tree {
            Some(t) => match store::get_provider(&mut conn, t).await? {
                Some(p) => Some(p.root),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let list =
            store::list_providers(&mut conn, f.name.as_deref(), f.uuid.as_ref(), root.as_ref())
                .await?;
        if f.member_of.is_empty() && f.resources.is_empty() && f.required.is_empty() {
            return Ok(list);
        }
        let snap = store::snapshot(&mut conn, root.as_ref().map(std::slice::from_ref)).await?;
        let by_uuid: BTreeMap<&ProviderId, &crate::candidates::Node> =
            snap.nodes.iter().map(|n| (&n.uuid, n)).collect();
        Ok(list
            .into_iter()
            .filter(|p| {
                let Some(n) = by_uuid.get(&p.uuid) else {
                    return false;
                };
                f.member_of.matches(|a| n.aggregates.contains(a))
                    && f.required.matches(|t| n.traits.contains(t))
                    && f.resources.iter().all(|(rc, &amount)| {
                        n.inventory.get(rc).is_some_and(|(inv, used)| {
                            inv.unit_ok(amount) && used + amount <= inv.capacity()
                        })
                    })
            })
            .collect())
    }

    // ------------------------------------------------------------------ inventories

    pub async fn inventories(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
    ) -> Result<(i64, Inventories)> {
        self.authorize(ctx, Rule::InventoryList)?;
        let mut conn = self.conn().await?;
        let p = Self::provider_or_404(&mut conn, id).await?;
        Ok((p.generation, store::inventories(&mut conn, id).await?))
    }

    pub async fn inventory(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
        rc: &str,
    ) -> Result<(i64, Inventory)> {
        self.authorize(ctx, Rule::InventoryShow)?;
        let mut conn = self.conn().await?;
        let p = Self::provider_or_404(&mut conn, id).await?;
        let inv = store::inventories(&mut conn, id).await?;
        match inv.get(rc) {
            Some(i) => Ok((p.generation, *i)),
            None => Err(Error::not_found(format!(
                "No inventory of class {rc} for {id}"
            ))),
        }
    }

    /// Check an inventory as placement's `_validate_inventory_capacity` and the schema.
    pub(super) fn check_inventory(
        id: &ProviderId,
        rc: &str,
        inv: &Inventory,
        reserved_may_equal_total: bool,
    ) -> Result<()> {
        let bad = inv.reserved > inv.total
            || (!reserved_may_equal_total && inv.reserved == inv.total && inv.reserved > 0);
        if bad {
            return Err(Error::bad_request(format!(
                "Unable to update inventory for resource provider {id}: Invalid inventory for '{rc}' on resource provider '{id}'. The reserved value is greater than or equal to total."
            )));
        }
        if inv.min_unit > inv.max_unit {
            return Err(Error::bad_request(format!(
                "Unable to update inventory for resource provider {id}: Invalid inventory for '{rc}' on resource provider '{id}'. The min_unit value is greater than max_unit."
            )));
        }
        if inv.allocation_ratio.is_nan() || inv.allocation_ratio <= 0.0 {
            return Err(Error::bad_request(format!(
                "Bad inventory {rc} for resource provider {id}: allocation_ratio must be positive."
            )));
        }
        Ok(())
    }

    /// Replace every inventory of a provider (`PUT .../inventories`), as of `generation`.
    pub async fn inventories_set(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
        generation: i64,
        wanted: BTreeMap<String, InventoryRequest>,
        reserved_may_equal_total: bool,
    ) -> Result<(i64, Inventories)> {
        self.authorize(ctx, Rule::InventoryUpdate)?;
        let mut tx = self.db.begin_write().await?;
        let p = Self::provider_or_404(&mut tx, id).await?;
        if p.generation != generation {
            return Err(concurrent("resource provider generation conflict"));
        }
        let mut resolved = Inventories::new();
        for (rc, req) in &wanted {
            if self.check_class(&mut tx, rc).await.is_err() {
                return Err(Error::bad_request(format!(
                    "Unknown resource class in inventory for resource provider {id}: {rc}"
                )));
            }
            let inv = req.resolve();
            Self::check_inventory(id, rc, &inv, reserved_may_equal_total)?;
            resolved.insert(rc.clone(), inv);
        }
        let used = store::usages(&mut tx, id).await?;
        let current = store::inventories(&mut tx, id).await?;
        for rc in current.keys().filter(|rc| !resolved.contains_key(*rc)) {
            if used.get(rc).is_some_and(|u| *u > 0) {
                return Err(Error::conflict(format!(
                    "update conflict: Inventory for '{rc}' on resource provider '{id}' in use."
                ))
                .with_code(codes::INVENTORY_INUSE));
            }
        }
        for rc in current.keys().filter(|rc| !resolved.contains_key(*rc)) {
            store::delete_inventory(&mut tx, id, rc).await?;
        }
        for (rc, inv) in &resolved {
            store::put_inventory(&mut tx, id, rc, inv).await?;
        }
        self.bump(&mut tx, &p).await?;
        Self::commit(tx).await?;
        Ok((p.generation + 1, resolved))
    }

    /// Create or replace one class (`POST .../inventories` creates only; `PUT
    /// .../inventories/{rc}` checks `generation`).
    pub async fn inventory_put(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
        rc: &str,
        generation: Option<i64>,
        req: InventoryRequest,
        reserved_may_equal_total: bool,
    ) -> Result<(i64, Inventory)> {
        let create = generation.is_none();
        self.authorize(
            ctx,
            if create {
                Rule::InventoryCreate
            } else {
                Rule::InventoryUpdate
            },
        )?;
        let mut tx = self.db.begin_write().await?;
        let p = Self::provider_or_404(&mut tx, id).await?;
        if generation.is_some_and(|g| g != p.generation) {
            return Err(concurrent("resource provider generation conflict"));
        }
        if self.check_class(&mut tx, rc).await.is_err() {
            return Err(Error::bad_request(format!(
                "Unable to {} inventory for resource provider {id}: No such resource class {rc}.",
                if create { "create" } else { "update" }
            )));
        }
        let inv = req.resolve();
        Self::check_inventory(id, rc, &inv, reserved_may_equal_total)?;
        let current = store::inventories(&mut tx, id).await?;
        if create && current.contains_key(rc) {
            return Err(concurrent(format!(
                "Update conflict: Inventory for {rc} on resource provider {id} already exists."
            )));
        }
        store::put_inventory(&mut tx, id, rc, &inv).await?;
        self.bump(&mut tx, &p).await?;
        Self::commit(tx).await?;
        Ok((p.generation + 1, inv))
    }

    /// Delete one class (`Some`) or all (`None`, 1.5) of a provider's inventory.
    pub async fn inventory_delete(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
        rc: Option<&str>,
    ) -> Result<()> {
        self.authorize(ctx, Rule::InventoryDelete)?;
        let mut tx = self.db.begin_write().await?;
        let p = Self::provider_or_404(&mut tx, id).await?;
        let current = store::inventories(&mut tx, id).await?;
        let used = store::usages(&mut tx, id).await?;
        let classes: Vec<String> = match rc {
            Some(rc) if !current.contains_key(rc) => {
                return Err(Error::not_found(format!(
                    "No inventory of class {rc} found for delete: No inventory of class {rc} found for resource provider {id}"
                )))
            }
            Some(rc) => vec![rc.to_owned()],
            None => current.keys().cloned().collect(),
        };
        for rc in &classes {
            if used.get(rc).is_some_and(|u| *u > 0) {
                return Err(Error::conflict(format!(
                    "Inventory for '{rc}' on resource provider '{id}' in use."
                ))
                .with_code(codes::INVENTORY_INUSE));
            }
        }
        for rc in &classes {
            store::delete_inventory(&mut tx, id, rc).await?;
        }
        self.bump(&mut tx, &p).await?;
        Self::commit(tx).await?;
        Ok(())
    }

    /// The compare-and-set of `p`'s generation, as read in this transaction.
    pub(crate) async fn bump(&self, conn: &mut sqlx::AnyConnection, p: &Provider) -> Result<()> {
        if store::bump_generation(conn, &p.uuid, p.generation).await? {
            Ok(())
        } else {
            Err(provider_moved(&p.uuid))
        }
    }

    pub async fn provider_usages(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
    ) -> Result<(i64, Resources)> {
        self.authorize(ctx, Rule::ProviderUsages)?;
        let mut conn = self.conn().await?;
        let p = Self::provider_or_404(&mut conn, id).await?;
        let inv = store::inventories(&mut conn, id).await?;
        let used = store::usages(&mut conn, id).await?;
        let mut out: Resources = inv.keys().map(|rc| (rc.clone(), 0)).collect();
        out.extend(used);
        Ok((p.generation, out))
    }

    // ------------------------------------------------------------------ traits, aggregates

    pub async fn provider_traits(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
    ) -> Result<(i64, Vec<String>)> {
        self.authorize(ctx, Rule::ProviderTraitList)?;
        let mut conn = self.conn().await?;
        let p = Self::provider_or_404(&mut conn, id).await?;
        Ok((p.generation, store::provider_traits(&mut conn, id).await?))
    }

    /// Replace a provider's traits (`traits: None` removes them all, unguarded).
    pub async fn provider_traits_set(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
        generation: Option<i64>,
        traits: Vec<String>,
    ) -> Result<(i64, Vec<String>)> {
        self.authorize(
            ctx,
            if generation.is_some() {
                Rule::ProviderTraitUpdate
            } else {
                Rule::ProviderTraitDelete
            },
        )?;
        let mut tx = self.db.begin_write().await?;
        let p = Self::provider_or_404(&mut tx, id).await?;
        if generation.is_some_and(|g| g != p.generation) {
            return Err(concurrent(
                "Resource provider's generation already changed. Please update the generation and try again.",
            ));
        }
        self.check_traits(&mut tx, traits.iter()).await?;
        let mut traits = traits;
        traits.sort();
        traits.dedup();
        store::set_provider_traits(&mut tx, id, &traits).await?;
        self.bump(&mut tx, &p).await?;
        Self::commit(tx).await?;
        Ok((p.generation + 1, traits))
    }

    pub async fn provider_aggregates(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
    ) -> Result<(i64, Vec<String>)> {
        self.authorize(ctx, Rule::AggregateList)?;
        let mut conn = self.conn().await?;
        let p = Self::provider_or_404(&mut conn, id).await?;
        Ok((
            p.generation,
            store::provider_aggregates(&mut conn, id).await?,
        ))
    }

    /// Replace a provider's aggregates (`generation` from 1.19).
    pub async fn provider_aggregates_set(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
        generation: Option<i64>,
        aggregates: Vec<String>,
    ) -> Result<(i64, Vec<String>)> {
        self.authorize(ctx, Rule::AggregateUpdate)?;
        let mut tx = self.db.begin_write().await?;
        let p = Self::provider_or_404(&mut tx, id).await?;
        if generation.is_some_and(|g| g != p.generation) {
            return Err(concurrent(
                "Resource provider's generation already changed. Please update the generation and try again.",
            ));
        }
        let mut aggregates = aggregates;
        aggregates.sort();
        aggregates.dedup();
        store::set_provider_aggregates(&mut tx, id, &aggregates).await?;
        self.bump(&mut tx, &p).await?;
        Self::commit(tx).await?;
        Ok((p.generation + 1, aggregates))
    }

    /// A resource class that exists (standard, or custom in the database).
    pub(crate) async fn check_class(&self, conn: &mut sqlx::AnyConnection, rc: &str) -> Result<()> {
        if standard::is_standard_class(rc) || store::custom_class(conn, rc).await?.is_some() {
            Ok(())
        } else {
            Err(Error::bad_request(format!("No such resource class {rc}.")))
        }
    }

    /// Every trait exists, or a 400 naming the ones that do not.
    pub(crate) async fn check_traits<'a>(
        &self,
        conn: &mut sqlx::AnyConnection,
        names: impl Iterator<Item = &'a String>,
    ) -> Result<()> {
        let mut missing = Vec::new();
        for t in names {
            if !standard::is_standard_trait(t) && !store::custom_trait_exists(conn, t).await? {
                missing.push(t.as_str());
            }
        }
        no_such_traits(missing)
    }
}

/// The 400 naming traits that do not exist, if any.
pub(super) fn no_such_traits(mut missing: Vec<&str>) -> Result<()> {
    if missing.is_empty() {
        Ok(())
    } else {
        missing.sort_unstable();
        missing.dedup();
        Err(Error::bad_request(format!(
            "No such trait(s): {}.",
            missing.join(", ")
        )))
    }
}

/// A provider id from text, or the 404 placement gives for a malformed one.
pub fn provider_id(raw: &str) -> Result<ProviderId> {
    raw.parse().map_err(|_| no_provider(raw))
}

/// The 409 of a write whose provider another request changed meanwhile.
pub(crate) fn provider_moved(id: &ProviderId) -> Error {
    concurrent(format!(
        "resource provider generation conflict: {id} was changed by another request. Please retry your request."
    ))
}

//! Consumers and their allocations, usages, and the reshaper.
//!
//! A write of allocations is one transaction: each consumer's generation is checked and
//! compare-and-set (or the consumer inserted; a concurrent creator loses on the key), its
//! old allocations removed, then for each provider receiving allocations (in uuid order)
//! its generation read, its capacity and unit constraints checked against the usage
//! seen after that read, and the generation compare-and-set. Whoever changed the provider
//! or consumer in between makes the compare-and-set fail: a 409, never an overcommit or
//! a lost update.

use std::collections::BTreeMap;

use api_common::{AuthContext, Error, Result};
use serde_json::json;
use sqlx::AnyConnection;

use super::{codes, concurrent, providers::provider_moved, Placement};
use crate::{model::*, policies::Rule, store};

/// `POST /reshaper`: inventories of some providers and allocations of some consumers,
/// replaced at once.
#[derive(Debug, Clone, Default)]
pub struct Reshape {
    pub inventories: BTreeMap<ProviderId, (i64, BTreeMap<String, InventoryRequest>)>,
    pub allocations: Vec<ConsumerAllocations>,
}

fn generation_conflict(expected: Option<i64>, got: Option<i64>) -> Error {
    let show = |g: Option<i64>| g.map_or("None".to_owned(), |g| g.to_string());
    concurrent(format!(
        "consumer generation conflict - expected {} but got {}",
        expected.map_or("null".to_owned(), |g| g.to_string()),
        show(got)
    ))
}

impl Placement {
    pub async fn consumer_allocations(
        &self,
        ctx: &AuthContext,
        consumer: &str,
    ) -> Result<ConsumerView> {
        self.authorize(ctx, Rule::AllocationList)?;
        let mut conn = self.conn().await?;
        let c = store::get_consumer(&mut conn, consumer).await?;
        let rows = store::consumer_allocations(&mut conn, consumer).await?;
        let mut allocations: BTreeMap<ProviderId, (i64, Resources)> = BTreeMap::new();
        for a in rows {
            if !allocations.contains_key(&a.provider) {
                let g = store::get_provider(&mut conn, &a.provider)
                    .await?
                    .map_or(0, |p| p.generation);
                allocations.insert(a.provider.clone(), (g, Resources::new()));
            }
            if let Some((_, r)) = allocations.get_mut(&a.provider) {
                r.insert(a.resource_class, a.used);
            }
        }
        Ok(ConsumerView {
            consumer: c,
            allocations,
        })
    }

    pub async fn provider_allocations(
        &self,
        ctx: &AuthContext,
        id: &ProviderId,
    ) -> Result<(i64, BTreeMap<String, Resources>)> {
        self.authorize(ctx, Rule::ProviderAllocationList)?;
        let mut conn = self.conn().await?;
        let p = Self::provider_or_404(&mut conn, id).await?;
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for a in store::provider_allocations(&mut conn, id).await? {
            out.entry(a.consumer)
                .or_default()
                .insert(a.resource_class, a.used);
        }
        Ok((p.generation, out))
    }

    /// `PUT /allocations/{consumer}` (one) and `POST /allocations` (many, atomically).
    pub async fn allocations_set(
        &self,
        ctx: &AuthContext,
        many: bool,
        writes: Vec<ConsumerAllocations>,
    ) -> Result<()> {
        self.authorize(
            ctx,
            if many {
                Rule::AllocationManage
            } else {
                Rule::AllocationUpdate
            },
        )?;
        // A provider another request changed in the meantime is read again and the
        // write tried anew, as Placement does (10 times); a consumer's conflict is the
        // caller's to resolve.
        let mut attempts = 0;
        loop {
            let mut tx = self.db.begin_write().await?;
            match self.write_allocations(&mut tx, &writes).await? {
                None => return Self::commit_allocations(tx).await,
                Some(moved) if attempts >= 10 => return Err(provider_moved(&moved)),
                Some(_) => {
                    attempts += 1;
                    tracing::debug!(
                        attempts,
                        "a provider changed under an allocation write; again"
                    );
                }
            }
        }
    }

    pub async fn allocations_delete(&self, ctx: &AuthContext, consumer: &str) -> Result<()> {
        self.authorize(ctx, Rule::AllocationDelete)?;
        let mut tx = self.db.begin_write().await?;
        let rows = store::consumer_allocations(&mut tx, consumer).await?;
        if rows.is_empty() {
            return Err(Error::not_found(format!(
                "No allocations for consumer '{consumer}'"
            )));
        }
        store::delete_consumer_allocations(&mut tx, consumer).await?;
        if let Some(c) = store::get_consumer(&mut tx, consumer).await? {
            if !store::delete_consumer(&mut tx, consumer, c.generation).await? {
                return Err(generation_conflict(Some(c.generation), None));
            }
        }
        Self::commit_allocations(tx).await?;
        Ok(())
    }

    /// Write `writes` in `tx`; `Some(provider)` when that provider's generation moved
    /// meanwhile (nothing of `tx` may then be committed).
    async fn write_allocations(
        &self,
        tx: &mut AnyConnection,
        writes: &[ConsumerAllocations],
    ) -> Result<Option<ProviderId>> {
        let mut by_provider: BTreeMap<ProviderId, Vec<(String, String, i64)>> = BTreeMap::new();
        for w in writes {
            let existing = store::get_consumer(tx, &w.consumer).await?;
            let got = existing.as_ref().map(|c| c.generation);
            match (w.generation, got) {
                (ConsumerGeneration::Unchecked, _) => {}
                (ConsumerGeneration::New, None) => {}
                (ConsumerGeneration::Is(g), Some(e)) if g == e => {}
                (ConsumerGeneration::New, got) => return Err(generation_conflict(None, got)),
                (ConsumerGeneration::Is(g), got) => return Err(generation_conflict(Some(g), got)),
            }
            store::delete_consumer_allocations(tx, &w.consumer).await?;
            if w.allocations.is_empty() {
                if let Some(c) = &existing {
                    if !store::delete_consumer(tx, &c.uuid, c.generation).await? {
                        return Err(generation_conflict(got, None));
                    }
                }
                continue;
            }
            let c = Consumer {
                uuid: w.consumer.clone(),
                project_id: w.project_id.clone(),
                user_id: w.user_id.clone(),
                generation: 1,
                consumer_type: w
                    .consumer_type
                    .clone()
                    .or_else(|| existing.as_ref().and_then(|c| c.consumer_type.clone())),
            };
            let recorded = match &existing {
                Some(e) => store::update_consumer(tx, &c, e.generation).await?,
                None => store::insert_consumer(tx, &c).await?,
            };
            if !recorded {
                return Err(concurrent(format!(
                    "consumer generation conflict - the consumer {} was changed by another request. Please retry your request.",
                    w.consumer
                )));
            }
            for (p, resources) in &w.allocations {
                for (rc, amount) in resources {
                    by_provider.entry(p.clone()).or_default().push((
                        w.consumer.clone(),
                        rc.clone(),
                        *amount,
                    ));
                }
            }
        }
        for (p, wanted) in by_provider {
            let Some(provider) = store::get_provider(tx, &p).await? else {
                return Err(Error::bad_request(format!(
                    "Allocation for resource provider '{p}' that does not exist."
                )));
            };
            let inventories = store::inventories(tx, &p).await?;
            let mut used = store::usages(tx, &p).await?;
            for (consumer, rc, amount) in &wanted {
                let Some(inv) = inventories.get(rc) else {
                    return Err(Error::conflict(format!(
                        "Unable to allocate inventory: Inventory for '{rc}' on resource provider '{p}' invalid."
                    )));
                };
                if !inv.unit_ok(*amount) {
                    return Err(Error::conflict(format!(
                        "Unable to allocate inventory: Allocation for '{rc}' on resource provider '{p}' violates min_unit, max_unit, or step_size. Requested: {amount}, min_unit: {}, max_unit: {}, step_size: {}",
                        inv.min_unit, inv.max_unit, inv.step_size
                    )));
                }
                let u = used.entry(rc.clone()).or_default();
                if *u + amount > inv.capacity() {
                    return Err(Error::conflict(format!(
                        "Unable to allocate inventory: Unable to create allocation for '{rc}' on resource provider '{p}'. The requested amount would exceed the capacity."
                    )));
                }
                *u += amount;
                store::insert_allocation(
                    tx,
                    &Allocation {
                        consumer: consumer.clone(),
                        provider: p.clone(),
                        resource_class: rc.clone(),
                        used: *amount,
                    },
                )
                .await?;
            }
            if !store::bump_generation(tx, &provider.uuid, provider.generation).await? {
                return Ok(Some(provider.uuid));
            }
        }
        Ok(None)
    }

    /// `GET /usages?project_id=&user_id=`: by consumer type (`None`: unknown).
    pub async fn total_usages(
        &self,
        ctx: &AuthContext,
        project: &str,
        user: Option<&str>,
    ) -> Result<BTreeMap<Option<String>, TypedUsage>> {
        self.authorize_on(
            ctx,
            Rule::TotalUsages,
            &json!({"project_id": project, "user_id": user}),
        )?;
        store::total_usages(&mut *self.conn().await?, project, user).await
    }

    /// `POST /reshaper` (1.30): all of it or nothing.
    pub async fn reshape(
        &self,
        ctx: &AuthContext,
        req: Reshape,
        reserved_may_equal_total: bool,
    ) -> Result<()> {
        self.authorize(ctx, Rule::Reshape)?;
        let mut tx = self.db.begin_write().await?;
        for (id, (generation, wanted)) in &req.inventories {
            let Some(p) = store::get_provider(&mut tx, id).await? else {
                return Err(Error::bad_request(format!(
                    "Resource provider {id} in inventories not found"
                )));
            };
            if p.generation != *generation {
                return Err(concurrent(format!(
                    "resource provider generation conflict for provider {id}: expected {generation}, got {}",
                    p.generation
                )));
            }
            let current = store::inventories(&mut tx, id).await?;
            for rc in current.keys().filter(|rc| !wanted.contains_key(*rc)) {
                store::delete_inventory(&mut tx, id, rc).await?;
            }
            for (rc, r) in wanted {
                if self.check_class(&mut tx, rc).await.is_err() {
                    return Err(Error::bad_request(format!(
                        "Unknown resource class in inventory for resource provider {id}: {rc}"
                    )));
                }
                let inv = r.resolve();
                Self::check_inventory(id, rc, &inv, reserved_may_equal_total)?;
                store::put_inventory(&mut tx, id, rc, &inv).await?;
            }
            self.bump(&mut tx, &p).await?;
        }
        self.write_allocations(&mut tx, &req.allocations).await?;
        // what is still allocated must still have inventory
        for id in req.inventories.keys() {
            let inv = store::inventories(&mut tx, id).await?;
            for (rc, used) in store::usages(&mut tx, id).await? {
                let fits = inv.get(&rc).is_some_and(|i| used <= i.capacity());
                if used > 0 && !fits {
                    return Err(Error::conflict(format!(
                        "Unable to reshape: Inventory for '{rc}' on resource provider '{id}' in use."
                    ))
                    .with_code(codes::INVENTORY_INUSE));
                }
            }
        }
        Self::commit(tx).await?;
        Ok(())
    }
}

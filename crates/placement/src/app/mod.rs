//! The Placement service's logic: what may be read and changed, by whom, and the checks
//! of generations and capacity. Handlers call these methods; nothing here knows HTTP.

mod allocations;
mod candidates;
mod classes;
mod providers;
mod snapshot;

use api_common::{AuthContext, Error, Result};
use serde_json::json;

pub use allocations::Reshape;
pub use candidates::{CandidateQuery, Candidates, Found, Summary};
pub use providers::{provider_id, ProviderUpdate};

use crate::{config::Config, model::ProviderId, policies::Rule};

/// Placement's error codes (`code` in its faults from microversion 1.23).
pub mod codes {
    pub const CONCURRENT_UPDATE: &str = "placement.concurrent_update";
    pub const DUPLICATE_NAME: &str = "placement.duplicate_name";
    pub const INVENTORY_INUSE: &str = "placement.inventory.inuse";
    pub const PROVIDER_IN_USE: &str = "placement.resource_provider.inuse";
    pub const CANNOT_DELETE_PARENT: &str = "placement.resource_provider.cannot_delete_parent";
    pub const PROVIDER_NOT_FOUND: &str = "placement.resource_provider.not_found";
    pub const DUPLICATE_KEY: &str = "placement.query.duplicate_key";
    pub const BAD_VALUE: &str = "placement.query.bad_value";
    pub const MISSING_VALUE: &str = "placement.query.missing_value";
}

/// The Placement service.
pub struct Placement {
    pub db: db::Db,
    pub cfg: Config,
    pub policy: policy::Policy,
    /// The snapshot of providers last loaded, for allocation candidates.
    kept: snapshot::Kept,
}

/// A 409 for a writer that lost a race (or sent a stale generation).
pub fn concurrent(msg: impl Into<String>) -> Error {
    Error::conflict(msg).with_code(codes::CONCURRENT_UPDATE)
}

/// The 404 of a provider that does not exist.
pub fn no_provider(id: &str) -> Error {
    Error::not_found(format!("No resource provider with uuid {id} found"))
}

impl Placement {
    pub fn new(db: db::Db, cfg: Config, policy: policy::Policy) -> Placement {
        Placement {
            db,
            cfg,
            policy,
            kept: snapshot::Kept::default(),
        }
    }

    /// Refuse the caller unless `rule` allows it on the caller's own project (placement's
    /// default target).
    pub fn authorize(&self, ctx: &AuthContext, rule: Rule) -> Result<()> {
        let target = json!({"project_id": ctx.project_id, "user_id": ctx.user_id});
        self.authorize_on(ctx, rule, &target)
    }

    fn authorize_on(
        &self,
        ctx: &AuthContext,
        rule: Rule,
        target: &serde_json::Value,
    ) -> Result<()> {
        if self
            .policy
            .enforce(rule.name(), target, ctx.policy_credentials())
        {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "Policy does not allow {rule} to be performed."
            )))
        }
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.db.pool.acquire().await?)
    }

    async fn provider_or_404(
        conn: &mut sqlx::AnyConnection,
        id: &ProviderId,
    ) -> Result<crate::model::Provider> {
        crate::store::get_provider(conn, id)
            .await?
            .ok_or_else(|| no_provider(id.as_str()))
    }
}

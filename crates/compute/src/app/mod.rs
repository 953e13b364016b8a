//! The Compute service's logic: what may be created, seen, changed and deleted, by whom,
//! and what the [`Lifecycle`] (the conductor) is asked to do. Handlers call these
//! methods; nothing here knows HTTP.

pub mod actions;
pub mod external_events;
pub mod flavors;
pub mod groups;
pub mod hosts;
pub mod keypairs;
pub mod lifecycle;
pub mod quotas;
pub mod server_actions;
pub mod servers;
pub mod states;

use std::sync::{Arc, RwLock};

use api_common::{AuthContext, Error, Result};
use serde_json::{json, Map, Value};

pub use lifecycle::{InterfaceRequest, Lifecycle, NoLifecycle, ServerAction};
pub use states::StateChange;

use crate::{clients::Clients, config::Config, policies::Rule};

/// The Compute service.
pub struct Compute {
    pub db: db::Db,
    pub cfg: Config,
    pub policy: policy::Policy,
    /// The other services' APIs, as the service user.
    pub clients: Clients,
    lifecycle: RwLock<Option<Arc<dyn Lifecycle>>>,
}

/// The caller, with what policy checks need.
pub struct Caller<'a> {
    pub ctx: &'a AuthContext,
    creds: policy::Credentials,
    pub admin: bool,
}

impl Caller<'_> {
    /// The caller's project ("" for a token without one, which owns nothing).
    pub fn project(&self) -> &str {
        self.ctx.project_id.as_deref().unwrap_or("")
    }

    pub fn user(&self) -> &str {
        &self.ctx.user_id
    }
}

/// Nova's words when policy refuses an action.
pub(crate) fn refused(rule: Rule) -> Error {
    Error::forbidden(format!("Policy doesn't allow {rule} to be performed."))
}

impl Compute {
    pub fn new(db: db::Db, cfg: Config, policy: policy::Policy, clients: Clients) -> Compute {
        Compute {
            db,
            cfg,
            policy,
            clients,
            lifecycle: RwLock::new(None),
        }
    }

    /// Install what makes servers real (the conductor's, or a test's).
    pub fn set_lifecycle(&self, l: Arc<dyn Lifecycle>) {
        *self
            .lifecycle
            .write()
            .expect("the lifecycle lock is not poisoned") = Some(l);
    }

    pub(crate) fn lifecycle(&self) -> Result<Arc<dyn Lifecycle>> {
        self.lifecycle
            .read()
            .expect("the lifecycle lock is not poisoned")
            .clone()
            .ok_or_else(|| Error::unavailable("The compute conductor is not running."))
    }

    /// The caller's policy view.
    pub fn caller<'a>(&self, ctx: &'a AuthContext) -> Caller<'a> {
        let mut creds = ctx.credentials();
        let admin = self
            .policy
            .enforce(Rule::ContextIsAdmin.name(), &json!({}), &creds);
        creds.is_admin = admin;
        Caller { ctx, creds, admin }
    }

    pub(crate) fn allowed(&self, caller: &Caller, rule: Rule, target: &Value) -> bool {
        self.policy.enforce(rule.name(), target, &caller.creds)
    }

    pub(crate) fn authorize(&self, caller: &Caller, rule: Rule, target: &Value) -> Result<()> {
        if self.allowed(caller, rule, target) {
            Ok(())
        } else {
            Err(refused(rule))
        }
    }

    /// Authorize against the caller's own project (collection actions).
    pub(crate) fn authorize_own(&self, caller: &Caller, rule: Rule) -> Result<()> {
        self.authorize(caller, rule, &target(caller.project(), caller.user()))
    }

    pub(crate) async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.db.pool.acquire().await?)
    }
}

/// A policy target: the resource's project and user.
pub(crate) fn target(project_id: &str, user_id: &str) -> Value {
    let mut m = Map::new();
    m.insert("project_id".into(), json!(project_id));
    m.insert("user_id".into(), json!(user_id));
    Value::Object(m)
}

/// A shared handle, as handlers hold it.
pub type Service = Arc<Compute>;

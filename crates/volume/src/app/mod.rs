//! The Block Storage service's logic: what may be created, seen, changed and deleted,
//! by whom, and what the backend is asked to do. Handlers call these methods; nothing
//! here knows HTTP.

mod quotas;
mod snapshots;
mod types;
mod volumes;

use std::sync::Arc;

use api_common::{AuthContext, Error, Result};
use serde_json::{json, Value};
use service::client::Http;

pub use quotas::{QuotaSet, RESOURCES};
pub use snapshots::{SnapshotCreate, SnapshotUpdate};
pub use types::{TypeCreate, TypeUpdate};
pub use volumes::{VolumeCreate, VolumeUpdate};

use crate::{backend::Backend, config::Config, model::ListQuery, policies::Rule};

/// The Block Storage service.
pub struct Volumes {
    pub db: db::Db,
    pub cfg: Config,
    pub policy: policy::Policy,
    /// Where volumes go; the scheduler picks one by the type's `volume_backend_name`
    /// and free capacity.
    pub backends: Vec<Arc<dyn Backend>>,
    /// The Image service, for volumes made from images.
    pub image: Http,
    /// Runs the volume sagas (see [`crate::sagas`]).
    pub sagas: saga::Executor<Arc<Volumes>>,
    /// Itself, for the sagas it starts (their context is the service).
    this: std::sync::Weak<Volumes>,
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
}

/// Cinder's words when policy refuses an action.
fn refused(rule: Rule) -> Error {
    Error::forbidden(format!("Policy doesn't allow {rule} to be performed."))
}

/// A policy target: the project the resource belongs to.
fn target(project_id: &str) -> Value {
    json!({"project_id": project_id})
}

impl Volumes {
    pub fn new(
        db: db::Db,
        cfg: Config,
        policy: policy::Policy,
        backends: Vec<Arc<dyn Backend>>,
        image: Http,
        sagas: saga::ExecutorConfig,
    ) -> Arc<Volumes> {
        Arc::new_cyclic(|this| Volumes {
            sagas: saga::Executor::new(db.clone(), sagas, crate::sagas::all()),
            db,
            cfg,
            policy,
            backends,
            image,
            this: this.clone(),
        })
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

    pub fn allowed(&self, caller: &Caller, rule: Rule, project: &str) -> bool {
        self.policy
            .enforce(rule.name(), &target(project), &caller.creds)
    }

    pub fn authorize(&self, caller: &Caller, rule: Rule, project: &str) -> Result<()> {
        if self.allowed(caller, rule, project) {
            Ok(())
        } else {
            Err(refused(rule))
        }
    }

    /// The background work: the saga executor, until `shutdown`.
    pub async fn background(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        self.sagas.clone().run(self.clone(), shutdown).await;
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.db.pool.acquire().await?)
    }

    /// The backend a volume lives on.
    pub(crate) fn backend(&self, name: &str) -> Result<Arc<dyn Backend>> {
        self.backends
            .iter()
            .find(|b| b.name() == name)
            .cloned()
            .ok_or_else(|| Error::internal(format!("no volume backend named {name}")))
    }

    /// The project a list is narrowed to: an admin's `all_tenants` is every project
    /// (`None`), anyone else's is ignored, as Cinder does.
    pub fn list_scope(&self, caller: &Caller, all_tenants: bool) -> Option<String> {
        (!(all_tenants && caller.admin)).then(|| caller.project().to_owned())
    }
}

/// Sort and page rows that passed the filters, as Cinder pages: by the sort keys (then
/// id), after the marker, at most `limit` (or `max`).
pub(crate) fn page<T>(
    mut items: Vec<T>,
    q: &ListQuery,
    max: usize,
    key: impl Fn(&T, crate::model::SortKey) -> Value,
    id: impl Fn(&T) -> &str,
) -> Result<Vec<T>> {
    use crate::model::SortKey;
    let sort = if q.sort.is_empty() {
        vec![(SortKey::CreatedAt, true)]
    } else {
        q.sort.clone()
    };
    let cmp = |a: &Value, b: &Value| match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_i64().cmp(&y.as_i64()),
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Less,
        (_, Value::Null) => std::cmp::Ordering::Greater,
        _ => a.as_str().cmp(&b.as_str()),
    };
    items.sort_by(|a, b| {
        for (k, desc) in &sort {
            let o = cmp(&key(a, *k), &key(b, *k));
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        let o = id(a).cmp(id(b));
        if sort.first().is_some_and(|s| s.1) {
            o.reverse()
        } else {
            o
        }
    });
    if let Some(m) = &q.marker {
        let at = items
            .iter()
            .position(|i| id(i) == m)
            .ok_or_else(|| Error::not_found(format!("Marker {m} could not be found.")))?;
        items.drain(..=at);
    }
    items.truncate(q.limit.unwrap_or(max).min(max));
    Ok(items)
}

/// A shared handle, as handlers hold it.
pub type Service = Arc<Volumes>;

//! The Networking service's logic: what may be created, seen, changed and deleted, by
//! whom, and what the dataplane is told. Handlers call these methods; nothing here knows
//! HTTP.

mod agents;
mod floating_ips;
mod networks;
mod ports;
mod qos;
mod quotas;
mod rbac;
pub(crate) mod resource;
mod routers;
pub(crate) mod security_groups;
mod subnet_pools;
mod subnets;
mod tags;

use std::sync::Arc;

use api_common::{AuthContext, Error, Result};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use tokio::sync::watch;

pub use agents::AgentReport;
pub use floating_ips::{FipCreate, FipUpdate, PfCreate};
pub use networks::{NetworkCreate, NetworkUpdate};
pub use ports::{FixedIpRequest, PortCreate, PortUpdate};
pub use qos::{BandwidthRuleRequest, QosCreate, QosUpdate};
pub use quotas::{QuotaUsage, RESOURCES};
pub use rbac::{RbacCreate, RbacUpdate};
pub use routers::{GatewayRequest, InterfaceInfo, InterfaceRequest, RouterCreate, RouterUpdate};
pub use security_groups::{GroupCreate, GroupUpdate, RuleCreate};
pub use subnet_pools::{PoolCreate, PoolUpdate, ScopeCreate, ScopeUpdate};
pub use subnets::{SubnetCreate, SubnetUpdate};
pub use tags::Tagged;

use crate::{config::Config, policies::Rule};

/// The Networking service.
pub struct Networking {
    pub db: db::Db,
    pub cfg: Config,
    pub policy: policy::Policy,
    /// Bumped after every change the dataplane must follow; the agent notifier watches it.
    changes: watch::Sender<u64>,
    /// Port changes Compute hears of (floating IPs, addresses, deletes).
    pub compute_events: crate::compute_events::ComputeEvents,
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

    /// The project a new resource belongs to: the caller's, or (admins only) the one the
    /// body names.
    fn owner(&self, requested: Option<&str>) -> Result<String> {
        match requested {
            Some(p) if p != self.project() => {
                if self.admin {
                    Ok(p.to_owned())
                } else {
                    Err(Error::forbidden(
                        "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
                    )
                    .with_code("HTTPForbidden"))
                }
            }
            Some(p) => Ok(p.to_owned()),
            None => Ok(self.project().to_owned()),
        }
    }

    /// The project a list is limited to: `None` (everything) for admins.
    fn scope(&self) -> Option<&str> {
        (!self.admin).then(|| self.project())
    }
}

/// Neutron's words when policy refuses an action.
fn refused(rule: Rule) -> Error {
    Error::forbidden(format!("({rule}) is disallowed by policy")).with_code("PolicyNotAuthorized")
}

/// A stale `If-Match` or a concurrent writer.
fn revision_mismatch() -> Error {
    Error::new(
        api_common::ErrorKind::PreconditionFailed,
        "Constrained by revision number: the resource was changed.",
    )
    .with_code("RevisionNumberConstraintFailed")
}

/// The `If-Match: revision_number=N` of a request, checked against the resource's.
pub fn check_revision(expected: Option<i64>, actual: i64) -> Result<()> {
    match expected {
        Some(e) if e != actual => Err(revision_mismatch()),
        _ => Ok(()),
    }
}

/// For `Option<Option<T>>` fields of an update: absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl Networking {
    pub fn new(db: db::Db, cfg: Config, policy: policy::Policy) -> Networking {
        Networking {
            db,
            cfg,
            policy,
            changes: watch::channel(0).0,
            compute_events: Default::default(),
        }
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

    fn allowed(&self, caller: &Caller, rule: Rule, target: &Value) -> bool {
        self.policy.enforce(rule.name(), target, &caller.creds)
    }

    fn authorize(&self, caller: &Caller, rule: Rule, target: &Value) -> Result<()> {
        if self.allowed(caller, rule, target) {
            Ok(())
        } else {
            Err(refused(rule))
        }
    }

    /// Changes the dataplane must follow (a counter; see [`Networking::changed`]).
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Tell the agents something they wire changed.
    pub(crate) fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.db.pool.acquire().await?)
    }

    /// Tell Compute the floating IPs of these ports changed (after the change committed).
    pub(crate) async fn fips_changed(&self, ports: &[Option<&types::PortId>]) -> Result<()> {
        if !self.compute_events.enabled() || ports.iter().all(Option::is_none) {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        for id in ports.iter().flatten() {
            if let Some(p) = crate::store::get_port(&mut conn, id).await? {
                self.compute_events.port_changed(&p);
            }
        }
        Ok(())
    }
}

/// A policy target: the resource's attributes plus the extra keys the rules read.
fn target(project_id: &str, extra: &[(&str, Value)]) -> Value {
    let mut m = Map::new();
    m.insert("project_id".into(), json!(project_id));
    m.insert("tenant_id".into(), json!(project_id));
    for (k, v) in extra {
        m.insert((*k).into(), v.clone());
    }
    Value::Object(m)
}

/// A shared handle, as handlers hold it.
pub type Service = Arc<Networking>;

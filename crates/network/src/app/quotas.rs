//! Per-project quotas (`/v2.0/quotas`): configured defaults, per-project overrides,
//! checked when a resource is created.

use std::collections::BTreeMap;

use super::{target, Caller, Networking};
use crate::{policies::Rule, store};
use api_common::{Error, Result};

/// The resources quotas count, in Neutron's names.
pub const RESOURCES: &[&str] = &[
    "network",
    "subnet",
    "port",
    "security_group",
    "security_group_rule",
    "router",
    "floatingip",
];

/// A resource's limit and what the project uses (`/quotas/{id}/details`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaUsage {
    pub limit: i64,
    pub used: i64,
    pub reserved: i64,
}

impl Networking {
    fn default_limit(&self, resource: &str) -> i64 {
        let q = &self.cfg.quotas;
        match resource {
            "network" => q.network,
            "subnet" => q.subnet,
            "port" => q.port,
            "security_group" => q.security_group,
            "security_group_rule" => q.security_group_rule,
            "router" => q.router,
            "floatingip" => q.floatingip,
            _ => -1,
        }
    }

    async fn limits(&self, project: &str) -> Result<BTreeMap<&'static str, i64>> {
        let mut conn = self.conn().await?;
        let over = store::QUOTAS
            .limits::<std::collections::HashMap<String, i64>>(&mut conn, project)
            .await?;
        Ok(RESOURCES
            .iter()
            .map(|r| {
                (
                    *r,
                    over.get(*r)
                        .copied()
                        .unwrap_or_else(|| self.default_limit(r)),
                )
            })
            .collect())
    }

    /// Refuse a create that would take `project` over its limit of `resource`.
    pub(super) async fn check_quota(
        &self,
        project: &str,
        resource: &str,
        delta: i64,
    ) -> Result<()> {
        let limit = self
            .limits(project)
            .await?
            .get(resource)
            .copied()
            .unwrap_or(-1);
        if limit < 0 {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let used = store::usage(&mut conn, resource, project).await?;
        if used + delta > limit {
            return Err(
                Error::conflict(format!("Quota exceeded for resources: ['{resource}']."))
                    .with_code("OverQuota"),
            );
        }
        Ok(())
    }

    pub async fn quota_show(
        &self,
        caller: &Caller<'_>,
        project: &str,
    ) -> Result<BTreeMap<&'static str, i64>> {
        self.authorize(caller, Rule::GetQuota, &target(project, &[]))?;
        self.limits(project).await
    }

    pub fn quota_defaults(&self) -> BTreeMap<&'static str, i64> {
        RESOURCES
            .iter()
            .map(|r| (*r, self.default_limit(r)))
            .collect()
    }

    pub async fn quota_details(
        &self,
        caller: &Caller<'_>,
        project: &str,
    ) -> Result<BTreeMap<&'static str, QuotaUsage>> {
        let limits = self.quota_show(caller, project).await?;
        let mut conn = self.conn().await?;
        let mut out = BTreeMap::new();
        for (r, limit) in limits {
            let used = store::usage(&mut conn, r, project).await?;
            out.insert(
                r,
                QuotaUsage {
                    limit,
                    used,
                    reserved: 0,
                },
            );
        }
        Ok(out)
    }

    /// Projects with limits of their own, and those limits (admins only).
    pub async fn quota_list(
        &self,
        caller: &Caller<'_>,
    ) -> Result<Vec<(String, BTreeMap<&'static str, i64>)>> {
        self.authorize(caller, Rule::UpdateQuota, &target(caller.project(), &[]))?;
        let mut conn = self.conn().await?;
        let projects = store::quota_projects(&mut conn).await?;
        drop(conn);
        let mut out = Vec::new();
        for p in projects {
            let l = self.limits(&p).await?;
            out.push((p, l));
        }
        Ok(out)
    }

    pub async fn quota_update(
        &self,
        caller: &Caller<'_>,
        project: &str,
        limits: BTreeMap<String, i64>,
    ) -> Result<BTreeMap<&'static str, i64>> {
        self.authorize(caller, Rule::UpdateQuota, &target(project, &[]))?;
        for (r, v) in &limits {
            if !RESOURCES.contains(&r.as_str()) {
                return Err(crate::ipam::invalid(format_args!(
                    "Unrecognized attribute(s) '{r}'"
                )));
            }
            if *v < -1 {
                return Err(crate::ipam::invalid(format_args!(
                    "'{v}' should be greater than or equal to -1"
                )));
            }
        }
        let mut tx = self.db.begin_write().await?;
        for (r, v) in &limits {
            store::QUOTAS.set(&mut tx, project, r, *v).await?;
        }
        tx.commit().await?;
        self.limits(project).await
    }

    pub async fn quota_delete(&self, caller: &Caller<'_>, project: &str) -> Result<()> {
        self.authorize(caller, Rule::DeleteQuota, &target(project, &[]))?;
        let mut conn = self.conn().await?;
        store::QUOTAS.clear(&mut conn, project).await
    }
}

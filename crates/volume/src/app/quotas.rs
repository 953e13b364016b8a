//! Quotas (`os-quota-sets`) and limits: a project's limits are its own where set, the
//! configured defaults elsewhere; usage is counted from its volumes and snapshots.

use std::collections::BTreeMap;

use api_common::{Error, ErrorKind, Result};

use super::{Caller, Volumes};
use crate::{model::QuotaUsage, policies::Rule, store};

/// The quota resources, in Cinder's order.
pub const RESOURCES: &[&str] = &[
    "volumes",
    "snapshots",
    "gigabytes",
    "per_volume_gigabytes",
    "backups",
    "backup_gigabytes",
    "groups",
];

/// A project's limits (and usage, when asked), by resource.
pub type QuotaSet = BTreeMap<&'static str, QuotaUsage>;

/// What a create adds to a project.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Delta {
    pub volumes: i64,
    pub snapshots: i64,
    pub gigabytes: i64,
    /// The size of one new volume, for `per_volume_gigabytes`.
    pub volume_size: Option<i64>,
}

fn over(message: String) -> Error {
    Error::new(ErrorKind::OverLimit, message)
}

impl Volumes {
    pub(crate) fn default_limit(&self, resource: &str) -> i64 {
        let q = &self.cfg.quotas;
        match resource {
            "volumes" => q.volumes,
            "snapshots" => q.snapshots,
            "gigabytes" => q.gigabytes,
            "per_volume_gigabytes" => q.per_volume_gigabytes,
            "backups" => q.backups,
            "backup_gigabytes" => q.backup_gigabytes,
            "groups" => q.groups,
            _ => -1,
        }
    }

    /// A project's limits and usage, read on `conn`.
    pub(crate) async fn quota_set_on(
        &self,
        conn: &mut store::Conn,
        project: &str,
    ) -> Result<QuotaSet> {
        let own: BTreeMap<String, i64> = store::QUOTAS.limits(conn, project).await?;
        let (volumes, snapshots, gigabytes) = store::usage(conn, project).await?;
        Ok(RESOURCES
            .iter()
            .map(|r| {
                let limit = own
                    .get(*r)
                    .copied()
                    .unwrap_or_else(|| self.default_limit(r));
                let in_use = match *r {
                    "volumes" => volumes,
                    "snapshots" => snapshots,
                    "gigabytes" => gigabytes,
                    _ => 0,
                };
                (*r, QuotaUsage { limit, in_use })
            })
            .collect())
    }

    /// Refuse a create that would take a project over its quotas (Cinder's 413s), read
    /// in the transaction that then records it.
    pub(crate) async fn check_quota(
        &self,
        conn: &mut store::Conn,
        project: &str,
        d: Delta,
    ) -> Result<()> {
        let q = self.quota_set_on(conn, project).await?;
        let get = |r: &str| {
            q.get(r).copied().unwrap_or(QuotaUsage {
                limit: -1,
                in_use: 0,
            })
        };
        if let Some(size) = d.volume_size {
            let per = get("per_volume_gigabytes").limit;
            if per >= 0 && size > per {
                return Err(over(format!(
                    "VolumeSizeExceedsLimit: Requested volume size {size}G is larger than maximum allowed limit {per}G."
                )));
            }
        }
        let gb = get("gigabytes");
        if d.gigabytes > 0 && gb.limit >= 0 && gb.in_use + d.gigabytes > gb.limit {
            return Err(over(format!(
                "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested {}G, quota is {}G and {}G has been consumed.",
                d.gigabytes, gb.limit, gb.in_use
            )));
        }
        for (name, n) in [("volumes", d.volumes), ("snapshots", d.snapshots)] {
            let u = get(name);
            if n > 0 && u.limit >= 0 && u.in_use + n > u.limit {
                let what = if name == "volumes" {
                    "Volume"
                } else {
                    "Snapshot"
                };
                return Err(over(format!(
                    "{what}LimitExceeded: Maximum number of {name} allowed ({}) exceeded for quota '{name}'.",
                    u.limit
                )));
            }
        }
        Ok(())
    }

    /// `GET /os-quota-sets/{project}` (`usage`: with what is in use).
    pub async fn quota_show(&self, caller: &Caller<'_>, project: &str) -> Result<QuotaSet> {
        self.authorize(caller, Rule::ShowQuota, project)?;
        let mut conn = self.conn().await?;
        self.quota_set_on(&mut conn, project).await
    }

    /// The configured defaults.
    pub async fn quota_defaults(&self, caller: &Caller<'_>, project: &str) -> Result<QuotaSet> {
        self.authorize(caller, Rule::ShowQuota, project)?;
        Ok(RESOURCES
            .iter()
            .map(|r| {
                (
                    *r,
                    QuotaUsage {
                        limit: self.default_limit(r),
                        in_use: 0,
                    },
                )
            })
            .collect())
    }

    /// Set limits; a limit below what is in use is refused (as Cinder does).
    pub async fn quota_update(
        &self,
        caller: &Caller<'_>,
        project: &str,
        limits: BTreeMap<String, i64>,
    ) -> Result<QuotaSet> {
        self.authorize(caller, Rule::UpdateQuota, project)?;
        let mut tx = self.db.begin_write().await?;
        let current = self.quota_set_on(&mut tx, project).await?;
        for (r, limit) in &limits {
            let Some(u) = current.get(r.as_str()) else {
                return Err(Error::bad_request(format!("Bad key(s) in quota set: {r}")));
            };
            if *limit < -1 {
                return Err(Error::bad_request(format!(
                    "Quota limit {limit} for {r} must be -1 or greater."
                )));
            }
            if *limit >= 0 && *limit < u.in_use {
                return Err(Error::bad_request(format!(
                    "Quota limit {limit} for {r} must be greater than or equal to already used and reserved {}.",
                    u.in_use
                )));
            }
            store::QUOTAS.set(&mut tx, project, r, *limit).await?;
        }
        let out = self.quota_set_on(&mut tx, project).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Back to the defaults.
    pub async fn quota_delete(&self, caller: &Caller<'_>, project: &str) -> Result<()> {
        self.authorize(caller, Rule::DeleteQuota, project)?;
        let mut conn = self.conn().await?;
        store::QUOTAS.clear(&mut conn, project).await
    }

    /// The caller's project's limits and usage (`GET /limits`).
    pub async fn limits(&self, caller: &Caller<'_>) -> Result<QuotaSet> {
        self.authorize(caller, Rule::UsedLimits, caller.project())?;
        let mut conn = self.conn().await?;
        self.quota_set_on(&mut conn, caller.project()).await
    }
}

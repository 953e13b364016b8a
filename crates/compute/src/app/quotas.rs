//! Quotas, counted as Nova counts them (from the servers, keypairs and groups that
//! exist): defaults from `[compute_api.quotas]`, per-project limits set by admins.

use std::collections::BTreeMap;

use api_common::{Error, Result};

use super::{Caller, Compute};
use crate::{policies::Rule, store};

/// The quota resources, in Nova's order.
pub const RESOURCES: &[&str] = &[
    "instances",
    "cores",
    "ram",
    "metadata_items",
    "key_pairs",
    "server_groups",
    "server_group_members",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_length",
];

impl Compute {
    /// The default limit of each resource.
    pub fn quota_defaults(&self) -> BTreeMap<&'static str, i64> {
        let q = &self.cfg.quotas;
        [
            ("instances", q.instances),
            ("cores", q.cores),
            ("ram", q.ram),
            ("metadata_items", q.metadata_items),
            ("key_pairs", q.key_pairs),
            ("server_groups", q.server_groups),
            ("server_group_members", q.server_group_members),
            ("injected_files", q.injected_files),
            ("injected_file_content_bytes", q.injected_file_content_bytes),
            ("injected_file_path_length", q.injected_file_path_length),
        ]
        .into_iter()
        .collect()
    }

    /// The limits of `project` (defaults, overridden).
    pub async fn quota_limits(&self, project: &str) -> Result<BTreeMap<&'static str, i64>> {
        let mut out = self.quota_defaults();
        let mut c = self.conn().await?;
        for (k, v) in store::QUOTAS
            .limits::<Vec<(String, i64)>>(&mut c, project)
            .await?
        {
            if let Some(slot) = out.get_mut(k.as_str()) {
                *slot = v;
            }
        }
        Ok(out)
    }

    /// One limit of `project` (`-1`: unlimited).
    pub async fn quota_limit(&self, project: &str, resource: &str) -> Result<i64> {
        Ok(self
            .quota_limits(project)
            .await?
            .get(resource)
            .copied()
            .unwrap_or(-1))
    }

    /// What `project` uses of each counted resource (the caller's keypairs for key_pairs).
    pub async fn quota_usage(
        &self,
        project: &str,
        user: &str,
    ) -> Result<BTreeMap<&'static str, i64>> {
        let mut c = self.conn().await?;
        let (instances, cores, ram) = store::servers::usage(&mut c, project).await?;
        let key_pairs = store::keypairs::count(&mut c, user).await?;
        let groups = store::groups::count(&mut c, project).await?;
        Ok([
            ("instances", instances),
            ("cores", cores),
            ("ram", ram),
            ("key_pairs", key_pairs),
            ("server_groups", groups),
        ]
        .into_iter()
        .collect())
    }

    /// The quota set of a project, as the caller may read it.
    pub async fn quota_show(
        &self,
        caller: &Caller<'_>,
        project: &str,
    ) -> Result<BTreeMap<&'static str, i64>> {
        self.authorize(
            caller,
            Rule::QuotaShow,
            &super::target(project, caller.user()),
        )?;
        self.quota_limits(project).await
    }

    /// Limits, usage (and 0 reserved) of a project.
    pub async fn quota_detail(
        &self,
        caller: &Caller<'_>,
        project: &str,
    ) -> Result<(BTreeMap<&'static str, i64>, BTreeMap<&'static str, i64>)> {
        self.authorize(
            caller,
            Rule::QuotaDetail,
            &super::target(project, caller.user()),
        )?;
        let limits = self.quota_limits(project).await?;
        let usage = self.quota_usage(project, caller.user()).await?;
        Ok((limits, usage))
    }

    /// Set limits of a project (admins); `-1` is unlimited.
    pub async fn quota_update(
        &self,
        caller: &Caller<'_>,
        project: &str,
        limits: BTreeMap<String, i64>,
        force: bool,
    ) -> Result<BTreeMap<&'static str, i64>> {
        self.authorize(
            caller,
            Rule::QuotaUpdate,
            &super::target(project, caller.user()),
        )?;
        if !force {
            let usage = self.quota_usage(project, caller.user()).await?;
            for (k, v) in &limits {
                let used = usage.get(k.as_str()).copied().unwrap_or(0);
                if *v >= 0 && *v < used {
                    return Err(Error::bad_request(format!(
                        "Quota limit {v} for {k} must be greater than or equal to already used and reserved {used}."
                    )));
                }
            }
        }
        let mut tx = self.db.begin_write().await?;
        for (k, v) in &limits {
            store::QUOTAS.set(&mut tx, project, k, *v).await?;
        }
        tx.commit().await?;
        self.quota_limits(project).await
    }

    /// Back to the defaults.
    pub async fn quota_delete(&self, caller: &Caller<'_>, project: &str) -> Result<()> {
        self.authorize(
            caller,
            Rule::QuotaDelete,
            &super::target(project, caller.user()),
        )?;
        let mut c = self.conn().await?;
        store::QUOTAS.clear(&mut c, project).await
    }

    pub fn quota_default_set(&self, caller: &Caller<'_>) -> Result<BTreeMap<&'static str, i64>> {
        self.authorize_own(caller, Rule::QuotaDefaults)?;
        Ok(self.quota_defaults())
    }
}

//! Snapshots: create (of an available volume, or an in-use one with `force`), list,
//! show, update, delete and metadata.

use api_common::{Error, Result};
use serde_json::Value;
use types::{SnapshotId, VolumeId};

use super::{page, quotas::Delta, volumes::check_metadata, Caller, Volumes};
use crate::{
    model::{now, ListQuery, Metadata, Snapshot, SnapshotStatus, SortKey, Status},
    policies::Rule,
    sagas, store,
};

#[derive(Debug, Clone, Default)]
pub struct SnapshotCreate {
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub force: bool,
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Default)]
pub struct SnapshotUpdate {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

pub(crate) fn snapshot_not_found(id: &str) -> Error {
    Error::not_found(format!("Snapshot {id} could not be found."))
}

fn sort_value(s: &Snapshot, k: SortKey) -> Value {
    match k {
        SortKey::CreatedAt => s.created_at.clone().into(),
        SortKey::UpdatedAt => s.updated_at.clone().into(),
        SortKey::Id => s.id.as_str().into(),
        SortKey::Name => s.name.clone().into(),
        SortKey::Status => s.status.as_str().into(),
        SortKey::Size => s.size.into(),
    }
}

impl Volumes {
    /// The snapshot, if the caller may see it.
    pub async fn snapshot_get(&self, caller: &Caller<'_>, id: &str) -> Result<Snapshot> {
        let mut conn = self.conn().await?;
        store::get_snapshot(&mut conn, id)
            .await?
            .filter(|s| caller.admin || s.project_id == caller.project())
            .ok_or_else(|| snapshot_not_found(id))
    }

    async fn snapshot_for(&self, caller: &Caller<'_>, id: &str, rule: Rule) -> Result<Snapshot> {
        let s = self.snapshot_get(caller, id).await?;
        self.authorize(caller, rule, &s.project_id)?;
        Ok(s)
    }

    pub async fn snapshot_create(
        &self,
        caller: &Caller<'_>,
        req: SnapshotCreate,
    ) -> Result<Snapshot> {
        check_metadata(&req.metadata)?;
        let v = self.volume_get(caller, &req.volume_id).await?;
        self.authorize(caller, Rule::CreateSnapshot, &v.project_id)?;
        let s = Snapshot {
            id: SnapshotId::generate(),
            volume_id: v.id.clone(),
            project_id: v.project_id.clone(),
            user_id: caller.ctx.user_id.clone(),
            name: req.name,
            description: req.description,
            size: v.size,
            status: SnapshotStatus::Creating,
            metadata: req.metadata,
            created_at: now(),
            updated_at: None,
        };
        let params = sagas::CreateSnapshot {
            snapshot: s.clone(),
            force: req.force,
        };
        self.sagas
            .start(&self.me(), sagas::CREATE_SNAPSHOT, &params)
            .await?;
        Ok(s)
    }

    /// Record a new snapshot (saga step): the volume's state and the quotas checked in
    /// the same transaction.
    pub(crate) async fn record_snapshot(&self, s: &Snapshot, force: bool) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        if store::get_snapshot(&mut tx, s.id.as_str()).await?.is_some() {
            return Ok(());
        }
        let Some(v) = store::get_volume(&mut tx, s.volume_id.as_str()).await? else {
            return Err(super::volumes::volume_not_found(s.volume_id.as_str()));
        };
        let ok = v.status == Status::Available || (force && v.status == Status::InUse);
        if !ok {
            return Err(Error::bad_request(format!(
                "Invalid volume: Volume {} status must be available{}, but current status is: {}.",
                v.id,
                if v.status == Status::InUse {
                    " (or in-use with force)"
                } else {
                    ""
                },
                v.status.as_str()
            )));
        }
        self.check_quota(
            &mut tx,
            &s.project_id,
            Delta {
                snapshots: 1,
                gigabytes: s.size,
                ..Delta::default()
            },
        )
        .await?;
        store::insert_snapshot(&mut tx, s).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn set_snapshot_status(
        &self,
        id: &SnapshotId,
        from: &[SnapshotStatus],
        to: SnapshotStatus,
    ) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let Some(s) = store::get_snapshot(&mut tx, id.as_str()).await? else {
            return Ok(false);
        };
        if !from.contains(&s.status) {
            return Ok(false);
        }
        store::set_snapshot_status(&mut tx, id, to).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The backend of a snapshot's volume.
    pub(crate) async fn snapshot_backend(
        &self,
        volume: &VolumeId,
    ) -> Result<Option<std::sync::Arc<dyn crate::backend::Backend>>> {
        let mut conn = self.conn().await?;
        match store::get_volume(&mut conn, volume.as_str()).await? {
            Some(v) => self.backend(&v.backend).map(Some),
            None => Ok(None),
        }
    }

    pub async fn snapshot_list(&self, caller: &Caller<'_>, q: &ListQuery) -> Result<Vec<Snapshot>> {
        self.authorize(caller, Rule::GetAllSnapshots, caller.project())?;
        let mut conn = self.conn().await?;
        let all = store::list_snapshots(&mut conn, q.project.as_deref()).await?;
        let items = all
            .into_iter()
            .filter(|s| q.name.as_ref().is_none_or(|n| s.name.as_ref() == Some(n)))
            .filter(|s| q.status.as_ref().is_none_or(|st| s.status.as_str() == st))
            .filter(|s| {
                q.volume_id
                    .as_ref()
                    .is_none_or(|v| s.volume_id.as_str() == v)
            })
            .filter(|s| {
                q.metadata
                    .iter()
                    .all(|(k, val)| s.metadata.get(k) == Some(val))
            })
            .collect();
        page(items, q, self.cfg.osapi_max_limit, sort_value, |s| {
            s.id.as_str()
        })
    }

    pub async fn snapshot_show(&self, caller: &Caller<'_>, id: &str) -> Result<Snapshot> {
        self.snapshot_for(caller, id, Rule::GetSnapshot).await
    }

    pub async fn snapshot_update(
        &self,
        caller: &Caller<'_>,
        id: &str,
        req: SnapshotUpdate,
    ) -> Result<Snapshot> {
        let mut s = self.snapshot_for(caller, id, Rule::UpdateSnapshot).await?;
        if let Some(n) = req.name {
            s.name = n;
        }
        if let Some(d) = req.description {
            s.description = d;
        }
        s.updated_at = Some(now());
        let mut conn = self.conn().await?;
        if !store::update_snapshot(&mut conn, &s).await? {
            return Err(snapshot_not_found(id));
        }
        Ok(s)
    }

    pub async fn snapshot_delete(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        let s = self.snapshot_for(caller, id, Rule::DeleteSnapshot).await?;
        let params = sagas::DeleteSnapshot { snapshot_id: s.id };
        self.sagas
            .start(&self.me(), sagas::DELETE_SNAPSHOT, &params)
            .await?;
        Ok(())
    }

    /// Mark a snapshot deleting (saga step), refusing one in use.
    pub(crate) async fn begin_snapshot_delete(&self, id: &SnapshotId) -> Result<()> {
        let ok = [
            SnapshotStatus::Available,
            SnapshotStatus::Error,
            SnapshotStatus::ErrorDeleting,
            SnapshotStatus::Deleting,
        ];
        if self
            .set_snapshot_status(id, &ok, SnapshotStatus::Deleting)
            .await?
        {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        match store::get_snapshot(&mut conn, id.as_str()).await? {
            None => Err(snapshot_not_found(id.as_str())),
            Some(s) => Err(Error::bad_request(format!(
                "Invalid snapshot: Snapshot status must be available or error, it is {}.",
                s.status.as_str()
            ))),
        }
    }

    /// Forget a deleted snapshot (saga step).
    pub(crate) async fn purge_snapshot(&self, id: &SnapshotId) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        store::delete_snapshot(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn snapshot_metadata(&self, caller: &Caller<'_>, id: &str) -> Result<Metadata> {
        Ok(self
            .snapshot_for(caller, id, Rule::GetSnapshotMetadata)
            .await?
            .metadata)
    }

    pub async fn snapshot_metadata_set(
        &self,
        caller: &Caller<'_>,
        id: &str,
        m: Metadata,
        replace: bool,
    ) -> Result<Metadata> {
        let s = self
            .snapshot_for(caller, id, Rule::UpdateSnapshotMetadata)
            .await?;
        self.write_metadata(store::SNAPSHOT_METADATA, s.id.as_str(), m, replace)
            .await
    }

    pub async fn snapshot_metadata_delete(
        &self,
        caller: &Caller<'_>,
        id: &str,
        key: &str,
    ) -> Result<()> {
        let s = self
            .snapshot_for(caller, id, Rule::DeleteSnapshotMetadata)
            .await?;
        self.remove_metadata(store::SNAPSHOT_METADATA, "Snapshot", s.id.as_str(), key)
            .await
    }
}

impl Volumes {
    /// The volume a snapshot is of, if the snapshot is still recorded.
    pub(crate) async fn snapshot_volume(&self, id: &SnapshotId) -> Result<Option<VolumeId>> {
        let mut conn = self.conn().await?;
        Ok(store::get_snapshot(&mut conn, id.as_str())
            .await?
            .map(|s| s.volume_id))
    }
}

//! The multi-step work of the service, as sagas (see the saga crate): creating and
//! deleting volumes and snapshots. Each saga's first step runs in the request (its
//! refusal is the API's answer: over quota, a volume with snapshots); the rest runs in
//! the service's background task, which resumes what a restart interrupted.
//!
//! A create that fails unwinds: the data written is removed and the volume (snapshot)
//! ends in `error`, visible and deletable. A delete whose data cannot be removed ends
//! in `error_deleting`.

use std::sync::Arc;

use api_common::Result;
use saga::{Cx, Saga, Step};
use serde::{Deserialize, Serialize};
use types::{SnapshotId, VolumeId};

use crate::{
    model::{Snapshot, SnapshotStatus, Source, Status, Volume},
    Volumes,
};

pub const CREATE_VOLUME: &str = "volume-create";
pub const DELETE_VOLUME: &str = "volume-delete";
pub const CREATE_SNAPSHOT: &str = "snapshot-create";
pub const DELETE_SNAPSHOT: &str = "snapshot-delete";

type Ctx = Cx<Arc<Volumes>>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateVolume {
    pub volume: Volume,
    pub source: Source,
    /// The disk format of the image a volume is made from.
    pub image_format: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteVolume {
    pub volume_id: VolumeId,
    pub cascade: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateSnapshot {
    pub snapshot: Snapshot,
    pub force: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteSnapshot {
    pub snapshot_id: SnapshotId,
}

/// Every saga of the service.
pub fn all() -> Vec<Saga<Arc<Volumes>>> {
    vec![
        Saga {
            name: CREATE_VOLUME,
            steps: vec![
                Step::new("record", record_volume, volume_error),
                Step::new("data", fill_volume, remove_volume_file),
                Step::new("finish", finish_volume, unfinish_volume),
            ],
        },
        Saga {
            name: DELETE_VOLUME,
            steps: vec![
                Step::new("begin", begin_delete, volume_error_deleting),
                Step::new("data", remove_volume_data, nothing),
                Step::new("purge", purge_volume, nothing),
            ],
        },
        Saga {
            name: CREATE_SNAPSHOT,
            steps: vec![
                Step::new("record", record_snapshot, snapshot_error),
                Step::new("data", snapshot_data, remove_snapshot_file),
                Step::new("finish", finish_snapshot, unfinish_snapshot),
            ],
        },
        Saga {
            name: DELETE_SNAPSHOT,
            steps: vec![
                Step::new("begin", begin_snapshot_delete, snapshot_error_deleting),
                Step::new("data", remove_snapshot_file, nothing),
                Step::new("purge", purge_snapshot, nothing),
            ],
        },
    ]
}

async fn nothing(_: Ctx) -> Result<()> {
    Ok(())
}

// ---- volume-create

async fn record_volume(cx: Ctx) -> Result<()> {
    let p: CreateVolume = cx.params()?;
    cx.ctx().record_volume(&p.volume).await
}

async fn volume_error(cx: Ctx) -> Result<()> {
    let p: CreateVolume = cx.params()?;
    cx.ctx()
        .volume_transition(&p.volume.id, &[Status::Creating], Status::Error)
        .await
        .map(drop)
}

async fn fill_volume(cx: Ctx) -> Result<()> {
    let p: CreateVolume = cx.params()?;
    cx.ctx()
        .fill_volume(&p.volume, &p.source, p.image_format.as_deref())
        .await
}

async fn remove_volume_file(cx: Ctx) -> Result<()> {
    let p: CreateVolume = cx.params()?;
    cx.ctx()
        .backend(&p.volume.backend)?
        .delete(&p.volume.id)
        .await
}

async fn finish_volume(cx: Ctx) -> Result<()> {
    let p: CreateVolume = cx.params()?;
    cx.ctx().finish_volume(&p.volume).await
}

/// Back to `creating`, for the undo of `record` to put it in `error`.
async fn unfinish_volume(cx: Ctx) -> Result<()> {
    let p: CreateVolume = cx.params()?;
    cx.ctx()
        .volume_transition(&p.volume.id, &[Status::Available], Status::Creating)
        .await
        .map(drop)
}

// ---- volume-delete

async fn begin_delete(cx: Ctx) -> Result<()> {
    let p: DeleteVolume = cx.params()?;
    cx.ctx().begin_delete(&p.volume_id, p.cascade).await
}

async fn volume_error_deleting(cx: Ctx) -> Result<()> {
    let p: DeleteVolume = cx.params()?;
    cx.ctx()
        .volume_transition(&p.volume_id, &[Status::Deleting], Status::ErrorDeleting)
        .await
        .map(drop)
}

async fn remove_volume_data(cx: Ctx) -> Result<()> {
    let p: DeleteVolume = cx.params()?;
    cx.ctx().remove_volume_data(&p.volume_id).await
}

async fn purge_volume(cx: Ctx) -> Result<()> {
    let p: DeleteVolume = cx.params()?;
    cx.ctx().purge_volume(&p.volume_id).await
}

// ---- snapshot-create

async fn record_snapshot(cx: Ctx) -> Result<()> {
    let p: CreateSnapshot = cx.params()?;
    cx.ctx().record_snapshot(&p.snapshot, p.force).await
}

async fn snapshot_error(cx: Ctx) -> Result<()> {
    let p: CreateSnapshot = cx.params()?;
    cx.ctx()
        .set_snapshot_status(
            &p.snapshot.id,
            &[SnapshotStatus::Creating],
            SnapshotStatus::Error,
        )
        .await
        .map(drop)
}

async fn snapshot_data(cx: Ctx) -> Result<()> {
    let p: CreateSnapshot = cx.params()?;
    let Some(b) = cx.ctx().snapshot_backend(&p.snapshot.volume_id).await? else {
        return Err(api_common::Error::not_found(format!(
            "Volume {} could not be found.",
            p.snapshot.volume_id
        )));
    };
    b.create_snapshot(&p.snapshot.id, &p.snapshot.volume_id)
        .await
}

async fn finish_snapshot(cx: Ctx) -> Result<()> {
    let p: CreateSnapshot = cx.params()?;
    cx.ctx()
        .set_snapshot_status(
            &p.snapshot.id,
            &[SnapshotStatus::Creating],
            SnapshotStatus::Available,
        )
        .await
        .map(drop)
}

async fn unfinish_snapshot(cx: Ctx) -> Result<()> {
    let p: CreateSnapshot = cx.params()?;
    cx.ctx()
        .set_snapshot_status(
            &p.snapshot.id,
            &[SnapshotStatus::Available],
            SnapshotStatus::Creating,
        )
        .await
        .map(drop)
}

// ---- snapshot-delete (and the undo of snapshot-create's data)

/// The snapshot's id and volume, from either saga's params.
async fn snapshot_of(cx: &Ctx) -> Result<Option<(SnapshotId, VolumeId)>> {
    if let Ok(p) = cx.params::<CreateSnapshot>() {
        return Ok(Some((p.snapshot.id, p.snapshot.volume_id)));
    }
    let p: DeleteSnapshot = cx.params()?;
    Ok(cx
        .ctx()
        .snapshot_volume(&p.snapshot_id)
        .await?
        .map(|v| (p.snapshot_id, v)))
}

async fn remove_snapshot_file(cx: Ctx) -> Result<()> {
    let Some((id, volume)) = snapshot_of(&cx).await? else {
        return Ok(());
    };
    match cx.ctx().snapshot_backend(&volume).await? {
        Some(b) => b.delete_snapshot(&id).await,
        None => Ok(()),
    }
}

async fn begin_snapshot_delete(cx: Ctx) -> Result<()> {
    let p: DeleteSnapshot = cx.params()?;
    cx.ctx().begin_snapshot_delete(&p.snapshot_id).await
}

async fn snapshot_error_deleting(cx: Ctx) -> Result<()> {
    let p: DeleteSnapshot = cx.params()?;
    cx.ctx()
        .set_snapshot_status(
            &p.snapshot_id,
            &[SnapshotStatus::Deleting],
            SnapshotStatus::ErrorDeleting,
        )
        .await
        .map(drop)
}

async fn purge_snapshot(cx: Ctx) -> Result<()> {
    let p: DeleteSnapshot = cx.params()?;
    cx.ctx().purge_snapshot(&p.snapshot_id).await
}

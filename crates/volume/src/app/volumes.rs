//! Volumes: create (empty, from an image, a snapshot or another volume), list, show,
//! update, delete, extend, the flags, reset-status and metadata.

use std::sync::Arc;

use api_common::{Error, Result};
use serde_json::Value;
use service::client::{As, Method};
use types::{ImageId, VolumeId};

use super::{page, quotas::Delta, Caller, Volumes};
use crate::{
    backend::Backend,
    model::{
        now, ListQuery, Metadata, SnapshotStatus, SortKey, Source, Status, Volume, VolumeType,
    },
    policies::Rule,
    sagas, store,
};

const GIB: u64 = 1 << 30;

/// What a client asks for in `POST /volumes`.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreate {
    pub size: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub volume_type: Option<String>,
    pub availability_zone: Option<String>,
    pub metadata: Metadata,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub image_ref: Option<String>,
    pub multiattach: bool,
}

/// `PUT /volumes/{id}`.
#[derive(Debug, Clone, Default)]
pub struct VolumeUpdate {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub metadata: Option<Metadata>,
}

pub(crate) fn volume_not_found(id: &str) -> Error {
    Error::not_found(format!("Volume {id} could not be found."))
}

pub(crate) fn check_metadata(m: &Metadata) -> Result<()> {
    for (k, v) in m {
        if k.is_empty() || k.len() > 255 {
            return Err(Error::bad_request(format!(
                "Invalid metadata key {k:?}: it must be 1 to 255 characters."
            )));
        }
        if v.len() > 255 {
            return Err(Error::bad_request(format!(
                "Invalid metadata value of {k:?}: it must be at most 255 characters."
            )));
        }
    }
    Ok(())
}

fn invalid_volume(why: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Invalid volume: {why}"))
}

/// The volume's value of a sort key.
fn sort_value(v: &Volume, k: SortKey) -> Value {
    match k {
        SortKey::CreatedAt => v.created_at.clone().into(),
        SortKey::UpdatedAt => v.updated_at.clone().into(),
        SortKey::Id => v.id.as_str().into(),
        SortKey::Name => v.name.clone().into(),
        SortKey::Status => v.status.as_str().into(),
        SortKey::Size => v.size.into(),
    }
}

/// What the Image service says of an image a volume is made from.
struct ImageInfo {
    size: Option<u64>,
    min_disk: i64,
    disk_format: String,
}

impl Volumes {
    /// The volume, if the caller may see it (404 otherwise, as for no volume at all).
    pub async fn volume_get(&self, caller: &Caller<'_>, id: &str) -> Result<Volume> {
        let mut conn = self.conn().await?;
        let v = store::get_volume(&mut conn, id)
            .await?
            .filter(|v| caller.admin || v.project_id == caller.project())
            .ok_or_else(|| volume_not_found(id))?;
        Ok(v)
    }

    /// The volume, authorized for `rule`.
    async fn volume_for(&self, caller: &Caller<'_>, id: &str, rule: Rule) -> Result<Volume> {
        let v = self.volume_get(caller, id).await?;
        self.authorize(caller, rule, &v.project_id)?;
        Ok(v)
    }

    /// Pick a backend for a volume of `size_gb` of type `t`: those of the type's
    /// `volume_backend_name` (any without one), with room, the most free first.
    async fn schedule(&self, t: &VolumeType, size_gb: u64) -> Result<Arc<dyn Backend>> {
        let mut best: Option<(u64, Arc<dyn Backend>)> = None;
        for b in &self.backends {
            if t.backend_name().is_some_and(|n| n != b.name()) {
                continue;
            }
            let free = b.capacity().await?.free_gb;
            if free >= size_gb && best.as_ref().is_none_or(|(f, _)| free > *f) {
                best = Some((free, b.clone()));
            }
        }
        best.map(|(_, b)| b).ok_or_else(|| {
            Error::bad_request(format!(
                "No valid backend was found: no backend{} has {size_gb}GB free.",
                t.backend_name()
                    .map(|n| format!(" named {n}"))
                    .unwrap_or_default()
            ))
        })
    }

    async fn image_info(&self, caller: &Caller<'_>, id: &ImageId) -> Result<ImageInfo> {
        let v = self
            .image
            .json(
                As::User(&caller.ctx.token),
                Method::GET,
                &format!("/v2/images/{id}"),
                None,
            )
            .await
            .map_err(|e| match e.kind {
                api_common::ErrorKind::NotFound | api_common::ErrorKind::Forbidden => {
                    Error::bad_request(
                        "Invalid image identifier or unable to access requested image.",
                    )
                }
                _ => e,
            })?;
        if v["status"] != "active" {
            return Err(Error::bad_request(format!("Image {id} is not active.")));
        }
        Ok(ImageInfo {
            size: v["size"].as_u64(),
            min_disk: v["min_disk"].as_i64().unwrap_or(0),
            disk_format: v["disk_format"].as_str().unwrap_or("raw").to_owned(),
        })
    }

    pub async fn volume_create(&self, caller: &Caller<'_>, req: VolumeCreate) -> Result<Volume> {
        self.authorize(caller, Rule::CreateVolume, caller.project())?;
        check_metadata(&req.metadata)?;
        if req.multiattach {
            return Err(Error::bad_request(
                "Multiattach volumes are not supported by this cloud's backends.",
            ));
        }
        let given = [&req.snapshot_id, &req.source_volid, &req.image_ref]
            .iter()
            .filter(|s| s.is_some())
            .count();
        if given > 1 {
            return Err(Error::bad_request(
                "Invalid input received: only one of snapshot_id, source_volid and imageRef may be given.",
            ));
        }
        if let Some(s) = req.size {
            if s <= 0 {
                return Err(Error::bad_request(format!(
                    "Invalid input received: Volume size '{s}' must be an integer and greater than 0."
                )));
            }
        }
        let mut size = req.size;
        let mut source_type = None;
        let mut image_format = None;
        let source = if let Some(sid) = &req.snapshot_id {
            let snap = self.snapshot_get(caller, sid).await?;
            if snap.status != SnapshotStatus::Available {
                return Err(Error::bad_request(
                    "Invalid snapshot: Originating snapshot status must be one of 'available' values.",
                ));
            }
            let s = *size.get_or_insert(snap.size);
            if s < snap.size {
                return Err(Error::bad_request(format!(
                    "Invalid input received: Volume size {s}GB cannot be smaller than the snapshot size {}GB. They must be >= original snapshot size.",
                    snap.size
                )));
            }
            let mut conn = self.conn().await?;
            source_type = store::get_volume(&mut conn, snap.volume_id.as_str())
                .await?
                .map(|v| v.volume_type_id.to_string());
            Source::Snapshot(snap.id)
        } else if let Some(vid) = &req.source_volid {
            let src = self.volume_get(caller, vid).await?;
            if src.status != Status::Available {
                return Err(invalid_volume(format!(
                    "Source volume status must be available, it is {}.",
                    src.status.as_str()
                )));
            }
            let s = *size.get_or_insert(src.size);
            if s < src.size {
                return Err(Error::bad_request(format!(
                    "Invalid input received: Volume size {s}GB cannot be smaller than original volume size {}GB. They must be >= original volume size.",
                    src.size
                )));
            }
            source_type = Some(src.volume_type_id.to_string());
            Source::Volume(src.id)
        } else if let Some(image) = &req.image_ref {
            let id = ImageId::parse(image).map_err(|_| {
                Error::bad_request("Invalid image identifier or unable to access requested image.")
            })?;
            let info = self.image_info(caller, &id).await?;
            let s = size.ok_or_else(|| {
                Error::bad_request(
                    "Invalid input received: size is required to create a volume from an image.",
                )
            })?;
            let image_gb = info.size.map(|b| b.div_ceil(GIB)).unwrap_or(0);
            if i64::try_from(image_gb).unwrap_or(i64::MAX) > s {
                return Err(Error::bad_request(format!(
                    "Invalid input received: Size of specified image {image_gb}GB is larger than volume size {s}GB."
                )));
            }
            if info.min_disk > s {
                return Err(Error::bad_request(format!(
                    "Invalid input received: Volume size {s}GB cannot be smaller than the image minDisk size {}GB.",
                    info.min_disk
                )));
            }
            image_format = Some(info.disk_format);
            Source::Image(id)
        } else {
            Source::Empty
        };
        let size = size.ok_or_else(|| {
            Error::bad_request("Invalid input received: size is required to create a volume.")
        })?;
        let type_name = req
            .volume_type
            .clone()
            .or(source_type)
            .unwrap_or_else(|| self.cfg.default_volume_type.clone());
        let vtype = self.find_type(caller, &type_name).await?;
        let az = req
            .availability_zone
            .clone()
            .unwrap_or_else(|| self.cfg.availability_zone.clone());
        if az != self.cfg.availability_zone {
            return Err(Error::bad_request(format!(
                "Invalid input received: Availability zone '{az}' is invalid."
            )));
        }
        let backend = self
            .schedule(&vtype, u64::try_from(size).unwrap_or(u64::MAX))
            .await?;
        let v = Volume {
            id: VolumeId::generate(),
            project_id: caller.project().to_owned(),
            user_id: caller.ctx.user_id.clone(),
            name: req.name,
            description: req.description,
            size,
            status: Status::Creating,
            availability_zone: az,
            bootable: false,
            readonly: false,
            volume_type_id: vtype.id.clone(),
            volume_type_name: vtype.name.clone(),
            snapshot_id: match &source {
                Source::Snapshot(s) => Some(s.clone()),
                _ => None,
            },
            source_volid: match &source {
                Source::Volume(s) => Some(s.clone()),
                _ => None,
            },
            image_id: match &source {
                Source::Image(i) => Some(i.clone()),
                _ => None,
            },
            host: backend.host(),
            backend: backend.name().to_owned(),
            metadata: req.metadata,
            created_at: now(),
            updated_at: None,
        };
        let params = sagas::CreateVolume {
            volume: v.clone(),
            source,
            image_format,
        };
        self.sagas
            .start(&self.me(), sagas::CREATE_VOLUME, &params)
            .await?;
        Ok(v)
    }

    /// The `Arc` of this service, for the sagas' context.
    pub(crate) fn me(&self) -> Arc<Volumes> {
        self.this
            .upgrade()
            .expect("the service outlives its requests")
    }

    /// Record a new volume (saga step): quota checked in the same transaction; an id
    /// already recorded is the step done.
    pub(crate) async fn record_volume(&self, v: &Volume) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        if store::get_volume(&mut tx, v.id.as_str()).await?.is_some() {
            return Ok(());
        }
        self.check_quota(
            &mut tx,
            &v.project_id,
            Delta {
                volumes: 1,
                gigabytes: v.size,
                volume_size: Some(v.size),
                ..Delta::default()
            },
        )
        .await?;
        store::insert_volume(&mut tx, v).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Move a volume between statuses (compare-and-set).
    pub(crate) async fn volume_transition(
        &self,
        id: &VolumeId,
        from: &[Status],
        to: Status,
    ) -> Result<bool> {
        let mut conn = self.conn().await?;
        store::volume_transition(&mut conn, id, from, to).await
    }

    /// Write a volume's data from its source (saga step).
    pub(crate) async fn fill_volume(
        &self,
        v: &Volume,
        source: &Source,
        image_format: Option<&str>,
    ) -> Result<()> {
        let b = self.backend(&v.backend)?;
        let size = u64::try_from(v.size).map_err(Error::internal)?;
        match source {
            Source::Empty => b.create(&v.id, size).await,
            Source::Volume(src) => b.clone_volume(&v.id, src, size).await,
            Source::Snapshot(s) => b.create_from_snapshot(&v.id, s, size).await,
            Source::Image(image) => {
                let scratch = b.scratch(&v.id);
                let r = async {
                    self.download(image, &scratch).await?;
                    b.create_from_image(&v.id, size, &scratch, image_format.unwrap_or("raw"))
                        .await
                }
                .await;
                let _ = tokio::fs::remove_file(&scratch).await;
                r
            }
        }
    }

    /// An image's data into `dest`, as the service user sees it.
    async fn download(&self, image: &ImageId, dest: &std::path::Path) -> Result<()> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let b = self
            .image
            .request(
                As::Service,
                Method::GET,
                &format!("/v2/images/{image}/file"),
            )
            .await?;
        let resp = self.image.send(b).await?;
        let mut f = tokio::fs::File::create(dest)
            .await
            .map_err(|e| Error::internal(format!("cannot create {}: {e}", dest.display())))?;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                Error::unavailable("The image service's download was cut.").with_detail(e)
            })?;
            f.write_all(&chunk)
                .await
                .map_err(|e| Error::internal(format!("cannot write {}: {e}", dest.display())))?;
        }
        f.flush()
            .await
            .map_err(|e| Error::internal(format!("cannot write {}: {e}", dest.display())))
    }

    /// A created volume becomes available (saga step); one made from an image is
    /// bootable.
    pub(crate) async fn finish_volume(&self, v: &Volume) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let Some(mut cur) = store::get_volume(&mut tx, v.id.as_str()).await? else {
            return Err(volume_not_found(v.id.as_str()));
        };
        if cur.status != Status::Creating {
            return Ok(());
        }
        cur.status = Status::Available;
        cur.bootable = v.image_id.is_some() || cur.bootable;
        if let Some(src) = &v.source_volid {
            cur.bootable = store::get_volume(&mut tx, src.as_str())
                .await?
                .is_some_and(|s| s.bootable);
        }
        cur.updated_at = Some(now());
        store::update_volume(&mut tx, &cur).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn volume_list(&self, caller: &Caller<'_>, q: &ListQuery) -> Result<Vec<Volume>> {
        self.authorize(caller, Rule::GetAllVolumes, caller.project())?;
        let mut conn = self.conn().await?;
        let all = store::list_volumes(&mut conn, q.project.as_deref()).await?;
        let items = all
            .into_iter()
            .filter(|v| q.name.as_ref().is_none_or(|n| v.name.as_ref() == Some(n)))
            .filter(|v| q.status.as_ref().is_none_or(|s| v.status.as_str() == s))
            .filter(|v| {
                q.metadata
                    .iter()
                    .all(|(k, val)| v.metadata.get(k) == Some(val))
            })
            .collect();
        page(items, q, self.cfg.osapi_max_limit, sort_value, |v| {
            v.id.as_str()
        })
    }

    pub async fn volume_show(&self, caller: &Caller<'_>, id: &str) -> Result<Volume> {
        self.volume_for(caller, id, Rule::GetVolume).await
    }

    pub async fn volume_update(
        &self,
        caller: &Caller<'_>,
        id: &str,
        req: VolumeUpdate,
    ) -> Result<Volume> {
        let mut v = self.volume_for(caller, id, Rule::UpdateVolume).await?;
        if let Some(m) = &req.metadata {
            check_metadata(m)?;
        }
        if let Some(n) = req.name {
            v.name = n;
        }
        if let Some(d) = req.description {
            v.description = d;
        }
        v.updated_at = Some(now());
        let mut tx = self.db.begin_write().await?;
        if !store::update_volume(&mut tx, &v).await? {
            return Err(volume_not_found(id));
        }
        if let Some(m) = req.metadata {
            store::VOLUME_METADATA
                .replace(&mut tx, v.id.as_str(), &m)
                .await?;
            v.metadata = m;
        }
        tx.commit().await?;
        Ok(v)
    }

    /// Delete a volume (with its snapshots when `cascade`); the work goes on in the
    /// background (status `deleting`).
    pub async fn volume_delete(&self, caller: &Caller<'_>, id: &str, cascade: bool) -> Result<()> {
        let v = self.volume_for(caller, id, Rule::DeleteVolume).await?;
        let params = sagas::DeleteVolume {
            volume_id: v.id,
            cascade,
        };
        self.sagas
            .start(&self.me(), sagas::DELETE_VOLUME, &params)
            .await?;
        Ok(())
    }

    /// Mark a volume deleting (saga step), refusing what Cinder refuses.
    pub(crate) async fn begin_delete(&self, id: &VolumeId, cascade: bool) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let Some(v) = store::get_volume(&mut tx, id.as_str()).await? else {
            return Err(volume_not_found(id.as_str()));
        };
        if v.status == Status::Deleting {
            return Ok(());
        }
        if !v.status.deletable() {
            return Err(invalid_volume(format!(
                "Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots or be disassociated from snapshots after volume transfer (it is {}).",
                v.status.as_str()
            )));
        }
        let snaps = store::volume_snapshots(&mut tx, id).await?;
        if !snaps.is_empty() && !cascade {
            return Err(invalid_volume(format!(
                "Volume still has {} dependent snapshots. Delete them first, or delete the volume with cascade.",
                snaps.len()
            )));
        }
        if let Some(s) = snaps.iter().find(|s| {
            !matches!(
                s.status,
                SnapshotStatus::Available | SnapshotStatus::Error | SnapshotStatus::ErrorDeleting
            )
        }) {
            return Err(invalid_volume(format!(
                "Snapshot {} is {}: a cascade delete needs every snapshot available or in error.",
                s.id,
                s.status.as_str()
            )));
        }
        for s in &snaps {
            store::set_snapshot_status(&mut tx, &s.id, SnapshotStatus::Deleting).await?;
        }
        store::volume_transition(&mut tx, id, &[v.status], Status::Deleting).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remove a deleting volume's data and its snapshots' (saga step).
    pub(crate) async fn remove_volume_data(&self, id: &VolumeId) -> Result<()> {
        let mut conn = self.conn().await?;
        let Some(v) = store::get_volume(&mut conn, id.as_str()).await? else {
            return Ok(());
        };
        let b = self.backend(&v.backend)?;
        for s in store::volume_snapshots(&mut conn, id).await? {
            b.delete_snapshot(&s.id).await?;
        }
        b.delete(id).await
    }

    /// Forget a deleted volume and its snapshots (saga step).
    pub(crate) async fn purge_volume(&self, id: &VolumeId) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        for s in store::volume_snapshots(&mut tx, id).await? {
            store::delete_snapshot(&mut tx, &s.id).await?;
        }
        store::delete_volume(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `os-extend`: grow an available volume (quota checked).
    pub async fn volume_extend(&self, caller: &Caller<'_>, id: &str, new_size: i64) -> Result<()> {
        let v = self.volume_for(caller, id, Rule::ExtendVolume).await?;
        if v.status != Status::Available {
            return Err(invalid_volume(format!(
                "Volume status must be 'available' to extend, it is {}.",
                v.status.as_str()
            )));
        }
        if new_size <= v.size {
            return Err(Error::bad_request(format!(
                "Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {new_size}).",
                v.size
            )));
        }
        let mut tx = self.db.begin_write().await?;
        self.check_quota(
            &mut tx,
            &v.project_id,
            Delta {
                gigabytes: new_size - v.size,
                volume_size: Some(new_size),
                ..Delta::default()
            },
        )
        .await?;
        if !store::volume_transition(&mut tx, &v.id, &[Status::Available], Status::Extending)
            .await?
        {
            return Err(invalid_volume(
                "Volume status must be 'available' to extend.",
            ));
        }
        tx.commit().await?;
        let grown = self
            .backend(&v.backend)?
            .extend(&v.id, u64::try_from(new_size).map_err(Error::internal)?)
            .await;
        let mut tx = self.db.begin_write().await?;
        let Some(mut cur) = store::get_volume(&mut tx, v.id.as_str()).await? else {
            return Err(volume_not_found(id));
        };
        match &grown {
            Ok(()) => {
                cur.size = new_size;
                cur.status = Status::Available;
            }
            Err(_) => cur.status = Status::ErrorExtending,
        }
        cur.updated_at = Some(now());
        store::update_volume(&mut tx, &cur).await?;
        tx.commit().await?;
        grown
    }

    /// `os-set_bootable`.
    pub async fn volume_set_bootable(
        &self,
        caller: &Caller<'_>,
        id: &str,
        bootable: bool,
    ) -> Result<()> {
        let mut v = self.volume_for(caller, id, Rule::UpdateVolume).await?;
        v.bootable = bootable;
        self.write_volume(&mut v).await
    }

    /// `os-update_readonly_flag`.
    pub async fn volume_set_readonly(
        &self,
        caller: &Caller<'_>,
        id: &str,
        readonly: bool,
    ) -> Result<()> {
        let mut v = self
            .volume_for(caller, id, Rule::UpdateReadonlyFlag)
            .await?;
        if !matches!(v.status, Status::Available | Status::InUse) {
            return Err(invalid_volume(format!(
                "Volume status must be available or in-use to update its read-only flag, it is {}.",
                v.status.as_str()
            )));
        }
        v.readonly = readonly;
        self.write_volume(&mut v).await
    }

    /// `os-reset_status` (admins).
    pub async fn volume_reset_status(
        &self,
        caller: &Caller<'_>,
        id: &str,
        status: &str,
    ) -> Result<()> {
        let mut v = self.volume_for(caller, id, Rule::ResetVolumeStatus).await?;
        v.status = Status::parse(status).ok_or_else(|| {
            Error::bad_request(format!(
                "Invalid input received: Must specify a valid status, not {status:?}."
            ))
        })?;
        self.write_volume(&mut v).await
    }

    async fn write_volume(&self, v: &mut Volume) -> Result<()> {
        v.updated_at = Some(now());
        let mut conn = self.conn().await?;
        if !store::update_volume(&mut conn, v).await? {
            return Err(volume_not_found(v.id.as_str()));
        }
        Ok(())
    }

    pub async fn volume_metadata(&self, caller: &Caller<'_>, id: &str) -> Result<Metadata> {
        Ok(self
            .volume_for(caller, id, Rule::GetVolumeMetadata)
            .await?
            .metadata)
    }

    /// Set metadata: merged with what is there, or (`replace`) instead of it. The whole
    /// metadata after the change is returned.
    pub async fn volume_metadata_set(
        &self,
        caller: &Caller<'_>,
        id: &str,
        m: Metadata,
        replace: bool,
    ) -> Result<Metadata> {
        let rule = if replace {
            Rule::UpdateVolumeMetadata
        } else {
            Rule::CreateVolumeMetadata
        };
        let v = self.volume_for(caller, id, rule).await?;
        self.write_metadata(store::VOLUME_METADATA, v.id.as_str(), m, replace)
            .await
    }

    pub async fn volume_metadata_delete(
        &self,
        caller: &Caller<'_>,
        id: &str,
        key: &str,
    ) -> Result<()> {
        let v = self
            .volume_for(caller, id, Rule::DeleteVolumeMetadata)
            .await?;
        self.remove_metadata(store::VOLUME_METADATA, "Volume", v.id.as_str(), key)
            .await
    }
}

impl Volumes {
    /// Set metadata of a volume or snapshot (`replace`: instead of what is there); the
    /// whole metadata after the change.
    pub(crate) async fn write_metadata(
        &self,
        pairs: store::Pairs,
        owner: &str,
        m: Metadata,
        replace: bool,
    ) -> Result<Metadata> {
        check_metadata(&m)?;
        let mut tx = self.db.begin_write().await?;
        if replace {
            pairs.replace(&mut tx, owner, &m).await?;
        } else {
            pairs.upsert(&mut tx, owner, &m).await?;
        }
        let out = pairs.get(&mut tx, owner).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Remove one key of a volume's or snapshot's (`what`) metadata.
    pub(crate) async fn remove_metadata(
        &self,
        pairs: store::Pairs,
        what: &str,
        owner: &str,
        key: &str,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        if !pairs.remove(&mut conn, owner, key).await? {
            return Err(Error::not_found(format!(
                "{what} {owner} has no metadata with key {key}."
            )));
        }
        Ok(())
    }
}

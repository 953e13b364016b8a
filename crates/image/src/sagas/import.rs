//! Interoperable import as a saga.
//!
//! `glance-direct`: lock -> store (staged data copied into the store, hashed and
//! inspected on the way) -> activate -> unstage. `web-download`: lock -> store (the
//! data downloaded into the store) -> activate.
//!
//! The image itself is the lock: `lock` moves it to `importing` with the saga's id in
//! the property `os_glance_import_task` (as Glance's import lock), and every later step
//! and undo acts only while the image still carries that id. Unwinding ends the image
//! as Glance leaves a failed import: `queued`, `os_glance_failed_import` naming the
//! store, the staged data gone, nothing in the store. A failure in `lock` itself (the
//! image changed in the meantime) leaves the image as it was.

use std::sync::Arc;

use api_common::{Error, ErrorKind, Result};
use futures::StreamExt;
use saga::{Cx, Saga, Step};
use serde::{Deserialize, Serialize};

use crate::{
    app::Digest,
    backend::ByteStream,
    model::{now, ImageRecord, Status},
    Image,
};

/// Properties Glance uses to show import progress.
pub const IMPORTING: &str = "os_glance_importing_to_stores";
pub const FAILED: &str = "os_glance_failed_import";
/// The import lock: the id of the saga importing the image.
pub const LOCK: &str = "os_glance_import_task";

pub const GLANCE_DIRECT: &str = "image-import-glance-direct";
pub const WEB_DOWNLOAD: &str = "image-import-web-download";

/// What an import saga is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    pub image_id: String,
    /// The status the image was in when the import was accepted (`queued` for
    /// web-download, `uploading` for glance-direct).
    pub from: String,
    /// For web-download.
    pub uri: Option<String>,
}

/// What `store` leaves: where the data is and what it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub location: String,
    pub digest: Digest,
}

type Ctx = Cx<Arc<Image>>;

pub fn glance_direct() -> Saga<Arc<Image>> {
    Saga {
        name: GLANCE_DIRECT,
        steps: vec![
            Step::new("lock", lock, unlock),
            Step::new("store", store, unstore),
            Step::new("activate", activate, deactivate),
            Step::new("unstage", unstage, nothing),
        ],
    }
}

pub fn web_download() -> Saga<Arc<Image>> {
    Saga {
        name: WEB_DOWNLOAD,
        steps: vec![
            Step::new("lock", lock, unlock),
            Step::new("store", store, unstore),
            Step::new("activate", activate, deactivate),
        ],
    }
}

fn gone() -> Error {
    Error::new(ErrorKind::Gone, "The image was deleted during its import.")
}

fn held_by(img: &ImageRecord, saga_id: &str) -> bool {
    img.status == Status::Importing && img.properties.get(LOCK) == Some(&Some(saga_id.into()))
}

/// The image, if this saga holds it.
async fn held(cx: &Ctx, p: &Params) -> Result<Option<ImageRecord>> {
    Ok(cx
        .ctx()
        .tables
        .image(&p.image_id)
        .await?
        .filter(|img| held_by(img, cx.saga_id())))
}

/// queued/uploading -> importing, locked by this saga.
async fn lock(cx: Ctx) -> Result<()> {
    let p: Params = cx.params()?;
    let svc = cx.ctx();
    let img = svc.tables.image(&p.image_id).await?.ok_or_else(gone)?;
    if held_by(&img, cx.saga_id()) {
        return Ok(());
    }
    let busy = || {
        Error::conflict(format!(
            "New operation on image '{}' is not permitted as prior operation is still in progress",
            p.image_id
        ))
    };
    let from = Status::parse(&p.from).ok_or_else(|| Error::internal("bad import status"))?;
    if img.status != from {
        return Err(busy());
    }
    let mut importing = img;
    importing.status = Status::Importing;
    let props = &mut importing.properties;
    props.insert(IMPORTING.into(), Some(svc.store.id().into()));
    props.insert(FAILED.into(), Some(String::new()));
    props.insert(LOCK.into(), Some(cx.saga_id().into()));
    importing.updated_at = now();
    if !svc.tables.update_image(&importing, Some(from)).await? {
        return Err(busy());
    }
    Ok(())
}

/// A failed import: back to queued, marked failed, its staged data gone.
async fn unlock(cx: Ctx) -> Result<()> {
    let p: Params = cx.params()?;
    let svc = cx.ctx();
    let Some(mut img) = held(&cx, &p).await? else {
        return Ok(());
    };
    // First the data, then the record: a crash between leaves a locked image, and
    // this undo runs again.
    svc.staging
        .delete(&svc.staged_location(&p.image_id))
        .await?;
    img.status = Status::Queued;
    img.size = None;
    img.virtual_size = None;
    img.properties.insert(IMPORTING.into(), Some(String::new()));
    img.properties
        .insert(FAILED.into(), Some(svc.store.id().into()));
    img.properties.remove(LOCK);
    img.updated_at = now();
    svc.tables
        .update_image(&img, Some(Status::Importing))
        .await?;
    Ok(())
}

/// The data, from the stage or the web, into the store: hashed and inspected on the
/// way; refused data is not kept.
async fn store(cx: Ctx) -> Result<Stored> {
    let p: Params = cx.params()?;
    let svc = cx.ctx();
    let img = held(&cx, &p).await?.ok_or_else(gone)?;
    let allowance = svc.data_allowance(img.owner.as_deref(), None).await?;
    let data: ByteStream = match &p.uri {
        None => {
            svc.staging
                .get(&svc.staged_location(&p.image_id), None)
                .await?
        }
        Some(uri) => {
            let resp = svc.http.get(uri).send().await.map_err(|e| {
                Error::bad_request("The image could not be downloaded.").with_detail(e)
            })?;
            if !resp.status().is_success() {
                return Err(Error::bad_request(format!(
                    "The image could not be downloaded: HTTP {}",
                    resp.status()
                )));
            }
            resp.bytes_stream()
                .map(|r| {
                    r.map_err(|e| Error::bad_request("The image download failed.").with_detail(e))
                })
                .boxed()
        }
    };
    let (location, digest) = svc.ingest(&img, data, allowance).await?;
    Ok(Stored { location, digest })
}

/// Remove the stored data, unless the image record points at it.
async fn unstore(cx: Ctx) -> Result<()> {
    let p: Params = cx.params()?;
    let svc = cx.ctx();
    let loc = svc.store.location(&p.image_id);
    let image = svc.tables.image(&p.image_id).await?;
    if image.and_then(|i| i.location).as_deref() == Some(loc.as_str()) {
        return Ok(());
    }
    svc.store.delete(&loc).await
}

/// importing -> active, with the stored data; the lock is dropped.
async fn activate(cx: Ctx) -> Result<()> {
    let p: Params = cx.params()?;
    let svc = cx.ctx();
    let stored: Stored = cx
        .output("store")?
        .ok_or_else(|| Error::internal("the store step has no output"))?;
    let img = svc.tables.image(&p.image_id).await?.ok_or_else(gone)?;
    if img.status == Status::Active && img.location.as_deref() == Some(stored.location.as_str()) {
        return Ok(());
    }
    if !held_by(&img, cx.saga_id()) {
        return Err(gone());
    }
    let mut done = img;
    done.properties
        .insert(IMPORTING.into(), Some(String::new()));
    done.properties.remove(LOCK);
    if !svc
        .activate(done, Status::Importing, stored.location, stored.digest)
        .await?
    {
        return Err(gone());
    }
    Ok(())
}

/// active -> importing again, locked, without data (the data itself is `unstore`'s).
async fn deactivate(cx: Ctx) -> Result<()> {
    let p: Params = cx.params()?;
    let svc = cx.ctx();
    let loc = svc.store.location(&p.image_id);
    let Some(mut img) = svc.tables.image(&p.image_id).await? else {
        return Ok(());
    };
    if img.status != Status::Active || img.location.as_deref() != Some(loc.as_str()) {
        return Ok(());
    }
    img.status = Status::Importing;
    img.location = None;
    img.checksum = None;
    img.os_hash_algo = None;
    img.os_hash_value = None;
    img.size = None;
    img.virtual_size = None;
    img.properties
        .insert(IMPORTING.into(), Some(svc.store.id().into()));
    img.properties
        .insert(LOCK.into(), Some(cx.saga_id().into()));
    img.updated_at = now();
    svc.tables.update_image(&img, Some(Status::Active)).await?;
    Ok(())
}

/// The staged data is spent.
async fn unstage(cx: Ctx) -> Result<()> {
    let p: Params = cx.params()?;
    let svc = cx.ctx();
    svc.staging.delete(&svc.staged_location(&p.image_id)).await
}

async fn nothing(_: Ctx) -> Result<()> {
    Ok(())
}

//! Image data: upload, download, staging and interoperable import, and registering a
//! local file. Data streams through; it is hashed (md5 `checksum`, sha512
//! `os_hash_value`) and inspected on the way, and a store only keeps what passed.

use crate::policies::Rule;
use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use api_common::{Error, ErrorKind, Result};
use bytes::Bytes;
use futures::StreamExt;
use md5::{Digest as _, Md5};

use serde_json::Value;
use sha2::Sha512;

use super::{Caller, Image};
use crate::{
    backend::ByteStream,
    config::HashAlgo,
    format::{self, Inspector},
    model::*,
    sagas::import,
};

/// The import methods this site offers.
pub const IMPORT_METHODS: &[&str] = &["glance-direct", "web-download"];

/// An upload request.
pub struct Upload {
    /// The size the client announced (`x-openstack-image-size` or `Content-Length`).
    pub size: Option<u64>,
    /// The store the client asked for (`x-image-meta-store`).
    pub store: Option<String>,
    pub data: ByteStream,
}

/// What a download sends.
pub struct Download {
    /// `None` when the image has no data (Glance answers 204).
    pub data: Option<ByteStream>,
    /// The image's size.
    pub size: u64,
    /// The bytes `[start, end)` sent, for a range request.
    pub range: Option<(u64, u64)>,
    pub checksum: Option<String>,
}

/// A validated import request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    pub method: String,
    pub uri: Option<String>,
    pub stores: Vec<String>,
}

impl ImportRequest {
    /// Validate an import body as Glance does; `header_store` is `x-image-meta-store`.
    pub fn from_body(body: &Value, header_store: Option<&str>) -> Result<ImportRequest> {
        let method = body
            .get("method")
            .ok_or_else(|| Error::bad_request("Import request requires a 'method' field."))?;
        let name = method
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::bad_request("Import request requires a 'name' field."))?;
        if !IMPORT_METHODS.contains(&name) {
            return Err(Error::bad_request(format!(
                "Unknown import method name '{name}'."
            )));
        }
        for (k, default) in [("all_stores_must_succeed", true), ("all_stores", false)] {
            if !body
                .get(k)
                .map_or(Value::Bool(default), Clone::clone)
                .is_boolean()
            {
                return Err(Error::bad_request(format!(
                    "'{k}' must be boolean value only"
                )));
            }
        }
        let mut stores: Vec<String> = body
            .get("stores")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if stores.is_empty() {
            if let Some(h) = header_store {
                stores.push(h.to_owned());
            }
        }
        Ok(ImportRequest {
            method: name.to_owned(),
            uri: method.get("uri").and_then(Value::as_str).map(str::to_owned),
            stores,
        })
    }
}

/// Whether web-download may fetch `uri`: http(s), and matching an allowed URL prefix
/// (same scheme, host and port, path below it) or an allowed `host[:port]`.
pub fn uri_allowed(allowed: &[String], uri: &str) -> bool {
    let Ok(u) = url::Url::parse(uri) else {
        return false;
    };
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return false;
    }
    allowed.iter().any(|a| {
        if a.contains("://") {
            let Ok(p) = url::Url::parse(a) else {
                return false;
            };
            let dir = p.path();
            p.scheme() == u.scheme()
                && p.host_str() == u.host_str()
                && p.port_or_known_default() == u.port_or_known_default()
                && (u.path() == dir.trim_end_matches('/')
                    || u.path()
                        .starts_with(&format!("{}/", dir.trim_end_matches('/'))))
        } else {
            match a.rsplit_once(':') {
                Some((h, port)) if port.parse::<u16>().is_ok() => {
                    u.host_str() == Some(h)
                        && u.port_or_known_default().map(|p| p.to_string()).as_deref() == Some(port)
                }
                _ => u.host_str() == Some(a.as_str()),
            }
        }
    })
}

/// What the data turned out to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Digest {
    pub size: u64,
    pub md5: String,
    /// The `os_hash_value`.
    pub sha512: String,
    pub virtual_size: Option<u64>,
}

/// How a data stream is checked on its way to a store.
struct Checks {
    /// Most bytes allowed, and the error past it.
    limit: u64,
    over: Error,
    /// Inspect against this disk format (Glance inspects `bare` containers only).
    inspect: Option<String>,
    require_match: bool,
    hash: HashAlgo,
}

/// The size of the batches data moves in on its way to a store.
const BATCH: usize = 256 * 1024;

/// A hash computed on its own thread, so md5 and sha512 run in parallel with each
/// other and with the transfer.
struct Hasher {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    done: tokio::task::JoinHandle<String>,
}

impl Hasher {
    fn spawn<D: md5::Digest + Send + 'static>(mut d: D) -> Hasher {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(32);
        let done = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                d.update(&chunk);
            }
            hex::encode(d.finalize())
        });
        Hasher { tx, done }
    }

    async fn update(&self, chunk: &Bytes) {
        // The thread only stops when the sender is dropped.
        let _ = self.tx.send(chunk.clone()).await;
    }

    async fn finish(self) -> String {
        drop(self.tx);
        self.done.await.unwrap_or_default()
    }
}

/// Wrap `data` to hash, count and inspect it. The verdict comes at the end of the
/// stream: a refusal is yielded as the stream's last item, so the store discards what
/// it wrote. The digest is left in `out` when the stream ended well.
fn checked(data: ByteStream, checks: Checks, out: Arc<Mutex<Option<Digest>>>) -> ByteStream {
    struct State {
        data: ByteStream,
        checks: Checks,
        hashers: Option<(Hasher, Hasher)>,
        inspector: Option<Inspector>,
        size: u64,
        pending: bytes::BytesMut,
        out: Arc<Mutex<Option<Digest>>>,
        done: bool,
    }
    let inspector = checks.inspect.as_ref().map(|_| Inspector::new());
    let os_hash = match checks.hash {
        HashAlgo::Sha512 => Hasher::spawn(Sha512::new()),
        HashAlgo::Sha256 => Hasher::spawn(sha2::Sha256::new()),
    };
    let hashers = Some((Hasher::spawn(Md5::new()), os_hash));
    let st = State {
        data,
        checks,
        hashers,
        inspector,
        size: 0,
        pending: bytes::BytesMut::new(),
        out,
        done: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        // Gather the client's (often small) chunks into batches, so the hash threads and
        // the store's writer are woken once per batch, not once per network read.
        let batch = loop {
            match st.data.next().await {
                Some(Ok(chunk)) => {
                    st.size += chunk.len() as u64;
                    if st.size > st.checks.limit {
                        st.done = true;
                        let e = st.checks.over.clone();
                        return Some((Err(e), st));
                    }
                    if st.pending.is_empty() && chunk.len() >= BATCH {
                        break Some(chunk);
                    }
                    st.pending.extend_from_slice(&chunk);
                    if st.pending.len() >= BATCH {
                        break Some(st.pending.split().freeze());
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None if !st.pending.is_empty() => break Some(st.pending.split().freeze()),
                None => break None,
            }
        };
        match batch {
            Some(chunk) => {
                if let Some((md5, sha)) = &st.hashers {
                    md5.update(&chunk).await;
                    sha.update(&chunk).await;
                }
                if let Some(i) = &mut st.inspector {
                    i.eat(&chunk);
                }
                Some((Ok(chunk), st))
            }
            None => {
                st.done = true;
                let (md5, sha) = st.hashers.take()?;
                let mut d = Digest {
                    size: st.size,
                    md5: md5.finish().await,
                    sha512: sha.finish().await,
                    virtual_size: None,
                };
                if let (Some(i), Some(fmt)) = (&st.inspector, &st.checks.inspect) {
                    let detection = i.finish();
                    match format::judge(fmt, &detection) {
                        Ok(v) => d.virtual_size = v,
                        Err(r)
                            if st.checks.require_match || r.0 == "Image failed safety checks" =>
                        {
                            return Some((
                                Err(Error::new(ErrorKind::UnsupportedMediaType, r.0)),
                                st,
                            ));
                        }
                        Err(r) => {
                            tracing::warn!(reason = %r, "image format did not match; size unknown")
                        }
                    }
                }
                *st.out.lock().expect("digest poisoned") = Some(d);
                None
            }
        }
    })
    .boxed()
}

/// Puts an image back to `queued` if an upload or import is abandoned half-way (the
/// client went away, the server is shutting down).
struct Restore {
    tables: crate::store::Tables,
    id: String,
    from: Status,
    armed: bool,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (tables, id, from) = (self.tables.clone(), self.id.clone(), self.from);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = tables.set_status(&id, from, Status::Queued).await {
                    tracing::error!(image = %id, error = %e, "could not restore image to queued");
                }
            });
        }
    }
}

/// Parse a `Range` header for an image of `size` bytes as webob and Glance do:
/// `Ok(None)` for no range, `[start, end)` otherwise.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>> {
    let Some(h) = header else { return Ok(None) };
    if h.contains(',') {
        return Err(Error::bad_request(
            "Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.",
        ));
    }
    let invalid = || Error::new(ErrorKind::RangeNotSatisfiable, "Invalid Range header.");
    let spec = h.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let (a, b) = (a.trim(), b.trim());
    // webob: start may be negative (a suffix), end is exclusive.
    let (start, end): (i64, Option<i64>) = if a.is_empty() {
        let n: i64 = b.parse().map_err(|_| invalid())?;
        (-n, None)
    } else {
        let s: i64 = a.parse().map_err(|_| invalid())?;
        let e = if b.is_empty() {
            None
        } else {
            Some(b.parse::<i64>().map_err(|_| invalid())? + 1)
        };
        if e.is_some_and(|e| e <= s) {
            return Err(invalid());
        }
        (s, e)
    };
    let size_i = i64::try_from(size).unwrap_or(i64::MAX);
    if start >= size_i {
        return Err(Error::new(
            ErrorKind::RangeNotSatisfiable,
            format!(
                "Invalid start position in Range header. Start position MUST be in the inclusive range [0, {}].",
                size_i - 1
            ),
        ));
    }
    let offset = if start >= 0 {
        start
    } else if start.abs() < size_i {
        size_i + start
    } else {
        0
    };
    let end = match end {
        Some(e) if e < size_i => e,
        _ => size_i,
    };
    // both are within [0, size] here
    Ok(Some((
        offset.max(0).unsigned_abs(),
        end.max(0).unsigned_abs(),
    )))
}

impl Image {
    fn checks(&self, img: &ImageRecord, limit: u64, over: Error) -> Checks {
        let inspect = (img.container_format.as_deref() == Some("bare"))
            .then(|| img.disk_format.clone())
            .flatten();
        Checks {
            limit,
            over,
            inspect,
            require_match: self.cfg.require_image_format_match,
            hash: self.cfg.hashing_algorithm,
        }
    }

    /// Stream `data` into the store, checked: the location and digest, or why not.
    pub(crate) async fn ingest(
        &self,
        img: &ImageRecord,
        data: ByteStream,
        limit: u64,
    ) -> Result<(String, Digest)> {
        let over = if limit < self.cfg.max_image_size {
            Error::over_limit(format!(
                "Denying attempt to upload image because it exceeds the quota: The size of the data will exceed the limit. {limit} bytes remaining."
            ))
        } else {
            super::too_large(self.cfg.max_image_size)
        };
        let out = Arc::new(Mutex::new(None));
        let loc = self
            .store
            .put(
                &img.id,
                checked(data, self.checks(img, limit, over), out.clone()),
            )
            .await?;
        let digest = out.lock().expect("digest poisoned").take();
        match digest {
            Some(d) => Ok((loc, d)),
            None => {
                let _ = self.store.delete(&loc).await;
                Err(Error::internal("the store finished before the data did"))
            }
        }
    }

    /// Record data as the image's, making it active; false if the image changed status
    /// (deleted meanwhile) since `from`.
    pub(crate) async fn activate(
        &self,
        mut img: ImageRecord,
        from: Status,
        loc: String,
        d: Digest,
    ) -> Result<bool> {
        img.status = Status::Active;
        img.size = Some(i64::try_from(d.size).unwrap_or(i64::MAX));
        img.virtual_size = d.virtual_size.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        img.checksum = Some(d.md5);
        img.os_hash_algo = Some(self.cfg.hashing_algorithm.name().into());
        img.os_hash_value = Some(d.sha512);
        img.location = Some(loc.clone());
        img.updated_at = now();
        if self.tables.update_image(&img, Some(from)).await? {
            return Ok(true);
        }
        let _ = self.store.delete(&loc).await;
        Ok(false)
    }

    fn check_store(&self, store: Option<&str>) -> Result<()> {
        match store {
            Some(s) if s != self.store.id() => Err(Error::bad_request(format!(
                "Unknown scheme '{s}' found in URI"
            ))),
            _ => Ok(()),
        }
    }

    /// `PUT /v2/images/{id}/file`: queued -> saving -> active; any failure puts the
    /// image back to queued with no data.
    pub async fn upload(&self, caller: &Caller<'_>, id: &str, up: Upload) -> Result<()> {
        self.check_store(up.store.as_deref())?;
        let img = self.get(caller, id).await?;
        self.enforce(caller, Rule::UploadImage, &img)?;
        let allowance = self.data_allowance(img.owner.as_deref(), up.size).await?;
        Self::transition(img.status, Status::Saving)?;
        require_formats(&img)?;
        if !self
            .tables
            .set_status(id, Status::Queued, Status::Saving)
            .await?
        {
            return Err(Error::conflict(format!(
                "Image status transition from {} to saving is not allowed",
                img.status.as_str()
            )));
        }
        let mut restore = Restore {
            tables: self.tables.clone(),
            id: id.to_owned(),
            from: Status::Saving,
            armed: true,
        };
        if let Some(owner) = img.owner.as_deref() {
            self.check_uploading(owner).await?;
        }
        let ingested = self.ingest(&img, up.data, allowance).await;
        restore.armed = false;
        let (loc, digest) = match ingested {
            Ok(x) => x,
            Err(e) => {
                self.tables
                    .set_status(id, Status::Saving, Status::Queued)
                    .await?;
                return Err(e);
            }
        };
        if !self.activate(img, Status::Saving, loc, digest).await? {
            return Err(Error::new(
                ErrorKind::Gone,
                format!("Image {id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded."),
            ));
        }
        Ok(())
    }

    /// `GET /v2/images/{id}/file`, whole or a range.
    pub async fn download(
        &self,
        caller: &Caller<'_>,
        id: &str,
        range: Option<&str>,
    ) -> Result<Download> {
        let img = self.get(caller, id).await?;
        if img.status == Status::Deactivated && !caller.admin {
            return Err(Error::forbidden(
                "The requested image has been deactivated. Image data download is forbidden.",
            ));
        }
        self.enforce(caller, Rule::DownloadImage, &img)?;
        let size = img.size.unwrap_or(0).max(0).unsigned_abs();
        let Some(loc) = img.location.clone() else {
            return Ok(Download {
                data: None,
                size,
                range: None,
                checksum: None,
            });
        };
        let range = parse_range(range, size)?;
        let data = self
            .store
            .get(&loc, range)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::NotFound => {
                    Error::unavailable("The image data could not be read from its store.")
                }
                _ => e,
            })?;
        Ok(Download {
            data: Some(data),
            size,
            range,
            checksum: img.checksum,
        })
    }

    /// `PUT /v2/images/{id}/stage`: queued -> uploading, data kept for `glance-direct`.
    pub async fn stage(&self, caller: &Caller<'_>, id: &str, up: Upload) -> Result<()> {
        let img = self.get(caller, id).await?;
        self.enforce(caller, Rule::ModifyImage, &img)?;
        let allowance = self.stage_allowance(img.owner.as_deref(), up.size).await?;
        Self::transition(img.status, Status::Uploading)?;
        if !self
            .tables
            .set_status(id, Status::Queued, Status::Uploading)
            .await?
        {
            return Err(Error::conflict(format!(
                "Image status transition from {} to uploading is not allowed",
                img.status.as_str()
            )));
        }
        let mut restore = Restore {
            tables: self.tables.clone(),
            id: id.to_owned(),
            from: Status::Uploading,
            armed: true,
        };
        if let Some(owner) = img.owner.as_deref() {
            self.check_uploading(owner).await?;
        }
        let over = Error::new(
            ErrorKind::PayloadTooLarge,
            "The incoming image is too large: The provided image is too large.",
        );
        let out = Arc::new(Mutex::new(None));
        let checks = Checks {
            limit: allowance,
            over,
            inspect: None,
            require_match: false,
            hash: self.cfg.hashing_algorithm,
        };
        let staged = self
            .staging
            .put(id, checked(up.data, checks, out.clone()))
            .await;
        let loc = match staged {
            Ok(loc) => loc,
            Err(e) => {
                restore.armed = false;
                self.tables
                    .set_status(id, Status::Uploading, Status::Queued)
                    .await?;
                return Err(e);
            }
        };
        let size = out
            .lock()
            .expect("digest poisoned")
            .take()
            .map_or(0, |d| d.size);
        let size = i64::try_from(size).map_err(Error::internal)?;
        if !self.tables.record_stage(id, size).await? {
            let _ = self.staging.delete(&loc).await;
            return Err(Error::new(
                ErrorKind::Gone,
                format!("Image {id} could not be found after upload."),
            ));
        }
        restore.armed = false;
        Ok(())
    }

    /// `POST /v2/images/{id}/import`: checks now (authorization first, then the
    /// image's state), then the import saga: its first step (the lock: -> importing)
    /// before this returns, the rest in the background (-> active, or back to queued
    /// with `os_glance_failed_import` set). See [`crate::sagas::import`].
    pub async fn import(
        self: &Arc<Self>,
        caller: &Caller<'_>,
        id: &str,
        req: ImportRequest,
    ) -> Result<()> {
        let img = self.get(caller, id).await?;
        // who may import comes before what state the image is in: a 409 would tell a
        // stranger more than a 403
        self.enforce(caller, Rule::ModifyImage, &img)?;
        let m = req.method.as_str();
        if img.status == Status::Active {
            return Err(Error::conflict(
                "Image with status active cannot be target for import",
            ));
        }
        if m == "web-download" && img.status != Status::Queued {
            return Err(Error::conflict(format!(
                "Image needs to be in 'queued' state to use '{m}' method"
            )));
        }
        if m == "glance-direct" && img.status != Status::Uploading {
            return Err(Error::conflict(
                "Image needs to be staged before 'glance-direct' method can be used",
            ));
        }
        if img.container_format.is_none() {
            return Err(Error::conflict(
                "'container_format' needs to be set before import",
            ));
        }
        if img.disk_format.is_none() {
            return Err(Error::conflict(
                "'disk_format' needs to be set before import",
            ));
        }
        if let Some(o) = img.owner.as_deref() {
            self.data_allowance(Some(o), None).await?;
        }
        if let Some(s) = req.stores.iter().find(|s| *s != self.store.id()) {
            return Err(Error::conflict(format!(
                "Unknown scheme '{s}' found in URI"
            )));
        }
        let (saga, uri) = if m == "web-download" {
            let uri = req.uri.clone().unwrap_or_default();
            if !uri_allowed(&self.cfg.web_download_allowed, &uri) {
                return Err(Error::bad_request(format!(
                    "URI for web-download does not pass filtering: {uri}"
                )));
            }
            (import::WEB_DOWNLOAD, Some(uri))
        } else {
            (import::GLANCE_DIRECT, None)
        };
        let params = import::Params {
            image_id: img.id.clone(),
            from: img.status.as_str().into(),
            uri,
        };
        self.sagas.start(self, saga, &params).await?;
        Ok(())
    }

    /// After a restart of the only image API process (all-in-one): transfers a crash
    /// cut short (an upload in `saving`, a stage not complete) go back to `queued` and
    /// their staged data is removed. Completed stages stay `uploading`, ready for
    /// `glance-direct`; imports are sagas, which the executor resumes. Not for
    /// deployments where other API processes may be serving uploads at the same time.
    pub async fn requeue_interrupted(&self) -> Result<Vec<String>> {
        let ids = self.tables.requeue_interrupted(import::LOCK).await?;
        for id in &ids {
            let _ = self.staging.delete(&self.staged_location(id)).await;
            tracing::warn!(image = %id, "image left mid-upload by a previous process is queued again");
        }
        Ok(ids)
    }

    /// Register a local file as an active image (used by `oxistack up` for its test
    /// image). Idempotent by name: when an active image of that name exists, its id is
    /// returned and nothing is uploaded.
    #[allow(clippy::too_many_arguments)]
    pub async fn register_file(
        &self,
        name: &str,
        path: &Path,
        disk_format: &str,
        container_format: &str,
        visibility: Visibility,
        properties: std::collections::BTreeMap<String, String>,
        owner_project_id: Option<&str>,
    ) -> Result<String> {
        if let Some(id) = self.tables.active_image_named(name).await? {
            return Ok(id);
        }
        let t = now();
        let img = ImageRecord {
            id: new_id(),
            name: Some(name.to_owned()),
            status: Status::Saving,
            visibility,
            protected: false,
            os_hidden: false,
            owner: owner_project_id.map(str::to_owned),
            disk_format: Some(disk_format.to_owned()),
            container_format: Some(container_format.to_owned()),
            min_disk: 0,
            min_ram: 0,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            location: None,
            properties: properties.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            tags: Default::default(),
            created_at: t.clone(),
            updated_at: t,
        };
        self.tables.insert_image(&img).await?;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::bad_request(format!("Cannot read {}: {e}", path.display())))?;
        let data = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20)
            .map(|r: std::io::Result<Bytes>| r.map_err(|e| Error::internal(format!("read: {e}"))))
            .boxed();
        match self.ingest(&img, data, self.cfg.max_image_size).await {
            Ok((loc, d)) => {
                self.activate(img.clone(), Status::Saving, loc, d).await?;
                Ok(img.id)
            }
            Err(e) => {
                self.tables.delete_image(&img.id).await?;
                Err(e)
            }
        }
    }
}

/// Glance refuses data for an image without formats.
fn require_formats(img: &ImageRecord) -> Result<()> {
    let missing: Vec<&str> = [
        ("disk_format", &img.disk_format),
        ("container_format", &img.container_format),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none())
    .map(|(k, _)| k)
    .collect();
    match missing.len() {
        0 => Ok(()),
        1 => Err(Error::bad_request(format!(
            "Property {} must be set prior to saving data.",
            missing[0]
        ))),
        _ => Err(Error::bad_request(format!(
            "Properties {} must be set prior to saving data.",
            missing.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let ok = |h: &str, want: (u64, u64)| {
            assert_eq!(parse_range(Some(h), 10).unwrap(), Some(want), "{h}")
        };
        let err = |h: &str, kind: ErrorKind| {
            assert_eq!(parse_range(Some(h), 10).unwrap_err().kind, kind, "{h}")
        };
        assert_eq!(parse_range(None, 10).unwrap(), None);
        ok("bytes=0-4", (0, 5));
        ok("bytes=5-", (5, 10));
        ok("bytes=-3", (7, 10));
        ok("bytes=2-100", (2, 10));
        ok("bytes=-20", (0, 10));
        err("bytes=10-", ErrorKind::RangeNotSatisfiable);
        err("bytes=5-2", ErrorKind::RangeNotSatisfiable);
        err("lines=1-2", ErrorKind::RangeNotSatisfiable);
        err("bytes=a-b", ErrorKind::RangeNotSatisfiable);
        err("bytes=0-1,3-4", ErrorKind::BadRequest);
    }

    #[test]
    fn web_download_filter() {
        let allowed = vec![
            "http://127.0.0.1:8080/images/".to_owned(),
            "mirror.example".to_owned(),
            "10.0.0.1:81".to_owned(),
        ];
        let check = |u: &str, want: bool| assert_eq!(uri_allowed(&allowed, u), want, "{u}");
        check("http://127.0.0.1:8080/images/cirros.img", true);
        check("http://127.0.0.1:8080/images", true);
        check("http://127.0.0.1:8080/imagesX/a", false);
        check("http://127.0.0.1:8080/other", false);
        check("http://127.0.0.1:80801/images/a", false);
        check("https://127.0.0.1:8080/images/a", false);
        check("http://mirror.example/a.qcow2", true);
        check("https://mirror.example:8443/a.qcow2", true);
        check("http://mirror.example.evil/a", false);
        check("http://10.0.0.1:81/x", true);
        check("http://10.0.0.1/x", false);
        check("file:///etc/passwd", false);
        check("ftp://mirror.example/a", false);
        assert!(!uri_allowed(&[], "http://127.0.0.1/"));
    }

    #[test]
    fn import_bodies() {
        let r = ImportRequest::from_body(
            &serde_json::json!({"method": {"name": "web-download", "uri": "http://x/"}}),
            Some("file"),
        )
        .unwrap();
        assert_eq!(
            r,
            ImportRequest {
                method: "web-download".into(),
                uri: Some("http://x/".into()),
                stores: vec!["file".into()]
            }
        );
        let bad = |b: Value, want: &str| {
            let e = ImportRequest::from_body(&b, None).unwrap_err();
            assert!(e.message.contains(want), "{:?} lacks {want:?}", e.message);
        };
        bad(serde_json::json!({}), "requires a 'method' field");
        bad(serde_json::json!({"method": {}}), "requires a 'name' field");
        bad(
            serde_json::json!({"method": {"name": "copy-image"}}),
            "Unknown import method name 'copy-image'",
        );
        bad(
            serde_json::json!({"method": {"name": "glance-direct"}, "all_stores": "yes"}),
            "'all_stores' must be boolean",
        );
    }
}

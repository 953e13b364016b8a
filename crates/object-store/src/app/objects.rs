//! Objects: each write goes to every replica of the object's partition at once (one
//! pass over the body, one MD5) and succeeds when a quorum committed; a read serves the
//! newest replica; then the listing rows follow.

use std::{collections::BTreeMap, path::PathBuf};

use api_common::Error;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use md5::{Digest, Md5};

use super::{check_meta, check_object, unavailable, Caller, Need, ObjectStore};
use crate::{
    disk::{self, Location, State, Writer},
    model::{Meta, MetaUpdate, ObjectInfo, Timestamp},
    store::ObjectRow,
};

/// What a PUT (or the destination of a copy) brings besides its body.
#[derive(Debug, Clone, Default)]
pub struct PutRequest {
    /// `None`: unknown (a chunked upload, else refused with 411).
    pub content_length: Option<u64>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The MD5 the client claims (lower-case hex).
    pub etag: Option<String>,
    pub content_type: Option<String>,
    pub meta: Meta,
    /// Headers kept as they came (`Content-Disposition`, ...).
    pub system: BTreeMap<String, String>,
    pub delete_at: Option<u64>,
    /// `If-None-Match: *`: refuse (412) when the object exists.
    pub if_none_match_any: bool,
}

/// An object found, and where one good replica of it is.
#[derive(Debug, Clone)]
pub struct Found {
    pub info: ObjectInfo,
    pub path: PathBuf,
}

/// Where a copy comes from.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    pub account: &'a str,
    pub container: &'a str,
    pub object: &'a str,
}

impl ObjectStore {
    fn locations(&self, account: &str, container: &str, object: &str) -> Vec<Location> {
        let part = self.ring.partition(account, Some(container), Some(object));
        let hash = hex::encode(self.ring.hash(account, Some(container), Some(object)));
        self.ring
            .nodes(part)
            .into_iter()
            .map(|d| Location {
                device: d.path.clone(),
                part,
                hash: hash.clone(),
            })
            .collect()
    }

    /// The newest state any replica holds, with a replica that has it intact.
    async fn newest(
        &self,
        account: &str,
        container: &str,
        object: &str,
    ) -> Result<Option<State>, Error> {
        let locs = self.locations(account, container, object);
        let states = futures::future::join_all(locs.iter().map(disk::read_state)).await;
        let mut best: Option<State> = None;
        let mut answered = 0;
        for (loc, s) in locs.iter().zip(states) {
            match s {
                Ok(s) => {
                    answered += 1;
                    if let Some(s) = s {
                        if best.as_ref().is_none_or(|b| s.timestamp() > b.timestamp()) {
                            best = Some(s);
                        }
                    }
                }
                // a damaged replica is one that has nothing: the others serve
                Err(e) => {
                    tracing::warn!(device = %loc.device.display(), error = %e, "an unreadable replica")
                }
            }
        }
        if answered == 0 && !locs.is_empty() && best.is_none() {
            return Err(unavailable());
        }
        Ok(best)
    }

    async fn live(&self, account: &str, container: &str, object: &str) -> Result<Found, Error> {
        match self.newest(account, container, object).await? {
            Some(State::Data { path, info }) if !info.expired(Timestamp::now()) => {
                Ok(Found { info, path })
            }
            _ => Err(Error::not_found("")),
        }
    }

    /// An object's metadata and a replica to read it from (404 when deleted, expired or
    /// never written).
    pub async fn object_get(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
        object: &str,
    ) -> Result<Found, Error> {
        check_object(object)?;
        self.container_for(caller, account, container, Need::Read)
            .await?;
        self.live(account, container, object).await
    }

    /// Store an object from `body`: every replica written, checked against the length
    /// and ETag the client claimed, committed on a quorum.
    pub async fn object_put<S>(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
        object: &str,
        req: PutRequest,
        body: S,
    ) -> Result<ObjectInfo, Error>
    where
        S: Stream<Item = Result<Bytes, Error>> + Unpin,
    {
        check_object(object)?;
        check_meta(&req.meta)?;
        self.container_for(caller, account, container, Need::Write)
            .await?;
        self.store(account, container, object, req, body).await
    }

    async fn store<S>(
        &self,
        account: &str,
        container: &str,
        object: &str,
        req: PutRequest,
        mut body: S,
    ) -> Result<ObjectInfo, Error>
    where
        S: Stream<Item = Result<Bytes, Error>> + Unpin,
    {
        if req.content_length.is_none() && !req.chunked {
            return Err(Error::new(api_common::ErrorKind::LengthRequired, ""));
        }
        if req
            .content_length
            .is_some_and(|l| l > self.cfg.max_file_size)
        {
            return Err(Error::new(api_common::ErrorKind::PayloadTooLarge, ""));
        }
        let now = Timestamp::now();
        if req.delete_at.is_some_and(|t| t <= now.secs()) {
            return Err(Error::bad_request("X-Delete-At in past"));
        }
        if req.if_none_match_any && self.live(account, container, object).await.is_ok() {
            return Err(Error::new(api_common::ErrorKind::PreconditionFailed, ""));
        }
        let locs = self.locations(account, container, object);
        let need = self.quorum(locs.len());
        let mut writers = Vec::new();
        for loc in locs {
            match Writer::create(loc.clone()).await {
                Ok(w) => writers.push(w),
                Err(e) => {
                    tracing::warn!(device = %loc.device.display(), error = %e, "a replica cannot be written")
                }
            }
        }
        if writers.len() < need {
            return Err(unavailable());
        }
        let mut md5 = Md5::new();
        let mut len: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            len += chunk.len() as u64;
            if len > self.cfg.max_file_size {
                return Err(Error::new(api_common::ErrorKind::PayloadTooLarge, ""));
            }
            if req.content_length.is_some_and(|l| len > l) {
                return Err(Error::bad_request(
                    "The body is longer than its Content-Length",
                ));
            }
            md5.update(&chunk);
            let results =
                futures::future::join_all(writers.iter_mut().map(|w| w.write(&chunk))).await;
            let mut i = 0;
            writers.retain(|_| {
                let ok = results[i].is_ok();
                if let Err(e) = &results[i] {
                    tracing::warn!(error = %e, "a replica failed during an upload");
                }
                i += 1;
                ok
            });
            if writers.len() < need {
                return Err(unavailable());
            }
        }
        if req.content_length.is_some_and(|l| len < l) {
            // the client went away before sending all it announced (Swift's 499)
            return Err(Error::bad_request(
                "The body is shorter than its Content-Length",
            ));
        }
        let etag = hex::encode(md5.finalize());
        if req
            .etag
            .as_deref()
            .is_some_and(|e| !e.eq_ignore_ascii_case(&etag))
        {
            return Err(Error::new(api_common::ErrorKind::Unprocessable, ""));
        }
        let info = ObjectInfo {
            name: format!("{account}/{container}/{object}"),
            timestamp: now,
            content_length: len,
            content_type: req
                .content_type
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| guess_type(object).to_owned()),
            etag,
            meta: req.meta,
            system: req.system,
            delete_at: req.delete_at,
            meta_timestamp: None,
        };
        let committed =
            futures::future::join_all(writers.into_iter().map(|w| w.commit(&info))).await;
        let ok = committed
            .iter()
            .filter(|r| {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "a replica failed to commit");
                }
                r.is_ok()
            })
            .count();
        if ok < need {
            return Err(unavailable());
        }
        let row = ObjectRow {
            name: object.to_owned(),
            ts: now,
            size: len,
            content_type: info.content_type.clone(),
            etag: info.etag.clone(),
        };
        let listed = self
            .on_quorum(account, |db| {
                let row = &row;
                Box::pin(async move {
                    Ok(self
                        .tables
                        .object_put(&db, container, row)
                        .await?
                        .then_some(()))
                })
            })
            .await;
        if let Err(e) = listed {
            // the object is stored; its listing row is late (a later part queues it)
            tracing::warn!(error = %e.report(), object = %info.name, "a listing update failed");
        }
        Ok(info)
    }

    /// Replace an object's metadata (Swift's fast-POST).
    pub async fn object_update(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
        object: &str,
        mut update: MetaUpdate,
    ) -> Result<(), Error> {
        check_object(object)?;
        check_meta(&update.meta)?;
        self.container_for(caller, account, container, Need::Write)
            .await?;
        let found = self.live(account, container, object).await?;
        if update
            .delete_at
            .is_some_and(|t| t <= update.timestamp.secs())
        {
            return Err(Error::bad_request("X-Delete-At in past"));
        }
        if update.timestamp <= found.info.timestamp {
            update.timestamp = Timestamp(found.info.timestamp.0 + 1);
        }
        let locs = self.locations(account, container, object);
        let need = self.quorum(locs.len());
        let results =
            futures::future::join_all(locs.iter().map(|l| disk::put_meta(l, &update))).await;
        if results.iter().filter(|r| r.is_ok()).count() < need {
            return Err(unavailable());
        }
        Ok(())
    }

    /// Delete an object: a tombstone on every replica (404 when there was nothing).
    pub async fn object_delete(
        &self,
        caller: &Caller,
        account: &str,
        container: &str,
        object: &str,
    ) -> Result<(), Error> {
        check_object(object)?;
        self.container_for(caller, account, container, Need::Write)
            .await?;
        let existed = self.live(account, container, object).await.is_ok();
        let now = Timestamp::now();
        let locs = self.locations(account, container, object);
        let need = self.quorum(locs.len());
        let results =
            futures::future::join_all(locs.iter().map(|l| disk::put_tombstone(l, now))).await;
        if results.iter().filter(|r| r.is_ok()).count() < need {
            return Err(unavailable());
        }
        let listed = self
            .on_quorum(account, |db| {
                Box::pin(async move {
                    Ok(self
                        .tables
                        .object_delete(&db, container, object, now)
                        .await?
                        .then_some(()))
                })
            })
            .await;
        if let Err(e) = listed {
            tracing::warn!(error = %e.report(), "a listing update failed");
        }
        if existed {
            Ok(())
        } else {
            Err(Error::not_found(""))
        }
    }

    /// Copy `src` to the destination: the source's bytes and metadata, with the
    /// request's metadata over it (only the request's with `fresh`).
    #[allow(clippy::too_many_arguments)]
    pub async fn object_copy(
        &self,
        caller: &Caller,
        src: Source<'_>,
        account: &str,
        container: &str,
        object: &str,
        mut req: PutRequest,
        fresh: bool,
    ) -> Result<(ObjectInfo, ObjectInfo), Error> {
        check_object(src.object)?;
        check_object(object)?;
        self.container_for(caller, src.account, src.container, Need::Read)
            .await?;
        let from = self.live(src.account, src.container, src.object).await?;
        self.container_for(caller, account, container, Need::Write)
            .await?;
        if !fresh {
            let mut meta = from.info.meta.clone();
            meta.extend(std::mem::take(&mut req.meta));
            req.meta = meta;
            let mut system = from.info.system.clone();
            system.extend(std::mem::take(&mut req.system));
            req.system = system;
            if req.delete_at.is_none() {
                req.delete_at = from.info.delete_at;
            }
        }
        check_meta(&req.meta)?;
        if req.content_type.is_none() {
            req.content_type = Some(from.info.content_type.clone());
        }
        req.content_length = Some(from.info.content_length);
        req.etag = Some(from.info.etag.clone());
        let file = disk::open_range(&from.path, 0, from.info.content_length)
            .await
            .map_err(Error::internal_from)?;
        let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 16)
            .map(|r| r.map_err(Error::internal_from));
        let stored = self.store(account, container, object, req, body).await?;
        Ok((from.info, stored))
    }
}

/// A content type from the name's extension, for uploads that send none.
fn guess_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("gz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("zip") => "application/zip",
        Some("iso") => "application/x-iso9660-image",
        _ => "application/octet-stream",
    }
}

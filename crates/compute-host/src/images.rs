//! The host's image cache: `<instances_path>/_base/<image_id>`, downloaded once from
//! the Image API (written to a temporary file, checked against the image's hash, then
//! renamed), shared by every guest booted from it (their roots are copy-on-write
//! overlays), as Nova's libvirt image cache.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use api_common::{Error, Result};
use compute::{
    clients::{As, ImageClient},
    rpc::ImageRef,
};
use futures::StreamExt;
use md5::Md5;
use sha2::{Digest, Sha256, Sha512};
use tokio::io::AsyncWriteExt;
use types::ImageId;

/// Downloads images into the cache.
pub struct ImageCache {
    dir: PathBuf,
    image: ImageClient,
    /// One download per image at a time: the others wait for it.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn for_image(image: &ImageRef) -> Option<(Hasher, String)> {
        match (
            image.os_hash_algo.as_deref(),
            &image.os_hash_value,
            &image.checksum,
        ) {
            (Some("sha512"), Some(v), _) => Some((Hasher::Sha512(Sha512::new()), v.clone())),
            (Some("sha256"), Some(v), _) => Some((Hasher::Sha256(Sha256::new()), v.clone())),
            (_, _, Some(md5)) => Some((Hasher::Md5(Md5::new()), md5.clone())),
            _ => None,
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }
    fn hex(self) -> String {
        match self {
            Hasher::Md5(h) => hex::encode(h.finalize()),
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

impl ImageCache {
    pub fn new(instances_path: &Path, image: ImageClient) -> Self {
        ImageCache {
            dir: instances_path.join("_base"),
            image,
            locks: Mutex::default(),
        }
    }

    /// Where the image is (or will be) cached.
    pub fn path(&self, image_id: &str) -> PathBuf {
        self.dir.join(image_id)
    }

    fn lock_of(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    /// The cached file of `image`, downloading it first if needed.
    pub async fn ensure(&self, image: &ImageRef) -> Result<PathBuf> {
        let path = self.path(&image.id);
        let lock = self.lock_of(&image.id);
        let _held = lock.lock().await;
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(path);
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| Error::internal(format!("cannot create {}: {e}", self.dir.display())))?;
        let part = self.dir.join(format!("{}.part", image.id));
        let result = self.download(image, &part).await;
        match result {
            Ok(()) => {
                tokio::fs::rename(&part, &path).await.map_err(|e| {
                    Error::internal(format!("cannot rename {}: {e}", part.display()))
                })?;
                Ok(path)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }

    async fn download(&self, image: &ImageRef, part: &Path) -> Result<()> {
        let failed = |what: String| {
            Error::unavailable(format!("Image {} could not be downloaded.", image.id))
                .with_detail(what)
        };
        let id: ImageId = image
            .id
            .parse()
            .map_err(|_| Error::bad_request(format!("Bad image id {}.", image.id)))?;
        let mut stream = Box::pin(self.image.download(As::Service, &id).await?);
        let mut file = tokio::fs::File::create(part)
            .await
            .map_err(|e| Error::internal(format!("cannot create {}: {e}", part.display())))?;
        let mut hasher = Hasher::for_image(image);
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| failed(format!("reading image {}: {e}", image.id)))?;
            size += chunk.len() as u64;
            if let Some((h, _)) = &mut hasher {
                h.update(&chunk);
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| Error::internal(format!("cannot write {}: {e}", part.display())))?;
        }
        file.sync_all()
            .await
            .map_err(|e| Error::internal(format!("cannot write {}: {e}", part.display())))?;
        if let Some(expected) = image.size.filter(|s| *s != size) {
            return Err(failed(format!("{size} bytes, the image has {expected}")));
        }
        if let Some((h, expected)) = hasher {
            let got = h.hex();
            if !got.eq_ignore_ascii_case(&expected) {
                return Err(failed(format!("hash {got}, the image has {expected}")));
            }
        }
        Ok(())
    }
}

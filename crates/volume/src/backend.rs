//! Where volume data lives: the [`Backend`] trait and the file backend (the default),
//! whose volumes are sparse raw (or qcow2) files in one directory, made with `qemu-img`.
//!
//! Every operation is idempotent and works on ids fixed in advance (saga steps call
//! them again after a crash): a file is written under a temporary name and renamed into
//! place when complete, so a volume's file either is whole or is not there; removing
//! what is not there succeeds.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use async_trait::async_trait;
use tokio::process::Command;
use types::{Error, Result, SnapshotId, VolumeId};

use crate::model::Capacity;

const GIB: u64 = 1 << 30;

/// A place volumes are kept (Cinder's volume driver, as far as this service needs one).
#[async_trait]
pub trait Backend: Send + Sync {
    /// Its `volume_backend_name`.
    fn name(&self) -> &str;
    /// Its host string (`host@backend#pool`, Cinder's `os-vol-host-attr:host`).
    fn host(&self) -> String;
    /// What it holds and has free.
    async fn capacity(&self) -> Result<Capacity>;
    /// A new empty volume of `size_gb`.
    async fn create(&self, id: &VolumeId, size_gb: u64) -> Result<()>;
    /// A new volume of `size_gb` holding the image in `file` (of `format`).
    async fn create_from_image(
        &self,
        id: &VolumeId,
        size_gb: u64,
        file: &Path,
        format: &str,
    ) -> Result<()>;
    /// A new volume of `size_gb` holding a copy of another volume.
    async fn clone_volume(&self, id: &VolumeId, source: &VolumeId, size_gb: u64) -> Result<()>;
    /// A new volume of `size_gb` holding a copy of a snapshot.
    async fn create_from_snapshot(
        &self,
        id: &VolumeId,
        snapshot: &SnapshotId,
        size_gb: u64,
    ) -> Result<()>;
    /// Grow a volume to `size_gb`.
    async fn extend(&self, id: &VolumeId, size_gb: u64) -> Result<()>;
    /// Remove a volume (nothing there is success).
    async fn delete(&self, id: &VolumeId) -> Result<()>;
    /// A point-in-time copy of a volume.
    async fn create_snapshot(&self, id: &SnapshotId, volume: &VolumeId) -> Result<()>;
    /// Remove a snapshot (nothing there is success).
    async fn delete_snapshot(&self, id: &SnapshotId) -> Result<()>;
    /// A scratch file for data on its way in (an image download), removed by the caller.
    fn scratch(&self, id: &VolumeId) -> PathBuf;
}

/// Volumes as files in a directory.
pub struct FileBackend {
    dir: PathBuf,
    name: String,
    format: String,
    capacity_gb: u64,
    qemu_img: PathBuf,
}

impl FileBackend {
    /// The backend over `dir` (created if missing). `capacity_gb` 0: the free space of
    /// its filesystem.
    pub fn open(dir: &Path, name: &str, format: &str, capacity_gb: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        if !matches!(format, "raw" | "qcow2") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("volume_format must be raw or qcow2, not {format}"),
            ));
        }
        Ok(FileBackend {
            dir: dir.to_owned(),
            name: name.to_owned(),
            format: format.to_owned(),
            capacity_gb,
            qemu_img: PathBuf::from("qemu-img"),
        })
    }

    /// The file of a volume.
    pub fn volume_path(&self, id: &VolumeId) -> PathBuf {
        self.dir.join(format!("volume-{id}"))
    }

    /// The file of a snapshot.
    pub fn snapshot_path(&self, id: &SnapshotId) -> PathBuf {
        self.dir.join(format!("snapshot-{id}"))
    }

    fn partial(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(".part");
        PathBuf::from(p)
    }

    async fn qemu_img(&self, args: &[&std::ffi::OsStr]) -> Result<String> {
        let out = Command::new(&self.qemu_img)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| Error::internal(format!("cannot run {}: {e}", self.qemu_img.display())))?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "qemu-img {} failed ({}): {}",
                args.first()
                    .map(|a| a.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `qemu-img info` of a file read as `format`.
    async fn info(&self, file: &Path, format: &str) -> Result<serde_json::Value> {
        let out = self
            .qemu_img(&[
                "info".as_ref(),
                "--output=json".as_ref(),
                "-U".as_ref(),
                "-f".as_ref(),
                format.as_ref(),
                file.as_os_str(),
            ])
            .await?;
        serde_json::from_str(&out).map_err(|e| Error::internal(format!("qemu-img info: {e}")))
    }

    /// Write `dest` by `make` into a temporary file, renamed into place when whole. A
    /// `dest` already there is the work done.
    async fn write<F, Fut>(&self, dest: &Path, make: F) -> Result<()>
    where
        F: FnOnce(PathBuf) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        if tokio::fs::try_exists(dest).await.unwrap_or(false) {
            return Ok(());
        }
        let part = Self::partial(dest);
        let _ = tokio::fs::remove_file(&part).await;
        if let Err(e) = make(part.clone()).await {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(e);
        }
        tokio::fs::rename(&part, dest)
            .await
            .map_err(|e| Error::internal(format!("cannot rename {}: {e}", part.display())))
    }

    /// Copy `src` (of `src_format`) to `dest` in the backend's format, at `size_gb`.
    async fn copy(&self, src: &Path, src_format: &str, dest: &Path, size_gb: u64) -> Result<()> {
        let size = format!("{}", size_gb * GIB);
        let format = self.format.clone();
        self.write(dest, |part| async move {
            self.qemu_img(&[
                "convert".as_ref(),
                "-q".as_ref(),
                "-f".as_ref(),
                src_format.as_ref(),
                "-O".as_ref(),
                format.as_ref(),
                src.as_os_str(),
                part.as_os_str(),
            ])
            .await?;
            self.qemu_img(&[
                "resize".as_ref(),
                "-q".as_ref(),
                "-f".as_ref(),
                format.as_ref(),
                part.as_os_str(),
                size.as_ref(),
            ])
            .await
            .map(drop)
        })
        .await
    }

    async fn remove(path: &Path) -> Result<()> {
        for p in [Self::partial(path), path.to_owned()] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::internal(format!(
                        "cannot remove {}: {e}",
                        p.display()
                    )))
                }
            }
        }
        Ok(())
    }

    /// The bytes the files of the backend take up, as allocated.
    fn used_bytes(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.blocks() * 512)
            .sum()
    }
}

#[async_trait]
impl Backend for FileBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn host(&self) -> String {
        format!("oxistack@{}#{}", self.name, self.name)
    }

    async fn capacity(&self) -> Result<Capacity> {
        let free_fs = fs_free_bytes(&self.dir).unwrap_or(0) / GIB;
        if self.capacity_gb == 0 {
            let used = self.used_bytes() / GIB;
            return Ok(Capacity {
                total_gb: free_fs + used,
                free_gb: free_fs,
            });
        }
        let used = self.used_bytes().div_ceil(GIB);
        Ok(Capacity {
            total_gb: self.capacity_gb,
            free_gb: self.capacity_gb.saturating_sub(used).min(free_fs),
        })
    }

    async fn create(&self, id: &VolumeId, size_gb: u64) -> Result<()> {
        let size = format!("{}", size_gb * GIB);
        let format = self.format.clone();
        self.write(&self.volume_path(id), |part| async move {
            self.qemu_img(&[
                "create".as_ref(),
                "-q".as_ref(),
                "-f".as_ref(),
                format.as_ref(),
                part.as_os_str(),
                size.as_ref(),
            ])
            .await
            .map(drop)
        })
        .await
    }

    async fn create_from_image(
        &self,
        id: &VolumeId,
        size_gb: u64,
        file: &Path,
        format: &str,
    ) -> Result<()> {
        if !matches!(format, "raw" | "qcow2") {
            return Err(Error::bad_request(format!(
                "Image format {format} is not supported: only raw and qcow2 images can be written to volumes."
            )));
        }
        let info = self.info(file, format).await?;
        if info.get("backing-filename").is_some() || info.get("data-file").is_some() {
            return Err(Error::bad_request(
                "The image refers to other files (a backing or data file): it is refused.",
            ));
        }
        let virtual_size = info
            .get("virtual-size")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| Error::internal("qemu-img info: no virtual-size"))?;
        if virtual_size > size_gb * GIB {
            return Err(Error::bad_request(format!(
                "Image virtual size is {}GB and doesn't fit in a volume of size {size_gb}GB.",
                virtual_size.div_ceil(GIB)
            )));
        }
        self.copy(file, format, &self.volume_path(id), size_gb)
            .await
    }

    async fn clone_volume(&self, id: &VolumeId, source: &VolumeId, size_gb: u64) -> Result<()> {
        let src = self.volume_path(source);
        self.copy(&src, &self.format.clone(), &self.volume_path(id), size_gb)
            .await
    }

    async fn create_from_snapshot(
        &self,
        id: &VolumeId,
        snapshot: &SnapshotId,
        size_gb: u64,
    ) -> Result<()> {
        let src = self.snapshot_path(snapshot);
        self.copy(&src, &self.format.clone(), &self.volume_path(id), size_gb)
            .await
    }

    async fn extend(&self, id: &VolumeId, size_gb: u64) -> Result<()> {
        let size = format!("{}", size_gb * GIB);
        let path = self.volume_path(id);
        self.qemu_img(&[
            "resize".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            self.format.as_ref(),
            path.as_os_str(),
            size.as_ref(),
        ])
        .await
        .map(drop)
    }

    async fn delete(&self, id: &VolumeId) -> Result<()> {
        Self::remove(&self.volume_path(id)).await?;
        Self::remove(&self.scratch(id)).await
    }

    async fn create_snapshot(&self, id: &SnapshotId, volume: &VolumeId) -> Result<()> {
        let src = self.volume_path(volume);
        let format = self.format.clone();
        self.write(&self.snapshot_path(id), |part| async move {
            self.qemu_img(&[
                "convert".as_ref(),
                "-q".as_ref(),
                "-f".as_ref(),
                format.as_ref(),
                "-O".as_ref(),
                format.as_ref(),
                src.as_os_str(),
                part.as_os_str(),
            ])
            .await
            .map(drop)
        })
        .await
    }

    async fn delete_snapshot(&self, id: &SnapshotId) -> Result<()> {
        Self::remove(&self.snapshot_path(id)).await
    }

    fn scratch(&self, id: &VolumeId) -> PathBuf {
        self.dir.join(format!(".download-{id}"))
    }
}

/// The free bytes of the filesystem holding `dir`.
fn fs_free_bytes(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

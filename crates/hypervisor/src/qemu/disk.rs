//! A guest's disk files, made and changed with `qemu-img`.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use tokio::process::Command;

use crate::{Error, Result};

const GIB: u64 = 1 << 30;

/// Runs `qemu-img`.
#[derive(Clone, Debug)]
pub(crate) struct QemuImg {
    pub binary: PathBuf,
}

impl QemuImg {
    async fn run(&self, args: &[&std::ffi::OsStr]) -> Result<String> {
        let out = Command::new(&self.binary)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| Error::Io {
                context: format!("cannot run {}", self.binary.display()),
                source,
            })?;
        if !out.status.success() {
            return Err(Error::Failed(format!(
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

    /// The virtual size of an image, in bytes.
    pub(crate) async fn virtual_size(&self, image: &Path, format: &str) -> Result<u64> {
        let out = self
            .run(&[
                "info".as_ref(),
                "--output=json".as_ref(),
                "-U".as_ref(),
                "-f".as_ref(),
                format.as_ref(),
                image.as_os_str(),
            ])
            .await?;
        serde_json::from_str::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| v.get("virtual-size")?.as_u64())
            .ok_or_else(|| {
                Error::Failed(format!(
                    "qemu-img info {}: no virtual-size in {out:?}",
                    image.display()
                ))
            })
    }

    /// A qcow2 overlay on `base` (never written to), `size_gb` big (0: as big as the
    /// base). Refuses a size smaller than the base.
    pub(crate) async fn overlay(
        &self,
        base: &Path,
        base_format: &str,
        dest: &Path,
        size_gb: u64,
    ) -> Result<()> {
        if !matches!(base_format, "qcow2" | "raw") {
            return Err(Error::Invalid(format!(
                "a base image in format {base_format} is not supported (qcow2 or raw)"
            )));
        }
        let virtual_size = self.virtual_size(base, base_format).await?;
        let mut size = String::new();
        if size_gb > 0 {
            let want = size_gb.saturating_mul(GIB);
            if want < virtual_size {
                return Err(Error::Invalid(format!(
                    "the root disk ({size_gb} GiB) is smaller than the image ({virtual_size} bytes)"
                )));
            }
            size = want.to_string();
        }
        let tmp = tmp_path(dest);
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "create".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-F".as_ref(),
            base_format.as_ref(),
            "-b".as_ref(),
            base.as_os_str(),
            tmp.as_os_str(),
        ];
        if !size.is_empty() {
            args.push(size.as_ref());
        }
        self.run(&args).await?;
        rename(&tmp, dest).await
    }

    /// A blank disk of `bytes`.
    pub(crate) async fn blank(&self, dest: &Path, format: &str, bytes: u64) -> Result<()> {
        let tmp = tmp_path(dest);
        self.run(&[
            "create".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            format.as_ref(),
            tmp.as_os_str(),
            bytes.to_string().as_ref(),
        ])
        .await?;
        rename(&tmp, dest).await
    }

    /// Grow a qcow2 image to `size_gb`; smaller than it is: an Invalid error.
    pub(crate) async fn grow(&self, image: &Path, size_gb: u64) -> Result<()> {
        let now = self.virtual_size(image, "qcow2").await?;
        let want = size_gb.saturating_mul(GIB);
        if want < now {
            return Err(Error::Invalid(format!(
                "the root disk cannot shrink from {now} bytes to {size_gb} GiB"
            )));
        }
        if want == now {
            return Ok(());
        }
        self.run(&[
            "resize".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            image.as_os_str(),
            want.to_string().as_ref(),
        ])
        .await
        .map(drop)
    }

    /// The whole disk as one qcow2 without a backing file (`-U`: a paused guest still
    /// holds its lock).
    pub(crate) async fn flatten(&self, image: &Path, dest: &Path) -> Result<()> {
        self.run(&[
            "convert".as_ref(),
            "-U".as_ref(),
            "-f".as_ref(),
            "qcow2".as_ref(),
            "-O".as_ref(),
            "qcow2".as_ref(),
            image.as_os_str(),
            dest.as_os_str(),
        ])
        .await
        .map(drop)
    }
}

fn tmp_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

async fn rename(from: &Path, to: &Path) -> Result<()> {
    tokio::fs::rename(from, to)
        .await
        .map_err(|source| Error::Io {
            context: format!("cannot rename {} to {}", from.display(), to.display()),
            source,
        })
}

/// A swap disk of `bytes` (raw, formatted by `mkswap` as Nova does).
pub(crate) async fn swap(dest: &Path, bytes: u64) -> Result<()> {
    let tmp = tmp_path(dest);
    let io = |source| Error::Io {
        context: format!("cannot create {}", tmp.display()),
        source,
    };
    let file = tokio::fs::File::create(&tmp).await.map_err(io)?;
    file.set_len(bytes).await.map_err(io)?;
    drop(file);
    let out = Command::new("mkswap")
        .arg(&tmp)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| Error::Io {
            context: "cannot run mkswap".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "mkswap {} failed: {}",
            tmp.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    rename(&tmp, dest).await
}

//! Where a guest's files live: `<instances_dir>/<id>/`, one name per part.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::io_err;
use crate::{Error, Result};

/// The directory of one guest and the names of the files in it.
#[derive(Clone, Debug)]
pub(crate) struct InstanceDir {
    dir: PathBuf,
}

impl InstanceDir {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The root disk: a qcow2 overlay on the cached base image.
    pub(crate) fn disk(&self) -> PathBuf {
        self.file("disk")
    }
    pub(crate) fn ephemeral(&self) -> PathBuf {
        self.file("disk.eph0")
    }
    pub(crate) fn swap(&self) -> PathBuf {
        self.file("disk.swap")
    }
    /// The rescue root (an overlay on the rescue image) while the guest is rescued.
    pub(crate) fn rescue_disk(&self) -> PathBuf {
        self.file("disk.rescue")
    }
    /// The rescue image the guest is rescued with; its presence means "rescued".
    pub(crate) fn rescue_spec(&self) -> PathBuf {
        self.file("rescue.json")
    }
    /// A writable overlay on the config drive, for buses that have no read-only disk
    /// (IDE and SATA disks).
    pub(crate) fn config_overlay(&self) -> PathBuf {
        self.file("disk.config")
    }
    /// The guest's own copy of the UEFI variable store.
    pub(crate) fn nvram(&self) -> PathBuf {
        self.file("nvram.fd")
    }
    /// The serial console, appended to across restarts.
    pub(crate) fn console_log(&self) -> PathBuf {
        self.file("console.log")
    }
    /// QEMU's own stderr (why it refused to start).
    pub(crate) fn qemu_log(&self) -> PathBuf {
        self.file("qemu.log")
    }
    pub(crate) fn qmp_socket(&self) -> PathBuf {
        self.file("qmp.sock")
    }
    pub(crate) fn guest_agent_socket(&self) -> PathBuf {
        self.file("qga.sock")
    }
    /// Written by QEMU itself (`-pidfile`).
    pub(crate) fn pid(&self) -> PathBuf {
        self.file("pid")
    }
    /// The spec the guest was last started with (JSON), so a new process can restart it.
    pub(crate) fn spec(&self) -> PathBuf {
        self.file("spec.json")
    }
    /// The guest's memory, saved by `suspend`; its presence means "suspended".
    pub(crate) fn saved_state(&self) -> PathBuf {
        self.file("suspend.state")
    }
}

/// Write `value` as JSON, atomically (a temporary file renamed over).
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.part");
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Failed(format!("cannot encode {}: {e}", path.display())))?;
    std::fs::write(&tmp, text).map_err(io_err(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("cannot write {}", path.display())))
}

pub(crate) fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(format!("cannot remove {}", path.display()))(e)),
    }
}

/// The last `max_bytes` of a file, as text (empty when there is none).
pub(crate) fn tail(path: &Path, max_bytes: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(u64::try_from(max_bytes).unwrap_or(u64::MAX));
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_ok() {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// What QEMU wrote to its log since `offset`, for an error message.
pub(crate) fn log_since(path: &Path, offset: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(0).min(text.len());
    String::from_utf8_lossy(&text[start..]).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_cut_at_the_end() {
        let p = std::env::temp_dir().join(format!("oxi-tail-{}", std::process::id()));
        std::fs::write(&p, "hello world").unwrap();
        assert_eq!(tail(&p, 5), "world");
        assert_eq!(tail(&p, 100), "hello world");
        std::fs::remove_file(&p).unwrap();
        assert_eq!(tail(&p, 5), "");
    }
}

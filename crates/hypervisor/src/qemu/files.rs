//! Where a guest's files live: `<instances_dir>/<id>/`, one name per part.

use std::path::{Path, PathBuf};

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

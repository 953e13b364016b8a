//! What a compute host runs guests with.
//!
//! The compute manager of a host holds one [`Driver`] and drives every guest of the host
//! through it: it prepares what a guest needs outside the hypervisor (the cached base
//! image, the ports and their taps' names, the config drive) into an [`InstanceSpec`],
//! and the driver makes the host match it. Two drivers:
//!
//! - [`qemu::Qemu`]: QEMU as a supervised child process driven over QMP, KVM
//!   where it works and TCG otherwise, a qcow2 overlay on the cached base image, the
//!   serial console in a log file, VNC on a local port.
//! - [`fake::Fake`]: no processes, instant; for API tests and for simulating hundreds of
//!   hosts.
//!
//! Every call is idempotent and safe after a crash of the calling process: `spawn` of a
//! guest that runs already leaves it alone, `destroy` of a guest that is gone succeeds,
//! and a driver created anew finds the guests an earlier process left running
//! ([`Driver::list`]).

pub mod fake;
pub mod qemu;
pub mod spec;

use std::{net::SocketAddr, path::Path, time::Duration};

pub use spec::{DiskBus, Firmware, InstanceSpec, MachineOptions, Nic, RootDisk, VifModel};

/// Why a driver call failed. The message is meant for the server's `fault`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No guest with this id on this host.
    #[error("instance {0} is not on this host")]
    NotFound(String),
    /// The spec asks for what this driver or host cannot do (an unknown `hw_disk_bus`,
    /// UEFI without OVMF...).
    #[error("{0}")]
    Invalid(String),
    /// The guest is not in a state that allows the call (pause of a stopped guest).
    #[error("{0}")]
    State(String),
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The hypervisor refused or did not answer (QEMU exited, a QMP error, a timeout).
    #[error("{0}")]
    Failed(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A guest's power state, with Nova's numbers (`OS-EXT-STS:power_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PowerState {
    NoState = 0,
    Running = 1,
    Paused = 3,
    Shutdown = 4,
    Crashed = 6,
    Suspended = 7,
}

impl PowerState {
    /// Nova's number for it.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// What a host offers, reported to Placement and `os-hypervisors`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostInfo {
    /// `QEMU` or `fake`, as `hypervisor_type` shows it.
    pub hypervisor_type: String,
    /// As Nova encodes it: major * 1_000_000 + minor * 1000 + micro.
    pub hypervisor_version: u64,
    /// `kvm` or `qemu` (TCG), as libvirt's `virt_type`.
    pub virt_type: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    /// Free space of the instances' directory's file system, in GiB.
    pub disk_gb: u64,
    /// The CPU model, as `os-hypervisors` shows it.
    pub cpu_model: String,
}

/// A snapshot written by [`Driver::snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// `qcow2` or `raw`.
    pub disk_format: String,
    pub size: u64,
}

/// Runs the guests of one host.
#[async_trait::async_trait]
pub trait Driver: Send + Sync {
    /// What the host offers.
    fn host_info(&self) -> HostInfo;

    /// Whether guests' disks are made from the image's file, which the host then
    /// downloads into its cache before a spawn (the fake driver reads no disk).
    fn reads_images(&self) -> bool {
        true
    }

    /// Create the guest's disks (once: kept if present) and start it. A guest that runs
    /// already is left alone.
    async fn spawn(&self, spec: &InstanceSpec) -> Result<()>;

    /// Stop the guest at once if it runs and remove everything of it (processes, disks,
    /// logs, sockets). Succeeds when there is nothing.
    async fn destroy(&self, id: &str) -> Result<()>;

    /// Ask the guest to shut down (ACPI), and stop it hard after `timeout`. Disks stay.
    async fn power_off(&self, id: &str, timeout: Duration) -> Result<()>;

    /// Start a stopped guest from its disks (the spec may have changed: a resize, an
    /// interface attached meanwhile). A running guest is left alone.
    async fn power_on(&self, spec: &InstanceSpec) -> Result<()>;

    /// Soft: ask the guest to shut down (ACPI) and start it afresh once it has, as
    /// Nova's libvirt driver does; hard when it has not within `timeout`.
    /// Hard: stop and start it again from its disks.
    async fn reboot(&self, spec: &InstanceSpec, hard: bool, timeout: Duration) -> Result<()>;

    async fn pause(&self, id: &str) -> Result<()>;
    async fn unpause(&self, id: &str) -> Result<()>;
    /// Save the guest's memory to disk and stop it (Nova's suspend; resumed by
    /// [`Driver::resume`]).
    async fn suspend(&self, id: &str) -> Result<()>;
    async fn resume(&self, spec: &InstanceSpec) -> Result<()>;

    /// Restart the guest from `rescue` (an image file) with its own disk attached second.
    async fn rescue(&self, spec: &InstanceSpec, rescue: &RootDisk) -> Result<()>;
    /// Back to its own disk.
    async fn unrescue(&self, spec: &InstanceSpec) -> Result<()>;

    /// Grow the root disk of a stopped guest to `size_gb` (resize to a bigger flavor).
    async fn resize_root(&self, id: &str, size_gb: u64) -> Result<()>;

    /// Copy the root disk, whole (no backing file), to `dest`. A running guest is
    /// paused for the copy and resumed.
    async fn snapshot(&self, id: &str, dest: &Path) -> Result<Snapshot>;

    /// Hot-plug a NIC into a running guest (or record it for the next start).
    async fn attach_interface(&self, id: &str, nic: &Nic) -> Result<()>;
    async fn detach_interface(&self, id: &str, port_id: &str) -> Result<()>;

    /// The guest's power state; [`PowerState::NoState`] when it is not on this host.
    async fn power_state(&self, id: &str) -> Result<PowerState>;

    /// The ids of every guest with anything on this host (running or not), also those an
    /// earlier process left: the compute manager destroys the ones it does not know.
    async fn list(&self) -> Result<Vec<String>>;

    /// What the guest wrote to its serial console, at most its last `max_bytes`.
    async fn console_log(&self, id: &str, max_bytes: usize) -> Result<String>;

    /// Where the guest's VNC server listens (on this host), if it has one.
    async fn vnc_address(&self, id: &str) -> Result<Option<SocketAddr>>;
}

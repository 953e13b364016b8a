//! The bus protocols of Compute, in Nova's model:
//!
//! - `conductor` ([`Conductor`]): the API casts the work it accepted (boot, delete,
//!   actions) and the conductor runs it as sagas; compute hosts report to it (their
//!   service record and hypervisor, the power state of their guests, which servers are
//!   theirs), since hosts never write the database.
//! - `scheduler` ([`Scheduler`]): the conductor calls it to pick hosts for a server and
//!   claim the resources in Placement; it answers the chosen host and alternates.
//! - `compute.<host>` ([`ComputeHost`]): one host's manager, which runs guests through
//!   its hypervisor driver.

use std::{collections::BTreeMap, net::SocketAddr};

use bus::Protocol;
use serde::{Deserialize, Serialize};

use crate::clients::placement::Allocations;

/// The conductor's topic.
pub struct Conductor;

impl Protocol for Conductor {
    const TOPIC: &'static str = "conductor";
    type Request = ConductorRequest;
    type Reply = ConductorReply;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ConductorRequest {
    /// Boot the server (its row is in `BUILD`): the create saga.
    Build { server_id: String },
    /// Delete the server: the delete saga.
    Delete { server_id: String },
    /// An action on a server whose state the API already moved (task_state set).
    Action {
        server_id: String,
        action: ConductorAction,
    },
    /// A host's heartbeat: its service record and hypervisor.
    ServiceReport(ServiceReport),
    /// The servers the database places on `host` (for the host's sync).
    HostInstances { host: String },
    /// The power state of the guests of `host`, as its driver sees them.
    PowerStates {
        host: String,
        states: Vec<(String, hypervisor::PowerState)>,
    },
}

/// An action the API accepted, as the conductor carries it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConductorAction {
    Stop,
    Start,
    Reboot {
        hard: bool,
    },
    Pause,
    Unpause,
    Suspend,
    Resume,
    /// From `image` (default: the server's own image).
    Rescue {
        image: Option<String>,
    },
    Unrescue,
    /// The server's image already changed to `image` in the database.
    Rebuild {
        image: String,
    },
    Resize {
        flavor: String,
    },
    ConfirmResize,
    RevertResize,
    /// Snapshot into the image the API created (queued).
    CreateImage {
        image_id: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ConductorReply {
    Done,
    Instances(Vec<HostInstance>),
}

/// What a compute host reports of itself (os-services, os-hypervisors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    pub host: String,
    /// `nova-compute`.
    pub binary: String,
    /// Its resource provider in Placement (the compute node's uuid).
    pub node_uuid: String,
    pub hypervisor: hypervisor::HostInfo,
    /// The host's address, as `os-hypervisors` shows it.
    pub host_ip: String,
    /// Guests running on it.
    pub running_vms: u64,
}

/// A server the database places on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInstance {
    pub id: String,
    pub vm_state: String,
    pub task_state: Option<String>,
}

/// The scheduler's topic.
pub struct Scheduler;

impl Protocol for Scheduler {
    const TOPIC: &'static str = "scheduler";
    type Request = SchedulerRequest;
    type Reply = SchedulerReply;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SchedulerRequest {
    /// Pick a host (and alternates) for the spec, and claim its resources for the
    /// spec's consumer. No host: the error kind `NoValidHost`.
    Select(RequestSpec),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SchedulerReply {
    /// The chosen host first (its allocation claimed), then the alternates (not claimed).
    Selected(Vec<Selection>),
}

/// The error kind of a scheduler with no host to offer.
pub const NO_VALID_HOST: &str = "NoValidHost";

/// The flavor of a request, as the scheduler and the host need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlavorSpec {
    pub name: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub root_gb: u64,
    pub ephemeral_gb: u64,
    pub swap_mb: u64,
    pub extra_specs: BTreeMap<String, String>,
}

/// A server group's rule, as the scheduler applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSpec {
    pub id: String,
    /// `affinity`, `anti-affinity`, `soft-affinity`, `soft-anti-affinity`.
    pub policy: String,
    /// `max_server_per_host` of an anti-affinity rule.
    pub max_server_per_host: Option<u32>,
    /// The hosts of the group's other members.
    pub member_hosts: Vec<String>,
}

/// What a server asks of a host (Nova's RequestSpec).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSpec {
    /// Whose allocation the claim is (the server, or a resize's new flavor).
    pub consumer_id: String,
    pub project_id: String,
    pub user_id: String,
    pub flavor: FlavorSpec,
    /// The image's properties (for the image-properties filter and required traits).
    pub image_properties: BTreeMap<String, String>,
    pub availability_zone: Option<String>,
    pub group: Option<GroupSpec>,
    /// How many alternates to return besides the chosen host.
    pub alternates: u32,
    /// Hosts not to choose (those that already failed this request).
    pub ignore_hosts: Vec<String>,
    /// Only this host (an admin's `host` or `availability_zone=az:host`, a same-host
    /// resize).
    pub force_host: Option<String>,
}

/// A host chosen for a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub host: String,
    /// The compute node (hypervisor host name).
    pub node: String,
    /// Its resource provider.
    pub node_uuid: String,
    /// What to claim on it (the chosen one's is claimed already).
    pub allocations: Allocations,
}

/// A host's manager: the topic `compute`, one server per host (`compute.<host>`).
pub struct ComputeHost;

impl Protocol for ComputeHost {
    const TOPIC: &'static str = "compute";
    type Request = HostRequest;
    type Reply = HostReply;
}

/// The image a guest boots from, as the host caches it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    pub id: String,
    /// `qcow2`, `raw`...
    pub disk_format: String,
    pub size: Option<u64>,
    /// md5, Glance's `checksum`.
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub properties: BTreeMap<String, String>,
}

/// A NIC of a guest: its port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicSpec {
    pub port_id: String,
    pub mac: String,
    pub mtu: u32,
}

/// Everything a host needs to run a server's guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSpec {
    pub server_id: String,
    /// `instance-0000002a`.
    pub name: String,
    pub flavor: FlavorSpec,
    pub image: ImageRef,
    pub nics: Vec<NicSpec>,
    /// The server's config drive: built when it asked for one, or the host forces one.
    pub config_drive: ConfigDrive,
}

/// A config drive's content, as the metadata service serves it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDrive {
    /// The server asked for one (`config_drive: true`).
    pub required: bool,
    /// Its files: path -> base64 content.
    pub files: BTreeMap<String, String>,
}

/// What the conductor (or the API) asks of a host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum HostRequest {
    /// Cache the image, write the config drive, start the guest and wait for its ports
    /// to be wired. Idempotent: a guest that runs already is left alone.
    Build {
        spec: GuestSpec,
    },
    /// Remove the guest and everything of it; nothing is success.
    Destroy {
        server_id: String,
    },
    Action {
        spec: GuestSpec,
        action: HostAction,
    },
    /// What the guest wrote on its serial console (its last `max_bytes`).
    ConsoleLog {
        server_id: String,
        max_bytes: usize,
    },
    /// Where the guest's VNC server listens.
    VncAddress {
        server_id: String,
    },
}

/// An operation on a running (or stopped) guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostAction {
    Stop,
    Start,
    Reboot {
        hard: bool,
    },
    Pause,
    Unpause,
    Suspend,
    Resume,
    Rescue {
        image: ImageRef,
    },
    Unrescue,
    /// Boot again from `image` with a fresh root disk.
    Rebuild {
        image: ImageRef,
    },
    /// Stop, grow the root disk to the spec's flavor and start again (the spec holds
    /// the new flavor).
    Resize,
    /// Write the root disk as the (queued) image `image_id` and upload it.
    Snapshot {
        image_id: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum HostReply {
    Done,
    /// A build's end: the guest's power state, and whether the host gave it a config
    /// drive (asked for, or forced by the host's `force_config_drive`).
    Built {
        power_state: hypervisor::PowerState,
        config_drive: bool,
    },
    /// The guest's power state after the operation.
    PowerState(hypervisor::PowerState),
    ConsoleLog(String),
    Vnc(Option<SocketAddr>),
}

/// The libvirt-style name of a server's guest, from its id (Nova numbers instances; an
/// id-derived name needs no counter).
pub fn instance_name(server_id: &str) -> String {
    let hex: String = server_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    format!("instance-{hex}")
}

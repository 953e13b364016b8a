//! The Compute service's plain types: what the store reads and writes and the app layer
//! works on. No HTTP here.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use types::{FlavorId, ImageId, NetworkId, PortId, ServerGroupId, ServerId, SubnetId};

/// A string enum written as Nova writes it (`stopped`, `powering-off`).
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                match s { $($text => Ok($name::$variant),)+ _ => Err(UnknownState(s.to_owned())) }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A state name no state has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState(pub String);

impl std::fmt::Display for UnknownState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown state {:?}", self.0)
    }
}

impl std::error::Error for UnknownState {}

string_enum! {
    /// Nova's `vm_state`: what the server is, as the hosts last said.
    VmState {
        Active = "active",
        Building = "building",
        Paused = "paused",
        Suspended = "suspended",
        Stopped = "stopped",
        Rescued = "rescued",
        Resized = "resized",
        SoftDeleted = "soft-delete",
        Deleted = "deleted",
        Error = "error",
        Shelved = "shelved",
        ShelvedOffloaded = "shelved_offloaded",
    }
}

string_enum! {
    /// Nova's `task_state`: what is being done to the server.
    TaskState {
        Scheduling = "scheduling",
        BlockDeviceMapping = "block_device_mapping",
        Networking = "networking",
        Spawning = "spawning",
        ImageSnapshot = "image_snapshot",
        ImageSnapshotPending = "image_snapshot_pending",
        ImagePendingUpload = "image_pending_upload",
        ImageUploading = "image_uploading",
        UpdatingPassword = "updating_password",
        ResizePrep = "resize_prep",
        ResizeMigrating = "resize_migrating",
        ResizeMigrated = "resize_migrated",
        ResizeFinish = "resize_finish",
        ResizeReverting = "resize_reverting",
        ResizeConfirming = "resize_confirming",
        Rebooting = "rebooting",
        RebootPending = "reboot_pending",
        RebootStarted = "reboot_started",
        RebootingHard = "rebooting_hard",
        RebootPendingHard = "reboot_pending_hard",
        RebootStartedHard = "reboot_started_hard",
        Pausing = "pausing",
        Unpausing = "unpausing",
        Suspending = "suspending",
        Resuming = "resuming",
        PoweringOff = "powering-off",
        PoweringOn = "powering-on",
        Rescuing = "rescuing",
        Unrescuing = "unrescuing",
        Rebuilding = "rebuilding",
        RebuildBlockDeviceMapping = "rebuild_block_device_mapping",
        RebuildSpawning = "rebuild_spawning",
        Migrating = "migrating",
        Deleting = "deleting",
        SoftDeleting = "soft-deleting",
        Restoring = "restoring",
        Shelving = "shelving",
        Unshelving = "unshelving",
    }
}

/// Nova's power states (the numbers its API shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerState {
    NoState = 0,
    Running = 1,
    Paused = 3,
    Shutdown = 4,
    Crashed = 6,
    Suspended = 7,
}

impl PowerState {
    pub fn code(self) -> i64 {
        self as i64
    }
    pub fn from_code(c: i64) -> Option<PowerState> {
        Some(match c {
            0 => PowerState::NoState,
            1 => PowerState::Running,
            3 => PowerState::Paused,
            4 => PowerState::Shutdown,
            6 => PowerState::Crashed,
            7 => PowerState::Suspended,
            _ => return None,
        })
    }
}

/// The API's `status` of a server: its vm_state, refined by its task_state (Nova's
/// state map).
pub fn status(vm: VmState, task: Option<TaskState>) -> &'static str {
    use TaskState as T;
    use VmState as V;
    match (vm, task) {
        (
            V::Active | V::Stopped | V::Error,
            Some(T::Rebuilding | T::RebuildBlockDeviceMapping | T::RebuildSpawning),
        ) => "REBUILD",
        (V::Active, Some(T::Rebooting | T::RebootPending | T::RebootStarted)) => "REBOOT",
        (V::Active, Some(T::RebootingHard | T::RebootPendingHard | T::RebootStartedHard)) => {
            "HARD_REBOOT"
        }
        (V::Active, Some(T::UpdatingPassword)) => "PASSWORD",
        (V::Active | V::Paused, Some(T::Migrating)) => "MIGRATING",
        (
            V::Active | V::Stopped,
            Some(T::ResizePrep | T::ResizeMigrating | T::ResizeMigrated | T::ResizeFinish),
        ) => "RESIZE",
        (V::Resized, Some(T::ResizeReverting)) => "REVERT_RESIZE",
        (V::Active, _) => "ACTIVE",
        (V::Building, _) => "BUILD",
        (V::Stopped, _) => "SHUTOFF",
        (V::Resized, _) => "VERIFY_RESIZE",
        (V::Paused, _) => "PAUSED",
        (V::Suspended, _) => "SUSPENDED",
        (V::Rescued, _) => "RESCUE",
        (V::Error, _) => "ERROR",
        (V::Deleted, _) => "DELETED",
        (V::SoftDeleted, _) => "SOFT_DELETED",
        (V::Shelved, _) => "SHELVED",
        (V::ShelvedOffloaded, _) => "SHELVED_OFFLOADED",
    }
}

/// The vm_states a `status` filter means (Nova's reverse state map).
pub fn vm_states_of_status(status: &str) -> Option<&'static [VmState]> {
    use VmState as V;
    Some(match status.to_ascii_uppercase().as_str() {
        "ACTIVE" | "REBOOT" | "HARD_REBOOT" | "PASSWORD" => &[V::Active],
        "BUILD" => &[V::Building],
        "SHUTOFF" => &[V::Stopped],
        "RESIZE" => &[V::Active, V::Stopped],
        "VERIFY_RESIZE" | "REVERT_RESIZE" => &[V::Resized],
        "PAUSED" => &[V::Paused],
        "SUSPENDED" => &[V::Suspended],
        "RESCUE" => &[V::Rescued],
        "ERROR" => &[V::Error],
        "DELETED" => &[V::Deleted],
        "SOFT_DELETED" => &[V::SoftDeleted],
        "SHELVED" => &[V::Shelved],
        "SHELVED_OFFLOADED" => &[V::ShelvedOffloaded],
        "MIGRATING" => &[V::Active, V::Paused],
        "REBUILD" => &[V::Active, V::Stopped, V::Error],
        _ => return None,
    })
}

/// A flavor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flavor {
    pub id: FlavorId,
    pub name: String,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    /// MiB; 0 is none.
    pub swap: i64,
    pub rxtx_factor: f64,
    pub is_public: bool,
    pub disabled: bool,
    pub description: Option<String>,
    #[serde(default)]
    pub extra_specs: std::collections::BTreeMap<String, String>,
    pub created_at: String,
}

/// A keypair of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keypair {
    pub id: i64,
    pub name: String,
    pub user_id: String,
    pub fingerprint: String,
    pub public_key: String,
    /// `ssh` or `x509`.
    pub kind: String,
    pub created_at: String,
}

/// What a server was asked to be attached to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NetworkRequest {
    /// Allocate a network for the project if it has none (`auto`).
    Auto,
    /// No network at all (`none`).
    None,
    /// These, in order (an empty list: every network the project may use, as Nova does
    /// when `networks` is left out).
    List(Vec<RequestedNetwork>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RequestedNetwork {
    pub network: Option<NetworkId>,
    pub port: Option<PortId>,
    pub fixed_ip: Option<IpAddr>,
    pub tag: Option<String>,
}

/// One entry of `block_device_mapping_v2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BlockDevice {
    pub source_type: String,
    pub destination_type: Option<String>,
    pub uuid: Option<String>,
    pub boot_index: Option<i64>,
    pub volume_size: Option<i64>,
    pub delete_on_termination: bool,
    pub device_name: Option<String>,
    pub device_type: Option<String>,
    pub disk_bus: Option<String>,
    pub guest_format: Option<String>,
    pub tag: Option<String>,
}

/// A port a server is attached to, as the host manager recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortInfo {
    pub port_id: PortId,
    pub network_id: NetworkId,
    /// The network's name: the key of `addresses`.
    pub network_name: String,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    #[serde(default)]
    pub floating_ips: Vec<IpAddr>,
    /// `ACTIVE`, `DOWN`, `BUILD`.
    #[serde(default)]
    pub port_state: String,
    #[serde(default)]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedIp {
    pub ip_address: IpAddr,
    pub subnet_id: Option<SubnetId>,
}

/// Why a server is in ERROR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub code: i64,
    pub message: String,
    /// A traceback or detail, shown to admins only.
    #[serde(default)]
    pub details: Option<String>,
    pub created: String,
}

/// A server (Nova's instance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    pub id: ServerId,
    pub project_id: String,
    pub user_id: String,
    pub name: String,
    pub hostname: String,
    pub description: Option<String>,
    /// None for a server booted from a volume.
    pub image_id: Option<ImageId>,
    /// The flavor as it was when the server was built (or resized).
    pub flavor: Flavor,
    pub vm_state: VmState,
    pub task_state: Option<TaskState>,
    pub power_state: PowerState,
    pub host: Option<String>,
    pub node: Option<String>,
    /// The zone asked for, or the host's once scheduled.
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    pub key_data: Option<String>,
    /// Base64, as given.
    pub user_data: Option<String>,
    pub config_drive: bool,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub tags: Vec<String>,
    /// Security group names.
    pub security_groups: Vec<String>,
    pub networks: NetworkRequest,
    pub block_devices: Vec<BlockDevice>,
    pub scheduler_hints: serde_json::Value,
    pub server_group: Option<ServerGroupId>,
    pub reservation_id: String,
    pub launch_index: i64,
    pub admin_pass: Option<String>,
    pub locked: bool,
    pub locked_by: Option<String>,
    pub locked_reason: Option<String>,
    pub access_ipv4: Option<String>,
    pub access_ipv6: Option<String>,
    pub ports: Vec<PortInfo>,
    pub fault: Option<Fault>,
    pub progress: i64,
    /// The flavor a resize goes to (while VERIFY_RESIZE: the one it came from is `old_flavor`).
    pub new_flavor: Option<Flavor>,
    pub old_flavor: Option<Flavor>,
    pub launched_at: Option<String>,
    pub terminated_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub deleted: bool,
}

/// A server group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerGroup {
    pub id: ServerGroupId,
    pub project_id: String,
    pub user_id: String,
    pub name: String,
    /// `affinity`, `anti-affinity`, `soft-affinity`, `soft-anti-affinity`.
    pub policy: String,
    /// `{"max_server_per_host": n}` for anti-affinity (2.64).
    pub rules: serde_json::Map<String, serde_json::Value>,
    pub members: Vec<ServerId>,
    pub created_at: String,
}

/// One recorded action on a server (os-instance-actions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceAction {
    pub server_id: ServerId,
    pub request_id: String,
    pub action: String,
    pub project_id: String,
    pub user_id: String,
    pub start_time: String,
    pub updated_at: String,
    pub message: Option<String>,
    pub events: Vec<ActionEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionEvent {
    pub event: String,
    pub start_time: String,
    pub finish_time: Option<String>,
    /// `Success` or `Error`.
    pub result: Option<String>,
    pub traceback: Option<String>,
    pub host: Option<String>,
}

/// A count as the database's integers (saturating: no count comes near).
pub fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Now, as Nova writes times (`2026-12-01T12:00:00Z`; shown with `Z` or `+00:00`).
pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let check = |vm, task, s: &str| assert_eq!(status(vm, task), s, "{vm:?} {task:?}");
        check(VmState::Active, None, "ACTIVE");
        check(VmState::Active, Some(TaskState::Rebooting), "REBOOT");
        check(
            VmState::Active,
            Some(TaskState::RebootingHard),
            "HARD_REBOOT",
        );
        check(VmState::Stopped, None, "SHUTOFF");
        check(VmState::Stopped, Some(TaskState::PoweringOn), "SHUTOFF");
        check(VmState::Resized, None, "VERIFY_RESIZE");
        check(
            VmState::Resized,
            Some(TaskState::ResizeReverting),
            "REVERT_RESIZE",
        );
        check(VmState::Error, Some(TaskState::Rebuilding), "REBUILD");
        check(VmState::Building, Some(TaskState::Scheduling), "BUILD");
        for vm in VmState::ALL {
            let s = status(*vm, None);
            assert!(vm_states_of_status(s).unwrap().contains(vm), "{s}");
        }
    }
}

//! The plain types of the service: what the app layer takes and returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use types::{ImageId, SnapshotId, VolumeId, VolumeTypeId};

/// Cinder's timestamps (`2024-05-01T10:00:00.000000`).
pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

pub type Metadata = BTreeMap<String, String>;

/// A volume's status, as Cinder names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Creating,
    Available,
    Error,
    Deleting,
    ErrorDeleting,
    Extending,
    ErrorExtending,
    InUse,
    Attaching,
    Detaching,
    Maintenance,
}

impl Status {
    pub const ALL: &'static [Status] = &[
        Status::Creating,
        Status::Available,
        Status::Error,
        Status::Deleting,
        Status::ErrorDeleting,
        Status::Extending,
        Status::ErrorExtending,
        Status::InUse,
        Status::Attaching,
        Status::Detaching,
        Status::Maintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Available => "available",
            Status::Error => "error",
            Status::Deleting => "deleting",
            Status::ErrorDeleting => "error_deleting",
            Status::Extending => "extending",
            Status::ErrorExtending => "error_extending",
            Status::InUse => "in-use",
            Status::Attaching => "attaching",
            Status::Detaching => "detaching",
            Status::Maintenance => "maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.iter().copied().find(|v| v.as_str() == s)
    }

    /// Whether a volume in this status may be deleted (Cinder's `delete` state check,
    /// without attachments, which come later). A volume still being created is not: its
    /// create would write its file after the delete removed it.
    pub fn deletable(self) -> bool {
        matches!(
            self,
            Status::Available | Status::Error | Status::ErrorDeleting | Status::ErrorExtending
        )
    }
}

/// A snapshot's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotStatus {
    Creating,
    Available,
    Error,
    Deleting,
    ErrorDeleting,
}

impl SnapshotStatus {
    pub const ALL: &'static [SnapshotStatus] = &[
        SnapshotStatus::Creating,
        SnapshotStatus::Available,
        SnapshotStatus::Error,
        SnapshotStatus::Deleting,
        SnapshotStatus::ErrorDeleting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Creating => "creating",
            SnapshotStatus::Available => "available",
            SnapshotStatus::Error => "error",
            SnapshotStatus::Deleting => "deleting",
            SnapshotStatus::ErrorDeleting => "error_deleting",
        }
    }

    pub fn parse(s: &str) -> Option<SnapshotStatus> {
        SnapshotStatus::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VolumeType {
    pub id: VolumeTypeId,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    pub extra_specs: Metadata,
    pub created_at: String,
    pub updated_at: Option<String>,
}

impl VolumeType {
    /// The backend a type asks for (`volume_backend_name`), if any.
    pub fn backend_name(&self) -> Option<&str> {
        self.extra_specs
            .get("volume_backend_name")
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub id: VolumeId,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub size: i64,
    pub status: Status,
    pub availability_zone: String,
    pub bootable: bool,
    pub readonly: bool,
    pub volume_type_id: VolumeTypeId,
    /// Filled in from the type when read.
    pub volume_type_name: String,
    pub snapshot_id: Option<SnapshotId>,
    pub source_volid: Option<VolumeId>,
    pub image_id: Option<ImageId>,
    pub host: String,
    pub backend: String,
    pub metadata: Metadata,
    pub created_at: String,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: SnapshotId,
    pub volume_id: VolumeId,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub size: i64,
    pub status: SnapshotStatus,
    pub metadata: Metadata,
    pub created_at: String,
    pub updated_at: Option<String>,
}

/// Where a new volume's data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Empty,
    Image(ImageId),
    Snapshot(SnapshotId),
    Volume(VolumeId),
}

/// What a list may be narrowed to (Cinder's filters) and how it is paged.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `None`: every project (an admin's `all_tenants`).
    pub project: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub metadata: Metadata,
    pub limit: Option<usize>,
    pub marker: Option<String>,
    /// (column, descending), first key first.
    pub sort: Vec<(SortKey, bool)>,
    /// For snapshots.
    pub volume_id: Option<String>,
}

/// The keys lists sort on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    CreatedAt,
    UpdatedAt,
    Id,
    Name,
    Status,
    Size,
}

impl SortKey {
    pub fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "created_at" => SortKey::CreatedAt,
            "updated_at" => SortKey::UpdatedAt,
            "id" => SortKey::Id,
            "name" | "display_name" => SortKey::Name,
            "status" => SortKey::Status,
            "size" => SortKey::Size,
            _ => return None,
        })
    }

    pub fn column(self) -> &'static str {
        match self {
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Id => "id",
            SortKey::Name => "name",
            SortKey::Status => "status",
            SortKey::Size => "size",
        }
    }
}

/// One quota: its limit, and (when asked) what is in use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaUsage {
    pub limit: i64,
    pub in_use: i64,
}

/// The capacity of a backend, in GiB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    pub total_gb: u64,
    pub free_gb: u64,
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Status::parse(s).ok_or_else(|| format!("not a volume status: {s}"))
    }
}

impl std::str::FromStr for SnapshotStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        SnapshotStatus::parse(s).ok_or_else(|| format!("not a snapshot status: {s}"))
    }
}

//! The plain types of the image service.

use std::collections::{BTreeMap, BTreeSet};

/// An image's status, as Glance names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Saving,
    Active,
    Killed,
    Deleted,
    Uploading,
    Importing,
    PendingDelete,
    Deactivated,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Queued,
        Status::Saving,
        Status::Active,
        Status::Killed,
        Status::Deleted,
        Status::Uploading,
        Status::Importing,
        Status::PendingDelete,
        Status::Deactivated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Saving => "saving",
            Status::Active => "active",
            Status::Killed => "killed",
            Status::Deleted => "deleted",
            Status::Uploading => "uploading",
            Status::Importing => "importing",
            Status::PendingDelete => "pending_delete",
            Status::Deactivated => "deactivated",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The statuses an image may move to from this one (Glance's `valid_state_targets`).
    pub fn targets(self) -> &'static [Status] {
        use Status::*;
        match self {
            Queued => &[Saving, Uploading, Importing, Active, Deleted],
            Saving => &[Active, Killed, Deleted, Queued],
            Uploading => &[Importing, Queued, Deleted],
            Importing => &[Active, Deleted, Queued],
            Active => &[PendingDelete, Deleted, Deactivated],
            Killed => &[Deleted],
            PendingDelete => &[Deleted, Active],
            Deleted => &[],
            Deactivated => &[Active, Deleted],
        }
    }
}

/// Who may see an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Private,
    Shared,
    Community,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        [
            Visibility::Public,
            Visibility::Private,
            Visibility::Shared,
            Visibility::Community,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// An image's record.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    pub id: String,
    pub name: Option<String>,
    pub status: Status,
    pub visibility: Visibility,
    pub protected: bool,
    pub os_hidden: bool,
    pub owner: Option<String>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub min_disk: i64,
    pub min_ram: i64,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    /// Where the data is, in the store's terms (`file:///...`); `None` without data.
    pub location: Option<String>,
    /// Custom properties; a value may be null (e.g. `kernel_id`).
    pub properties: BTreeMap<String, Option<String>>,
    pub tags: BTreeSet<String>,
    /// RFC 3339 with microseconds, UTC (`2024-01-02T03:04:05.000006Z`).
    pub created_at: String,
    pub updated_at: String,
}

/// A project an image is shared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub image_id: String,
    pub member_id: String,
    pub status: MemberStatus,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    Pending,
    Accepted,
    Rejected,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<MemberStatus> {
        [
            MemberStatus::Pending,
            MemberStatus::Accepted,
            MemberStatus::Rejected,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// The current time as stored: RFC 3339, UTC, microseconds (so it sorts as text).
pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A stored time as Glance shows it: `2024-01-02T03:04:05Z`.
pub fn isotime(stored: &str) -> String {
    match stored.find('.') {
        Some(i) => format!("{}Z", &stored[..i]),
        None => stored.to_owned(),
    }
}

/// An image id as stored: image ids are UUIDs, which compare case-insensitively, so
/// every id that comes in (path, body, query) is lower-cased before use. (Ids that are
/// not UUIDs match nothing anyway.)
pub fn normalize_id(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// The largest `min_disk` / `min_ram` (Glance's database holds them as 32-bit
/// integers and refuses more).
pub const MAX_DB_INT: i64 = (1 << 31) - 1;

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

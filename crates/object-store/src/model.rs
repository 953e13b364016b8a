//! Plain types of the service: names, timestamps, metadata, listings. No HTTP here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Swift's limits (its `constraints` module's defaults), as `/info` reports them.
pub mod limits {
    pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024 * 1024 + 2;
    pub const MAX_META_NAME_LENGTH: usize = 128;
    pub const MAX_META_VALUE_LENGTH: usize = 256;
    pub const MAX_META_COUNT: usize = 90;
    pub const MAX_META_OVERALL_SIZE: usize = 4096;
    pub const MAX_HEADER_SIZE: usize = 8192;
    pub const MAX_OBJECT_NAME_LENGTH: usize = 1024;
    pub const CONTAINER_LISTING_LIMIT: usize = 10000;
    pub const ACCOUNT_LISTING_LIMIT: usize = 10000;
    pub const MAX_ACCOUNT_NAME_LENGTH: usize = 256;
    pub const MAX_CONTAINER_NAME_LENGTH: usize = 256;
}

/// A point in time as Swift writes it (`X-Timestamp: 1700000000.12345`): units of
/// 10 µs since the epoch, so that its fixed-width text sorts as it compares.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_secs() * 100_000 + u64::from(d.subsec_micros() / 10))
    }

    pub fn secs(self) -> u64 {
        self.0 / 100_000
    }

    pub fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs.saturating_mul(100_000))
    }

    /// `1700000000.12345`, zero-padded to 16 characters (Swift's `normal` form).
    pub fn normal(self) -> String {
        format!("{:010}.{:05}", self.0 / 100_000, self.0 % 100_000)
    }

    /// Parse Swift's forms: `1700000000`, `1700000000.12345` (more digits are cut).
    pub fn parse(s: &str) -> Option<Timestamp> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: u64 = int.parse().ok()?;
        let mut f = frac.chars().take(5).collect::<String>();
        while f.len() < 5 {
            f.push('0');
        }
        let frac: u64 = f.parse().ok()?;
        Some(Timestamp(secs.checked_mul(100_000)?.checked_add(frac)?))
    }

    /// The ISO form of listings: `2024-01-02T03:04:05.123450`.
    pub fn iso(self) -> String {
        let secs = i64::try_from(self.secs()).unwrap_or(i64::MAX);
        let micros = u32::try_from((self.0 % 100_000) * 10).unwrap_or(0);
        chrono::DateTime::from_timestamp(secs, micros * 1000)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
            .unwrap_or_default()
    }

    /// An HTTP date (`Last-Modified`), rounded up to the second as Swift does.
    pub fn http_date(self) -> String {
        let secs = self.0.div_ceil(100_000);
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    }
}

/// User metadata (`X-<Kind>-Meta-<name>`), names lower-cased as HTTP headers are.
pub type Meta = BTreeMap<String, String>;

/// What an object server keeps of an object besides its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// `account/container/object`.
    pub name: String,
    pub timestamp: Timestamp,
    pub content_length: u64,
    pub content_type: String,
    /// The MD5 of the bytes, lower-case hex.
    pub etag: String,
    #[serde(default)]
    pub meta: Meta,
    /// Headers Swift keeps as they came (`Content-Disposition`, `Content-Encoding`,
    /// `Content-Language`, `Cache-Control`, `Expires`, `X-Delete-At`...), by lower-case
    /// name.
    #[serde(default)]
    pub system: BTreeMap<String, String>,
    /// When the object expires (`X-Delete-At`), in seconds.
    #[serde(default)]
    pub delete_at: Option<u64>,
    /// When the metadata last changed (a POST), if after the data.
    #[serde(default)]
    pub meta_timestamp: Option<Timestamp>,
}

impl ObjectInfo {
    pub fn expired(&self, now: Timestamp) -> bool {
        self.delete_at.is_some_and(|t| now.secs() >= t)
    }
}

/// What a metadata update (POST) sets: it replaces the user metadata and the kept
/// headers, as Swift's fast-POST does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaUpdate {
    pub timestamp: Timestamp,
    pub meta: Meta,
    pub system: BTreeMap<String, String>,
    pub delete_at: Option<u64>,
    pub content_type: Option<String>,
}

/// An account's totals and metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountInfo {
    pub container_count: u64,
    pub object_count: u64,
    pub bytes_used: u64,
    pub meta: Meta,
    pub created: Timestamp,
    pub put_timestamp: Timestamp,
}

/// A container's totals, metadata and ACLs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerInfo {
    pub name: String,
    pub object_count: u64,
    pub bytes_used: u64,
    pub meta: Meta,
    /// `X-Container-Read` / `-Write`, as set.
    pub read_acl: String,
    pub write_acl: String,
    pub created: Timestamp,
    pub put_timestamp: Timestamp,
    /// The newest change to it or its objects (`last_modified` of account listings).
    pub last_modified: Timestamp,
}

/// A container's metadata update: the names to set (empty value: remove).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerUpdate {
    pub meta: Meta,
    pub read_acl: Option<String>,
    pub write_acl: Option<String>,
}

/// The query of a listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<char>,
    pub marker: String,
    pub end_marker: String,
    pub limit: usize,
    pub reverse: bool,
}

/// A row of a container listing.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectEntry {
    Object {
        name: String,
        bytes: u64,
        content_type: String,
        hash: String,
        last_modified: Timestamp,
    },
    Subdir(String),
}

/// A row of an account listing.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerEntry {
    Container {
        name: String,
        count: u64,
        bytes: u64,
        last_modified: Timestamp,
    },
    Subdir(String),
}

impl ObjectEntry {
    pub fn name(&self) -> &str {
        match self {
            ObjectEntry::Object { name, .. } | ObjectEntry::Subdir(name) => name,
        }
    }
}

impl ContainerEntry {
    pub fn name(&self) -> &str {
        match self {
            ContainerEntry::Container { name, .. } | ContainerEntry::Subdir(name) => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = Timestamp::parse("1700000000.12345").unwrap();
        assert_eq!(t.normal(), "1700000000.12345");
        assert_eq!(
            Timestamp::parse("1700000000").unwrap().normal(),
            "1700000000.00000"
        );
        assert_eq!(
            Timestamp::parse("1700000000.1").unwrap().normal(),
            "1700000000.10000"
        );
        assert_eq!(Timestamp::parse("1700000000.123456789").unwrap(), t);
        assert!(Timestamp::parse("x").is_none());
        assert!(Timestamp::parse("-1").is_none());
        assert_eq!(t.iso(), "2023-11-14T22:13:20.123450");
        assert_eq!(t.http_date(), "Tue, 14 Nov 2023 22:13:21 GMT");
        assert!(Timestamp::now() > t);
    }
}

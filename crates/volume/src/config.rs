//! The `[volume]` section of the configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `[volume]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port of the Cinder API.
    pub port: u16,
    /// Where the file backend keeps volume and snapshot files (default
    /// `<data_dir>/volumes`).
    pub volumes_dir: Option<PathBuf>,
    /// The file backend's `volume_backend_name` (what a type's extra spec may ask for).
    pub backend_name: String,
    /// Format of volume files: `raw` (sparse) or `qcow2`.
    pub volume_format: String,
    /// Capacity the file backend reports and schedules against, in GiB (0: the free
    /// space of its filesystem).
    pub capacity_gb: u64,
    /// The availability zone volumes are created in (Cinder's `storage_availability_zone`).
    pub availability_zone: String,
    /// The type of volumes created without one (Cinder's `default_volume_type`).
    pub default_volume_type: String,
    /// Largest JSON request body, in bytes.
    pub max_request_body_size: usize,
    /// Page size of lists without `limit`, and the largest page (Cinder's `osapi_max_limit`).
    pub osapi_max_limit: usize,
    /// Per-project quota defaults (Cinder's `quota_*`); -1 is unlimited.
    pub quotas: Quotas,
}

/// Default quotas of every project.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    pub volumes: i64,
    pub snapshots: i64,
    pub gigabytes: i64,
    pub per_volume_gigabytes: i64,
    pub backups: i64,
    pub backup_gigabytes: i64,
    pub groups: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            volumes: 10,
            snapshots: 10,
            gigabytes: 1000,
            per_volume_gigabytes: -1,
            backups: 10,
            backup_gigabytes: 1000,
            groups: 10,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 8776,
            volumes_dir: None,
            backend_name: "file".into(),
            volume_format: "raw".into(),
            capacity_gb: 0,
            availability_zone: "nova".into(),
            default_volume_type: "__DEFAULT__".into(),
            max_request_body_size: 114_688,
            osapi_max_limit: 1000,
            quotas: Quotas::default(),
        }
    }
}

pub const CONFIG_EXAMPLE: &str = r#"[volume]
port = 8776
# Where the file backend keeps volume and snapshot files (default <data_dir>/volumes).
# volumes_dir = "/var/lib/oxistack/volumes"
# The file backend's volume_backend_name (a volume type's extra spec may ask for it).
backend_name = "file"
# Format of volume files: "raw" (sparse) or "qcow2".
volume_format = "raw"
# Capacity reported and scheduled against, in GiB (0: the free space of the filesystem).
capacity_gb = 0
# The availability zone of volumes (Cinder's storage_availability_zone).
availability_zone = "nova"
# The type of volumes created without one.
default_volume_type = "__DEFAULT__"
# Largest JSON request body, in bytes.
max_request_body_size = 114688
# The largest page of lists (Cinder's osapi_max_limit).
osapi_max_limit = 1000

[volume.quotas]
# Defaults of every project; -1 is unlimited.
volumes = 10
snapshots = 10
gigabytes = 1000
per_volume_gigabytes = -1
backups = 10
backup_gigabytes = 1000
groups = 10
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn example_is_the_defaults() {
        let v: toml::Value = toml::from_str(super::CONFIG_EXAMPLE).unwrap();
        let cfg: super::Config = v["volume"].clone().try_into().unwrap();
        assert_eq!(cfg, super::Config::default());
    }
}

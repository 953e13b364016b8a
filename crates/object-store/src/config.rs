//! The `[object]` section of the configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `[object]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port of the Swift API (the proxy).
    pub port: u16,
    /// The ring file (default: `<data_dir>/object/ring.json`), made and changed with
    /// `oxistack manage ring`.
    pub ring_file: Option<PathBuf>,
    /// Where `up` puts the devices of the ring it makes when there is none (default:
    /// `<data_dir>/object/devices`).
    pub devices_dir: Option<PathBuf>,
    /// The partition power of the ring `up` makes.
    pub part_power: u8,
    /// Largest object accepted, in bytes (Swift's `max_file_size`).
    pub max_file_size: u64,
    /// Largest page of a listing (Swift's `container_listing_limit`).
    pub listing_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 8080,
            ring_file: None,
            devices_dir: None,
            part_power: 8,
            max_file_size: crate::model::limits::MAX_FILE_SIZE,
            listing_limit: crate::model::limits::CONTAINER_LISTING_LIMIT,
        }
    }
}

impl Config {
    pub fn ring_path(&self, data_dir: &std::path::Path) -> PathBuf {
        self.ring_file
            .clone()
            .unwrap_or_else(|| data_dir.join("object").join("ring.json"))
    }

    pub fn devices_path(&self, data_dir: &std::path::Path) -> PathBuf {
        self.devices_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("object").join("devices"))
    }
}

//! The `[image]` section of the configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `[image]` section of the configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port of the Glance API.
    pub port: u16,
    /// Where the filesystem store keeps image data (default: `<data_dir>/images`).
    pub store_dir: Option<PathBuf>,
    /// Where data staged for interoperable import waits (default: `<store_dir>/staging`).
    pub staging_dir: Option<PathBuf>,
    /// Largest image accepted, in bytes (Glance's `image_size_cap`, 1 TiB); a larger
    /// upload is refused with 413.
    pub max_image_size: u64,
    /// Per-project limits (Glance's unified-limits names).
    pub quotas: Quotas,
    /// What `web-download` may fetch: each entry is a URL prefix
    /// (`http://mirror.example:8080/images/`) or a host, optionally with a port
    /// (`mirror.example`, `127.0.0.1:8080`). Empty (the default): nothing.
    pub web_download_allowed: Vec<String>,
    /// Largest JSON request body, in bytes (image data is not limited by this).
    pub max_request_body_size: usize,
    /// Page size of image lists when the client gives no `limit`.
    pub limit_param_default: usize,
    /// Largest page of image lists.
    pub api_limit_max: usize,
    /// Most members an image may have.
    pub image_member_quota: usize,
    /// Most custom properties an image may have.
    pub image_property_quota: usize,
    /// Most tags an image may have.
    pub image_tag_quota: usize,
    /// Refuse uploads whose content does not match their `disk_format` (Glance's
    /// `require_image_format_match`). Safety checks (backing files...) always apply.
    pub require_image_format_match: bool,
    /// The algorithm of `os_hash_value` (Glance's `hashing_algorithm`): `sha512`
    /// (Glance's default) or `sha256` (several times faster where the CPU has SHA
    /// instructions).
    pub hashing_algorithm: HashAlgo,
    /// Accepted values of `disk_format`.
    pub disk_formats: Vec<String>,
    /// Accepted values of `container_format`.
    pub container_formats: Vec<String>,
}

/// Per-project quotas; `-1` means unlimited.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    /// Most images a project may own (in any status).
    pub image_count_total: i64,
    /// Most image data a project may store, in MiB, over all its images.
    pub image_size_total: i64,
    /// Most data a project may have staged for import, in MiB.
    pub image_stage_total: i64,
    /// Most images a project may be uploading or importing at once.
    pub image_count_uploading: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            image_count_total: -1,
            image_size_total: -1,
            image_stage_total: -1,
            image_count_uploading: -1,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 9292,
            store_dir: None,
            staging_dir: None,
            max_image_size: 1 << 40,
            quotas: Quotas::default(),
            web_download_allowed: Vec::new(),
            max_request_body_size: 114_688,
            limit_param_default: 25,
            api_limit_max: 1000,
            image_member_quota: 128,
            image_property_quota: 128,
            image_tag_quota: 128,
            require_image_format_match: true,
            hashing_algorithm: HashAlgo::Sha512,
            disk_formats: [
                "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
            ]
            .map(String::from)
            .to_vec(),
            container_formats: [
                "ami",
                "ari",
                "aki",
                "bare",
                "ovf",
                "ova",
                "docker",
                "compressed",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// The algorithm of an image's `os_hash_value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgo {
    Sha512,
    Sha256,
}

impl HashAlgo {
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Sha512 => "sha512",
            HashAlgo::Sha256 => "sha256",
        }
    }
}

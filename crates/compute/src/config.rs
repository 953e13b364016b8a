//! The `[compute_api]` section of the configuration.

use serde::{Deserialize, Serialize};

/// The `[compute_api]` section of the configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port of the Compute API.
    pub port: u16,
    /// Largest JSON request body, in bytes.
    pub max_request_body_size: usize,
    /// Largest page of a list (Nova's `[api] max_limit`).
    pub max_limit: usize,
    /// The availability zone of hosts in no zone-bearing aggregate.
    pub default_availability_zone: String,
    /// The zone a server without one is built in (None: any host).
    pub default_schedule_zone: Option<String>,
    /// A service whose last heartbeat is older than this, in seconds, is down.
    pub service_down_time: u64,
    /// Largest decoded `user_data`, in bytes (Nova: 65535 encoded).
    pub max_user_data_bytes: usize,
    /// noVNC's page at the console proxy, as browsers reach it (Nova's `[vnc]
    /// novncproxy_base_url`); empty: port 6080 of the host the API is reached at.
    pub novncproxy_base_url: String,
    /// The default quotas of every project; `-1` is unlimited.
    pub quotas: Quotas,
    /// What `oxistack up` creates.
    pub bootstrap: Bootstrap,
}

/// What `oxistack up` creates.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Bootstrap {
    /// Create DevStack's flavors (m1.nano, m1.tiny ... m1.xlarge) unless they exist.
    pub flavors: bool,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap { flavors: true }
    }
}

/// Nova's `[quota]` defaults.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    pub instances: i64,
    pub cores: i64,
    pub ram: i64,
    pub metadata_items: i64,
    pub key_pairs: i64,
    pub server_groups: i64,
    pub server_group_members: i64,
    pub injected_files: i64,
    pub injected_file_content_bytes: i64,
    pub injected_file_path_length: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            instances: 10,
            cores: 20,
            ram: 51200,
            metadata_items: 128,
            key_pairs: 100,
            server_groups: 10,
            server_group_members: 10,
            injected_files: 5,
            injected_file_content_bytes: 10240,
            injected_file_path_length: 255,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 8774,
            max_request_body_size: 114_688,
            max_limit: 1000,
            default_availability_zone: "nova".into(),
            default_schedule_zone: None,
            service_down_time: 60,
            max_user_data_bytes: 65535,
            novncproxy_base_url: String::new(),
            quotas: Quotas::default(),
            bootstrap: Bootstrap::default(),
        }
    }
}

/// The documented section, as `oxistack config` prints it.
pub const EXAMPLE: &str = r#"[compute_api]
port = 8774
# Largest JSON request body, in bytes.
max_request_body_size = 114688
# Largest page of a list.
max_limit = 1000
# The availability zone of hosts that no aggregate puts in a zone.
default_availability_zone = "nova"
# The zone of servers created without one (unset: any host), e.g.
# default_schedule_zone = "nova"
# A service silent for longer than this (seconds) is shown as down.
service_down_time = 60
# Largest user_data, in bytes.
max_user_data_bytes = 65535
# The console URLs' page at the VNC proxy, as browsers reach it, e.g.
# "http://cloud.example:6080/vnc_auto.html"; empty: port 6080 of the API's host.
novncproxy_base_url = ""

[compute_api.bootstrap]
# What `oxistack up` creates: DevStack's flavors (m1.nano 42, m1.tiny 1 ... m1.xlarge 5).
flavors = true

[compute_api.quotas]
# Default per-project quotas; -1 is unlimited.
instances = 10
cores = 20
ram = 51200
metadata_items = 128
key_pairs = 100
server_groups = 10
server_group_members = 10
injected_files = 5
injected_file_content_bytes = 10240
injected_file_path_length = 255
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn example_is_the_defaults() {
        let v: toml::Value = toml::from_str(super::EXAMPLE).unwrap();
        let cfg: super::Config = v["compute_api"].clone().try_into().unwrap();
        assert_eq!(cfg, super::Config::default());
    }
}

//! The `[placement]` section of the configuration.

use serde::{Deserialize, Serialize};

/// The `[placement]` section of the configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port of the Placement API.
    pub port: u16,
    /// Largest JSON request body, in bytes.
    pub max_request_body_size: usize,
    /// The project recorded for consumers whose allocations were written before
    /// microversion 1.8 (which made `project_id` required).
    pub incomplete_consumer_project_id: String,
    /// The user recorded for such consumers.
    pub incomplete_consumer_user_id: String,
    /// Most allocation requests `GET /allocation_candidates` computes (before `limit`).
    pub max_allocation_candidates: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 8778,
            max_request_body_size: 1_048_576,
            incomplete_consumer_project_id: "00000000-0000-0000-0000-000000000000".into(),
            incomplete_consumer_user_id: "00000000-0000-0000-0000-000000000000".into(),
            max_allocation_candidates: 10_000,
        }
    }
}

/// The documented section, with every default.
pub const EXAMPLE: &str = r#"[placement]
port = 8778
# Largest JSON request body, in bytes.
max_request_body_size = 1048576
# Project and user recorded for allocations written before microversion 1.8.
incomplete_consumer_project_id = "00000000-0000-0000-0000-000000000000"
incomplete_consumer_user_id = "00000000-0000-0000-0000-000000000000"
# Most allocation requests GET /allocation_candidates computes (before `limit`).
max_allocation_candidates = 10000
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn example_is_the_default() {
        let v: toml::Value = toml::from_str(super::EXAMPLE).unwrap();
        let cfg: super::Config = v["placement"].clone().try_into().unwrap();
        assert_eq!(cfg, super::Config::default());
    }
}

//! The `[metadata]` section of the configuration (Nova's `[api]` metadata options and
//! `[neutron] metadata_proxy_shared_secret`).

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::content::{Settings, DYNAMIC_JSON, STATIC_JSON};

/// The `[metadata]` section.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port of the metadata API (nova-api-metadata's 8775).
    pub port: u16,
    /// The secret shared with the networking service's metadata proxies (the network
    /// agent's `metadata_proxy_shared_secret`): a request counts only when its
    /// `X-Instance-ID-Signature` is the HMAC-SHA256 of `X-Instance-ID` with it.
    pub metadata_proxy_shared_secret: String,
    /// Domain appended to instances' host names; empty: none.
    pub dhcp_domain: String,
    /// Vendor data providers, in order: `StaticJSON`, `DynamicJSON`.
    pub vendordata_providers: Vec<String>,
    /// The JSON file `StaticJSON` serves (empty: `{}`).
    pub vendordata_jsonfile_path: String,
}

impl Default for Config {
    fn default() -> Self {
        let s = Settings::default();
        Config {
            port: 8775,
            metadata_proxy_shared_secret: String::new(),
            dhcp_domain: s.dhcp_domain,
            vendordata_providers: s.vendordata_providers,
            vendordata_jsonfile_path: String::new(),
        }
    }
}

/// The documented section, as `oxistack config` prints it.
pub const EXAMPLE: &str = r#"[metadata]
# The Compute metadata service (nova-api-metadata): guests' requests arrive through the
# networking service's metadata proxies, signed with the shared secret.
port = 8775
# Must equal [network_agent] metadata_proxy_shared_secret.
metadata_proxy_shared_secret = ""
# Appended to host names (vm-1.novalocal); empty for none.
dhcp_domain = "novalocal"
# StaticJSON (the file below) and/or DynamicJSON (what Compute gathered), in order.
vendordata_providers = ["StaticJSON"]
# The JSON object StaticJSON serves in vendor_data.json; empty: {}.
vendordata_jsonfile_path = ""
"#;

impl Config {
    /// The content settings: the vendor data file read and checked.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        for p in &self.vendordata_providers {
            anyhow::ensure!(
                p == STATIC_JSON || p == DYNAMIC_JSON,
                "unknown vendordata provider {p:?}: the providers are {STATIC_JSON} and {DYNAMIC_JSON}"
            );
        }
        let static_vendor_data = if self.vendordata_jsonfile_path.is_empty() {
            serde_json::json!({})
        } else {
            read_json(Path::new(&self.vendordata_jsonfile_path))?
        };
        Ok(Settings {
            dhcp_domain: self.dhcp_domain.clone(),
            vendordata_providers: self.vendordata_providers.clone(),
            static_vendor_data,
        })
    }
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read vendordata_jsonfile_path {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("vendordata_jsonfile_path {} is not JSON", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_the_default() {
        let v: toml::Value = toml::from_str(EXAMPLE).unwrap();
        let parsed: Config = v["metadata"].clone().try_into().unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn vendor_data_comes_from_the_file() {
        let dir = std::env::temp_dir().join(format!("oxi-md-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vendor.json");
        std::fs::write(&file, r#"{"cloud": "oxistack"}"#).unwrap();
        let cfg = Config {
            vendordata_jsonfile_path: file.display().to_string(),
            ..Config::default()
        };
        assert_eq!(
            cfg.settings().unwrap().static_vendor_data,
            serde_json::json!({"cloud": "oxistack"})
        );
        std::fs::write(&file, "nope").unwrap();
        let err = cfg.settings().unwrap_err();
        assert!(format!("{err:#}").contains("is not JSON"), "{err:#}");
        let bad = Config {
            vendordata_providers: vec!["Nope".into()],
            ..Config::default()
        };
        assert!(bad.settings().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

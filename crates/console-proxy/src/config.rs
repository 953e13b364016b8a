//! The `[novncproxy]` section (Nova's `[vnc] novncproxy_port`, `[DEFAULT] web`,
//! `[console] allowed_origins`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port of the proxy (nova-novncproxy's 6080).
    pub port: u16,
    /// The directory of noVNC's pages (`vnc_auto.html`, `vnc_lite.html`, `app/`...),
    /// served as files; Debian's `novnc` package installs them in /usr/share/novnc.
    pub web: String,
    /// Host names a websocket's `Origin` may name besides the proxy's own.
    pub allowed_origins: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6080,
            web: "/usr/share/novnc".into(),
            allowed_origins: Vec::new(),
        }
    }
}

pub const EXAMPLE: &str = r#"[novncproxy]
# The VNC console proxy (nova-novncproxy): browsers' websockets to guests' consoles.
port = 6080
# noVNC's pages, served as files (Debian's novnc package puts them here).
web = "/usr/share/novnc"
# Host names a websocket's Origin may name besides the proxy's own host.
allowed_origins = []
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_is_the_default() {
        let v: toml::Value = toml::from_str(super::EXAMPLE).unwrap();
        let parsed: super::Config = v["novncproxy"].clone().try_into().unwrap();
        assert_eq!(parsed, super::Config::default());
    }
}

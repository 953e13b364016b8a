//! The configuration file (TOML). Every option has a default, so `oxistack up` needs no
//! file at all. `oxistack config` prints the effective configuration, documented.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the database, keys, images and generated client files live.
    pub data_dir: PathBuf,
    /// The address services listen on.
    pub bind_host: String,
    /// The host name or address clients use to reach the services (put in the catalog).
    pub public_host: String,
    /// The region of the catalog.
    pub region: String,
    /// An oslo.policy-style YAML or JSON file overriding the default rules of any service.
    pub policy_file: Option<PathBuf>,
    /// Log filter, in `RUST_LOG` syntax (`info`, `warn,oxistack::request=info`, ...).
    pub log: String,
    pub database: DatabaseConfig,
    pub identity: identity::Config,
    pub image: image::Config,
    /// Build the test image and register it as the public image `cirros` at `up`.
    pub test_image: bool,
    /// Where the test image is built (default: `<data_dir>/test-image`).
    pub test_image_dir: Option<PathBuf>,
    /// How services authenticate to identity when it runs in another process.
    pub service_auth: crate::service_auth::ServiceAuthConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite:///path/file.db` (default: `<data_dir>/oxistack.db`) or
    /// `postgres://user:password@host/dbname`.
    pub url: Option<String>,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 8,
        }
    }
}

/// The default data directory: `$XDG_DATA_HOME/oxistack` or `~/.local/share/oxistack`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("oxistack");
    }
    match std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        Some(h) => PathBuf::from(h).join(".local/share/oxistack"),
        None => PathBuf::from("/var/lib/oxistack"),
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            bind_host: "127.0.0.1".into(),
            public_host: "127.0.0.1".into(),
            region: "RegionOne".into(),
            policy_file: None,
            log: "info".into(),
            database: DatabaseConfig::default(),
            identity: identity::Config::default(),
            image: image::Config::default(),
            test_image: true,
            test_image_dir: None,
            service_auth: Default::default(),
        }
    }
}

impl Config {
    /// Read a config file; `None` gives the defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))
    }

    pub fn database_url(&self) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("oxistack.db").display()))
    }

    pub fn policy_path(&self) -> Option<PathBuf> {
        self.policy_file
            .clone()
            .or_else(|| Some(self.data_dir.join("policy.yaml")))
    }

    pub fn url(&self, port: u16) -> String {
        format!("http://{}:{port}", self.public_host)
    }
}

/// The documented default configuration, printed by `oxistack config`.
pub const EXAMPLE: &str = r#"# oxistack configuration. Every key is optional; these are the defaults.

# Where the database, keys, images and generated client files live.
# data_dir = "~/.local/share/oxistack"
# Address the services listen on, and the address clients use (put in the catalog).
bind_host = "127.0.0.1"
public_host = "127.0.0.1"
region = "RegionOne"
# oslo.policy-style overrides for any service (default: <data_dir>/policy.yaml if present).
# policy_file = "/etc/oxistack/policy.yaml"
# Log filter in RUST_LOG syntax.
log = "info"
# At `up`, build the test guest image and register it as the public image `cirros`.
test_image = true
# test_image_dir = "<data_dir>/test-image"

[database]
# sqlite:///path/file.db (default <data_dir>/oxistack.db) or postgres://user:pass@host/db
# url = "postgres://oxistack:secret@db.example/oxistack"
max_connections = 8

[identity]
port = 5000
# Token lifetime in seconds.
token_expiration = 3600
# Fernet key repository (default <data_dir>/fernet-keys); keys kept across rotations.
# key_repository = "/etc/oxistack/fernet-keys"
max_active_keys = 3
# Admins of this project are cloud admins (Keystone's admin project).
admin_project_name = "admin"
admin_project_domain_name = "Default"
# Seconds a validated token is remembered (writes on this node clear it at once).
validation_cache_seconds = 30
max_request_body_size = 114688

[service_auth]
# Used by services running without identity in the same process (`serve --role image`):
# they validate user tokens by asking identity, as this user.
# auth_url = "http://identity.example:5000/v3"
username = "admin"
# password = "..."
project_name = "admin"
user_domain_name = "Default"
project_domain_name = "Default"
# Seconds a validated user token is trusted before identity is asked again.
cache_seconds = 10
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_matches_defaults() {
        let c: Config = toml::from_str(EXAMPLE).unwrap();
        let d = Config::default();
        assert_eq!(c.identity.port, d.identity.port);
        assert_eq!(c.identity.token_expiration, d.identity.token_expiration);
        assert_eq!(c.bind_host, d.bind_host);
        assert_eq!(c.database.max_connections, d.database.max_connections);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("colour = 1").is_err());
        assert!(toml::from_str::<Config>("[identity]\nport = \"x\"").is_err());
    }
}

//! The configuration file (TOML). Every option has a default, so `oxistack up` needs no
//! file at all. The top level and `[database]`, `[service_auth]` belong to the binary;
//! every other section belongs to the registered service of that name, which parses it.
//! `oxistack config` prints the whole documented configuration.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use service::{AnyService, Service};

use crate::services::{self, AGENTS, SERVICES};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// Build the test image and register it as the public image `cirros` at `up`.
    pub test_image: bool,
    /// Where the test image is built (default: `<data_dir>/test-image`).
    pub test_image_dir: Option<PathBuf>,
    pub database: DatabaseConfig,
    /// The internal message bus: in-process, or RabbitMQ (`url`) for `serve` on many
    /// machines.
    pub bus: bus::BusConfig,
    /// Limits of every API listener: header and idle timeouts, connections.
    pub server: api_common::server::ServerConfig,
    /// How services authenticate to identity when it runs in another process.
    pub service_auth: crate::service_auth::ServiceAuthConfig,
    /// The sections of the services, by service name, as written (each service parses
    /// its own; [`Config::load`] checks them all).
    #[serde(skip)]
    pub services: BTreeMap<String, toml::Value>,
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
            test_image: true,
            test_image_dir: None,
            database: DatabaseConfig::default(),
            bus: Default::default(),
            server: Default::default(),
            service_auth: Default::default(),
            services: BTreeMap::new(),
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
        Config::parse(&text)
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {e:#}", path.display()))
    }

    /// Parse a configuration: the binary's own keys, then each service's section, which
    /// that service checks. An unknown key or section is an error.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let mut table: toml::Table = toml::from_str(text)?;
        let mut sections = BTreeMap::new();
        for svc in SERVICES {
            if let Some(v) = table.remove(svc.name()) {
                svc.check_config(Some(&v))?;
                sections.insert(svc.name().to_owned(), v);
            }
        }
        for agent in AGENTS {
            if let Some(v) = table.remove(agent.name()) {
                agent.check_config(Some(&v))?;
                sections.insert(agent.name().to_owned(), v);
            }
        }
        let mut cfg: Config = toml::Value::Table(table).try_into()?;
        cfg.services = sections;
        Ok(cfg)
    }

    /// The section of a service (`None`: not written, so its defaults).
    pub fn section(&self, name: &str) -> Option<&toml::Value> {
        self.services.get(name)
    }

    /// The parsed section of service `S`.
    pub fn service<S: Service>(&self) -> S::Config {
        service::parse_section::<S>(self.section(S::NAME))
            .expect("sections are checked when the configuration is loaded")
    }

    /// The port of a registered service.
    pub fn port(&self, svc: &dyn AnyService) -> u16 {
        svc.port(self.section(svc.name()))
            .expect("sections are checked when the configuration is loaded")
    }

    /// The public root URL of a registered service (without its catalog path).
    pub fn service_url(&self, svc: &dyn AnyService) -> String {
        self.url(self.port(svc))
    }

    /// The public endpoint of every registered service, by catalog type.
    pub fn endpoints(&self) -> BTreeMap<&'static str, String> {
        SERVICES
            .iter()
            .filter_map(|s| {
                let c = s.catalog()?;
                Some((c.kind, format!("{}{}", self.service_url(*s), c.path)))
            })
            .collect()
    }

    /// The identity endpoint (`.../v3`), where clients and services authenticate.
    pub fn identity_url(&self) -> String {
        let id = services::by_name("identity").expect("identity is registered");
        let path = id.catalog().map_or("", |c| c.path);
        format!("{}{}", self.service_url(id), path)
    }

    pub fn database_url(&self) -> String {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.sqlite_path().display()))
    }

    /// The default SQLite file (used when no database URL is configured).
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("oxistack.db")
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

/// The binary's own part of the documented configuration.
const CORE_EXAMPLE: &str = r#"# oxistack configuration. Every key is optional; these are the defaults.

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

[bus]
# The internal message bus. Unset url: in-process (all services in one process, what
# `oxistack up` runs). For `serve` on many machines: a RabbitMQ broker,
# url = "amqp://oxistack:secret@rabbit.example:5672/%2f"
# Clouds sharing a broker keep apart by their exchange (oslo.messaging's control_exchange).
control_exchange = "oxistack"
# Seconds between AMQP heartbeats (0: off), and seconds to wait for the broker.
heartbeat_secs = 10
connect_timeout_secs = 10

[server]
# Every API listener: seconds a client has to send a whole request header (from its
# first byte), seconds a connection may idle between requests (a request in flight is
# never cut), most connections per listener, and file descriptors kept for the process
# itself (all listeners together stay below `ulimit -n` minus this).
header_read_timeout = 30
idle_timeout = 60
max_connections = 10000
reserved_fds = 128

[service_auth]
# Used by services running without identity in the same process (`serve --role image`):
# they validate user tokens by asking identity, as this user.
# auth_url = "http://identity.example:5000/v3"
username = "admin"
password = ""
project_name = "admin"
user_domain_name = "Default"
project_domain_name = "Default"
# Seconds a validated user token is trusted before identity is asked again.
cache_seconds = 10
"#;

/// The documented default configuration, printed by `oxistack config`: the binary's
/// part, then every service's section.
pub fn example() -> String {
    let mut out = CORE_EXAMPLE.to_owned();
    for svc in SERVICES {
        out.push('\n');
        out.push_str(svc.config_example());
    }
    for agent in AGENTS {
        out.push('\n');
        out.push_str(agent.config_example());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of `want` is in `got` with the same value, and nothing else is.
    fn same(path: &str, got: &toml::Value, want: &toml::Value) {
        match (got, want) {
            (toml::Value::Table(g), toml::Value::Table(w)) => {
                for k in w.keys() {
                    assert!(
                        g.contains_key(k),
                        "`oxistack config` does not show {path}{k}"
                    );
                }
                for (k, v) in g {
                    let w = w
                        .get(k)
                        .unwrap_or_else(|| panic!("{path}{k} is printed but is no option"));
                    same(&format!("{path}{k}."), v, w);
                }
            }
            _ => assert_eq!(got, want, "{path} printed differs from its default"),
        }
    }

    /// The printed configuration parses back to the defaults, field for field, for the
    /// binary and for every registered service.
    #[test]
    fn example_is_every_default() {
        let text = example();
        let cfg = Config::parse(&text).expect("the example parses");
        let mut printed: toml::Table = toml::from_str(&text).unwrap();
        let mut want = toml::Value::try_from(Config::default()).unwrap();
        // depends on the machine ($HOME), so the example shows it as a comment
        want.as_table_mut().unwrap().remove("data_dir");
        for svc in SERVICES {
            let section = printed
                .remove(svc.name())
                .unwrap_or_else(|| panic!("`oxistack config` has no [{}]", svc.name()));
            same(&format!("{}.", svc.name()), &section, &svc.default_config());
            assert!(cfg.section(svc.name()).is_some());
        }
        for agent in AGENTS {
            let section = printed
                .remove(agent.name())
                .unwrap_or_else(|| panic!("`oxistack config` has no [{}]", agent.name()));
            same(
                &format!("{}.", agent.name()),
                &section,
                &agent.default_config(),
            );
            assert!(cfg.section(agent.name()).is_some());
        }
        same("", &toml::Value::Table(printed), &want);
    }

    #[test]
    fn unknown_keys_are_refused() {
        for bad in [
            "colour = 1",
            "[identity]\nport = \"x\"",
            "[identity]\nprot = 5000",
            "[nova]\nport = 1",
        ] {
            assert!(Config::parse(bad).is_err(), "{bad}");
        }
        let c = Config::parse("[image]\nport = 9999").unwrap();
        assert_eq!(c.service::<image::ImageService>().port, 9999);
        assert_eq!(c.service::<identity::IdentityService>().port, 5000);
    }
}

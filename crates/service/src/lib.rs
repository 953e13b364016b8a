//! The service kit: what a service of oxistack is, and what it is given to run.
//!
//! A service (identity, image, ...) is one type implementing [`Service`]: its name (which
//! is also its config section and its `serve --role`), its catalog entry, its schema
//! migrations, its default policy, its fault style, its documented configuration, its
//! upgrade checks, and a `start` that takes the shared handles ([`Context`]) and returns
//! its router ([`Started`]). The binary keeps one list of registered services
//! ([`AnyService`] values) and `up`, `serve`, `manage db sync`, the catalog bootstrap,
//! `manage status upgrade-check` and `oxistack config` all iterate over it, so adding a
//! service is adding its crate and one line to that list.
//!
//! Background work of a service is spawned on [`Tasks`]: owned, named, with progress a
//! person can read (`oxistack up` prints it, `oxistack status` lists it), and joined at
//! shutdown.

pub mod checks;
pub mod client;
pub mod service_token;
pub mod tasks;

use std::{any::Any, collections::BTreeMap, future::Future, path::PathBuf, sync::Arc};

use api_common::{auth::AuthLayerState, FaultStyle, TokenValidator};
use axum::Router;
use futures::future::BoxFuture;
use serde::{de::DeserializeOwned, Serialize};
use tokio_util::sync::CancellationToken;

pub use checks::{Check, CheckResult, Report};
pub use service_token::{ServiceAuthConfig, ServiceToken};
pub use tasks::{Progress, TaskSnapshot, TaskState, Tasks};

/// How a service appears in the identity catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogInfo {
    /// The catalog type clients look for (`identity`, `image`, `compute`...).
    pub kind: &'static str,
    /// The service name OpenStack gives it (`keystone`, `glance`...).
    pub name: &'static str,
    /// What follows the root URL in the endpoint (`/v3` for identity, empty for image).
    pub path: &'static str,
}

/// How the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `oxistack up`: the whole cloud in this one process, which owns its data directory.
    AllInOne,
    /// `oxistack serve`: chosen services; other processes may share the database.
    Serve,
}

/// What a service is given when it starts.
pub struct Context {
    pub db: db::Db,
    /// The internal message bus (in-process for `up`, RabbitMQ when `[bus] url` says).
    pub bus: Arc<dyn bus::Transport>,
    /// Where the service keeps its files (keys, data stores...).
    pub data_dir: PathBuf,
    /// The operator's policy overrides, if any (each service loads it with `policy::Policy::load_if_exists`).
    pub policy_file: Option<PathBuf>,
    /// The public root URL of this service (`http://host:port`, without the catalog path).
    pub base_url: String,
    /// The public endpoint of every service of the cloud, by catalog type.
    pub endpoints: BTreeMap<&'static str, String>,
    /// Token validation for the service's protected routes.
    pub auth: AuthLayerState,
    /// The `[service_auth]` user's token, for calling other services' APIs.
    pub service_token: ServiceToken,
    /// Where the service spawns its background work.
    pub tasks: Tasks,
    pub mode: Mode,
}

impl Context {
    /// Cancelled when the process shuts down.
    pub fn shutdown(&self) -> CancellationToken {
        self.tasks.shutdown()
    }
}

/// What a started service hands back.
pub struct Started {
    /// Its HTTP API, with its layers (faults, request ids, token validation) applied.
    pub router: Router,
    /// Every path of `router` (its route table, see [`api_common::routes::Routes`]): the
    /// authorization test walks it, so no route escapes that test.
    pub routes: Vec<String>,
    /// Set by the service that validates tokens (identity): services started after it in
    /// the same process validate with it instead of asking identity over HTTP.
    pub validator: Option<Arc<dyn TokenValidator>>,
    /// The service's own handle, for the binary's first-run tasks (downcast it).
    pub handle: Arc<dyn Any + Send + Sync>,
}

/// What upgrade checks are given.
pub struct CheckContext {
    /// The cloud's database, when it could be opened.
    pub db: db::Db,
    pub data_dir: PathBuf,
}

/// A service of oxistack, as its crate declares it.
pub trait Service: Send + Sync + 'static {
    /// The `[NAME]` section of the configuration.
    type Config: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static;
    /// Its name: the config section, the `serve --role` and the log name.
    const NAME: &'static str;
    /// Its entry in the identity catalog; `None` for a service clients do not look up
    /// there (the metadata API, which guests reach through the metadata proxies).
    const CATALOG: Option<CatalogInfo>;
    /// More catalog types (and names) at the same endpoint, as Cinder is registered
    /// both as `block-storage` and `volumev3`.
    const CATALOG_ALIASES: &'static [(&'static str, &'static str)] = &[];
    const MIGRATIONS: &'static [db::Migration];
    /// Its default policy rules, in oslo.policy's language.
    const POLICY: &'static [(&'static str, &'static str)];
    const FAULT_STYLE: FaultStyle;
    /// The documented `[NAME]` section (tables included) with every default, as
    /// `oxistack config` prints it. A test checks it parses back to `Config::default()`.
    const CONFIG_EXAMPLE: &'static str;

    /// The port its API listens on.
    fn port(cfg: &Self::Config) -> u16;

    /// Start over a migrated database.
    fn start(
        cfg: Self::Config,
        ctx: Context,
    ) -> impl Future<Output = anyhow::Result<Started>> + Send;

    /// Its own checks for `oxistack manage status upgrade-check`.
    fn upgrade_checks(
        _cfg: &Self::Config,
        _ctx: &CheckContext,
    ) -> impl Future<Output = Vec<Check>> + Send {
        async { Vec::new() }
    }
}

/// A registered service, with its configuration section still in TOML: what the binary
/// iterates over. Every [`Service`] is one.
pub trait AnyService: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn catalog(&self) -> Option<CatalogInfo>;
    /// [`Service::CATALOG_ALIASES`]: (type, name) pairs.
    fn catalog_aliases(&self) -> &'static [(&'static str, &'static str)];
    fn migrations(&self) -> &'static [db::Migration];
    fn policy_defaults(&self) -> &'static [(&'static str, &'static str)];
    fn fault_style(&self) -> FaultStyle;
    fn config_example(&self) -> &'static str;
    /// The default section, as TOML.
    fn default_config(&self) -> toml::Value;
    /// Check a section (`None`: absent, so the defaults).
    fn check_config(&self, section: Option<&toml::Value>) -> anyhow::Result<()>;
    fn port(&self, section: Option<&toml::Value>) -> anyhow::Result<u16>;
    fn start(
        &self,
        section: Option<&toml::Value>,
        ctx: Context,
    ) -> BoxFuture<'static, anyhow::Result<Started>>;
    fn upgrade_checks<'a>(
        &'a self,
        section: Option<&'a toml::Value>,
        ctx: &'a CheckContext,
    ) -> BoxFuture<'a, Vec<Check>>;
}

/// Parse a service's section (absent: the defaults).
pub fn parse_section<S: Service>(section: Option<&toml::Value>) -> anyhow::Result<S::Config> {
    match section {
        None => Ok(S::Config::default()),
        Some(v) => v
            .clone()
            .try_into()
            .map_err(|e| anyhow::anyhow!("invalid [{}] section: {e}", S::NAME)),
    }
}

impl<S: Service> AnyService for S {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn catalog(&self) -> Option<CatalogInfo> {
        S::CATALOG
    }
    fn catalog_aliases(&self) -> &'static [(&'static str, &'static str)] {
        S::CATALOG_ALIASES
    }
    fn migrations(&self) -> &'static [db::Migration] {
        S::MIGRATIONS
    }
    fn policy_defaults(&self) -> &'static [(&'static str, &'static str)] {
        S::POLICY
    }
    fn fault_style(&self) -> FaultStyle {
        S::FAULT_STYLE
    }
    fn config_example(&self) -> &'static str {
        S::CONFIG_EXAMPLE
    }
    fn default_config(&self) -> toml::Value {
        toml::Value::try_from(S::Config::default())
            .expect("a service's default config serializes to TOML")
    }
    fn check_config(&self, section: Option<&toml::Value>) -> anyhow::Result<()> {
        parse_section::<S>(section).map(drop)
    }
    fn port(&self, section: Option<&toml::Value>) -> anyhow::Result<u16> {
        Ok(S::port(&parse_section::<S>(section)?))
    }
    fn start(
        &self,
        section: Option<&toml::Value>,
        ctx: Context,
    ) -> BoxFuture<'static, anyhow::Result<Started>> {
        let cfg = parse_section::<S>(section);
        Box::pin(async move { S::start(cfg?, ctx).await })
    }
    fn upgrade_checks<'a>(
        &'a self,
        section: Option<&'a toml::Value>,
        ctx: &'a CheckContext,
    ) -> BoxFuture<'a, Vec<Check>> {
        Box::pin(async move {
            match parse_section::<S>(section) {
                Ok(cfg) => S::upgrade_checks(&cfg, ctx).await,
                Err(e) => vec![Check::failure(
                    format!("{} configuration", S::NAME),
                    format!("{e:#}. Fix the configuration file."),
                )],
            }
        })
    }
}

/// What a host agent is given when it starts.
pub struct AgentContext {
    /// The bus to its service (in-process for `up`, RabbitMQ when `[bus] url` says).
    pub bus: Arc<dyn bus::Transport>,
    /// Where the agent keeps its files.
    pub data_dir: PathBuf,
    /// The public endpoint of every service of the cloud, by catalog type.
    pub endpoints: BTreeMap<&'static str, String>,
    /// The `[service_auth]` user's token, for calling the services' APIs.
    pub service_token: ServiceToken,
    /// Where it spawns its work (it must not block in `start`).
    pub tasks: Tasks,
    pub mode: Mode,
}

/// A host agent: a role with no HTTP API that makes its host match what a service
/// decided (Neutron's network agents, later Nova's compute manager). Its name is its
/// config section and its `serve --role`; `up` starts every enabled agent after the
/// services.
pub trait Agent: Send + Sync + 'static {
    type Config: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static;
    const NAME: &'static str;
    /// The documented `[NAME]` section with every default (checked like a service's).
    const CONFIG_EXAMPLE: &'static str;

    /// Whether `up` starts it with this configuration (`serve --role` always does).
    fn enabled(cfg: &Self::Config) -> bool;

    /// Spawn its work on `ctx.tasks` and return.
    fn start(
        cfg: Self::Config,
        ctx: AgentContext,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// A registered agent, with its section still in TOML.
pub trait AnyAgent: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn config_example(&self) -> &'static str;
    fn default_config(&self) -> toml::Value;
    fn check_config(&self, section: Option<&toml::Value>) -> anyhow::Result<()>;
    fn enabled(&self, section: Option<&toml::Value>) -> anyhow::Result<bool>;
    fn start(
        &self,
        section: Option<&toml::Value>,
        ctx: AgentContext,
    ) -> BoxFuture<'static, anyhow::Result<()>>;
}

fn parse_agent_section<A: Agent>(section: Option<&toml::Value>) -> anyhow::Result<A::Config> {
    match section {
        None => Ok(A::Config::default()),
        Some(v) => v
            .clone()
            .try_into()
            .map_err(|e| anyhow::anyhow!("invalid [{}] section: {e}", A::NAME)),
    }
}

impl<A: Agent> AnyAgent for A {
    fn name(&self) -> &'static str {
        A::NAME
    }
    fn config_example(&self) -> &'static str {
        A::CONFIG_EXAMPLE
    }
    fn default_config(&self) -> toml::Value {
        toml::Value::try_from(A::Config::default())
            .expect("an agent's default config serializes to TOML")
    }
    fn check_config(&self, section: Option<&toml::Value>) -> anyhow::Result<()> {
        parse_agent_section::<A>(section).map(drop)
    }
    fn enabled(&self, section: Option<&toml::Value>) -> anyhow::Result<bool> {
        Ok(A::enabled(&parse_agent_section::<A>(section)?))
    }
    fn start(
        &self,
        section: Option<&toml::Value>,
        ctx: AgentContext,
    ) -> BoxFuture<'static, anyhow::Result<()>> {
        let cfg = parse_agent_section::<A>(section);
        Box::pin(async move { A::start(cfg?, ctx).await })
    }
}

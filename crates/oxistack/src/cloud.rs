//! Wiring: open the database, start the chosen services, serve them. `up` and `serve`
//! go through the same code, over the registered services of [`crate::services`].

use std::{any::Any, future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context as _;
use api_common::{auth::AuthLayerState, TokenValidator};
use axum::Router;
use service::{AgentContext, AnyAgent, AnyService, Context, Mode, Tasks};

use crate::{
    config::Config,
    services::{AGENTS, SERVICES},
};

/// What `serve --role ...` runs: services and host agents.
pub struct Roles {
    pub services: Vec<&'static dyn AnyService>,
    pub agents: Vec<&'static dyn AnyAgent>,
}

/// The roles `serve --role` names: `api` (or `all`) is every registered service; an
/// agent's name (`network-agent`) is that agent.
pub fn select(roles: &[String]) -> anyhow::Result<Roles> {
    let mut chosen = Roles {
        services: Vec::new(),
        agents: Vec::new(),
    };
    for r in roles {
        if r == "api" || r == "all" {
            chosen.services = SERVICES.to_vec();
        } else if let Some(svc) = crate::services::by_name(r) {
            if !chosen.services.iter().any(|c| c.name() == svc.name()) {
                chosen.services.push(svc);
            }
        } else if let Some(agent) = crate::services::agent_by_name(r) {
            if !chosen.agents.iter().any(|c| c.name() == agent.name()) {
                chosen.agents.push(agent);
            }
        } else {
            let names: Vec<String> = SERVICES
                .iter()
                .map(|s| s.name().to_owned())
                .chain(AGENTS.iter().map(|a| a.name().replace('_', "-")))
                .collect();
            anyhow::bail!(
                "unknown role {r:?}: the roles are api (every service), {}",
                names.join(", ")
            );
        }
    }
    // start in registration order, whatever the order of the flags
    chosen
        .services
        .sort_by_key(|c| SERVICES.iter().position(|s| s.name() == c.name()));
    Ok(chosen)
}

/// Open the database and bring every service's schema up to date.
pub async fn open_db(cfg: &Config) -> anyhow::Result<db::Db> {
    if cfg.database.url.is_none() {
        // the default SQLite file lives in the data directory, which `manage db sync`
        // may be the first to use
        crate::files::private_dir(&cfg.data_dir)?;
    }
    let db = db::Db::connect(&cfg.database_url(), cfg.database.max_connections).await?;
    for (name, migrations) in crate::services::COMPONENTS {
        db.migrate(name, migrations).await?;
    }
    for svc in SERVICES {
        db.migrate(svc.name(), svc.migrations()).await?;
    }
    if cfg.database.url.is_none() {
        crate::files::make_private(&cfg.sqlite_path())?;
    }
    Ok(db)
}

fn listen_addr(cfg: &Config, port: u16) -> anyhow::Result<SocketAddr> {
    format!("{}:{port}", cfg.bind_host)
        .parse()
        .with_context(|| format!("bad bind_host {}", cfg.bind_host))
}

/// A service of this process, started.
pub struct Running {
    pub service: &'static dyn AnyService,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its public endpoint, as in the catalog.
    pub endpoint: String,
    /// Every path its router serves (its route table).
    pub routes: Vec<String>,
    router: Router,
    handle: Arc<dyn Any + Send + Sync>,
}

/// The running services of this process and its background work.
pub struct Cloud {
    pub services: Vec<Running>,
    pub tasks: Tasks,
    server: api_common::server::ServerConfig,
    bus: Arc<dyn bus::Transport>,
    service_token: service::ServiceToken,
}

/// Start `services` over `db`, in order. Each service after one that validates tokens
/// (identity) validates with it; without one in the process, services ask identity over
/// HTTP as the `[service_auth]` user.
pub async fn build(
    cfg: &Config,
    db: Option<db::Db>,
    services: &[&'static dyn AnyService],
    mode: Mode,
    tasks: Tasks,
) -> anyhow::Result<Cloud> {
    crate::files::private_dir(&cfg.data_dir)?;
    // `up` is one process: its services talk in-process whatever the file says
    let bus = match mode {
        Mode::AllInOne => bus::connect(&bus::BusConfig::default()).await?,
        Mode::Serve => bus::connect(&cfg.bus)
            .await
            .context("cannot reach the message bus of [bus] url")?,
    };
    let identity_uri = cfg
        .service_auth
        .auth_url
        .clone()
        .unwrap_or_else(|| cfg.identity_url());
    let endpoints = cfg.endpoints();
    let service_token = service_token(cfg, mode, &identity_uri)?;
    let mut validator: Option<Arc<dyn TokenValidator>> = None;
    let mut running = Vec::new();
    for &svc in services {
        let db = db.clone().context("services need the database")?;
        let auth = AuthLayerState {
            validator: match &validator {
                Some(v) => v.clone(),
                None => Arc::new(crate::service_auth::remote_validator(
                    &cfg.service_auth,
                    &service_token,
                )),
            },
            identity_uri: identity_uri.clone(),
        };
        let ctx = Context {
            db,
            bus: bus.clone(),
            data_dir: cfg.data_dir.clone(),
            policy_file: cfg.policy_path(),
            base_url: cfg.service_url(svc),
            endpoints: endpoints.clone(),
            auth,
            service_token: service_token.clone(),
            tasks: tasks.clone(),
            mode,
        };
        let started = svc
            .start(cfg.section(svc.name()), ctx)
            .await
            .with_context(|| format!("cannot start the {} service", svc.name()))?;
        if validator.is_none() {
            validator = started.validator;
        }
        running.push(Running {
            service: svc,
            addr: listen_addr(cfg, cfg.port(svc))?,
            endpoint: format!(
                "{}{}",
                cfg.service_url(svc),
                svc.catalog().map_or("", |c| c.path)
            ),
            routes: started.routes,
            router: started.router,
            handle: started.handle,
        });
    }
    Ok(Cloud {
        services: running,
        tasks,
        server: cfg.server.clone(),
        bus,
        service_token,
    })
}

/// The `[service_auth]` user's token. `up` owns its cloud: without a configured
/// password, its services call each other as the bootstrap admin (whose password is
/// kept in the data directory).
fn service_token(
    cfg: &Config,
    mode: Mode,
    identity_uri: &str,
) -> anyhow::Result<service::ServiceToken> {
    let mut auth = cfg.service_auth.clone();
    if mode == Mode::AllInOne && auth.password.is_empty() {
        auth.password = crate::up::secret(&cfg.data_dir, "admin-password")?;
        auth.username = "admin".into();
        auth.project_name = cfg
            .service::<identity::IdentityService>()
            .admin_project_name;
    }
    Ok(service::ServiceToken::new(&auth, identity_uri))
}

impl Cloud {
    /// Start host agents on this process's bus and tasks (after the services, so an
    /// agent's first request finds them listening).
    /// What an agent of this process is given (tests start agents of their own).
    pub fn agent_context(&self, cfg: &Config, mode: Mode) -> AgentContext {
        AgentContext {
            bus: self.bus.clone(),
            data_dir: cfg.data_dir.clone(),
            endpoints: cfg.endpoints(),
            service_token: self.service_token.clone(),
            tasks: self.tasks.clone(),
            mode,
        }
    }

    pub async fn start_agents(
        &self,
        cfg: &Config,
        agents: &[&'static dyn AnyAgent],
        mode: Mode,
    ) -> anyhow::Result<()> {
        for agent in agents {
            let ctx = self.agent_context(cfg, mode);
            agent
                .start(cfg.section(agent.name()), ctx)
                .await
                .with_context(|| format!("cannot start the {} agent", agent.name()))?;
        }
        Ok(())
    }
}

impl Running {
    /// Its HTTP API, for serving it on a listener of one's own or calling it in-process.
    pub fn router(&self) -> Router {
        self.router.clone()
    }
}

impl Cloud {
    /// The handle of the running service `name`, as its own type.
    pub fn handle<T: Any + Send + Sync>(&self, name: &str) -> Option<Arc<T>> {
        self.services
            .iter()
            .find(|r| r.service.name() == name)
            .and_then(|r| r.handle.clone().downcast::<T>().ok())
    }

    /// Bind every listener first (so a busy port fails fast), then serve all until
    /// `shutdown` resolves; then stop the background tasks and wait for them. `ready`
    /// runs once every listener is bound, with the services and their bound addresses.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        ready: impl FnOnce(&[(&Running, SocketAddr)]),
    ) -> anyhow::Result<()> {
        let mut bound = Vec::new();
        for r in &self.services {
            let l = api_common::server::bind(r.addr).await?;
            let addr = l.local_addr()?;
            bound.push((r, addr, l));
        }
        ready(&bound.iter().map(|(r, a, _)| (*r, *a)).collect::<Vec<_>>());
        let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let mut servers = tokio::task::JoinSet::new();
        for (r, _, listener) in bound {
            let mut rx = tx.subscribe();
            let name = r.service.name();
            let router = r.router.clone();
            let limits = self.server.clone();
            servers.spawn(async move {
                let stop = async move {
                    let _ = rx.recv().await;
                };
                api_common::server::serve_with(listener, router, stop, &limits)
                    .await
                    .with_context(|| format!("{name} server failed"))
            });
        }
        let mut result = Ok(());
        tokio::select! {
            _ = shutdown => {}
            Some(r) = servers.join_next() => { result = r.map_err(anyhow::Error::from).and_then(|r| r); }
        }
        let _ = tx.send(());
        while let Some(r) = servers.join_next().await {
            if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
                result = result.and(Err(e));
            }
        }
        self.tasks.join().await;
        // after the servers and tasks: acknowledgements still queued are sent
        self.bus.close().await;
        result
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

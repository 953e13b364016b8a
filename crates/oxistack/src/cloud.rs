//! Wiring: open the database, start the chosen services, serve them. `up` and `serve`
//! go through the same code.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use api_common::{auth::AuthLayerState, TokenValidator};
use axum::Router;
use identity::Identity;

use crate::config::Config;

/// A service the process can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Every API service below.
    Api,
    Identity,
    Image,
}

impl Role {
    fn runs_identity(roles: &[Role]) -> bool {
        roles
            .iter()
            .any(|r| matches!(r, Role::Api | Role::Identity))
    }
    fn runs_image(roles: &[Role]) -> bool {
        roles.iter().any(|r| matches!(r, Role::Api | Role::Image))
    }
}

/// Open the database and bring every service's schema up to date.
pub async fn open_db(cfg: &Config) -> anyhow::Result<db::Db> {
    if cfg.database.url.is_none() {
        // the default SQLite file lives in the data directory, which `manage db sync`
        // may be the first to use
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
    }
    let url = cfg.database_url();
    let db = db::Db::connect(&url, cfg.database.max_connections).await?;
    db.migrate("identity", identity::MIGRATIONS).await?;
    db.migrate("image", image::MIGRATIONS).await?;
    Ok(db)
}

fn listen_addr(cfg: &Config, port: u16) -> anyhow::Result<SocketAddr> {
    format!("{}:{port}", cfg.bind_host)
        .parse()
        .with_context(|| format!("bad bind_host {}", cfg.bind_host))
}

/// How the other services of this process validate tokens: with the identity service
/// in-process when it runs here, else by asking it over HTTP as the service user.
fn auth_layer(cfg: &Config, identity: Option<&Arc<Identity>>) -> AuthLayerState {
    let identity_uri = cfg
        .service_auth
        .auth_url
        .clone()
        .unwrap_or_else(|| format!("{}/v3", cfg.url(cfg.identity.port)));
    let validator: Arc<dyn TokenValidator> = match identity {
        Some(id) => id.clone(),
        None => Arc::new(crate::service_auth::remote_validator(
            &cfg.service_auth,
            identity_uri.clone(),
        )),
    };
    AuthLayerState {
        validator,
        identity_uri,
    }
}

/// The running services of this process.
pub struct Cloud {
    pub identity: Option<Arc<Identity>>,
    pub image: Option<Arc<image::Image>>,
    routers: Vec<(&'static str, SocketAddr, Router)>,
}

/// Start the services of `roles` over `db`.
pub async fn build(cfg: &Config, db: db::Db, roles: &[Role]) -> anyhow::Result<Cloud> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
    let policy = cfg.policy_path();
    let mut routers = Vec::new();
    let mut ident = None;
    if Role::runs_identity(roles) {
        let id = identity::start(
            db.clone(),
            cfg.identity.clone(),
            &cfg.data_dir,
            policy.as_deref(),
        )
        .await?;
        routers.push((
            "identity",
            listen_addr(cfg, cfg.identity.port)?,
            identity::api::router(id.clone(), cfg.url(cfg.identity.port)),
        ));
        ident = Some(id);
    }
    let auth = auth_layer(cfg, ident.as_ref());
    let mut img = None;
    if Role::runs_image(roles) {
        let svc = image::start(
            db.clone(),
            cfg.image.clone(),
            &cfg.data_dir,
            policy.as_deref(),
        )
        .await?;
        routers.push((
            "image",
            listen_addr(cfg, cfg.image.port)?,
            image::api::router(svc.clone(), cfg.url(cfg.image.port), auth.clone()),
        ));
        img = Some(svc);
    }
    Ok(Cloud {
        identity: ident,
        image: img,
        routers,
    })
}

impl Cloud {
    /// Bind every listener first (so a busy port fails fast), then serve all until
    /// `shutdown` resolves. `ready` runs once every listener is bound.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        ready: impl FnOnce(&[(&'static str, SocketAddr)]),
    ) -> anyhow::Result<()> {
        let mut bound = Vec::new();
        for (name, addr, router) in self.routers {
            let l = api_common::server::bind(addr).await?;
            bound.push((name, l.local_addr()?, l, router));
        }
        ready(
            &bound
                .iter()
                .map(|(n, a, _, _)| (*n, *a))
                .collect::<Vec<_>>(),
        );
        let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let mut tasks = tokio::task::JoinSet::new();
        for (name, _, listener, router) in bound {
            let mut rx = tx.subscribe();
            tasks.spawn(async move {
                api_common::server::serve(listener, router, async move {
                    let _ = rx.recv().await;
                })
                .await
                .with_context(|| format!("{name} server failed"))
            });
        }
        tokio::select! {
            _ = shutdown => {}
            Some(r) = tasks.join_next() => { r??; }
        }
        let _ = tx.send(());
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        Ok(())
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

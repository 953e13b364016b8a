//! The Identity service (Keystone v3) of oxistack.
//!
//! - [`app::Identity`] is the service: the logic of authentication, tokens, resources and
//!   policy. It also validates tokens for every other service in the same process
//!   (it implements [`api_common::TokenValidator`]).
//! - [`api::router`] is the HTTP API.
//! - [`store::Store`] holds every SQL statement.

pub mod api;
pub mod app;
pub mod bootstrap;
pub mod keys;
pub mod model;
mod password;
pub mod policies;
mod service;
pub mod store;
pub mod token;

use std::{path::Path, sync::Arc};

use api_common::{AuthContext, Error, TokenValidator};
use async_trait::async_trait;

pub use app::{Config, Identity};
pub use service::IdentityService;

/// The schema of the identity tables.
pub const MIGRATIONS: &[db::Migration] = &[
    db::Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    db::Migration {
        version: 2,
        name: "revisions",
        sql: include_str!("../migrations/0002_revisions.sql"),
    },
];

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    #[error("{0}")]
    Api(#[from] Error),
}

/// Open the identity service over a migrated database: load keys and policy.
pub async fn start(
    db: db::Db,
    cfg: Config,
    data_dir: &Path,
    policy_file: Option<&Path>,
) -> Result<Arc<Identity>, StartError> {
    let key_dir = cfg
        .key_repository
        .clone()
        .unwrap_or_else(|| data_dir.join("fernet-keys"));
    let keys = keys::KeyRing::open(&key_dir, cfg.max_active_keys)?;
    let policy = policy::Policy::load_if_exists(policies::DEFAULTS, policy_file)?;
    Ok(Identity::new(store::Store::new(db, cfg.list_limit), cfg, keys, policy).await?)
}

#[async_trait]
impl TokenValidator for Identity {
    async fn validate(&self, token: &str) -> Result<Arc<AuthContext>, Error> {
        match Identity::validate(self, token).await {
            Ok(v) => Ok(v.ctx.clone()),
            Err(e) if e.kind == api_common::ErrorKind::NotFound => {
                Err(Error::unauthenticated("The token is not valid."))
            }
            Err(e) => Err(e),
        }
    }
}

//! The Image service (Glance v2) of oxistack.
//!
//! - [`app::Image`] is the service: images, their data, import, members, policy.
//! - [`api::router`] is the HTTP API.
//! - [`store::Tables`] holds every SQL statement; [`backend::Store`] is where image
//!   data lives ([`backend::FileStore`] on local disk).
//! - [`format`] recognises disk image formats and refuses unsafe ones, as Glance does.
//! - [`sagas`] holds the multi-step work that must survive a crash: interoperable
//!   import (`glance-direct`, `web-download`) is a saga run by the service's
//!   [`saga::Executor`]; [`Image::background`] runs the executor, which resumes the
//!   imports a previous process left unfinished.
//!
//! Data is written before it is recorded. An upload (`PUT /file`) streams to a
//! temporary file, hashed and inspected on the way, then is renamed into place and the
//! image marked active; a stage (`PUT /stage`) does the same into the staging store and
//! records `stage_complete`. After a crash, [`Image::requeue_interrupted`] resets only
//! what the crash cut short (an upload in `saving`, a stage not complete); a completed
//! stage stays `uploading`, ready for `glance-direct`.
//!
//! Image ids are UUIDs and compare case-insensitively: every id that comes in (path,
//! body, `marker`, `id` filter) is lower-cased ([`model::normalize_id`]).

#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod backend;
pub mod config;
pub mod format;
pub mod model;
pub mod patch;
pub mod policies;
pub mod query;
pub mod sagas;
pub mod schemas;
mod service;
pub mod store;

use std::{path::Path, sync::Arc};

pub use app::Image;
pub use config::{Config, HashAlgo, Quotas};
pub use service::ImageService;

/// The schema of the image tables.
pub const MIGRATIONS: &[db::Migration] = &[
    db::Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    db::Migration {
        version: 2,
        name: "stage_complete",
        sql: include_str!("../migrations/0002_stage_complete.sql"),
    },
];

/// The identifier of the local filesystem store (`/v2/info/stores`).
pub const STORE_ID: &str = "file";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    #[error("cannot open the image store at {path}: {source}")]
    Store {
        path: String,
        source: std::io::Error,
    },
}

/// The service name the image sagas are logged under.
pub const SAGA_SERVICE: &str = "image";

/// Open the image service over a database with the image and saga migrations
/// applied: its stores (under `<data_dir>/images` unless configured), its policy and
/// its saga executor, whose claims are held as `saga_owner` (see
/// [`saga::ExecutorConfig::owner`]). Its background work is [`Image::background`].
pub async fn start(
    db: db::Db,
    cfg: Config,
    data_dir: &Path,
    policy_file: Option<&Path>,
    saga_owner: &str,
) -> Result<Arc<Image>, StartError> {
    let store_dir = cfg
        .store_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("images"));
    let staging_dir = cfg
        .staging_dir
        .clone()
        .unwrap_or_else(|| store_dir.join("staging"));
    let open = |id: &str, dir: &Path| {
        backend::FileStore::open(id, dir).map_err(|source| StartError::Store {
            path: dir.display().to_string(),
            source,
        })
    };
    let store = Arc::new(open(STORE_ID, &store_dir)?);
    let staging = Arc::new(open("os_glance_staging_store", &staging_dir)?);
    let policy = policy::Policy::load_if_exists(policies::DEFAULTS, policy_file)?;
    Ok(Arc::new(Image::new(
        store::Tables { db },
        cfg,
        policy,
        store,
        staging,
        saga::ExecutorConfig::new(SAGA_SERVICE, saga_owner),
    )))
}

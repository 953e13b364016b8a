//! The Block Storage service (Cinder v3) of oxistack.
//!
//! - [`app::Volumes`] is the service: volume types, volumes, snapshots, quotas, policy.
//! - [`api::api`] is the HTTP API (microversions 3.0 to [`api::VERSIONS`]'s max).
//! - [`store`] holds every SQL statement; [`backend::Backend`] is where volume data
//!   lives ([`backend::FileBackend`]: sparse files made with `qemu-img`).
//! - [`sagas`]: creating and deleting volumes and snapshots, which unwind on failure
//!   (a failed create ends in `error` with no file left) and resume after a restart.

pub mod api;
pub mod app;
pub mod backend;
pub mod config;
pub mod model;
pub mod policies;
pub mod sagas;
mod service;
pub mod store;

use std::{path::Path, sync::Arc};

pub use app::Volumes;
pub use config::Config;
pub use service::VolumeService;

/// The schema of the volume tables.
pub const MIGRATIONS: &[db::Migration] = &[db::Migration {
    version: 1,
    name: "initial",
    sql: include_str!("../migrations/0001_initial.sql"),
}];

/// The service name the volume sagas are logged under.
pub const SAGA_SERVICE: &str = "volume";

/// Open the service over a migrated database: its file backend (under
/// `<data_dir>/volumes` unless configured), its policy, its saga executor (claims held
/// as `saga_owner`) and its default volume type. Its background work is
/// [`Volumes::background`].
pub async fn start(
    db: db::Db,
    cfg: Config,
    data_dir: &Path,
    policy_file: Option<&Path>,
    image: ::service::client::Http,
    saga_owner: &str,
) -> anyhow::Result<Arc<Volumes>> {
    let dir = cfg
        .volumes_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("volumes"));
    let backend =
        backend::FileBackend::open(&dir, &cfg.backend_name, &cfg.volume_format, cfg.capacity_gb)
            .map_err(|e| {
                anyhow::anyhow!("cannot open the volume directory {}: {e}", dir.display())
            })?;
    let policy = policy::Policy::load_if_exists(policies::DEFAULTS, policy_file)?;
    let svc = Volumes::new(
        db,
        cfg,
        policy,
        vec![Arc::new(backend)],
        image,
        saga::ExecutorConfig::new(SAGA_SERVICE, saga_owner),
    );
    svc.ensure_default_type().await?;
    Ok(svc)
}

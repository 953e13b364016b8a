//! `oxistack manage ...`: operator tasks.

use anyhow::Context;
use clap::Subcommand;

use crate::{cloud, config::Config, up};

#[derive(Subcommand)]
pub enum Task {
    /// Database tasks.
    Db {
        #[command(subcommand)]
        what: DbTask,
    },
    /// Create the default domain, roles, admin and demo users, region and catalog
    /// (idempotent), and write clouds.yaml and openrc into the data directory.
    Bootstrap,
    /// Token key tasks.
    Fernet {
        #[command(subcommand)]
        what: FernetTask,
    },
    /// Checks before or after an upgrade.
    Status {
        #[command(subcommand)]
        what: StatusTask,
    },
}

#[derive(Subcommand)]
pub enum DbTask {
    /// Apply every pending schema migration.
    Sync,
    /// Print the schema version of each service.
    Version,
}

#[derive(Subcommand)]
pub enum FernetTask {
    /// Promote the staged key, stage a new one, drop the oldest beyond the limit.
    Rotate,
}

#[derive(Subcommand)]
pub enum StatusTask {
    /// Is this deployment ready to run this version?
    UpgradeCheck,
}

pub async fn run(cfg: Config, task: Task) -> anyhow::Result<()> {
    match task {
        Task::Db { what: DbTask::Sync } => {
            let db = cloud::open_db(&cfg).await?;
            for (svc, v) in db.versions().await? {
                println!("{svc}: schema version {v}");
            }
        }
        Task::Db {
            what: DbTask::Version,
        } => {
            let db = db::Db::connect(&cfg.database_url(), 1).await?;
            for (svc, v) in db.versions().await.unwrap_or_default() {
                println!("{svc}: schema version {v}");
            }
        }
        Task::Bootstrap => {
            let db = cloud::open_db(&cfg).await?;
            let c = cloud::build(&cfg, db, &[cloud::Role::Identity]).await?;
            let id = c.identity.context("identity is not running")?;
            up::bootstrap(&cfg, &id).await?;
            println!(
                "bootstrapped; client files are in {}",
                cfg.data_dir.display()
            );
        }
        Task::Fernet {
            what: FernetTask::Rotate,
        } => {
            let dir = cfg
                .identity
                .key_repository
                .clone()
                .unwrap_or_else(|| cfg.data_dir.join("fernet-keys"));
            identity::keys::KeyRing::open(&dir, cfg.identity.max_active_keys)?;
            identity::keys::rotate_dir(&dir, cfg.identity.max_active_keys)?;
            println!("rotated keys in {}", dir.display());
        }
        Task::Status {
            what: StatusTask::UpgradeCheck,
        } => {
            let mut failed = false;
            let db = db::Db::connect(&cfg.database_url(), 1).await?;
            let versions = db.versions().await.unwrap_or_default();
            let want = [(
                "identity",
                identity::MIGRATIONS
                    .iter()
                    .map(|m| m.version)
                    .max()
                    .unwrap_or(0),
            )];
            for (svc, latest) in want {
                let have = versions
                    .iter()
                    .find(|(s, _)| s == svc)
                    .map(|(_, v)| *v)
                    .unwrap_or(0);
                let ok = have == latest;
                failed |= !ok;
                println!(
                    "{:<8} database schema of {svc}: {have} (expected {latest}){}",
                    if ok { "Success" } else { "Failure" },
                    if ok {
                        ""
                    } else {
                        " - run `oxistack manage db sync`"
                    }
                );
            }
            let dir = cfg
                .identity
                .key_repository
                .clone()
                .unwrap_or_else(|| cfg.data_dir.join("fernet-keys"));
            let keys = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
            let ok = keys >= 2;
            failed |= !ok;
            println!(
                "{:<8} fernet key repository {}: {keys} keys",
                if ok { "Success" } else { "Failure" },
                dir.display()
            );
            if failed {
                anyhow::bail!("upgrade check failed");
            }
        }
    }
    Ok(())
}

//! `oxistack manage ...`: operator tasks.

use anyhow::Context;
use clap::Subcommand;

use std::cmp::Ordering;

use service::{Check, CheckContext, Mode, Report, Tasks};

use crate::{
    cloud,
    config::Config,
    services::{COMPONENTS, SERVICES},
    up,
};

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
    /// The Object Storage ring (as swift-ring-builder): `[object] ring_file`, by default
    /// `<data_dir>/object/ring.json`.
    Ring {
        #[command(subcommand)]
        what: RingTask,
    },
}

#[derive(Subcommand)]
pub enum RingTask {
    /// Make an empty ring (refused when one exists).
    Create {
        /// Partitions are 2^part_power.
        part_power: u8,
        replicas: usize,
        /// Hours a moved partition stays put.
        #[arg(default_value_t = 1)]
        min_part_hours: u32,
    },
    /// Add a device (a directory); takes effect at the next rebalance.
    Add {
        #[arg(long, default_value_t = 1)]
        region: u32,
        #[arg(long)]
        zone: u32,
        #[arg(long, default_value_t = 100.0)]
        weight: f64,
        /// Where the device's data lives.
        #[arg(long)]
        device: std::path::PathBuf,
    },
    /// Change a device's weight (0 drains it).
    SetWeight { id: u32, weight: f64 },
    /// Remove a device; its partitions move at the next rebalance.
    Remove { id: u32 },
    /// Assign every partition's replicas, moving as little as possible.
    Rebalance,
    /// Print the ring: its devices and how many partitions each holds.
    Show,
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
            let identity = crate::services::by_name("identity").context("no identity")?;
            let c =
                cloud::build(&cfg, Some(db), &[identity], Mode::Serve, Tasks::default()).await?;
            let id = c
                .handle::<identity::Identity>("identity")
                .context("identity is not running")?;
            up::bootstrap(&cfg, &id).await?;
            println!(
                "bootstrapped; client files are in {}",
                cfg.data_dir.display()
            );
        }
        Task::Fernet {
            what: FernetTask::Rotate,
        } => {
            let icfg = cfg.service::<identity::IdentityService>();
            let dir = icfg
                .key_repository
                .clone()
                .unwrap_or_else(|| cfg.data_dir.join("fernet-keys"));
            identity::keys::KeyRing::open(&dir, icfg.max_active_keys)?;
            identity::keys::rotate_dir(&dir, icfg.max_active_keys)?;
            println!("rotated keys in {}", dir.display());
        }
        Task::Status {
            what: StatusTask::UpgradeCheck,
        } => {
            let report = upgrade_check(&cfg).await;
            print!("{report}");
            std::process::exit(i32::from(report.exit_code()));
        }
        Task::Ring { what } => ring(&cfg, what)?,
    }
    Ok(())
}

/// `manage ring ...`.
fn ring(cfg: &Config, task: RingTask) -> anyhow::Result<()> {
    use object_store::ring::Ring;
    let path = cfg
        .service::<object_store::ObjectStoreService>()
        .ring_path(&cfg.data_dir);
    if let RingTask::Create {
        part_power,
        replicas,
        min_part_hours,
    } = task
    {
        if path.exists() {
            anyhow::bail!("a ring exists at {}", path.display());
        }
        Ring::create(part_power, replicas, min_part_hours)?.save(&path)?;
        println!("made an empty ring at {}", path.display());
        return Ok(());
    }
    let mut ring = Ring::load(&path)?;
    match task {
        RingTask::Create { .. } => unreachable!("handled above"),
        RingTask::Add {
            region,
            zone,
            weight,
            device,
        } => {
            let device = std::path::absolute(&device)?;
            let id = ring.add_device(region, zone, weight, device)?;
            ring.save(&path)?;
            println!("added device {id}; run `oxistack manage ring rebalance`");
        }
        RingTask::SetWeight { id, weight } => {
            ring.set_weight(id, weight)?;
            ring.save(&path)?;
            println!("device {id} weighs {weight}; run `oxistack manage ring rebalance`");
        }
        RingTask::Remove { id } => {
            ring.remove_device(id)?;
            ring.save(&path)?;
            println!("removed device {id}; run `oxistack manage ring rebalance`");
        }
        RingTask::Rebalance => {
            let moved = ring.rebalance()?;
            ring.save(&path)?;
            println!("rebalanced: {moved} partition replicas assigned anew");
        }
        RingTask::Show => {}
    }
    print!("{}", ring.describe());
    Ok(())
}

/// `manage status upgrade-check`: the database and each service's schema, then every
/// service's own checks.
async fn upgrade_check(cfg: &Config) -> Report {
    let mut report = Report::default();
    let Some(db) = database_check(cfg, &mut report).await else {
        return report;
    };
    let versions = db.versions().await.unwrap_or_default();
    let schemas = COMPONENTS
        .iter()
        .copied()
        .chain(SERVICES.iter().map(|s| (s.name(), s.migrations())));
    for (schema, migrations) in schemas {
        let want = migrations.iter().map(|m| m.version).max().unwrap_or(0);
        let have = versions
            .iter()
            .find(|(s, _)| s == schema)
            .map_or(0, |(_, v)| *v);
        let name = format!("Database schema of {schema}");
        report.checks.push(match have.cmp(&want) {
            Ordering::Equal => Check::success(name, Some(format!("version {have}."))),
            Ordering::Less => Check::failure(
                name,
                format!("at version {have}, this oxistack needs {want}: run `oxistack manage db sync`."),
            ),
            Ordering::Greater => Check::failure(
                name,
                format!("at version {have}, newer than the {want} this oxistack knows: run the newer oxistack that migrated it."),
            ),
        });
    }
    report.checks.push(bus_check(cfg).await);
    let ctx = CheckContext {
        db,
        data_dir: cfg.data_dir.clone(),
    };
    for svc in SERVICES {
        report
            .checks
            .extend(svc.upgrade_checks(cfg.section(svc.name()), &ctx).await);
    }
    report
}

/// Is there a database, with a cloud in it? The database opened, or `None` after a
/// failure saying what to do.
async fn database_check(cfg: &Config, report: &mut Report) -> Option<db::Db> {
    const NAME: &str = "Database";
    if cfg.database.url.is_none() && !cfg.sqlite_path().exists() {
        report.checks.push(Check::failure(
            NAME,
            format!(
                "there is no cloud in {}: it has no database ({}). Run `oxistack up` to make an all-in-one cloud there, or `oxistack manage db sync` and `oxistack manage bootstrap` before `oxistack serve`, or set [database] url in the configuration.",
                cfg.data_dir.display(),
                cfg.sqlite_path().display()
            ),
        ));
        return None;
    }
    let db = match db::Db::connect(&cfg.database_url(), 1).await {
        Ok(db) => db,
        Err(e) => {
            report.checks.push(Check::failure(
                NAME,
                format!("{e}. Check [database] url and that the database server runs and accepts this user."),
            ));
            return None;
        }
    };
    match db.versions().await {
        Ok(v) if !v.is_empty() => {
            report.checks.push(Check::success(
                NAME,
                Some(format!("{:?} database reachable.", db.engine)),
            ));
            Some(db)
        }
        _ => {
            report.checks.push(Check::failure(
                NAME,
                "the database holds no oxistack schema: run `oxistack manage db sync` (and `oxistack manage bootstrap`), or `oxistack up`.",
            ));
            None
        }
    }
}

/// Can `serve` reach the message bus of `[bus] url`?
async fn bus_check(cfg: &Config) -> Check {
    const NAME: &str = "Message queue";
    if cfg.bus.url.as_deref().is_none_or(|u| u.trim().is_empty()) {
        return Check::success(
            NAME,
            Some("in-process bus: every service in one process (`oxistack up`). Set [bus] url to a RabbitMQ broker to run `serve` on many machines.".into()),
        );
    }
    match bus::connect(&cfg.bus).await {
        Ok(bus) => {
            bus.close().await;
            Check::success(NAME, Some(format!("RabbitMQ reachable (exchange {}).", cfg.bus.control_exchange)))
        }
        Err(e) => Check::failure(
            NAME,
            format!("{e}. Check [bus] url (amqp://user:password@host:port/vhost) and that the broker runs and accepts this user."),
        ),
    }
}

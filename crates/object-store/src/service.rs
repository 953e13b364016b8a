//! Object Storage as a service of the kit.

use std::sync::Arc;

use anyhow::Context as _;
use api_common::FaultStyle;
use service::{CatalogInfo, Check, CheckContext, Context, Mode, Service, Started};

use crate::{app, ring::Ring, Config, ObjectStore};

/// The Object Storage service (Swift's proxy, and the storage servers of this node).
pub struct ObjectStoreService;

impl Service for ObjectStoreService {
    type Config = Config;
    const NAME: &'static str = "object";
    const CATALOG: Option<CatalogInfo> = Some(CatalogInfo {
        kind: "object-store",
        name: "swift",
        path: "/v1/AUTH_$(project_id)s",
    });
    const MIGRATIONS: &'static [db::Migration] = &[];
    const POLICY: &'static [(&'static str, &'static str)] = crate::policies::DEFAULTS;
    const FAULT_STYLE: FaultStyle = FaultStyle::Swift;
    const CONFIG_EXAMPLE: &'static str = r#"[object]
port = 8080
# The ring (default <data_dir>/object/ring.json); `oxistack manage ring` makes and
# changes it. When there is none, one of three local devices is made (every node of
# several must be given the same ring file).
# ring_file = "/var/lib/oxistack/object/ring.json"
# Where `up` puts the devices of the ring it makes (default <data_dir>/object/devices).
# devices_dir = "/var/lib/oxistack/object/devices"
# The partition power of the ring `up` makes.
part_power = 8
# Largest object accepted, in bytes (Swift's max_file_size).
max_file_size = 5368709122
# Largest page of a listing (Swift's container_listing_limit).
listing_limit = 10000
"#;

    fn port(cfg: &Config) -> u16 {
        cfg.port
    }

    async fn start(cfg: Config, ctx: Context) -> anyhow::Result<Started> {
        let ring_path = cfg.ring_path(&ctx.data_dir);
        let ring = match Ring::load(&ring_path) {
            Ok(r) => r,
            Err(crate::ring::RingError::Io(_, e)) if e.kind() == std::io::ErrorKind::NotFound => {
                // one node's ring, as `up` runs; several nodes share one ring file, made
                // with `oxistack manage ring` and copied to each
                let ring = app::default_ring(cfg.part_power, &cfg.devices_path(&ctx.data_dir))?;
                ring.save(&ring_path)?;
                if ctx.mode == Mode::Serve {
                    tracing::warn!(ring = %ring_path.display(), "no ring: made one of three local devices; for several nodes, make one with `oxistack manage ring` and give each node the same file");
                } else {
                    tracing::info!(ring = %ring_path.display(), "made a ring of three devices");
                }
                ring
            }
            Err(e) => return Err(e).with_context(|| {
                "no usable ring: make one with `oxistack manage ring create`, `add` and `rebalance`"
            }),
        };
        if ring.assignments.is_empty() {
            anyhow::bail!(
                "the ring at {} is not balanced: run `oxistack manage ring rebalance`",
                ring_path.display()
            );
        }
        for d in &ring.devices {
            std::fs::create_dir_all(&d.path)
                .with_context(|| format!("cannot create the device {}", d.path.display()))?;
        }
        let policy =
            policy::Policy::load_if_exists(crate::policies::DEFAULTS, ctx.policy_file.as_deref())?;
        let svc = Arc::new(ObjectStore::new(cfg, ring, policy));
        let api = crate::api::api(svc.clone(), ctx.auth);
        Ok(Started {
            router: api.router,
            routes: api.routes,
            validator: None,
            handle: svc,
        })
    }

    async fn upgrade_checks(cfg: &Config, ctx: &CheckContext) -> Vec<Check> {
        let path = cfg.ring_path(&ctx.data_dir);
        let name = "Object Storage ring";
        vec![match Ring::load(&path) {
            Ok(r) if r.assignments.is_empty() => Check::failure(
                name,
                format!(
                    "{} is not balanced: run `oxistack manage ring rebalance`.",
                    path.display()
                ),
            ),
            Ok(r) => Check::success(
                name,
                Some(format!(
                    "{} devices, {} partitions.",
                    r.devices.len(),
                    r.partitions()
                )),
            ),
            Err(crate::ring::RingError::Io(_, e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Check::warning(
                    name,
                    format!(
                        "{} does not exist yet; `oxistack up` makes one of three devices.",
                        path.display()
                    ),
                )
            }
            Err(e) => Check::failure(name, format!("{e}. Fix or remake the ring.")),
        }]
    }
}

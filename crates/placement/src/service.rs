//! Placement as a service of the kit: what the binary needs to run it.

use std::sync::Arc;

use api_common::FaultStyle;
use service::{CatalogInfo, Context, Service, Started};

use crate::{app::Placement, Config};

/// The Placement service.
pub struct PlacementService;

impl Service for PlacementService {
    type Config = Config;
    const NAME: &'static str = "placement";
    const CATALOG: Option<CatalogInfo> = Some(CatalogInfo {
        kind: "placement",
        name: "placement",
        path: "",
    });
    const MIGRATIONS: &'static [db::Migration] = crate::MIGRATIONS;
    const POLICY: &'static [(&'static str, &'static str)] = crate::policies::DEFAULTS;
    const FAULT_STYLE: FaultStyle = FaultStyle::Placement;
    const CONFIG_EXAMPLE: &'static str = crate::config::EXAMPLE;

    fn port(cfg: &Config) -> u16 {
        cfg.port
    }

    async fn start(cfg: Config, ctx: Context) -> anyhow::Result<Started> {
        let policy =
            policy::Policy::load_if_exists(crate::policies::DEFAULTS, ctx.policy_file.as_deref())?;
        let svc = Arc::new(Placement::new(ctx.db.clone(), cfg, policy));
        let api = crate::api::api(svc.clone(), ctx.auth);
        Ok(Started {
            router: api.router,
            routes: api.routes,
            validator: None,
            handle: svc,
        })
    }
}

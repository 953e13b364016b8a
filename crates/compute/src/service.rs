//! The Compute API as a service of the kit: what the binary needs to run it.

use std::sync::Arc;

use api_common::FaultStyle;
use service::{CatalogInfo, Context, Service, Started};

use crate::{clients::Clients, Compute, Config};

/// The Compute API service (Nova v2.1). Its name is `compute_api` (`serve --role
/// compute-api`): the role `compute` is the host manager, as nova-compute.
pub struct ComputeApiService;

impl Service for ComputeApiService {
    type Config = Config;
    const NAME: &'static str = "compute_api";
    const CATALOG: Option<CatalogInfo> = Some(CatalogInfo {
        kind: "compute",
        name: "nova",
        path: "/v2.1",
    });
    const MIGRATIONS: &'static [db::Migration] = crate::MIGRATIONS;
    const POLICY: &'static [(&'static str, &'static str)] = crate::policies::DEFAULTS;
    const FAULT_STYLE: FaultStyle = FaultStyle::Nova;
    const CONFIG_EXAMPLE: &'static str = crate::config::EXAMPLE;

    fn port(cfg: &Config) -> u16 {
        cfg.port
    }

    async fn start(cfg: Config, ctx: Context) -> anyhow::Result<Started> {
        let policy =
            policy::Policy::load_if_exists(crate::policies::DEFAULTS, ctx.policy_file.as_deref())?;
        let clients = Clients::new(ctx.service_token.clone(), &ctx.endpoints);
        let svc = Arc::new(Compute::new(ctx.db.clone(), cfg, policy, clients));
        let lifecycle = crate::conductor::start(&svc, &ctx).await?;
        svc.set_lifecycle(lifecycle);
        let api = crate::api::api(svc.clone(), ctx.base_url, ctx.auth);
        Ok(Started {
            router: api.router,
            routes: api.routes,
            validator: None,
            handle: svc,
        })
    }
}

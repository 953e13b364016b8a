//! Networking as a service of the kit: what the binary needs to run it.

use std::{sync::Arc, time::Duration};

use api_common::FaultStyle;
use service::{CatalogInfo, Context, Service, Started};

use crate::{app::Networking, Config};

/// The Networking service (Neutron v2.0).
pub struct NetworkService;

impl Service for NetworkService {
    type Config = Config;
    const NAME: &'static str = "network";
    const CATALOG: Option<CatalogInfo> = Some(CatalogInfo {
        kind: "network",
        name: "neutron",
        path: "",
    });
    const MIGRATIONS: &'static [db::Migration] = crate::MIGRATIONS;
    const POLICY: &'static [(&'static str, &'static str)] = crate::policies::DEFAULTS;
    const FAULT_STYLE: FaultStyle = FaultStyle::Neutron;
    const CONFIG_EXAMPLE: &'static str = crate::config::EXAMPLE;

    fn port(cfg: &Config) -> u16 {
        cfg.port
    }

    async fn start(cfg: Config, ctx: Context) -> anyhow::Result<Started> {
        let policy =
            policy::Policy::load_if_exists(crate::policies::DEFAULTS, ctx.policy_file.as_deref())?;
        let mut svc = Networking::new(ctx.db.clone(), cfg, policy);
        svc.compute_events = crate::compute_events::ComputeEvents::start(
            &ctx.tasks,
            ctx.service_token.clone(),
            &ctx.endpoints,
        );
        let svc = Arc::new(svc);
        let server = crate::rpc::listen(&*ctx.bus).await?;
        let (rpc_svc, bus) = (svc.clone(), ctx.bus.clone());
        ctx.tasks.spawn("network-rpc", move |progress| async move {
            progress.set("serving the network agents");
            let shutdown = progress.shutdown();
            crate::rpc::serve(server, rpc_svc, bus, shutdown, Duration::from_millis(20)).await;
            Ok("stopped".into())
        });
        let api = crate::api::api(svc.clone(), ctx.base_url, ctx.auth);
        Ok(Started {
            router: api.router,
            routes: api.routes,
            validator: None,
            handle: svc,
        })
    }
}

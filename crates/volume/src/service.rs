//! Block Storage as a service of the kit: what the binary needs to run it.

use api_common::FaultStyle;
use service::{CatalogInfo, Context, Mode, Service, Started};

use crate::Config;

/// The Block Storage service (Cinder v3).
pub struct VolumeService;

impl Service for VolumeService {
    type Config = Config;
    const NAME: &'static str = "volume";
    const CATALOG: Option<CatalogInfo> = Some(CatalogInfo {
        kind: "block-storage",
        name: "cinder",
        path: "/v3/$(project_id)s",
    });
    const CATALOG_ALIASES: &'static [(&'static str, &'static str)] = &[("volumev3", "cinderv3")];
    const MIGRATIONS: &'static [db::Migration] = crate::MIGRATIONS;
    const POLICY: &'static [(&'static str, &'static str)] = crate::policies::DEFAULTS;
    const FAULT_STYLE: FaultStyle = FaultStyle::Nova;
    const CONFIG_EXAMPLE: &'static str = crate::config::CONFIG_EXAMPLE;

    fn port(cfg: &Config) -> u16 {
        cfg.port
    }

    async fn start(cfg: Config, ctx: Context) -> anyhow::Result<Started> {
        // As image's: `up` owns its data directory, so a stable owner resumes its sagas
        // at once after a restart; each `serve` process is its own owner.
        let owner = match ctx.mode {
            Mode::AllInOne => format!("up:{}", ctx.data_dir.display()),
            Mode::Serve => saga::ExecutorConfig::unique_owner(),
        };
        let image = service::client::Http::new(ctx.service_token.clone(), &ctx.endpoints, "image");
        let svc = crate::start(
            ctx.db,
            cfg,
            &ctx.data_dir,
            ctx.policy_file.as_deref(),
            image,
            &owner,
        )
        .await?;
        let sagas = svc.clone();
        ctx.tasks.spawn("volume-sagas", move |progress| async move {
            let shutdown = progress.shutdown();
            progress.set("running volume work (resuming what a restart interrupted)");
            sagas
                .background(async move { shutdown.cancelled().await })
                .await;
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

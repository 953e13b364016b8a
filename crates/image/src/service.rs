//! Image as a service of the kit: what the binary needs to run it.

use std::path::Path;

use api_common::FaultStyle;
use service::{CatalogInfo, Check, CheckContext, Context, Mode, Service, Started};

use crate::Config;

/// The Image service (Glance v2).
pub struct ImageService;

impl Service for ImageService {
    type Config = Config;
    const NAME: &'static str = "image";
    const CATALOG: Option<CatalogInfo> = Some(CatalogInfo {
        kind: "image",
        name: "glance",
        path: "",
    });
    const MIGRATIONS: &'static [db::Migration] = crate::MIGRATIONS;
    const POLICY: &'static [(&'static str, &'static str)] = crate::policies::DEFAULTS;
    const FAULT_STYLE: FaultStyle = FaultStyle::Glance;
    const CONFIG_EXAMPLE: &'static str = r#"[image]
port = 9292
# Where the filesystem store keeps image data (default <data_dir>/images).
# store_dir = "/var/lib/oxistack/images"
# Where data staged for interoperable import waits (default <store_dir>/staging).
# staging_dir = "/var/lib/oxistack/images/staging"
# Largest image accepted, in bytes (Glance's image_size_cap); larger uploads get 413.
max_image_size = 1099511627776
# What web-download may fetch: URL prefixes ("http://mirror.example/images/") or hosts
# ("mirror.example", "127.0.0.1:8080"). Empty: nothing.
web_download_allowed = []
# Largest JSON request body, in bytes (image data is not limited by this).
max_request_body_size = 114688
# Page size of image lists without `limit`, and the largest page.
limit_param_default = 25
api_limit_max = 1000
# Most members, custom properties and tags an image may have.
image_member_quota = 128
image_property_quota = 128
image_tag_quota = 128
# Refuse uploads whose content does not match their disk_format (safety checks such as
# backing files always apply).
require_image_format_match = true
# The algorithm of os_hash_value: "sha512" (Glance's default) or "sha256".
hashing_algorithm = "sha512"
disk_formats = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]
container_formats = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]

[image.quotas]
# Per-project limits (Glance's unified-limit names); -1 is unlimited.
# Images a project may own, in any status.
image_count_total = -1
# Image data a project may store, in MiB.
image_size_total = -1
# Data a project may have staged for import, in MiB.
image_stage_total = -1
# Images a project may be uploading or importing at once.
image_count_uploading = -1
"#;

    fn port(cfg: &Config) -> u16 {
        cfg.port
    }

    async fn start(cfg: Config, ctx: Context) -> anyhow::Result<Started> {
        // `up` is the only process on its data directory (it holds the lock): a stable
        // saga owner lets a restarted `up` resume its imports at once. Of many `serve`
        // processes, each is its own owner; another takes a dead one's sagas over when
        // their lease runs out.
        let owner = match ctx.mode {
            Mode::AllInOne => format!("up:{}", ctx.data_dir.display()),
            Mode::Serve => saga::ExecutorConfig::unique_owner(),
        };
        let svc = crate::start(
            ctx.db,
            cfg,
            &ctx.data_dir,
            ctx.policy_file.as_deref(),
            &owner,
        )
        .await?;
        if ctx.mode == Mode::AllInOne {
            // This process is the only one of the cloud: transfers a crash cut short go
            // back to `queued`, as if they had failed (completed stages stay).
            for id in svc.requeue_interrupted().await? {
                tracing::warn!(image = %id, "an interrupted upload was reset to queued");
            }
        }
        let sagas = svc.clone();
        ctx.tasks.spawn("image-sagas", move |progress| async move {
            let shutdown = progress.shutdown();
            progress.set("running image imports (resuming those a restart interrupted)");
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

    async fn upgrade_checks(cfg: &Config, ctx: &CheckContext) -> Vec<Check> {
        let store = cfg
            .store_dir
            .clone()
            .unwrap_or_else(|| ctx.data_dir.join("images"));
        let staging = cfg
            .staging_dir
            .clone()
            .unwrap_or_else(|| store.join("staging"));
        vec![
            dir_check("Image store", &store),
            dir_check("Image staging area", &staging),
        ]
    }
}

/// A directory the service writes to: present (or creatable by `up`) and writable.
fn dir_check(name: &str, dir: &Path) -> Check {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Check::failure(
            name,
            format!(
                "{} is not a directory: move it away or configure another path.",
                dir.display()
            ),
        ),
        Ok(m) if m.permissions().readonly() => Check::failure(
            name,
            format!(
                "{} is read-only: make it writable by the user running oxistack.",
                dir.display()
            ),
        ),
        Ok(_) => Check::success(name, Some(format!("{} is ready.", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::warning(
            name,
            format!(
                "{} does not exist yet; the image service creates it when it starts.",
                dir.display()
            ),
        ),
        Err(e) => Check::failure(
            name,
            format!("cannot read {}: {e}. Check its permissions.", dir.display()),
        ),
    }
}

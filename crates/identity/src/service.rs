//! Identity as a service of the kit: what the binary needs to run it.

use std::sync::Arc;

use api_common::{FaultStyle, TokenValidator};
use service::{CatalogInfo, Check, CheckContext, Context, Service, Started};

use crate::Config;

/// The Identity service (Keystone v3).
pub struct IdentityService;

impl Service for IdentityService {
    type Config = Config;
    const NAME: &'static str = "identity";
    const CATALOG: Option<CatalogInfo> = Some(CatalogInfo {
        kind: "identity",
        name: "keystone",
        path: "/v3",
    });
    const MIGRATIONS: &'static [db::Migration] = crate::MIGRATIONS;
    const POLICY: &'static [(&'static str, &'static str)] = crate::policies::DEFAULTS;
    const FAULT_STYLE: FaultStyle = FaultStyle::Keystone;
    const CONFIG_EXAMPLE: &'static str = r#"[identity]
port = 5000
# Token lifetime in seconds.
token_expiration = 3600
# Fernet key repository (default <data_dir>/fernet-keys); keys kept across rotations.
# key_repository = "/etc/oxistack/fernet-keys"
max_active_keys = 3
# Admins of this project are cloud admins (Keystone's admin project).
admin_project_name = "admin"
admin_project_domain_name = "Default"
# Seconds a validated token is remembered. A write on this node makes the cached
# validations it affects stale at once; other nodes see it within this time.
validation_cache_seconds = 30
# Memory the validation cache may hold, in bytes (least recently used entries go first).
validation_cache_bytes = 16777216
# Largest accepted request body, in bytes.
max_request_body_size = 114688
# Longest list an API call returns (Keystone's list_limit); longer ones are cut and
# flagged "truncated": true. Unset: no limit.
# list_limit = 100
# Seconds after expiry a token still validates for callers allowed to ask with
# allow_expired=true (Keystone's [token] allow_expired_window).
allow_expired_window = 172800
"#;

    fn port(cfg: &Config) -> u16 {
        cfg.port
    }

    async fn start(cfg: Config, ctx: Context) -> anyhow::Result<Started> {
        let id = crate::start(ctx.db, cfg, &ctx.data_dir, ctx.policy_file.as_deref()).await?;
        let api = crate::api::api(id.clone(), ctx.base_url);
        Ok(Started {
            router: api.router,
            routes: api.routes,
            validator: Some(id.clone() as Arc<dyn TokenValidator>),
            handle: id,
        })
    }

    async fn upgrade_checks(cfg: &Config, ctx: &CheckContext) -> Vec<Check> {
        let dir = cfg
            .key_repository
            .clone()
            .unwrap_or_else(|| ctx.data_dir.join("fernet-keys"));
        let name = "Fernet keys";
        match crate::keys::count(&dir) {
            Ok(n) if n >= 2 => vec![Check::success(
                name,
                Some(format!("{n} keys in {}.", dir.display())),
            )],
            Ok(n) => vec![Check::failure(
                name,
                format!(
                    "{} holds {n} key(s); tokens need a primary and a staged key. Run `oxistack up` or `oxistack manage bootstrap` to create them.",
                    dir.display()
                ),
            )],
            Err(e) => vec![Check::failure(
                name,
                format!(
                    "cannot read the key repository {}: {e}. Check its path and permissions (it should belong to the user running oxistack, mode 0700).",
                    dir.display()
                ),
            )],
        }
    }
}

//! The image service's logic. Handlers call these methods; nothing here knows HTTP.

mod data;
mod images;
mod members;

use crate::policies::Rule;
use std::{borrow::Cow, sync::Arc};

use api_common::{visibility::authorize_or_hide, AuthContext, Error, ErrorKind, Result};
use serde_json::{Map, Value};

pub use data::{parse_range, uri_allowed, Digest, Download, ImportRequest, Upload, IMPORT_METHODS};

/// The import methods `/v2/info/import` lists.
pub fn data_import_methods() -> &'static [&'static str] {
    IMPORT_METHODS
}
pub use images::NewImage;

use crate::{
    backend::Store,
    config::Config,
    model::*,
    store::{Tables, Viewer},
};

/// The image service.
pub struct Image {
    pub tables: Tables,
    pub cfg: Config,
    pub policy: policy::Policy,
    /// Where image data lives.
    pub store: Arc<dyn Store>,
    /// Where data staged for `glance-direct` import waits.
    pub staging: Arc<dyn Store>,
    /// The image schema (`/v2/schemas/image`), also used to validate writes.
    pub schema: Value,
    /// Runs the image sagas (import); see [`crate::sagas`].
    pub sagas: saga::Executor<Arc<Image>>,
    pub(crate) http: reqwest::Client,
}

/// The caller, with what policy checks need.
pub struct Caller<'a> {
    pub ctx: &'a AuthContext,
    /// The context's own (cached) credentials, or a copy that says `is_admin`.
    creds: Cow<'a, policy::Credentials>,
    pub admin: bool,
}

impl Caller<'_> {
    pub fn project(&self) -> Option<&str> {
        self.ctx.project_id.as_deref()
    }
    fn viewer(&self) -> Viewer {
        Viewer {
            project: self.ctx.project_id.clone(),
            admin: self.admin,
        }
    }
}

fn not_found(id: &str) -> Error {
    Error::not_found(format!("No image found with ID {id}"))
}

/// Glance's message when a policy rule refuses.
fn refused(rule: Rule) -> Error {
    Error::forbidden(format!("You are not authorized to complete {rule} action."))
}

/// oslo.limit's message for a project over a limit.
fn over_quota(project: &str, resource: &str, limit: i64, usage: i64, delta: i64) -> Error {
    Error::over_limit(format!(
        "Project {project} is over a limit for [Resource {resource} is over limit of {limit} due to current usage {usage} and delta {delta}]"
    ))
}

impl Image {
    pub fn new(
        tables: Tables,
        cfg: Config,
        policy: policy::Policy,
        store: Arc<dyn Store>,
        staging: Arc<dyn Store>,
        sagas: saga::ExecutorConfig,
    ) -> Image {
        let schema = crate::schemas::image(&cfg);
        let allowed = cfg.web_download_allowed.clone();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > 5
                    || !crate::app::data::uri_allowed(&allowed, attempt.url().as_str())
                {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .unwrap_or_default();
        Image {
            cfg,
            policy,
            store,
            staging,
            schema,
            sagas: saga::Executor::new(tables.db.clone(), sagas, crate::sagas::all()),
            tables,
            http,
        }
    }

    /// Where an image's staged data is, in the staging store.
    pub(crate) fn staged_location(&self, id: &str) -> String {
        self.staging.location(id)
    }

    /// The service's background work, to run until `shutdown`: the saga executor,
    /// which at once resumes the imports a previous process left unfinished. The caller
    /// owns (and joins) the task it runs in.
    pub fn background(
        self: &Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.sagas.clone().run(self.clone(), shutdown)
    }

    /// The caller's policy view: credentials, and whether it is an admin
    /// (`context_is_admin`).
    pub fn caller<'a>(&self, ctx: &'a AuthContext) -> Caller<'a> {
        let mut creds = Cow::Borrowed(ctx.policy_credentials());
        let admin = self.policy.enforce(
            Rule::ContextIsAdmin.name(),
            &Value::Object(Map::new()),
            &creds,
        );
        if admin != creds.is_admin {
            creds.to_mut().is_admin = admin;
        }
        Caller { ctx, creds, admin }
    }

    fn allowed(&self, caller: &Caller, rule: Rule, target: &Value) -> bool {
        self.policy.enforce(rule.name(), target, &caller.creds)
    }

    /// Check a rule that does not concern one image (`get_images`, `stores_info_detail`).
    pub fn authorize(&self, caller: &Caller, rule: Rule, target: Value) -> Result<()> {
        if self.allowed(caller, rule, &target) {
            Ok(())
        } else {
            Err(refused(rule))
        }
    }

    /// What rules about `img` see, as Glance's `ImageTarget` shows an image.
    pub fn target(&self, caller: &Caller, img: &ImageRecord) -> Value {
        let mut t = Map::new();
        for (k, v) in &img.properties {
            t.insert(
                k.clone(),
                v.clone().map(Value::String).unwrap_or(Value::Null),
            );
        }
        let member = (img.visibility == Visibility::Shared
            && caller.project() != img.owner.as_deref())
        .then(|| caller.project().map(str::to_owned))
        .flatten();
        let s = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        for (k, v) in [
            ("id", Value::String(img.id.clone())),
            ("name", s(&img.name)),
            ("status", Value::String(img.status.as_str().into())),
            ("visibility", Value::String(img.visibility.as_str().into())),
            ("owner", s(&img.owner)),
            ("project_id", s(&img.owner)),
            ("member_id", s(&member)),
            ("protected", Value::Bool(img.protected)),
            ("os_hidden", Value::Bool(img.os_hidden)),
            ("disk_format", s(&img.disk_format)),
            ("container_format", s(&img.container_format)),
        ] {
            t.insert(k.into(), v);
        }
        Value::Object(t)
    }

    /// Enforce a rule on an image the way Glance's `ImageAPIPolicy` does: a caller who
    /// may not even see the image gets 404, not 403.
    fn enforce(&self, caller: &Caller, rule: Rule, img: &ImageRecord) -> Result<()> {
        let target = self.target(caller, img);
        if self.allowed(caller, rule, &target) {
            return Ok(());
        }
        if rule == Rule::GetImage || !self.allowed(caller, Rule::GetImage, &target) {
            return Err(Error::not_found("The resource could not be found."));
        }
        Err(refused(rule))
    }

    /// Glance's database-level visibility: admins, owners, public and community images,
    /// and shared images of which the caller is a member (in any status).
    async fn visible(&self, caller: &Caller<'_>, img: &ImageRecord) -> Result<bool> {
        if caller.admin
            || img.owner.is_none()
            || matches!(img.visibility, Visibility::Public | Visibility::Community)
        {
            return Ok(true);
        }
        let Some(p) = caller.project() else {
            return Ok(false);
        };
        if img.owner.as_deref() == Some(p) {
            return Ok(true);
        }
        if img.visibility == Visibility::Shared {
            return Ok(self.tables.member(&img.id, p).await?.is_some());
        }
        Ok(false)
    }

    /// An image the caller may see (and `get_image` allows), or 404.
    pub async fn get(&self, caller: &Caller<'_>, id: &str) -> Result<ImageRecord> {
        let img = self.tables.image(id).await?.ok_or_else(|| not_found(id))?;
        if !self.visible(caller, &img).await? {
            return Err(not_found(id));
        }
        authorize_or_hide(self.enforce(caller, Rule::GetImage, &img), || not_found(id))?;
        Ok(img)
    }

    /// Refuse a status change Glance's state machine does not allow (409).
    fn transition(from: Status, to: Status) -> Result<()> {
        if from.targets().contains(&to) {
            Ok(())
        } else {
            Err(Error::conflict(format!(
                "Image status transition from {} to {} is not allowed",
                from.as_str(),
                to.as_str()
            )))
        }
    }

    /// Per-project quota on the number of images (`image_count_total`).
    async fn check_image_count(&self, owner: &str, delta: i64) -> Result<()> {
        let limit = self.cfg.quotas.image_count_total;
        if limit >= 0 {
            let usage = self.tables.count_images(owner).await?;
            if usage + delta > limit {
                return Err(over_quota(owner, "image_count_total", limit, usage, delta));
            }
        }
        Ok(())
    }

    /// Per-project quota on images being uploaded or imported at once.
    async fn check_uploading(&self, owner: &str) -> Result<()> {
        let limit = self.cfg.quotas.image_count_uploading;
        if limit >= 0 {
            // The image itself has just entered an uploading status.
            let usage = self.tables.count_uploading(owner).await?;
            if usage > limit {
                return Err(over_quota(
                    owner,
                    "image_count_uploading",
                    limit,
                    usage - 1,
                    1,
                ));
            }
        }
        Ok(())
    }

    /// How many more bytes the owner may store: the size cap and `image_size_total`.
    pub(crate) async fn data_allowance(
        &self,
        owner: Option<&str>,
        delta: Option<u64>,
    ) -> Result<u64> {
        let mut allow = self.cfg.max_image_size;
        if let Some(d) = delta {
            if d > allow {
                return Err(too_large(self.cfg.max_image_size));
            }
        }
        let limit = self.cfg.quotas.image_size_total;
        if let (Some(owner), true) = (owner, limit >= 0) {
            let used = self.tables.stored_bytes(owner).await?;
            let mib = |b: i64| b / (1 << 20);
            let delta_mib = delta.map_or(0, |d| i64::try_from(d).unwrap_or(i64::MAX) / (1 << 20));
            if mib(used) + delta_mib > limit {
                return Err(over_quota(
                    owner,
                    "image_size_total",
                    limit,
                    mib(used),
                    delta_mib,
                ));
            }
            allow = allow.min(
                limit
                    .saturating_mul(1 << 20)
                    .saturating_sub(used)
                    .max(0)
                    .unsigned_abs(),
            );
        }
        Ok(allow)
    }

    /// Per-project quota on staged data (`image_stage_total`), in bytes left.
    async fn stage_allowance(&self, owner: Option<&str>, delta: Option<u64>) -> Result<u64> {
        let mut allow = self.cfg.max_image_size;
        if let Some(d) = delta {
            if d > allow {
                return Err(too_large(self.cfg.max_image_size));
            }
        }
        let limit = self.cfg.quotas.image_stage_total;
        if let (Some(owner), true) = (owner, limit >= 0) {
            let used = self.tables.staged_bytes(owner).await?;
            let delta_mib = delta.map_or(0, |d| i64::try_from(d).unwrap_or(i64::MAX) / (1 << 20));
            if used / (1 << 20) + delta_mib > limit {
                return Err(over_quota(
                    owner,
                    "image_stage_total",
                    limit,
                    used / (1 << 20),
                    delta_mib,
                ));
            }
            allow = allow.min(
                limit
                    .saturating_mul(1 << 20)
                    .saturating_sub(used)
                    .max(0)
                    .unsigned_abs(),
            );
        }
        Ok(allow)
    }

    /// Usage and limits of the caller's project (`/v2/info/usage`).
    pub async fn usage(&self, caller: &Caller<'_>) -> Result<Vec<(&'static str, i64, i64)>> {
        let p = caller.project().unwrap_or_default();
        let q = &self.cfg.quotas;
        Ok(vec![
            (
                "image_size_total",
                q.image_size_total,
                self.tables.stored_bytes(p).await? / (1 << 20),
            ),
            (
                "image_stage_total",
                q.image_stage_total,
                self.tables.staged_bytes(p).await? / (1 << 20),
            ),
            (
                "image_count_total",
                q.image_count_total,
                self.tables.count_images(p).await?,
            ),
            (
                "image_count_uploading",
                q.image_count_uploading,
                self.tables.count_uploading(p).await?,
            ),
        ])
    }
}

fn too_large(cap: u64) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        format!("The incoming image is too large: Image exceeds the size limit of {cap} bytes"),
    )
}

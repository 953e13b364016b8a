//! The identity service's logic. Handlers call these methods; nothing here knows HTTP.

pub mod resources;
pub mod tokens;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock, RwLock,
    },
    time::{Duration, Instant},
};

use api_common::{
    auth::{strings_weight, TokenCache, Weight},
    AuthContext, Error, Result,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{keys::KeyRing, model::*, policies::Rule, store::Store};

/// The `[identity]` section of the configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Port of the Keystone API.
    pub port: u16,
    /// Lifetime of a token, in seconds.
    pub token_expiration: u64,
    /// The Fernet key repository (default: `<data_dir>/fernet-keys`).
    pub key_repository: Option<PathBuf>,
    /// How many keys stay active across rotations (staged + primary + secondaries).
    pub max_active_keys: usize,
    /// Tokens scoped to this project (in `admin_project_domain_name`) carry
    /// `is_admin_project`, which makes its admins cloud admins.
    pub admin_project_name: String,
    pub admin_project_domain_name: String,
    /// How long a validated token is remembered, in seconds; an identity write on this
    /// node makes the validations it affects stale at once.
    pub validation_cache_seconds: u64,
    /// Largest accepted request body, in bytes.
    pub max_request_body_size: usize,
    /// Longest list an API call returns (Keystone's `list_limit`); a longer one is cut
    /// and flagged `"truncated": true`. Unset: no limit, as Keystone's default.
    pub list_limit: Option<usize>,
    /// How long after expiry a token still validates for callers that ask with
    /// `allow_expired=true` and may (Keystone's `[token] allow_expired_window`), seconds.
    pub allow_expired_window: u64,
    /// Memory the token-validation cache may hold, in bytes (entries are evicted least
    /// recently used first, and expire after `validation_cache_seconds`).
    pub validation_cache_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 5000,
            token_expiration: 3600,
            key_repository: None,
            max_active_keys: 3,
            admin_project_name: "admin".into(),
            admin_project_domain_name: "Default".into(),
            validation_cache_seconds: 30,
            max_request_body_size: 114_688,
            list_limit: None,
            allow_expired_window: 48 * 3600,
            validation_cache_bytes: 16 << 20,
        }
    }
}

/// A token that passed validation, with everything its document shows.
#[derive(Debug, Clone)]
pub struct Validated {
    pub payload: crate::token::Payload,
    pub user: User,
    pub user_domain: Domain,
    pub project: Option<(Project, Domain)>,
    pub domain: Option<Domain>,
    pub roles: Vec<Role>,
    pub app_cred: Option<AppCred>,
    pub is_admin_project: bool,
    pub ctx: Arc<AuthContext>,
    /// The token's documents, rendered once by the API: cached validations are shared.
    pub rendered: Rendered,
}

/// The rendered token documents (opaque bytes to this layer), filled on first use: the
/// document without the catalog, and the document with the catalog (the API splices the
/// catalog, rendered once per catalog, into the first) together with the catalog it holds.
/// A clone starts empty.
#[derive(Debug, Default)]
pub struct Rendered {
    pub without_catalog: OnceLock<Bytes>,
    with_catalog: Mutex<Option<(Bytes, Bytes)>>,
}

impl Rendered {
    /// The document with `catalog`: the one made before while the catalog is the same,
    /// else `make(catalog)`, kept when it fits the cache's allowance for it.
    pub fn with_catalog(&self, catalog: &Bytes, make: impl FnOnce(&Bytes) -> Bytes) -> Bytes {
        let mut slot = self.with_catalog.lock().expect("rendered poisoned");
        if let Some((c, doc)) = &*slot {
            if c == catalog {
                return doc.clone();
            }
        }
        let doc = make(catalog);
        *slot = (doc.len() <= WITH_CATALOG_ALLOWANCE).then(|| (catalog.clone(), doc.clone()));
        doc
    }
}

/// What the cache counts for the rendered document without the catalog, which it cannot
/// see yet (the document of a token is well under this: ids, names, roles, times).
const RENDERED_ALLOWANCE: usize = 2048;
/// What it counts for the document with the catalog: a larger one (a catalog of many
/// services and regions) is made again on each request rather than kept.
const WITH_CATALOG_ALLOWANCE: usize = 6144;

impl Weight for Validated {
    fn weight(&self) -> usize {
        let user = &self.user;
        std::mem::size_of::<Validated>()
            + self.ctx.weight()
            + strings_weight([&user.id, &user.name, &user.domain_id, &user.description])
            + user.password_hash.as_ref().map_or(0, String::capacity)
            + Value::Object(user.extra.clone()).to_string().len()
            + 2 * strings_weight([&self.user_domain.id, &self.user_domain.name])
            + self.project.as_ref().map_or(0, |(p, _)| {
                strings_weight([&p.id, &p.name, &p.domain_id, &p.description])
            })
            + self
                .roles
                .iter()
                .map(|r| strings_weight([&r.id, &r.name, &r.description]))
                .sum::<usize>()
            + RENDERED_ALLOWANCE
            + WITH_CATALOG_ALLOWANCE
    }
}

impl Clone for Rendered {
    fn clone(&self) -> Self {
        Rendered::default()
    }
}

/// One catalog entry: a service and its enabled endpoints.
pub type Catalog = Vec<(Service, Vec<Endpoint>)>;

/// A validation remembered, with the change epoch read before its database reads: any
/// later change to what it depends on makes it stale.
struct CachedValidation {
    epoch: u64,
    v: Arc<Validated>,
}

impl Weight for CachedValidation {
    fn weight(&self) -> usize {
        self.v.weight()
    }
}

/// What an identity write can make stale in the validation cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dep {
    /// The user changed (enabled, password, groups, grants) or was deleted.
    User(String),
    /// The project changed (enabled, name) or was deleted.
    Project(String),
    /// The domain changed or was deleted (its users' and projects' tokens).
    Domain(String),
    /// Something many tokens may show (a role, an implication, a group's grants).
    Everything,
}

/// The epoch of the last change of each thing written on this node. A cached validation
/// read at epoch `e` is stale when its user, project or domains changed after `e`, or
/// everything did. Changes older than the cache's time-to-live are forgotten: no entry
/// that old is alive.
#[derive(Default)]
struct Changes {
    epoch: AtomicU64,
    everything: AtomicU64,
    keys: RwLock<ChangedKeys>,
}

#[derive(Default)]
struct ChangedKeys {
    users: HashMap<String, (u64, Instant)>,
    projects: HashMap<String, (u64, Instant)>,
    domains: HashMap<String, (u64, Instant)>,
}

impl ChangedKeys {
    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.projects.is_empty() && self.domains.is_empty()
    }
    fn after(map: &HashMap<String, (u64, Instant)>, k: &str, epoch: u64) -> bool {
        map.get(k).is_some_and(|(e, _)| *e > epoch)
    }
}

impl Changes {
    fn now(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn record(&self, deps: &[Dep], ttl: Duration) {
        let mut guard = self.keys.write().expect("changes poisoned");
        let keys = &mut *guard;
        let e = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        let now = Instant::now();
        for map in [&mut keys.users, &mut keys.projects, &mut keys.domains] {
            map.retain(|_, (_, at)| now.duration_since(*at) <= ttl);
        }
        for d in deps {
            match d {
                Dep::User(id) => drop(keys.users.insert(id.clone(), (e, now))),
                Dep::Project(id) => drop(keys.projects.insert(id.clone(), (e, now))),
                Dep::Domain(id) => drop(keys.domains.insert(id.clone(), (e, now))),
                Dep::Everything => self.everything.store(e, Ordering::Release),
            }
        }
    }

    fn stale(&self, c: &CachedValidation) -> bool {
        if self.everything.load(Ordering::Acquire) > c.epoch {
            return true;
        }
        let keys = self.keys.read().expect("changes poisoned");
        if keys.is_empty() {
            return false;
        }
        let v = &c.v;
        ChangedKeys::after(&keys.users, &v.user.id, c.epoch)
            || ChangedKeys::after(&keys.domains, &v.user_domain.id, c.epoch)
            || v.project.as_ref().is_some_and(|(p, d)| {
                ChangedKeys::after(&keys.projects, &p.id, c.epoch)
                    || ChangedKeys::after(&keys.domains, &d.id, c.epoch)
            })
            || v.domain
                .as_ref()
                .is_some_and(|d| ChangedKeys::after(&keys.domains, &d.id, c.epoch))
    }
}

/// The identity service.
pub struct Identity {
    pub store: Store,
    pub cfg: Config,
    pub keys: KeyRing,
    pub policy: policy::Policy,
    /// What identity writes on this node changed, for the validation cache.
    changes: Changes,
    validations: TokenCache<CachedValidation>,
    /// Bumped by catalog writes; the cached catalog is of one epoch.
    catalog_epoch: AtomicU64,
    catalog: RwLock<Option<(u64, Arc<Catalog>)>>,
    revocations: RwLock<(Instant, Arc<Vec<Revocation>>)>,
}

impl Identity {
    pub async fn new(
        store: Store,
        cfg: Config,
        keys: KeyRing,
        policy: policy::Policy,
    ) -> Result<Arc<Identity>> {
        let validations = TokenCache::new(
            Duration::from_secs(cfg.validation_cache_seconds),
            cfg.validation_cache_bytes,
        );
        let id = Arc::new(Identity {
            store,
            cfg,
            keys,
            policy,
            changes: Changes::default(),
            validations,
            catalog_epoch: AtomicU64::new(1),
            catalog: RwLock::new(None),
            revocations: RwLock::new((Instant::now(), Arc::new(Vec::new()))),
        });
        id.reload_revocations().await?;
        Ok(id)
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.cfg.validation_cache_seconds)
    }

    /// Forget everything cached (validations and the catalog): for bulk writes such as
    /// the bootstrap.
    pub fn invalidate(&self) {
        self.changes.record(&[Dep::Everything], self.ttl());
        self.invalidate_catalog();
    }

    /// After a write: cached validations that depend on `deps` are re-checked against the
    /// database on their next use; the others stay.
    pub fn changed(&self, deps: &[Dep]) {
        self.changes.record(deps, self.ttl());
    }

    /// After a catalog write: the catalog is read again (validations stay).
    pub fn invalidate_catalog(&self) {
        self.catalog_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The change epoch now: read before the database reads of a validation.
    pub fn epoch(&self) -> u64 {
        self.changes.now()
    }

    /// (entries, bytes) the validation cache holds: for tests and diagnostics.
    pub fn validation_cache_usage(&self) -> (usize, usize) {
        self.validations.usage()
    }

    /// Whether a fresh validation of `token` is cached: for tests and diagnostics.
    pub fn validation_cached(&self, token: &str) -> bool {
        self.cached_validation(token).is_some()
    }

    fn cached_validation(&self, token: &str) -> Option<Arc<Validated>> {
        let c = self.validations.get(token)?;
        if self.changes.stale(&c) {
            self.validations.remove(token);
            return None;
        }
        Some(c.v.clone())
    }

    fn cache_validation(&self, token: &str, epoch: u64, v: Arc<Validated>) {
        let left = api_common::auth::remaining(v.ctx.expires_at);
        self.validations
            .put(token, Arc::new(CachedValidation { epoch, v }), left);
    }

    /// Check a policy rule for the caller against a target (`{"target": {...}}`).
    pub fn authorize(&self, ctx: &AuthContext, rule: Rule, target: Value) -> Result<()> {
        // A context this service validated says whether it is of the admin project, and
        // keeps its credentials; any other is looked at here.
        let made;
        let creds = if ctx.is_admin_project || !self.is_admin_project(ctx) {
            ctx.policy_credentials()
        } else {
            let mut c = ctx.credentials();
            c.extra.insert("is_admin_project".into(), "True".into());
            made = c;
            &made
        };
        if self.policy.enforce(rule.name(), &target, creds) {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "You are not authorized to perform the requested action: {rule}."
            )))
        }
    }

    /// Whether a rule passes, for handlers that narrow a listing instead of refusing it.
    pub fn allowed(&self, ctx: &AuthContext, rule: Rule, target: Value) -> bool {
        self.authorize(ctx, rule, target).is_ok()
    }

    fn is_admin_project(&self, ctx: &AuthContext) -> bool {
        ctx.project_name.as_deref() == Some(self.cfg.admin_project_name.as_str())
            && ctx.project_domain_name.as_deref()
                == Some(self.cfg.admin_project_domain_name.as_str())
    }

    /// The catalog (cached until a catalog write).
    pub async fn catalog(&self) -> Result<Arc<Catalog>> {
        let gen = self.catalog_epoch.load(Ordering::Acquire);
        if let Some((g, c)) = &*self.catalog.read().expect("catalog poisoned") {
            if *g == gen {
                return Ok(c.clone());
            }
        }
        let endpoints = self.store.endpoints().await?;
        let cat: Catalog = self
            .store
            .services()
            .await?
            .into_iter()
            .filter(|s| s.enabled)
            .map(|s| {
                let eps = endpoints
                    .iter()
                    .filter(|e| e.enabled && e.service_id == s.id)
                    .cloned()
                    .collect();
                (s, eps)
            })
            .collect();
        let cat = Arc::new(cat);
        *self.catalog.write().expect("catalog poisoned") = Some((gen, cat.clone()));
        Ok(cat)
    }

    /// The revocation events in force, refreshed from the database every few seconds so
    /// revocations made on other nodes apply too.
    pub async fn revocations(&self) -> Result<Arc<Vec<Revocation>>> {
        {
            let r = self.revocations.read().expect("revocations poisoned");
            if r.0.elapsed() < Duration::from_secs(5) {
                return Ok(r.1.clone());
            }
        }
        self.reload_revocations().await
    }

    pub async fn reload_revocations(&self) -> Result<Arc<Vec<Revocation>>> {
        let horizon = chrono::Utc::now().timestamp_micros()
            - (i64::try_from(self.cfg.token_expiration).unwrap_or(i64::MAX / 2_000_000) + 60)
                * 1_000_000;
        let events = Arc::new(self.store.revocations(horizon).await?);
        *self.revocations.write().expect("revocations poisoned") = (Instant::now(), events.clone());
        Ok(events)
    }

    pub async fn revoke(&self, e: Revocation) -> Result<()> {
        // Cached validations check the revocation events on every use: nothing to evict.
        self.store.add_revocation(&e).await?;
        self.reload_revocations().await?;
        Ok(())
    }

    /// The roles `user_id` holds on `scope`, directly, through groups, by inheritance
    /// (from the project's domain and parent projects), and by implication.
    pub async fn effective_roles(&self, user_id: &str, scope: &Target) -> Result<Vec<Role>> {
        let assignments = self.store.assignments_of(user_id).await?;
        let mut direct: BTreeSet<String> = BTreeSet::new();
        let (inherit_from, domain): (Vec<String>, Option<String>) = match scope {
            Target::Project(pid) => {
                // One read of the project gives both its parent chain and its domain.
                let project = self.store.project(pid).await?;
                let chain = self
                    .ancestors_from(project.as_ref().and_then(|p| p.parent_id.clone()))
                    .await?;
                (chain, project.map(|p| p.domain_id))
            }
            _ => (Vec::new(), None),
        };
        for a in &assignments {
            let hit = match (&a.target, scope) {
                (t, s) if t == s => !a.inherited,
                (Target::Project(p), Target::Project(_)) => a.inherited && inherit_from.contains(p),
                (Target::Domain(d), Target::Project(_)) => {
                    a.inherited && domain.as_deref() == Some(d.as_str())
                }
                _ => false,
            };
            if hit {
                direct.insert(a.role_id.clone());
            }
        }
        self.expand_roles(direct).await
    }

    /// Role ids plus every role they imply, as roles, sorted by name.
    pub async fn expand_roles(&self, ids: BTreeSet<String>) -> Result<Vec<Role>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rules = self.store.implied_roles().await?;
        let mut imply: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (p, i) in &rules {
            imply.entry(p).or_default().push(i);
        }
        let mut all = ids.clone();
        let mut todo: Vec<String> = ids.into_iter().collect();
        while let Some(r) = todo.pop() {
            for i in imply.get(r.as_str()).into_iter().flatten() {
                if all.insert((*i).to_owned()) {
                    todo.push((*i).to_owned());
                }
            }
        }
        let mut roles: Vec<Role> = self
            .store
            .roles()
            .await?
            .into_iter()
            .filter(|r| all.contains(&r.id))
            .collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(roles)
    }

    /// The ids of the parents of a project, nearest first.
    pub async fn project_ancestors(&self, project_id: &str) -> Result<Vec<String>> {
        self.ancestors_from(
            self.store
                .project(project_id)
                .await?
                .and_then(|p| p.parent_id),
        )
        .await
    }

    /// `parent` and the parents above it, nearest first.
    async fn ancestors_from(&self, parent: Option<String>) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut cur = parent;
        while let Some(id) = cur {
            if out.contains(&id) || out.len() > 64 {
                break;
            }
            cur = self.store.project(&id).await?.and_then(|p| p.parent_id);
            out.push(id);
        }
        Ok(out)
    }
}

impl Identity {
    /// Every role assignment; with `effective`, group grants are expanded to their members,
    /// inherited grants to the projects below them, and implied roles are added, as
    /// Keystone's `?effective` does. Each row carries the group it came through.
    pub async fn role_assignments(
        &self,
        effective: bool,
    ) -> Result<Vec<(Assignment, Option<String>)>> {
        let all = self.store.assignments().await?;
        if !effective {
            return Ok(all.into_iter().map(|a| (a, None)).collect());
        }
        let projects = self.store.projects(&ProjectFilter::default()).await?;
        let rules = self.store.implied_roles().await?;
        let mut out: Vec<(Assignment, Option<String>)> = Vec::new();
        let mut push = |a: Assignment, via: Option<String>| {
            if !out.iter().any(|(x, _)| *x == a) {
                out.push((a, via));
            }
        };
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for a in &all {
            let actors: Vec<(String, Option<String>)> = match a.actor_type {
                ActorType::User => vec![(a.actor_id.clone(), None)],
                ActorType::Group => {
                    if !members.contains_key(&a.actor_id) {
                        members.insert(
                            a.actor_id.clone(),
                            self.store.group_members(&a.actor_id).await?,
                        );
                    }
                    members[&a.actor_id]
                        .iter()
                        .map(|u| (u.clone(), Some(a.actor_id.clone())))
                        .collect()
                }
            };
            let targets: Vec<Target> = if a.inherited {
                match &a.target {
                    Target::Domain(d) => projects
                        .iter()
                        .filter(|p| p.domain_id == *d)
                        .map(|p| Target::Project(p.id.clone()))
                        .collect(),
                    Target::Project(root) => descendants(&projects, root)
                        .into_iter()
                        .map(Target::Project)
                        .collect(),
                    Target::System => vec![],
                }
            } else {
                vec![a.target.clone()]
            };
            let mut role_ids = vec![a.role_id.clone()];
            let mut i = 0;
            while i < role_ids.len() {
                for (p, imp) in &rules {
                    if *p == role_ids[i] && !role_ids.contains(imp) {
                        role_ids.push(imp.clone());
                    }
                }
                i += 1;
            }
            for (user, via) in &actors {
                for t in &targets {
                    for r in &role_ids {
                        push(
                            Assignment {
                                actor_type: ActorType::User,
                                actor_id: user.clone(),
                                target: t.clone(),
                                role_id: r.clone(),
                                inherited: false,
                            },
                            via.clone(),
                        );
                    }
                }
            }
        }
        Ok(out)
    }

    /// The projects on which a user holds a role (directly, through a group, or by
    /// inheritance), from that user's assignments only.
    pub async fn user_projects(&self, user_id: &str) -> Result<Vec<Project>> {
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for a in self.store.assignments_of(user_id).await? {
            match (a.target, a.inherited) {
                (Target::Project(p), false) => {
                    ids.insert(p);
                }
                (Target::Project(p), true) => ids.extend(self.project_descendants(&p).await?),
                (Target::Domain(d), true) => {
                    let f = ProjectFilter {
                        domain_id: Some(d),
                        ..Default::default()
                    };
                    ids.extend(self.store.projects(&f).await?.into_iter().map(|p| p.id));
                }
                _ => {}
            }
        }
        self.store
            .projects(&ProjectFilter {
                ids: Some(ids.into_iter().collect()),
                ..Default::default()
            })
            .await
    }

    /// The domains on which a user holds a role (directly or through a group).
    pub async fn user_domains(&self, user_id: &str) -> Result<Vec<Domain>> {
        let ids: BTreeSet<String> = self
            .store
            .assignments_of(user_id)
            .await?
            .into_iter()
            .filter(|a| !a.inherited)
            .filter_map(|a| match a.target {
                Target::Domain(d) => Some(d),
                _ => None,
            })
            .collect();
        Ok(self
            .store
            .domains()
            .await?
            .into_iter()
            .filter(|d| ids.contains(&d.id))
            .collect())
    }

    /// The projects below `root` (not `root` itself), one query per level.
    async fn project_descendants(&self, root: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut frontier = vec![root.to_owned()];
        while let Some(cur) = frontier.pop() {
            for c in self.store.project_children(&cur).await? {
                if !out.contains(&c) && c != root {
                    out.push(c.clone());
                    frontier.push(c);
                }
            }
        }
        Ok(out)
    }
}

/// The projects below `root` (not `root` itself).
fn descendants(projects: &[Project], root: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut frontier = vec![root.to_owned()];
    while let Some(cur) = frontier.pop() {
        for p in projects
            .iter()
            .filter(|p| p.parent_id.as_deref() == Some(cur.as_str()))
        {
            if !out.contains(&p.id) {
                out.push(p.id.clone());
                frontier.push(p.id.clone());
            }
        }
    }
    out
}

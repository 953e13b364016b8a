//! Token authentication for every service (what keystonemiddleware does for OpenStack).
//!
//! A service router is wrapped with [`require_token`]; it validates `X-Auth-Token` with a
//! [`TokenValidator`] and hands handlers an [`AuthContext`] through the [`Ctx`] extractor.
//! In the all-in-one process the validator is the identity service itself, in-process; on
//! many machines it is [`RemoteValidator`], which asks Keystone over HTTP and caches the
//! answer briefly.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex, OnceLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use axum::{
    extract::{FromRequestParts, Request},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use http::{request::Parts, HeaderValue};
use serde_json::Value;

use crate::error::Error;

pub const AUTH_TOKEN: &str = "x-auth-token";
pub const SUBJECT_TOKEN: &str = "x-subject-token";
pub const SERVICE_TOKEN: &str = "x-service-token";

/// Who is calling, as established by a validated token.
#[derive(Debug, Clone, Default)]
pub struct AuthContext {
    pub token: String,
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    pub user_domain_name: String,
    /// Set for project-scoped tokens.
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
    /// Set for domain-scoped tokens.
    pub domain_id: Option<String>,
    pub domain_name: Option<String>,
    /// `Some("all")` for system-scoped tokens.
    pub system_scope: Option<String>,
    /// Role names (lower case), including implied roles.
    pub roles: Vec<String>,
    pub role_ids: Vec<String>,
    pub methods: Vec<String>,
    pub audit_ids: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub application_credential_id: Option<String>,
    /// The roles of a valid `X-Service-Token`, when one was sent.
    pub service_roles: Vec<String>,
    /// The token is scoped to the cloud's admin project (Keystone's `is_admin_project`,
    /// which policies see as `is_admin_project:True`).
    pub is_admin_project: bool,
    /// [`AuthContext::policy_credentials`], made on first use. Leave it at its default:
    /// a context is not changed once shared, and a clone starts with it empty.
    pub policy_cache: CredentialsCache,
}

/// The policy credentials of one [`AuthContext`], made once: a validated context is
/// shared by every request that shows its token, and rules are checked several times per
/// request. A clone is empty (the clone may be changed before it is used).
#[derive(Debug, Default)]
pub struct CredentialsCache(OnceLock<policy::Credentials>);

impl Clone for CredentialsCache {
    fn clone(&self) -> Self {
        CredentialsCache::default()
    }
}

impl AuthContext {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// The credentials the policy engine evaluates rules against.
    pub fn credentials(&self) -> policy::Credentials {
        let mut c = policy::Credentials {
            user_id: Some(self.user_id.clone()),
            project_id: self.project_id.clone(),
            domain_id: self.domain_id.clone(),
            roles: self.roles.clone(),
            system_scope: self.system_scope.clone(),
            is_admin: false,
            ..Default::default()
        };
        c.extra
            .insert("user_domain_id".into(), self.user_domain_id.clone());
        if let Some(d) = &self.project_domain_id {
            c.extra.insert("project_domain_id".into(), d.clone());
        }
        if self.is_admin_project {
            c.extra.insert("is_admin_project".into(), "True".into());
        }
        c
    }

    /// [`credentials`](Self::credentials), made on the first call and kept with the
    /// context (which is shared by the cached validation of its token).
    pub fn policy_credentials(&self) -> &policy::Credentials {
        self.policy_cache.0.get_or_init(|| self.credentials())
    }

    /// Build a context from a Keystone v3 token document (`{"token": {...}}`).
    pub fn from_token_body(token: &str, body: &Value) -> Option<AuthContext> {
        let t = body.get("token")?;
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let user = t.get("user")?;
        let udom = user.get("domain").cloned().unwrap_or_default();
        let project = t.get("project");
        let pdom = project.and_then(|p| p.get("domain"));
        let domain = t.get("domain");
        let roles: Vec<&Value> = t
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let time = |k: &str| {
            s(t, k)
                .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default()
        };
        let list = |k: &str| -> Vec<String> {
            t.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(AuthContext {
            token: token.to_owned(),
            user_id: s(user, "id")?,
            user_name: s(user, "name").unwrap_or_default(),
            user_domain_id: s(&udom, "id").unwrap_or_default(),
            user_domain_name: s(&udom, "name").unwrap_or_default(),
            project_id: project.and_then(|p| s(p, "id")),
            project_name: project.and_then(|p| s(p, "name")),
            project_domain_id: pdom.and_then(|d| s(d, "id")),
            project_domain_name: pdom.and_then(|d| s(d, "name")),
            domain_id: domain.and_then(|d| s(d, "id")),
            domain_name: domain.and_then(|d| s(d, "name")),
            system_scope: t
                .get("system")
                .and_then(|v| v.get("all"))
                .map(|_| "all".to_owned()),
            roles: roles
                .iter()
                .filter_map(|r| s(r, "name"))
                .map(|n| n.to_lowercase())
                .collect(),
            role_ids: roles.iter().filter_map(|r| s(r, "id")).collect(),
            methods: list("methods"),
            audit_ids: list("audit_ids"),
            expires_at: time("expires_at"),
            issued_at: time("issued_at"),
            application_credential_id: t.get("application_credential").and_then(|a| s(a, "id")),
            service_roles: Vec::new(),
            is_admin_project: t
                .get("is_admin_project")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            policy_cache: CredentialsCache::default(),
        })
    }
}

/// Validates tokens. The identity service implements it in-process; [`RemoteValidator`]
/// implements it over HTTP.
#[async_trait]
pub trait TokenValidator: Send + Sync + 'static {
    /// The context of a valid token; `Unauthenticated` for an invalid, expired or revoked one.
    async fn validate(&self, token: &str) -> Result<Arc<AuthContext>, Error>;
}

/// Handlers take `Ctx` to get the caller's context.
#[derive(Debug, Clone)]
pub struct Ctx(pub Arc<AuthContext>);

impl std::ops::Deref for Ctx {
    type Target = AuthContext;
    fn deref(&self) -> &AuthContext {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Arc<AuthContext>>()
            .cloned()
            .map(Ctx)
            .ok_or_else(|| {
                Error::unauthenticated("The request you have made requires authentication.")
            })
    }
}

/// What [`RequireTokenLayer`] needs: the validator, and where clients authenticate.
#[derive(Clone)]
pub struct AuthLayerState {
    pub validator: Arc<dyn TokenValidator>,
    /// Where clients authenticate, for the `WWW-Authenticate` header of a 401.
    pub identity_uri: String,
}

fn unauthenticated(identity_uri: &str) -> Response {
    let mut resp = Error::unauthenticated("The request you have made requires authentication.")
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{identity_uri}\"")) {
        resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The layer that makes every request of the routes under it carry a valid
/// `X-Auth-Token` (see [`RequireToken`]).
#[derive(Clone)]
pub struct RequireTokenLayer(Arc<AuthLayerState>);

impl RequireTokenLayer {
    pub fn new(auth: AuthLayerState) -> Self {
        RequireTokenLayer(Arc::new(auth))
    }
}

impl<S> tower::Layer<S> for RequireTokenLayer {
    type Service = RequireToken<S>;
    fn layer(&self, inner: S) -> RequireToken<S> {
        RequireToken {
            inner,
            auth: self.0.clone(),
        }
    }
}

/// Middleware: every request must carry a valid `X-Auth-Token`; the handler gets its
/// [`AuthContext`] (extract it with [`Ctx`]). A valid `X-Service-Token` adds its roles
/// as `service_roles`; an invalid one is a 401. Written as a plain service (not
/// `middleware::from_fn`), because it runs on every request of every protected route:
/// one boxed future per request and nothing else allocated here.
#[derive(Clone)]
pub struct RequireToken<S> {
    inner: S,
    auth: Arc<AuthLayerState>,
}

impl<S> tower::Service<Request> for RequireToken<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone takes the place of the service made ready by `poll_ready`.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move { Ok(authenticate(&auth, req, ready).await) })
    }
}

async fn authenticate<S>(st: &AuthLayerState, mut req: Request, mut inner: S) -> Response
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    let Some(token) = req.headers().get(AUTH_TOKEN).and_then(|v| v.to_str().ok()) else {
        return unauthenticated(&st.identity_uri);
    };
    let mut ctx = match st.validator.validate(token).await {
        Ok(ctx) => ctx,
        Err(_) => return unauthenticated(&st.identity_uri),
    };
    if let Some(svc) = req
        .headers()
        .get(SERVICE_TOKEN)
        .and_then(|v| v.to_str().ok())
    {
        match st.validator.validate(svc).await {
            Ok(s) => Arc::make_mut(&mut ctx).service_roles = s.roles.clone(),
            Err(_) => return unauthenticated(&st.identity_uri),
        }
    }
    req.extensions_mut().insert(ctx);
    match inner.call(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// What a cached value costs in memory, approximately: its own size plus what it owns on
/// the heap. [`TokenCache`] is bounded by the sum of these.
pub trait Weight {
    fn weight(&self) -> usize;
}

/// Heap bytes of a list of strings.
pub fn strings_weight<'a>(v: impl IntoIterator<Item = &'a String>) -> usize {
    v.into_iter()
        .map(|s| s.capacity() + std::mem::size_of::<String>())
        .sum()
}

fn opt_weight(v: &Option<String>) -> usize {
    v.as_ref().map_or(0, String::capacity)
}

impl Weight for AuthContext {
    fn weight(&self) -> usize {
        std::mem::size_of::<AuthContext>()
            + strings_weight([
                &self.token,
                &self.user_id,
                &self.user_name,
                &self.user_domain_id,
                &self.user_domain_name,
            ])
            + [
                &self.project_id,
                &self.project_name,
                &self.project_domain_id,
                &self.project_domain_name,
                &self.domain_id,
                &self.domain_name,
                &self.system_scope,
                &self.application_credential_id,
            ]
            .into_iter()
            .map(opt_weight)
            .sum::<usize>()
            + strings_weight(&self.roles)
            + strings_weight(&self.role_ids)
            + strings_weight(&self.methods)
            + strings_weight(&self.audit_ids)
            + strings_weight(&self.service_roles)
            + self.credentials_weight()
    }
}

impl AuthContext {
    /// What [`AuthContext::policy_credentials`] holds once made (counted whether made yet
    /// or not, since the cache weighs an entry when it is put): copies of some fields, and
    /// a map of three more.
    fn credentials_weight(&self) -> usize {
        /// A hash map's table and its entries' keys, roughly.
        const EXTRA: usize = 3 * (2 * std::mem::size_of::<String>() + 24) + 64;
        std::mem::size_of::<policy::Credentials>()
            + self.user_id.capacity()
            + [&self.project_id, &self.domain_id, &self.system_scope]
                .into_iter()
                .map(opt_weight)
                .sum::<usize>()
            + strings_weight(&self.roles)
            + self.user_domain_id.capacity()
            + opt_weight(&self.project_domain_id)
            + EXTRA
    }
}

/// Bookkeeping of one entry (the map's node, the key, the slot).
const ENTRY_OVERHEAD: usize = 96;

/// How many insertions between sweeps of expired entries.
const SWEEP_EVERY: u64 = 256;

struct Slot<V> {
    until: Instant,
    weight: usize,
    value: Arc<V>,
}

struct Lru<V> {
    /// Least recently used first.
    map: hashlink::LinkedHashMap<String, Slot<V>>,
    bytes: usize,
    puts: u64,
}

impl<V> Lru<V> {
    fn remove(&mut self, token: &str) {
        if let Some(s) = self.map.remove(token) {
            self.bytes -= s.weight;
        }
    }
    fn sweep(&mut self, now: Instant) {
        let mut freed = 0;
        self.map.retain(|_, s| {
            let keep = s.until > now;
            if !keep {
                freed += s.weight;
            }
            keep
        });
        self.bytes -= freed;
    }
}

/// A cache of validated tokens, shared by validators: each entry lives until its own
/// deadline (the cache's time-to-live, or the token's expiry when sooner), and the whole
/// cache holds at most `max_bytes` (as [`Weight`] counts them), evicting the least
/// recently used entries first. Expired entries are dropped when met and swept every few
/// hundred insertions, so memory follows the live tokens, not the tokens ever seen.
pub struct TokenCache<V> {
    ttl: Duration,
    max_bytes: usize,
    inner: Mutex<Lru<V>>,
}

impl<V: Weight> TokenCache<V> {
    pub fn new(ttl: Duration, max_bytes: usize) -> Self {
        TokenCache {
            ttl,
            max_bytes,
            inner: Mutex::new(Lru {
                map: hashlink::LinkedHashMap::new(),
                bytes: 0,
                puts: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<V>> {
        self.inner.lock().expect("token cache poisoned")
    }

    pub fn get(&self, token: &str) -> Option<Arc<V>> {
        let mut lru = self.lock();
        let now = Instant::now();
        match lru.map.get(token) {
            Some(s) if s.until > now => {
                let v = s.value.clone();
                lru.map.to_back(token);
                Some(v)
            }
            Some(_) => {
                lru.remove(token);
                None
            }
            None => None,
        }
    }

    /// Remember `value` for `token` for the cache's time-to-live, or less when `valid_for`
    /// (e.g. the token's remaining lifetime) is shorter.
    pub fn put(&self, token: &str, value: Arc<V>, valid_for: Duration) {
        let life = self.ttl.min(valid_for);
        let weight = ENTRY_OVERHEAD + token.len() + value.weight();
        if life.is_zero() || weight > self.max_bytes {
            return;
        }
        let now = Instant::now();
        let mut lru = self.lock();
        lru.remove(token);
        lru.puts += 1;
        if lru.puts.is_multiple_of(SWEEP_EVERY) {
            lru.sweep(now);
        }
        while lru.bytes + weight > self.max_bytes {
            match lru.map.pop_front() {
                Some((_, s)) => lru.bytes -= s.weight,
                None => break,
            }
        }
        lru.bytes += weight;
        lru.map.insert(
            token.to_owned(),
            Slot {
                until: now + life,
                weight,
                value,
            },
        );
    }

    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    /// Drop every entry whose deadline passed.
    pub fn sweep(&self) {
        self.lock().sweep(Instant::now());
    }

    /// (entries, bytes) held now.
    pub fn usage(&self) -> (usize, usize) {
        let lru = self.lock();
        (lru.map.len(), lru.bytes)
    }

    pub fn clear(&self) {
        let mut lru = self.lock();
        lru.map.clear();
        lru.bytes = 0;
    }
}

/// The time left before `expires_at` (zero when past).
pub fn remaining(expires_at: DateTime<Utc>) -> Duration {
    (expires_at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}

/// Memory the remote validator's cache may hold.
pub const REMOTE_CACHE_BYTES: usize = 8 << 20;

/// Validates tokens by asking Keystone (`GET /v3/auth/tokens`) with the service's own
/// token, caching each answer for a short time. Used when services run on other machines
/// than identity.
pub struct RemoteValidator {
    http: reqwest::Client,
    identity_url: String,
    service_token:
        Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<String, Error>> + Send + Sync>,
    cache: TokenCache<AuthContext>,
}

impl RemoteValidator {
    /// `identity_url` is the Keystone endpoint (ending in `/v3`); `service_token` yields a
    /// valid token of the service user (it is called on every cache miss, so it should
    /// itself cache).
    pub fn new(
        identity_url: String,
        service_token: Arc<
            dyn Fn() -> futures::future::BoxFuture<'static, Result<String, Error>> + Send + Sync,
        >,
        cache_ttl: Duration,
    ) -> Self {
        RemoteValidator {
            http: reqwest::Client::new(),
            identity_url,
            service_token,
            cache: TokenCache::new(cache_ttl, REMOTE_CACHE_BYTES),
        }
    }
}

#[async_trait]
impl TokenValidator for RemoteValidator {
    async fn validate(&self, token: &str) -> Result<Arc<AuthContext>, Error> {
        if let Some(ctx) = self.cache.get(token) {
            return Ok(ctx);
        }
        let svc = (self.service_token)().await?;
        let resp = self
            .http
            .get(format!(
                "{}/auth/tokens?nocatalog",
                self.identity_url.trim_end_matches('/')
            ))
            .header(AUTH_TOKEN, svc)
            .header(SUBJECT_TOKEN, token)
            .send()
            .await
            .map_err(|e| {
                Error::unavailable("The identity service is not reachable.").with_detail(e)
            })?;
        if !resp.status().is_success() {
            return Err(Error::unauthenticated("The token is not valid."));
        }
        let body: Value = resp.json().await.map_err(|e| {
            Error::unavailable("The identity service answered badly.").with_detail(e)
        })?;
        let ctx = Arc::new(
            AuthContext::from_token_body(token, &body)
                .ok_or_else(|| Error::unauthenticated("The token is not valid."))?,
        );
        self.cache
            .put(token, ctx.clone(), remaining(ctx.expires_at));
        Ok(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(i: usize) -> Arc<AuthContext> {
        Arc::new(AuthContext {
            token: format!("token-{i}"),
            user_id: "u".repeat(32),
            roles: vec!["member".into(), "reader".into()],
            ..Default::default()
        })
    }

    #[test]
    fn bounded_in_bytes_lru_first() {
        let one = ENTRY_OVERHEAD + 8 + ctx(0).weight();
        let cache = TokenCache::new(Duration::from_secs(60), one * 10);
        for i in 0..10_000 {
            cache.put(&format!("t{i:07}"), ctx(i), Duration::from_secs(60));
            // touching t0000000 keeps it: the least recently used go first
            assert!(cache.get("t0000000").is_some());
            let (n, bytes) = cache.usage();
            assert!(bytes <= one * 10 + 64, "{bytes}");
            assert!(n <= 11, "{n}");
        }
        assert!(cache.get("t0000001").is_none());
        assert!(cache.get("t0009999").is_some());
    }

    #[test]
    fn entries_expire_with_their_own_deadline() {
        let cache = TokenCache::new(Duration::from_millis(200), 1 << 20);
        cache.put("short", ctx(1), Duration::from_millis(20));
        cache.put("long", ctx(2), Duration::from_secs(3600));
        cache.put("dead", ctx(3), Duration::ZERO);
        assert!(cache.get("dead").is_none());
        assert!(cache.get("short").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("short").is_none());
        assert!(cache.get("long").is_some());
        std::thread::sleep(Duration::from_millis(200));
        cache.sweep();
        assert_eq!(cache.usage(), (0, 0));
    }
}

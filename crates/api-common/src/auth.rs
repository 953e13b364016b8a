//! Token authentication for every service (what keystonemiddleware does for OpenStack).
//!
//! A service router is wrapped with [`require_token`]; it validates `X-Auth-Token` with a
//! [`TokenValidator`] and hands handlers an [`AuthContext`] through the [`Ctx`] extractor.
//! In the all-in-one process the validator is the identity service itself, in-process; on
//! many machines it is [`RemoteValidator`], which asks Keystone over HTTP and caches the
//! answer briefly.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use axum::{
    extract::{FromRequestParts, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
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
        c
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

/// The state of [`require_token`].
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

/// Middleware: every request must carry a valid `X-Auth-Token`.
pub async fn require_token(
    State(st): State<AuthLayerState>,
    mut req: Request,
    next: Next,
) -> Response {
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
    next.run(req).await
}

/// A short-lived cache of validated tokens, shared by validators.
pub struct TokenCache {
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<String, (Instant, Arc<AuthContext>)>>,
}

impl TokenCache {
    pub fn new(ttl: Duration, max: usize) -> Self {
        TokenCache {
            ttl,
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, token: &str) -> Option<Arc<AuthContext>> {
        let entries = self.entries.lock().expect("token cache poisoned");
        let (at, ctx) = entries.get(token)?;
        (at.elapsed() < self.ttl && ctx.expires_at > Utc::now()).then(|| ctx.clone())
    }

    pub fn put(&self, token: &str, ctx: Arc<AuthContext>) {
        let mut entries = self.entries.lock().expect("token cache poisoned");
        if entries.len() >= self.max {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.max {
                entries.clear();
            }
        }
        entries.insert(token.to_owned(), (Instant::now(), ctx));
    }

    pub fn clear(&self) {
        self.entries.lock().expect("token cache poisoned").clear();
    }
}

/// Validates tokens by asking Keystone (`GET /v3/auth/tokens`) with the service's own
/// token, caching each answer for a short time. Used when services run on other machines
/// than identity.
pub struct RemoteValidator {
    http: reqwest::Client,
    identity_url: String,
    service_token:
        Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<String, Error>> + Send + Sync>,
    cache: TokenCache,
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
            cache: TokenCache::new(cache_ttl, 10_000),
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
        self.cache.put(token, ctx.clone());
        Ok(ctx)
    }
}

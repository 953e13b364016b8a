//! The service user's own token (`[service_auth]`): what a service sends when it calls
//! another service's public API (nova -> glance, neutron, placement), and what a service
//! without identity in its process uses to ask Keystone about user tokens.
//!
//! [`ServiceToken`] is a cheap handle: the token is fetched on first use, kept until a
//! minute before it expires, then fetched again.

use std::sync::Arc;

use api_common::Error;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

/// The `[service_auth]` section: how a service authenticates to identity.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceAuthConfig {
    /// Keystone's URL, ending in `/v3` (default: this host's identity port).
    pub auth_url: Option<String>,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// How long a validated user token is trusted before asking again, in seconds.
    pub cache_seconds: u64,
}

impl Default for ServiceAuthConfig {
    fn default() -> Self {
        ServiceAuthConfig {
            auth_url: None,
            username: "admin".into(),
            password: String::new(),
            project_name: "admin".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            cache_seconds: 10,
        }
    }
}

/// Fetches and caches the service token.
struct TokenSource {
    cfg: ServiceAuthConfig,
    auth_url: String,
    http: reqwest::Client,
    current: Mutex<Option<(String, DateTime<Utc>)>>,
}

impl TokenSource {
    async fn token(&self) -> Result<String, Error> {
        let mut cur = self.current.lock().await;
        if let Some((t, exp)) = &*cur {
            if *exp - chrono::Duration::seconds(60) > Utc::now() {
                return Ok(t.clone());
            }
        }
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.cfg.username, "domain": {"name": self.cfg.user_domain_name},
                "password": self.cfg.password}}},
            "scope": {"project": {"name": self.cfg.project_name, "domain": {"name": self.cfg.project_domain_name}}},
        }});
        let unavailable = |e: reqwest::Error| {
            Error::unavailable("The identity service is not reachable.").with_detail(e)
        };
        let resp = self
            .http
            .post(format!("{}/auth/tokens?nocatalog", self.auth_url))
            .json(&body)
            .send()
            .await
            .map_err(unavailable)?;
        if !resp.status().is_success() {
            return Err(Error::unavailable("The service user cannot authenticate.")
                .with_detail(format!("identity answered {}", resp.status())));
        }
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Error::unavailable("Identity returned no token."))?;
        let doc: serde_json::Value = resp.json().await.map_err(unavailable)?;
        let exp = doc["token"]["expires_at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|| Utc::now() + chrono::Duration::minutes(5));
        *cur = Some((token.clone(), exp));
        Ok(token)
    }
}

/// The service user's token, fetched on first use and renewed before it expires.
#[derive(Clone)]
pub struct ServiceToken {
    src: Arc<TokenSource>,
}

impl ServiceToken {
    /// Authenticate as `cfg`'s user at `cfg.auth_url`, or at `default_auth_url` (`.../v3`).
    pub fn new(cfg: &ServiceAuthConfig, default_auth_url: &str) -> ServiceToken {
        let auth_url = cfg
            .auth_url
            .as_deref()
            .unwrap_or(default_auth_url)
            .trim_end_matches('/')
            .to_owned();
        ServiceToken {
            src: Arc::new(TokenSource {
                cfg: cfg.clone(),
                auth_url,
                http: reqwest::Client::new(),
                current: Mutex::new(None),
            }),
        }
    }

    /// Where it authenticates.
    pub fn auth_url(&self) -> &str {
        &self.src.auth_url
    }

    /// A valid token (Unavailable when identity cannot be reached or refuses the user).
    pub async fn token(&self) -> Result<String, Error> {
        self.src.token().await
    }

    /// The same, as the boxed closure [`api_common::auth::RemoteValidator`] takes.
    pub fn as_fn(
        &self,
    ) -> Arc<dyn Fn() -> BoxFuture<'static, Result<String, Error>> + Send + Sync> {
        let me = self.clone();
        Arc::new(move || {
            let me = me.clone();
            Box::pin(async move { me.token().await })
        })
    }
}

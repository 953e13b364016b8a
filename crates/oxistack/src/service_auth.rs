//! The service user's own token, for services that run without identity in the same
//! process: they validate user tokens by asking Keystone, as keystonemiddleware does.

use std::{sync::Arc, time::Duration};

use api_common::{auth::RemoteValidator, Error};
use chrono::{DateTime, Utc};
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

/// A validator that asks the identity service at `auth_url` about user tokens.
pub fn remote_validator(cfg: &ServiceAuthConfig, default_auth_url: String) -> RemoteValidator {
    let auth_url = cfg
        .auth_url
        .clone()
        .unwrap_or(default_auth_url)
        .trim_end_matches('/')
        .to_owned();
    let src = Arc::new(TokenSource {
        cfg: cfg.clone(),
        auth_url: auth_url.clone(),
        http: reqwest::Client::new(),
        current: Mutex::new(None),
    });
    RemoteValidator::new(
        auth_url,
        Arc::new(move || {
            let src = src.clone();
            Box::pin(async move { src.token().await })
        }),
        Duration::from_secs(cfg.cache_seconds),
    )
}

//! The Keystone v3 HTTP API: routes and wire types. Handlers parse, authorize, call the
//! app layer and render; JSON lives only here.

mod auth;
mod catalog;
mod grants;
mod resources;

use std::sync::Arc;

use api_common::{
    auth::AuthLayerState,
    routes::{Api, Routes},
    version::ApiVersion,
    Error, FaultStyle, TokenValidator,
};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::{json, Map, Value};

use crate::app::Identity;

pub const V3: ApiVersion = ApiVersion {
    id: "v3.14",
    status: "stable",
    updated: "2020-04-07T00:00:00Z",
    path: "/v3/",
    media_type: "application/vnd.openstack.identity-v3+json",
    min_version: None,
    max_version: None,
};

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub id: Arc<Identity>,
    /// The public root URL of this service, e.g. `http://127.0.0.1:5000`.
    pub base: Arc<str>,
}

impl ApiState {
    fn link(&self, path: &str) -> String {
        format!("{}/v3/{}", self.base, path)
    }
    /// `{"self": ...}` links of a resource.
    fn links(&self, collection: &str, id: &str) -> Value {
        json!({ "self": self.link(&format!("{collection}/{id}")) })
    }
    /// A collection document: `{"<key>": [...], "links": {...}}`.
    fn collection(&self, key: &str, path: &str, items: Vec<Value>) -> Json<Value> {
        Json(json!({
            key: items,
            "links": {"self": self.link(path), "previous": null, "next": null},
        }))
    }
}

/// The identity router: version documents, authentication, and everything else behind
/// token validation.
pub fn router(id: Arc<Identity>, base: String) -> Router {
    api(id, base).router
}

/// The identity API: its router and its route table.
pub fn api(id: Arc<Identity>, base: String) -> Api {
    let base: Arc<str> = base.trim_end_matches('/').into();
    let st = ApiState {
        id: id.clone(),
        base: base.clone(),
    };
    let auth_state = AuthLayerState {
        validator: id.clone() as Arc<dyn TokenValidator>,
        identity_uri: format!("{base}/v3"),
    };
    let protected = Routes::new()
        .merge(auth::protected_routes())
        .merge(resources::routes())
        .merge(grants::routes())
        .merge(catalog::routes())
        .require_token(auth_state);
    Routes::new()
        .route("/", get(versions))
        .route("/v3", get(version))
        .route("/v3/", get(version))
        .merge(auth::public_routes())
        .merge(protected)
        .with_state(st)
        .finish(FaultStyle::Keystone, id.cfg.max_request_body_size)
}

async fn versions(State(st): State<ApiState>) -> Response {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [V3.document(&st.base)]}})),
    )
        .into_response()
}

async fn version(State(st): State<ApiState>) -> Json<Value> {
    Json(json!({ "version": V3.document(&st.base) }))
}

/// `201 Created` with `{"<key>": resource}`.
fn created(key: &str, resource: Value) -> Response {
    (StatusCode::CREATED, Json(json!({ key: resource }))).into_response()
}

/// Merge extra attributes into a rendered resource.
fn with_extra(mut v: Value, extra: &Map<String, Value>) -> Value {
    if let Value::Object(m) = &mut v {
        for (k, x) in extra {
            m.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    v
}

/// Query flags as Keystone reads them: present with no value, or a truthy value.
fn flag(q: &std::collections::HashMap<String, String>, k: &str) -> bool {
    match q.get(k) {
        None => false,
        Some(v) => !matches!(
            v.to_ascii_lowercase().as_str(),
            "0" | "false" | "f" | "no" | "n" | "off"
        ),
    }
}

/// A query value that must be a boolean.
fn bool_filter(
    q: &std::collections::HashMap<String, String>,
    k: &str,
) -> Result<Option<bool>, Error> {
    match q.get(k).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if ["1", "true", "t", "yes", "y", "on", ""].contains(&v.as_str()) => Ok(Some(true)),
        Some(v) if ["0", "false", "f", "no", "n", "off"].contains(&v.as_str()) => Ok(Some(false)),
        Some(v) => Err(Error::bad_request(format!(
            "Invalid value for filter '{k}': '{v}' is not a boolean."
        ))),
    }
}

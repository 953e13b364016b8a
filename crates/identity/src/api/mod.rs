//! The Keystone v3 HTTP API: routes and wire types. Handlers parse, authorize, call the
//! app layer and render; JSON lives only here.

mod auth;
mod catalog;
mod grants;
mod resources;

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use bytes::Bytes;

use api_common::{
    auth::{AuthLayerState, TokenCache, Weight},
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

use crate::app::{Catalog, Identity};

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
    /// The catalog rendered as JSON, with the catalog it renders.
    catalog_doc: Arc<RwLock<Option<CatalogDoc>>>,
    /// Rendered list documents by filter, when this process is the only writer (SQLite).
    lists: Option<Arc<TokenCache<ListDoc>>>,
}

/// A catalog and its JSON.
type CatalogDoc = (Arc<Catalog>, Bytes);

/// A rendered list, with the identity change epoch read before its database read: any
/// identity write since makes it stale.
struct ListDoc {
    epoch: u64,
    body: Bytes,
}

impl Weight for ListDoc {
    fn weight(&self) -> usize {
        std::mem::size_of::<ListDoc>() + self.body.len()
    }
}

/// Memory the list cache may hold.
const LIST_CACHE_BYTES: usize = 4 << 20;
/// Longest a rendered list is kept (it is dropped at once by any identity write).
const LIST_CACHE_TTL: Duration = Duration::from_secs(600);

fn json_body(body: Bytes) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

impl ApiState {
    /// A list document: from the cache when no identity write happened since it was
    /// rendered, else made by `make` (and cached). The cache is used only on SQLite, where
    /// this process is the only writer and so sees every write; with PostgreSQL other
    /// nodes write too, and every list is read from the database.
    async fn cached_list<F, Fut>(&self, key: String, make: F) -> Result<Response, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Json<Value>, Error>>,
    {
        let Some(cache) = &self.lists else {
            return Ok(make().await?.into_response());
        };
        let epoch = self.id.epoch();
        if let Some(doc) = cache.get(&key) {
            if doc.epoch == epoch {
                return Ok(json_body(doc.body.clone()));
            }
        }
        let body = Bytes::from(serde_json::to_vec(&make().await?.0).map_err(Error::internal)?);
        cache.put(
            &key,
            Arc::new(ListDoc {
                epoch,
                body: body.clone(),
            }),
            LIST_CACHE_TTL,
        );
        Ok(json_body(body))
    }

    /// The catalog's JSON (the `catalog` of token documents), rendered once per catalog.
    async fn catalog_json(&self) -> Result<Bytes, Error> {
        let cat = self.id.catalog().await?;
        if let Some((c, b)) = &*self.catalog_doc.read().expect("catalog doc poisoned") {
            if Arc::ptr_eq(c, &cat) {
                return Ok(b.clone());
            }
        }
        let b =
            Bytes::from(serde_json::to_vec(&auth::catalog_json(&cat)).map_err(Error::internal)?);
        *self.catalog_doc.write().expect("catalog doc poisoned") = Some((cat, b.clone()));
        Ok(b)
    }

    fn link(&self, path: &str) -> String {
        format!("{}/v3/{}", self.base, path)
    }
    /// `{"self": ...}` links of a resource.
    fn links(&self, collection: &str, id: &str) -> Value {
        json!({ "self": self.link(&format!("{collection}/{id}")) })
    }
    /// A collection document cut at the list limit: Keystone adds `"truncated": true`
    /// when the limit cut it.
    fn page(&self, key: &str, path: &str, page: db::Page<Value>) -> Json<Value> {
        let mut doc = self.collection(key, path, page.items);
        if page.truncated {
            doc.0["truncated"] = Value::Bool(true);
        }
        doc
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
        catalog_doc: Default::default(),
        lists: (id.store.db.engine == db::Engine::Sqlite)
            .then(|| Arc::new(TokenCache::new(LIST_CACHE_TTL, LIST_CACHE_BYTES))),
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

//! Version documents, schemas, and `/v2/info/*`.

use api_common::{Ctx, Error};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::ApiState;
use crate::app::data_import_methods;

/// The versions Glance lists with multiple stores enabled and no image cache, in its
/// order.
const VERSIONS: &[(&str, &str)] = &[
    ("2.15", "SUPPORTED"),
    ("2.13", "SUPPORTED"),
    ("2.12", "SUPPORTED"),
    ("2.11", "SUPPORTED"),
    ("2.10", "SUPPORTED"),
    ("2.9", "SUPPORTED"),
    ("2.8", "SUPPORTED"),
    ("2.17", "CURRENT"),
    ("2.7", "SUPPORTED"),
    ("2.6", "SUPPORTED"),
    ("2.5", "SUPPORTED"),
    ("2.4", "SUPPORTED"),
    ("2.3", "SUPPORTED"),
    ("2.2", "SUPPORTED"),
    ("2.1", "SUPPORTED"),
    ("2.0", "SUPPORTED"),
];

fn version_list(st: &ApiState) -> Value {
    let href = format!("{}/v2/", st.base);
    json!({"versions": VERSIONS.iter().map(|(v, s)| json!({
        "id": format!("v{v}"), "status": s, "links": [{"rel": "self", "href": href}],
    })).collect::<Vec<_>>()})
}

/// `GET /` (and `/v2`): the version choices, 300 as Glance answers an unversioned URL.
pub async fn versions(State(st): State<ApiState>) -> Response {
    (StatusCode::MULTIPLE_CHOICES, Json(version_list(&st))).into_response()
}

/// `GET /versions`
pub async fn versions_explicit(State(st): State<ApiState>) -> Json<Value> {
    Json(version_list(&st))
}

pub async fn schema_image(State(st): State<ApiState>) -> Json<Value> {
    Json(st.svc.schema.clone())
}

pub async fn schema_images(State(st): State<ApiState>) -> Json<Value> {
    Json(crate::schemas::images(&st.svc.cfg))
}

pub async fn schema_member() -> Json<Value> {
    Json(crate::schemas::member())
}

pub async fn schema_members() -> Json<Value> {
    Json(crate::schemas::members())
}

pub async fn info_import() -> Json<Value> {
    Json(json!({"import-methods": {
        "description": "Import methods available.", "type": "array", "value": data_import_methods(),
    }}))
}

fn stores(st: &ApiState) -> Vec<Value> {
    vec![
        json!({"id": st.svc.store.id(), "description": "Local filesystem store", "default": "true"}),
    ]
}

pub async fn info_stores(State(st): State<ApiState>) -> Json<Value> {
    Json(json!({"stores": stores(&st)}))
}

pub async fn info_stores_detail(
    State(st): State<ApiState>,
    ctx: Ctx,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    st.svc
        .authorize(&caller, crate::policies::Rule::StoresInfoDetail, json!({}))?;
    let mut s = stores(&st);
    for store in &mut s {
        store["type"] = json!("file");
        store["weight"] = json!(0);
        store["properties"] = st.svc.store.properties();
    }
    Ok(Json(json!({"stores": s})))
}

pub async fn info_usage(State(st): State<ApiState>, ctx: Ctx) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let mut usage = serde_json::Map::new();
    for (name, limit, used) in st.svc.usage(&caller).await? {
        usage.insert(name.into(), json!({"limit": limit, "usage": used}));
    }
    Ok(Json(json!({"usage": usage})))
}

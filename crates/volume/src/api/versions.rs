//! Cinder's version documents at `/` (300, every version) and `/v3/`.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::{json, Value};

use super::{ApiState, VERSIONS};

fn v3(st: &ApiState) -> Value {
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": VERSIONS.max.to_string(),
        "min_version": VERSIONS.min.to_string(),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{}/v3/", st.base)},
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.volume+json;version=3",
        }],
    })
}

/// `GET /`: the versions, as Cinder answers an unversioned URL (300).
pub async fn versions(State(st): State<ApiState>) -> impl IntoResponse {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": [v3(&st)]})),
    )
}

/// `GET /v3/`
pub async fn version_v3(State(st): State<ApiState>) -> Json<Value> {
    Json(json!({"versions": [v3(&st)]}))
}

//! Nova's version documents at `/` and `/v2.1`.

use axum::{extract::State, Json};
use serde_json::{json, Value};

use super::{ApiState, VERSIONS};

fn v21(st: &ApiState) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": VERSIONS.max.to_string(),
        "min_version": VERSIONS.min.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{}/v2.1/", st.base)}],
    })
}

pub async fn versions(State(st): State<ApiState>) -> Json<Value> {
    Json(json!({"versions": [v21(&st)]}))
}

pub async fn version_v21(State(st): State<ApiState>) -> Json<Value> {
    let mut v = v21(&st);
    v["links"] = json!([
        {"rel": "self", "href": format!("{}/v2.1/", st.base)},
        {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
    ]);
    v["media-types"] = json!([{
        "base": "application/json",
        "type": "application/vnd.openstack.compute+json;version=2.1",
    }]);
    Json(json!({"version": v}))
}

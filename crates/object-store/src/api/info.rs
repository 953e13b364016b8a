//! `GET /info`: what this cluster implements and its limits, as Swift's `/info`.

use axum::{extract::State, response::Response};
use serde_json::json;

use super::{ApiState, Reply, TransId};
use crate::model::limits;

pub async fn info(State(st): State<ApiState>, trans: TransId) -> Response {
    let body = json!({
        "swift": {
            "version": env!("CARGO_PKG_VERSION"),
            "max_file_size": st.svc.cfg.max_file_size,
            "max_meta_name_length": limits::MAX_META_NAME_LENGTH,
            "max_meta_value_length": limits::MAX_META_VALUE_LENGTH,
            "max_meta_count": limits::MAX_META_COUNT,
            "max_meta_overall_size": limits::MAX_META_OVERALL_SIZE,
            "max_header_size": limits::MAX_HEADER_SIZE,
            "max_object_name_length": limits::MAX_OBJECT_NAME_LENGTH,
            "container_listing_limit": st.svc.cfg.listing_limit,
            "account_listing_limit": limits::ACCOUNT_LISTING_LIMIT,
            "max_account_name_length": limits::MAX_ACCOUNT_NAME_LENGTH,
            "max_container_name_length": limits::MAX_CONTAINER_NAME_LENGTH,
            "extra_header_count": 0,
            "valid_api_versions": ["v1"],
            "policies": [{"name": "Policy-0", "default": true}],
            "strict_cors_mode": true,
            "allow_account_management": false,
            "account_autocreate": true,
        },
        "keystoneauth": {},
        "tempurl": {
            "methods": ["GET", "HEAD", "PUT", "POST", "DELETE"],
            "allowed_digests": ["sha1", "sha256", "sha512"],
        },
    })
    .to_string();
    let len = body.len() as u64;
    Reply::new(200, &trans).body("application/json; charset=utf-8", body.into(), len)
}

//! The Glance v2 HTTP API: routes and wire types. Handlers parse, authorize, call the
//! app layer and render; JSON lives only here.

mod data;
mod discovery;
mod images;
mod members;

use std::sync::Arc;

use api_common::{
    auth::AuthLayerState,
    routes::{Api, Routes},
    Error, FaultStyle,
};
use axum::{
    http::HeaderMap,
    routing::{get, post, put},
    Router,
};
use serde_json::Value;

use crate::app::Image;

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub svc: Arc<Image>,
    /// The public root URL of this service, e.g. `http://127.0.0.1:9292`.
    pub base: Arc<str>,
}

/// The image router: version documents, and everything else behind token validation.
pub fn router(svc: Arc<Image>, base_url: String, auth: AuthLayerState) -> Router {
    api(svc, base_url, auth).router
}

/// The image API: its router and its route table.
pub fn api(svc: Arc<Image>, base_url: String, auth: AuthLayerState) -> Api {
    let base: Arc<str> = base_url.trim_end_matches('/').into();
    let limit = svc.cfg.max_request_body_size;
    let st = ApiState { svc, base };
    let protected = Routes::new()
        .route(
            "/v2/images",
            get(images::image_list).post(images::image_create),
        )
        .route(
            "/v2/images/{id}",
            get(images::image_show)
                .patch(images::image_update)
                .delete(images::image_delete),
        )
        .route(
            "/v2/images/{id}/file",
            put(data::image_upload).get(data::image_download),
        )
        .route("/v2/images/{id}/stage", put(data::image_stage))
        .route("/v2/images/{id}/import", post(data::image_import))
        .route(
            "/v2/images/{id}/actions/deactivate",
            post(images::image_deactivate),
        )
        .route(
            "/v2/images/{id}/actions/reactivate",
            post(images::image_reactivate),
        )
        .route(
            "/v2/images/{id}/tags/{tag}",
            put(images::tag_add).delete(images::tag_delete),
        )
        .route(
            "/v2/images/{id}/members",
            get(members::member_list).post(members::member_create),
        )
        .route(
            "/v2/images/{id}/members/{member_id}",
            get(members::member_show)
                .put(members::member_update)
                .delete(members::member_delete),
        )
        .route("/v2/schemas/image", get(discovery::schema_image))
        .route("/v2/schemas/images", get(discovery::schema_images))
        .route("/v2/schemas/member", get(discovery::schema_member))
        .route("/v2/schemas/members", get(discovery::schema_members))
        .route("/v2/info/import", get(discovery::info_import))
        .route("/v2/info/stores", get(discovery::info_stores))
        .route("/v2/info/stores/detail", get(discovery::info_stores_detail))
        .route("/v2/info/usage", get(discovery::info_usage))
        .require_token(auth);
    Routes::new()
        .route("/", get(discovery::versions))
        .route("/versions", get(discovery::versions_explicit))
        .route("/v2", get(discovery::versions))
        .route("/v2/", get(discovery::versions))
        .merge(protected)
        .with_state(st)
        .finish(FaultStyle::Glance, limit)
}

/// A JSON request body as Glance reads it: a dict or a list, else 400.
fn json_body(bytes: &[u8]) -> Result<Value, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request("Body expected in request."));
    }
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|_| Error::bad_request("Malformed JSON in request body."))?;
    if !v.is_object() && !v.is_array() {
        return Err(Error::bad_request(
            "Unexpected body type. Expected list/dict.",
        ));
    }
    Ok(v)
}

/// The image id of a route's `{id}`, normalized ([`crate::model::normalize_id`]).
pub struct ImageId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ImageId {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(params) = axum::extract::Path::<
            std::collections::HashMap<String, String>,
        >::from_request_parts(parts, state)
        .await
        .map_err(|e| Error::bad_request(e.body_text()))?;
        let id = params
            .get("id")
            .ok_or_else(|| Error::internal("an image route without {id}"))?;
        Ok(ImageId(crate::model::normalize_id(id)))
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

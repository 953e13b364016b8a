//! Placement's HTTP API: routes, the microversion of every request, request validation
//! as placement's JSON schemas of each version do, and the wire form of each version.
//! Handlers parse, call the app layer (which authorizes) and render; JSON lives here only.

mod allocations;
mod body;
mod candidates;
mod classes;
mod providers;
mod query;

use std::sync::Arc;

use api_common::{
    auth::AuthLayerState,
    microversion::{Dialect, Microversions, Version},
    routes::{Api, Routes},
    Error, FaultStyle,
};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{json, Value};

use crate::app::Placement;

/// Placement's microversions.
pub const VERSIONS: Microversions = Microversions {
    service: "placement",
    min: Version::new(1, 0),
    max: Version::new(1, 39),
    legacy_header: None,
    dialect: Dialect::Placement,
};

/// What every handler gets.
pub type St = Arc<Placement>;

/// The Placement API: its router and its route table.
pub fn api(svc: Arc<Placement>, auth: AuthLayerState) -> Api {
    use allocations as a;
    use classes as c;
    use providers as p;
    let limit = svc.cfg.max_request_body_size;
    let protected = Routes::new()
        .route(
            "/resource_providers",
            get(p::provider_list).post(p::provider_create),
        )
        .route(
            "/resource_providers/{uuid}",
            get(p::provider_show)
                .put(p::provider_update)
                .delete(p::provider_delete),
        )
        .route(
            "/resource_providers/{uuid}/inventories",
            get(p::inventory_list)
                .post(p::inventory_create)
                .put(p::inventory_replace)
                .delete(p::inventory_delete_all),
        )
        .route(
            "/resource_providers/{uuid}/inventories/{resource_class}",
            get(p::inventory_show)
                .put(p::inventory_update)
                .delete(p::inventory_delete),
        )
        .route("/resource_providers/{uuid}/usages", get(p::provider_usages))
        .route(
            "/resource_providers/{uuid}/aggregates",
            get(p::aggregate_list).put(p::aggregate_update),
        )
        .route(
            "/resource_providers/{uuid}/traits",
            get(p::provider_trait_list)
                .put(p::provider_trait_update)
                .delete(p::provider_trait_delete),
        )
        .route(
            "/resource_providers/{uuid}/allocations",
            get(a::provider_allocations),
        )
        .route("/allocations", post(a::allocations_post))
        .route(
            "/allocations/{consumer_uuid}",
            get(a::allocation_show)
                .put(a::allocation_update)
                .delete(a::allocation_delete),
        )
        .route("/allocation_candidates", get(candidates::candidate_list))
        .route("/usages", get(a::total_usages))
        .route("/reshaper", post(a::reshape))
        .route(
            "/resource_classes",
            get(c::class_list).post(c::class_create),
        )
        .route(
            "/resource_classes/{name}",
            get(c::class_show)
                .put(c::class_update)
                .delete(c::class_delete),
        )
        .route("/traits", get(c::trait_list))
        .route(
            "/traits/{name}",
            get(c::trait_show)
                .put(c::trait_update)
                .delete(c::trait_delete),
        )
        .require_token(auth);
    Routes::new()
        .route("/", get(root))
        .merge(protected)
        .microversions(VERSIONS)
        .with_state(svc)
        .finish(FaultStyle::Placement, limit)
}

/// `GET /`: the version document, as placement serves it (a relative self link).
async fn root() -> Response {
    json_ok(json!({"versions": [{
        "id": format!("v{}", VERSIONS.min),
        "max_version": VERSIONS.max.to_string(),
        "min_version": VERSIONS.min.to_string(),
        "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}],
    }]}))
}

fn json_ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// A JSON answer; from 1.15 with `cache-control: no-cache` and `last-modified`.
fn json_at(v: Version, status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    if v.at_least(1, 15) {
        fresh(&mut r);
    }
    r
}

fn fresh(r: &mut Response) {
    let now = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(h) = HeaderValue::from_str(&now) {
        r.headers_mut().insert(header::LAST_MODIFIED, h);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn with_location(mut r: Response, location: &str) -> Response {
    if let Ok(h) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, h);
    }
    r
}

/// A route that exists only from `major.minor` on: placement answers 404 before.
fn since(v: Version, major: u16, minor: u16) -> Result<(), Error> {
    if v.at_least(major, minor) {
        Ok(())
    } else {
        Err(Error::not_found("The resource could not be found."))
    }
}

/// A method that exists only from `major.minor` on: 405 before.
fn method_since(v: Version, major: u16, minor: u16) -> Result<(), Error> {
    if v.at_least(major, minor) {
        Ok(())
    } else {
        Err(Error::new(
            api_common::ErrorKind::MethodNotAllowed,
            "The method specified is not allowed for this resource.",
        ))
    }
}

//! The Cinder v3 HTTP API: routes and wire types. Handlers parse, authorize (through
//! the app layer), call and render; JSON lives only here. Every route under
//! `/v3/{project_id}` negotiates its microversion (`OpenStack-API-Version: volume
//! 3.x`, 3.0 to 3.70). The `{project_id}` of a path is Cinder's URL form; what a
//! caller sees is decided by its token, as Cinder does.

mod metadata;
mod misc;
mod query;
mod render;
mod snapshots;
mod types;
mod versions;
mod volumes;

use std::sync::Arc;

use api_common::{
    auth::AuthLayerState,
    microversion::{Dialect, Microversions, Version},
    routes::{Api, Routes},
    Error, FaultStyle,
};
use axum::routing::{get, post};
use serde::{Deserialize, Deserializer};

use crate::app::Volumes;

/// Cinder's microversion range.
pub const VERSIONS: Microversions = Microversions {
    service: "volume",
    min: Version::new(3, 0),
    max: Version::new(3, 70),
    legacy_header: None,
    dialect: Dialect::Nova,
};

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub svc: Arc<Volumes>,
    /// The public root URL of this service, e.g. `http://127.0.0.1:8776`.
    pub base: Arc<str>,
}

impl ApiState {
    /// A resource's `links` (self under /v3/{project}, bookmark without the version).
    pub fn links(&self, project: &str, collection: &str, id: &str) -> serde_json::Value {
        serde_json::json!([
            {"rel": "self", "href": format!("{}/v3/{project}/{collection}/{id}", self.base)},
            {"rel": "bookmark", "href": format!("{}/{project}/{collection}/{id}", self.base)},
        ])
    }
}

/// The block-storage API: its router and its route table.
pub fn api(svc: Arc<Volumes>, base_url: String, auth: AuthLayerState) -> Api {
    use metadata::{self as md, OfSnapshot, OfVolume};
    use misc as m;
    use snapshots as s;
    use types as t;
    use volumes as v;
    let base: Arc<str> = base_url.trim_end_matches('/').into();
    let limit = svc.cfg.max_request_body_size;
    let st = ApiState { svc, base };
    let p = |rest: &str| format!("/v3/{{project_id}}{rest}");
    let protected = Routes::new()
        .route(&p("/types"), get(t::type_list).post(t::type_create))
        .route(
            &p("/types/{id}"),
            get(t::type_show).put(t::type_update).delete(t::type_delete),
        )
        .route(
            &p("/types/{id}/extra_specs"),
            get(t::specs_list).post(t::specs_set),
        )
        .route(
            &p("/types/{id}/extra_specs/{key}"),
            get(t::spec_show).put(t::spec_put).delete(t::spec_delete),
        )
        .route(&p("/types/{id}/os-volume-type-access"), get(t::access_list))
        .route(&p("/types/{id}/action"), post(t::type_action))
        .route(&p("/volumes"), get(v::volume_list).post(v::volume_create))
        .route(&p("/volumes/detail"), get(v::volume_detail))
        .route(
            &p("/volumes/{id}"),
            get(v::volume_show)
                .put(v::volume_update)
                .delete(v::volume_delete),
        )
        .route(&p("/volumes/{id}/action"), post(v::volume_action))
        .route(
            &p("/volumes/{id}/metadata"),
            get(md::list::<OfVolume>)
                .post(md::create::<OfVolume>)
                .put(md::replace::<OfVolume>),
        )
        .route(
            &p("/volumes/{id}/metadata/{key}"),
            get(md::show::<OfVolume>)
                .put(md::put::<OfVolume>)
                .delete(md::delete::<OfVolume>),
        )
        .route(
            &p("/snapshots"),
            get(s::snapshot_list).post(s::snapshot_create),
        )
        .route(&p("/snapshots/detail"), get(s::snapshot_detail))
        .route(
            &p("/snapshots/{id}"),
            get(s::snapshot_show)
                .put(s::snapshot_update)
                .delete(s::snapshot_delete),
        )
        .route(
            &p("/snapshots/{id}/metadata"),
            get(md::list::<OfSnapshot>)
                .post(md::create::<OfSnapshot>)
                .put(md::replace::<OfSnapshot>),
        )
        .route(
            &p("/snapshots/{id}/metadata/{key}"),
            get(md::show::<OfSnapshot>)
                .put(md::put::<OfSnapshot>)
                .delete(md::delete::<OfSnapshot>),
        )
        .route(
            &p("/os-quota-sets/{project}"),
            get(m::quota_show)
                .put(m::quota_update)
                .delete(m::quota_delete),
        )
        .route(
            &p("/os-quota-sets/{project}/defaults"),
            get(m::quota_defaults),
        )
        .route(&p("/limits"), get(m::limits))
        .route(&p("/os-availability-zone"), get(m::zones))
        .route(&p("/os-services"), get(m::services))
        .require_token(auth);
    Routes::new()
        .route("/", get(versions::versions))
        .route("/v3", get(versions::version_v3))
        .route("/v3/", get(versions::version_v3))
        .merge(protected)
        .microversions(VERSIONS)
        .with_state(st)
        .finish(FaultStyle::Nova, limit)
}

/// For `Option<Option<T>>` fields of an update: absent is `None`, `null` is `Some(None)`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A boolean as Cinder takes one: `true`, `"true"`, `"True"`, `"1"`, `"yes"`...
fn boolish(v: &serde_json::Value, field: &str) -> Result<bool, Error> {
    let bad = || {
        Error::bad_request(format!(
            "Invalid input received: {field} must be a boolean (true or false), not {v}."
        ))
    };
    match v {
        serde_json::Value::Bool(b) => Ok(*b),
        serde_json::Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" | "t" => Ok(true),
            "false" | "0" | "no" | "n" | "off" | "f" => Ok(false),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

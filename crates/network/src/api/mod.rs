//! The Neutron v2.0 HTTP API: routes and wire types. Handlers parse, authorize (through
//! the app layer), call and render; JSON lives only here.

mod crud;
mod l3;
mod misc;
mod qos;
mod query;
mod render;

use std::sync::Arc;

use api_common::{
    auth::AuthLayerState,
    routes::{Api, Routes},
    Error, FaultStyle,
};
use axum::{
    http::{HeaderMap, StatusCode},
    routing::{get, put},
    Json,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use query::ListQuery;
pub use render::hostname;

use crate::{app::Networking, model::*};

type JsonResult = Result<Json<Value>, Error>;
type Created = Result<(StatusCode, Json<Value>), Error>;

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub svc: Arc<Networking>,
    /// The public root URL of this service, e.g. `http://127.0.0.1:9696`.
    pub base: Arc<str>,
}

/// The networking API: its router and its route table.
pub fn api(svc: Arc<Networking>, base_url: String, auth: AuthLayerState) -> Api {
    use crud::{create, delete, list, show, update};
    let base: Arc<str> = base_url.trim_end_matches('/').into();
    let limit = svc.cfg.max_request_body_size;
    let st = ApiState { svc, base };
    let protected = Routes::new()
        .route(
            "/v2.0/networks",
            get(list::<Network>).post(create::<Network>),
        )
        .route(
            "/v2.0/networks/{id}",
            get(show::<Network>)
                .put(update::<Network>)
                .delete(delete::<Network>),
        )
        .route("/v2.0/subnets", get(list::<Subnet>).post(create::<Subnet>))
        .route(
            "/v2.0/subnets/{id}",
            get(show::<Subnet>)
                .put(update::<Subnet>)
                .delete(delete::<Subnet>),
        )
        .route("/v2.0/ports", get(list::<Port>).post(create::<Port>))
        .route(
            "/v2.0/ports/{id}",
            get(show::<Port>).put(update::<Port>).delete(delete::<Port>),
        )
        .route(
            "/v2.0/security-groups",
            get(list::<SecurityGroup>).post(create::<SecurityGroup>),
        )
        .route(
            "/v2.0/security-groups/{id}",
            get(show::<SecurityGroup>)
                .put(update::<SecurityGroup>)
                .delete(delete::<SecurityGroup>),
        )
        .route(
            "/v2.0/security-group-rules",
            get(list::<SecurityGroupRule>).post(create::<SecurityGroupRule>),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(show::<SecurityGroupRule>).delete(delete::<SecurityGroupRule>),
        )
        .route("/v2.0/routers", get(list::<Router>).post(create::<Router>))
        .route(
            "/v2.0/routers/{id}",
            get(show::<Router>)
                .put(update::<Router>)
                .delete(delete::<Router>),
        )
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(l3::interface::<true>),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(l3::interface::<false>),
        )
        .route(
            "/v2.0/floatingips",
            get(list::<FloatingIp>).post(create::<FloatingIp>),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(show::<FloatingIp>)
                .put(update::<FloatingIp>)
                .delete(delete::<FloatingIp>),
        )
        .route(
            "/v2.0/floatingips/{id}/port_forwardings",
            get(l3::pf_list).post(l3::pf_create),
        )
        .route(
            "/v2.0/floatingips/{id}/port_forwardings/{pf}",
            get(l3::pf_show).delete(l3::pf_delete),
        )
        .route(
            "/v2.0/{collection}/{id}/tags",
            get(misc::tags_list)
                .put(misc::tags_replace)
                .delete(misc::tags_clear),
        )
        .route(
            "/v2.0/{collection}/{id}/tags/{tag}",
            get(misc::tag_check)
                .put(misc::tag_add)
                .delete(misc::tag_delete),
        )
        .route(
            "/v2.0/qos/policies",
            get(list::<QosPolicy>).post(create::<QosPolicy>),
        )
        .route(
            "/v2.0/qos/policies/{id}",
            get(show::<QosPolicy>)
                .put(update::<QosPolicy>)
                .delete(delete::<QosPolicy>),
        )
        .route(
            "/v2.0/qos/policies/{id}/bandwidth_limit_rules",
            get(qos::rule_list).post(qos::rule_create),
        )
        .route(
            "/v2.0/qos/policies/{id}/bandwidth_limit_rules/{rule}",
            get(qos::rule_show)
                .put(qos::rule_update)
                .delete(qos::rule_delete),
        )
        .route("/v2.0/qos/rule-types", get(qos::rule_types))
        .route(
            "/v2.0/rbac-policies",
            get(list::<RbacPolicy>).post(create::<RbacPolicy>),
        )
        .route(
            "/v2.0/rbac-policies/{id}",
            get(show::<RbacPolicy>)
                .put(update::<RbacPolicy>)
                .delete(delete::<RbacPolicy>),
        )
        .route(
            "/v2.0/subnetpools",
            get(list::<SubnetPool>).post(create::<SubnetPool>),
        )
        .route(
            "/v2.0/subnetpools/{id}",
            get(show::<SubnetPool>)
                .put(update::<SubnetPool>)
                .delete(delete::<SubnetPool>),
        )
        .route(
            "/v2.0/address-scopes",
            get(list::<AddressScope>).post(create::<AddressScope>),
        )
        .route(
            "/v2.0/address-scopes/{id}",
            get(show::<AddressScope>)
                .put(update::<AddressScope>)
                .delete(delete::<AddressScope>),
        )
        .route("/v2.0/quotas", get(misc::quota_list))
        .route(
            "/v2.0/quotas/{project}",
            get(misc::quota_show)
                .put(misc::quota_update)
                .delete(misc::quota_delete),
        )
        .route("/v2.0/quotas/{project}/default", get(misc::quota_default))
        .route("/v2.0/quotas/{project}/details", get(misc::quota_details))
        .route("/v2.0/agents", get(misc::agent_list))
        .route(
            "/v2.0/agents/{id}",
            get(misc::agent_show)
                .put(misc::agent_update)
                .delete(misc::agent_delete),
        )
        .route("/v2.0/availability_zones", get(misc::availability_zones))
        .route("/v2.0/extensions", get(misc::extensions))
        .route("/v2.0/extensions/{alias}", get(misc::extension_show))
        .require_token(auth);
    Routes::new()
        .route("/", get(misc::versions))
        .route("/v2.0", get(misc::version_resources))
        .route("/v2.0/", get(misc::version_resources))
        .merge(protected)
        .with_state(st)
        .finish(FaultStyle::Neutron, limit)
}

/// The list query of a request (`fields=`, filters, sorting and paging).
fn query(st: &ApiState, q: &Option<String>) -> Result<ListQuery, Error> {
    ListQuery::parse(q.as_deref(), st.svc.cfg.pagination_max_limit)
}

/// The `{key: {...}}` body of a create or update, in the app layer's type.
fn body<T: DeserializeOwned>(bytes: &[u8], key: &str) -> Result<T, Error> {
    let v: Value = api_common::json::parse(bytes)?;
    let Some(inner) = v.as_object().and_then(|m| m.get(key)) else {
        return Err(Error::bad_request(format!(
            "Resource body required: the request must be {{\"{key}\": {{...}}}}"
        ))
        .with_code("HTTPBadRequest"));
    };
    serde_path_to_error::deserialize(inner.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let msg = match inner.strip_prefix("unknown field `") {
            Some(rest) => format!(
                "Unrecognized attribute(s) '{}'",
                rest.split('`').next().unwrap_or(rest)
            ),
            None if path == "." => format!("Invalid input for operation: {inner}."),
            None => format!("Invalid input for {path}. Reason: {inner}."),
        };
        Error::bad_request(msg).with_code("HTTPBadRequest")
    })
}

/// `If-Match: revision_number=N` (Neutron's revision-if-match).
fn if_match(h: &HeaderMap) -> Result<Option<i64>, Error> {
    let Some(v) = h.get(http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("");
    let n = text
        .trim()
        .strip_prefix("revision_number=")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            Error::bad_request(format!(
                "If-Match header without revision_number=<integer>: {text}"
            ))
            .with_code("HTTPBadRequest")
        })?;
    Ok(Some(n))
}

/// A path id of kind `K`, or NotFound in the resource's words (a malformed id names
/// nothing that exists).
fn path_id<K: types::Kind>(
    raw: &str,
    missing: impl FnOnce(&str) -> Error,
) -> Result<types::Id<K>, Error> {
    types::Id::parse(raw).map_err(|_| missing(raw))
}

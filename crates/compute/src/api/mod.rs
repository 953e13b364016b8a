//! The Nova v2.1 HTTP API: routes and wire types. Handlers parse, authorize (through
//! the app layer), call and render; JSON lives only here. Every route under `/v2.1`
//! negotiates its microversion (2.1 to 2.96).

mod actions;
mod events;
mod flavors;
mod keypairs;
mod misc;
mod paging;
mod proxy;
mod render;
mod servers;
pub(crate) mod validate;
mod versions;

use std::sync::Arc;

use api_common::{
    auth::AuthLayerState,
    microversion::{Dialect, Microversions, Version},
    routes::{Api, Routes},
    FaultStyle,
};
use axum::routing::{get, post, put};

use crate::app::Compute;

/// Nova's microversion range.
pub const VERSIONS: Microversions = Microversions {
    service: "compute",
    min: Version::new(2, 1),
    max: Version::new(2, 96),
    legacy_header: Some("x-openstack-nova-api-version"),
    dialect: Dialect::Nova,
};

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub svc: Arc<Compute>,
    /// The public root URL of this service, e.g. `http://127.0.0.1:8774`.
    pub base: Arc<str>,
}

impl ApiState {
    /// A resource's `links` (self under /v2.1, bookmark without a version).
    pub fn links(&self, collection: &str, id: &str) -> serde_json::Value {
        serde_json::json!([
            {"rel": "self", "href": format!("{}/v2.1/{collection}/{id}", self.base)},
            {"rel": "bookmark", "href": format!("{}/{collection}/{id}", self.base)},
        ])
    }
}

/// The compute API: its router and its route table.
pub fn api(svc: Arc<Compute>, base_url: String, auth: AuthLayerState) -> Api {
    use actions as a;
    use flavors as f;
    use keypairs as k;
    use misc as m;
    use proxy as p;
    use servers as s;
    let base: Arc<str> = base_url.trim_end_matches('/').into();
    let limit = svc.cfg.max_request_body_size;
    let st = ApiState { svc, base };
    let protected = Routes::new()
        .route("/v2.1/flavors", get(f::flavor_list).post(f::flavor_create))
        .route("/v2.1/flavors/detail", get(f::flavor_detail))
        .route(
            "/v2.1/flavors/{id}",
            get(f::flavor_show)
                .put(f::flavor_update)
                .delete(f::flavor_delete),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs",
            get(f::specs_list).post(f::specs_create),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            get(f::spec_show).put(f::spec_update).delete(f::spec_delete),
        )
        .route("/v2.1/flavors/{id}/os-flavor-access", get(f::access_list))
        .route("/v2.1/flavors/{id}/action", post(f::flavor_action))
        .route(
            "/v2.1/os-keypairs",
            get(k::keypair_list).post(k::keypair_create),
        )
        .route(
            "/v2.1/os-keypairs/{name}",
            get(k::keypair_show).delete(k::keypair_delete),
        )
        .route("/v2.1/servers", get(s::server_list).post(s::server_create))
        .route("/v2.1/servers/detail", get(s::server_detail))
        .route(
            "/v2.1/servers/{id}",
            get(s::server_show)
                .put(s::server_update)
                .delete(s::server_delete),
        )
        .route("/v2.1/servers/{id}/action", post(a::server_action))
        .route(
            "/v2.1/servers/{id}/remote-consoles",
            post(a::remote_console),
        )
        .route(
            "/v2.1/servers/{id}/metadata",
            get(s::metadata_list)
                .post(s::metadata_create)
                .put(s::metadata_replace),
        )
        .route(
            "/v2.1/servers/{id}/metadata/{key}",
            get(s::metadata_show)
                .put(s::metadata_put)
                .delete(s::metadata_delete),
        )
        .route(
            "/v2.1/servers/{id}/os-server-password",
            get(s::password_show).delete(s::password_clear),
        )
        .route(
            "/v2.1/servers/{id}/tags",
            get(s::tags_list).put(s::tags_replace).delete(s::tags_clear),
        )
        .route(
            "/v2.1/servers/{id}/tags/{tag}",
            get(s::tag_check).put(s::tag_add).delete(s::tag_delete),
        )
        .route(
            "/v2.1/servers/{id}/os-instance-actions",
            get(a::action_list),
        )
        .route(
            "/v2.1/servers/{id}/os-instance-actions/{request}",
            get(a::action_show),
        )
        .route(
            "/v2.1/servers/{id}/os-interface",
            get(a::interface_list).post(a::interface_create),
        )
        .route(
            "/v2.1/servers/{id}/os-interface/{port}",
            get(a::interface_show).delete(a::interface_delete),
        )
        .route(
            "/v2.1/servers/{id}/os-security-groups",
            get(a::server_security_groups),
        )
        .route(
            "/v2.1/os-server-groups",
            get(m::group_list).post(m::group_create),
        )
        .route(
            "/v2.1/os-server-groups/{id}",
            get(m::group_show).delete(m::group_delete),
        )
        .route(
            "/v2.1/os-quota-sets/{project}",
            get(m::quota_show)
                .put(m::quota_update)
                .delete(m::quota_delete),
        )
        .route("/v2.1/os-quota-sets/{project}/detail", get(m::quota_detail))
        .route(
            "/v2.1/os-quota-sets/{project}/defaults",
            get(m::quota_defaults),
        )
        .route("/v2.1/limits", get(m::limits))
        .route("/v2.1/os-availability-zone", get(m::zones))
        .route("/v2.1/os-availability-zone/detail", get(m::zones_detail))
        .route("/v2.1/os-services", get(m::service_list))
        .route(
            "/v2.1/os-services/{id}",
            put(m::service_update).delete(m::service_delete),
        )
        .route("/v2.1/os-hypervisors", get(m::hypervisor_list))
        .route("/v2.1/os-hypervisors/detail", get(m::hypervisor_detail))
        .route(
            "/v2.1/os-hypervisors/statistics",
            get(m::hypervisor_statistics),
        )
        .route("/v2.1/os-hypervisors/{id}", get(m::hypervisor_show))
        .route("/v2.1/os-simple-tenant-usage", get(m::usage_list))
        .route("/v2.1/os-simple-tenant-usage/{project}", get(m::usage_show))
        .route(
            "/v2.1/os-aggregates",
            get(m::aggregate_list).post(m::aggregate_create),
        )
        .route(
            "/v2.1/os-aggregates/{id}",
            get(m::aggregate_show)
                .put(m::aggregate_update)
                .delete(m::aggregate_delete),
        )
        .route("/v2.1/os-aggregates/{id}/action", post(m::aggregate_action))
        .route("/v2.1/os-server-external-events", post(events::create))
        .route("/v2.1/extensions", get(m::extensions))
        .route("/v2.1/extensions/{alias}", get(m::extension_show))
        .route(
            "/v2.1/os-security-groups",
            get(p::group_list).post(p::group_create),
        )
        .route(
            "/v2.1/os-security-groups/{id}",
            get(p::group_show)
                .put(p::group_update)
                .delete(p::group_delete),
        )
        .route("/v2.1/os-security-group-rules", post(p::rule_create))
        .route(
            "/v2.1/os-security-group-rules/{id}",
            axum::routing::delete(p::rule_delete),
        )
        .route(
            "/v2.1/os-floating-ips",
            get(p::fip_list).post(p::fip_create),
        )
        .route(
            "/v2.1/os-floating-ips/{id}",
            get(p::fip_show).delete(p::fip_delete),
        )
        .route("/v2.1/os-tenant-networks", get(p::network_list))
        .route("/v2.1/os-tenant-networks/{id}", get(p::network_show))
        .require_token(auth);
    Routes::new()
        .route("/", get(versions::versions))
        .route("/v2.1", get(versions::version_v21))
        .route("/v2.1/", get(versions::version_v21))
        .merge(protected)
        .microversions(VERSIONS)
        .with_state(st)
        .finish(FaultStyle::Nova, limit)
}

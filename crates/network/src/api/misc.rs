//! Version documents, extensions, tags, quotas, agents and availability zones.

use std::collections::BTreeMap;

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{body, render, ApiState, ListQuery};
use crate::app::Tagged;

type JsonResult = Result<Json<Value>, Error>;

pub async fn versions(State(st): State<ApiState>) -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{}/v2.0/", st.base)}],
    }]}))
}

pub async fn version_resources(State(st): State<ApiState>) -> Json<Value> {
    let res: Vec<Value> = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
        ("security_group", "security-groups"),
        ("security_group_rule", "security-group-rules"),
        ("router", "routers"),
        ("floatingip", "floatingips"),
        ("subnetpool", "subnetpools"),
    ]
    .iter()
    .map(|(name, coll)| json!({"name": name, "collection": coll, "links": [{"rel": "self", "href": format!("{}/v2.0/{coll}", st.base)}]}))
    .collect();
    Json(json!({"resources": res}))
}

/// The extensions implemented, exactly: (alias, name, description).
const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("address-scope", "Address scope", "Address scopes extension."),
    ("agent", "agent", "The agent management extension."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone support for network."),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP."),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("floating-ip-port-forwarding", "Floating IP Port Forwarding", "Provide a way to configure port forwarding rules for floating IPs"),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."),
    ("filter-validation", "Filter parameters validation", "Provides validation on filter parameters."),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("port-security", "Port Security", "Provides port security"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("qos", "Quality of Service", "The Quality of Service extension."),
    ("qos-bw-limit-direction", "Direction for QoS bandwidth limit rule", "Allow to configure QoS bandwidth limit rule with specific direction: ingress or egress"),
    ("rbac-policies", "RBAC Policies", "Allows creation and modification of policies that control tenant access to resources."),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    ("quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project"),
    ("revision-if-match", "If-Match constraints based on revision_number", "Extension indicating that If-Match based on revision_number is supported."),
    ("security-group", "security-group", "The security groups extension."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a subnet pool"),
    ("default-subnetpools", "Default Subnetpools", "Provides ability to mark and use a subnetpool as the default."),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, port, network, security_group", "Enables to set tag on resources with standard attribute."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."),
    ("stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not"),
];

fn extension(e: &(&str, &str, &str)) -> Value {
    json!({"alias": e.0, "name": e.1, "description": e.2, "updated": "2026-12-01T00:00:00-00:00", "links": []})
}

pub async fn extensions() -> Json<Value> {
    Json(json!({"extensions": EXTENSIONS.iter().map(extension).collect::<Vec<_>>()}))
}

pub async fn extension_show(Path(alias): Path<String>) -> JsonResult {
    EXTENSIONS
        .iter()
        .find(|e| e.0 == alias)
        .map(|e| Json(json!({"extension": extension(e)})))
        .ok_or_else(|| {
            Error::not_found(format!("Extension with alias {alias} does not exist"))
                .with_code("ExtensionNotFound")
        })
}

// ------------------------------------------------------------------ tags

fn tagged(collection: &str) -> Result<Tagged, Error> {
    Tagged::from_collection(collection).ok_or_else(|| {
        Error::not_found("The resource could not be found.").with_code("HTTPNotFound")
    })
}

pub async fn tags_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((c, id)): Path<(String, String)>,
) -> JsonResult {
    let tags = st
        .svc
        .tags_list(&st.svc.caller(&ctx.0), tagged(&c)?, &id)
        .await?;
    Ok(Json(json!({"tags": tags})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagsBody {
    tags: Vec<String>,
}

pub async fn tags_replace(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((c, id)): Path<(String, String)>,
    b: Bytes,
) -> JsonResult {
    let req: TagsBody = api_common::json::parse(&b)?;
    let tags = st
        .svc
        .tags_replace(&st.svc.caller(&ctx.0), tagged(&c)?, &id, req.tags)
        .await?;
    Ok(Json(json!({"tags": tags})))
}

pub async fn tags_clear(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((c, id)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    st.svc
        .tag_delete(&st.svc.caller(&ctx.0), tagged(&c)?, &id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tag_check(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((c, id, tag)): Path<(String, String, String)>,
) -> Result<StatusCode, Error> {
    st.svc
        .tag_check(&st.svc.caller(&ctx.0), tagged(&c)?, &id, &tag)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tag_add(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((c, id, tag)): Path<(String, String, String)>,
) -> Result<StatusCode, Error> {
    st.svc
        .tag_add(&st.svc.caller(&ctx.0), tagged(&c)?, &id, &tag)
        .await?;
    Ok(StatusCode::CREATED)
}

pub async fn tag_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((c, id, tag)): Path<(String, String, String)>,
) -> Result<StatusCode, Error> {
    st.svc
        .tag_delete(&st.svc.caller(&ctx.0), tagged(&c)?, &id, Some(&tag))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ quotas

fn quota_json(project: &str, limits: &BTreeMap<&'static str, i64>) -> Value {
    let mut v = json!(limits);
    v["project_id"] = json!(project);
    v["tenant_id"] = json!(project);
    v
}

pub async fn quota_list(State(st): State<ApiState>, ctx: Ctx) -> JsonResult {
    let list = st.svc.quota_list(&st.svc.caller(&ctx.0)).await?;
    Ok(Json(
        json!({"quotas": list.iter().map(|(p, l)| quota_json(p, l)).collect::<Vec<_>>()}),
    ))
}

pub async fn quota_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> JsonResult {
    let limits = st.svc.quota_show(&st.svc.caller(&ctx.0), &project).await?;
    Ok(Json(json!({"quota": limits})))
}

pub async fn quota_default(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> JsonResult {
    // Anyone who may read the project's quota may read the defaults.
    st.svc.quota_show(&st.svc.caller(&ctx.0), &project).await?;
    Ok(Json(json!({"quota": st.svc.quota_defaults()})))
}

pub async fn quota_details(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> JsonResult {
    let d = st
        .svc
        .quota_details(&st.svc.caller(&ctx.0), &project)
        .await?;
    let m: serde_json::Map<String, Value> = d
        .iter()
        .map(|(r, u)| {
            (
                (*r).to_owned(),
                json!({"limit": u.limit, "used": u.used, "reserved": u.reserved}),
            )
        })
        .collect();
    Ok(Json(json!({"quota": m})))
}

pub async fn quota_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(project): Path<String>,
    b: Bytes,
) -> JsonResult {
    let req: BTreeMap<String, i64> = body(&b, "quota")?;
    let limits = st
        .svc
        .quota_update(&st.svc.caller(&ctx.0), &project, req)
        .await?;
    Ok(Json(json!({"quota": limits})))
}

pub async fn quota_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> Result<StatusCode, Error> {
    st.svc
        .quota_delete(&st.svc.caller(&ctx.0), &project)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ agents, zones

pub async fn agent_list(State(st): State<ApiState>, ctx: Ctx, RawQuery(q): RawQuery) -> JsonResult {
    let q = ListQuery::parse(q.as_deref(), st.svc.cfg.pagination_max_limit)?;
    let agents = st.svc.agent_list(&st.svc.caller(&ctx.0)).await?;
    let items = agents.iter().map(render::agent).collect();
    Ok(Json(q.apply(
        "agents",
        &st.base,
        render::AGENT_ATTRS,
        items,
    )?))
}

pub async fn agent_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> JsonResult {
    let a = st.svc.agent_show(&st.svc.caller(&ctx.0), &id).await?;
    Ok(Json(json!({"agent": render::agent(&a)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentUpdate {
    admin_state_up: Option<bool>,
    description: Option<String>,
}

pub async fn agent_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    b: Bytes,
) -> JsonResult {
    let req: AgentUpdate = body(&b, "agent")?;
    let a = st
        .svc
        .agent_update(
            &st.svc.caller(&ctx.0),
            &id,
            req.admin_state_up,
            req.description,
        )
        .await?;
    Ok(Json(json!({"agent": render::agent(&a)})))
}

pub async fn agent_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    st.svc.agent_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn availability_zones(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = ListQuery::parse(q.as_deref(), st.svc.cfg.pagination_max_limit)?;
    let caller = st.svc.caller(&ctx.0);
    if !st.svc.availability_zones_allowed(&caller) {
        return Err(
            Error::forbidden("(rule:get_availability_zone) is disallowed by policy")
                .with_code("PolicyNotAuthorized"),
        );
    }
    let items = vec![
        json!({"name": "nova", "resource": "network", "state": "available", "id": "nova-network"}),
        json!({"name": "nova", "resource": "router", "state": "available", "id": "nova-router"}),
    ];
    let mut body = q.apply(
        "availability_zones",
        &st.base,
        &["id", "name", "resource", "state"],
        items,
    )?;
    if let Some(list) = body["availability_zones"].as_array_mut() {
        for z in list {
            if let Some(m) = z.as_object_mut() {
                m.remove("id");
            }
        }
    }
    Ok(Json(body))
}

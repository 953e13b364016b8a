//! The network proxy APIs below 2.36 (os-security-groups, os-security-group-rules,
//! os-floating-ips, os-tenant-networks): Nova's forms of what the Network API holds,
//! passed through with the caller's token. From 2.36 they are not found, as in Nova.

use api_common::{microversion::Version, Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde_json::{json, Value};

use super::{validate, ApiState};
use crate::{clients::As, policies::Rule};

type JsonResult = Result<Json<Value>, Error>;

fn gone(mv: Version) -> Result<(), Error> {
    if mv.at_least(2, 36) {
        Err(Error::not_found("The resource could not be found."))
    } else {
        Ok(())
    }
}

fn nova_rule(r: &Value, groups: &[Value]) -> Value {
    let remote = r["remote_group_id"].as_str();
    let group = match remote {
        Some(g) => {
            let name = groups
                .iter()
                .find(|x| x["id"].as_str() == Some(g))
                .and_then(|x| x["name"].as_str());
            json!({"name": name, "tenant_id": r["project_id"]})
        }
        None => json!({}),
    };
    let ip_range = match r["remote_ip_prefix"].as_str() {
        Some(c) => json!({"cidr": c}),
        None if remote.is_none() => {
            json!({"cidr": if r["ethertype"] == "IPv6" { "::/0" } else { "0.0.0.0/0" }})
        }
        None => json!({}),
    };
    json!({
        "id": r["id"],
        "parent_group_id": r["security_group_id"],
        "ip_protocol": r["protocol"],
        "from_port": r["port_range_min"],
        "to_port": r["port_range_max"],
        "group": group,
        "ip_range": ip_range,
    })
}

/// A Neutron security group in Nova's form (ingress rules only, as Nova shows them).
pub fn nova_group(g: &Value) -> Value {
    let rules: Vec<Value> = g["security_group_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["direction"] == "ingress")
        .map(|r| nova_rule(r, std::slice::from_ref(g)))
        .collect();
    json!({
        "id": g["id"],
        "name": g["name"],
        "description": g["description"],
        "tenant_id": g["project_id"],
        "rules": rules,
    })
}

/// Found below 2.36 only, and allowed by `rule` for the caller's own project.
fn admit(st: &ApiState, ctx: &Ctx, mv: Version, rule: Rule) -> Result<(), Error> {
    gone(mv)?;
    let caller = st.svc.caller(&ctx.0);
    st.svc.authorize_own(&caller, rule)
}

/// The Network API.
fn net(st: &ApiState) -> &crate::clients::NetworkClient {
    &st.svc.clients.network
}

/// The Network API's "not found", in Nova's words.
fn not_found_as(message: String) -> impl FnOnce(Error) -> Error {
    move |e| match e.kind {
        api_common::ErrorKind::NotFound => Error::not_found(message),
        _ => e,
    }
}

pub async fn group_list(State(st): State<ApiState>, ctx: Ctx, mv: Version) -> JsonResult {
    admit(&st, &ctx, mv, Rule::NetworkSecurityGroups)?;
    let project = ctx.project_id.clone().unwrap_or_default();
    let groups = net(&st)
        .security_groups(As::User(&ctx.token), &[("project_id", &project)])
        .await?;
    Ok(Json(
        json!({"security_groups": groups.iter().map(nova_group).collect::<Vec<_>>()}),
    ))
}

pub async fn group_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    admit(&st, &ctx, mv, Rule::NetworkSecurityGroups)?;
    let g = net(&st)
        .security_group(As::User(&ctx.token), &id)
        .await
        .map_err(not_found_group(&id))?;
    Ok(Json(json!({"security_group": nova_group(&g)})))
}

fn not_found_group(id: &str) -> impl FnOnce(Error) -> Error {
    not_found_as(format!("Security group {id} not found."))
}

fn group_body(body: &[u8]) -> Result<(String, String), Error> {
    let v = validate::parse(body)?;
    let o = validate::root(&v, "security_group")?;
    o.only(&["name", "description"])?;
    let name = o
        .string("name", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'name' is a required property"))?;
    let description = o.string("description", 0, 255, false)?.unwrap_or_default();
    Ok((name, description))
}

pub async fn group_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    body: Bytes,
) -> JsonResult {
    admit(&st, &ctx, mv, Rule::NetworkSecurityGroupsWrite)?;
    let (name, description) = group_body(&body)?;
    let g = net(&st)
        .create_security_group(
            As::User(&ctx.token),
            json!({"name": name, "description": description}),
        )
        .await?;
    Ok(Json(json!({"security_group": nova_group(&g)})))
}

pub async fn group_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    admit(&st, &ctx, mv, Rule::NetworkSecurityGroupsWrite)?;
    let (name, description) = group_body(&body)?;
    let g = net(&st)
        .update_security_group(
            As::User(&ctx.token),
            &id,
            json!({"name": name, "description": description}),
        )
        .await
        .map_err(not_found_group(&id))?;
    Ok(Json(json!({"security_group": nova_group(&g)})))
}

pub async fn group_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    admit(&st, &ctx, mv, Rule::NetworkSecurityGroupsWrite)?;
    net(&st)
        .delete_security_group(As::User(&ctx.token), &id)
        .await
        .map_err(not_found_group(&id))?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn rule_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    body: Bytes,
) -> JsonResult {
    admit(&st, &ctx, mv, Rule::NetworkSecurityGroupsWrite)?;
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "security_group_rule")?;
    o.only(&[
        "parent_group_id",
        "ip_protocol",
        "from_port",
        "to_port",
        "cidr",
        "group_id",
    ])?;
    let parent = o
        .string("parent_group_id", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'parent_group_id' is a required property"))?;
    let protocol = o
        .string("ip_protocol", 0, 255, true)?
        .map(|p| p.to_ascii_lowercase());
    let from = o.int("from_port", -1, 65535)?;
    let to = o.int("to_port", -1, 65535)?;
    let mut body =
        json!({"security_group_id": parent, "direction": "ingress", "ethertype": "IPv4"});
    if let Some(p) = &protocol {
        body["protocol"] = json!(p);
        if p != "icmp" || from != Some(-1) {
            body["port_range_min"] = json!(from);
            body["port_range_max"] = json!(to);
        }
    }
    if let Some(c) = o.string("cidr", 1, 255, false)? {
        if c.contains(':') {
            body["ethertype"] = json!("IPv6");
        }
        body["remote_ip_prefix"] = json!(c);
    }
    if let Some(g) = o.string("group_id", 1, 255, false)? {
        body["remote_group_id"] = json!(g);
    }
    let r = net(&st)
        .create_security_group_rule(As::User(&ctx.token), body)
        .await?;
    Ok(Json(json!({"security_group_rule": nova_rule(&r, &[])})))
}

pub async fn rule_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    admit(&st, &ctx, mv, Rule::NetworkSecurityGroupsWrite)?;
    net(&st)
        .delete_security_group_rule(As::User(&ctx.token), &id)
        .await
        .map_err(not_found_as(format!(
            "Security group rule {id} could not be found."
        )))?;
    Ok(StatusCode::ACCEPTED)
}

async fn nova_fip(st: &ApiState, token: &str, f: &Value) -> Value {
    let pool = match f["floating_network_id"]
        .as_str()
        .and_then(|n| types::NetworkId::parse(n).ok())
    {
        Some(n) => net(st)
            .network(As::User(token), &n)
            .await
            .ok()
            .and_then(|n| n["name"].as_str().map(str::to_owned)),
        None => None,
    };
    let instance = match f["port_id"]
        .as_str()
        .and_then(|p| types::PortId::parse(p).ok())
    {
        Some(p) => net(st)
            .port(As::User(token), &p)
            .await
            .ok()
            .and_then(|p| p["device_id"].as_str().map(str::to_owned)),
        None => None,
    };
    json!({
        "id": f["id"],
        "ip": f["floating_ip_address"],
        "pool": pool,
        "fixed_ip": f["fixed_ip_address"],
        "instance_id": instance,
    })
}

pub async fn fip_list(State(st): State<ApiState>, ctx: Ctx, mv: Version) -> JsonResult {
    admit(&st, &ctx, mv, Rule::FloatingIps)?;
    let project = ctx.project_id.clone().unwrap_or_default();
    let fips = net(&st)
        .floating_ips(As::User(&ctx.token), &[("project_id", &project)])
        .await?;
    let mut out = Vec::new();
    for f in &fips {
        out.push(nova_fip(&st, &ctx.token, f).await);
    }
    Ok(Json(json!({"floating_ips": out})))
}

pub async fn fip_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    admit(&st, &ctx, mv, Rule::FloatingIps)?;
    let f = net(&st)
        .floating_ip(As::User(&ctx.token), &id)
        .await
        .map_err(not_found_as(format!("Floating IP not found for ID {id}")))?;
    Ok(Json(
        json!({"floating_ip": nova_fip(&st, &ctx.token, &f).await}),
    ))
}

pub async fn fip_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    body: Bytes,
) -> JsonResult {
    admit(&st, &ctx, mv, Rule::FloatingIpsWrite)?;
    let pool = if body.is_empty() {
        None
    } else {
        let v = validate::parse(&body)?;
        v.get("pool").and_then(|p| p.as_str()).map(str::to_owned)
    };
    let nets = net(&st)
        .networks(As::User(&ctx.token), &[("router:external", "True")])
        .await?;
    let pool_net = nets
        .iter()
        .find(|n| {
            pool.as_deref()
                .is_none_or(|p| n["name"].as_str() == Some(p) || n["id"].as_str() == Some(p))
        })
        .ok_or_else(|| Error::not_found("Floating IP pool not found."))?;
    let f = net(&st)
        .create_floating_ip(
            As::User(&ctx.token),
            json!({"floating_network_id": pool_net["id"]}),
        )
        .await?;
    Ok(Json(
        json!({"floating_ip": nova_fip(&st, &ctx.token, &f).await}),
    ))
}

pub async fn fip_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    admit(&st, &ctx, mv, Rule::FloatingIpsWrite)?;
    net(&st)
        .delete_floating_ip(As::User(&ctx.token), &id)
        .await
        .map_err(not_found_as(format!("Floating IP not found for ID {id}")))?;
    Ok(StatusCode::ACCEPTED)
}

async fn nova_network(st: &ApiState, token: &str, n: &Value) -> Value {
    let cidr = match n["subnets"]
        .as_array()
        .and_then(|s| s.first())
        .and_then(|s| s.as_str())
    {
        Some(sub) => net(st)
            .http_get(As::User(token), &format!("/v2.0/subnets/{sub}"))
            .await
            .ok()
            .and_then(|v| v["subnet"]["cidr"].as_str().map(str::to_owned)),
        None => None,
    };
    json!({"id": n["id"], "label": n["name"], "cidr": cidr})
}

pub async fn network_list(State(st): State<ApiState>, ctx: Ctx, mv: Version) -> JsonResult {
    admit(&st, &ctx, mv, Rule::TenantNetworks)?;
    let nets = net(&st).networks(As::User(&ctx.token), &[]).await?;
    let mut out = Vec::new();
    for n in nets.iter().filter(|n| n["router:external"] != json!(true)) {
        out.push(nova_network(&st, &ctx.token, n).await);
    }
    Ok(Json(json!({"networks": out})))
}

pub async fn network_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    admit(&st, &ctx, mv, Rule::TenantNetworks)?;
    let not_found = || Error::not_found(format!("Network {id} could not be found."));
    let nid = types::NetworkId::parse(&id).map_err(|_| not_found())?;
    let n = net(&st)
        .network(As::User(&ctx.token), &nid)
        .await
        .map_err(|e| match e.kind {
            api_common::ErrorKind::NotFound => not_found(),
            _ => e,
        })?;
    Ok(Json(
        json!({"network": nova_network(&st, &ctx.token, &n).await}),
    ))
}

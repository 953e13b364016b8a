//! Networks, subnets, ports, security groups and rules.

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde_json::{json, Value};

use super::{body, if_match, path_id, render, ApiState, ListQuery};
use crate::app::{
    GroupCreate, GroupUpdate, NetworkCreate, NetworkUpdate, PortCreate, PortUpdate, RuleCreate,
    SubnetCreate, SubnetUpdate,
};

type JsonResult = Result<Json<Value>, Error>;
type Created = Result<(StatusCode, Json<Value>), Error>;

fn not_found(kind: &'static str) -> impl FnOnce(&str) -> Error {
    move |id| {
        let (msg, code) = match kind {
            "network" => (
                format!("Network {id} could not be found."),
                "NetworkNotFound",
            ),
            "subnet" => (format!("Subnet {id} could not be found."), "SubnetNotFound"),
            "port" => (format!("Port {id} could not be found."), "PortNotFound"),
            "security_group" => (
                format!("Security group {id} does not exist"),
                "SecurityGroupNotFound",
            ),
            _ => (
                format!("Security group rule {id} does not exist"),
                "SecurityGroupRuleNotFound",
            ),
        };
        Error::not_found(msg).with_code(code)
    }
}

fn query(st: &ApiState, q: &Option<String>) -> Result<ListQuery, Error> {
    ListQuery::parse(q.as_deref(), st.svc.cfg.pagination_max_limit)
}

// ------------------------------------------------------------------ networks

pub async fn network_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let caller = st.svc.caller(&ctx.0);
    let nets = st.svc.network_list(&caller).await?;
    let items = nets
        .iter()
        .map(|n| render::network(n, st.svc.sees_provider(&caller, n)))
        .collect();
    Ok(Json(q.apply(
        "networks",
        &st.base,
        render::NETWORK_ATTRS,
        items,
    )?))
}

pub async fn network_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let id = path_id(&id, not_found("network"))?;
    let caller = st.svc.caller(&ctx.0);
    let n = st.svc.network_show(&caller, &id).await?;
    let v = render::network(&n, st.svc.sees_provider(&caller, &n));
    Ok(Json(json!({"network": q.cut(v)})))
}

pub async fn network_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: NetworkCreate = body(&b, "network")?;
    let caller = st.svc.caller(&ctx.0);
    let n = st.svc.network_create(&caller, req).await?;
    let v = render::network(&n, st.svc.sees_provider(&caller, &n));
    Ok((StatusCode::CREATED, Json(json!({"network": v}))))
}

pub async fn network_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, not_found("network"))?;
    let req: NetworkUpdate = body(&b, "network")?;
    let caller = st.svc.caller(&ctx.0);
    let n = st
        .svc
        .network_update(&caller, &id, req, if_match(&h)?)
        .await?;
    let v = render::network(&n, st.svc.sees_provider(&caller, &n));
    Ok(Json(json!({"network": v})))
}

pub async fn network_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, not_found("network"))?;
    st.svc.network_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ subnets

pub async fn subnet_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let subnets = st.svc.subnet_list(&st.svc.caller(&ctx.0)).await?;
    let items = subnets.iter().map(render::subnet).collect();
    Ok(Json(q.apply(
        "subnets",
        &st.base,
        render::SUBNET_ATTRS,
        items,
    )?))
}

pub async fn subnet_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let id = path_id(&id, not_found("subnet"))?;
    let s = st.svc.subnet_show(&st.svc.caller(&ctx.0), &id).await?;
    Ok(Json(json!({"subnet": q.cut(render::subnet(&s))})))
}

pub async fn subnet_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: SubnetCreate = body(&b, "subnet")?;
    let s = st.svc.subnet_create(&st.svc.caller(&ctx.0), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"subnet": render::subnet(&s)})),
    ))
}

pub async fn subnet_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, not_found("subnet"))?;
    let req: SubnetUpdate = body(&b, "subnet")?;
    let s = st
        .svc
        .subnet_update(&st.svc.caller(&ctx.0), &id, req, if_match(&h)?)
        .await?;
    Ok(Json(json!({"subnet": render::subnet(&s)})))
}

pub async fn subnet_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, not_found("subnet"))?;
    st.svc.subnet_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ ports

async fn port_json(
    st: &ApiState,
    caller: &crate::app::Caller<'_>,
    p: &crate::model::Port,
) -> Result<Value, Error> {
    let qos = st.svc.network_qos_policies().await?;
    Ok(render::port(
        p,
        st.svc.sees_binding(caller),
        &st.svc.cfg.dns_domain,
        qos.get(p.network_id.as_str()).and_then(Option::as_ref),
    ))
}

pub async fn port_list(State(st): State<ApiState>, ctx: Ctx, RawQuery(q): RawQuery) -> JsonResult {
    let q = query(&st, &q)?;
    let caller = st.svc.caller(&ctx.0);
    let network = match q.filter("network_id") {
        Some(n) => match types::NetworkId::parse(n) {
            Ok(id) => Some(id),
            Err(_) => return Ok(Json(json!({"ports": []}))),
        },
        None => None,
    };
    let ports = st
        .svc
        .port_list(&caller, network.as_ref(), q.filter("device_id"))
        .await?;
    let binding = st.svc.sees_binding(&caller);
    let qos = st.svc.network_qos_policies().await?;
    let items = ports
        .iter()
        .map(|p| {
            let net_qos = qos.get(p.network_id.as_str()).and_then(Option::as_ref);
            render::port(p, binding, &st.svc.cfg.dns_domain, net_qos)
        })
        .collect();
    Ok(Json(q.apply(
        "ports",
        &st.base,
        render::PORT_ATTRS,
        items,
    )?))
}

pub async fn port_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let id = path_id(&id, not_found("port"))?;
    let caller = st.svc.caller(&ctx.0);
    let p = st.svc.port_show(&caller, &id).await?;
    Ok(Json(
        json!({"port": q.cut(port_json(&st, &caller, &p).await?)}),
    ))
}

pub async fn port_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: PortCreate = body(&b, "port")?;
    let caller = st.svc.caller(&ctx.0);
    let p = st.svc.port_create(&caller, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"port": port_json(&st, &caller, &p).await?})),
    ))
}

pub async fn port_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, not_found("port"))?;
    let req: PortUpdate = body(&b, "port")?;
    let caller = st.svc.caller(&ctx.0);
    let p = st.svc.port_update(&caller, &id, req, if_match(&h)?).await?;
    Ok(Json(json!({"port": port_json(&st, &caller, &p).await?})))
}

pub async fn port_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, not_found("port"))?;
    st.svc.port_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ security groups

pub async fn group_list(State(st): State<ApiState>, ctx: Ctx, RawQuery(q): RawQuery) -> JsonResult {
    let q = query(&st, &q)?;
    let groups = st.svc.group_list(&st.svc.caller(&ctx.0)).await?;
    let items = groups.iter().map(render::group).collect();
    Ok(Json(q.apply(
        "security_groups",
        &st.base,
        render::GROUP_ATTRS,
        items,
    )?))
}

pub async fn group_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let id = path_id(&id, not_found("security_group"))?;
    let g = st.svc.group_show(&st.svc.caller(&ctx.0), &id).await?;
    Ok(Json(json!({"security_group": q.cut(render::group(&g))})))
}

pub async fn group_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: GroupCreate = body(&b, "security_group")?;
    let g = st.svc.group_create(&st.svc.caller(&ctx.0), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"security_group": render::group(&g)})),
    ))
}

pub async fn group_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, not_found("security_group"))?;
    let req: GroupUpdate = body(&b, "security_group")?;
    let g = st
        .svc
        .group_update(&st.svc.caller(&ctx.0), &id, req, if_match(&h)?)
        .await?;
    Ok(Json(json!({"security_group": render::group(&g)})))
}

pub async fn group_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, not_found("security_group"))?;
    st.svc.group_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rule_list(State(st): State<ApiState>, ctx: Ctx, RawQuery(q): RawQuery) -> JsonResult {
    let q = query(&st, &q)?;
    let rules = st.svc.rule_list(&st.svc.caller(&ctx.0)).await?;
    let items = rules.iter().map(|r| render::rule(r, false)).collect();
    Ok(Json(q.apply(
        "security_group_rules",
        &st.base,
        render::RULE_ATTRS,
        items,
    )?))
}

pub async fn rule_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let id = path_id(&id, not_found("rule"))?;
    let r = st.svc.rule_show(&st.svc.caller(&ctx.0), &id).await?;
    Ok(Json(
        json!({"security_group_rule": q.cut(render::rule(&r, false))}),
    ))
}

pub async fn rule_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: RuleCreate = body(&b, "security_group_rule")?;
    let r = st.svc.rule_create(&st.svc.caller(&ctx.0), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"security_group_rule": render::rule(&r, false)})),
    ))
}

pub async fn rule_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, not_found("rule"))?;
    st.svc.rule_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! QoS policies and their bandwidth-limit rules, and RBAC policies.

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde_json::{json, Value};

use super::{body, if_match, path_id, render, ApiState, ListQuery};
use crate::app::{BandwidthRuleRequest, QosCreate, QosUpdate, RbacCreate, RbacUpdate};

type JsonResult = Result<Json<Value>, Error>;
type Created = Result<(StatusCode, Json<Value>), Error>;

fn qos_missing(id: &str) -> Error {
    Error::not_found(format!("QoS policy {id} could not be found.")).with_code("QosPolicyNotFound")
}

fn rbac_missing(id: &str) -> Error {
    Error::not_found(format!("RBAC policy with id {id} could not be found."))
        .with_code("RbacPolicyNotFound")
}

fn query(st: &ApiState, q: &Option<String>) -> Result<ListQuery, Error> {
    ListQuery::parse(q.as_deref(), st.svc.cfg.pagination_max_limit)
}

pub async fn policy_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let policies = st.svc.qos_list(&st.svc.caller(&ctx.0)).await?;
    let items = policies.iter().map(render::qos_policy).collect();
    Ok(Json(q.apply(
        "policies",
        &format!("{}/v2.0/qos", st.base),
        render::QOS_ATTRS,
        items,
    )?))
}

pub async fn policy_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> JsonResult {
    let id = path_id(&id, qos_missing)?;
    let p = st.svc.qos_show(&st.svc.caller(&ctx.0), &id).await?;
    Ok(Json(json!({"policy": render::qos_policy(&p)})))
}

pub async fn policy_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: QosCreate = body(&b, "policy")?;
    let p = st.svc.qos_create(&st.svc.caller(&ctx.0), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"policy": render::qos_policy(&p)})),
    ))
}

pub async fn policy_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, qos_missing)?;
    let req: QosUpdate = body(&b, "policy")?;
    let p = st
        .svc
        .qos_update(&st.svc.caller(&ctx.0), &id, req, if_match(&h)?)
        .await?;
    Ok(Json(json!({"policy": render::qos_policy(&p)})))
}

pub async fn policy_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, qos_missing)?;
    st.svc.qos_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rule_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let id = path_id(&id, qos_missing)?;
    let p = st.svc.qos_show(&st.svc.caller(&ctx.0), &id).await?;
    let items = p.rules.iter().map(render::bandwidth_rule).collect();
    let base = format!("{}/v2.0/qos/policies/{id}", st.base);
    let attrs = &[
        "id",
        "qos_policy_id",
        "max_kbps",
        "max_burst_kbps",
        "direction",
        "type",
    ];
    Ok(Json(q.apply(
        "bandwidth_limit_rules",
        &base,
        attrs,
        items,
    )?))
}

pub async fn rule_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, rule)): Path<(String, String)>,
) -> JsonResult {
    let id = path_id(&id, qos_missing)?;
    let r = st
        .svc
        .qos_rule_show(&st.svc.caller(&ctx.0), &id, &rule)
        .await?;
    Ok(Json(
        json!({"bandwidth_limit_rule": render::bandwidth_rule(&r)}),
    ))
}

pub async fn rule_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    b: Bytes,
) -> Created {
    let id = path_id(&id, qos_missing)?;
    let req: BandwidthRuleRequest = body(&b, "bandwidth_limit_rule")?;
    let r = st
        .svc
        .qos_rule_create(&st.svc.caller(&ctx.0), &id, req)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"bandwidth_limit_rule": render::bandwidth_rule(&r)})),
    ))
}

pub async fn rule_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, rule)): Path<(String, String)>,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, qos_missing)?;
    let req: BandwidthRuleRequest = body(&b, "bandwidth_limit_rule")?;
    let r = st
        .svc
        .qos_rule_update(&st.svc.caller(&ctx.0), &id, &rule, req)
        .await?;
    Ok(Json(
        json!({"bandwidth_limit_rule": render::bandwidth_rule(&r)}),
    ))
}

pub async fn rule_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, rule)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, qos_missing)?;
    st.svc
        .qos_rule_delete(&st.svc.caller(&ctx.0), &id, &rule)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rule_types() -> Json<Value> {
    Json(json!({"rule_types": [{"type": "bandwidth_limit"}]}))
}

pub async fn rbac_list(State(st): State<ApiState>, ctx: Ctx, RawQuery(q): RawQuery) -> JsonResult {
    let q = query(&st, &q)?;
    let list = st.svc.rbac_list(&st.svc.caller(&ctx.0)).await?;
    let items = list.iter().map(render::rbac).collect();
    Ok(Json(q.apply(
        "rbac_policies",
        &st.base,
        render::RBAC_ATTRS,
        items,
    )?))
}

pub async fn rbac_show(State(st): State<ApiState>, ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    let id = path_id(&id, rbac_missing)?;
    let p = st.svc.rbac_show(&st.svc.caller(&ctx.0), &id).await?;
    Ok(Json(json!({"rbac_policy": render::rbac(&p)})))
}

pub async fn rbac_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: RbacCreate = body(&b, "rbac_policy")?;
    let p = st.svc.rbac_create(&st.svc.caller(&ctx.0), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"rbac_policy": render::rbac(&p)})),
    ))
}

pub async fn rbac_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, rbac_missing)?;
    let req: RbacUpdate = body(&b, "rbac_policy")?;
    let p = st.svc.rbac_update(&st.svc.caller(&ctx.0), &id, req).await?;
    Ok(Json(json!({"rbac_policy": render::rbac(&p)})))
}

pub async fn rbac_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, rbac_missing)?;
    st.svc.rbac_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The bandwidth-limit rules of QoS policies (policies themselves, and RBAC policies,
//! are served by [`super::crud`]).

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    Json,
};
use serde_json::{json, Value};

use super::{body, path_id, query, render, ApiState, Created, JsonResult};
use crate::{
    app::{resource::Resource, BandwidthRuleRequest},
    model::QosPolicy,
};

pub async fn rule_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let id = path_id(&id, QosPolicy::not_found)?;
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
    let id = path_id(&id, QosPolicy::not_found)?;
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
    let id = path_id(&id, QosPolicy::not_found)?;
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
    let id = path_id(&id, QosPolicy::not_found)?;
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
    let id = path_id(&id, QosPolicy::not_found)?;
    st.svc
        .qos_rule_delete(&st.svc.caller(&ctx.0), &id, &rule)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rule_types() -> Json<Value> {
    Json(json!({"rule_types": [{"type": "bandwidth_limit"}]}))
}

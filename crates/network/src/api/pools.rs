//! Subnet pools and address scopes.

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde_json::{json, Value};

use super::{body, if_match, path_id, render, ApiState, ListQuery};
use crate::app::{PoolCreate, PoolUpdate, ScopeCreate, ScopeUpdate};

type JsonResult = Result<Json<Value>, Error>;
type Created = Result<(StatusCode, Json<Value>), Error>;

fn pool_missing(id: &str) -> Error {
    Error::not_found(format!("Subnet pool {id} could not be found."))
        .with_code("SubnetPoolNotFound")
}

fn scope_missing(id: &str) -> Error {
    Error::not_found(format!("Address scope {id} could not be found."))
        .with_code("AddressScopeNotFound")
}

fn query(st: &ApiState, q: &Option<String>) -> Result<ListQuery, Error> {
    ListQuery::parse(q.as_deref(), st.svc.cfg.pagination_max_limit)
}

pub async fn pool_list(State(st): State<ApiState>, ctx: Ctx, RawQuery(q): RawQuery) -> JsonResult {
    let q = query(&st, &q)?;
    let pools = st.svc.pool_list(&st.svc.caller(&ctx.0)).await?;
    let items = pools.iter().map(render::subnet_pool).collect();
    Ok(Json(q.apply(
        "subnetpools",
        &st.base,
        render::POOL_ATTRS,
        items,
    )?))
}

pub async fn pool_show(State(st): State<ApiState>, ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    let id = path_id(&id, pool_missing)?;
    let p = st.svc.pool_show(&st.svc.caller(&ctx.0), &id).await?;
    Ok(Json(json!({"subnetpool": render::subnet_pool(&p)})))
}

pub async fn pool_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: PoolCreate = body(&b, "subnetpool")?;
    let p = st.svc.pool_create(&st.svc.caller(&ctx.0), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"subnetpool": render::subnet_pool(&p)})),
    ))
}

pub async fn pool_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, pool_missing)?;
    let req: PoolUpdate = body(&b, "subnetpool")?;
    let p = st
        .svc
        .pool_update(&st.svc.caller(&ctx.0), &id, req, if_match(&h)?)
        .await?;
    Ok(Json(json!({"subnetpool": render::subnet_pool(&p)})))
}

pub async fn pool_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, pool_missing)?;
    st.svc.pool_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn scope_list(State(st): State<ApiState>, ctx: Ctx, RawQuery(q): RawQuery) -> JsonResult {
    let q = query(&st, &q)?;
    let scopes = st.svc.scope_list(&st.svc.caller(&ctx.0)).await?;
    let items = scopes.iter().map(render::address_scope).collect();
    Ok(Json(q.apply(
        "address_scopes",
        &st.base,
        render::SCOPE_ATTRS,
        items,
    )?))
}

pub async fn scope_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> JsonResult {
    let id = path_id(&id, scope_missing)?;
    let s = st.svc.scope_show(&st.svc.caller(&ctx.0), &id).await?;
    Ok(Json(json!({"address_scope": render::address_scope(&s)})))
}

pub async fn scope_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: ScopeCreate = body(&b, "address_scope")?;
    let s = st.svc.scope_create(&st.svc.caller(&ctx.0), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"address_scope": render::address_scope(&s)})),
    ))
}

pub async fn scope_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, scope_missing)?;
    let req: ScopeUpdate = body(&b, "address_scope")?;
    let s = st
        .svc
        .scope_update(&st.svc.caller(&ctx.0), &id, req)
        .await?;
    Ok(Json(json!({"address_scope": render::address_scope(&s)})))
}

pub async fn scope_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, scope_missing)?;
    st.svc.scope_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

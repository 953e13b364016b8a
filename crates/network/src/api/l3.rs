//! Routers, floating IPs and port forwardings.

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde_json::{json, Value};

use super::{body, if_match, path_id, render, ApiState, ListQuery};
use crate::app::{FipCreate, FipUpdate, InterfaceRequest, PfCreate, RouterCreate, RouterUpdate};

type JsonResult = Result<Json<Value>, Error>;
type Created = Result<(StatusCode, Json<Value>), Error>;

fn router_missing(id: &str) -> Error {
    Error::not_found(format!("Router {id} could not be found")).with_code("RouterNotFound")
}

fn fip_missing(id: &str) -> Error {
    Error::not_found(format!("Floating IP {id} could not be found")).with_code("FloatingIPNotFound")
}

fn query(st: &ApiState, q: &Option<String>) -> Result<ListQuery, Error> {
    ListQuery::parse(q.as_deref(), st.svc.cfg.pagination_max_limit)
}

pub async fn router_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let routers = st.svc.router_list(&st.svc.caller(&ctx.0)).await?;
    let items = routers.iter().map(render::router).collect();
    Ok(Json(q.apply(
        "routers",
        &st.base,
        render::ROUTER_ATTRS,
        items,
    )?))
}

pub async fn router_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let id = path_id(&id, router_missing)?;
    let r = st.svc.router_show(&st.svc.caller(&ctx.0), &id).await?;
    Ok(Json(json!({"router": q.cut(render::router(&r))})))
}

pub async fn router_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: RouterCreate = body(&b, "router")?;
    let r = st.svc.router_create(&st.svc.caller(&ctx.0), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"router": render::router(&r)})),
    ))
}

pub async fn router_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, router_missing)?;
    let req: RouterUpdate = body(&b, "router")?;
    let r = st
        .svc
        .router_update(&st.svc.caller(&ctx.0), &id, req, if_match(&h)?)
        .await?;
    Ok(Json(json!({"router": render::router(&r)})))
}

pub async fn router_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, router_missing)?;
    st.svc.router_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_interface(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, router_missing)?;
    let req: InterfaceRequest = api_common::json::parse(&b)?;
    let i = st
        .svc
        .router_add_interface(&st.svc.caller(&ctx.0), &id, req)
        .await?;
    Ok(Json(render::interface(&i)))
}

pub async fn remove_interface(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, router_missing)?;
    let req: InterfaceRequest = api_common::json::parse(&b)?;
    let i = st
        .svc
        .router_remove_interface(&st.svc.caller(&ctx.0), &id, req)
        .await?;
    Ok(Json(render::interface(&i)))
}

async fn fip_json(
    st: &ApiState,
    caller: &crate::app::Caller<'_>,
    f: &crate::model::FloatingIp,
) -> Result<Value, Error> {
    let pfs = st.svc.pf_list(caller, &f.id).await?;
    Ok(render::floating_ip(f, &pfs))
}

pub async fn fip_list(State(st): State<ApiState>, ctx: Ctx, RawQuery(q): RawQuery) -> JsonResult {
    let q = query(&st, &q)?;
    let caller = st.svc.caller(&ctx.0);
    let fips = st.svc.fip_list(&caller).await?;
    let mut items = Vec::with_capacity(fips.len());
    for f in &fips {
        items.push(fip_json(&st, &caller, f).await?);
    }
    Ok(Json(q.apply(
        "floatingips",
        &st.base,
        render::FIP_ATTRS,
        items,
    )?))
}

pub async fn fip_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let id = path_id(&id, fip_missing)?;
    let caller = st.svc.caller(&ctx.0);
    let f = st.svc.fip_show(&caller, &id).await?;
    Ok(Json(
        json!({"floatingip": q.cut(fip_json(&st, &caller, &f).await?)}),
    ))
}

pub async fn fip_create(State(st): State<ApiState>, ctx: Ctx, b: Bytes) -> Created {
    let req: FipCreate = body(&b, "floatingip")?;
    let caller = st.svc.caller(&ctx.0);
    let f = st.svc.fip_create(&caller, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"floatingip": fip_json(&st, &caller, &f).await?})),
    ))
}

pub async fn fip_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    h: HeaderMap,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, fip_missing)?;
    let req: FipUpdate = body(&b, "floatingip")?;
    let caller = st.svc.caller(&ctx.0);
    let f = st.svc.fip_update(&caller, &id, req, if_match(&h)?).await?;
    Ok(Json(
        json!({"floatingip": fip_json(&st, &caller, &f).await?}),
    ))
}

pub async fn fip_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let id = path_id(&id, fip_missing)?;
    st.svc.fip_delete(&st.svc.caller(&ctx.0), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pf_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(fip): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let fip = path_id(&fip, fip_missing)?;
    let pfs = st.svc.pf_list(&st.svc.caller(&ctx.0), &fip).await?;
    let items = pfs.iter().map(render::port_forwarding).collect();
    let base = format!("{}/v2.0/floatingips/{fip}", st.base);
    Ok(Json(q.apply(
        "port_forwardings",
        &base,
        render::PF_ATTRS,
        items,
    )?))
}

pub async fn pf_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((fip, id)): Path<(String, String)>,
) -> JsonResult {
    let fip = path_id(&fip, fip_missing)?;
    let p = st.svc.pf_show(&st.svc.caller(&ctx.0), &fip, &id).await?;
    Ok(Json(
        json!({"port_forwarding": render::port_forwarding(&p)}),
    ))
}

pub async fn pf_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(fip): Path<String>,
    b: Bytes,
) -> Created {
    let fip = path_id(&fip, fip_missing)?;
    let req: PfCreate = body(&b, "port_forwarding")?;
    let p = st.svc.pf_create(&st.svc.caller(&ctx.0), &fip, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"port_forwarding": render::port_forwarding(&p)})),
    ))
}

pub async fn pf_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((fip, id)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let fip = path_id(&fip, fip_missing)?;
    st.svc.pf_delete(&st.svc.caller(&ctx.0), &fip, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

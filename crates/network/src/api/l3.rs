//! Router interfaces and port forwardings (routers and floating IPs themselves are
//! served by [`super::crud`]).

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    Json,
};
use serde_json::json;

use super::{body, path_id, query, render, ApiState, Created, JsonResult};
use crate::{
    app::{resource::Resource, InterfaceRequest, PfCreate},
    model::{FloatingIp, Router},
};

/// `PUT .../add_router_interface` (`ADD`) and `PUT .../remove_router_interface`.
pub async fn interface<const ADD: bool>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    b: Bytes,
) -> JsonResult {
    let id = path_id(&id, Router::not_found)?;
    let req: InterfaceRequest = api_common::json::parse(&b)?;
    let caller = st.svc.caller(&ctx.0);
    let i = if ADD {
        st.svc.router_add_interface(&caller, &id, req).await?
    } else {
        st.svc.router_remove_interface(&caller, &id, req).await?
    };
    Ok(Json(render::interface(&i)))
}

pub async fn pf_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(fip): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = query(&st, &q)?;
    let fip = path_id(&fip, FloatingIp::not_found)?;
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
    let fip = path_id(&fip, FloatingIp::not_found)?;
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
    let fip = path_id(&fip, FloatingIp::not_found)?;
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
    let fip = path_id(&fip, FloatingIp::not_found)?;
    st.svc.pf_delete(&st.svc.caller(&ctx.0), &fip, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/snapshots`.

use api_common::{microversion::Version, ApiJson, Ctx, Error};
use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{boolish, nullable, query, render, ApiState};
use crate::{
    app::{SnapshotCreate, SnapshotUpdate},
    model::Metadata,
};

#[derive(Deserialize)]
pub struct CreateSnapshotBody {
    volume_id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    display_description: Option<String>,
    #[serde(default)]
    force: Option<Value>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
pub struct CreateBody {
    snapshot: CreateSnapshotBody,
}

pub async fn snapshot_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ver: Version,
    ApiJson(b): ApiJson<CreateBody>,
) -> Result<Response, Error> {
    let caller = st.svc.caller(&ctx);
    let b = b.snapshot;
    let force = b
        .force
        .filter(|v| !v.is_null())
        .map(|v| boolish(&v, "force"))
        .transpose()?
        .unwrap_or(false);
    let s = st
        .svc
        .snapshot_create(
            &caller,
            SnapshotCreate {
                volume_id: b.volume_id,
                name: b.name.or(b.display_name),
                description: b.description.or(b.display_description),
                force,
                metadata: b.metadata.unwrap_or_default(),
            },
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"snapshot": render::snapshot(ver, &s)})),
    )
        .into_response())
}

async fn list(
    st: &ApiState,
    ctx: &Ctx,
    ver: Version,
    raw: Option<&str>,
    detail: bool,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(ctx);
    let q = query::list_query(&st.svc, &caller, raw)?;
    let snaps = st.svc.snapshot_list(&caller, &q).await?;
    Ok(Json(json!({"snapshots": snaps
        .iter()
        .map(|s| {
            let mut o = render::snapshot(ver, s);
            if !detail {
                if let Some(m) = o.as_object_mut() {
                    m.remove("os-extended-snapshot-attributes:project_id");
                    m.remove("os-extended-snapshot-attributes:progress");
                }
            }
            o
        })
        .collect::<Vec<_>>()})))
}

pub async fn snapshot_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    ver: Version,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Error> {
    list(&st, &ctx, ver, raw.as_deref(), false).await
}

pub async fn snapshot_detail(
    State(st): State<ApiState>,
    ctx: Ctx,
    ver: Version,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Error> {
    list(&st, &ctx, ver, raw.as_deref(), true).await
}

pub async fn snapshot_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    ver: Version,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let s = st.svc.snapshot_show(&caller, &id).await?;
    Ok(Json(json!({"snapshot": render::snapshot(ver, &s)})))
}

#[derive(Deserialize)]
pub struct UpdateSnapshotBody {
    #[serde(default, deserialize_with = "nullable")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    display_description: Option<Option<String>>,
}

#[derive(Deserialize)]
pub struct UpdateBody {
    snapshot: UpdateSnapshotBody,
}

pub async fn snapshot_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    ver: Version,
    Path((_, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let b = b.snapshot;
    let req = SnapshotUpdate {
        name: b.name.or(b.display_name),
        description: b.description.or(b.display_description),
    };
    if req.name.is_none() && req.description.is_none() {
        return Err(Error::bad_request(
            "Invalid input received: give name or description to update.",
        ));
    }
    let s = st.svc.snapshot_update(&caller, &id, req).await?;
    Ok(Json(json!({"snapshot": render::snapshot(ver, &s)})))
}

pub async fn snapshot_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx);
    st.svc.snapshot_delete(&caller, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

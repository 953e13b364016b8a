//! `/volumes`: volumes, their actions and their metadata.

use api_common::{microversion::Version, ApiJson, Ctx, Error};
use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{boolish, nullable, query, render, ApiState};
use crate::{
    app::{VolumeCreate, VolumeUpdate},
    model::Metadata,
};

#[derive(Deserialize)]
pub struct CreateVolumeBody {
    #[serde(default)]
    size: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    display_description: Option<String>,
    #[serde(default)]
    volume_type: Option<String>,
    #[serde(default)]
    availability_zone: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    snapshot_id: Option<String>,
    #[serde(default)]
    source_volid: Option<String>,
    #[serde(default, rename = "imageRef")]
    image_ref: Option<String>,
    #[serde(default)]
    image_id: Option<String>,
    #[serde(default)]
    backup_id: Option<String>,
    #[serde(default)]
    multiattach: Option<Value>,
}

#[derive(Deserialize)]
pub struct CreateBody {
    volume: CreateVolumeBody,
}

/// A size as Cinder reads one: an integer, or a string of digits.
fn size(v: &Value) -> Result<i64, Error> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    n.ok_or_else(|| {
        Error::bad_request(format!(
            "Invalid input received: Volume size '{}' must be an integer and greater than 0.",
            v.as_str().map_or_else(|| v.to_string(), str::to_owned)
        ))
    })
}

pub async fn volume_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ver: Version,
    ApiJson(b): ApiJson<CreateBody>,
) -> Result<Response, Error> {
    let caller = st.svc.caller(&ctx);
    let b = b.volume;
    if b.backup_id.is_some() {
        return Err(Error::bad_request(
            "Invalid input received: Volume backups are not supported yet.",
        ));
    }
    let req = VolumeCreate {
        size: b
            .size
            .as_ref()
            .filter(|v| !v.is_null())
            .map(size)
            .transpose()?,
        name: b.name.or(b.display_name),
        description: b.description.or(b.display_description),
        volume_type: b.volume_type,
        availability_zone: b.availability_zone,
        metadata: b.metadata.unwrap_or_default(),
        snapshot_id: b.snapshot_id,
        source_volid: b.source_volid,
        image_ref: b.image_ref.or(b.image_id),
        multiattach: b
            .multiattach
            .filter(|v| !v.is_null())
            .map(|v| boolish(&v, "multiattach"))
            .transpose()?
            .unwrap_or(false),
    };
    let v = st.svc.volume_create(&caller, req).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"volume": render::volume(&st, &caller, ver, &v)})),
    )
        .into_response())
}

pub async fn volume_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let q = query::list_query(&st.svc, &caller, raw.as_deref())?;
    let vols = st.svc.volume_list(&caller, &q).await?;
    Ok(Json(json!({"volumes": vols
        .iter()
        .map(|v| render::volume_summary(&st, v))
        .collect::<Vec<_>>()})))
}

pub async fn volume_detail(
    State(st): State<ApiState>,
    ctx: Ctx,
    ver: Version,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let q = query::list_query(&st.svc, &caller, raw.as_deref())?;
    let vols = st.svc.volume_list(&caller, &q).await?;
    Ok(Json(json!({"volumes": vols
        .iter()
        .map(|v| render::volume(&st, &caller, ver, v))
        .collect::<Vec<_>>()})))
}

pub async fn volume_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    ver: Version,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let v = st.svc.volume_show(&caller, &id).await?;
    Ok(Json(
        json!({"volume": render::volume(&st, &caller, ver, &v)}),
    ))
}

#[derive(Deserialize)]
pub struct UpdateVolumeBody {
    #[serde(default, deserialize_with = "nullable")]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    display_description: Option<Option<String>>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
pub struct UpdateBody {
    volume: UpdateVolumeBody,
}

pub async fn volume_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    ver: Version,
    Path((_, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let b = b.volume;
    let req = VolumeUpdate {
        name: b.name.or(b.display_name),
        description: b.description.or(b.display_description),
        metadata: b.metadata,
    };
    if req.name.is_none() && req.description.is_none() && req.metadata.is_none() {
        return Err(Error::bad_request(
            "Invalid input received: give name, description or metadata to update.",
        ));
    }
    let v = st.svc.volume_update(&caller, &id, req).await?;
    Ok(Json(
        json!({"volume": render::volume(&st, &caller, ver, &v)}),
    ))
}

pub async fn volume_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx);
    let p = query::pairs(raw.as_deref());
    let cascade = query::flag(&p, "cascade")?;
    st.svc.volume_delete(&caller, &id, cascade).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /volumes/{id}/action`: one action, named by the body's only key.
pub async fn volume_action(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<Map<String, Value>>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx);
    let Some((action, arg)) = b.iter().next().filter(|_| b.len() == 1) else {
        return Err(Error::bad_request(
            "Malformed request body: an action body holds exactly one action.",
        ));
    };
    let field = |name: &str| {
        arg.get(name).ok_or_else(|| {
            Error::bad_request(format!("Invalid input received: {action} needs '{name}'."))
        })
    };
    match action.as_str() {
        "os-extend" => {
            let new_size = size(field("new_size")?)?;
            st.svc.volume_extend(&caller, &id, new_size).await?;
        }
        "os-set_bootable" => {
            let b = boolish(field("bootable")?, "bootable")?;
            st.svc.volume_set_bootable(&caller, &id, b).await?;
            return Ok(StatusCode::OK);
        }
        "os-update_readonly_flag" => {
            let r = boolish(field("readonly")?, "readonly")?;
            st.svc.volume_set_readonly(&caller, &id, r).await?;
        }
        "os-reset_status" => {
            let status = field("status")?.as_str().ok_or_else(|| {
                Error::bad_request("Invalid input received: status must be a string.")
            })?;
            st.svc.volume_reset_status(&caller, &id, status).await?;
        }
        other => {
            return Err(Error::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    }
    Ok(StatusCode::ACCEPTED)
}

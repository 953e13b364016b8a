//! `/v2/images/{id}/members`

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde_json::{json, Value};

use super::{json_body, ApiState, ImageId};
use crate::model::{isotime, Member};

fn member_json(m: &Member) -> Value {
    json!({
        "member_id": m.member_id,
        "image_id": m.image_id,
        "status": m.status.as_str(),
        "created_at": isotime(&m.created_at),
        "updated_at": isotime(&m.updated_at),
        "schema": "/v2/schemas/member",
    })
}

pub async fn member_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
) -> Result<Json<Value>, Error> {
    let members = st.svc.list_members(&st.svc.caller(&ctx), &id).await?;
    Ok(Json(
        json!({"members": members.iter().map(member_json).collect::<Vec<_>>(), "schema": "/v2/schemas/members"}),
    ))
}

pub async fn member_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let doc = json_body(&body)?;
    let Value::Object(doc) = doc else {
        return Err(Error::bad_request(
            "Expected a member in the form: {\"member\": \"image_id\"}",
        ));
    };
    let member = match doc.get("member") {
        None => return Err(Error::bad_request("Member to be added not specified")),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | Some(Value::Null) => {
            return Err(Error::bad_request("Member can't be empty"))
        }
        Some(other) => other.to_string(),
    };
    let m = st
        .svc
        .add_member(&st.svc.caller(&ctx), &id, &member)
        .await?;
    Ok(Json(member_json(&m)))
}

pub async fn member_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    Path((_, member)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let m = st
        .svc
        .show_member(&st.svc.caller(&ctx), &id, &member)
        .await?;
    Ok(Json(member_json(&m)))
}

pub async fn member_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    Path((_, member)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let doc = json_body(&body)?;
    let Value::Object(doc) = doc else {
        return Err(Error::bad_request(
            "Expected a status in the form: {\"status\": \"status\"}",
        ));
    };
    let status = match doc.get("status") {
        None => return Err(Error::bad_request("Status not specified")),
        Some(s) => s.as_str().unwrap_or_default().to_owned(),
    };
    let m = st
        .svc
        .update_member(&st.svc.caller(&ctx), &id, &member, &status)
        .await?;
    Ok(Json(member_json(&m)))
}

pub async fn member_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    Path((_, member)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    st.svc
        .remove_member(&st.svc.caller(&ctx), &id, &member)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

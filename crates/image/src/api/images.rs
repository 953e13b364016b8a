//! `/v2/images`: create, list, show, update, delete, tags, deactivate/reactivate.

use api_common::{Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Map, Value};

use super::{json_body, ApiState, ImageId};
use crate::{app::NewImage, model::*, patch, query};

/// Custom properties Glance never shows.
const HIDDEN: &[&str] = &["os_glance_stage_host", "os_glance_hash_op_host"];

/// An image as Glance renders it.
pub fn image_json(st: &ApiState, img: &ImageRecord) -> Value {
    let mut m = Map::new();
    for (k, v) in &img.properties {
        if !HIDDEN.contains(&k.as_str()) {
            m.insert(
                k.clone(),
                v.clone().map(Value::String).unwrap_or(Value::Null),
            );
        }
    }
    let s = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
    let attrs = [
        ("name", s(&img.name)),
        ("disk_format", s(&img.disk_format)),
        ("container_format", s(&img.container_format)),
        ("visibility", json!(img.visibility.as_str())),
        ("size", json!(img.size)),
        ("virtual_size", json!(img.virtual_size)),
        ("status", json!(img.status.as_str())),
        ("checksum", s(&img.checksum)),
        ("protected", json!(img.protected)),
        ("min_ram", json!(img.min_ram)),
        ("min_disk", json!(img.min_disk)),
        ("owner", s(&img.owner)),
        ("os_hidden", json!(img.os_hidden)),
        ("os_hash_algo", s(&img.os_hash_algo)),
        ("os_hash_value", s(&img.os_hash_value)),
        ("id", json!(img.id)),
        ("created_at", json!(isotime(&img.created_at))),
        ("updated_at", json!(isotime(&img.updated_at))),
        ("tags", json!(img.tags)),
        ("self", json!(format!("/v2/images/{}", img.id))),
        ("file", json!(format!("/v2/images/{}/file", img.id))),
        ("schema", json!("/v2/schemas/image")),
    ];
    for (k, v) in attrs {
        m.insert(k.into(), v);
    }
    if img.location.is_some() {
        m.insert("stores".into(), json!(st.svc.store.id()));
    }
    Value::Object(m)
}

fn params(q: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn encode(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub async fn image_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, Error> {
    let params = params(&q);
    let lq = query::parse(&params)?;
    let caller = st.svc.caller(&ctx);
    let (images, full) = st.svc.list_images(&caller, &lq).await?;
    let mut keep: Vec<(String, String)> =
        params.into_iter().filter(|(k, _)| k != "marker").collect();
    let mut body = json!({
        "images": images.iter().map(|i| image_json(&st, i)).collect::<Vec<_>>(),
        "first": if keep.is_empty() { "/v2/images".to_owned() } else { format!("/v2/images?{}", encode(&keep)) },
        "schema": "/v2/schemas/images",
    });
    if let (true, Some(last)) = (full, images.last()) {
        keep.push(("marker".into(), last.id.clone()));
        body["next"] = json!(format!("/v2/images?{}", encode(&keep)));
    }
    Ok(Json(body))
}

pub async fn image_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response, Error> {
    let Value::Object(doc) = json_body(&body)? else {
        return Err(Error::bad_request(
            "Provided object does not match schema 'image': the body is not an object",
        ));
    };
    let new = NewImage::from_body(doc, &st.svc.schema)?;
    let caller = st.svc.caller(&ctx);
    let img = st.svc.create_image(&caller, new).await?;
    let mut resp = (StatusCode::CREATED, Json(image_json(&st, &img))).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/v2/images/{}", st.base, img.id)) {
        h.insert(header::LOCATION, v);
    }
    h.insert(
        "openstack-image-import-methods",
        HeaderValue::from_static("glance-direct,web-download"),
    );
    if let Ok(v) = HeaderValue::from_str(st.svc.store.id()) {
        h.insert("openstack-image-store-ids", v);
    }
    Ok(resp)
}

pub async fn image_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
) -> Result<Json<Value>, Error> {
    let img = st.svc.show_image(&st.svc.caller(&ctx), &id).await?;
    Ok(Json(image_json(&st, &img)))
}

pub async fn image_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let changes = match patch::parse(
        super::header(&headers, "content-type"),
        &body,
        &st.svc.schema,
    ) {
        Ok(c) => c,
        // Glance names the media types it accepts.
        Err(e) if e.kind == api_common::ErrorKind::UnsupportedMediaType => {
            let mut resp = e.into_response();
            resp.headers_mut().insert(
                "accept-patch",
                HeaderValue::from_static(
                    "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch",
                ),
            );
            return Ok(resp);
        }
        Err(e) => return Err(e),
    };
    let img = st
        .svc
        .update_image(&st.svc.caller(&ctx), &id, &changes)
        .await?;
    Ok(Json(image_json(&st, &img)).into_response())
}

pub async fn image_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
) -> Result<StatusCode, Error> {
    st.svc.delete_image(&st.svc.caller(&ctx), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn image_deactivate(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
) -> Result<StatusCode, Error> {
    st.svc.deactivate(&st.svc.caller(&ctx), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn image_reactivate(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
) -> Result<StatusCode, Error> {
    st.svc.reactivate(&st.svc.caller(&ctx), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tag_add(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    Path((_, tag)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    st.svc.add_tag(&st.svc.caller(&ctx), &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tag_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    Path((_, tag)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    st.svc.delete_tag(&st.svc.caller(&ctx), &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

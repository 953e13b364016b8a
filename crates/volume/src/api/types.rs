//! `/types`: volume types, their extra specs and project access.

use api_common::{ApiJson, Ctx, Error};
use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{nullable, query, render, ApiState};
use crate::{
    app::{TypeCreate, TypeUpdate},
    model::Metadata,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "os-volume-type-access:is_public")]
    access_is_public: Option<Value>,
    #[serde(default)]
    is_public: Option<Value>,
    #[serde(default)]
    extra_specs: Metadata,
}

#[derive(Deserialize)]
pub struct CreateBody {
    volume_type: TypeBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeUpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    #[serde(default)]
    is_public: Option<Value>,
}

#[derive(Deserialize)]
pub struct UpdateBody {
    volume_type: TypeUpdateBody,
}

pub async fn type_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<CreateBody>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let b = b.volume_type;
    let is_public = match b.access_is_public.or(b.is_public) {
        Some(v) => super::boolish(&v, "is_public")?,
        None => true,
    };
    let t = st
        .svc
        .type_create(
            &caller,
            TypeCreate {
                name: b.name,
                description: b.description,
                is_public,
                extra_specs: b.extra_specs,
            },
        )
        .await?;
    Ok(Json(
        json!({"volume_type": render::volume_type(&st, &caller, &t)}),
    ))
}

pub async fn type_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let p = query::pairs(raw.as_deref());
    let is_public = match query::param(&p, "is_public") {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("none") => None,
        Some(v) => Some(super::boolish(&Value::String(v.into()), "is_public")?),
    };
    let types = st.svc.type_list(&caller, is_public).await?;
    Ok(Json(json!({"volume_types": types
        .iter()
        .map(|t| render::volume_type(&st, &caller, t))
        .collect::<Vec<_>>()})))
}

pub async fn type_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let t = st.svc.type_show(&caller, &id).await?;
    Ok(Json(
        json!({"volume_type": render::volume_type(&st, &caller, &t)}),
    ))
}

pub async fn type_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let b = b.volume_type;
    if b.name.is_none() && b.description.is_none() && b.is_public.is_none() {
        return Err(Error::bad_request(
            "Invalid input received: Specify volume type name, description, is_public or a combination thereof.",
        ));
    }
    let is_public = b
        .is_public
        .map(|v| super::boolish(&v, "is_public"))
        .transpose()?;
    let t = st
        .svc
        .type_update(
            &caller,
            &id,
            TypeUpdate {
                name: b.name,
                description: b.description,
                is_public,
            },
        )
        .await?;
    Ok(Json(
        json!({"volume_type": render::volume_type(&st, &caller, &t)}),
    ))
}

pub async fn type_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx);
    st.svc.type_delete(&caller, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
pub struct SpecsBody {
    extra_specs: Metadata,
}

pub async fn specs_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let specs = st.svc.type_specs(&caller, &id).await?;
    Ok(Json(json!({"extra_specs": specs})))
}

pub async fn specs_set(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<SpecsBody>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let specs = st.svc.type_specs_set(&caller, &id, b.extra_specs).await?;
    Ok(Json(json!({"extra_specs": specs})))
}

pub async fn spec_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id, key)): Path<(String, String, String)>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let specs = st.svc.type_specs(&caller, &id).await?;
    let v = specs.get(&key).ok_or_else(|| {
        Error::not_found(format!(
            "Volume Type {id} has no extra specs with key {key}."
        ))
    })?;
    Ok(Json(json!({ key: v })))
}

pub async fn spec_put(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id, key)): Path<(String, String, String)>,
    ApiJson(b): ApiJson<Metadata>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    if b.len() != 1 || !b.contains_key(&key) {
        return Err(Error::bad_request(
            "Invalid input received: the body must hold one extra spec, the one of the URI.",
        ));
    }
    let specs = st.svc.type_specs_set(&caller, &id, b).await?;
    Ok(Json(json!(specs)))
}

pub async fn spec_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id, key)): Path<(String, String, String)>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx);
    st.svc.type_spec_delete(&caller, &id, &key).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn access_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let projects = st.svc.type_access_list(&caller, &id).await?;
    Ok(Json(json!({"volume_type_access": projects
        .iter()
        .map(|p| json!({"volume_type_id": id, "project_id": p}))
        .collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
pub struct AccessBody {
    project: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeActionBody {
    #[serde(default, rename = "addProjectAccess")]
    add: Option<AccessBody>,
    #[serde(default, rename = "removeProjectAccess")]
    remove: Option<AccessBody>,
}

pub async fn type_action(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<TypeActionBody>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx);
    match (b.add, b.remove) {
        (Some(a), None) => st.svc.type_access(&caller, &id, &a.project, true).await?,
        (None, Some(r)) => st.svc.type_access(&caller, &id, &r.project, false).await?,
        _ => {
            return Err(Error::bad_request(
                "Invalid input received: give one of addProjectAccess and removeProjectAccess.",
            ))
        }
    }
    Ok(StatusCode::ACCEPTED)
}

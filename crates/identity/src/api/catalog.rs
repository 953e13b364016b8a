//! Regions, services and endpoints.

use crate::policies::Rule;
use api_common::routes::Routes;

use std::collections::HashMap;

use api_common::{ApiJson, Ctx, Error};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
    routing::get,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{with_extra, ApiState};
use crate::model::*;

pub fn routes() -> Routes<ApiState> {
    Routes::new()
        .route("/v3/regions", get(region_list).post(region_create))
        .route(
            "/v3/regions/{id}",
            get(region_show).patch(region_update).delete(region_delete),
        )
        .route("/v3/services", get(service_list).post(service_create))
        .route(
            "/v3/services/{id}",
            get(service_show)
                .patch(service_update)
                .delete(service_delete),
        )
        .route("/v3/endpoints", get(endpoint_list).post(endpoint_create))
        .route(
            "/v3/endpoints/{id}",
            get(endpoint_show)
                .patch(endpoint_update)
                .delete(endpoint_delete),
        )
}

type Q = Query<HashMap<String, String>>;

// ---- regions ----

fn region_json(st: &ApiState, r: &Region) -> Value {
    with_extra(
        json!({"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id, "links": st.links("regions", &r.id)}),
        &r.extra,
    )
}

#[derive(Deserialize)]
struct RegionBody {
    region: RegionWire,
}
#[derive(Deserialize)]
struct RegionWire {
    id: Option<String>,
    description: Option<String>,
    parent_region_id: Option<Option<String>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn region_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Query(q): Q,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::ListRegions, json!({}))?;
    let items = st
        .id
        .store
        .regions()
        .await?
        .iter()
        .filter(|r| {
            q.get("parent_region_id")
                .is_none_or(|p| r.parent_region_id.as_ref() == Some(p))
        })
        .map(|r| region_json(&st, r))
        .collect();
    Ok(st.collection("regions", "regions", items))
}

async fn region_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<RegionBody>,
) -> Result<Response, Error> {
    st.id.authorize(&ctx, Rule::CreateRegion, json!({}))?;
    let w = b.region;
    let r = Region {
        id: w.id.unwrap_or_else(new_id),
        description: w.description.unwrap_or_default(),
        parent_region_id: w.parent_region_id.flatten(),
        extra: w.extra,
    };
    let r = st.id.create_region(r).await?;
    Ok(super::created("region", region_json(&st, &r)))
}

async fn region_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::GetRegion, json!({}))?;
    let r = st
        .id
        .store
        .region(&id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find region: {id}.")))?;
    Ok(Json(json!({"region": region_json(&st, &r)})))
}

async fn region_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RegionBody>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::UpdateRegion, json!({}))?;
    let mut r = st
        .id
        .store
        .region(&id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find region: {id}.")))?;
    let w = b.region;
    if w.id.is_some_and(|x| x != id) {
        return Err(Error::bad_request("Cannot change the ID of a region."));
    }
    if let Some(d) = w.description {
        r.description = d;
    }
    if let Some(p) = w.parent_region_id {
        if p.as_deref() == Some(id.as_str()) {
            return Err(Error::bad_request("A region cannot be its own parent."));
        }
        r.parent_region_id = p;
    }
    r.extra.extend(w.extra);
    st.id.store.put_region(&r, false).await?;
    st.id.invalidate_catalog();
    Ok(Json(json!({"region": region_json(&st, &r)})))
}

async fn region_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    st.id.authorize(&ctx, Rule::DeleteRegion, json!({}))?;
    st.id
        .store
        .region(&id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find region: {id}.")))?;
    if st
        .id
        .store
        .regions()
        .await?
        .iter()
        .any(|r| r.parent_region_id.as_deref() == Some(id.as_str()))
    {
        return Err(Error::forbidden(format!(
            "Cannot delete region {id}: it has child regions."
        )));
    }
    if st
        .id
        .store
        .endpoints()
        .await?
        .iter()
        .any(|e| e.region_id.as_deref() == Some(id.as_str()))
    {
        return Err(Error::forbidden(format!(
            "Cannot delete region {id}: endpoints are in it."
        )));
    }
    st.id.store.delete_region(&id).await?;
    st.id.invalidate_catalog();
    Ok(StatusCode::NO_CONTENT)
}

// ---- services ----

fn service_json(st: &ApiState, s: &Service) -> Value {
    with_extra(
        json!({"id": s.id, "type": s.kind, "name": s.name, "description": s.description, "enabled": s.enabled, "links": st.links("services", &s.id)}),
        &s.extra,
    )
}

#[derive(Deserialize)]
struct ServiceBody {
    service: ServiceWire,
}
#[derive(Deserialize)]
struct ServiceWire {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn service_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Query(q): Q,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::ListServices, json!({}))?;
    let items = st
        .id
        .store
        .services()
        .await?
        .iter()
        .filter(|s| {
            q.get("type").is_none_or(|t| *t == s.kind) && q.get("name").is_none_or(|n| *n == s.name)
        })
        .map(|s| service_json(&st, s))
        .collect();
    Ok(st.collection("services", "services", items))
}

async fn service_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<ServiceBody>,
) -> Result<Response, Error> {
    st.id.authorize(&ctx, Rule::CreateService, json!({}))?;
    let w = b.service;
    let s = Service {
        id: new_id(),
        kind: w.kind.filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::bad_request("Invalid input for field 'type': a service needs a type.")
        })?,
        name: w.name.unwrap_or_default(),
        description: w.description.unwrap_or_default(),
        enabled: w.enabled.unwrap_or(true),
        extra: w.extra,
    };
    st.id.store.put_service(&s, true).await?;
    st.id.invalidate_catalog();
    Ok(super::created("service", service_json(&st, &s)))
}

async fn service_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::GetService, json!({}))?;
    let s = st
        .id
        .store
        .service(&id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find service: {id}.")))?;
    Ok(Json(json!({"service": service_json(&st, &s)})))
}

async fn service_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ServiceBody>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::UpdateService, json!({}))?;
    let mut s = st
        .id
        .store
        .service(&id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find service: {id}.")))?;
    let w = b.service;
    if let Some(t) = w.kind {
        s.kind = t;
    }
    if let Some(n) = w.name {
        s.name = n;
    }
    if let Some(d) = w.description {
        s.description = d;
    }
    if let Some(e) = w.enabled {
        s.enabled = e;
    }
    s.extra.extend(w.extra);
    st.id.store.put_service(&s, false).await?;
    st.id.invalidate_catalog();
    Ok(Json(json!({"service": service_json(&st, &s)})))
}

async fn service_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    st.id.authorize(&ctx, Rule::DeleteService, json!({}))?;
    st.id
        .store
        .service(&id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find service: {id}.")))?;
    st.id.store.delete_service(&id).await?;
    st.id.invalidate_catalog();
    Ok(StatusCode::NO_CONTENT)
}

// ---- endpoints ----

fn endpoint_json(st: &ApiState, e: &Endpoint) -> Value {
    with_extra(
        json!({
            "id": e.id, "interface": e.interface, "region": e.region_id, "region_id": e.region_id,
            "service_id": e.service_id, "url": e.url, "enabled": e.enabled, "links": st.links("endpoints", &e.id),
        }),
        &e.extra,
    )
}

#[derive(Deserialize)]
struct EndpointBody {
    endpoint: EndpointWire,
}
#[derive(Deserialize)]
struct EndpointWire {
    service_id: Option<String>,
    interface: Option<String>,
    region_id: Option<Option<String>>,
    region: Option<Option<String>>,
    url: Option<String>,
    enabled: Option<bool>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn endpoint_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Query(q): Q,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::ListEndpoints, json!({}))?;
    let items = st
        .id
        .store
        .endpoints()
        .await?
        .iter()
        .filter(|e| {
            q.get("service_id").is_none_or(|s| *s == e.service_id)
                && q.get("interface").is_none_or(|i| *i == e.interface)
                && q.get("region_id")
                    .is_none_or(|r| e.region_id.as_ref() == Some(r))
        })
        .map(|e| endpoint_json(&st, e))
        .collect();
    Ok(st.collection("endpoints", "endpoints", items))
}

async fn endpoint_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<EndpointBody>,
) -> Result<Response, Error> {
    st.id.authorize(&ctx, Rule::CreateEndpoint, json!({}))?;
    let w = b.endpoint;
    let e = Endpoint {
        id: new_id(),
        service_id: w
            .service_id
            .ok_or_else(|| Error::bad_request("Invalid input for field 'service_id': required."))?,
        interface: w
            .interface
            .ok_or_else(|| Error::bad_request("Invalid input for field 'interface': required."))?,
        region_id: w.region_id.flatten().or(w.region.flatten()),
        url: w
            .url
            .ok_or_else(|| Error::bad_request("Invalid input for field 'url': required."))?,
        enabled: w.enabled.unwrap_or(true),
        extra: w.extra,
    };
    let e = st.id.create_endpoint(e).await?;
    Ok(super::created("endpoint", endpoint_json(&st, &e)))
}

async fn endpoint_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::GetEndpoint, json!({}))?;
    let e = st
        .id
        .store
        .endpoint(&id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find endpoint: {id}.")))?;
    Ok(Json(json!({"endpoint": endpoint_json(&st, &e)})))
}

async fn endpoint_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<EndpointBody>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::UpdateEndpoint, json!({}))?;
    let mut e = st
        .id
        .store
        .endpoint(&id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find endpoint: {id}.")))?;
    let w = b.endpoint;
    if let Some(s) = w.service_id {
        e.service_id = s;
    }
    if let Some(i) = w.interface {
        e.interface = i;
    }
    if let Some(r) = w.region_id.or(w.region) {
        e.region_id = r;
    }
    if let Some(u) = w.url {
        e.url = u;
    }
    if let Some(x) = w.enabled {
        e.enabled = x;
    }
    e.extra.extend(w.extra);
    let e = st.id.update_endpoint(e).await?;
    Ok(Json(json!({"endpoint": endpoint_json(&st, &e)})))
}

async fn endpoint_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    st.id.authorize(&ctx, Rule::DeleteEndpoint, json!({}))?;
    st.id
        .store
        .endpoint(&id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find endpoint: {id}.")))?;
    st.id.store.delete_endpoint(&id).await?;
    st.id.invalidate_catalog();
    Ok(StatusCode::NO_CONTENT)
}

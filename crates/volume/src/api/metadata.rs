//! `/volumes/{id}/metadata` and `/snapshots/{id}/metadata`: the same API over two
//! owners.

use std::future::Future;

use api_common::{ApiJson, Ctx, Error, Result};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiState;
use crate::{
    app::{Caller, Volumes},
    model::Metadata,
};

/// What has metadata.
pub trait Owner: Send + Sync + 'static {
    /// How messages name it.
    const NAME: &'static str;
    fn get(
        svc: &Volumes,
        caller: &Caller<'_>,
        id: &str,
    ) -> impl Future<Output = Result<Metadata>> + Send;
    fn set(
        svc: &Volumes,
        caller: &Caller<'_>,
        id: &str,
        m: Metadata,
        replace: bool,
    ) -> impl Future<Output = Result<Metadata>> + Send;
    fn delete(
        svc: &Volumes,
        caller: &Caller<'_>,
        id: &str,
        key: &str,
    ) -> impl Future<Output = Result<()>> + Send;
}

pub struct OfVolume;
pub struct OfSnapshot;

impl Owner for OfVolume {
    const NAME: &'static str = "Volume";
    fn get(
        svc: &Volumes,
        caller: &Caller<'_>,
        id: &str,
    ) -> impl Future<Output = Result<Metadata>> + Send {
        svc.volume_metadata(caller, id)
    }
    fn set(
        svc: &Volumes,
        caller: &Caller<'_>,
        id: &str,
        m: Metadata,
        replace: bool,
    ) -> impl Future<Output = Result<Metadata>> + Send {
        svc.volume_metadata_set(caller, id, m, replace)
    }
    fn delete(
        svc: &Volumes,
        caller: &Caller<'_>,
        id: &str,
        key: &str,
    ) -> impl Future<Output = Result<()>> + Send {
        svc.volume_metadata_delete(caller, id, key)
    }
}

impl Owner for OfSnapshot {
    const NAME: &'static str = "Snapshot";
    fn get(
        svc: &Volumes,
        caller: &Caller<'_>,
        id: &str,
    ) -> impl Future<Output = Result<Metadata>> + Send {
        svc.snapshot_metadata(caller, id)
    }
    fn set(
        svc: &Volumes,
        caller: &Caller<'_>,
        id: &str,
        m: Metadata,
        replace: bool,
    ) -> impl Future<Output = Result<Metadata>> + Send {
        svc.snapshot_metadata_set(caller, id, m, replace)
    }
    fn delete(
        svc: &Volumes,
        caller: &Caller<'_>,
        id: &str,
        key: &str,
    ) -> impl Future<Output = Result<()>> + Send {
        svc.snapshot_metadata_delete(caller, id, key)
    }
}

#[derive(Deserialize)]
pub struct MetadataBody {
    metadata: Metadata,
}

#[derive(Deserialize)]
pub struct MetaBody {
    meta: Metadata,
}

pub async fn list<O: Owner>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let m = O::get(&st.svc, &caller, &id).await?;
    Ok(Json(json!({"metadata": m})))
}

/// `POST`: merged with what is there.
pub async fn create<O: Owner>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<MetadataBody>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let m = O::set(&st.svc, &caller, &id, b.metadata, false).await?;
    Ok(Json(json!({"metadata": m})))
}

/// `PUT`: instead of what is there.
pub async fn replace<O: Owner>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id)): Path<(String, String)>,
    ApiJson(b): ApiJson<MetadataBody>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let m = O::set(&st.svc, &caller, &id, b.metadata, true).await?;
    Ok(Json(json!({"metadata": m})))
}

pub async fn show<O: Owner>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id, key)): Path<(String, String, String)>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let m = O::get(&st.svc, &caller, &id).await?;
    let v = m.get(&key).ok_or_else(|| {
        Error::not_found(format!("{} {id} has no metadata with key {key}.", O::NAME))
    })?;
    Ok(Json(json!({"meta": {key: v}})))
}

pub async fn put<O: Owner>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id, key)): Path<(String, String, String)>,
    ApiJson(b): ApiJson<MetaBody>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    if b.meta.len() != 1 || !b.meta.contains_key(&key) {
        return Err(Error::bad_request(
            "Request body and URI mismatch: the body must hold one item, the key of the URI.",
        ));
    }
    let meta = b.meta.clone();
    O::set(&st.svc, &caller, &id, b.meta, false).await?;
    Ok(Json(json!({"meta": meta})))
}

pub async fn delete<O: Owner>(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, id, key)): Path<(String, String, String)>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx);
    O::delete(&st.svc, &caller, &id, &key).await?;
    Ok(StatusCode::OK)
}

//! Quotas, limits, availability zones, services and extensions.

use std::collections::BTreeMap;

use api_common::{ApiJson, Ctx, Error};
use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{query, ApiState};
use crate::{app::QuotaSet, model::now, policies::Rule};

fn quota_doc(project: &str, q: &QuotaSet, usage: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(project));
    for (r, u) in q {
        let v = if usage {
            json!({"limit": u.limit, "in_use": u.in_use, "reserved": 0, "allocated": 0})
        } else {
            json!(u.limit)
        };
        m.insert((*r).into(), v);
    }
    json!({"quota_set": m})
}

pub async fn quota_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, project)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let usage = query::flag(&query::pairs(raw.as_deref()), "usage")?;
    let q = st.svc.quota_show(&caller, &project).await?;
    Ok(Json(quota_doc(&project, &q, usage)))
}

pub async fn quota_defaults(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, project)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let q = st.svc.quota_defaults(&caller, &project).await?;
    Ok(Json(quota_doc(&project, &q, false)))
}

#[derive(Deserialize)]
pub struct QuotaBody {
    quota_set: Map<String, Value>,
}

pub async fn quota_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, project)): Path<(String, String)>,
    ApiJson(b): ApiJson<QuotaBody>,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let mut limits = BTreeMap::new();
    for (k, v) in b.quota_set {
        // openstacksdk sends the whole quota set back, ids and nulls included
        if matches!(k.as_str(), "id" | "project_id" | "tenant_id" | "usage") || v.is_null() {
            continue;
        }
        let n = v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid input received: Quota limit of {k} must be an integer, not {v}."
                ))
            })?;
        limits.insert(k, n);
    }
    let q = st.svc.quota_update(&caller, &project, limits).await?;
    let mut doc = quota_doc(&project, &q, false);
    if let Some(m) = doc["quota_set"].as_object_mut() {
        m.remove("id");
    }
    Ok(Json(doc))
}

pub async fn quota_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((_, project)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx);
    st.svc.quota_delete(&caller, &project).await?;
    Ok(StatusCode::OK)
}

pub async fn limits(State(st): State<ApiState>, ctx: Ctx) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    let q = st.svc.limits(&caller).await?;
    let l = |r: &str| q.get(r).map_or(-1, |u| u.limit);
    let u = |r: &str| q.get(r).map_or(0, |u| u.in_use);
    Ok(Json(json!({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": l("volumes"),
        "maxTotalSnapshots": l("snapshots"),
        "maxTotalVolumeGigabytes": l("gigabytes"),
        "maxTotalBackups": l("backups"),
        "maxTotalBackupGigabytes": l("backup_gigabytes"),
        "totalVolumesUsed": u("volumes"),
        "totalSnapshotsUsed": u("snapshots"),
        "totalGigabytesUsed": u("gigabytes"),
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }}})))
}

pub async fn zones(State(st): State<ApiState>, ctx: Ctx) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    st.svc
        .authorize(&caller, Rule::ListAvailabilityZones, caller.project())?;
    Ok(Json(json!({"availabilityZoneInfo": [{
        "zoneName": st.svc.cfg.availability_zone,
        "zoneState": {"available": true},
    }]})))
}

/// `GET /os-services`: this process's scheduler and each backend's volume service (they
/// run in the API process, so they are up while it answers).
pub async fn services(
    State(st): State<ApiState>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, Error> {
    let caller = st.svc.caller(&ctx);
    st.svc
        .authorize(&caller, Rule::ListServices, caller.project())?;
    let p = query::pairs(raw.as_deref());
    let zone = &st.svc.cfg.availability_zone;
    let at = now();
    let entry = |binary: &str, host: String| {
        json!({
            "binary": binary, "host": host, "zone": zone, "status": "enabled", "state": "up",
            "updated_at": at, "disabled_reason": null,
        })
    };
    let mut out = vec![entry("cinder-scheduler", "oxistack".into())];
    for b in &st.svc.backends {
        out.push(entry("cinder-volume", format!("oxistack@{}", b.name())));
    }
    out.retain(|s| {
        query::param(&p, "binary").is_none_or(|b| s["binary"] == b)
            && query::param(&p, "host").is_none_or(|h| s["host"] == h)
    });
    Ok(Json(json!({"services": out})))
}

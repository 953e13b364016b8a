//! Allocations, usages and the reshaper.

use std::collections::BTreeMap;

use api_common::{microversion::Version, Ctx, Error, Result};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::Response,
};
use serde_json::{json, Map, Value};

use super::{body, json_at, no_content, query, since, St};
use crate::{
    app::{provider_id, Reshape},
    model::*,
    standard,
};

fn consumer_id(raw: &str) -> Result<String> {
    match uuid::Uuid::parse_str(raw) {
        Ok(u) => Ok(u.hyphenated().to_string()),
        Err(_) => Err(Error::bad_request(format!(
            "Malformed consumer_uuid: {raw}"
        ))),
    }
}

fn owner(m: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None => Ok(None),
        Some(v) => {
            let s = body::string(v)?;
            if s.is_empty() || s.len() > 255 {
                return Err(body::invalid(format_args!(
                    "'{s}' is too short or too long"
                )));
            }
            Ok(Some(s.to_owned()))
        }
    }
}

/// One consumer's allocations as version `v` writes them (`PUT /allocations/{c}`, or an
/// entry of `POST /allocations` / the reshaper when `many`).
fn consumer_allocations(
    st: &St,
    doc: &Value,
    consumer: String,
    v: Version,
    many: bool,
) -> Result<ConsumerAllocations> {
    let mut allowed = vec!["allocations", "project_id", "user_id"];
    let mut required = vec!["allocations"];
    if v.at_least(1, 8) {
        required.extend(["project_id", "user_id"]);
    }
    if v.at_least(1, 28) {
        allowed.push("consumer_generation");
        required.push("consumer_generation");
    }
    if v.at_least(1, 38) {
        allowed.push("consumer_type");
        required.push("consumer_type");
    }
    let m = body::object(doc, &allowed, &required)?;
    let mut allocations: BTreeMap<ProviderId, Resources> = BTreeMap::new();
    if v.at_least(1, 12) {
        let a = m["allocations"].as_object().ok_or_else(|| {
            body::invalid(format_args!("{} is not of type 'object'", m["allocations"]))
        })?;
        if a.is_empty() && !many && !v.at_least(1, 28) {
            return Err(body::invalid("{} does not have enough properties"));
        }
        for (rp, entry) in a {
            let e = body::object(entry, &["resources", "generation"], &["resources"])?;
            let id = body::provider_id(&Value::String(rp.clone()))?;
            allocations.insert(id, body::resources(&e["resources"], 1)?);
        }
    } else {
        let list = m["allocations"].as_array().ok_or_else(|| {
            body::invalid(format_args!("{} is not of type 'array'", m["allocations"]))
        })?;
        if list.is_empty() {
            return Err(body::invalid("[] is too short"));
        }
        for entry in list {
            let e = body::object(
                entry,
                &["resource_provider", "resources"],
                &["resource_provider", "resources"],
            )?;
            let rp = body::object(&e["resource_provider"], &["uuid"], &["uuid"])?;
            let id = body::provider_id(&rp["uuid"])?;
            let res = body::resources(&e["resources"], 1)?;
            allocations.entry(id).or_default().extend(res);
        }
    }
    let generation = match m.get("consumer_generation") {
        None => ConsumerGeneration::Unchecked,
        Some(Value::Null) => ConsumerGeneration::New,
        Some(g) => ConsumerGeneration::Is(body::int(g, i64::MIN, i64::MAX)?),
    };
    let consumer_type = match m.get("consumer_type") {
        None => None,
        Some(t) => {
            let t = body::string(t)?;
            if !standard::is_name(t) || t.len() > 255 {
                return Err(body::invalid(format_args!(
                    "'{t}' does not match '^[A-Z0-9_]+$'"
                )));
            }
            Some(t.to_owned())
        }
    };
    Ok(ConsumerAllocations {
        consumer,
        project_id: owner(m, "project_id")?
            .unwrap_or_else(|| st.cfg.incomplete_consumer_project_id.clone()),
        user_id: owner(m, "user_id")?.unwrap_or_else(|| st.cfg.incomplete_consumer_user_id.clone()),
        generation,
        consumer_type,
        allocations,
    })
}

pub async fn allocation_show(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(consumer): Path<String>,
) -> Result<Response> {
    let view = st.consumer_allocations(&ctx, &consumer).await?;
    let allocs: Map<String, Value> = view
        .allocations
        .iter()
        .map(|(p, (g, r))| (p.to_string(), json!({"generation": g, "resources": r})))
        .collect();
    let mut out = json!({"allocations": allocs});
    if let (Some(c), false) = (&view.consumer, view.allocations.is_empty()) {
        if v.at_least(1, 12) {
            out["project_id"] = json!(c.project_id);
            out["user_id"] = json!(c.user_id);
        }
        if v.at_least(1, 28) {
            out["consumer_generation"] = json!(c.generation);
        }
        if v.at_least(1, 38) {
            out["consumer_type"] = json!(c.consumer_type.as_deref().unwrap_or("unknown"));
        }
    }
    Ok(json_at(v, StatusCode::OK, out))
}

pub async fn allocation_update(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(consumer): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let consumer = consumer_id(&consumer)?;
    let doc = body::parse(&bytes)?;
    let w = consumer_allocations(&st, &doc, consumer, v, false)?;
    st.allocations_set(&ctx, false, vec![w]).await?;
    Ok(no_content())
}

pub async fn allocation_delete(
    State(st): State<St>,
    ctx: Ctx,
    Path(consumer): Path<String>,
) -> Result<Response> {
    st.allocations_delete(&ctx, &consumer).await?;
    Ok(no_content())
}

fn many_consumers(st: &St, doc: &Value, v: Version) -> Result<Vec<ConsumerAllocations>> {
    let m = doc
        .as_object()
        .ok_or_else(|| body::invalid(format_args!("{doc} is not of type 'object'")))?;
    let mut out = Vec::new();
    for (c, entry) in m {
        let id = match uuid::Uuid::parse_str(c) {
            Ok(u) if c.len() == 36 => u.hyphenated().to_string(),
            _ => {
                return Err(body::invalid(format_args!(
                    "Additional properties are not allowed ('{c}' was unexpected)"
                )))
            }
        };
        out.push(consumer_allocations(st, entry, id, v, true)?);
    }
    Ok(out)
}

pub async fn allocations_post(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    bytes: Bytes,
) -> Result<Response> {
    since(v, 1, 13)?;
    let doc = body::parse(&bytes)?;
    let writes = many_consumers(&st, &doc, v)?;
    if writes.is_empty() {
        return Err(body::invalid("{} does not have enough properties"));
    }
    st.allocations_set(&ctx, true, writes).await?;
    Ok(no_content())
}

pub async fn provider_allocations(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
) -> Result<Response> {
    let (g, allocs) = st.provider_allocations(&ctx, &provider_id(&uuid)?).await?;
    let m: Map<String, Value> = allocs
        .into_iter()
        .map(|(c, r)| (c, json!({"resources": r})))
        .collect();
    Ok(json_at(
        v,
        StatusCode::OK,
        json!({"allocations": m, "resource_provider_generation": g}),
    ))
}

pub async fn total_usages(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    since(v, 1, 9)?;
    let q = query::Query::parse(raw.as_deref());
    let project = q.one("project_id")?.unwrap_or("").to_owned();
    let user = q.one("user_id")?.map(str::to_owned);
    let by_type = st.total_usages(&ctx, &project, user.as_deref()).await?;
    q.only(|k| {
        matches!(k, "project_id" | "user_id") || (k == "consumer_type" && v.at_least(1, 38))
    })?;
    if project.is_empty() {
        return Err(query::bad("'project_id' is a required property"));
    }
    if !v.at_least(1, 38) {
        let mut sum = Resources::new();
        for u in by_type.values() {
            for (rc, n) in &u.usages {
                *sum.entry(rc.clone()).or_default() += n;
            }
        }
        return Ok(json_at(v, StatusCode::OK, json!({"usages": sum})));
    }
    let filter = q.one("consumer_type")?;
    let mut out = Map::new();
    let mut all = TypedUsage::default();
    for (t, u) in &by_type {
        let name = t.as_deref().unwrap_or("unknown");
        match filter {
            Some("all") => {
                all.consumer_count += u.consumer_count;
                for (rc, n) in &u.usages {
                    *all.usages.entry(rc.clone()).or_default() += n;
                }
                continue;
            }
            Some(f) if f != name => continue,
            _ => {}
        }
        let mut e = json!(u.usages);
        e["consumer_count"] = json!(u.consumer_count);
        out.insert(name.to_owned(), e);
    }
    if filter == Some("all") && all.consumer_count > 0 {
        let mut e = json!(all.usages);
        e["consumer_count"] = json!(all.consumer_count);
        out.insert("all".into(), e);
    }
    Ok(json_at(v, StatusCode::OK, json!({"usages": out})))
}

// ------------------------------------------------------------------ reshaper

pub async fn reshape(State(st): State<St>, ctx: Ctx, v: Version, bytes: Bytes) -> Result<Response> {
    since(v, 1, 30)?;
    let doc = body::parse(&bytes)?;
    let m = body::object(
        &doc,
        &["inventories", "allocations"],
        &["inventories", "allocations"],
    )?;
    let inv = m["inventories"]
        .as_object()
        .ok_or_else(|| body::invalid("inventories is not of type 'object'"))?;
    let mut req = Reshape::default();
    for (rp, entry) in inv {
        let id = body::provider_id(&Value::String(rp.clone()))?;
        let e = body::object(
            entry,
            &["resource_provider_generation", "inventories"],
            &["resource_provider_generation", "inventories"],
        )?;
        let generation = body::int(&e["resource_provider_generation"], i64::MIN, i64::MAX)?;
        let records = e["inventories"]
            .as_object()
            .ok_or_else(|| body::invalid("inventories is not of type 'object'"))?;
        let mut wanted = BTreeMap::new();
        for (rc, rec) in records {
            body::class_name(rc)?;
            wanted.insert(rc.clone(), body::inventory(rec, &[])?.0);
        }
        req.inventories.insert(id, (generation, wanted));
    }
    // the reshaper's allocations are 1.28's form at least
    let av = if v.at_least(1, 28) {
        v
    } else {
        Version::new(1, 28)
    };
    req.allocations = many_consumers(&st, &m["allocations"], av)?;
    st.reshape(&ctx, req, v.at_least(1, 26)).await?;
    Ok(no_content())
}

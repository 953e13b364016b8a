//! Resource providers, their inventories, usages, aggregates and traits.

use std::collections::BTreeMap;

use api_common::{microversion::Version, Ctx, Result};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::Response,
};
use serde_json::{json, Map, Value};

use super::{body, json_at, method_since, no_content, query, since, with_location, St};
use crate::{
    app::{provider_id, ProviderUpdate},
    model::*,
};

pub(super) fn provider_url(id: &ProviderId) -> String {
    format!("/resource_providers/{id}")
}

/// A provider as version `v` shows it.
pub(super) fn render_provider(p: &Provider, v: Version) -> Value {
    let url = provider_url(&p.uuid);
    let mut links = vec![
        json!({"rel": "self", "href": url}),
        json!({"rel": "inventories", "href": format!("{url}/inventories")}),
        json!({"rel": "usages", "href": format!("{url}/usages")}),
    ];
    if v.at_least(1, 1) {
        links.push(json!({"rel": "aggregates", "href": format!("{url}/aggregates")}));
    }
    if v.at_least(1, 6) {
        links.push(json!({"rel": "traits", "href": format!("{url}/traits")}));
    }
    if v.at_least(1, 11) {
        links.push(json!({"rel": "allocations", "href": format!("{url}/allocations")}));
    }
    let mut out = json!({
        "uuid": p.uuid,
        "name": p.name,
        "generation": p.generation,
        "links": links,
    });
    if v.at_least(1, 14) {
        out["parent_provider_uuid"] = json!(p.parent);
        out["root_provider_uuid"] = json!(p.root);
    }
    out
}

pub async fn provider_list(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let q = query::Query::parse(raw.as_deref());
    q.only(|k| {
        matches!(k, "name" | "uuid")
            || (k == "member_of" && v.at_least(1, 3))
            || (k == "resources" && v.at_least(1, 4))
            || (k == "in_tree" && v.at_least(1, 14))
            || (k == "required" && v.at_least(1, 18))
    })?;
    let mut f = ProviderFilter {
        name: q.one("name")?.map(str::to_owned),
        uuid: q.uuid("uuid")?,
        in_tree: q.uuid("in_tree")?,
        ..Default::default()
    };
    let member_of: Vec<&str> = q.all("member_of");
    f.member_of = query::member_of(&member_of, v)?;
    if let Some(r) = q.one("resources")? {
        f.resources = query::resources(r)?;
    }
    let required: Vec<&str> = q.all("required");
    if required.len() > 1 && !v.at_least(1, 39) {
        q.one("required")?;
    }
    f.required = query::required(&required, v)?;
    let list = st.provider_list(&ctx, f).await?;
    let rendered: Vec<Value> = list.iter().map(|p| render_provider(p, v)).collect();
    Ok(json_at(
        v,
        StatusCode::OK,
        json!({"resource_providers": rendered}),
    ))
}

pub async fn provider_show(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
) -> Result<Response> {
    let p = st.provider(&ctx, &provider_id(&uuid)?).await?;
    Ok(json_at(v, StatusCode::OK, render_provider(&p, v)))
}

fn parent_field(m: &Map<String, Value>, v: Version) -> Result<Option<Option<ProviderId>>> {
    if !v.at_least(1, 14) {
        return Ok(None);
    }
    match m.get("parent_provider_uuid") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(p) => Ok(Some(Some(body::provider_id(p)?))),
    }
}

fn name_field(m: &Map<String, Value>) -> Result<String> {
    let name = body::string(&m["name"])?;
    if name.chars().count() > 200 {
        return Err(body::invalid(format_args!("'{name}' is too long")));
    }
    Ok(name.to_owned())
}

pub async fn provider_create(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    bytes: Bytes,
) -> Result<Response> {
    let doc = body::parse(&bytes)?;
    let allowed: &[&str] = if v.at_least(1, 14) {
        &["name", "uuid", "parent_provider_uuid"]
    } else {
        &["name", "uuid"]
    };
    let m = body::object(&doc, allowed, &["name"])?;
    let name = name_field(m)?;
    let uuid = m.get("uuid").map(body::provider_id).transpose()?;
    let parent = parent_field(m, v)?.flatten();
    let p = st.provider_create(&ctx, name, uuid, parent).await?;
    let location = provider_url(&p.uuid);
    if v.at_least(1, 20) {
        Ok(with_location(
            json_at(v, StatusCode::OK, render_provider(&p, v)),
            &location,
        ))
    } else {
        Ok(with_location(
            axum::response::IntoResponse::into_response(StatusCode::CREATED),
            &location,
        ))
    }
}

pub async fn provider_update(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let id = provider_id(&uuid)?;
    let doc = body::parse(&bytes)?;
    let allowed: &[&str] = if v.at_least(1, 14) {
        &["name", "parent_provider_uuid"]
    } else {
        &["name"]
    };
    let m = body::object(&doc, allowed, &["name"])?;
    let req = ProviderUpdate {
        name: name_field(m)?,
        parent: parent_field(m, v)?,
        may_reparent: v.at_least(1, 37),
    };
    let p = st.provider_update(&ctx, &id, req).await?;
    Ok(json_at(v, StatusCode::OK, render_provider(&p, v)))
}

pub async fn provider_delete(
    State(st): State<St>,
    ctx: Ctx,
    Path(uuid): Path<String>,
) -> Result<Response> {
    st.provider_delete(&ctx, &provider_id(&uuid)?).await?;
    Ok(no_content())
}

// ------------------------------------------------------------------ inventories

fn render_inventory(i: &Inventory) -> Value {
    json!({
        "total": i.total,
        "reserved": i.reserved,
        "min_unit": i.min_unit,
        "max_unit": i.max_unit,
        "step_size": i.step_size,
        "allocation_ratio": i.allocation_ratio,
    })
}

fn render_one(generation: i64, i: &Inventory) -> Value {
    let mut v = render_inventory(i);
    v["resource_provider_generation"] = json!(generation);
    v
}

fn render_inventories(generation: i64, inv: &Inventories) -> Value {
    let m: Map<String, Value> = inv
        .iter()
        .map(|(rc, i)| (rc.clone(), render_inventory(i)))
        .collect();
    json!({"resource_provider_generation": generation, "inventories": m})
}

pub async fn inventory_list(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
) -> Result<Response> {
    let (g, inv) = st.inventories(&ctx, &provider_id(&uuid)?).await?;
    Ok(json_at(v, StatusCode::OK, render_inventories(g, &inv)))
}

pub async fn inventory_show(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path((uuid, rc)): Path<(String, String)>,
) -> Result<Response> {
    let (g, inv) = st.inventory(&ctx, &provider_id(&uuid)?, &rc).await?;
    Ok(json_at(v, StatusCode::OK, render_one(g, &inv)))
}

pub async fn inventory_replace(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let id = provider_id(&uuid)?;
    let doc = body::parse(&bytes)?;
    let m = body::object(
        &doc,
        &["resource_provider_generation", "inventories"],
        &["resource_provider_generation", "inventories"],
    )?;
    let generation = body::int(&m["resource_provider_generation"], i64::MIN, i64::MAX)?;
    let inv = m["inventories"].as_object().ok_or_else(|| {
        body::invalid(format_args!("{} is not of type 'object'", m["inventories"]))
    })?;
    let mut wanted = BTreeMap::new();
    for (rc, rec) in inv {
        body::class_name(rc)?;
        wanted.insert(rc.clone(), body::inventory(rec, &[])?.0);
    }
    let (g, inv) = st
        .inventories_set(&ctx, &id, generation, wanted, v.at_least(1, 26))
        .await?;
    Ok(json_at(v, StatusCode::OK, render_inventories(g, &inv)))
}

pub async fn inventory_create(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    let id = provider_id(&uuid)?;
    let doc = body::parse(&bytes)?;
    body::object(
        &doc,
        &[
            "resource_class",
            "resource_provider_generation",
            "total",
            "reserved",
            "min_unit",
            "max_unit",
            "step_size",
            "allocation_ratio",
        ],
        &["resource_class", "total"],
    )?;
    let rc = body::string(&doc["resource_class"])?.to_owned();
    body::class_name(&rc)?;
    let (req, _) = body::inventory(&doc, &["resource_class"])?;
    let (g, inv) = st
        .inventory_put(&ctx, &id, &rc, None, req, v.at_least(1, 26))
        .await?;
    Ok(with_location(
        json_at(v, StatusCode::CREATED, render_one(g, &inv)),
        &format!("{}/inventories/{rc}", provider_url(&id)),
    ))
}

pub async fn inventory_update(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path((uuid, rc)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response> {
    let id = provider_id(&uuid)?;
    let doc = body::parse(&bytes)?;
    let (req, generation) = body::inventory(&doc, &[])?;
    let generation = generation
        .ok_or_else(|| body::invalid("'resource_provider_generation' is a required property"))?;
    let (g, inv) = st
        .inventory_put(&ctx, &id, &rc, Some(generation), req, v.at_least(1, 26))
        .await?;
    Ok(json_at(v, StatusCode::OK, render_one(g, &inv)))
}

pub async fn inventory_delete(
    State(st): State<St>,
    ctx: Ctx,
    Path((uuid, rc)): Path<(String, String)>,
) -> Result<Response> {
    st.inventory_delete(&ctx, &provider_id(&uuid)?, Some(&rc))
        .await?;
    Ok(no_content())
}

pub async fn inventory_delete_all(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
) -> Result<Response> {
    method_since(v, 1, 5)?;
    st.inventory_delete(&ctx, &provider_id(&uuid)?, None)
        .await?;
    Ok(no_content())
}

pub async fn provider_usages(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
) -> Result<Response> {
    let (g, usages) = st.provider_usages(&ctx, &provider_id(&uuid)?).await?;
    Ok(json_at(
        v,
        StatusCode::OK,
        json!({"resource_provider_generation": g, "usages": usages}),
    ))
}

// ------------------------------------------------------------------ aggregates

fn render_aggregates(v: Version, g: i64, aggs: &[String]) -> Value {
    let mut out = json!({"aggregates": aggs});
    if v.at_least(1, 19) {
        out["resource_provider_generation"] = json!(g);
    }
    out
}

pub async fn aggregate_list(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
) -> Result<Response> {
    since(v, 1, 1)?;
    let (g, aggs) = st.provider_aggregates(&ctx, &provider_id(&uuid)?).await?;
    Ok(json_at(v, StatusCode::OK, render_aggregates(v, g, &aggs)))
}

pub async fn aggregate_update(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    since(v, 1, 1)?;
    let id = provider_id(&uuid)?;
    let doc = body::parse(&bytes)?;
    let (list, generation) = if v.at_least(1, 19) {
        let m = body::object(
            &doc,
            &["aggregates", "resource_provider_generation"],
            &["aggregates", "resource_provider_generation"],
        )?;
        (
            &m["aggregates"],
            Some(body::int(
                &m["resource_provider_generation"],
                i64::MIN,
                i64::MAX,
            )?),
        )
    } else {
        (&doc, None)
    };
    let arr = list
        .as_array()
        .ok_or_else(|| body::invalid(format_args!("{list} is not of type 'array'")))?;
    let mut aggs = Vec::new();
    for a in arr {
        let u = body::uuid(a)?;
        if aggs.contains(&u) {
            return Err(body::invalid(format_args!(
                "{list} has non-unique elements"
            )));
        }
        aggs.push(u);
    }
    let (g, aggs) = st
        .provider_aggregates_set(&ctx, &id, generation, aggs)
        .await?;
    Ok(json_at(v, StatusCode::OK, render_aggregates(v, g, &aggs)))
}

// ------------------------------------------------------------------ provider traits

pub async fn provider_trait_list(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
) -> Result<Response> {
    since(v, 1, 6)?;
    let (g, traits) = st.provider_traits(&ctx, &provider_id(&uuid)?).await?;
    Ok(json_at(
        v,
        StatusCode::OK,
        json!({"traits": traits, "resource_provider_generation": g}),
    ))
}

pub async fn provider_trait_update(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    since(v, 1, 6)?;
    let id = provider_id(&uuid)?;
    let doc = body::parse(&bytes)?;
    let m = body::object(
        &doc,
        &["traits", "resource_provider_generation"],
        &["traits", "resource_provider_generation"],
    )?;
    let generation = body::int(&m["resource_provider_generation"], i64::MIN, i64::MAX)?;
    let traits = body::strings(&m["traits"])?;
    for t in &traits {
        if !crate::standard::is_name(t) {
            return Err(body::invalid(format_args!(
                "'{t}' does not match '^[A-Z0-9_]+$'"
            )));
        }
    }
    let (g, traits) = st
        .provider_traits_set(&ctx, &id, Some(generation), traits)
        .await?;
    Ok(json_at(
        v,
        StatusCode::OK,
        json!({"traits": traits, "resource_provider_generation": g}),
    ))
}

pub async fn provider_trait_delete(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(uuid): Path<String>,
) -> Result<Response> {
    since(v, 1, 6)?;
    st.provider_traits_set(&ctx, &provider_id(&uuid)?, None, Vec::new())
        .await?;
    Ok(no_content())
}

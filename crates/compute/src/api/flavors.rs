//! Flavors, their extra specs and access lists.

use api_common::{microversion::Version, Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    Json,
};
use serde_json::{json, Map, Value};

use super::{paging::Query, validate, ApiState};
use crate::{
    app::flavors::{FlavorCreate, FlavorFilter},
    model::Flavor,
    policies::Rule,
};

type JsonResult = Result<Json<Value>, Error>;

/// Nova's largest flavor numbers (a signed 32-bit column).
const DB_MAX_INT: i64 = 2_147_483_647;

/// A flavor as Nova shows it at microversion `mv` (`specs`: the caller may read them).
pub fn render(st: &ApiState, f: &Flavor, mv: Version, detail: bool, specs: bool) -> Value {
    let mut v = json!({
        "id": f.id,
        "name": f.name,
        "links": st.links("flavors", f.id.as_str()),
    });
    if mv.at_least(2, 55) {
        v["description"] = json!(f.description);
    }
    if !detail {
        return v;
    }
    v["ram"] = json!(f.memory_mb);
    v["disk"] = json!(f.root_gb);
    v["vcpus"] = json!(f.vcpus);
    v["OS-FLV-EXT-DATA:ephemeral"] = json!(f.ephemeral_gb);
    v["OS-FLV-DISABLED:disabled"] = json!(f.disabled);
    v["os-flavor-access:is_public"] = json!(f.is_public);
    v["rxtx_factor"] = json!(f.rxtx_factor);
    v["swap"] = if f.swap == 0 && !mv.at_least(2, 75) {
        json!("")
    } else {
        json!(f.swap)
    };
    if mv.at_least(2, 61) && specs {
        v["extra_specs"] = json!(f.extra_specs);
    }
    v
}

fn filter(q: &Query) -> Result<FlavorFilter, Error> {
    let int = |k: &str| -> Result<Option<i64>, Error> {
        q.get(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| Error::bad_request(format!("Invalid {k} filter [{v}]")))
            })
            .transpose()
    };
    let is_public = match q.get("is_public").map(str::to_ascii_lowercase).as_deref() {
        None => Some(true),
        Some("none") => None,
        Some("true" | "1" | "yes" | "t" | "on" | "y") => Some(true),
        Some("false" | "0" | "no" | "f" | "off" | "n") => Some(false),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid is_public filter [{other}]"
            )))
        }
    };
    Ok(FlavorFilter {
        is_public,
        min_ram: int("minRam")?,
        min_disk: int("minDisk")?,
    })
}

async fn list(st: ApiState, ctx: Ctx, mv: Version, q: Option<String>, detail: bool) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let caller = st.svc.caller(&ctx.0);
    let mut flavors = st.svc.flavor_list(&caller, &filter(&q)?).await?;
    let (key, asc) = (
        q.get("sort_key").unwrap_or("flavorid"),
        q.get("sort_dir").unwrap_or("asc"),
    );
    let by: fn(&Flavor, &Flavor) -> std::cmp::Ordering = match key {
        "flavorid" | "id" => |a, b| a.id.as_str().cmp(b.id.as_str()),
        "name" => |a, b| a.name.cmp(&b.name),
        "memory_mb" => |a, b| a.memory_mb.cmp(&b.memory_mb),
        "vcpus" => |a, b| a.vcpus.cmp(&b.vcpus),
        "root_gb" => |a, b| a.root_gb.cmp(&b.root_gb),
        "ephemeral_gb" => |a, b| a.ephemeral_gb.cmp(&b.ephemeral_gb),
        "swap" => |a, b| a.swap.cmp(&b.swap),
        "rxtx_factor" => |a, b| a.rxtx_factor.total_cmp(&b.rxtx_factor),
        "created_at" => |a, b| a.created_at.cmp(&b.created_at),
        other => {
            return Err(Error::bad_request(format!(
                "Invalid input for query parameters sort_key. Value: {other}."
            )))
        }
    };
    match asc {
        "asc" => flavors.sort_by(by),
        "desc" => flavors.sort_by(|a, b| by(b, a)),
        other => {
            return Err(Error::bad_request(format!(
                "Invalid input for query parameters sort_dir. Value: {other}."
            )))
        }
    }
    let url = format!(
        "{}/v2.1/flavors{}",
        st.base,
        if detail { "/detail" } else { "" }
    );
    let (page, next) = q
        .page(flavors, st.svc.cfg.max_limit, |f| f.id.to_string(), &url)
        .map_err(|e| match e.message.strip_prefix("marker [") {
            Some(rest) => Error::bad_request(format!(
                "Invalid marker: Marker {} could not be found.",
                rest.trim_end_matches("] not found")
            )),
            None => e,
        })?;
    let specs = st.svc.allowed(
        &caller,
        Rule::FlavorSpecsIndex,
        &crate::app::target(caller.project(), caller.user()),
    );
    let items: Vec<Value> = page
        .iter()
        .map(|f| render(&st, f, mv, detail, specs))
        .collect();
    let mut body = json!({"flavors": items});
    if let Some(n) = next {
        body["flavors_links"] = n;
    }
    Ok(Json(body))
}

pub async fn flavor_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    list(st, ctx, mv, q, false).await
}

pub async fn flavor_detail(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    list(st, ctx, mv, q, true).await
}

fn one(st: &ApiState, caller: &crate::app::Caller, f: &Flavor, mv: Version) -> Json<Value> {
    let specs = st.svc.allowed(
        caller,
        Rule::FlavorSpecsIndex,
        &crate::app::target(caller.project(), caller.user()),
    );
    Json(json!({"flavor": render(st, f, mv, true, specs)}))
}

pub async fn flavor_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let f = st.svc.flavor_show(&caller, &id).await?;
    Ok(one(&st, &caller, &f, mv))
}

pub async fn flavor_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "flavor")?;
    let mut allowed = vec![
        "name",
        "id",
        "ram",
        "vcpus",
        "disk",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
    ];
    if mv.at_least(2, 55) {
        allowed.push("description");
    }
    o.only(&allowed)?;
    let name = o
        .name("name")?
        .ok_or_else(|| Error::bad_request("'name' is a required property"))?;
    let id = match o.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty()
                || s.len() > 255
                || !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_. ".contains(c))
            {
                return Err(validate::invalid(
                    "id",
                    &json!(s),
                    format!("'{s}' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'"),
                ));
            }
            Some(
                types::FlavorId::parse(s)
                    .map_err(|_| validate::invalid("id", &json!(s), "is not a valid flavor id"))?,
            )
        }
        Some(Value::Number(n)) => Some(
            types::FlavorId::parse(&n.to_string())
                .map_err(|_| validate::invalid("id", &json!(n), "is not a valid flavor id"))?,
        ),
        Some(other) => {
            return Err(validate::invalid(
                "id",
                other,
                "is not of type 'string', 'null'",
            ))
        }
    };
    let required = |k: &str, min: i64| -> Result<i64, Error> {
        o.int(k, min, DB_MAX_INT)?
            .ok_or_else(|| Error::bad_request(format!("'{k}' is a required property")))
    };
    let ram = required("ram", 1)?;
    let vcpus = required("vcpus", 1)?;
    let disk = required("disk", 0)?;
    let ephemeral = o
        .int("OS-FLV-EXT-DATA:ephemeral", 0, DB_MAX_INT)?
        .unwrap_or(0);
    let swap = match o.get("swap") {
        Some(Value::String(s)) if s.is_empty() => 0,
        _ => o.int("swap", 0, DB_MAX_INT)?.unwrap_or(0),
    };
    let rxtx_factor = match o.get("rxtx_factor") {
        None => 1.0,
        Some(v @ Value::Number(n)) => {
            let f = n.as_f64().unwrap_or(0.0);
            if f <= 0.0 {
                return Err(validate::invalid(
                    "rxtx_factor",
                    v,
                    format!("{f} is less than or equal to the minimum of 0"),
                ));
            }
            f
        }
        Some(v @ Value::String(s)) => {
            s.parse::<f64>().ok().filter(|f| *f > 0.0).ok_or_else(|| {
                validate::invalid("rxtx_factor", v, format!("'{s}' is not of type 'number'"))
            })?
        }
        Some(v) => {
            return Err(validate::invalid(
                "rxtx_factor",
                v,
                "is not of type 'number'",
            ))
        }
    };
    let is_public = o.boolean("os-flavor-access:is_public")?.unwrap_or(true);
    let description = o.string("description", 0, 65535, true)?;
    let caller = st.svc.caller(&ctx.0);
    let f = st
        .svc
        .flavor_create(
            &caller,
            FlavorCreate {
                id,
                name,
                ram,
                vcpus,
                disk,
                ephemeral,
                swap,
                rxtx_factor,
                is_public,
                description,
            },
        )
        .await?;
    Ok(one(&st, &caller, &f, mv))
}

pub async fn flavor_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    if !mv.at_least(2, 55) {
        return Err(Error::new(
            api_common::ErrorKind::MethodNotAllowed,
            "The method is not allowed for this resource.",
        ));
    }
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "flavor")?;
    o.only(&["description"])?;
    o.required("description")?;
    let description = o.string("description", 0, 65535, true)?;
    let caller = st.svc.caller(&ctx.0);
    let f = st.svc.flavor_update(&caller, &id, description).await?;
    Ok(one(&st, &caller, &f, mv))
}

pub async fn flavor_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.flavor_delete(&caller, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn specs_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    Ok(Json(
        json!({"extra_specs": st.svc.flavor_specs(&caller, &id).await?}),
    ))
}

fn spec_key_ok(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 255
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c))
}

pub async fn specs_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "extra_specs")?;
    let specs = validate::string_map(&o)?;
    if let Some(bad) = specs.keys().find(|k| !spec_key_ok(k)) {
        return Err(validate::invalid(
            "extra_specs",
            &json!(bad),
            format!("'{bad}' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{{1,255}}$'"),
        ));
    }
    let caller = st.svc.caller(&ctx.0);
    let specs = st
        .svc
        .flavor_set_specs(&caller, &id, specs, Rule::FlavorSpecsCreate)
        .await?;
    Ok(Json(json!({"extra_specs": specs})))
}

pub async fn spec_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let value = st.svc.flavor_spec(&caller, &id, &key).await?;
    Ok(Json(json!({ key: value })))
}

pub async fn spec_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::Obj::top(&v)?;
    let specs = validate::string_map(&o)?;
    if specs.len() > 1 {
        return Err(Error::bad_request("Request body contains too many items"));
    }
    if !specs.contains_key(&key) {
        return Err(Error::bad_request("Request body and URI mismatch"));
    }
    let caller = st.svc.caller(&ctx.0);
    let specs = st
        .svc
        .flavor_set_specs(&caller, &id, specs, Rule::FlavorSpecsUpdate)
        .await?;
    Ok(Json(Value::Object(
        specs
            .into_iter()
            .map(|(k, v)| (k, json!(v)))
            .collect::<Map<_, _>>(),
    )))
}

pub async fn spec_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.flavor_delete_spec(&caller, &id, &key).await?;
    Ok(StatusCode::ACCEPTED)
}

fn access_body(flavor: &types::FlavorId, projects: &[String]) -> Json<Value> {
    let items: Vec<Value> = projects
        .iter()
        .map(|p| json!({"flavor_id": flavor, "tenant_id": p}))
        .collect();
    Json(json!({ "flavor_access": items }))
}

pub async fn access_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let (f, projects) = st.svc.flavor_access(&caller, &id).await?;
    Ok(access_body(&f, &projects))
}

/// `addTenantAccess` / `removeTenantAccess`.
pub async fn flavor_action(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let top = validate::Obj::top(&v)?;
    let (add, key) = if top.has("addTenantAccess") {
        (true, "addTenantAccess")
    } else if top.has("removeTenantAccess") {
        (false, "removeTenantAccess")
    } else {
        return Err(Error::bad_request("There is no such action: flavor"));
    };
    let o = validate::root(&v, key)?;
    o.only(&["tenant"])?;
    let tenant = o
        .string("tenant", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'tenant' is a required property"))?;
    let caller = st.svc.caller(&ctx.0);
    let (f, projects) = st
        .svc
        .flavor_access_change(&caller, &id, &tenant, add)
        .await?;
    Ok(access_body(&f, &projects))
}

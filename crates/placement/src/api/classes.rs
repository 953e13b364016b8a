//! Resource classes and traits.

use api_common::{microversion::Version, Ctx, Error, Result};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{json, Value};

use super::{body, json_at, no_content, query, since, with_location, St};
use crate::model::{ResourceClass, TraitNames};

fn render_class(rc: &ResourceClass) -> Value {
    json!({
        "name": rc.name,
        "links": [{"rel": "self", "href": format!("/resource_classes/{}", rc.name)}],
    })
}

pub async fn class_list(State(st): State<St>, ctx: Ctx, v: Version) -> Result<Response> {
    since(v, 1, 2)?;
    let list = st.classes(&ctx).await?;
    let rendered: Vec<Value> = list.iter().map(render_class).collect();
    Ok(json_at(
        v,
        StatusCode::OK,
        json!({"resource_classes": rendered}),
    ))
}

pub async fn class_show(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(name): Path<String>,
) -> Result<Response> {
    since(v, 1, 2)?;
    let rc = st.class(&ctx, &name).await?;
    Ok(json_at(v, StatusCode::OK, render_class(&rc)))
}

pub async fn class_create(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    bytes: Bytes,
) -> Result<Response> {
    since(v, 1, 2)?;
    let doc = body::parse(&bytes)?;
    let m = body::object(&doc, &["name"], &["name"])?;
    let name = body::string(&m["name"])?;
    st.class_create(&ctx, name).await?;
    Ok(with_location(
        StatusCode::CREATED.into_response(),
        &format!("/resource_classes/{name}"),
    ))
}

pub async fn class_update(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<Response> {
    since(v, 1, 2)?;
    if v.at_least(1, 7) {
        let created = st.class_ensure(&ctx, &name).await?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        };
        return Ok(with_location(
            status.into_response(),
            &format!("/resource_classes/{name}"),
        ));
    }
    let doc = body::parse(&bytes)?;
    let m = body::object(&doc, &["name"], &["name"])?;
    let new = body::string(&m["name"])?;
    let rc = st.class_rename(&ctx, &name, new).await?;
    Ok(json_at(v, StatusCode::OK, render_class(&rc)))
}

pub async fn class_delete(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(name): Path<String>,
) -> Result<Response> {
    since(v, 1, 2)?;
    st.class_delete(&ctx, &name).await?;
    Ok(no_content())
}

pub async fn trait_list(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    since(v, 1, 6)?;
    let q = query::Query::parse(raw.as_deref());
    q.only(|k| matches!(k, "name" | "associated"))?;
    let names = match q.one("name")? {
        None => TraitNames::All,
        Some(n) => {
            if let Some(list) = n.strip_prefix("in:") {
                TraitNames::In(list.split(',').map(|t| t.trim().to_owned()).collect())
            } else if let Some(p) = n.strip_prefix("startswith:") {
                TraitNames::StartsWith(p.to_owned())
            } else {
                return Err(Error::bad_request(format!(
                    "Badly formatted name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: \"{n}\""
                )));
            }
        }
    };
    let associated = match q.one("associated")? {
        None => None,
        Some(a) if a.eq_ignore_ascii_case("true") => Some(true),
        Some(a) if a.eq_ignore_ascii_case("false") => Some(false),
        Some(a) => {
            return Err(Error::bad_request(format!(
                "The query parameter \"associated\" only accepts \"true\" or \"false\". Got: {a}"
            )))
        }
    };
    let traits = st.traits(&ctx, names, associated).await?;
    Ok(json_at(v, StatusCode::OK, json!({"traits": traits})))
}

pub async fn trait_show(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(name): Path<String>,
) -> Result<Response> {
    since(v, 1, 6)?;
    st.trait_show(&ctx, &name).await?;
    let mut r = no_content();
    if v.at_least(1, 15) {
        super::fresh(&mut r);
    }
    Ok(r)
}

pub async fn trait_update(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(name): Path<String>,
) -> Result<Response> {
    since(v, 1, 6)?;
    let created = st.trait_ensure(&ctx, &name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    };
    Ok(with_location(
        status.into_response(),
        &format!("/traits/{name}"),
    ))
}

pub async fn trait_delete(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    Path(name): Path<String>,
) -> Result<Response> {
    since(v, 1, 6)?;
    st.trait_delete(&ctx, &name).await?;
    Ok(no_content())
}

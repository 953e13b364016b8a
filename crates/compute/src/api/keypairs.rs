//! os-keypairs.

use api_common::{microversion::Version, Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

use super::{paging::Query, validate, ApiState};
use crate::{app::keypairs::KeypairCreate, model::Keypair};

type JsonResult = Result<Json<Value>, Error>;

fn render(k: &Keypair, mv: Version, full: bool) -> Value {
    let mut v = json!({
        "name": k.name,
        "public_key": k.public_key,
        "fingerprint": k.fingerprint,
    });
    if mv.at_least(2, 2) {
        v["type"] = json!(k.kind);
    }
    if full {
        v["user_id"] = json!(k.user_id);
        v["created_at"] = json!(k.created_at.trim_end_matches('Z'));
        v["deleted"] = json!(false);
        v["deleted_at"] = json!(null);
        v["updated_at"] = json!(null);
        v["id"] = json!(k.id);
    }
    v
}

/// `?user_id=` (2.10, admins by policy).
fn user_param(q: &Query, mv: Version) -> Option<String> {
    q.get("user_id")
        .filter(|_| mv.at_least(2, 10))
        .map(str::to_owned)
}

fn name_ok(name: &str, mv: Version) -> bool {
    let extra: &[char] = if mv.at_least(2, 92) {
        &[' ', '_', '-', '.', '@']
    } else {
        &[' ', '_', '-']
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

pub async fn keypair_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    body: Bytes,
) -> Result<Response, Error> {
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "keypair")?;
    let mut allowed = vec!["name", "public_key"];
    if mv.at_least(2, 2) {
        allowed.push("type");
    }
    if mv.at_least(2, 10) {
        allowed.push("user_id");
    }
    o.only(&allowed)?;
    let name = o
        .string("name", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'name' is a required property"))?;
    if !name_ok(&name, mv) {
        return Err(if mv.at_least(2, 92) {
            validate::invalid(
                "name",
                &json!(name),
                format!("'{name}' does not match '^[a-zA-Z0-9 @._-]+$'"),
            )
        } else {
            Error::bad_request("Keypair data is invalid: Keypair name contains unsafe characters")
        });
    }
    let kind = match o.string("type", 1, 255, false)? {
        Some(t) if t == "ssh" || t == "x509" => t,
        Some(t) => {
            return Err(validate::invalid(
                "type",
                &json!(t),
                format!("'{t}' is not one of ['ssh', 'x509']"),
            ))
        }
        None => "ssh".into(),
    };
    let public_key = o.string("public_key", 0, 65535, false)?;
    if public_key.is_none() && mv.at_least(2, 92) {
        return Err(Error::bad_request("Invalid input for field/attribute keypair. Value: {}. 'public_key' is a required property"));
    }
    let caller = st.svc.caller(&ctx.0);
    let (k, private) = st
        .svc
        .keypair_create(
            &caller,
            KeypairCreate {
                name,
                kind,
                public_key,
                user_id: o.string("user_id", 1, 255, false)?,
            },
        )
        .await?;
    let mut body = render(&k, mv, false);
    body["user_id"] = json!(k.user_id);
    if let Some(p) = private {
        body["private_key"] = json!(p);
    }
    let status = if mv.at_least(2, 2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"keypair": body}))).into_response())
}

pub async fn keypair_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let caller = st.svc.caller(&ctx.0);
    let user = user_param(&q, mv);
    let keys = st.svc.keypair_list(&caller, user.as_deref()).await?;
    let (page, next) = if mv.at_least(2, 35) {
        let url = format!("{}/v2.1/os-keypairs", st.base);
        q.page(keys, st.svc.cfg.max_limit, |k| k.name.clone(), &url)
            .map_err(|e| match e.message.strip_prefix("marker [") {
                Some(rest) => Error::bad_request(format!(
                    "Marker {} could not be found.",
                    rest.trim_end_matches("] not found")
                )),
                None => e,
            })?
    } else {
        (keys, None)
    };
    let items: Vec<Value> = page
        .iter()
        .map(|k| json!({"keypair": render(k, mv, false)}))
        .collect();
    let mut body = json!({"keypairs": items});
    if let Some(n) = next {
        body["keypairs_links"] = n;
    }
    Ok(Json(body))
}

pub async fn keypair_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let caller = st.svc.caller(&ctx.0);
    let k = st
        .svc
        .keypair_show(&caller, &name, user_param(&q, mv).as_deref())
        .await?;
    Ok(Json(json!({"keypair": render(&k, mv, true)})))
}

pub async fn keypair_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<StatusCode, Error> {
    let q = Query::parse(q.as_deref())?;
    let caller = st.svc.caller(&ctx.0);
    st.svc
        .keypair_delete(&caller, &name, user_param(&q, mv).as_deref())
        .await?;
    Ok(if mv.at_least(2, 2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}

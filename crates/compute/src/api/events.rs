//! `POST /os-server-external-events`: what the Networking service tells Compute about
//! a server's ports.

use api_common::{microversion::Version, Ctx, Error};
use axum::{body::Bytes, extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::{json, Value};

use super::{validate, ApiState};
use crate::app::external_events::{ExternalEvent, EVENT_NAMES};

const STATUSES: &[&str] = &["failed", "completed", "in-progress"];

fn one_of(field: &str, v: &Value, allowed: &[&str]) -> Error {
    let list: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    validate::invalid(field, v, format!("{v} is not one of [{}]", list.join(", ")))
}

fn event(mv: Version, v: &Value) -> Result<ExternalEvent, Error> {
    let o = validate::Obj::top(v)?;
    o.only(&["server_uuid", "name", "status", "tag"])?;
    let names: Vec<&str> = EVENT_NAMES
        .iter()
        .filter(|(_, (major, minor))| mv.at_least(*major, *minor))
        .map(|(n, _)| *n)
        .collect();
    let name = o.required("name")?;
    let name = match name.as_str() {
        Some(n) if names.contains(&n) => n.to_owned(),
        _ => return Err(one_of("name", name, &names)),
    };
    let server_uuid = o.required("server_uuid")?;
    let server_uuid = match server_uuid.as_str() {
        Some(u) if uuid::Uuid::try_parse(u).is_ok() => u.to_owned(),
        _ => {
            return Err(validate::invalid(
                "server_uuid",
                server_uuid,
                format!("{server_uuid} is not a 'uuid'"),
            ))
        }
    };
    let status = match o.get("status") {
        None => "completed".to_owned(),
        Some(s) => match s.as_str() {
            Some(st) if STATUSES.contains(&st) => st.to_owned(),
            _ => return Err(one_of("status", s, STATUSES)),
        },
    };
    Ok(ExternalEvent {
        name,
        server_uuid,
        tag: o.string("tag", 0, 255, false)?,
        status,
    })
}

pub async fn create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    body: Bytes,
) -> Result<impl IntoResponse, Error> {
    let v = validate::parse(&body)?;
    let o = validate::Obj::top(&v)?;
    o.only(&["events"])?;
    let list = o.array("events")?.ok_or_else(|| {
        Error::bad_request(
            "Invalid input for field/attribute events. 'events' is a required property",
        )
    })?;
    if list.is_empty() {
        return Err(validate::invalid("events", &json!([]), "[] is too short"));
    }
    let events = list
        .iter()
        .map(|e| event(mv, e))
        .collect::<Result<Vec<_>, _>>()?;
    let caller = st.svc.caller(&ctx.0);
    let outcomes = st.svc.external_events(&caller, events).await?;
    if outcomes.iter().all(|o| o.code == 404) {
        return Err(Error::not_found("No instances found for any event"));
    }
    let status = if outcomes.iter().all(|o| o.code == 200) {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    let rendered: Vec<Value> = outcomes
        .into_iter()
        .map(|o| {
            let mut e = json!({
                "server_uuid": o.event.server_uuid,
                "name": o.event.name,
                "status": if o.code == 200 { o.event.status } else { "failed".to_owned() },
                "code": o.code,
            });
            if let Some(t) = o.event.tag {
                e["tag"] = json!(t);
            }
            e
        })
        .collect();
    Ok((status, Json(json!({"events": rendered}))))
}

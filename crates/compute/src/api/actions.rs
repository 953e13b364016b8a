//! `POST /servers/{id}/action`, os-instance-actions, os-interface, remote consoles and a
//! server's security groups.

use api_common::{microversion::Version, request_id::RequestId, Ctx, Error};
use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension, Json,
};
use base64::Engine as _;
use serde_json::{json, Value};
use types::{FlavorId, NetworkId};

use super::{paging::Query, servers::one, validate, validate::Obj, ApiState};
use crate::{
    app::{InterfaceRequest, ServerAction},
    model::{InstanceAction, PortInfo, VmState},
    Compute,
};

type JsonResult = Result<Json<Value>, Error>;

fn unknown_action() -> Error {
    Error::bad_request("There is no such action.")
}

/// The one action a body names (`{"os-stop": null}`).
fn action_of(v: &Value) -> Result<(&str, &Value), Error> {
    let m = v.as_object().ok_or_else(unknown_action)?;
    if m.len() != 1 {
        return Err(Error::bad_request("Malformed request body"));
    }
    let (k, inner) = m.iter().next().expect("one entry");
    Ok((k.as_str(), inner))
}

fn inner_obj<'a>(v: &'a Value, key: &str) -> Result<Obj<'a>, Error> {
    validate::root(v, key)
}

fn admin_pass(o: &Obj) -> Result<Option<String>, Error> {
    o.string("adminPass", 0, 255, false)
}

pub async fn server_action(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let v = validate::parse(&body)?;
    let (name, inner) = action_of(&v)?;
    let caller = st.svc.caller(&ctx.0);
    let svc = &st.svc;
    let rid = rid.0.as_str();
    let accepted = || Ok(StatusCode::ACCEPTED.into_response());
    match name {
        "os-stop" => {
            svc.server_act(&caller, &id, ServerAction::Stop, rid)
                .await?;
            accepted()
        }
        "os-start" => {
            svc.server_act(&caller, &id, ServerAction::Start, rid)
                .await?;
            accepted()
        }
        "reboot" => {
            let o = inner_obj(&v, "reboot")?;
            o.only(&["type"])?;
            let t = o.required("type")?;
            let hard = match t.as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("HARD") => true,
                Some("SOFT") => false,
                _ => {
                    return Err(validate::invalid(
                        "type",
                        t,
                        format!(
                            "{t} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']"
                        ),
                    ))
                }
            };
            svc.server_act(&caller, &id, ServerAction::Reboot { hard }, rid)
                .await?;
            accepted()
        }
        "pause" => {
            svc.server_act(&caller, &id, ServerAction::Pause, rid)
                .await?;
            accepted()
        }
        "unpause" => {
            svc.server_act(&caller, &id, ServerAction::Unpause, rid)
                .await?;
            accepted()
        }
        "suspend" => {
            svc.server_act(&caller, &id, ServerAction::Suspend, rid)
                .await?;
            accepted()
        }
        "resume" => {
            svc.server_act(&caller, &id, ServerAction::Resume, rid)
                .await?;
            accepted()
        }
        "rescue" => {
            let (pass, image) = match inner {
                Value::Null => (None, None),
                _ => {
                    let o = inner_obj(&v, "rescue")?;
                    o.only(&["adminPass", "rescue_image_ref"])?;
                    let image = match o.string("rescue_image_ref", 1, 255, false)? {
                        Some(r) => Some(Compute::image_ref(&r)?),
                        None => None,
                    };
                    (admin_pass(&o)?, image)
                }
            };
            let pass =
                pass.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
            svc.server_act(
                &caller,
                &id,
                ServerAction::Rescue {
                    image,
                    admin_pass: pass.clone(),
                },
                rid,
            )
            .await?;
            Ok(Json(json!({"adminPass": pass})).into_response())
        }
        "unrescue" => {
            svc.server_act(&caller, &id, ServerAction::Unrescue, rid)
                .await?;
            accepted()
        }
        "rebuild" => {
            let o = inner_obj(&v, "rebuild")?;
            let mut allowed = vec![
                "imageRef",
                "adminPass",
                "name",
                "metadata",
                "preserve_ephemeral",
                "accessIPv4",
                "accessIPv6",
                "OS-DCF:diskConfig",
            ];
            if !mv.at_least(2, 57) {
                allowed.push("personality");
            }
            if mv.at_least(2, 19) {
                allowed.push("description");
            }
            if mv.at_least(2, 54) {
                allowed.push("key_name");
            }
            if mv.at_least(2, 57) {
                allowed.push("user_data");
            }
            if mv.at_least(2, 90) {
                allowed.push("hostname");
            }
            o.only(&allowed)?;
            let image = match o.required("imageRef")? {
                Value::String(s) => Compute::image_ref(s)?,
                other => {
                    return Err(validate::invalid(
                        "imageRef",
                        other,
                        "is not of type 'string'",
                    ))
                }
            };
            let key_name = if o.has("key_name") {
                Some(o.string("key_name", 1, 255, true)?)
            } else {
                None
            };
            let user_data = if o.has("user_data") {
                let u = o.string("user_data", 0, usize::MAX, true)?;
                if let Some(u) = &u {
                    base64::engine::general_purpose::STANDARD
                        .decode(u.trim())
                        .map_err(|_| {
                            validate::invalid(
                                "user_data",
                                &json!(u),
                                format!("'{u}' is not a 'base64'"),
                            )
                        })?;
                }
                Some(u)
            } else {
                None
            };
            let pass = admin_pass(&o)?
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
            let action = ServerAction::Rebuild {
                image,
                admin_pass: Some(pass.clone()),
                metadata: o.string_map("metadata")?,
                key_name,
                user_data,
                preserve_ephemeral: o.boolean("preserve_ephemeral")?.unwrap_or(false),
            };
            let name = o.name("name")?;
            let description = if o.has("description") {
                Some(o.string("description", 0, 255, true)?)
            } else {
                None
            };
            svc.server_act(&caller, &id, action, rid).await?;
            if name.is_some() || description.is_some() {
                svc.server_update(
                    &caller,
                    &id,
                    crate::app::servers::ServerUpdate {
                        name,
                        description,
                        ..Default::default()
                    },
                )
                .await?;
            }
            let s = svc.server_show(&caller, &id).await?;
            let mut body = one(&st, &caller, &s, mv).await?;
            body["adminPass"] = json!(pass);
            Ok((StatusCode::ACCEPTED, Json(json!({"server": body}))).into_response())
        }
        "resize" => {
            let o = inner_obj(&v, "resize")?;
            o.only(&["flavorRef", "OS-DCF:diskConfig"])?;
            let f = match o.required("flavorRef")? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(validate::invalid(
                        "flavorRef",
                        other,
                        "is not of type 'string', 'integer'",
                    ))
                }
            };
            let f = f
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(&f)
                .to_owned();
            let flavor = FlavorId::parse(&f)
                .map_err(|_| Error::bad_request(format!("Flavor {f} could not be found.")))?;
            svc.server_act(&caller, &id, ServerAction::Resize { flavor }, rid)
                .await?;
            accepted()
        }
        "confirmResize" => {
            svc.server_act(&caller, &id, ServerAction::ConfirmResize, rid)
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "revertResize" => {
            svc.server_act(&caller, &id, ServerAction::RevertResize, rid)
                .await?;
            accepted()
        }
        "createImage" => {
            let o = inner_obj(&v, "createImage")?;
            o.only(&["name", "metadata"])?;
            let name = o
                .string("name", 1, 255, false)?
                .ok_or_else(|| Error::bad_request("'name' is a required property"))?;
            let metadata = o.string_map("metadata")?.unwrap_or_default();
            let (_, done) = svc
                .server_act(
                    &caller,
                    &id,
                    ServerAction::CreateImage {
                        image_id: types::ImageId::generate(),
                        name,
                        metadata,
                    },
                    rid,
                )
                .await?;
            let ServerAction::CreateImage {
                image_id: image, ..
            } = done
            else {
                return Err(Error::internal("createImage came back as another action"));
            };
            let mut headers = HeaderMap::new();
            let loc = format!("{}/images/{image}", st.svc.clients.image.base());
            if let Ok(l) = HeaderValue::from_str(&loc) {
                headers.insert(header::LOCATION, l);
            }
            if mv.at_least(2, 45) {
                Ok((StatusCode::ACCEPTED, Json(json!({"image_id": image}))).into_response())
            } else {
                Ok((StatusCode::ACCEPTED, headers).into_response())
            }
        }
        "lock" => {
            let reason = match inner {
                Value::Object(_) if mv.at_least(2, 73) => {
                    let o = inner_obj(&v, "lock")?;
                    o.only(&["locked_reason"])?;
                    o.string("locked_reason", 0, 255, false)?
                }
                Value::Null => None,
                Value::Object(m) if m.is_empty() => None,
                other => return Err(validate::invalid("lock", other, "is not of type 'null'")),
            };
            svc.server_lock(&caller, &id, Some(reason), rid).await?;
            accepted()
        }
        "unlock" => {
            svc.server_lock(&caller, &id, None, rid).await?;
            accepted()
        }
        "os-resetState" => {
            let o = inner_obj(&v, "os-resetState")?;
            o.only(&["state"])?;
            let state = match o.required("state")?.as_str() {
                Some("active") => VmState::Active,
                Some("error") => VmState::Error,
                _ => {
                    return Err(validate::invalid(
                        "state",
                        o.required("state")?,
                        "is not one of ['active', 'error']",
                    ))
                }
            };
            svc.server_reset_state(&caller, &id, state, rid).await?;
            accepted()
        }
        "forceDelete" => {
            svc.server_delete(&caller, &id, true, rid).await?;
            accepted()
        }
        "os-getConsoleOutput" => {
            let o = inner_obj(&v, "os-getConsoleOutput")?;
            o.only(&["length"])?;
            let length = match o.get("length") {
                None | Some(Value::Null) => None,
                Some(_) => o
                    .int("length", -1, i64::from(u32::MAX))?
                    .and_then(|l| u32::try_from(l).ok()),
            };
            let out = svc.console_output(&caller, &id, length).await?;
            Ok(Json(json!({"output": out})).into_response())
        }
        "os-getVNCConsole" | "os-getSPICEConsole" | "os-getSerialConsole" => {
            let o = inner_obj(&v, name)?;
            o.only(&["type"])?;
            let kind = o
                .string("type", 1, 255, false)?
                .ok_or_else(|| Error::bad_request("'type' is a required property"))?;
            let protocol = match name {
                "os-getVNCConsole" => "vnc",
                "os-getSPICEConsole" => "spice",
                _ => "serial",
            };
            let url = svc.remote_console(&caller, &id, protocol, &kind).await?;
            Ok(Json(json!({"console": {"type": kind, "url": url}})).into_response())
        }
        "addSecurityGroup" | "removeSecurityGroup" => {
            let o = inner_obj(&v, name)?;
            o.only(&["name"])?;
            let g = o
                .string("name", 1, 255, false)?
                .ok_or_else(|| Error::bad_request("'name' is a required property"))?;
            svc.server_security_group(&caller, &id, &g, name == "addSecurityGroup")
                .await?;
            accepted()
        }
        _ => Err(unknown_action()),
    }
}

/// `POST /servers/{id}/remote-consoles` (2.6).
pub async fn remote_console(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    if !mv.at_least(2, 6) {
        return Err(Error::not_found("The resource could not be found."));
    }
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "remote_console")?;
    o.only(&["protocol", "type"])?;
    let protocol = o
        .string("protocol", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'protocol' is a required property"))?;
    let kind = o
        .string("type", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'type' is a required property"))?;
    if !["vnc", "spice", "serial", "rdp", "mks"].contains(&protocol.as_str()) {
        return Err(validate::invalid(
            "protocol",
            &json!(protocol),
            "is not one of ['vnc', 'spice', 'serial', 'mks']",
        ));
    }
    let caller = st.svc.caller(&ctx.0);
    let url = st
        .svc
        .remote_console(&caller, &id, &protocol, &kind)
        .await?;
    Ok(Json(
        json!({"remote_console": {"protocol": protocol, "type": kind, "url": url}}),
    ))
}

// ------------------------------------------------------------------ os-instance-actions

fn render_action(a: &InstanceAction, mv: Version, events: Option<bool>) -> Value {
    let mut v = json!({
        "action": a.action,
        "instance_uuid": a.server_id,
        "message": a.message,
        "project_id": a.project_id,
        "request_id": a.request_id,
        "start_time": a.start_time.trim_end_matches('Z'),
        "user_id": a.user_id,
    });
    if mv.at_least(2, 58) {
        v["updated_at"] = json!(a.updated_at.trim_end_matches('Z'));
    }
    if let Some(details) = events {
        let evs: Vec<Value> = a
            .events
            .iter()
            .map(|e| {
                let mut ev = json!({
                    "event": e.event,
                    "start_time": e.start_time.trim_end_matches('Z'),
                    "finish_time": e.finish_time.as_deref().map(|t| t.trim_end_matches('Z')),
                    "result": e.result,
                });
                if details {
                    ev["traceback"] = json!(e.traceback);
                    if mv.at_least(2, 62) {
                        ev["host"] = json!(e.host.clone().unwrap_or_default());
                    }
                }
                if mv.at_least(2, 62) {
                    ev["hostId"] = json!("");
                }
                if mv.at_least(2, 84) && details {
                    ev["details"] = json!(null);
                }
                ev
            })
            .collect();
        v["events"] = json!(evs);
    }
    v
}

pub async fn action_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let caller = st.svc.caller(&ctx.0);
    let mut actions = st.svc.action_list(&caller, &id).await?;
    if mv.at_least(2, 58) {
        if let Some(since) = q.get("changes-since") {
            actions.retain(|a| a.updated_at.as_str() >= since);
        }
        if let Some(before) = q.get("changes-before").filter(|_| mv.at_least(2, 66)) {
            actions.retain(|a| a.updated_at.as_str() <= before);
        }
        let url = format!("{}/v2.1/servers/{id}/os-instance-actions", st.base);
        let (page, next) = q
            .page(
                actions,
                st.svc.cfg.max_limit,
                |a| a.request_id.clone(),
                &url,
            )
            .map_err(|e| match e.message.strip_prefix("marker [") {
                Some(rest) => Error::bad_request(format!(
                    "Marker {} could not be found.",
                    rest.trim_end_matches("] not found")
                )),
                None => e,
            })?;
        let mut body = json!({"instanceActions": page.iter().map(|a| render_action(a, mv, None)).collect::<Vec<_>>()});
        if let Some(n) = next {
            body["links"] = n;
        }
        return Ok(Json(body));
    }
    Ok(Json(
        json!({"instanceActions": actions.iter().map(|a| render_action(a, mv, None)).collect::<Vec<_>>()}),
    ))
}

pub async fn action_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path((id, req)): Path<(String, String)>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let (a, events, details) = st.svc.action_show(&caller, &id, &req).await?;
    let show = if events || mv.at_least(2, 51) {
        Some(details)
    } else {
        None
    };
    Ok(Json(json!({"instanceAction": render_action(&a, mv, show)})))
}

// ------------------------------------------------------------------ os-interface

fn render_interface(p: &PortInfo, mv: Version) -> Value {
    let mut v = json!({
        "port_id": p.port_id,
        "net_id": p.network_id,
        "mac_addr": p.mac_address,
        "port_state": if p.port_state.is_empty() { "ACTIVE" } else { p.port_state.as_str() },
        "fixed_ips": p.fixed_ips.iter().map(|f| json!({"ip_address": f.ip_address.to_string(), "subnet_id": f.subnet_id})).collect::<Vec<_>>(),
    });
    if mv.at_least(2, 70) {
        v["tag"] = json!(p.tag);
    }
    v
}

pub async fn interface_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let ports = st.svc.interface_list(&caller, &id).await?;
    Ok(Json(
        json!({"interfaceAttachments": ports.iter().map(|p| render_interface(p, mv)).collect::<Vec<_>>()}),
    ))
}

pub async fn interface_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path((id, port)): Path<(String, String)>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let p = st.svc.interface_show(&caller, &id, &port).await?;
    Ok(Json(
        json!({"interfaceAttachment": render_interface(&p, mv)}),
    ))
}

pub async fn interface_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "interfaceAttachment")?;
    let mut allowed = vec!["port_id", "net_id", "fixed_ips"];
    if mv.at_least(2, 49) {
        allowed.push("tag");
    }
    o.only(&allowed)?;
    let req = match (
        o.string("port_id", 1, 255, false)?,
        o.string("net_id", 1, 255, false)?,
    ) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_request(
                "Must not input both network_id and port_id",
            ))
        }
        (Some(p), None) => InterfaceRequest::Port(Compute::port_id(&p)?),
        (None, Some(n)) => {
            let network = NetworkId::parse(&n)
                .map_err(|_| Error::not_found(format!("Network {n} could not be found.")))?;
            let fixed_ip = match o.array("fixed_ips")? {
                Some(ips) => match ips.first().and_then(|f| f["ip_address"].as_str()) {
                    Some(ip) => Some(ip.parse().map_err(|_| {
                        Error::bad_request(format!("Invalid fixed IP address ({ip})"))
                    })?),
                    None => None,
                },
                None => None,
            };
            InterfaceRequest::Network { network, fixed_ip }
        }
        (None, None) => return Err(Error::bad_request("Must input network_id or port_id")),
    };
    let caller = st.svc.caller(&ctx.0);
    let p = st.svc.interface_attach(&caller, &id, req, &rid.0).await?;
    Ok(Json(
        json!({"interfaceAttachment": render_interface(&p, mv)}),
    ))
}

pub async fn interface_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Extension(rid): Extension<RequestId>,
    Path((id, port)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.interface_detach(&caller, &id, &port, &rid.0).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET /servers/{id}/os-security-groups`.
pub async fn server_security_groups(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let groups = st.svc.server_security_groups(&caller, &id).await?;
    Ok(Json(
        json!({"security_groups": groups.iter().map(super::proxy::nova_group).collect::<Vec<_>>()}),
    ))
}

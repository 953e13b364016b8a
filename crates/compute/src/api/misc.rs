//! Quotas, limits, availability zones, services, hypervisors, usage, aggregates, server
//! groups and extensions.

use std::collections::BTreeMap;

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
    app::{
        hosts::{ServiceChange, ServiceKey, ServiceState},
        quotas::RESOURCES,
    },
    model::Server,
    policies::Rule,
    store::hosts::{AggregateRow, NodeRow},
};

type JsonResult = Result<Json<Value>, Error>;

/// The quota resources a microversion shows (2.36 drops the network ones, 2.57 the
/// injected files).
fn shown(mv: Version) -> Vec<&'static str> {
    RESOURCES
        .iter()
        .copied()
        .filter(|r| !(mv.at_least(2, 57) && r.starts_with("injected_file")))
        .collect()
}

fn network_quotas(mv: Version, m: &mut Map<String, Value>) {
    if !mv.at_least(2, 36) {
        for (k, v) in [
            ("floating_ips", 10),
            ("fixed_ips", -1),
            ("security_groups", 10),
            ("security_group_rules", 20),
        ] {
            m.insert(k.into(), json!(v));
        }
    }
}

fn quota_set(id: &str, limits: &BTreeMap<&'static str, i64>, mv: Version) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    for r in shown(mv) {
        m.insert(r.into(), json!(limits.get(r).copied().unwrap_or(-1)));
    }
    network_quotas(mv, &mut m);
    Value::Object(m)
}

pub async fn quota_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(project): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let limits = st.svc.quota_show(&caller, &project).await?;
    Ok(Json(json!({"quota_set": quota_set(&project, &limits, mv)})))
}

pub async fn quota_detail(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(project): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let (limits, usage) = st.svc.quota_detail(&caller, &project).await?;
    let mut m = Map::new();
    m.insert("id".into(), json!(project));
    for r in shown(mv) {
        m.insert(
            r.into(),
            json!({"limit": limits.get(r).copied().unwrap_or(-1), "in_use": usage.get(r).copied().unwrap_or(0), "reserved": 0}),
        );
    }
    Ok(Json(json!({"quota_set": m})))
}

pub async fn quota_defaults(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(project): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let limits = st.svc.quota_default_set(&caller)?;
    // the defaults are everyone's: the answer names no project
    let mut body = quota_set(&project, &limits, mv);
    if let Value::Object(m) = &mut body {
        m.remove("id");
    }
    Ok(Json(json!({"quota_set": body})))
}

pub async fn quota_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(project): Path<String>,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "quota_set")?;
    let mut allowed: Vec<&str> = shown(mv);
    allowed.push("force");
    if !mv.at_least(2, 36) {
        allowed.extend([
            "floating_ips",
            "fixed_ips",
            "security_groups",
            "security_group_rules",
            "networks",
        ]);
    }
    o.only(&allowed)?;
    let force = o.boolean("force")?.unwrap_or(false);
    let mut limits = BTreeMap::new();
    for r in shown(mv) {
        if let Some(n) = o.int(r, -1, i64::from(i32::MAX))? {
            limits.insert(r.to_owned(), n);
        }
    }
    let caller = st.svc.caller(&ctx.0);
    let out = st
        .svc
        .quota_update(&caller, &project, limits, force)
        .await?;
    let mut body = quota_set(&project, &out, mv);
    if let Value::Object(m) = &mut body {
        m.remove("id");
    }
    Ok(Json(json!({"quota_set": body})))
}

pub async fn quota_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.quota_delete(&caller, &project).await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn limits(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let caller = st.svc.caller(&ctx.0);
    st.svc.authorize_own(&caller, Rule::Limits)?;
    let project = match q.get("tenant_id") {
        Some(p) if p != caller.project() => {
            st.svc.authorize_own(&caller, Rule::LimitsOtherProject)?;
            p.to_owned()
        }
        _ => caller.project().to_owned(),
    };
    let limits = st.svc.quota_limits(&project).await?;
    let usage = st.svc.quota_usage(&project, caller.user()).await?;
    let l = |r: &str| limits.get(r).copied().unwrap_or(-1);
    let u = |r: &str| usage.get(r).copied().unwrap_or(0);
    let mut absolute = json!({
        "maxServerMeta": l("metadata_items"),
        "maxTotalInstances": l("instances"),
        "maxTotalCores": l("cores"),
        "maxTotalRAMSize": l("ram"),
        "maxTotalKeypairs": l("key_pairs"),
        "maxServerGroups": l("server_groups"),
        "maxServerGroupMembers": l("server_group_members"),
        "totalInstancesUsed": u("instances"),
        "totalCoresUsed": u("cores"),
        "totalRAMUsed": u("ram"),
        "totalServerGroupsUsed": u("server_groups"),
    });
    if !mv.at_least(2, 57) {
        absolute["maxPersonality"] = json!(l("injected_files"));
        absolute["maxPersonalitySize"] = json!(l("injected_file_content_bytes"));
        absolute["maxImageMeta"] = json!(l("metadata_items"));
    }
    if !mv.at_least(2, 36) {
        for (k, v) in [
            ("maxSecurityGroups", 10),
            ("maxSecurityGroupRules", 20),
            ("maxTotalFloatingIps", 10),
            ("totalSecurityGroupsUsed", 0),
            ("totalFloatingIpsUsed", 0),
        ] {
            absolute[k] = json!(v);
        }
    }
    Ok(Json(json!({"limits": {"rate": [], "absolute": absolute}})))
}

// ------------------------------------------------------------------ availability zones

pub async fn zones(State(st): State<ApiState>, ctx: Ctx) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let zones = st.svc.zone_list(&caller, false).await?;
    let items: Vec<Value> = zones
        .iter()
        .filter(|z| z.name != "internal")
        .map(
            |z| json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": null}),
        )
        .collect();
    Ok(Json(json!({"availabilityZoneInfo": items})))
}

pub async fn zones_detail(State(st): State<ApiState>, ctx: Ctx) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let zones = st.svc.zone_list(&caller, true).await?;
    let items: Vec<Value> = zones
        .iter()
        .map(|z| {
            let mut hosts = Map::new();
            for s in &z.services {
                let entry = hosts.entry(s.row.host.clone()).or_insert_with(|| json!({}));
                entry[s.row.binary.as_str()] = json!({
                    "available": s.up && !s.row.disabled,
                    "active": !s.row.disabled,
                    "updated_at": s.row.last_seen_up.as_deref().map(|t| t.trim_end_matches('Z').to_owned()),
                });
            }
            json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": if hosts.is_empty() { Value::Null } else { Value::Object(hosts) }})
        })
        .collect();
    Ok(Json(json!({"availabilityZoneInfo": items})))
}

// ------------------------------------------------------------------ os-services

fn render_service(s: &ServiceState, mv: Version) -> Value {
    let mut v = json!({
        "id": if mv.at_least(2, 53) { json!(s.row.id) } else { json!(short_id(s.row.id.as_str())) },
        "binary": s.row.binary,
        "host": s.row.host,
        "zone": s.zone,
        "status": if s.row.disabled { "disabled" } else { "enabled" },
        "state": if s.up { "up" } else { "down" },
        "updated_at": s.row.last_seen_up.as_deref().map(|t| t.trim_end_matches('Z').to_owned()),
        "disabled_reason": s.row.disabled_reason,
    });
    if mv.at_least(2, 11) {
        v["forced_down"] = json!(s.row.forced_down);
    }
    v
}

/// A stable small integer for services and hypervisors below 2.53 (Nova's were
/// integers): the first 7 hex digits of the uuid.
fn short_id(uuid: &str) -> i64 {
    i64::from_str_radix(&uuid.replace('-', "")[..7], 16).unwrap_or(0)
}

pub async fn service_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let caller = st.svc.caller(&ctx.0);
    let list = st
        .svc
        .service_list(&caller, q.get("host"), q.get("binary"))
        .await?;
    Ok(Json(
        json!({"services": list.iter().map(|s| render_service(s, mv)).collect::<Vec<_>>()}),
    ))
}

/// `PUT /os-services/{id}` (2.53) or `PUT /os-services/{enable|disable|disable-log-reason|force-down}`.
pub async fn service_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(what): Path<String>,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::Obj::top(&v)?;
    let caller = st.svc.caller(&ctx.0);
    if mv.at_least(2, 53) {
        o.only(&["status", "disabled_reason", "forced_down"])?;
        let status = o.string("status", 1, 255, false)?;
        let disabled = match status.as_deref() {
            Some("enabled") => Some(false),
            Some("disabled") => Some(true),
            Some(other) => {
                return Err(validate::invalid(
                    "status",
                    &json!(other),
                    "is not one of ['enabled', 'disabled']",
                ))
            }
            None => None,
        };
        let reason = o.string("disabled_reason", 1, 255, false)?;
        if reason.is_some() && disabled != Some(true) {
            return Err(Error::bad_request(
                "Specifying 'disabled_reason' with status other than 'disabled' is not allowed.",
            ));
        }
        let forced_down = o.boolean("forced_down")?;
        if disabled.is_none() && forced_down.is_none() {
            return Err(Error::bad_request(
                "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
            ));
        }
        let s = st
            .svc
            .service_update(
                &caller,
                ServiceKey::Id(&what),
                ServiceChange {
                    disabled,
                    disabled_reason: reason.map(Some),
                    forced_down,
                },
            )
            .await?;
        return Ok(Json(json!({"service": render_service(&s, mv)})));
    }
    o.only(&["host", "binary", "disabled_reason", "forced_down"])?;
    let host = o
        .string("host", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'host' is a required property"))?;
    let binary = o
        .string("binary", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'binary' is a required property"))?;
    let change = match what.as_str() {
        "enable" => ServiceChange {
            disabled: Some(false),
            ..Default::default()
        },
        "disable" => ServiceChange {
            disabled: Some(true),
            ..Default::default()
        },
        "disable-log-reason" => {
            let reason = o
                .string("disabled_reason", 1, 255, false)?
                .ok_or_else(|| Error::bad_request("Missing disabled reason field"))?;
            ServiceChange {
                disabled: Some(true),
                disabled_reason: Some(Some(reason)),
                ..Default::default()
            }
        }
        "force-down" if mv.at_least(2, 11) => {
            let f = o
                .boolean("forced_down")?
                .ok_or_else(|| Error::bad_request("'forced_down' is a required property"))?;
            ServiceChange {
                forced_down: Some(f),
                ..Default::default()
            }
        }
        _ => return Err(Error::not_found("Unknown action")),
    };
    let s = st
        .svc
        .service_update(&caller, ServiceKey::HostBinary(&host, &binary), change)
        .await?;
    let mut out = json!({"host": s.row.host, "binary": s.row.binary});
    match what.as_str() {
        "force-down" => out["forced_down"] = json!(s.row.forced_down),
        _ => {
            out["status"] = json!(if s.row.disabled {
                "disabled"
            } else {
                "enabled"
            });
            if what == "disable-log-reason" {
                out["disabled_reason"] = json!(s.row.disabled_reason);
            }
        }
    }
    Ok(Json(json!({"service": out})))
}

pub async fn service_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    if mv.at_least(2, 53) {
        st.svc.service_delete(&caller, ServiceKey::Id(&id)).await?;
    } else {
        let list = st.svc.service_list(&caller, None, None).await?;
        let s = list
            .iter()
            .find(|s| short_id(s.row.id.as_str()).to_string() == id)
            .ok_or_else(|| Error::not_found(format!("Service {id} could not be found.")))?;
        st.svc
            .service_delete(&caller, ServiceKey::Id(s.row.id.as_str()))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ os-hypervisors

fn render_node(n: &NodeRow, s: Option<&ServiceState>, mv: Version, detail: bool) -> Value {
    let state = s
        .map(|s| if s.up { "up" } else { "down" })
        .unwrap_or("down");
    let status = s
        .map(|s| {
            if s.row.disabled {
                "disabled"
            } else {
                "enabled"
            }
        })
        .unwrap_or("enabled");
    let mut v = json!({
        "id": if mv.at_least(2, 53) { json!(n.id) } else { json!(short_id(n.id.as_str())) },
        "hypervisor_hostname": n.hypervisor_hostname,
        "state": state,
        "status": status,
    });
    if !detail {
        return v;
    }
    v["hypervisor_type"] = json!(n.hypervisor_type);
    v["hypervisor_version"] = json!(n.hypervisor_version);
    v["host_ip"] = json!(n.host_ip);
    v["service"] = json!({
        "host": n.host,
        "id": s.map(|s| if mv.at_least(2, 53) { json!(s.row.id) } else { json!(short_id(s.row.id.as_str())) }),
        "disabled_reason": s.and_then(|s| s.row.disabled_reason.clone()),
    });
    if mv.at_least(2, 88) {
        v["uptime"] = json!(null);
        return v;
    }
    let cpu_info: Value = serde_json::from_str(&n.cpu_info).unwrap_or(json!({}));
    for (k, val) in [
        ("vcpus", n.vcpus),
        ("memory_mb", n.memory_mb),
        ("local_gb", n.local_gb),
        ("vcpus_used", n.vcpus_used),
        ("memory_mb_used", n.memory_mb_used),
        ("local_gb_used", n.local_gb_used),
        ("free_ram_mb", n.memory_mb - n.memory_mb_used),
        ("free_disk_gb", n.local_gb - n.local_gb_used),
        ("running_vms", n.running_vms),
        ("current_workload", 0),
        ("disk_available_least", n.local_gb - n.local_gb_used),
    ] {
        v[k] = json!(val);
    }
    v["cpu_info"] = if mv.at_least(2, 28) {
        cpu_info
    } else {
        json!(n.cpu_info)
    };
    v
}

async fn nodes(
    st: &ApiState,
    ctx: &Ctx,
    rule: Rule,
) -> Result<Vec<(NodeRow, Option<ServiceState>)>, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.hypervisor_list(&caller, rule).await
}

fn hypervisor_filter(
    list: Vec<(NodeRow, Option<ServiceState>)>,
    q: &Query,
    mv: Version,
) -> Vec<(NodeRow, Option<ServiceState>)> {
    match q
        .get("hypervisor_hostname_pattern")
        .filter(|_| mv.at_least(2, 53))
    {
        Some(p) => list
            .into_iter()
            .filter(|(n, _)| n.hypervisor_hostname.contains(p))
            .collect(),
        None => list,
    }
}

/// `GET /os-hypervisors` and `/os-hypervisors/detail`.
async fn hypervisors(
    st: &ApiState,
    ctx: &Ctx,
    mv: Version,
    q: Option<&str>,
    detail: bool,
) -> JsonResult {
    let q = Query::parse(q)?;
    let rule = if detail {
        Rule::HypervisorsDetail
    } else {
        Rule::HypervisorsList
    };
    let list = hypervisor_filter(nodes(st, ctx, rule).await?, &q, mv);
    Ok(Json(
        json!({"hypervisors": list.iter().map(|(n, s)| render_node(n, s.as_ref(), mv, detail)).collect::<Vec<_>>()}),
    ))
}

pub async fn hypervisor_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    hypervisors(&st, &ctx, mv, q.as_deref(), false).await
}

pub async fn hypervisor_detail(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    hypervisors(&st, &ctx, mv, q.as_deref(), true).await
}

pub async fn hypervisor_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    let list = nodes(&st, &ctx, Rule::HypervisorsShow).await?;
    let found = list
        .iter()
        .find(|(n, _)| n.id.as_str() == id || short_id(n.id.as_str()).to_string() == id)
        .ok_or_else(|| {
            Error::not_found(format!("Hypervisor with ID '{id}' could not be found."))
        })?;
    Ok(Json(
        json!({"hypervisor": render_node(&found.0, found.1.as_ref(), mv, true)}),
    ))
}

pub async fn hypervisor_statistics(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
) -> JsonResult {
    if mv.at_least(2, 88) {
        return Err(Error::not_found("The resource could not be found."));
    }
    let list = nodes(&st, &ctx, Rule::HypervisorsStatistics).await?;
    let sum = |f: fn(&NodeRow) -> i64| list.iter().map(|(n, _)| f(n)).sum::<i64>();
    Ok(Json(json!({"hypervisor_statistics": {
        "count": list.len(),
        "vcpus": sum(|n| n.vcpus),
        "memory_mb": sum(|n| n.memory_mb),
        "local_gb": sum(|n| n.local_gb),
        "vcpus_used": sum(|n| n.vcpus_used),
        "memory_mb_used": sum(|n| n.memory_mb_used),
        "local_gb_used": sum(|n| n.local_gb_used),
        "free_ram_mb": sum(|n| n.memory_mb - n.memory_mb_used),
        "free_disk_gb": sum(|n| n.local_gb - n.local_gb_used),
        "current_workload": 0,
        "running_vms": sum(|n| n.running_vms),
        "disk_available_least": sum(|n| n.local_gb - n.local_gb_used),
    }})))
}

// ------------------------------------------------------------------ os-simple-tenant-usage

fn hours(s: &Server, start: &str, end: &str) -> f64 {
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.timestamp())
    };
    let from = parse(s.launched_at.as_deref().unwrap_or(&s.created_at)).unwrap_or(0);
    let to = s
        .terminated_at
        .as_deref()
        .and_then(parse)
        .unwrap_or_else(|| chrono::Utc::now().timestamp());
    let (a, b) = (parse(start).unwrap_or(0), parse(end).unwrap_or(i64::MAX));
    let secs = (to.min(b) - from.max(a)).max(0);
    secs as f64 / 3600.0
}

fn period(q: &Query) -> Result<(String, String), Error> {
    let fix = |k: &str, d: String| -> Result<String, Error> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => {
                let t = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f")
                    .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
                    .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f"))
                    .map_err(|_| {
                        Error::bad_request(format!(
                            "Invalid input for query parameters {k}. Value: {v}."
                        ))
                    })?;
                Ok(t.and_utc().to_rfc3339())
            }
        }
    };
    let now = chrono::Utc::now();
    let start = fix("start", (now - chrono::Duration::days(1)).to_rfc3339())?;
    let end = fix("end", now.to_rfc3339())?;
    if start > end {
        return Err(Error::bad_request(
            "Invalid start time. The start time cannot occur after the end time.",
        ));
    }
    Ok((start, end))
}

fn usage(project: &str, servers: &[Server], start: &str, end: &str, detailed: bool) -> Value {
    let mut total_hours = 0.0;
    let (mut vcpu_h, mut ram_h, mut disk_h) = (0.0, 0.0, 0.0);
    let mut items = Vec::new();
    for s in servers {
        let h = hours(s, start, end);
        if h <= 0.0 && s.terminated_at.as_deref().is_some_and(|t| t < start) {
            continue;
        }
        total_hours += h;
        vcpu_h += h * s.flavor.vcpus as f64;
        ram_h += h * s.flavor.memory_mb as f64;
        disk_h += h * (s.flavor.root_gb + s.flavor.ephemeral_gb) as f64;
        if detailed {
            items.push(json!({
                "instance_id": s.id, "name": s.name, "hours": h, "memory_mb": s.flavor.memory_mb,
                "local_gb": s.flavor.root_gb + s.flavor.ephemeral_gb, "vcpus": s.flavor.vcpus,
                "tenant_id": s.project_id, "flavor": s.flavor.name,
                "started_at": s.launched_at.as_deref().unwrap_or(&s.created_at).trim_end_matches('Z'),
                "ended_at": s.terminated_at.as_deref().map(|t| t.trim_end_matches('Z')),
                "state": if s.deleted { "terminated" } else { s.vm_state.as_str() },
                "uptime": format!("{:.0}", h * 3600.0).parse::<i64>().unwrap_or(0),
            }));
        }
    }
    let mut v = json!({
        "tenant_id": project,
        "total_hours": total_hours,
        "total_vcpus_usage": vcpu_h,
        "total_memory_mb_usage": ram_h,
        "total_local_gb_usage": disk_h,
        "start": start.trim_end_matches("+00:00"),
        "stop": end.trim_end_matches("+00:00"),
    });
    if detailed {
        v["server_usages"] = json!(items);
    }
    v
}

pub async fn usage_list(State(st): State<ApiState>, ctx: Ctx, RawQuery(q): RawQuery) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let (start, end) = period(&q)?;
    let detailed = q
        .get("detailed")
        .is_some_and(|d| d == "1" || d.eq_ignore_ascii_case("true"));
    let caller = st.svc.caller(&ctx.0);
    let servers = st.svc.usage_servers(&caller, None).await?;
    let mut by: BTreeMap<String, Vec<Server>> = BTreeMap::new();
    for s in servers {
        by.entry(s.project_id.clone()).or_default().push(s);
    }
    let items: Vec<Value> = by
        .iter()
        .map(|(p, ss)| usage(p, ss, &start, &end, detailed))
        .collect();
    Ok(Json(json!({"tenant_usages": items})))
}

pub async fn usage_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(project): Path<String>,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let (start, end) = period(&q)?;
    let caller = st.svc.caller(&ctx.0);
    let servers = st.svc.usage_servers(&caller, Some(&project)).await?;
    if servers.is_empty() {
        return Ok(Json(json!({"tenant_usage": {}})));
    }
    Ok(Json(
        json!({"tenant_usage": usage(&project, &servers, &start, &end, true)}),
    ))
}

// ------------------------------------------------------------------ os-aggregates

fn render_aggregate(a: &AggregateRow, mv: Version) -> Value {
    let mut v = json!({
        "id": a.id,
        "name": a.name,
        "availability_zone": a.metadata.get("availability_zone"),
        "hosts": a.hosts,
        "metadata": a.metadata,
        "created_at": a.created_at.trim_end_matches('Z'),
        "updated_at": a.updated_at.as_deref().map(|t| t.trim_end_matches('Z')),
        "deleted": false,
        "deleted_at": null,
    });
    if mv.at_least(2, 41) {
        v["uuid"] = json!(a.uuid);
    }
    v
}

pub async fn aggregate_list(State(st): State<ApiState>, ctx: Ctx, mv: Version) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let list = st.svc.aggregate_list(&caller).await?;
    Ok(Json(
        json!({"aggregates": list.iter().map(|a| render_aggregate(a, mv)).collect::<Vec<_>>()}),
    ))
}

pub async fn aggregate_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "aggregate")?;
    o.only(&["name", "availability_zone"])?;
    let name = o
        .string("name", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'name' is a required property"))?;
    let zone = o.string("availability_zone", 1, 255, true)?;
    let caller = st.svc.caller(&ctx.0);
    let a = st
        .svc
        .aggregate_create(&caller, &name, zone.as_deref())
        .await?;
    let mut body = render_aggregate(&a, mv);
    if let Value::Object(m) = &mut body {
        m.remove("hosts");
        m.remove("metadata");
    }
    Ok(Json(json!({"aggregate": body})))
}

pub async fn aggregate_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    Ok(Json(
        json!({"aggregate": render_aggregate(&st.svc.aggregate_show(&caller, &id).await?, mv)}),
    ))
}

pub async fn aggregate_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "aggregate")?;
    o.only(&["name", "availability_zone"])?;
    let name = o.string("name", 1, 255, false)?;
    let zone = if o.has("availability_zone") {
        Some(o.string("availability_zone", 1, 255, true)?)
    } else {
        None
    };
    if name.is_none() && zone.is_none() {
        return Err(Error::bad_request("Invalid input for field/attribute aggregate. Value: {}. {} does not have enough properties"));
    }
    let caller = st.svc.caller(&ctx.0);
    let a = st
        .svc
        .aggregate_update(
            &caller,
            &id,
            name.as_deref(),
            zone.as_ref().map(|z| z.as_deref()),
        )
        .await?;
    Ok(Json(json!({"aggregate": render_aggregate(&a, mv)})))
}

pub async fn aggregate_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.aggregate_delete(&caller, &id).await?;
    Ok(StatusCode::OK)
}

pub async fn aggregate_action(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let caller = st.svc.caller(&ctx.0);
    let a = if v.get("add_host").is_some() || v.get("remove_host").is_some() {
        let add = v.get("add_host").is_some();
        let o = validate::root(&v, if add { "add_host" } else { "remove_host" })?;
        o.only(&["host"])?;
        let host = o
            .string("host", 1, 255, false)?
            .ok_or_else(|| Error::bad_request("'host' is a required property"))?;
        st.svc.aggregate_host(&caller, &id, &host, add).await?
    } else if v.get("set_metadata").is_some() {
        let o = validate::root(&v, "set_metadata")?;
        o.only(&["metadata"])?;
        let m = o
            .object("metadata")?
            .ok_or_else(|| Error::bad_request("'metadata' is a required property"))?;
        let mut items = Vec::new();
        for (k, val) in m.map {
            match val {
                Value::Null => items.push((k.clone(), None)),
                Value::String(s) => items.push((k.clone(), Some(s.clone()))),
                other => {
                    return Err(validate::invalid(
                        k,
                        other,
                        "is not of type 'string', 'null'",
                    ))
                }
            }
        }
        st.svc.aggregate_set_metadata(&caller, &id, items).await?
    } else {
        return Err(Error::bad_request("There is no such action."));
    };
    Ok(Json(json!({"aggregate": render_aggregate(&a, mv)})))
}

// ------------------------------------------------------------------ os-server-groups

fn render_group(g: &crate::model::ServerGroup, mv: Version) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "members": g.members,
        "metadata": {},
    });
    if mv.at_least(2, 64) {
        v["policy"] = json!(g.policy);
        v["rules"] = Value::Object(g.rules.clone());
        if let Value::Object(m) = &mut v {
            m.remove("metadata");
        }
    } else {
        v["policies"] = json!([g.policy]);
    }
    if mv.at_least(2, 13) {
        v["project_id"] = json!(g.project_id);
        v["user_id"] = json!(g.user_id);
    }
    v
}

pub async fn group_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let all = q
        .get("all_projects")
        .is_some_and(|v| v.is_empty() || v == "1" || v.eq_ignore_ascii_case("true"));
    let caller = st.svc.caller(&ctx.0);
    let list = st.svc.group_list(&caller, all).await?;
    let url = format!("{}/v2.1/os-server-groups", st.base);
    let offset: usize = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let list: Vec<_> = list.into_iter().skip(offset).collect();
    let (page, _) = q.page(list, st.svc.cfg.max_limit, |g| g.id.to_string(), &url)?;
    Ok(Json(
        json!({"server_groups": page.iter().map(|g| render_group(g, mv)).collect::<Vec<_>>()}),
    ))
}

pub async fn group_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    Ok(Json(
        json!({"server_group": render_group(&st.svc.group_show(&caller, &id).await?, mv)}),
    ))
}

pub async fn group_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "server_group")?;
    let (policy, rules) = if mv.at_least(2, 64) {
        o.only(&["name", "policy", "rules"])?;
        let p = o
            .string("policy", 1, 255, false)?
            .ok_or_else(|| Error::bad_request("'policy' is a required property"))?;
        let rules = o
            .object("rules")?
            .map(|r| r.map.clone())
            .unwrap_or_default();
        for (k, val) in &rules {
            if k != "max_server_per_host" {
                return Err(validate::invalid(
                    "rules",
                    &Value::Object(rules.clone()),
                    format!("Additional properties are not allowed ('{k}' was unexpected)"),
                ));
            }
            if val.as_i64().is_none_or(|n| n < 1) {
                return Err(validate::invalid(
                    "max_server_per_host",
                    val,
                    "is not a positive integer",
                ));
            }
            if p != "anti-affinity" {
                return Err(Error::bad_request(
                    "Only anti-affinity policy supports \"max_server_per_host\" rule.",
                ));
            }
        }
        (p, rules)
    } else {
        o.only(&["name", "policies"])?;
        let ps = o
            .array("policies")?
            .ok_or_else(|| Error::bad_request("'policies' is a required property"))?;
        if ps.len() != 1 {
            return Err(validate::invalid(
                "policies",
                &json!(ps),
                "does not have exactly one item",
            ));
        }
        let p = ps[0].as_str().unwrap_or("").to_owned();
        if !mv.at_least(2, 15) && p.starts_with("soft-") {
            return Err(validate::invalid(
                "0",
                &json!(p),
                "is not one of ['anti-affinity', 'affinity']",
            ));
        }
        (p, Map::new())
    };
    if !crate::app::groups::POLICIES.contains(&policy.as_str()) {
        return Err(validate::invalid(
            "policy",
            &json!(policy),
            format!(
                "'{policy}' is not one of {:?}",
                crate::app::groups::POLICIES
            ),
        ));
    }
    let name = o
        .string("name", 1, 255, false)?
        .ok_or_else(|| Error::bad_request("'name' is a required property"))?;
    let caller = st.svc.caller(&ctx.0);
    let g = st.svc.group_create(&caller, name, policy, rules).await?;
    Ok(Json(json!({"server_group": render_group(&g, mv)})))
}

pub async fn group_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.group_delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ extensions

const EXTENSIONS: &[(&str, &str)] = &[
    ("os-availability-zone", "AvailabilityZone"),
    ("os-flavor-access", "FlavorAccess"),
    ("os-flavor-extra-specs", "FlavorExtraSpecs"),
    ("os-flavor-manage", "FlavorManage"),
    ("os-keypairs", "Keypairs"),
    ("os-quota-sets", "Quotas"),
    ("os-server-groups", "ServerGroups"),
    ("os-services", "Services"),
    ("os-hypervisors", "Hypervisors"),
    ("os-aggregates", "Aggregates"),
    ("os-instance-actions", "InstanceActions"),
    ("os-attach-interfaces", "AttachInterfaces"),
    ("os-simple-tenant-usage", "SimpleTenantUsage"),
    ("os-extended-server-attributes", "ExtendedServerAttributes"),
];

fn ext(alias: &str, name: &str) -> Value {
    json!({"alias": alias, "name": name, "namespace": format!("http://docs.openstack.org/compute/ext/fake_xml"),
           "description": name, "links": [], "updated": "2014-12-03T00:00:00Z"})
}

pub async fn extensions(State(st): State<ApiState>, ctx: Ctx) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    st.svc.authorize_own(&caller, Rule::Extensions)?;
    Ok(Json(
        json!({"extensions": EXTENSIONS.iter().map(|(a, n)| ext(a, n)).collect::<Vec<_>>()}),
    ))
}

pub async fn extension_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(alias): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    st.svc.authorize_own(&caller, Rule::Extensions)?;
    let (a, n) = EXTENSIONS
        .iter()
        .find(|(a, _)| *a == alias)
        .ok_or_else(|| Error::not_found(format!("Extension {alias} could not be found.")))?;
    Ok(Json(json!({"extension": ext(a, n)})))
}

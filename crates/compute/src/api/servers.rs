//! Servers: create, list, show, update, delete.

use std::collections::BTreeMap;

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
use types::{NetworkId, PortId};

use super::{
    paging::Query,
    render::{self, Extra, Sees},
    validate::{self, Obj},
    ApiState,
};
use crate::{
    app::{
        servers::{ServerCreate, ServerFilter, ServerUpdate},
        Caller,
    },
    model::{
        vm_states_of_status, BlockDevice, NetworkRequest, RequestedNetwork, Server, TaskState,
        VmState,
    },
    policies::Rule,
    Compute,
};

type JsonResult = Result<Json<Value>, Error>;

/// What the caller may see of servers.
pub fn sees(svc: &Compute, caller: &Caller, s: Option<&Server>) -> Sees {
    let t = match s {
        Some(s) => crate::app::target(&s.project_id, &s.user_id),
        None => crate::app::target(caller.project(), caller.user()),
    };
    Sees {
        extended: svc.allowed(caller, Rule::ExtendedAttributes, &t),
        flavor_specs: svc.allowed(caller, Rule::ServersShowFlavorExtraSpecs, &t),
        fault_details: caller.admin,
    }
}

async fn extra(
    st: &ApiState,
    caller: &Caller<'_>,
    s: &Server,
    mv: Version,
    groups: bool,
) -> Result<Extra, Error> {
    let mut e = Extra::default();
    if mv.at_least(2, 16)
        && st.svc.allowed(
            caller,
            Rule::ServersShowHostStatus,
            &crate::app::target(&s.project_id, &s.user_id),
        )
    {
        e.host_status = Some(match &s.host {
            Some(h) => st.svc.host_status(h).await?.unwrap_or("UNKNOWN").to_owned(),
            None => String::new(),
        });
    }
    if groups && mv.at_least(2, 71) {
        e.server_groups = Some(
            st.svc
                .groups_of(&s.id)
                .await?
                .iter()
                .map(|g| g.to_string())
                .collect(),
        );
    }
    Ok(e)
}

/// One server, fully rendered for the caller.
pub async fn one(
    st: &ApiState,
    caller: &Caller<'_>,
    s: &Server,
    mv: Version,
) -> Result<Value, Error> {
    let sees = sees(&st.svc, caller, Some(s));
    let extra = extra(st, caller, s, mv, true).await?;
    Ok(render::server(st, s, mv, sees, &extra))
}

fn regex(k: &str, v: &str) -> Result<regex::Regex, Error> {
    regex::Regex::new(v).map_err(|_| Error::bad_request(format!("Invalid filter {k}: {v}")))
}

fn bool_param(k: &str, v: &str) -> Result<bool, Error> {
    match v.to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(Error::bad_request(format!(
            "Invalid input for query parameters {k}. Value: {v}."
        ))),
    }
}

fn time_param(k: &str, v: &str) -> Result<String, Error> {
    let t = chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").map(|t| t.and_utc())
        })
        .map_err(|_| Error::bad_request(format!("Invalid filter field: {k}.")))?;
    Ok(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

fn tag_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn filters(q: &Query, mv: Version) -> Result<Option<ServerFilter>, Error> {
    let mut f = ServerFilter::default();
    for (k, v) in &q.pairs {
        let v = v.as_str();
        match k.as_str() {
            "all_tenants" => f.all_tenants = bool_param(k, v)?,
            "project_id" | "tenant_id" => f.project_id = Some(v.to_owned()),
            "user_id" => f.user_id = Some(v.to_owned()),
            "name" | "display_name" => f.name = Some(regex(k, v)?),
            "status" => {
                let mut states = Vec::new();
                for s in q.all("status") {
                    match vm_states_of_status(s) {
                        Some(v) => states.extend_from_slice(v),
                        None if mv.at_least(2, 38) => {
                            return Err(Error::bad_request("Invalid status value"))
                        }
                        None => return Ok(None),
                    }
                }
                f.status = Some(states);
            }
            "vm_state" => {
                f.vm_state = Some(
                    q.all("vm_state")
                        .iter()
                        .filter_map(|s| s.parse::<VmState>().ok())
                        .collect(),
                )
            }
            "task_state" => {
                f.task_state = Some(
                    q.all("task_state")
                        .iter()
                        .filter_map(|s| s.parse::<TaskState>().ok())
                        .collect(),
                )
            }
            "image" | "image_ref" => {
                f.image = Some(
                    v.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or(v)
                        .to_owned(),
                )
            }
            "flavor" => {
                f.flavor = Some(
                    v.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or(v)
                        .to_owned(),
                )
            }
            "host" | "compute_host" => f.host = Some(v.to_owned()),
            "node" => f.node = Some(v.to_owned()),
            "ip" => f.ip = Some(regex(k, v)?),
            "ip6" => f.ip6 = Some(regex(k, v)?),
            "changes-since" | "changes_since" => f.changes_since = Some(time_param(k, v)?),
            "changes-before" if mv.at_least(2, 66) => f.changes_before = Some(time_param(k, v)?),
            "reservation_id" => f.reservation_id = Some(v.to_owned()),
            "availability_zone" => f.availability_zone = Some(v.to_owned()),
            "key_name" => f.key_name = Some(v.to_owned()),
            "locked" if mv.at_least(2, 73) => f.locked = Some(bool_param(k, v)?),
            "deleted" => f.deleted = bool_param(k, v)?,
            "tags" if mv.at_least(2, 26) => f.tags = tag_list(v),
            "tags-any" if mv.at_least(2, 26) => f.tags_any = tag_list(v),
            "not-tags" if mv.at_least(2, 26) => f.not_tags = tag_list(v),
            "not-tags-any" if mv.at_least(2, 26) => f.not_tags_any = tag_list(v),
            "uuid" => f.uuid = Some(v.to_owned()),
            "description" if mv.at_least(2, 19) => f.description = Some(regex(k, v)?),
            "hostname" => f.hostname = Some(regex(k, v)?),
            _ => {} // Nova ignores filters it does not know
        }
    }
    Ok(Some(f))
}

const SORT_KEYS: &[&str] = &[
    "access_ip_v4",
    "access_ip_v6",
    "availability_zone",
    "config_drive",
    "created_at",
    "display_description",
    "display_name",
    "host",
    "hostname",
    "image_ref",
    "key_name",
    "launch_index",
    "launched_at",
    "locked",
    "locked_by",
    "node",
    "power_state",
    "progress",
    "project_id",
    "task_state",
    "terminated_at",
    "updated_at",
    "user_id",
    "uuid",
    "vm_state",
    "instance_type_id",
    "kernel_id",
    "ramdisk_id",
    "root_device_name",
    "vm_mode",
    "auto_disk_config",
];

fn sort_value(s: &Server, key: &str) -> String {
    match key {
        "access_ip_v4" => s.access_ipv4.clone().unwrap_or_default(),
        "access_ip_v6" => s.access_ipv6.clone().unwrap_or_default(),
        "availability_zone" => s.availability_zone.clone().unwrap_or_default(),
        "display_description" => s.description.clone().unwrap_or_default(),
        "display_name" => s.name.clone(),
        "host" => s.host.clone().unwrap_or_default(),
        "hostname" => s.hostname.clone(),
        "image_ref" => s
            .image_id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_default(),
        "key_name" => s.key_name.clone().unwrap_or_default(),
        "launch_index" => format!("{:020}", s.launch_index),
        "launched_at" => s.launched_at.clone().unwrap_or_default(),
        "locked" => s.locked.to_string(),
        "node" => s.node.clone().unwrap_or_default(),
        "power_state" => format!("{:03}", s.power_state.code()),
        "progress" => format!("{:03}", s.progress),
        "project_id" => s.project_id.clone(),
        "task_state" => s.task_state.map(|t| t.to_string()).unwrap_or_default(),
        "terminated_at" => s.terminated_at.clone().unwrap_or_default(),
        "updated_at" => s.updated_at.clone(),
        "user_id" => s.user_id.clone(),
        "uuid" => s.id.to_string(),
        "vm_state" => s.vm_state.to_string(),
        "instance_type_id" => s.flavor.id.to_string(),
        _ => s.created_at.clone(),
    }
}

fn sort(servers: &mut [Server], q: &Query) -> Result<(), Error> {
    let keys = q.all("sort_key");
    let dirs = q.all("sort_dir");
    if keys.is_empty() {
        return Ok(()); // the store's order: newest first
    }
    for k in &keys {
        if !SORT_KEYS.contains(k) {
            return Err(Error::bad_request(format!(
                "Invalid input for query parameters sort_key. Value: {k}. '{k}' is not one of {SORT_KEYS:?}"
            )));
        }
    }
    for d in &dirs {
        if *d != "asc" && *d != "desc" {
            return Err(Error::bad_request(format!(
                "Invalid input for query parameters sort_dir. Value: {d}. '{d}' is not one of ['asc', 'desc']"
            )));
        }
    }
    servers.sort_by(|a, b| {
        for (i, k) in keys.iter().enumerate() {
            let ord = sort_value(a, k).cmp(&sort_value(b, k));
            let ord = if dirs.get(i).copied().unwrap_or("desc") == "asc" {
                ord
            } else {
                ord.reverse()
            };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        b.id.as_str().cmp(a.id.as_str())
    });
    Ok(())
}

async fn list(st: ApiState, ctx: Ctx, mv: Version, q: Option<String>, detail: bool) -> JsonResult {
    let q = Query::parse(q.as_deref())?;
    let caller = st.svc.caller(&ctx.0);
    let Some(f) = filters(&q, mv)? else {
        return Ok(Json(json!({"servers": []})));
    };
    let mut servers = st.svc.server_list(&caller, &f, detail).await?;
    sort(&mut servers, &q)?;
    let url = format!(
        "{}/v2.1/servers{}",
        st.base,
        if detail { "/detail" } else { "" }
    );
    let (page, next) = q.page(servers, st.svc.cfg.max_limit, |s| s.id.to_string(), &url)?;
    let mut items = Vec::new();
    for s in &page {
        items.push(if detail {
            let sees = sees(&st.svc, &caller, Some(s));
            let e = extra(&st, &caller, s, mv, false).await?;
            render::server(&st, s, mv, sees, &e)
        } else {
            render::brief(&st, s)
        });
    }
    let mut body = json!({"servers": items});
    if let Some(n) = next {
        body["servers_links"] = n;
    }
    Ok(Json(body))
}

pub async fn server_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    list(st, ctx, mv, q, false).await
}

pub async fn server_detail(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    RawQuery(q): RawQuery,
) -> JsonResult {
    list(st, ctx, mv, q, true).await
}

pub async fn server_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let s = st.svc.server_show(&caller, &id).await?;
    Ok(Json(json!({"server": one(&st, &caller, &s, mv).await?})))
}

/// `networks` of a create, by the rules of the microversion.
fn networks(o: &Obj, mv: Version) -> Result<Option<NetworkRequest>, Error> {
    let Some(v) = o.get("networks") else {
        if mv.at_least(2, 37) {
            return Err(Error::bad_request("Invalid input for field/attribute server. Value: {}. 'networks' is a required property"));
        }
        return Ok(None);
    };
    match v {
        Value::String(s) if mv.at_least(2, 37) => match s.as_str() {
            "auto" => Ok(Some(NetworkRequest::Auto)),
            "none" => Ok(Some(NetworkRequest::None)),
            _ => Err(validate::invalid(
                "networks",
                v,
                format!("'{s}' is not one of ['none', 'auto']"),
            )),
        },
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Value::Object(m) = item else {
                    return Err(validate::invalid(
                        &format!("{i}"),
                        item,
                        "is not of type 'object'",
                    ));
                };
                let n = Obj::top(item)?;
                let mut allowed = vec!["uuid", "port", "fixed_ip"];
                if (mv.at_least(2, 32) && !mv.at_least(2, 37)) || mv.at_least(2, 42) {
                    allowed.push("tag");
                }
                n.only(&allowed)?;
                let network = match m.get("uuid").and_then(|u| u.as_str()) {
                    Some(u) => Some(NetworkId::parse(u).map_err(|_| {
                        Error::bad_request(format!(
                            "Bad networks format: network uuid is not in proper format ({u})"
                        ))
                    })?),
                    None => None,
                };
                let port = match m.get("port").and_then(|p| p.as_str()) {
                    Some(p) => Some(PortId::parse(p).map_err(|_| {
                        Error::bad_request(format!(
                            "Bad networks format: port uuid is not in proper format ({p})"
                        ))
                    })?),
                    None => None,
                };
                let fixed_ip = match m.get("fixed_ip").and_then(|f| f.as_str()) {
                    Some(f) => Some(f.parse().map_err(|_| {
                        Error::bad_request(format!("Invalid fixed IP address ({f})"))
                    })?),
                    None => None,
                };
                if network.is_none() && port.is_none() {
                    return Err(Error::bad_request("Bad network format: missing 'uuid'"));
                }
                if port.is_some() && fixed_ip.is_some() {
                    return Err(Error::bad_request(
                        "Specified Fixed IP 'x' cannot be used with port 'y'; the two cannot be specified together.",
                    ));
                }
                let tag = n.string("tag", 1, 60, false)?;
                out.push(RequestedNetwork {
                    network,
                    port,
                    fixed_ip,
                    tag,
                });
            }
            if out.is_empty() && mv.at_least(2, 37) {
                return Err(validate::invalid("networks", v, "[] is too short"));
            }
            Ok(Some(NetworkRequest::List(out)))
        }
        other => Err(validate::invalid(
            "networks",
            other,
            "is not of type 'array'",
        )),
    }
}

fn block_devices(o: &Obj) -> Result<Vec<BlockDevice>, Error> {
    let Some(items) = o.array("block_device_mapping_v2")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in items {
        let b = Obj::top(item)?;
        b.only(&[
            "source_type",
            "destination_type",
            "uuid",
            "boot_index",
            "volume_size",
            "delete_on_termination",
            "device_name",
            "device_type",
            "disk_bus",
            "guest_format",
            "tag",
            "volume_type",
            "no_device",
        ])?;
        let source_type = b
            .string("source_type", 1, 255, false)?
            .unwrap_or_else(|| "blank".into());
        if !["image", "volume", "snapshot", "blank"].contains(&source_type.as_str()) {
            return Err(validate::invalid(
                "source_type",
                &json!(source_type),
                "is not one of ['volume', 'image', 'snapshot', 'blank']",
            ));
        }
        let boot_index = match b.get("boot_index") {
            None | Some(Value::Null) => None,
            _ => b.int("boot_index", -1, i64::MAX)?,
        };
        out.push(BlockDevice {
            source_type,
            destination_type: b.string("destination_type", 1, 255, false)?,
            uuid: b.string("uuid", 1, 255, false)?,
            boot_index,
            volume_size: b.int("volume_size", 1, i64::MAX)?,
            delete_on_termination: b.boolean("delete_on_termination")?.unwrap_or(false),
            device_name: b.string("device_name", 1, 255, true)?,
            device_type: b.string("device_type", 1, 255, true)?,
            disk_bus: b.string("disk_bus", 1, 255, true)?,
            guest_format: b.string("guest_format", 1, 255, true)?,
            tag: b.string("tag", 1, 60, false)?,
        });
    }
    Ok(out)
}

fn tags(o: &Obj, key: &str) -> Result<Vec<String>, Error> {
    let Some(items) = o.array(key)? else {
        return Ok(Vec::new());
    };
    if items.len() > 50 {
        return Err(validate::invalid(key, &json!(items), "is too long"));
    }
    items.iter().map(tag).collect()
}

/// A server tag: 1..=60 characters, no `/` or `,`.
pub fn tag(v: &Value) -> Result<String, Error> {
    match v.as_str() {
        Some(t)
            if !t.is_empty() && t.chars().count() <= 60 && !t.contains('/') && !t.contains(',') =>
        {
            Ok(t.to_owned())
        }
        _ => Err(validate::invalid(
            "tags",
            v,
            format!("{v} does not match '^[^,/]*$'"),
        )),
    }
}

/// A host name given at 2.90 (one label up to 63, an FQDN at 2.94).
fn hostname(v: &str, mv: Version) -> Result<String, Error> {
    let max = if mv.at_least(2, 94) { 255 } else { 63 };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let ok = v.len() <= max
        && if mv.at_least(2, 94) {
            v.split('.').all(label_ok)
        } else {
            label_ok(v)
        };
    if !ok {
        return Err(validate::invalid(
            "hostname",
            &json!(v),
            format!("'{v}' does not match the hostname pattern"),
        ));
    }
    Ok(v.to_owned())
}

fn create_body(st: &ApiState, v: &Value, mv: Version) -> Result<(ServerCreate, bool), Error> {
    let o = validate::root(v, "server")?;
    let mut allowed = vec![
        "name",
        "imageRef",
        "flavorRef",
        "networks",
        "key_name",
        "user_data",
        "metadata",
        "security_groups",
        "availability_zone",
        "min_count",
        "max_count",
        "return_reservation_id",
        "config_drive",
        "block_device_mapping_v2",
        "block_device_mapping",
        "adminPass",
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
    if mv.at_least(2, 52) {
        allowed.push("tags");
    }
    if mv.at_least(2, 74) {
        allowed.extend(["host", "hypervisor_hostname"]);
    }
    if mv.at_least(2, 90) {
        allowed.push("hostname");
    }
    o.only(&allowed)?;
    let name = o.name("name")?.ok_or_else(|| {
        Error::bad_request(
            "Invalid input for field/attribute server. Value: {}. 'name' is a required property",
        )
    })?;
    let flavor = match o.required("flavorRef")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(validate::invalid(
                "flavorRef",
                other,
                "is not of type 'string', 'integer'",
            ))
        }
    };
    let image = match o.get("imageRef") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(Compute::image_ref(s)?),
        Some(other) => {
            return Err(validate::invalid(
                "imageRef",
                other,
                "is not of type 'string'",
            ))
        }
    };
    let user_data = match o.string("user_data", 0, usize::MAX, true)? {
        Some(u) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(u.trim())
                .map_err(|_| {
                    validate::invalid("user_data", &json!(u), format!("'{u}' is not a 'base64'"))
                })?;
            let _ = raw;
            if u.len() > st.svc.cfg.max_user_data_bytes {
                return Err(Error::bad_request(format!(
                    "User data too large. User data must be no larger than {} bytes once base64 encoded. Your data is {} bytes",
                    st.svc.cfg.max_user_data_bytes,
                    u.len()
                )));
            }
            Some(u)
        }
        None => None,
    };
    let metadata = o.string_map("metadata")?.unwrap_or_default();
    let mut security_groups = Vec::new();
    for g in o.array("security_groups")?.into_iter().flatten() {
        let name = g.get("name").and_then(|n| n.as_str()).ok_or_else(|| {
            validate::invalid("security_groups", g, "'name' is a required property")
        })?;
        security_groups.push(name.to_owned());
    }
    let as_count = |n: i64| usize::try_from(n).unwrap_or(1);
    let min_count = o
        .int("min_count", 1, i64::from(i32::MAX))?
        .map_or(1, as_count);
    let max_count = o
        .int("max_count", 1, i64::from(i32::MAX))?
        .map_or(min_count, as_count);
    if min_count > max_count {
        return Err(Error::bad_request("min_count must be <= max_count"));
    }
    let return_reservation_id = o.boolean("return_reservation_id")?.unwrap_or(false);
    let config_drive = o.boolean("config_drive")?.unwrap_or(false);
    let hints = match v
        .get("os:scheduler_hints")
        .or_else(|| v.get("OS-SCH-HNT:scheduler_hints"))
    {
        None => serde_json::Map::new(),
        Some(Value::Object(m)) => {
            if let Some(g) = m.get("group") {
                let ok = g
                    .as_str()
                    .is_some_and(|g| types::ServerGroupId::parse(g).is_ok());
                if !ok {
                    return Err(validate::invalid(
                        "group",
                        g,
                        format!("{g} is not a 'uuid'"),
                    ));
                }
            }
            m.clone()
        }
        Some(other) => {
            return Err(validate::invalid(
                "os:scheduler_hints",
                other,
                "is not of type 'object'",
            ))
        }
    };
    if let Some(k) = o.get("key_name") {
        if !k.is_string() && !k.is_null() {
            return Err(validate::invalid("key_name", k, "is not of type 'string'"));
        }
    }
    let hostname = match o.string("hostname", 1, 255, false)? {
        Some(h) => Some(hostname(&h, mv)?),
        None => None,
    };
    if hostname.is_some() && max_count > 1 && !mv.at_least(2, 90) {
        return Err(Error::bad_request(
            "Cannot set hostname when booting multiple servers",
        ));
    }
    let create = ServerCreate {
        name,
        image,
        flavor,
        networks: networks(&o, mv)?,
        key_name: o.string("key_name", 1, 255, true)?,
        user_data,
        metadata,
        security_groups,
        availability_zone: o.string("availability_zone", 1, 255, false)?,
        min_count,
        max_count,
        config_drive,
        block_devices: block_devices(&o)?,
        scheduler_hints: hints,
        hostname,
        description: o.string("description", 0, 255, true)?,
        tags: tags(&o, "tags")?,
        access_ipv4: o
            .string("accessIPv4", 0, 255, false)?
            .filter(|s| !s.is_empty()),
        access_ipv6: o
            .string("accessIPv6", 0, 255, false)?
            .filter(|s| !s.is_empty()),
        admin_pass: o.string("adminPass", 0, 255, false)?,
    };
    Ok((create, return_reservation_id))
}

pub async fn server_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Extension(rid): Extension<RequestId>,
    body: Bytes,
) -> Result<Response, Error> {
    let v = validate::parse(&body)?;
    let (req, return_reservation_id) = create_body(&st, &v, mv)?;
    let caller = st.svc.caller(&ctx.0);
    let created = st.svc.server_create(&caller, req, &rid.0).await?;
    if return_reservation_id {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"reservation_id": created.reservation_id})),
        )
            .into_response());
    }
    let s = &created.servers[0];
    let mut server = json!({
        "id": s.id,
        "links": st.links("servers", s.id.as_str()),
        "OS-DCF:diskConfig": "MANUAL",
        "adminPass": created.admin_pass,
    });
    if !s.security_groups.is_empty() {
        server["security_groups"] = Value::Array(
            s.security_groups
                .iter()
                .map(|n| json!({"name": n}))
                .collect(),
        );
    }
    let location = format!("{}/v2.1/servers/{}", st.base, s.id);
    let mut headers = HeaderMap::new();
    if let Ok(l) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, l);
    }
    Ok((
        StatusCode::ACCEPTED,
        headers,
        Json(json!({"server": server})),
    )
        .into_response())
}

pub async fn server_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    let v = validate::parse(&body)?;
    let o = validate::root(&v, "server")?;
    let mut allowed = vec!["name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"];
    if mv.at_least(2, 19) {
        allowed.push("description");
    }
    if mv.at_least(2, 90) {
        allowed.push("hostname");
    }
    o.only(&allowed)?;
    let nullable = |k: &str| -> Result<Option<Option<String>>, Error> {
        if !o.has(k) {
            return Ok(None);
        }
        Ok(Some(o.string(k, 0, 255, true)?.filter(|s| !s.is_empty())))
    };
    let up = ServerUpdate {
        name: o.name("name")?,
        description: nullable("description")?,
        hostname: match o.string("hostname", 1, 255, false)? {
            Some(h) => Some(hostname(&h, mv)?),
            None => None,
        },
        access_ipv4: nullable("accessIPv4")?,
        access_ipv6: nullable("accessIPv6")?,
    };
    let caller = st.svc.caller(&ctx.0);
    let s = st.svc.server_update(&caller, &id, up).await?;
    Ok(Json(json!({"server": one(&st, &caller, &s, mv).await?})))
}

pub async fn server_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Extension(rid): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.server_delete(&caller, &id, false, &rid.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ metadata

pub async fn metadata_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    Ok(Json(
        json!({"metadata": st.svc.metadata_list(&caller, &id).await?}),
    ))
}

fn metadata_body(bytes: &[u8], key: &str) -> Result<BTreeMap<String, String>, Error> {
    let v = validate::parse(bytes)?;
    let top = Obj::top(&v)?;
    top.only(&[key])?;
    let o = validate::root(&v, key)?;
    validate::string_map(&o)
}

pub async fn metadata_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    let items = metadata_body(&body, "metadata")?;
    let caller = st.svc.caller(&ctx.0);
    let m = st
        .svc
        .metadata_set(&caller, &id, items, false, Rule::MetadataCreate)
        .await?;
    Ok(Json(json!({"metadata": m})))
}

pub async fn metadata_replace(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    let items = metadata_body(&body, "metadata")?;
    let caller = st.svc.caller(&ctx.0);
    let m = st
        .svc
        .metadata_set(&caller, &id, items, true, Rule::MetadataUpdateAll)
        .await?;
    Ok(Json(json!({"metadata": m})))
}

pub async fn metadata_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    let v = st.svc.metadata_get(&caller, &id, &key).await?;
    Ok(Json(json!({"meta": {key: v}})))
}

pub async fn metadata_put(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> JsonResult {
    let items = metadata_body(&body, "meta")?;
    if items.len() != 1 {
        return Err(Error::bad_request("Request body contains too many items"));
    }
    if !items.contains_key(&key) {
        return Err(Error::bad_request("Request body and URI mismatch"));
    }
    let caller = st.svc.caller(&ctx.0);
    let value = items[&key].clone();
    st.svc
        .metadata_set(&caller, &id, items, false, Rule::MetadataUpdate)
        .await?;
    Ok(Json(json!({"meta": {key: value}})))
}

pub async fn metadata_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.metadata_delete(&caller, &id, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ------------------------------------------------------------------ tags (2.26)

fn need_tags(mv: Version) -> Result<(), Error> {
    if mv.at_least(2, 26) {
        Ok(())
    } else {
        Err(Error::not_found("The resource could not be found."))
    }
}

pub async fn password_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> JsonResult {
    let caller = st.svc.caller(&ctx.0);
    Ok(Json(
        json!({"password": st.svc.server_password(&caller, &id).await?}),
    ))
}

pub async fn password_clear(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let caller = st.svc.caller(&ctx.0);
    st.svc.clear_server_password(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tags_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> JsonResult {
    need_tags(mv)?;
    let caller = st.svc.caller(&ctx.0);
    Ok(Json(json!({"tags": st.svc.tags_list(&caller, &id).await?})))
}

pub async fn tags_replace(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
    body: Bytes,
) -> JsonResult {
    need_tags(mv)?;
    let v = validate::parse(&body)?;
    let o = Obj::top(&v)?;
    o.only(&["tags"])?;
    o.required("tags")?;
    let t = tags(&o, "tags")?;
    let caller = st.svc.caller(&ctx.0);
    let (t, _) = st
        .svc
        .tags_change(
            &caller,
            &id,
            crate::app::servers::TagChange::Replace(t),
            Rule::TagsUpdateAll,
        )
        .await?;
    Ok(Json(json!({"tags": t})))
}

pub async fn tags_clear(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    need_tags(mv)?;
    let caller = st.svc.caller(&ctx.0);
    st.svc
        .tags_change(
            &caller,
            &id,
            crate::app::servers::TagChange::Clear,
            Rule::TagsDeleteAll,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tag_check(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path((id, t)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    need_tags(mv)?;
    let caller = st.svc.caller(&ctx.0);
    st.svc.tag_check(&caller, &id, &t).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn tag_add(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path((id, t)): Path<(String, String)>,
) -> Result<Response, Error> {
    need_tags(mv)?;
    let t = tag(&json!(t))?;
    let caller = st.svc.caller(&ctx.0);
    let (_, created) = st
        .svc
        .tags_change(
            &caller,
            &id,
            crate::app::servers::TagChange::Add(t.clone()),
            Rule::TagsUpdate,
        )
        .await?;
    let mut headers = HeaderMap::new();
    if let Ok(l) = HeaderValue::from_str(&format!("{}/v2.1/servers/{id}/tags/{t}", st.base)) {
        headers.insert(header::LOCATION, l);
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    };
    Ok((status, headers).into_response())
}

pub async fn tag_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    mv: Version,
    Path((id, t)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    need_tags(mv)?;
    let caller = st.svc.caller(&ctx.0);
    st.svc
        .tags_change(
            &caller,
            &id,
            crate::app::servers::TagChange::Remove(t),
            Rule::TagsDelete,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

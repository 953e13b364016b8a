//! Servers as Nova renders them, per microversion and by what the caller may see.

use api_common::microversion::Version;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha224};

use super::ApiState;
use crate::model::{status, Server, VmState};

/// What of a server the caller may see beyond its own view.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sees {
    /// OS-EXT-SRV-ATTR:* (admins).
    pub extended: bool,
    /// The flavor's extra specs (2.47).
    pub flavor_specs: bool,
    /// A fault's details (admins, or any fault that is not a 500).
    pub fault_details: bool,
}

/// Nova's `hostId`: a hash of the project and host, so users can tell whether two of
/// their servers share a host without learning its name.
pub fn host_id(project: &str, host: Option<&str>) -> String {
    match host {
        Some(h) => {
            let d = Sha224::digest(format!("{project}{h}").as_bytes());
            d.iter().map(|b| format!("{b:02x}")).collect()
        }
        None => String::new(),
    }
}

/// The `addresses` of a server, by network name, from its ports.
pub fn addresses(s: &Server) -> Value {
    let mut out: Map<String, Value> = Map::new();
    for p in &s.ports {
        let list = out
            .entry(p.network_name.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(list) = list else { continue };
        for ip in &p.fixed_ips {
            list.push(json!({
                "version": if ip.ip_address.is_ipv4() { 4 } else { 6 },
                "addr": ip.ip_address.to_string(),
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": p.mac_address,
            }));
        }
        for ip in &p.floating_ips {
            list.push(json!({
                "version": if ip.is_ipv4() { 4 } else { 6 },
                "addr": ip.to_string(),
                "OS-EXT-IPS:type": "floating",
                "OS-EXT-IPS-MAC:mac_addr": p.mac_address,
            }));
        }
    }
    Value::Object(out)
}

/// A list entry without detail.
pub fn brief(st: &ApiState, s: &Server) -> Value {
    json!({"id": s.id, "name": s.name, "links": st.links("servers", s.id.as_str())})
}

/// A server in full.
pub fn server(st: &ApiState, s: &Server, mv: Version, sees: Sees, extra: &Extra) -> Value {
    let status = status(s.vm_state, s.task_state);
    let image = match &s.image_id {
        Some(i) => {
            json!({"id": i, "links": [{"rel": "bookmark", "href": format!("{}/images/{i}", st.base)}]})
        }
        None => json!(""),
    };
    let flavor = if mv.at_least(2, 47) {
        let f = &s.flavor;
        let mut v = json!({
            "vcpus": f.vcpus, "ram": f.memory_mb, "disk": f.root_gb,
            "ephemeral": f.ephemeral_gb, "swap": f.swap, "original_name": f.name,
        });
        if sees.flavor_specs {
            v["extra_specs"] = json!(f.extra_specs);
        }
        v
    } else {
        json!({"id": s.flavor.id, "links": [{"rel": "bookmark", "href": format!("{}/flavors/{}", st.base, s.flavor.id)}]})
    };
    let mut v = json!({
        "id": s.id,
        "name": s.name,
        "status": status,
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": s.metadata,
        "hostId": host_id(&s.project_id, s.host.as_deref()),
        "image": image,
        "flavor": flavor,
        "created": seconds(&s.created_at),
        "updated": seconds(&s.updated_at),
        "addresses": addresses(s),
        "accessIPv4": s.access_ipv4.clone().unwrap_or_default(),
        "accessIPv6": s.access_ipv6.clone().unwrap_or_default(),
        "links": st.links("servers", s.id.as_str()),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": s.availability_zone.clone().unwrap_or_default(),
        "config_drive": if s.config_drive { "True" } else { "" },
        "key_name": s.key_name,
        "OS-SRV-USG:launched_at": s.launched_at.as_deref().map(no_zone),
        "OS-SRV-USG:terminated_at": s.terminated_at.as_deref().map(no_zone),
        "OS-EXT-STS:task_state": s.task_state.map(|t| t.as_str()),
        "OS-EXT-STS:vm_state": s.vm_state.as_str(),
        "OS-EXT-STS:power_state": s.power_state.code(),
        "os-extended-volumes:volumes_attached": [],
    });
    if matches!(
        status,
        "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING"
    ) {
        v["progress"] = json!(s.progress);
    }
    if !s.security_groups.is_empty() {
        v["security_groups"] = Value::Array(
            s.security_groups
                .iter()
                .map(|n| json!({"name": n}))
                .collect(),
        );
    }
    if let Some(f) = s
        .fault
        .as_ref()
        .filter(|_| matches!(s.vm_state, VmState::Error | VmState::Deleted))
    {
        let mut fv = json!({"code": f.code, "created": f.created, "message": f.message});
        if sees.fault_details || f.code != 500 {
            if let Some(d) = &f.details {
                fv["details"] = json!(d);
            }
        }
        v["fault"] = fv;
    }
    if sees.extended {
        v["OS-EXT-SRV-ATTR:host"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!(s.node);
        v["OS-EXT-SRV-ATTR:instance_name"] = json!(format!("instance-{}", &s.id.as_str()[..8]));
        if mv.at_least(2, 3) {
            v["OS-EXT-SRV-ATTR:reservation_id"] = json!(s.reservation_id);
            v["OS-EXT-SRV-ATTR:launch_index"] = json!(s.launch_index);
            v["OS-EXT-SRV-ATTR:hostname"] = json!(s.hostname);
            v["OS-EXT-SRV-ATTR:kernel_id"] = json!("");
            v["OS-EXT-SRV-ATTR:ramdisk_id"] = json!("");
            v["OS-EXT-SRV-ATTR:root_device_name"] = json!("/dev/vda");
            v["OS-EXT-SRV-ATTR:user_data"] = json!(s.user_data);
        }
    } else if mv.at_least(2, 90) {
        v["OS-EXT-SRV-ATTR:hostname"] = json!(s.hostname);
    }
    if mv.at_least(2, 3) {
        v["os-extended-volumes:volumes_attached"] = json!([]);
    }
    if mv.at_least(2, 9) {
        v["locked"] = json!(s.locked);
    }
    if mv.at_least(2, 73) {
        v["locked_reason"] = json!(s.locked_reason);
    }
    if mv.at_least(2, 16) {
        if let Some(h) = &extra.host_status {
            v["host_status"] = json!(h);
        }
    }
    if mv.at_least(2, 19) {
        v["description"] = json!(s.description);
    }
    if mv.at_least(2, 26) {
        v["tags"] = json!(s.tags);
    }
    if mv.at_least(2, 71) {
        if let Some(g) = &extra.server_groups {
            v["server_groups"] = json!(g);
        }
    }
    if mv.at_least(2, 96) {
        v["pinned_availability_zone"] = json!(s.availability_zone);
    }
    v
}

/// What a server's rendering needs from elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// `UP`, `DOWN`, `MAINTENANCE`, `UNKNOWN` or empty (2.16, for those who may see it).
    pub host_status: Option<String>,
    /// The groups of the server (2.71, on show, update and rebuild).
    pub server_groups: Option<Vec<String>>,
}

/// Nova shows `launched_at` without a zone (`2026-12-01T12:00:00.000000`).
fn no_zone(t: &str) -> String {
    t.trim_end_matches('Z').to_owned()
}

/// Nova's `created`/`updated`: to the second, with `Z`.
pub fn seconds(t: &str) -> String {
    match t.get(..19) {
        Some(head) => format!("{head}Z"),
        None => t.to_owned(),
    }
}

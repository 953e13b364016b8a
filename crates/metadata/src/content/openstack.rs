//! `meta_data.json`, version by version.

use base64::Engine as _;
use rand::RngCore as _;
use serde_json::{json, Map, Value};

use super::{os_at_least, Guest, GRIZZLY, LIBERTY, NEWTON_ONE, OCATA, ROCKY, VICTORIA};
use crate::model::{Device, DeviceKind};

/// Bytes of `random_seed`.
const RANDOM_SEED_BYTES: usize = 512;

impl Guest<'_> {
    /// `meta_data.json` of `version` (a known OpenStack version).
    pub fn meta_data(&self, version: &str) -> Value {
        let i = self.instance;
        let mut md = Map::new();
        md.insert("uuid".into(), json!(i.uuid));
        if !i.metadata.is_empty() {
            md.insert("meta".into(), json!(i.metadata));
        }
        md.extend(self.extra.clone());
        if let Some(k) = i.key_pairs.first() {
            md.insert("public_keys".into(), json!({ &k.name: k.public_key }));
            md.insert(
                "keys".into(),
                json!([{"name": k.name, "type": k.kind, "data": k.public_key}]),
            );
        }
        md.insert("hostname".into(), json!(self.hostname()));
        md.insert("name".into(), json!(i.name));
        md.insert("launch_index".into(), json!(i.launch_index));
        md.insert("availability_zone".into(), json!(i.availability_zone));
        let since = |v: &str| os_at_least(version, v);
        if since(GRIZZLY) {
            md.insert("random_seed".into(), json!(random_seed()));
        }
        if since(LIBERTY) {
            md.insert("project_id".into(), json!(i.project_id));
        }
        if since(NEWTON_ONE) {
            let devices: Vec<Value> = i
                .devices
                .iter()
                .filter_map(|d| device(d, version))
                .collect();
            md.insert("devices".into(), Value::Array(devices));
        }
        if since(VICTORIA) {
            let mut cpus = i.dedicated_cpus.clone();
            cpus.sort_unstable();
            md.insert("dedicated_cpus".into(), json!(cpus));
        }
        Value::Object(md)
    }
}

fn random_seed() -> String {
    let mut seed = [0u8; RANDOM_SEED_BYTES];
    rand::thread_rng().fill_bytes(&mut seed);
    base64::engine::general_purpose::STANDARD.encode(seed)
}

/// A tagged device as `devices` lists it in `version`; `None` for one Nova leaves out
/// (a NIC with nothing to tell before Rocky).
fn device(d: &Device, version: &str) -> Option<Value> {
    let mut m = Map::new();
    match &d.kind {
        DeviceKind::Nic {
            mac,
            vlan,
            vf_trusted,
        } => {
            if os_at_least(version, OCATA) {
                if let Some(v) = vlan {
                    m.insert("vlan".into(), json!(v));
                }
            }
            if os_at_least(version, ROCKY) {
                m.insert("vf_trusted".into(), json!(vf_trusted.unwrap_or(false)));
            }
            m.insert("type".into(), json!("nic"));
            m.insert("mac".into(), json!(mac));
            if d.tags.is_none() && !m.contains_key("vlan") && !m.contains_key("vf_trusted") {
                return None;
            }
        }
        DeviceKind::Disk { serial, path } => {
            m.insert("type".into(), json!("disk"));
            if let Some(s) = serial {
                m.insert("serial".into(), json!(s));
            }
            if let Some(p) = path {
                m.insert("path".into(), json!(p));
            }
        }
    }
    m.insert("bus".into(), json!(d.bus.as_deref().unwrap_or("none")));
    m.insert(
        "address".into(),
        json!(d.address.as_deref().unwrap_or("none")),
    );
    if let Some(t) = &d.tags {
        m.insert("tags".into(), json!(t));
    }
    Some(Value::Object(m))
}

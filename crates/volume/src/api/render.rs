//! The wire form of volumes, snapshots and types, per microversion, as Cinder's views
//! render them.

use api_common::microversion::Version;
use serde_json::{json, Value};

use super::ApiState;
use crate::{
    app::Caller,
    model::{Snapshot, Volume, VolumeType},
    policies::Rule,
};

/// `GET /volumes` entries.
pub fn volume_summary(st: &ApiState, v: &Volume) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "links": st.links(&v.project_id, "volumes", v.id.as_str()),
    })
}

/// A volume in full (show, detail, create).
pub fn volume(st: &ApiState, caller: &Caller, ver: Version, v: &Volume) -> Value {
    let mut o = json!({
        "id": v.id,
        "status": v.status.as_str(),
        "size": v.size,
        "availability_zone": v.availability_zone,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
        "attachments": [],
        "name": v.name,
        "description": v.description,
        "volume_type": v.volume_type_name,
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "metadata": v.metadata,
        "links": st.links(&v.project_id, "volumes", v.id.as_str()),
        "user_id": v.user_id,
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false,
        "replication_status": null,
        "consistencygroup_id": null,
        "multiattach": false,
        "os-vol-tenant-attr:tenant_id": v.project_id,
    });
    if let Some(image) = &v.image_id {
        o["volume_image_metadata"] = json!({"image_id": image});
    }
    if st
        .svc
        .allowed(caller, Rule::VolumeHostAttribute, &v.project_id)
    {
        o["os-vol-host-attr:host"] = json!(v.host);
        o["os-vol-mig-status-attr:migstat"] = Value::Null;
        o["os-vol-mig-status-attr:name_id"] = Value::Null;
    }
    if ver.at_least(3, 13) {
        o["group_id"] = Value::Null;
    }
    if ver.at_least(3, 21) {
        o["provider_id"] = Value::Null;
    }
    if ver.at_least(3, 48) {
        o["service_uuid"] = Value::Null;
        o["shared_targets"] = json!(false);
    }
    if ver.at_least(3, 61) {
        o["cluster_name"] = Value::Null;
    }
    if ver.at_least(3, 63) {
        o["volume_type_id"] = json!(v.volume_type_id);
    }
    if ver.at_least(3, 65) {
        o["consumes_quota"] = json!(true);
    }
    o
}

pub fn snapshot(ver: Version, s: &Snapshot) -> Value {
    let progress = match s.status {
        crate::model::SnapshotStatus::Available => "100%",
        _ => "0%",
    };
    let mut o = json!({
        "id": s.id,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "name": s.name,
        "description": s.description,
        "volume_id": s.volume_id,
        "status": s.status.as_str(),
        "size": s.size,
        "metadata": s.metadata,
        "os-extended-snapshot-attributes:project_id": s.project_id,
        "os-extended-snapshot-attributes:progress": progress,
    });
    if ver.at_least(3, 14) {
        o["group_snapshot_id"] = Value::Null;
    }
    if ver.at_least(3, 41) {
        o["user_id"] = json!(s.user_id);
    }
    if ver.at_least(3, 65) {
        o["consumes_quota"] = json!(true);
    }
    o
}

pub fn volume_type(st: &ApiState, caller: &Caller, t: &VolumeType) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "os-volume-type-access:is_public": t.is_public,
        "extra_specs": st.svc.shown_specs(caller, t),
        "qos_specs_id": null,
    })
}

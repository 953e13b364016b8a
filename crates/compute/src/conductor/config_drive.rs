//! The files of a server's config drive, as the conductor hands them to its host
//! (`GuestSpec::config_drive`: path -> base64), made by the metadata crate's
//! `config_drive::files` from what the server record holds: its uuid, names, key,
//! user data, metadata and flavor, and the admin password. The host writes them to a
//! vfat `config-2` image. (The networks' part of the metadata, `network_data.json`
//! with the ports' subnets, comes with the metadata service's own source of
//! instances.)

use std::collections::BTreeMap;

use base64::Engine as _;
use metadata::{
    config_drive,
    content::Guest,
    model::{InstanceMetadata, KeyPair},
    Settings,
};

use crate::model::Server;

/// What the server's guest reads about itself from its drive.
pub fn instance(server: &Server) -> InstanceMetadata {
    let b64 = base64::engine::general_purpose::STANDARD;
    InstanceMetadata {
        uuid: server.id.as_str().parse().unwrap_or_default(),
        name: server.name.clone(),
        hostname: server.hostname.clone(),
        project_id: server.project_id.clone(),
        availability_zone: server.availability_zone.clone(),
        launch_index: u32::try_from(server.launch_index).unwrap_or(0),
        reservation_id: server.reservation_id.clone(),
        key_pairs: match (&server.key_name, &server.key_data) {
            (Some(name), Some(key)) => vec![KeyPair {
                name: name.clone(),
                kind: "ssh".into(),
                public_key: key.clone(),
            }],
            _ => Vec::new(),
        },
        user_data: server
            .user_data
            .as_deref()
            .and_then(|u| b64.decode(u.trim()).ok()),
        metadata: server.metadata.clone(),
        security_groups: server.security_groups.clone(),
        flavor_name: server.flavor.name.clone(),
        image_id: server
            .image_id
            .as_ref()
            .and_then(|i| i.as_str().parse().ok()),
        ..Default::default()
    }
}

/// The drive's files (path -> base64 content) when the server asked for a drive.
pub fn files(server: &Server) -> Option<BTreeMap<String, String>> {
    if !server.config_drive {
        return None;
    }
    let instance = instance(server);
    let settings = Settings::default();
    let guest = Guest {
        instance: &instance,
        settings: &settings,
        address: None,
        extra: config_drive::extra(server.admin_pass.as_deref()),
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    Some(
        config_drive::files(&guest)
            .into_iter()
            .map(|(path, bytes)| (path, b64.encode(bytes)))
            .collect(),
    )
}

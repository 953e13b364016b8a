//! What a guest is to be: plain data the compute manager fills in and a driver obeys.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One guest of a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSpec {
    /// The server's id (a UUID): every file and process of the guest is named after it.
    pub id: String,
    /// The libvirt-style name (`instance-0000002a`), shown as the QEMU process name.
    pub name: String,
    pub vcpus: u32,
    pub memory_mb: u64,
    pub root: RootDisk,
    /// An extra blank disk of the flavor (`OS-FLV-EXT-DATA:ephemeral`), in GiB; 0: none.
    pub ephemeral_gb: u64,
    /// Swap of the flavor, in MiB; 0: none.
    pub swap_mb: u64,
    /// In the order the guest sees them.
    pub nics: Vec<Nic>,
    /// A config drive image labelled `config-2` (vfat, as Nova's `config_drive_format = vfat`),
    /// attached read-only.
    pub config_drive: Option<PathBuf>,
    /// How the machine looks to the guest (from the image's properties).
    pub machine: MachineOptions,
}

/// The root disk: a copy-on-write overlay on a base image the compute manager has cached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootDisk {
    /// The cached image (never written to).
    pub base: PathBuf,
    /// `qcow2` or `raw`: the base's format.
    pub base_format: String,
    /// The flavor's root size in GiB; 0: the image's own virtual size.
    pub size_gb: u64,
}

/// A NIC on a port of the Networking service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub port_id: String,
    pub mac: String,
    /// The tap device QEMU creates (`tap` + 11 characters of the port id,
    /// `dataplane::names::tap`), which the network agent then plugs.
    pub tap: String,
    pub mtu: u32,
}

/// `hw_disk_bus`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskBus {
    #[default]
    Virtio,
    Scsi,
    Sata,
    Ide,
}

/// `hw_vif_model`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VifModel {
    #[default]
    Virtio,
    E1000,
    E1000e,
    Rtl8139,
}

/// `hw_firmware_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    #[default]
    Bios,
    Uefi,
}

/// The guest-visible machine, chosen by image properties as Nova's libvirt driver does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineOptions {
    pub disk_bus: DiskBus,
    pub vif_model: VifModel,
    /// `hw_machine_type` (`pc`, `q35`, `pc-q35-7.2`...); `None`: the driver's default.
    pub machine_type: Option<String>,
    pub firmware: Firmware,
    /// `os_type=windows`: RTC in local time and Hyper-V enlightenments.
    pub windows: bool,
    /// `hw_video_model` (`virtio`, `vga`, `cirrus`, `qxl`, `none`); `None`: default.
    pub video_model: Option<String>,
    /// `hw_qemu_guest_agent=yes`: a virtio-serial channel for the guest agent.
    pub guest_agent: bool,
}

impl MachineOptions {
    /// Read the image properties a driver obeys; an unknown value is an error naming it.
    pub fn from_image_properties(props: &BTreeMap<String, String>) -> Result<Self> {
        fn parse<T: for<'de> Deserialize<'de>>(
            props: &BTreeMap<String, String>,
            key: &str,
        ) -> Result<Option<T>> {
            let Some(v) = props.get(key) else {
                return Ok(None);
            };
            serde_json::from_value(serde_json::Value::String(v.to_ascii_lowercase()))
                .map(Some)
                .map_err(|_| Error::Invalid(format!("image property {key}={v} is not supported")))
        }
        let yes = |key: &str| {
            props
                .get(key)
                .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "1"))
        };
        Ok(Self {
            disk_bus: parse(props, "hw_disk_bus")?.unwrap_or_default(),
            vif_model: parse(props, "hw_vif_model")?.unwrap_or_default(),
            machine_type: props.get("hw_machine_type").cloned(),
            firmware: parse(props, "hw_firmware_type")?.unwrap_or_default(),
            windows: props
                .get("os_type")
                .is_some_and(|v| v.eq_ignore_ascii_case("windows")),
            video_model: props.get("hw_video_model").cloned(),
            guest_agent: yes("hw_qemu_guest_agent"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_properties_choose_the_machine() {
        let props: BTreeMap<String, String> = [
            ("hw_disk_bus", "sata"),
            ("hw_vif_model", "e1000"),
            ("os_type", "windows"),
            ("hw_firmware_type", "uefi"),
            ("hw_qemu_guest_agent", "yes"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let m = MachineOptions::from_image_properties(&props).unwrap();
        assert_eq!(m.disk_bus, DiskBus::Sata);
        assert_eq!(m.vif_model, VifModel::E1000);
        assert_eq!(m.firmware, Firmware::Uefi);
        assert!(m.windows && m.guest_agent);
        let bad: BTreeMap<String, String> =
            [("hw_disk_bus".to_owned(), "floppy".to_owned())].into();
        let e = MachineOptions::from_image_properties(&bad).unwrap_err();
        assert!(e.to_string().contains("hw_disk_bus=floppy"), "{e}");
        assert_eq!(
            MachineOptions::from_image_properties(&BTreeMap::new()).unwrap(),
            MachineOptions::default()
        );
    }
}

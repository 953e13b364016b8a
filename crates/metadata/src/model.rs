//! What the metadata service knows of an instance: plain data, filled by whoever owns
//! the instance (Compute, through [`crate::Instances`]). Nothing here knows HTTP or a
//! database; [`crate::content`] turns it into what Nova's metadata API serves.

use std::{collections::BTreeMap, net::IpAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One instance, as its guest may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InstanceMetadata {
    pub uuid: Uuid,
    /// The server's display name.
    pub name: String,
    /// Its host name, without the DHCP domain (`vm-1`).
    pub hostname: String,
    pub project_id: String,
    pub availability_zone: Option<String>,
    /// Its index among the servers of one request (`min_count`).
    pub launch_index: u32,
    /// `r-xxxxxxxx`, shared by the servers of one request.
    pub reservation_id: String,
    /// The EC2 forms of the instance and image ids.
    pub ec2: Ec2Ids,
    /// The server's key pair (Nova serves the first one only).
    pub key_pairs: Vec<KeyPair>,
    /// The user data, decoded (the API takes it in base64).
    pub user_data: Option<Vec<u8>>,
    /// The server metadata (`meta`).
    pub metadata: BTreeMap<String, String>,
    /// Names of its security groups.
    pub security_groups: Vec<String>,
    /// Its ports, in attachment order.
    pub ports: Vec<Port>,
    pub flavor_name: String,
    /// The image it booted from (Glance id).
    pub image_id: Option<Uuid>,
    /// `/dev/vda`: with the volumes, the EC2 block device mapping.
    pub root_device_name: Option<String>,
    /// Device names of attached volumes (`/dev/vdb`).
    pub volume_devices: Vec<String>,
    /// Tagged devices (`devices` in `meta_data.json`).
    pub devices: Vec<Device>,
    /// Host CPUs pinned to the instance (`dedicated_cpus`).
    pub dedicated_cpus: Vec<u32>,
    /// The encrypted password the guest posted, if any.
    pub password: Option<String>,
    /// What dynamic vendor data services answered, by target name (`vendor_data2.json`).
    pub vendor_data: BTreeMap<String, serde_json::Value>,
}

/// EC2 ids: `i-0000002a`, `ami-00000001` (Nova maps UUIDs to integers in a table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Ec2Ids {
    pub instance_id: String,
    pub ami_id: String,
    pub kernel_id: Option<String>,
    pub ramdisk_id: Option<String>,
}

impl Ec2Ids {
    /// The ids of Nova's mapping tables' integers (`i-%08x`, `ami-%08x`).
    pub fn from_numbers(instance: u64, image: u64) -> Ec2Ids {
        Ec2Ids {
            instance_id: format!("i-{instance:08x}"),
            ami_id: format!("ami-{image:08x}"),
            kernel_id: None,
            ramdisk_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    pub name: String,
    /// `ssh` or `x509`.
    #[serde(rename = "type")]
    pub kind: String,
    pub public_key: String,
}

/// A port of the instance, with what its network tells a guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    /// The Neutron port id (`vif_id`; the link is `tap` + its first 11 characters).
    pub id: Uuid,
    pub network_id: Uuid,
    pub mac_address: String,
    /// The binding's VIF type (`bridge` for oxistack's Linux bridges).
    pub vif_type: String,
    /// The network's MTU.
    pub mtu: Option<u32>,
    /// Its subnets with its fixed addresses on them.
    pub subnets: Vec<Subnet>,
    /// Floating IPs associated with its fixed addresses.
    pub floating_ips: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    pub cidr: IpNet,
    pub gateway: Option<IpAddr>,
    /// The port's addresses on this subnet.
    pub ips: Vec<IpAddr>,
    pub dns_nameservers: Vec<IpAddr>,
    pub host_routes: Vec<HostRoute>,
    pub enable_dhcp: bool,
    /// The address of the network's DHCP port on this subnet, when there is one.
    pub dhcp_server: Option<IpAddr>,
    /// IPv6: `slaac`, `dhcpv6-stateful`, `dhcpv6-stateless`.
    pub ipv6_address_mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: IpNet,
    pub nexthop: IpAddr,
}

/// A tagged device, as Nova's device metadata records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub kind: DeviceKind,
    /// `pci`, `usb`, `scsi`, `ide`, `xen`; `None` is `none`.
    pub bus: Option<String>,
    /// The address on that bus (`0000:00:02.0`).
    pub address: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceKind {
    Nic {
        mac: String,
        vlan: Option<u16>,
        vf_trusted: Option<bool>,
    },
    Disk {
        serial: Option<String>,
        path: Option<String>,
    },
}

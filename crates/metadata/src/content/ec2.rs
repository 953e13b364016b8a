//! The EC2 tree: `meta-data/` of a version.

use serde_json::{json, Map, Value};

use super::{ec2_at_least, Guest};

impl Guest<'_> {
    /// The fixed IPv4 addresses, port by port, subnet by subnet.
    fn fixed_ipv4(&self) -> impl Iterator<Item = std::net::IpAddr> + '_ {
        self.instance
            .ports
            .iter()
            .flat_map(|p| &p.subnets)
            .flat_map(|s| &s.ips)
            .copied()
            .filter(std::net::IpAddr::is_ipv4)
    }

    /// `meta-data` of `version` (a known EC2 version), as a tree: objects are
    /// directories; `public-keys/0` carries its listing name in `_name` (`0=mykey`).
    pub fn ec2_meta_data(&self, version: &str) -> Value {
        let i = self.instance;
        let hostname = self.hostname();
        let local = self
            .fixed_ipv4()
            .next()
            .or(self.address)
            .map(|a| a.to_string());
        let floating = i
            .ports
            .iter()
            .flat_map(|p| &p.floating_ips)
            .next()
            .map(ToString::to_string)
            .unwrap_or_default();
        let mut md = Map::new();
        md.insert("ami-id".into(), json!(i.ec2.ami_id));
        md.insert("ami-launch-index".into(), json!(i.launch_index));
        md.insert("ami-manifest-path".into(), json!("FIXME"));
        md.insert("instance-id".into(), json!(i.ec2.instance_id));
        md.insert("hostname".into(), json!(hostname));
        md.insert("local-ipv4".into(), json!(local));
        md.insert("reservation-id".into(), json!(i.reservation_id));
        md.insert("security-groups".into(), json!(i.security_groups));
        if let Some(k) = i.key_pairs.first() {
            md.insert(
                "public-keys".into(),
                json!({"0": {"_name": format!("0={}", k.name), "openssh-key": k.public_key}}),
            );
        }
        let since = |v: &str| ec2_at_least(version, v);
        if since("2007-01-19") {
            md.insert("local-hostname".into(), json!(hostname));
            md.insert("public-hostname".into(), json!(hostname));
            md.insert("public-ipv4".into(), json!(floating));
        }
        if since("2007-08-29") {
            md.insert("instance-type".into(), json!(i.flavor_name));
        }
        if since("2007-12-15") {
            md.insert("block-device-mapping".into(), self.block_device_mapping());
            if let Some(k) = &i.ec2.kernel_id {
                md.insert("kernel-id".into(), json!(k));
            }
            if let Some(r) = &i.ec2.ramdisk_id {
                md.insert("ramdisk-id".into(), json!(r));
            }
        }
        if since("2008-02-01") {
            md.insert(
                "placement".into(),
                json!({"availability-zone": i.availability_zone}),
            );
        }
        if since("2008-09-01") {
            md.insert("instance-action".into(), json!("none"));
        }
        Value::Object(md)
    }

    /// `block-device-mapping/`: the root (`ami`, `root`), then volumes `ebs0`... sorted by
    /// device name; without a root device name, EC2's defaults.
    fn block_device_mapping(&self) -> Value {
        let i = self.instance;
        let Some(root) = &i.root_device_name else {
            return json!({"ami": "sda1", "ephemeral0": "sda2", "root": "/dev/sda1", "swap": "sda3"});
        };
        let mut m = Map::new();
        m.insert(
            "ami".into(),
            json!(root.strip_prefix("/dev/").unwrap_or(root)),
        );
        m.insert("root".into(), json!(root));
        let mut volumes = i.volume_devices.clone();
        volumes.sort();
        for (n, v) in volumes.iter().enumerate() {
            m.insert(format!("ebs{n}"), json!(v));
        }
        Value::Object(m)
    }
}

//! The content against the shapes Nova serves (nova/api/metadata/base.py,
//! nova/virt/netutils.py and the user documentation's examples).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Value};

use super::*;
use crate::model::*;

const UUID: &str = "d8e02d56-2648-49a3-bf97-6be8f1204f38";
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample me@here";

pub(crate) fn instance() -> InstanceMetadata {
    InstanceMetadata {
        uuid: UUID.parse().unwrap(),
        name: "test server".into(),
        hostname: "test-server".into(),
        project_id: "f7ac731cc11f40efbc03a9f9e1d1d21f".into(),
        availability_zone: Some("nova".into()),
        launch_index: 0,
        reservation_id: "r-b6y6xjrs".into(),
        ec2: Ec2Ids::from_numbers(42, 1),
        key_pairs: vec![KeyPair {
            name: "mykey".into(),
            kind: "ssh".into(),
            public_key: KEY.into(),
        }],
        user_data: Some(b"#!/bin/sh\necho hi\n".to_vec()),
        metadata: BTreeMap::from([("role".into(), "web".into())]),
        security_groups: vec!["default".into(), "web".into()],
        ports: vec![Port {
            id: "2ecc7c0d-8f4c-4b6c-a0d5-bd6bb4a0a1a3".parse().unwrap(),
            network_id: "6b0d4a2b-1d0d-4a84-8b42-c8e1b1f2a3d4".parse().unwrap(),
            mac_address: "fa:16:3e:9c:bf:3d".into(),
            vif_type: "bridge".into(),
            mtu: Some(1450),
            subnets: vec![Subnet {
                cidr: "10.0.0.0/26".parse().unwrap(),
                gateway: Some("10.0.0.1".parse().unwrap()),
                ips: vec!["10.0.0.12".parse().unwrap()],
                dns_nameservers: vec!["10.0.0.2".parse().unwrap()],
                host_routes: vec![HostRoute {
                    destination: "192.168.10.0/24".parse().unwrap(),
                    nexthop: "10.0.0.3".parse().unwrap(),
                }],
                enable_dhcp: false,
                dhcp_server: None,
                ipv6_address_mode: None,
            }],
            floating_ips: vec!["172.24.4.10".parse().unwrap()],
        }],
        flavor_name: "m1.tiny".into(),
        image_id: Some("3b5d4b1e-0f59-4a1f-9a55-2e2f7a0b0c11".parse().unwrap()),
        root_device_name: Some("/dev/vda".into()),
        volume_devices: vec!["/dev/vdc".into(), "/dev/vdb".into()],
        devices: vec![],
        dedicated_cpus: vec![3, 1],
        password: None,
        vendor_data: BTreeMap::new(),
    }
}

fn guest<'a>(i: &'a InstanceMetadata, s: &'a Settings) -> Guest<'a> {
    Guest {
        instance: i,
        settings: s,
        address: Some("10.0.0.12".parse().unwrap()),
        extra: Default::default(),
    }
}

fn text(g: &Guest, path: &str) -> String {
    match g.lookup(path) {
        Ok(Item::Body { bytes, .. }) => String::from_utf8(bytes).unwrap(),
        other => panic!("{path}: {other:?}"),
    }
}

fn json_at(g: &Guest, path: &str) -> Value {
    match g.lookup(path) {
        Ok(Item::Body { bytes, json: true }) => serde_json::from_slice(&bytes).unwrap(),
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn version_lists() {
    let (i, s) = (instance(), Settings::default());
    let g = guest(&i, &s);
    assert_eq!(
        text(&g, "/"),
        "1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n2008-02-01\n2008-09-01\n2009-04-04\nlatest"
    );
    assert_eq!(
        text(&g, "/openstack"),
        "2012-08-10\n2013-04-04\n2013-10-17\n2015-10-15\n2016-06-30\n2016-10-06\n2017-02-22\n2018-08-27\n2020-10-14\n2025-04-04\nlatest"
    );
    assert_eq!(text(&g, "/openstack/"), text(&g, "/openstack"));
    // versions of the future are hidden from the list (but served by name)
    assert_eq!(
        listed_openstack_versions("2019-01-01"),
        [FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, OCATA, ROCKY, "latest"]
    );
}

#[test]
fn openstack_version_directories() {
    let (mut i, s) = (instance(), Settings::default());
    let g = guest(&i, &s);
    assert_eq!(
        text(&g, "/openstack/latest"),
        "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"
    );
    assert_eq!(
        text(&g, "/openstack/2012-08-10/"),
        "meta_data.json\nuser_data"
    );
    assert_eq!(
        text(&g, "/openstack/2013-10-17"),
        "meta_data.json\nuser_data\npassword\nvendor_data.json"
    );
    i.user_data = None;
    let g = guest(&i, &s);
    assert_eq!(
        text(&g, "/openstack/2015-10-15"),
        "meta_data.json\npassword\nvendor_data.json\nnetwork_data.json"
    );
    assert_eq!(g.lookup("/openstack/latest/user_data"), Err(NotFound));
    assert_eq!(
        g.lookup("/openstack/2011-01-01/meta_data.json"),
        Err(NotFound)
    );
    assert_eq!(g.lookup("/openstack/latest/nope"), Err(NotFound));
    assert_eq!(g.lookup("/openstack/content/0000"), Err(NotFound));
    assert_eq!(g.lookup("/openstack/2012-08-10/password"), Err(NotFound));
    assert_eq!(
        g.lookup("/openstack/2013-04-04/vendor_data.json"),
        Err(NotFound)
    );
    assert_eq!(
        g.lookup("/openstack/2016-06-30/vendor_data2.json"),
        Err(NotFound)
    );
    assert_eq!(g.lookup("/openstack/latest/password"), Ok(Item::Password));
}

#[test]
fn meta_data_latest() {
    let (i, s) = (instance(), Settings::default());
    let g = guest(&i, &s);
    let mut md = json_at(&g, "/openstack/latest/meta_data.json");
    let seed = md
        .as_object_mut()
        .unwrap()
        .remove("random_seed")
        .expect("random_seed");
    let seed = base64::engine::general_purpose::STANDARD
        .decode(seed.as_str().unwrap())
        .unwrap();
    assert_eq!(seed.len(), 512);
    assert_eq!(
        md,
        json!({
            "uuid": UUID,
            "meta": {"role": "web"},
            "public_keys": {"mykey": KEY},
            "keys": [{"name": "mykey", "type": "ssh", "data": KEY}],
            "hostname": "test-server.novalocal",
            "name": "test server",
            "launch_index": 0,
            "availability_zone": "nova",
            "project_id": "f7ac731cc11f40efbc03a9f9e1d1d21f",
            "devices": [],
            "dedicated_cpus": [1, 3],
        })
    );
    // each read gets a fresh seed
    let again = json_at(&g, "/openstack/latest/meta_data.json");
    assert_ne!(
        again["random_seed"],
        json_at(&g, "/openstack/latest/meta_data.json")["random_seed"]
    );
}

#[test]
fn meta_data_keys_per_version() {
    let (mut i, mut s) = (instance(), Settings::default());
    i.key_pairs.clear();
    i.metadata.clear();
    s.dhcp_domain = String::new();
    let g = guest(&i, &s);
    let keys = |v: &str| {
        let md = json_at(&g, &format!("/openstack/{v}/meta_data.json"));
        let mut k: Vec<String> = md.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let base = [
        "availability_zone",
        "hostname",
        "launch_index",
        "name",
        "uuid",
    ];
    assert_eq!(keys(FOLSOM), base);
    let with = |extra: &[&str]| {
        let mut k: Vec<String> = base.iter().chain(extra).map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    assert_eq!(keys(GRIZZLY), with(&["random_seed"]));
    assert_eq!(keys(HAVANA), with(&["random_seed"]));
    assert_eq!(keys(LIBERTY), with(&["random_seed", "project_id"]));
    assert_eq!(
        keys(NEWTON_ONE),
        with(&["random_seed", "project_id", "devices"])
    );
    assert_eq!(keys(ROCKY), with(&["random_seed", "project_id", "devices"]));
    assert_eq!(
        keys(VICTORIA),
        with(&["random_seed", "project_id", "devices", "dedicated_cpus"])
    );
    assert_eq!(keys("latest"), keys(EPOXY));
    assert_eq!(
        json_at(&g, "/openstack/latest/meta_data.json")["hostname"],
        "test-server"
    );
}

#[test]
fn tagged_devices_per_version() {
    let (mut i, s) = (instance(), Settings::default());
    i.devices = vec![
        Device {
            kind: DeviceKind::Nic {
                mac: "fa:16:3e:00:00:01".into(),
                vlan: Some(1000),
                vf_trusted: None,
            },
            bus: Some("pci".into()),
            address: Some("0000:00:02.0".into()),
            tags: Some(vec!["nfv".into()]),
        },
        Device {
            kind: DeviceKind::Nic {
                mac: "fa:16:3e:00:00:02".into(),
                vlan: None,
                vf_trusted: None,
            },
            bus: None,
            address: None,
            tags: None,
        },
        Device {
            kind: DeviceKind::Disk {
                serial: Some("disk-vol-2352423".into()),
                path: Some("/dev/sda".into()),
            },
            bus: Some("scsi".into()),
            address: Some("1:0:2:0".into()),
            tags: Some(vec!["oracledb".into()]),
        },
    ];
    let g = guest(&i, &s);
    let devices =
        |v: &str| json_at(&g, &format!("/openstack/{v}/meta_data.json"))["devices"].clone();
    assert_eq!(
        devices(NEWTON_ONE),
        json!([
            {"type": "nic", "mac": "fa:16:3e:00:00:01", "bus": "pci", "address": "0000:00:02.0", "tags": ["nfv"]},
            {"type": "disk", "serial": "disk-vol-2352423", "path": "/dev/sda", "bus": "scsi", "address": "1:0:2:0", "tags": ["oracledb"]},
        ])
    );
    assert_eq!(devices(OCATA)[0]["vlan"], 1000);
    let latest = devices("latest");
    assert_eq!(latest.as_array().unwrap().len(), 3, "{latest}");
    assert_eq!(latest[0]["vf_trusted"], false);
    assert_eq!(
        latest[1],
        json!({"type": "nic", "mac": "fa:16:3e:00:00:02", "vf_trusted": false, "bus": "none", "address": "none"})
    );
}

#[test]
fn network_data_static() {
    let (i, s) = (instance(), Settings::default());
    let g = guest(&i, &s);
    let Ok(Item::Body { bytes, json }) = g.lookup("/openstack/latest/network_data.json") else {
        panic!()
    };
    assert!(!json, "Nova serves network_data.json as text/plain");
    let nd: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        nd,
        json!({
            "links": [{
                "id": "tap2ecc7c0d-8f",
                "vif_id": "2ecc7c0d-8f4c-4b6c-a0d5-bd6bb4a0a1a3",
                "type": "bridge",
                "mtu": 1450,
                "ethernet_mac_address": "fa:16:3e:9c:bf:3d",
            }],
            "networks": [{
                "id": "network0",
                "type": "ipv4",
                "link": "tap2ecc7c0d-8f",
                "ip_address": "10.0.0.12",
                "netmask": "255.255.255.192",
                "routes": [
                    {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"},
                    {"network": "192.168.10.0", "netmask": "255.255.255.0", "gateway": "10.0.0.3"},
                ],
                "network_id": "6b0d4a2b-1d0d-4a84-8b42-c8e1b1f2a3d4",
                "services": [{"type": "dns", "address": "10.0.0.2"}],
            }],
            "services": [{"type": "dns", "address": "10.0.0.2"}],
        })
    );
}

#[test]
fn network_data_dhcp_ipv6_and_unknown_vif_types() {
    let mut i = instance();
    let p = &mut i.ports[0];
    p.vif_type = "macvtap".into();
    p.subnets[0].enable_dhcp = true;
    p.subnets[0].dhcp_server = Some("10.0.0.2".parse().unwrap());
    p.subnets.push(Subnet {
        cidr: "fd00:1::/64".parse().unwrap(),
        gateway: Some("fd00:1::1".parse().unwrap()),
        ips: vec!["fd00:1::f816:3eff:fe9c:bf3d".parse().unwrap()],
        dns_nameservers: vec!["10.0.0.2".parse().unwrap()],
        host_routes: vec![],
        enable_dhcp: true,
        dhcp_server: None,
        ipv6_address_mode: Some("slaac".into()),
    });
    // a second port without subnets is no link
    let mut bare = i.ports[0].clone();
    bare.subnets.clear();
    i.ports.push(bare);
    let nd = network_data(&i.ports);
    assert_eq!(nd["links"].as_array().unwrap().len(), 1);
    assert_eq!(nd["links"][0]["type"], "phy");
    assert_eq!(nd["links"][0]["mtu"], Value::Null, "DHCP tells the MTU");
    assert_eq!(
        nd["networks"],
        json!([
            {"id": "network0", "type": "ipv4_dhcp", "link": "tap2ecc7c0d-8f",
             "network_id": "6b0d4a2b-1d0d-4a84-8b42-c8e1b1f2a3d4"},
            {"id": "network1", "type": "ipv6_slaac", "link": "tap2ecc7c0d-8f",
             "ip_address": "fd00:1::f816:3eff:fe9c:bf3d", "netmask": "ffff:ffff:ffff:ffff::",
             "routes": [{"network": "::", "netmask": "::", "gateway": "fd00:1::1"}],
             "network_id": "6b0d4a2b-1d0d-4a84-8b42-c8e1b1f2a3d4",
             "services": [{"type": "dns", "address": "10.0.0.2"}]},
        ])
    );
    // the DNS server of both subnets is listed once
    assert_eq!(
        nd["services"],
        json!([{"type": "dns", "address": "10.0.0.2"}])
    );
    assert_eq!(network_data(&[]), json!({}));
}

#[test]
fn vendor_data() {
    let (mut i, mut s) = (instance(), Settings::default());
    let g = guest(&i, &s);
    assert_eq!(json_at(&g, "/openstack/latest/vendor_data.json"), json!({}));
    assert_eq!(
        json_at(&g, "/openstack/latest/vendor_data2.json"),
        json!({"static": {}})
    );
    s.static_vendor_data = json!({"cloud": "oxistack"});
    s.vendordata_providers = vec![STATIC_JSON.into(), DYNAMIC_JSON.into()];
    i.vendor_data = BTreeMap::from([
        ("static".into(), json!("dropped: a duplicate")),
        ("testing".into(), json!({"value": 1})),
    ]);
    let g = guest(&i, &s);
    assert_eq!(
        json_at(&g, "/openstack/latest/vendor_data2.json"),
        json!({"static": {"cloud": "oxistack"}, "testing": {"value": 1}})
    );
    s.vendordata_providers = vec![DYNAMIC_JSON.into()];
    let g = guest(&i, &s);
    assert_eq!(
        g.lookup("/openstack/latest/vendor_data.json"),
        Err(NotFound)
    );
    assert_eq!(
        json_at(&g, "/openstack/latest/vendor_data2.json"),
        json!({"static": "dropped: a duplicate", "testing": {"value": 1}})
    );
}

#[test]
fn user_data_is_served_as_given() {
    let (mut i, s) = (instance(), Settings::default());
    i.user_data = Some(vec![0xff, 0x00, 0x80]);
    let g = guest(&i, &s);
    assert_eq!(
        g.lookup("/openstack/latest/user_data"),
        Ok(Item::Body {
            bytes: vec![0xff, 0x00, 0x80],
            json: false
        })
    );
    assert_eq!(
        g.lookup("/latest/user-data"),
        g.lookup("/openstack/latest/user_data")
    );
    assert_eq!(
        g.lookup("/2009-04-04/user-data"),
        g.lookup("/latest/user-data")
    );
}

#[test]
fn ec2_tree() {
    let (i, s) = (instance(), Settings::default());
    let g = guest(&i, &s);
    assert_eq!(text(&g, "/latest"), "meta-data/\nuser-data");
    assert_eq!(
        text(&g, "/latest/meta-data/"),
        "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nhostname\n\
         instance-action\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nplacement/\n\
         public-hostname\npublic-ipv4\npublic-keys/\nreservation-id\nsecurity-groups"
    );
    let cases = [
        ("/latest/meta-data/ami-id", "ami-00000001"),
        ("/latest/meta-data/ami-launch-index", "0"),
        ("/latest/meta-data/ami-manifest-path", "FIXME"),
        (
            "/latest/meta-data/block-device-mapping",
            "ami\nebs0\nebs1\nroot",
        ),
        ("/latest/meta-data/block-device-mapping/ami", "vda"),
        ("/latest/meta-data/block-device-mapping/root", "/dev/vda"),
        ("/latest/meta-data/block-device-mapping/ebs0", "/dev/vdb"),
        ("/latest/meta-data/hostname", "test-server.novalocal"),
        ("/latest/meta-data/instance-action", "none"),
        ("/latest/meta-data/instance-id", "i-0000002a"),
        ("/latest/meta-data/instance-type", "m1.tiny"),
        ("/latest/meta-data/local-hostname", "test-server.novalocal"),
        ("/latest/meta-data/local-ipv4", "10.0.0.12"),
        ("/latest/meta-data/placement", "availability-zone"),
        ("/latest/meta-data/placement/availability-zone", "nova"),
        ("/latest/meta-data/public-hostname", "test-server.novalocal"),
        ("/latest/meta-data/public-ipv4", "172.24.4.10"),
        ("/latest/meta-data/public-keys", "0=mykey"),
        ("/latest/meta-data/public-keys/0", "openssh-key"),
        ("/latest/meta-data/public-keys/0/openssh-key", KEY),
        ("/latest/meta-data/reservation-id", "r-b6y6xjrs"),
        ("/latest/meta-data/security-groups", "default\nweb"),
        ("/ec2/latest/meta-data/instance-id", "i-0000002a"),
        ("//latest/./meta-data//instance-id", "i-0000002a"),
    ];
    for (path, want) in cases {
        assert_eq!(text(&g, path), want, "{path}");
    }
    for path in [
        "/latest/meta-data/nope",
        "/latest/meta-data/hostname/more",
        "/latest/nope",
        "/2010-01-01/meta-data/",
        "/latest/user-data/x",
        // the first token is the version
        "/meta-data/hostname",
    ] {
        assert_eq!(g.lookup(path), Err(NotFound), "{path}");
    }
}

#[test]
fn ec2_versions_add_keys() {
    let (mut i, s) = (instance(), Settings::default());
    i.key_pairs.clear();
    i.user_data = None;
    i.root_device_name = None;
    i.availability_zone = None;
    i.ports.clear();
    let g = guest(&i, &s);
    assert_eq!(
        text(&g, "/1.0/meta-data"),
        "ami-id\nami-launch-index\nami-manifest-path\nhostname\ninstance-id\nlocal-ipv4\n\
         reservation-id\nsecurity-groups"
    );
    assert_eq!(text(&g, "/latest"), "meta-data/");
    // without fixed IPv4, the address the request came from; without a zone, Python's None
    assert_eq!(text(&g, "/latest/meta-data/local-ipv4"), "10.0.0.12");
    assert_eq!(text(&g, "/latest/meta-data/public-ipv4"), "");
    assert_eq!(
        text(&g, "/latest/meta-data/placement/availability-zone"),
        "None"
    );
    assert_eq!(
        text(&g, "/latest/meta-data/block-device-mapping"),
        "ami\nephemeral0\nroot\nswap"
    );
    assert!(!text(&g, "/2007-08-29/meta-data").contains("block-device-mapping"));
    assert!(text(&g, "/2007-08-29/meta-data").contains("instance-type"));
    assert!(!text(&g, "/2008-02-01/meta-data").contains("instance-action"));
}

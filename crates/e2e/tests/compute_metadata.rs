//! The whole metadata path with real packets and the real services: `oxistack up` in a
//! host namespace (its network agent's metadata proxy in the router's namespace), a
//! compute metadata service listening in the same host namespace, and a VM (a
//! namespace) behind `router1` asking `http://169.254.169.254/...`: the proxy signs the
//! instance id, the metadata service checks it and answers with that instance's Nova
//! content. First over in-memory instances (crates/metadata alone), then with no
//! configuration at all: `up`'s own metadata service over a server Compute booted (the
//! fake driver on the agent's host; the VM namespace plugged on the server's port).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use e2e::{
    free_port, http_in,
    netns::{Netns, Vm},
    network::{fixed_ip, host_cloud_with, s, vm},
    Engine, ADMIN, DEMO,
};
use metadata::{api, memory::MemoryInstances, model::*, Settings};
use serde_json::Value;
use uuid::Uuid;

const SECRET: &str = "s3cret-shared-by-proxy-and-metadata";
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eTestKeyOfTheE2eTest e2e@oxistack";

/// The metadata service, serving in the host namespace on 127.0.0.1:`port` (where the
/// agent's `metadata_url` points) until dropped.
struct MetadataService {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetadataService {
    fn start(host: &Netns, port: u16, instances: Arc<MemoryInstances>) -> MetadataService {
        let listener = dataplane::linux::tcp_listener_in(
            &host.name,
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .expect("a listener in the host namespace");
        let api = api::api(
            instances,
            api::Options {
                secret: SECRET.into(),
                settings: Settings::default(),
            },
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let stop = async move {
                    let _ = rx.await;
                };
                api_common::server::serve(listener, api.router, stop)
                    .await
                    .unwrap();
            });
        });
        MetadataService {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for MetadataService {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn instance(uuid: Uuid, project_id: &str, port: &Value) -> InstanceMetadata {
    let ip = fixed_ip(port);
    InstanceMetadata {
        uuid,
        name: "e2e server".into(),
        hostname: "e2e-server".into(),
        project_id: project_id.into(),
        availability_zone: Some("nova".into()),
        launch_index: 0,
        reservation_id: "r-e2etest1".into(),
        ec2: Ec2Ids::from_numbers(3, 1),
        key_pairs: vec![KeyPair {
            name: "e2e".into(),
            kind: "ssh".into(),
            public_key: KEY.into(),
        }],
        user_data: Some(b"#!/bin/sh\necho hello\n".to_vec()),
        metadata: BTreeMap::new(),
        security_groups: vec!["default".into()],
        ports: vec![Port {
            id: port["id"].as_str().unwrap().parse().unwrap(),
            network_id: port["network_id"].as_str().unwrap().parse().unwrap(),
            mac_address: port["mac_address"].as_str().unwrap().into(),
            vif_type: "bridge".into(),
            mtu: Some(1450),
            subnets: vec![Subnet {
                cidr: "10.0.0.0/26".parse().unwrap(),
                gateway: Some("10.0.0.1".parse().unwrap()),
                ips: vec![ip],
                dns_nameservers: vec![],
                host_routes: vec![],
                enable_dhcp: true,
                dhcp_server: None,
                ipv6_address_mode: None,
            }],
            floating_ips: vec![],
        }],
        flavor_name: "m1.tiny".into(),
        root_device_name: Some("/dev/vda".into()),
        ..Default::default()
    }
}

/// What the VM gets at `path` of the metadata address: the body, or wget's complaint.
fn fetch(vm: &Vm, path: &str) -> Result<String, String> {
    let out = vm.ns.sh(&format!(
        "timeout 15 busybox wget -q -O- http://169.254.169.254{path}"
    ));
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(out.to_string())
    }
}

/// The VM's answer at `path`, once the proxy answers (the agent opens it after wiring).
#[track_caller]
fn fetch_soon(vm: &Vm, path: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match fetch(vm, path) {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("the metadata path does not answer {path}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

#[test]
fn a_guest_reads_its_nova_metadata_through_the_proxy() {
    let port = free_port();
    let Some((host, c)) = host_cloud_with(Engine::Sqlite, |_, c| {
        c.agent_option(&format!("metadata_url = \"http://127.0.0.1:{port}/\""));
        c.agent_option(&format!("metadata_proxy_shared_secret = \"{SECRET}\""));
    }) else {
        return;
    };
    let instances = Arc::new(MemoryInstances::default());
    let _service = MetadataService::start(&host, port, instances.clone());

    let server = Uuid::new_v4();
    let (p, vm1) = vm(
        &c,
        &host,
        "private",
        "md-e2e",
        &["--device", &server.to_string()],
    );
    assert_eq!(vm1.dhcp(), Some(fixed_ip(&p)));
    let project = p["project_id"].as_str().unwrap();
    instances.insert(instance(server, project, &p));

    let started = std::time::Instant::now();
    let md: Value =
        serde_json::from_str(&fetch_soon(&vm1, "/openstack/latest/meta_data.json")).unwrap();
    eprintln!(
        "meta_data.json through the proxy after {:?}",
        started.elapsed()
    );
    assert_eq!(md["uuid"], server.to_string(), "{md}");
    assert_eq!(md["hostname"], "e2e-server.novalocal", "{md}");
    assert_eq!(md["project_id"], project, "{md}");
    assert_eq!(md["public_keys"]["e2e"], KEY, "{md}");

    // the EC2 tree: local-ipv4 is the port's address
    assert_eq!(
        fetch(&vm1, "/latest/meta-data/local-ipv4").unwrap(),
        fixed_ip(&p).to_string()
    );
    assert_eq!(
        fetch(&vm1, "/latest/meta-data/public-keys/0/openssh-key").unwrap(),
        KEY
    );
    assert_eq!(
        fetch(&vm1, "/openstack/latest/user_data").unwrap(),
        "#!/bin/sh\necho hello\n"
    );
    let nd: Value =
        serde_json::from_str(&fetch(&vm1, "/openstack/latest/network_data.json").unwrap()).unwrap();
    assert_eq!(
        nd["links"][0]["ethernet_mac_address"], p["mac_address"],
        "{nd}"
    );
    assert_eq!(nd["networks"][0]["network_id"], p["network_id"], "{nd}");

    // the guest posts its password once
    let post = |body: &str| {
        vm1.ns.sh(&format!(
            "timeout 15 busybox wget -q -O- --post-data '{body}' http://169.254.169.254/openstack/latest/password"
        ))
    };
    assert!(post("ZW5jcnlwdGVk").success());
    assert_eq!(
        instances.get(server).unwrap().password.as_deref(),
        Some("ZW5jcnlwdGVk")
    );
    assert_eq!(
        fetch(&vm1, "/openstack/latest/password").unwrap(),
        "ZW5jcnlwdGVk"
    );
    let again = post("other");
    assert!(
        !again.success() && again.to_string().contains("409"),
        "{again}"
    );

    // the same instance filed under another project: the proxy's tenant does not match
    let mut moved = instance(server, "another-project", &p);
    moved.password = None;
    instances.insert(moved);
    let err = fetch(&vm1, "/openstack/latest/meta_data.json").expect_err("tenant mismatch");
    assert!(err.contains("404"), "{err}");
}

/// A key Compute accepts (it computes the fingerprint).
const COMPUTE_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFI74kR7KNZGZOZutyXETtqFluVRISqc9ARqhDxpCIIm guests@oxistack";

#[test]
fn a_server_booted_by_compute_reads_its_metadata_with_no_configuration() {
    // nothing of the metadata path is configured: `up` makes the secret and points the
    // proxy at its metadata service; the compute host is the network agent's (h1)
    // (in a host namespace the harness names the compute host h1)
    let Some((host, c)) = host_cloud_with(Engine::Sqlite, |_, _| {}) else {
        return;
    };
    let dir = c.dir().to_owned();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    c.public_image("md-img", &[0u8; 4096], &[]);
    let key = file("key.pub", COMPUTE_KEY.as_bytes());
    c.os(DEMO, &["keypair", "create", "--public-key", &key, "md-key"]);
    let user_data = "#!/bin/sh\necho booted by compute\n";
    let ud = file("user-data", user_data.as_bytes());
    let server = c.os_json(
        DEMO,
        &[
            "server",
            "create",
            "--image",
            "md-img",
            "--flavor",
            "m1.nano",
            "--network",
            "private",
            "--key-name",
            "md-key",
            "--user-data",
            &ud,
            "--wait",
            "md-vm",
        ],
    );
    let id = s(&server, "id").to_owned();
    assert_eq!(s(&server, "status"), "ACTIVE", "{server}");
    let ports = c.os_json(ADMIN, &["port", "list", "--device-id", &id]);
    let port_id = s(&ports[0], "ID").to_owned();
    let port = c.os_json(ADMIN, &["port", "show", &port_id]);
    assert_eq!(s(&port, "binding_host_id"), "h1", "{port}");

    // the guest: a namespace on the server's port
    let vm1 = Vm::plug(&host, &port_id, s(&port, "mac_address"));
    assert_eq!(vm1.dhcp(), Some(fixed_ip(&port)));
    let started = std::time::Instant::now();
    let md: Value =
        serde_json::from_str(&fetch_soon(&vm1, "/openstack/latest/meta_data.json")).unwrap();
    eprintln!(
        "a Compute server's meta_data.json through the proxy after {:?}",
        started.elapsed()
    );
    assert_eq!(md["uuid"], id.as_str(), "{md}");
    assert_eq!(md["name"], "md-vm", "{md}");
    assert_eq!(md["hostname"], "md-vm.novalocal", "{md}");
    assert_eq!(md["public_keys"]["md-key"], COMPUTE_KEY, "{md}");
    assert_eq!(
        fetch(&vm1, "/openstack/latest/user_data").unwrap(),
        user_data
    );
    assert_eq!(
        fetch(&vm1, "/latest/meta-data/public-keys/0/openssh-key").unwrap(),
        COMPUTE_KEY
    );
    let nd: Value =
        serde_json::from_str(&fetch(&vm1, "/openstack/latest/network_data.json").unwrap()).unwrap();
    assert_eq!(
        nd["links"][0]["ethernet_mac_address"], port["mac_address"],
        "{nd}"
    );
    assert_eq!(nd["networks"][0]["network_id"], port["network_id"], "{nd}");

    // the metadata service itself: signed with the secret `up` made, it answers;
    // unsigned, or signed with another secret, it refuses
    let secret = std::fs::read_to_string(c.data_dir.join("metadata-proxy-secret")).unwrap();
    let project = s(&port, "project_id").to_owned();
    let ask = |signature: Option<String>| {
        let mut h = vec![
            ("X-Instance-ID", id.as_str()),
            ("X-Tenant-ID", project.as_str()),
        ];
        let sig = signature.unwrap_or_default();
        if !sig.is_empty() {
            h.push(("X-Instance-ID-Signature", sig.as_str()));
        }
        http_in(
            Some(&host.name),
            c.metadata_port,
            "GET",
            "/openstack/latest/meta_data.json",
            &h,
            None,
        )
        .expect("the metadata service answers")
    };
    let r = ask(Some(api::sign(secret.trim(), &id)));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(ask(None).status, 400);
    assert_eq!(ask(Some(api::sign("not-the-secret", &id))).status, 403);

    // deleted (its port goes, so the guest's path is cut): the service serves nothing
    // of it to a signed request either
    c.os(DEMO, &["server", "delete", "--wait", &id]);
    let r = ask(Some(api::sign(secret.trim(), &id)));
    assert_eq!(r.status, 404, "{r}");
}

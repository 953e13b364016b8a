//! The metadata proxy with real packets: `oxistack up` in a host namespace, VMs
//! (namespaces) asking `http://169.254.169.254/openstack/latest/meta_data.json` behind
//! `router1` and on a network without a router, and a stand-in for the compute
//! metadata service (which arrives with Compute) in the host namespace that checks the
//! proxy's signature and answers with the identity the proxy vouched for.

use std::{
    process::{Child, Stdio},
    time::Duration,
};

use e2e::{
    free_port,
    netns::{Netns, Vm},
    network::{eventually, fixed_ip, host_cloud_with, s, vm},
    Engine, ADMIN, DEMO,
};
use serde_json::Value;

const SECRET: &str = "s3cret-shared-with-compute";

/// The metadata service's stand-in: 403 unless `X-Instance-ID-Signature` is the
/// HMAC-SHA256 of `X-Instance-ID`; otherwise the identity headers as JSON, `uuid` being
/// the instance id (as Nova's `meta_data.json`).
const DOUBLE: &str = r#"
import hashlib, hmac, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, secret = int(sys.argv[1]), sys.argv[2].encode()
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        iid = self.headers.get("X-Instance-ID", "")
        want = hmac.new(secret, iid.encode(), hashlib.sha256).hexdigest()
        if self.headers.get("X-Instance-ID-Signature") != want:
            self.send_response(403); self.end_headers(); return
        if self.path != "/openstack/latest/meta_data.json":
            self.send_response(404); self.end_headers(); return
        h = self.headers
        body = json.dumps({"uuid": iid, "project_id": h.get("X-Tenant-ID"),
            "forwarded_for": h.get("X-Forwarded-For"),
            "router_id": h.get("X-Neutron-Router-ID"),
            "network_id": h.get("X-Neutron-Network-ID")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
HTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

/// The stand-in, running in the host namespace until dropped.
struct MetadataDouble(Child);

impl MetadataDouble {
    fn start(host: &Netns, port: u16) -> MetadataDouble {
        let child = host
            .command("python3")
            .args(["-c", DOUBLE, &port.to_string(), SECRET])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let double = MetadataDouble(child);
        eventually(
            "the metadata double listens",
            Duration::from_secs(10),
            || {
                host.sh(&format!(
                "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 1)'"
            ))
                .success()
            },
        );
        double
    }
}

impl Drop for MetadataDouble {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the VM gets from the metadata address: the body, or wget's complaint.
fn metadata(vm: &Vm) -> Result<Value, String> {
    let out = vm.ns.sh(
        "timeout 15 busybox wget -q -O- http://169.254.169.254/openstack/latest/meta_data.json",
    );
    if out.success() {
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))
    } else {
        Err(out.to_string())
    }
}

/// The VM's metadata, once the proxy answers (the agent opens it after wiring).
#[track_caller]
fn metadata_soon(vm: &Vm) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match metadata(vm) {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() > deadline => {
                panic!("the metadata proxy does not answer: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

#[test]
fn guests_get_their_own_metadata_through_the_router_or_dhcp() {
    let port = free_port();
    let Some((host, c)) = host_cloud_with(Engine::Sqlite, |_, c| {
        c.agent_option(&format!("metadata_url = \"http://127.0.0.1:{port}/\""));
        c.agent_option(&format!("metadata_proxy_shared_secret = \"{SECRET}\""));
    }) else {
        return;
    };
    let double = MetadataDouble::start(&host, port);

    // Behind router1 (on `private`): the router's redirect, its proxy.
    let server1 = "0b7e5f1c-1111-4c1a-9d6e-000000000001";
    let (p1, vm1) = vm(&c, &host, "private", "md1", &["--device", server1]);
    assert_eq!(vm1.dhcp(), Some(fixed_ip(&p1)));
    let router = c.os_json(DEMO, &["router", "show", "router1"]);
    let md = metadata_soon(&vm1);
    assert_eq!(md["uuid"], server1, "{md}");
    assert_eq!(md["project_id"], p1["project_id"], "{md}");
    assert_eq!(md["forwarded_for"], fixed_ip(&p1).to_string(), "{md}");
    assert_eq!(md["router_id"], router["id"], "{md}");
    assert_eq!(md["network_id"], Value::Null, "{md}");

    // A network without a router: the DHCP namespace holds the address (option 121).
    let net = c.os_json(DEMO, &["network", "create", "isolated"]);
    c.os(
        DEMO,
        &[
            "subnet",
            "create",
            "--network",
            "isolated",
            "--subnet-range",
            "10.30.0.0/24",
            "isolated-sub",
        ],
    );
    let server2 = "0b7e5f1c-2222-4c1a-9d6e-000000000002";
    let (p2, vm2) = vm(&c, &host, s(&net, "id"), "md2", &["--device", server2]);
    assert_eq!(vm2.dhcp(), Some(fixed_ip(&p2)));
    let md = metadata_soon(&vm2);
    assert_eq!(md["uuid"], server2, "{md}");
    assert_eq!(md["network_id"], net["id"], "{md}");
    assert_eq!(md["router_id"], Value::Null, "{md}");
    // The first VM still gets its own.
    assert_eq!(
        metadata(&vm1).map(|m| m["uuid"].clone()),
        Ok(server1.into())
    );

    // A port that belongs to no instance: 404 from the proxy.
    let (p3, vm3) = vm(&c, &host, s(&net, "id"), "md3", &[]);
    assert_eq!(vm3.dhcp(), Some(fixed_ip(&p3)));
    let err = metadata(&vm3).expect_err("no instance, no metadata");
    assert!(err.contains("404"), "{err}");

    // The metadata service down: an error at once, not a hang.
    drop(double);
    let started = std::time::Instant::now();
    let err = metadata(&vm1).expect_err("the service is down");
    assert!(err.contains("503"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    let shown = c.os_json(ADMIN, &["port", "show", s(&p2, "id")]);
    assert_eq!(shown["device_id"], server2, "{shown}");
}

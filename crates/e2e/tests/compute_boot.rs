//! A real VM through the whole cloud, driven by the unmodified `openstack` CLI:
//! `oxistack up` inside a host namespace (its network agent, and its compute host with
//! the QEMU driver: KVM where it works, TCG here), the test image registered as
//! `cirros`. A server boots from it with a key pair and a config drive, gets its
//! address by DHCP (its console says so), takes a floating IP, and answers SSH with the
//! key from an "external host" namespace routed through the host to the public
//! network. Then the lifecycle (stop, start, reboot, pause, suspend, resize), a snapshot
//! a second server boots from, deletes that leave no QEMU, tap, port, disk or
//! allocation behind, and a boot the host refuses, which ends in ERROR with its fault
//! and leaves nothing either.
//!
//! Nothing leaves the namespaces this test makes; they go when it ends.

use std::{path::Path, thread, time::Duration};

use e2e::{
    compute::{self, port_ids, ssh, wait_for},
    netns::{self, Netns},
    network::s,
    Cloud, ADMIN, DEMO,
};
use serde_json::Value;

/// Generous: the machine is a loaded 2-core one and guests run under TCG.
const BOOT: Duration = Duration::from_secs(600);
const SSH: Duration = Duration::from_secs(300);
/// The servers have a config drive.
const DRIVE: &[&str] = &["--config-drive", "true"];

/// Wait until the server's status is `want` (ERROR on the way fails at once).
#[track_caller]
fn wait_status(c: &Cloud, id: &str, want: &str) -> Value {
    wait_for(&format!("server {id} is {want}"), BOOT, || {
        let v = c.os_json(DEMO, &["server", "show", id]);
        match s(&v, "status") {
            st if st == want => Ok(v),
            "ERROR" => panic!("server {id} went to ERROR waiting for {want}: {v}"),
            _ => Err(v.to_string()),
        }
    })
}

/// The server's console, once it shows `marker`.
#[track_caller]
fn console_with(c: &Cloud, id: &str, marker: &str) -> String {
    compute::console_with(c, DEMO, id, marker, BOOT)
}

/// The guest answers `hostname` over SSH: what it said.
#[track_caller]
fn ssh_hostname(ext: &Netns, key: &Path, ip: &str) -> String {
    wait_for(&format!("SSH into {ip}"), SSH, || {
        ssh(&format!("ip netns exec {}", ext.name), key, ip, "hostname")
    })
    .trim()
    .to_owned()
}

/// The console through the proxy, as noVNC opens it: `console url show`'s URL (its
/// page served), then a websocket with its token on which the guest's own VNC server
/// (QEMU's) greets with RFB 3.8, takes the same version back and offers its security
/// types; a made-up token opens nothing.
fn vnc_handshake(c: &Cloud, host: &Netns, id: &str) {
    let v = c.os_json(DEMO, &["console", "url", "show", "--novnc", id]);
    let url = s(&v, "url");
    assert!(url.contains("/vnc_auto.html?path=%3Ftoken%3D"), "{v}");
    let token = url.split("token%3D").nth(1).unwrap().to_owned();
    let page = e2e::http_in(
        Some(&host.name),
        c.console_port,
        "GET",
        "/vnc_auto.html",
        &[],
        None,
    )
    .expect("the proxy answers");
    assert_eq!(page.status, 200, "noVNC's page: {page}");
    let ws = |token: &str| {
        let stream =
            e2e::connect_in(&host.name, c.console_port).expect("a connection to the proxy");
        let url = format!("ws://127.0.0.1:{}/websockify?token={token}", c.console_port);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                use futures::{SinkExt, StreamExt};
                use tokio_tungstenite::tungstenite::Message;
                stream.set_nonblocking(true).unwrap();
                let stream = tokio::net::TcpStream::from_std(stream).unwrap();
                let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut read = Vec::new();
                while read.len() < 12 {
                    match ws.next().await {
                        Some(Ok(Message::Binary(b))) => read.extend_from_slice(&b),
                        other => return Err(format!("no greeting: {other:?}")),
                    }
                }
                assert_eq!(&read[..12], b"RFB 003.008\n", "QEMU's greeting");
                ws.send(Message::binary(b"RFB 003.008\n".to_vec()))
                    .await
                    .map_err(|e| e.to_string())?;
                let mut types = read.split_off(12);
                while types.is_empty() || types.len() < 1 + usize::from(types[0]) {
                    match ws.next().await {
                        Some(Ok(Message::Binary(b))) => types.extend_from_slice(&b),
                        other => return Err(format!("no security types: {other:?}")),
                    }
                }
                Ok(types)
            })
    };
    let types = ws(&token).expect("the console opens");
    assert!(types[0] >= 1, "security types offered: {types:?}");
    eprintln!(
        "VNC through the proxy: RFB 003.008, security types {:?}",
        &types[1..]
    );
    assert!(
        ws("made-up-token").is_err(),
        "a made-up token opened a console"
    );
}

/// Check that nothing of `server` is left on the host.
#[track_caller]
fn nothing_left(c: &Cloud, host: &Netns, server: &str, ports: &[String]) {
    let instances = c.data_dir.join("instances");
    compute::nothing_left(c, host, &instances, server, ports, BOOT);
}

#[test]
fn a_real_vm_boots_answers_ssh_on_its_floating_ip_and_leaves_nothing() {
    if !netns::available() {
        return;
    }
    let host = Netns::new("oxi-host");
    let mut c = Cloud::sqlite();
    c.in_netns(&host);
    c.with_qemu();
    c.with_test_image();
    c.compute_option("sync_interval = 3");
    // m1.small's 20 GB root (sparse qcow2) fits however full the machine's disk is
    c.compute_option("disk_allocation_ratio = 16.0");
    c.up();
    // The "external host": a namespace routed to the public network through the host
    // (which holds 172.24.4.1 on it), as a machine beyond the cloud's gateway.
    let ext = Netns::new("oxi-ext");
    netns::veth_between(&host, "198.51.100.1/24", &ext, "198.51.100.2/24", "oxiext0");
    assert!(host.sh("sysctl -qw net.ipv4.ip_forward=1").success());
    assert!(ext
        .sh("ip route add 172.24.4.0/24 via 198.51.100.1")
        .success());

    // What `up` made: the image (built in the background), the flavors, the compute host.
    wait_for("the test image is registered as cirros", BOOT, || {
        let out = c.os_cmd(DEMO, &["image", "show", "cirros", "-f", "json"]);
        match out.success().then(|| out.json()) {
            Some(v) if s(&v, "status") == "active" => Ok(()),
            _ => Err(out.to_string()),
        }
    });
    let tiny = c.os_json(DEMO, &["flavor", "show", "m1.tiny"]);
    assert_eq!(tiny["ram"], 512, "{tiny}");
    wait_for("the compute host is up", BOOT, || {
        let v = c.os_json(ADMIN, &["compute", "service", "list"]);
        let up = v.as_array().unwrap().iter().any(|sv| {
            s(sv, "Binary") == "nova-compute" && s(sv, "Host") == "h1" && s(sv, "State") == "up"
        });
        up.then_some(()).ok_or_else(|| v.to_string())
    });
    let hyp = c.os_json(ADMIN, &["hypervisor", "list", "--long"]);
    assert!(hyp.to_string().contains("QEMU"), "{hyp}");

    // A key pair (its private key printed once) and SSH let in by the default group.
    let key = compute::keypair(&c, DEMO, "k");
    compute::allow_in_default_group(&c, DEMO, &["tcp 22", "icmp"]);

    // An image the host cannot run (a machine type QEMU does not have).
    c.public_image(
        "broken",
        &vec![0u8; 1 << 16],
        &["hw_machine_type=oxistack-no-such-machine"],
    );

    // Two boots at once: the real one and the one the host refuses.
    let (vm1, bad) = thread::scope(|sc| {
        let good = sc.spawn(|| compute::create(&c, "vm1", "cirros", DRIVE));
        let bad = sc.spawn(|| compute::create(&c, "bad1", "broken", DRIVE));
        (good.join().unwrap(), bad.join().unwrap())
    });
    assert!(vm1.success(), "{vm1}");
    let vm1 = vm1.json();
    let id = s(&vm1, "id").to_owned();
    assert_eq!(s(&vm1, "status"), "ACTIVE", "{vm1}");
    let as_admin = c.os_json(ADMIN, &["server", "show", &id]);
    assert_eq!(s(&as_admin, "OS-EXT-SRV-ATTR:host"), "h1", "{as_admin}");
    assert!(!bad.success(), "a boot the host refuses fails: {bad}");
    let bad = c.os_json(DEMO, &["server", "show", "bad1"]);
    let bad_id = s(&bad, "id").to_owned();
    assert_eq!(s(&bad, "status"), "ERROR", "{bad}");
    assert!(
        bad["fault"].to_string().contains("machine"),
        "the host's reason is the fault: {bad}"
    );
    nothing_left(&c, &host, &bad_id, &[]);

    // The guest got its DHCP address (the port's) and its key from the config drive.
    let ports1 = port_ids(&c, &id);
    assert_eq!(ports1.len(), 1, "{ports1:?}");
    let port = c.os_json(ADMIN, &["port", "show", &ports1[0]]);
    assert_eq!(s(&port, "status"), "ACTIVE", "{port}");
    assert_eq!(s(&port, "binding_host_id"), "h1", "{port}");
    let fixed = s(&port["fixed_ips"][0], "ip_address").to_owned();
    let log = console_with(&c, &id, "OXISTACK-TEST-IMAGE-READY");
    assert!(log.contains(&format!("ip={fixed}")), "{log}");
    assert!(log.contains("metadata=config-drive"), "{log}");
    assert!(log.contains("ssh-keys=1"), "{log}");

    // A floating IP, and SSH with the key from outside.
    let fip = c.os_json(DEMO, &["floating", "ip", "create", "public"]);
    let fip_ip = s(&fip, "floating_ip_address").to_owned();
    c.os(DEMO, &["server", "add", "floating", "ip", &id, &fip_ip]);
    let name = ssh_hostname(&ext, &key, &fip_ip);
    assert_eq!(
        name, "vm1.novalocal",
        "the guest's host name, from its drive"
    );
    wait_for("the floating IP in the server's addresses", SSH, || {
        let v = c.os_json(DEMO, &["server", "show", &id]);
        let a = v["addresses"].to_string();
        a.contains(&fip_ip).then_some(()).ok_or(a)
    });
    vnc_handshake(&c, &host, &id);

    // A snapshot, and a second server from it, booted while the first goes through its
    // lifecycle.
    let snap = c.os_json(
        DEMO,
        &[
            "server", "image", "create", "--name", "snap1", "--wait", &id,
        ],
    );
    assert_eq!(s(&snap, "status"), "active", "{snap}");
    let vm2 = thread::scope(|sc| {
        let second = sc.spawn(|| compute::create(&c, "vm2", "snap1", DRIVE));
        for (action, status) in [
            ("stop", "SHUTOFF"),
            ("start", "ACTIVE"),
            ("reboot", "ACTIVE"),
            ("pause", "PAUSED"),
            ("unpause", "ACTIVE"),
            ("suspend", "SUSPENDED"),
            ("resume", "ACTIVE"),
        ] {
            c.os(DEMO, &["server", action, &id]);
            let v = wait_status(&c, &id, status);
            assert_eq!(v["OS-EXT-STS:task_state"], Value::Null, "{action}: {v}");
        }
        second.join().unwrap()
    });
    assert!(vm2.success(), "{vm2}");
    let vm2 = vm2.json();
    let id2 = s(&vm2, "id").to_owned();
    assert_eq!(s(&vm2, "status"), "ACTIVE", "{vm2}");
    let log2 = console_with(&c, &id2, "OXISTACK-TEST-IMAGE-READY");
    assert!(log2.contains("hostname=vm2"), "{log2}");
    let ports2 = port_ids(&c, &id2);
    c.os(DEMO, &["server", "delete", "--wait", &id2]);
    nothing_left(&c, &host, &id2, &ports2);

    // Resize to m1.small, confirmed; the guest answers again.
    c.os(
        DEMO,
        &["server", "resize", "--flavor", "m1.small", "--wait", &id],
    );
    let v = wait_status(&c, &id, "VERIFY_RESIZE");
    assert!(v["flavor"].to_string().contains("m1.small"), "{v}");
    c.os(DEMO, &["server", "resize", "confirm", &id]);
    let v = wait_status(&c, &id, "ACTIVE");
    assert!(v["flavor"].to_string().contains("m1.small"), "{v}");
    assert_eq!(ssh_hostname(&ext, &key, &fip_ip), "vm1.novalocal");

    // Deleted: nothing of it stays, and the floating IP is free again.
    c.os(DEMO, &["server", "delete", "--wait", &id]);
    nothing_left(&c, &host, &id, &ports1);
    let fip = c.os_json(DEMO, &["floating", "ip", "show", &fip_ip]);
    assert_eq!(fip["port_id"], Value::Null, "{fip}");
    c.os(DEMO, &["server", "delete", "--wait", &bad_id]);
    drop(ext);
    drop(c);
}

//! A server's floating IPs in its `addresses`, as clients read them: `oxistack up` in a
//! host namespace (the fake driver on the agent's host, h1). The Networking service
//! tells Compute when a floating IP is associated with or taken from a server's port
//! (`os-server-external-events`, `network-changed`), so `openstack server show` lists
//! it, and openstacksdk's `create_server(..., auto_ip=True, wait=True)`, which waits
//! for the address to appear on the server, returns with it.

use std::time::Duration;

use e2e::{eventually, network::host_cloud, Cloud, Engine, ADMIN, DEMO};
use serde_json::Value;

/// How long a floating IP change takes to show in the server at most.
const WAIT: Duration = Duration::from_secs(30);

/// The addresses of the server, as `server show` gives them (`{"private": ["10.0.0.5",
/// "172.24.4.9"]}` in OSC 7+; older ones print a string).
fn addresses(c: &Cloud, id: &str) -> String {
    c.os_json(DEMO, &["server", "show", id])["addresses"].to_string()
}

#[test]
fn floating_ips_show_in_addresses() {
    let Some((_host, c)) = host_cloud(Engine::Sqlite) else {
        return;
    };
    c.public_image("addr-img", &[0u8; 4096], &[]);

    // the CLI: a floating IP added and removed shows and goes
    let server = c.os_json(
        DEMO,
        &[
            "server",
            "create",
            "--image",
            "addr-img",
            "--flavor",
            "m1.nano",
            "--network",
            "private",
            "--wait",
            "addr-vm",
        ],
    );
    let id = server["id"].as_str().unwrap().to_owned();
    let fip = c.os_json(DEMO, &["floating", "ip", "create", "public"]);
    let fip = fip["floating_ip_address"].as_str().unwrap().to_owned();
    c.os(DEMO, &["server", "add", "floating", "ip", &id, &fip]);
    eventually("the floating IP in the server's addresses", WAIT, || {
        addresses(&c, &id).contains(&fip)
    });
    let raw = c.os_json(
        DEMO,
        &["server", "show", &id, "--os-compute-api-version", "2.1"],
    );
    eprintln!("addresses: {}", raw["addresses"]);
    c.os(DEMO, &["server", "remove", "floating", "ip", &id, &fip]);
    eventually(
        "the floating IP gone from the server's addresses",
        WAIT,
        || !addresses(&c, &id).contains(&fip),
    );
    // associated through the Networking API directly (as Horizon and Terraform do)
    let port = c.os_json(ADMIN, &["port", "list", "--device-id", &id]);
    let port = port[0]["ID"].as_str().unwrap().to_owned();
    c.os(DEMO, &["floating", "ip", "set", "--port", &port, &fip]);
    eventually(
        "the floating IP set on the port in the server's addresses",
        WAIT,
        || addresses(&c, &id).contains(&fip),
    );
    c.os(DEMO, &["floating", "ip", "delete", &fip]);
    eventually(
        "a deleted floating IP gone from the server's addresses",
        WAIT,
        || !addresses(&c, &id).contains(&fip),
    );
    c.os(DEMO, &["server", "delete", "--wait", &id]);

    // openstacksdk: auto_ip waits until the server shows its floating IP
    let out = c.python(
        r#"
import json, openstack
conn = openstack.connect(cloud="oxistack-demo")
s = conn.create_server("sdk-vm", image="addr-img", flavor="m1.nano", network="private",
                       auto_ip=True, wait=True, timeout=120)
assert s.status == "ACTIVE", s
floating = [a["addr"] for net in s.addresses.values() for a in net if a["OS-EXT-IPS:type"] == "floating"]
assert len(floating) == 1, s.addresses
public = conn.get_server(s.id).public_v4
assert public == floating[0], (public, s.addresses)
ips = [f for f in conn.network.ips(floating_ip_address=public)]
assert len(ips) == 1 and ips[0].port_id, ips
assert conn.delete_server(s.id, wait=True, delete_ips=True, timeout=120)
assert not list(conn.network.ips(floating_ip_address=public)), "the floating IP was left"
print(json.dumps({"public_v4": public}))
"#,
    );
    assert!(out.success(), "{out}");
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("the script's JSON");
    eprintln!("openstacksdk create_server(auto_ip=True): {v}");
}

//! Compute API (Nova v2.1) flows driven by the unmodified `openstack` CLI against the
//! real binary: flavors (with properties), keypairs (generated and imported), servers
//! (created with `--no-network`; without compute hosts a build ends in ERROR with
//! Nova's "No valid host" fault, which is what this side guarantees until the hosts
//! land), availability zones, quotas and limits, server groups and compute services.

use std::fs;

use e2e::{on_every_engine, Cloud, Engine, ADMIN, DEMO};
use serde_json::Value;

on_every_engine!(cli_flavors_keypairs, cli_servers_and_limits);

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn column(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|r| s(r, key).to_owned())
        .collect()
}

fn cli_flavors_keypairs(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };
    // DevStack's flavors
    let flavors = c.os_json(DEMO, &["flavor", "list"]);
    let names = column(&flavors, "Name");
    for n in [
        "m1.nano",
        "m1.tiny",
        "m1.small",
        "m1.medium",
        "m1.large",
        "m1.xlarge",
    ] {
        assert!(names.contains(&n.to_owned()), "{n} missing: {names:?}");
    }
    let tiny = c.os_json(DEMO, &["flavor", "show", "m1.tiny"]);
    assert_eq!(
        (
            tiny["ram"].as_i64(),
            tiny["disk"].as_i64(),
            tiny["vcpus"].as_i64()
        ),
        (Some(512), Some(1), Some(1)),
        "{tiny}"
    );
    assert_eq!(s(&tiny, "id"), "1");
    // an admin's flavor with a property
    let f = c.os_json(
        ADMIN,
        &[
            "flavor",
            "create",
            "--ram",
            "256",
            "--disk",
            "1",
            "--vcpus",
            "1",
            "--id",
            "e2e1",
            "e2e.small",
        ],
    );
    assert_eq!(s(&f, "name"), "e2e.small");
    c.os(
        ADMIN,
        &[
            "flavor",
            "set",
            "--property",
            "hw:cpu_policy=shared",
            "e2e.small",
        ],
    );
    let f = c.os_json(ADMIN, &["flavor", "show", "e2e.small"]);
    assert!(f["properties"].to_string().contains("shared"), "{f}");
    let out = c.os_err(
        DEMO,
        &[
            "flavor", "create", "--ram", "256", "--disk", "1", "--vcpus", "1", "nope",
        ],
    );
    assert!(
        out.stderr.contains("403")
            || out.stderr.contains("not allowed")
            || out.stderr.contains("Policy"),
        "{out}"
    );
    c.os(ADMIN, &["flavor", "delete", "e2e.small"]);
    let out = c.os_err(ADMIN, &["flavor", "show", "e2e1"]);
    assert!(
        out.stderr.to_lowercase().contains("could not be found")
            || out.stderr.contains("No Flavor"),
        "{out}"
    );

    // keypairs: generated (the private key printed once) and imported
    let gen = c.os(DEMO, &["keypair", "create", "k1"]);
    assert!(gen.contains("PRIVATE KEY"), "{gen}");
    let shown = c.os_json(DEMO, &["keypair", "show", "k1"]);
    let fingerprint = s(&shown, "fingerprint").to_owned();
    assert_eq!(fingerprint.len(), 47, "{shown}");
    let public = c.os(DEMO, &["keypair", "show", "--public-key", "k1"]);
    let file = c.dir().join("k1.pub");
    fs::write(&file, public.trim()).unwrap();
    let imported = c.os_json(
        DEMO,
        &[
            "keypair",
            "create",
            "--public-key",
            file.to_str().unwrap(),
            "k2",
        ],
    );
    assert_eq!(s(&imported, "fingerprint"), fingerprint);
    let list = c.os_json(DEMO, &["keypair", "list"]);
    assert_eq!(column(&list, "Name"), ["k1", "k2"]);
    let out = c.os_err(
        DEMO,
        &[
            "keypair",
            "create",
            "--public-key",
            file.to_str().unwrap(),
            "k2",
        ],
    );
    assert!(out.stderr.contains("already exists"), "{out}");
    c.os(DEMO, &["keypair", "delete", "k1", "k2"]);
    assert_eq!(
        c.os_json(DEMO, &["keypair", "list"]),
        Value::Array(Vec::new())
    );
}

fn cli_servers_and_limits(engine: Engine) {
    let Some(mut c) = Cloud::new(engine) else {
        return;
    };
    c.up();
    let data = c.dir().join("tiny.img");
    fs::write(&data, vec![0u8; 4096]).unwrap();
    let img = c.os_json(
        ADMIN,
        &[
            "image",
            "create",
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--public",
            "--file",
            data.to_str().unwrap(),
            "tiny",
        ],
    );
    let image = s(&img, "id").to_owned();
    // a server on `up`'s own (fake) compute host: built, ACTIVE
    let srv = c.os_json(
        DEMO,
        &[
            "server",
            "create",
            "--flavor",
            "m1.nano",
            "--image",
            &image,
            "--no-network",
            "--property",
            "role=web",
            "--wait",
            "s1",
        ],
    );
    let id = s(&srv, "id").to_owned();
    assert!(!s(&srv, "adminPass").is_empty(), "{srv}");
    let shown = c.os_json(DEMO, &["server", "show", &id]);
    assert_eq!(s(&shown, "status"), "ACTIVE", "{shown}");
    assert_eq!(s(&shown, "name"), "s1");
    let list = c.os_json(DEMO, &["server", "list"]);
    assert_eq!(column(&list, "ID"), std::slice::from_ref(&id));
    c.os(
        DEMO,
        &["server", "set", "--name", "s2", "--property", "tier=1", &id],
    );
    let shown = c.os_json(DEMO, &["server", "show", &id]);
    assert_eq!(s(&shown, "name"), "s2");
    assert!(shown["properties"].to_string().contains("tier"), "{shown}");
    let out = c.os_err(
        DEMO,
        &[
            "server",
            "create",
            "--flavor",
            "m1.nano",
            "--image",
            "no-such-image",
            "--no-network",
            "bad",
        ],
    );
    assert!(!out.success());
    // another project sees nothing of it
    let admin_list = c.os_json(ADMIN, &["server", "list"]);
    assert!(
        column(&admin_list, "ID").is_empty(),
        "the admin's own project has none"
    );
    let all = c.os_json(ADMIN, &["server", "list", "--all-projects"]);
    assert_eq!(column(&all, "ID"), std::slice::from_ref(&id));
    c.os(DEMO, &["server", "delete", "--wait", &id]);
    assert_eq!(
        c.os_json(DEMO, &["server", "list"]),
        Value::Array(Vec::new())
    );

    // zones, quotas, limits, groups, services
    let zones = c.os_json(DEMO, &["availability", "zone", "list", "--compute"]);
    assert_eq!(column(&zones, "Zone Name"), ["nova"], "{zones}");
    let q = c.os_json(ADMIN, &["quota", "show", "--compute", "demo"]);
    assert!(q.to_string().contains("instances"), "{q}");
    let limits = c.os_json(DEMO, &["limits", "show", "--absolute"]);
    let names = column(&limits, "Name");
    // Nova's names (maxTotalInstances), which newer clients show in snake case
    let has = |camel: &str, snake: &str| names.iter().any(|n| n == camel || n == snake);
    assert!(
        has("maxTotalInstances", "max_total_instances") && has("totalRAMUsed", "total_ram_used"),
        "{limits}"
    );
    let g = c.os_json(
        DEMO,
        &[
            "server",
            "group",
            "create",
            "--policy",
            "anti-affinity",
            "g1",
        ],
    );
    assert_eq!(s(&g, "name"), "g1");
    let groups = c.os_json(DEMO, &["server", "group", "list"]);
    assert_eq!(column(&groups, "Name"), ["g1"]);
    c.os(DEMO, &["server", "group", "delete", "g1"]);
    let services = c.os_json(ADMIN, &["compute", "service", "list"]);
    assert!(services.is_array(), "{services}");
    let out = c.os_err(DEMO, &["compute", "service", "list"]);
    assert!(
        out.stderr.contains("403") || out.stderr.to_lowercase().contains("policy"),
        "{out}"
    );
}

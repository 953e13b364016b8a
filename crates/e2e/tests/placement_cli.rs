//! Placement driven by the unmodified osc-placement plugin of python-openstackclient
//! against the real binary: providers, inventories, classes, traits, aggregates,
//! allocation candidates, allocations and usages, at the microversions that change
//! what the commands send and show (`--os-placement-api-version`), and the client's own
//! negotiation (no version given).

use e2e::{on_every_engine, Cloud, Engine, ADMIN};
use serde_json::Value;

on_every_engine!(cli_placement);

/// `openstack --os-placement-api-version <v> <args> -f json` as the admin.
fn pj(c: &Cloud, v: &str, args: &[&str]) -> Value {
    let mut a = vec!["--os-placement-api-version", v];
    a.extend_from_slice(args);
    c.os_json(ADMIN, &a)
}

/// The same, without output.
fn p(c: &Cloud, v: &str, args: &[&str]) -> String {
    let mut a = vec!["--os-placement-api-version", v];
    a.extend_from_slice(args);
    c.os(ADMIN, &a)
}

/// The same, which must fail: what it printed.
fn perr(c: &Cloud, v: &str, args: &[&str]) -> String {
    let mut a = vec!["--os-placement-api-version", v];
    a.extend_from_slice(args);
    let out = c.os_err(ADMIN, &a);
    format!("{}{}", out.stdout, out.stderr)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn rows(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not a list: {v}"))
}

fn cli_placement(engine: Engine) {
    let Some(mut c) = Cloud::new(engine) else {
        return;
    };
    // no compute host: the only providers are the test's own
    c.compute_option("enabled = false");
    c.up();
    // providers: 1.0's fields, then 1.14's tree
    let rp = pj(&c, "1.20", &["resource provider", "create", "compute1"]);
    let rp = rp.as_object().map(|_| rp.clone()).unwrap();
    let id = s(&rp, "uuid").to_owned();
    assert_eq!(rp["generation"], 0, "{rp}");
    let child = pj(
        &c,
        "1.14",
        &[
            "resource provider",
            "create",
            "compute1-pf",
            "--parent-provider",
            &id,
        ],
    );
    let child_id = s(&child, "uuid").to_owned();
    assert_eq!(s(&child, "root_provider_uuid"), id, "{child}");
    let listed = pj(&c, "1.14", &["resource provider", "list"]);
    assert_eq!(rows(&listed).len(), 2, "{listed}");
    let tree = pj(
        &c,
        "1.14",
        &["resource provider", "list", "--in-tree", &child_id],
    );
    assert_eq!(rows(&tree).len(), 2);
    let shown = pj(&c, "1.0", &["resource provider", "show", &id]);
    assert_eq!(s(&shown, "name"), "compute1");
    let set = pj(
        &c,
        "1.14",
        &["resource provider", "set", &id, "--name", "cn1"],
    );
    assert_eq!(s(&set, "name"), "cn1", "{set}");
    let err = perr(&c, "1.20", &["resource provider", "create", "cn1"]);
    assert!(
        err.contains("Conflicting resource provider name: cn1 already exists"),
        "{err}"
    );

    // inventories
    let inv = pj(
        &c,
        "1.26",
        &[
            "resource provider",
            "inventory",
            "set",
            &id,
            "--resource",
            "VCPU=8",
            "--resource",
            "VCPU:allocation_ratio=2.0",
            "--resource",
            "MEMORY_MB=4096",
            "--resource",
            "MEMORY_MB:reserved=512",
            "--resource",
            "DISK_GB=100",
        ],
    );
    assert_eq!(rows(&inv).len(), 3, "{inv}");
    let vcpu = pj(
        &c,
        "1.26",
        &["resource provider", "inventory", "show", &id, "VCPU"],
    );
    assert_eq!(vcpu["allocation_ratio"], 2.0, "{vcpu}");
    assert_eq!(vcpu["total"], 8);
    p(
        &c,
        "1.26",
        &[
            "resource provider",
            "inventory",
            "delete",
            &id,
            "--resource-class",
            "DISK_GB",
        ],
    );
    let inv = pj(&c, "1.26", &["resource provider", "inventory", "list", &id]);
    assert_eq!(rows(&inv).len(), 2, "{inv}");
    pj(
        &c,
        "1.26",
        &[
            "resource provider",
            "inventory",
            "set",
            &child_id,
            "--resource",
            "SRIOV_NET_VF=4",
        ],
    );

    // classes and traits
    p(&c, "1.2", &["resource class", "create", "CUSTOM_GOLD"]);
    let rc = pj(&c, "1.2", &["resource class", "show", "CUSTOM_GOLD"]);
    assert_eq!(s(&rc, "name"), "CUSTOM_GOLD", "{rc}");
    let classes = pj(&c, "1.2", &["resource class", "list"]);
    let names: Vec<&str> = rows(&classes).iter().map(|r| s(r, "name")).collect();
    assert!(
        names.contains(&"CUSTOM_GOLD") && names.contains(&"VCPU"),
        "{classes}"
    );
    p(&c, "1.6", &["trait", "create", "CUSTOM_FAST"]);
    let traits = pj(&c, "1.6", &["trait", "list"]);
    let names: Vec<&str> = rows(&traits).iter().map(|r| s(r, "name")).collect();
    assert!(names.contains(&"CUSTOM_FAST") && names.contains(&"COMPUTE_VOLUME_MULTI_ATTACH"));
    let t = pj(
        &c,
        "1.6",
        &[
            "resource provider",
            "trait",
            "set",
            "--trait",
            "CUSTOM_FAST",
            "--trait",
            "HW_CPU_X86_AVX2",
            &id,
        ],
    );
    assert_eq!(rows(&t).len(), 2, "{t}");
    let t = pj(&c, "1.6", &["resource provider", "trait", "list", &id]);
    assert_eq!(rows(&t).len(), 2, "{t}");
    let err = perr(
        &c,
        "1.6",
        &[
            "resource provider",
            "trait",
            "set",
            "--trait",
            "CUSTOM_NOPE",
            &id,
        ],
    );
    assert!(err.contains("No such trait(s): CUSTOM_NOPE"), "{err}");

    // aggregates: the list form, then 1.19's generations
    let agg = "5a8f7a2c-3b7e-4f4e-9f1e-2d3c4b5a6978";
    let a = pj(
        &c,
        "1.1",
        &[
            "resource provider",
            "aggregate",
            "set",
            "--aggregate",
            agg,
            &id,
        ],
    );
    assert_eq!(rows(&a).len(), 1, "{a}");
    let g = pj(&c, "1.14", &["resource provider", "show", &id])["generation"]
        .as_i64()
        .unwrap()
        .to_string();
    let a = pj(
        &c,
        "1.19",
        &[
            "resource provider",
            "aggregate",
            "set",
            "--aggregate",
            agg,
            "--generation",
            &g,
            &id,
        ],
    );
    assert_eq!(rows(&a).len(), 1, "{a}");
    let err = perr(
        &c,
        "1.19",
        &[
            "resource provider",
            "aggregate",
            "set",
            "--aggregate",
            agg,
            "--generation",
            "0",
            &id,
        ],
    );
    assert!(err.contains("generation"), "{err}");
    let a = pj(&c, "1.19", &["resource provider", "aggregate", "list", &id]);
    assert_eq!(s(&rows(&a)[0], "uuid"), agg, "{a}");
    let members = pj(
        &c,
        "1.3",
        &["resource provider", "list", "--aggregate-uuid", agg],
    );
    assert_eq!(rows(&members).len(), 1, "{members}");

    // allocation candidates: required and forbidden traits, nested providers
    let cands = pj(
        &c,
        "1.17",
        &[
            "allocation candidate",
            "list",
            "--resource",
            "VCPU=1",
            "--required",
            "CUSTOM_FAST",
        ],
    );
    assert!(!rows(&cands).is_empty(), "{cands}");
    let none = pj(
        &c,
        "1.22",
        &[
            "allocation candidate",
            "list",
            "--resource",
            "VCPU=1",
            "--forbidden",
            "CUSTOM_FAST",
        ],
    );
    assert!(rows(&none).is_empty(), "{none}");
    let nested = pj(
        &c,
        "1.29",
        &[
            "allocation candidate",
            "list",
            "--resource",
            "VCPU=2",
            "--resource",
            "SRIOV_NET_VF=1",
        ],
    );
    assert!(!rows(&nested).is_empty(), "{nested}");
    let anyof = pj(
        &c,
        "1.39",
        &[
            "allocation candidate",
            "list",
            "--resource",
            "VCPU=1",
            "--required",
            "CUSTOM_FAST,HW_CPU_X86_SSE",
        ],
    );
    assert!(!rows(&anyof).is_empty(), "{anyof}");

    // allocations: 1.12's dict, 1.28's consumer generations, 1.38's consumer types
    let consumer = "7a3b5e0e-6a51-4f0e-9b5e-3c1c1e0c0a01";
    let project = "b4d0b1f2a0d34a1c9f1c2d3e4f5a6b7c";
    let user = "c5e1c2f3b1e45b2d0a2d3e4f5a6b7c8d";
    let alloc = format!("rp={id},VCPU=2,MEMORY_MB=1024");
    let set = pj(
        &c,
        "1.28",
        &[
            "resource provider",
            "allocation",
            "set",
            consumer,
            "--allocation",
            &alloc,
            "--project-id",
            project,
            "--user-id",
            user,
        ],
    );
    assert_eq!(rows(&set).len(), 1, "{set}");
    // again: the client reads the consumer generation first
    let alloc = format!("rp={id},VCPU=4,MEMORY_MB=1024");
    pj(
        &c,
        "1.38",
        &[
            "resource provider",
            "allocation",
            "set",
            consumer,
            "--allocation",
            &alloc,
            "--project-id",
            project,
            "--user-id",
            user,
            "--consumer-type",
            "INSTANCE",
        ],
    );
    let shown = pj(
        &c,
        "1.38",
        &["resource provider", "allocation", "show", consumer],
    );
    assert_eq!(s(&rows(&shown)[0], "consumer_type"), "INSTANCE", "{shown}");
    assert_eq!(rows(&shown)[0]["resources"]["VCPU"], 4, "{shown}");
    let over = format!("rp={id},VCPU=100");
    let err = perr(
        &c,
        "1.28",
        &[
            "resource provider",
            "allocation",
            "set",
            "7a3b5e0e-6a51-4f0e-9b5e-3c1c1e0c0a02",
            "--allocation",
            &over,
            "--project-id",
            project,
            "--user-id",
            user,
        ],
    );
    assert!(err.contains("exceed the capacity"), "{err}");
    let usage = pj(&c, "1.9", &["resource provider", "usage", "show", &id]);
    let vcpu = rows(&usage)
        .iter()
        .find(|r| s(r, "resource_class") == "VCPU")
        .unwrap_or_else(|| panic!("{usage}"));
    assert_eq!(vcpu["usage"], 4);
    let total = pj(
        &c,
        "1.9",
        &["resource usage", "show", project, "--user-id", user],
    );
    assert!(
        rows(&total)
            .iter()
            .any(|r| s(r, "resource_class") == "MEMORY_MB" && r["usage"] == 1024),
        "{total}"
    );
    let typed = pj(&c, "1.38", &["resource usage", "show", project]);
    assert!(!rows(&typed).is_empty(), "{typed}");
    // an inventory in use, a provider with allocations
    let err = perr(
        &c,
        "1.26",
        &[
            "resource provider",
            "inventory",
            "delete",
            &id,
            "--resource-class",
            "VCPU",
        ],
    );
    assert!(err.contains("in use"), "{err}");
    let err = perr(&c, "1.0", &["resource provider", "delete", &id]);
    assert!(err.contains("has allocations"), "{err}");
    p(
        &c,
        "1.0",
        &["resource provider", "allocation", "delete", consumer],
    );
    let shown = pj(
        &c,
        "1.12",
        &["resource provider", "allocation", "show", consumer],
    );
    assert!(rows(&shown).is_empty(), "{shown}");

    // the client's own negotiation (no version given): the newest both speak
    let out = c.os(ADMIN, &["resource provider", "list", "-f", "json"]);
    assert!(out.contains("root_provider_uuid"), "{out}");

    p(&c, "1.0", &["resource provider", "delete", &child_id]);
    p(&c, "1.0", &["resource provider", "delete", &id]);
    let listed = pj(&c, "1.0", &["resource provider", "list"]);
    assert!(rows(&listed).is_empty(), "{listed}");
}

//! Block Storage (Cinder v3) flows driven by the unmodified clients against the real
//! binary: python-openstackclient for volume types, volumes (empty, from an image, a
//! snapshot or another volume), set/extend, snapshots, quotas, services and zones, and
//! the refusals; openstacksdk's `create_volume` / `wait_for_status`. Every volume's
//! file is checked to be gone once it is deleted, also after a create that failed.

use std::{fs, path::PathBuf, process::Command, time::Duration};

use e2e::{eventually, http, on_every_engine, run, Cloud, Engine, ADMIN, DEMO};
use serde_json::Value;

on_every_engine!(
    cli_volume_lifecycle,
    cli_refusals_and_sdk,
    serve_role_volume
);

const SETTLE: Duration = Duration::from_secs(90);

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Where the file backend keeps volumes.
fn volumes_dir(c: &Cloud) -> PathBuf {
    c.data_dir.join("volumes")
}

/// The files of the backend (scratch and partial files included).
fn files(c: &Cloud) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(volumes_dir(c))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `volume show` until its status is not `creating`/`deleting`/`extending`; it must then
/// be `want`.
#[track_caller]
fn wait_status(c: &Cloud, cloud: &str, volume: &str, want: &str) -> Value {
    let mut last = Value::Null;
    eventually(&format!("volume {volume} {want}"), SETTLE, || {
        last = c.os_json(cloud, &["volume", "show", volume]);
        !matches!(s(&last, "status"), "creating" | "extending" | "deleting")
    });
    assert_eq!(s(&last, "status"), want, "{last}");
    last
}

#[track_caller]
fn wait_snapshot(c: &Cloud, cloud: &str, snap: &str) -> Value {
    let mut last = Value::Null;
    eventually(&format!("snapshot {snap} available"), SETTLE, || {
        last = c.os_json(cloud, &["volume", "snapshot", "show", snap]);
        s(&last, "status") != "creating"
    });
    assert_eq!(s(&last, "status"), "available", "{last}");
    last
}

/// Until `volume show` says it is gone.
#[track_caller]
fn wait_gone(c: &Cloud, cloud: &str, args: &[&str]) {
    eventually(&format!("{args:?} gone"), SETTLE, || {
        let out = c.os_cmd(cloud, args);
        !out.success()
    });
}

/// A qcow2 image of 64 MiB with data in it, registered public as `name`; its id.
fn qcow2_image(c: &Cloud, name: &str, virtual_size: &str) -> String {
    let p = c.dir().join(format!("{name}.qcow2"));
    let ps = p.display().to_string();
    let ok = |mut cmd: Command| {
        let out = run(&mut cmd, Duration::from_secs(60));
        assert!(out.success(), "{out}");
    };
    let mut create = Command::new("qemu-img");
    create.args(["create", "-q", "-f", "qcow2", &ps, virtual_size]);
    ok(create);
    let mut write = Command::new("qemu-io");
    write.args(["-c", "write -q -P 0xab 0 1M", &ps]);
    ok(write);
    let v = c.os_json(
        ADMIN,
        &[
            "image",
            "create",
            "--public",
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "--file",
            &ps,
            name,
        ],
    );
    s(&v, "id").to_owned()
}

fn cli_volume_lifecycle(engine: Engine) {
    // None only outside scripts/test and CI (without a PostgreSQL server to use)
    let Some(mut c) = Cloud::new(engine) else {
        return;
    };
    c.up();

    // ---- the catalog: block-storage and volumev3, the caller's project in the URL
    let token = c.os_json(DEMO, &["token", "issue"]);
    let project = s(&token, "project_id").to_owned();
    let catalog = c.os_json(DEMO, &["catalog", "list"]);
    for kind in ["block-storage", "volumev3"] {
        let entry = catalog
            .as_array()
            .and_then(|a| a.iter().find(|e| s(e, "Type") == kind))
            .unwrap_or_else(|| panic!("no {kind} in the catalog: {catalog}"));
        let url = format!("http://127.0.0.1:{}/v3/{project}", c.volume_port);
        assert!(
            entry.to_string().contains(&url),
            "{kind}: no {url} in {entry}"
        );
    }

    // ---- discovery, services, zones
    let services = c.os_json(ADMIN, &["volume", "service", "list"]);
    let binaries: Vec<&str> = services
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| s(r, "Binary"))
        .collect();
    assert!(binaries.contains(&"cinder-volume"), "{services}");
    assert!(binaries.contains(&"cinder-scheduler"), "{services}");
    let zones = c.os_json(ADMIN, &["availability", "zone", "list", "--volume"]);
    assert!(
        zones
            .as_array()
            .expect("a list")
            .iter()
            .any(|z| s(z, "Zone Name") == "nova"),
        "{zones}"
    );

    // ---- volume types
    let types = c.os_json(ADMIN, &["volume", "type", "list"]);
    assert!(types.to_string().contains("__DEFAULT__"), "{types}");
    let gold = c.os_json(
        ADMIN,
        &[
            "volume",
            "type",
            "create",
            "--property",
            "volume_backend_name=file",
            "--description",
            "fast",
            "gold",
        ],
    );
    assert_eq!(s(&gold, "name"), "gold", "{gold}");
    c.os(
        ADMIN,
        &[
            "volume",
            "type",
            "set",
            "--description",
            "faster",
            "--property",
            "tier=1",
            "gold",
        ],
    );
    let gold = c.os_json(ADMIN, &["volume", "type", "show", "gold"]);
    assert_eq!(s(&gold, "description"), "faster", "{gold}");
    assert!(gold["properties"].to_string().contains("tier"), "{gold}");
    let tmp = c.os_json(ADMIN, &["volume", "type", "create", "--private", "scratch"]);
    assert_eq!(tmp["is_public"], Value::Bool(false), "{tmp}");
    c.os(ADMIN, &["volume", "type", "delete", "scratch"]);
    let types = c.os_json(ADMIN, &["volume", "type", "list"]);
    assert!(!types.to_string().contains("scratch"), "{types}");
    // a member sees the public types, may not make them
    let err = c.os_err(DEMO, &["volume", "type", "create", "mine"]);
    assert!(
        err.stderr.contains("403") || err.stderr.contains("olicy"),
        "{err}"
    );

    // ---- an empty volume
    let v1 = c.os_json(DEMO, &["volume", "create", "--size", "1", "v1"]);
    let v1_id = s(&v1, "id").to_owned();
    let v1 = wait_status(&c, DEMO, "v1", "available");
    assert_eq!(v1["size"], 1, "{v1}");
    assert_eq!(s(&v1, "type"), "__DEFAULT__", "{v1}");
    assert_eq!(
        v1["bootable"].to_string().to_lowercase().trim_matches('"'),
        "false",
        "{v1}"
    );
    assert!(
        files(&c).contains(&format!("volume-{v1_id}")),
        "{:?}",
        files(&c)
    );

    // ---- from an image (qcow2 converted onto the volume), of type gold
    qcow2_image(&c, "cirros", "64M");
    c.os_json(
        DEMO,
        &[
            "volume", "create", "--image", "cirros", "--size", "1", "--type", "gold", "v2",
        ],
    );
    let v2 = wait_status(&c, DEMO, "v2", "available");
    assert_eq!(
        v2["bootable"].to_string().to_lowercase().trim_matches('"'),
        "true",
        "{v2}"
    );
    assert_eq!(s(&v2, "type"), "gold", "{v2}");

    // ---- list, show, set
    let list = c.os_json(DEMO, &["volume", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|r| s(r, "Name"))
        .collect();
    assert!(names.contains(&"v1") && names.contains(&"v2"), "{list}");
    let only = c.os_json(DEMO, &["volume", "list", "--name", "v1"]);
    assert_eq!(only.as_array().map(Vec::len), Some(1), "{only}");
    c.os(
        DEMO,
        &[
            "volume",
            "set",
            "--name",
            "v1b",
            "--description",
            "renamed",
            "--property",
            "k=v",
            "v1",
        ],
    );
    let v1 = c.os_json(DEMO, &["volume", "show", "v1b"]);
    assert_eq!(s(&v1, "description"), "renamed", "{v1}");
    assert!(v1["properties"].to_string().contains("\"k\""), "{v1}");
    // extend
    c.os(DEMO, &["volume", "set", "--size", "2", "v1b"]);
    let v1 = wait_status(&c, DEMO, "v1b", "available");
    assert_eq!(v1["size"], 2, "{v1}");

    // ---- snapshots
    c.os_json(
        DEMO,
        &["volume", "snapshot", "create", "--volume", "v1b", "s1"],
    );
    let s1 = wait_snapshot(&c, DEMO, "s1");
    assert_eq!(s1["size"], 2, "{s1}");
    let snaps = c.os_json(DEMO, &["volume", "snapshot", "list"]);
    assert!(snaps.to_string().contains("s1"), "{snaps}");
    // a volume with snapshots is not deleted
    let err = c.os_err(DEMO, &["volume", "delete", "v1b"]);
    assert!(err.stderr.contains("dependent snapshots"), "{err}");
    wait_status(&c, DEMO, "v1b", "available");

    // ---- from the snapshot, and from another volume
    c.os_json(DEMO, &["volume", "create", "--snapshot", "s1", "v3"]);
    let v3 = wait_status(&c, DEMO, "v3", "available");
    assert_eq!(v3["size"], 2, "{v3}");
    c.os_json(DEMO, &["volume", "create", "--source", "v2", "v4"]);
    let v4 = wait_status(&c, DEMO, "v4", "available");
    assert_eq!(
        v4["bootable"].to_string().to_lowercase().trim_matches('"'),
        "true",
        "{v4}"
    );

    // ---- quotas
    let q = c.os_json(ADMIN, &["quota", "show", "--volume", "demo"]);
    assert!(q.to_string().contains("volumes"), "{q}");
    c.os(ADMIN, &["quota", "set", "--volumes", "4", "demo"]);
    let err = c.os_err(DEMO, &["volume", "create", "--size", "1", "over"]);
    assert!(err.stderr.contains("VolumeLimitExceeded"), "{err}");
    let list = c.os_json(DEMO, &["volume", "list"]);
    assert!(!list.to_string().contains("\"over\""), "{list}");

    // ---- delete everything: no file left
    c.os(DEMO, &["volume", "snapshot", "delete", "s1"]);
    wait_gone(&c, DEMO, &["volume", "snapshot", "show", "s1"]);
    c.os(DEMO, &["volume", "delete", "v1b", "v2", "v3", "v4"]);
    for v in ["v1b", "v2", "v3", "v4"] {
        wait_gone(&c, DEMO, &["volume", "show", v]);
    }
    assert!(files(&c).is_empty(), "files left: {:?}", files(&c));
    c.os(ADMIN, &["volume", "type", "delete", "gold"]);
    c.stop();
}

fn cli_refusals_and_sdk(engine: Engine) {
    // None only outside scripts/test and CI (without a PostgreSQL server to use)
    let Some(mut c) = Cloud::new(engine) else {
        return;
    };
    c.up();

    // raw HTTP: the version documents, microversions negotiated and echoed, Cinder's
    // fault bodies
    let port = c.volume_port;
    let root = http(port, "GET", "/", &[], None).expect("GET /");
    assert_eq!(root.status, 300, "{root}");
    let v3 = http(port, "GET", "/v3/", &[], None)
        .expect("GET /v3/")
        .json();
    assert_eq!(v3["versions"][0]["version"], "3.70", "{v3}");
    assert_eq!(v3["versions"][0]["min_version"], "3.0", "{v3}");
    let token = c.issue_token("demo", &c.password("demo"), "demo");
    let demo = c.os_json(DEMO, &["token", "issue"]);
    let base = format!("/v3/{}", s(&demo, "project_id"));
    let auth = [
        ("X-Auth-Token", token.as_str()),
        ("OpenStack-API-Version", "volume 3.59"),
    ];
    let r = http(port, "GET", &format!("{base}/volumes"), &auth, None).expect("list");
    assert_eq!(
        r.header("openstack-api-version"),
        Some("volume 3.59"),
        "{r}"
    );
    let r = http(
        port,
        "GET",
        &format!("{base}/volumes"),
        &[auth[0], ("OpenStack-API-Version", "volume 3.99")],
        None,
    )
    .expect("list");
    assert_eq!(r.status, 406, "{r}");
    let missing = "6a1f4b1e-8e4e-4a55-9d3e-2a4b5c6d7e8f";
    let r = http(
        port,
        "GET",
        &format!("{base}/volumes/{missing}"),
        &auth,
        None,
    )
    .expect("show");
    assert_eq!(r.status, 404, "{r}");
    assert_eq!(
        r.json()["itemNotFound"]["message"],
        format!("Volume {missing} could not be found."),
        "{r}"
    );
    let body = serde_json::json!({"volume": {"size": 0}});
    let r = http(port, "POST", &format!("{base}/volumes"), &auth, Some(&body)).expect("create");
    assert_eq!(r.status, 400, "{r}");
    assert_eq!(r.json()["badRequest"]["code"], 400, "{r}");

    // size 0, negative, an unknown type: refused, nothing made
    for size in ["0", "-1"] {
        let err = c.os_err(DEMO, &["volume", "create", "--size", size, "bad"]);
        assert!(
            err.stderr.contains("must be an integer and greater than 0")
                || err.stderr.contains("invalid"),
            "{err}"
        );
    }
    let err = c.os_err(
        DEMO,
        &["volume", "create", "--size", "1", "--type", "nosuch", "bad"],
    );
    assert!(err.stderr.contains("could not be found"), "{err}");
    // over the gigabytes quota
    c.os(ADMIN, &["quota", "set", "--gigabytes", "3", "demo"]);
    let err = c.os_err(DEMO, &["volume", "create", "--size", "4", "bad"]);
    assert!(err.stderr.contains("gigabytes quota"), "{err}");
    let body = serde_json::json!({"volume": {"size": 4}});
    let r = http(port, "POST", &format!("{base}/volumes"), &auth, Some(&body)).expect("create");
    assert_eq!(r.status, 413, "{r}");
    assert!(r.json()["overLimit"]["message"].as_str().is_some(), "{r}");
    let list = c.os_json(DEMO, &["volume", "list"]);
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
    assert!(files(&c).is_empty(), "{:?}", files(&c));

    // an image whose virtual size does not fit: the create unwinds to `error`, no file
    qcow2_image(&c, "big", "3G");
    c.os_json(
        DEMO,
        &[
            "volume", "create", "--image", "big", "--size", "1", "toobig",
        ],
    );
    wait_status(&c, DEMO, "toobig", "error");
    assert!(files(&c).is_empty(), "{:?}", files(&c));
    c.os(DEMO, &["volume", "delete", "toobig"]);
    wait_gone(&c, DEMO, &["volume", "show", "toobig"]);

    // another project's volume is not found
    let v = c.os_json(ADMIN, &["volume", "create", "--size", "1", "admins"]);
    let err = c.os_err(DEMO, &["volume", "show", s(&v, "id")]);
    assert!(
        err.stderr.contains("No Volume found")
            || err.stderr.contains("No volume with a name or ID"),
        "{err}"
    );
    wait_status(&c, ADMIN, "admins", "available");
    c.os(ADMIN, &["volume", "delete", "admins"]);
    wait_gone(&c, ADMIN, &["volume", "show", "admins"]);

    // openstacksdk
    let out = c.python(&format!(
        r#"
import openstack
conn = openstack.connect(cloud="{DEMO}")
v = conn.block_storage.create_volume(size=1, name="sdk1")
v = conn.block_storage.wait_for_status(v, status="available", failures=["error"], interval=1, wait=60)
assert v.size == 1 and v.is_bootable is False, v
conn.block_storage.delete_volume(v)
conn.block_storage.wait_for_delete(v, interval=1, wait=60)
print("OK")
"#
    ));
    assert!(out.success() && out.stdout.contains("OK"), "{out}");
    assert!(files(&c).is_empty(), "{:?}", files(&c));
    c.stop();
}

/// The many-machines way: `manage db sync` + `manage bootstrap`, then `serve --role
/// identity,image,volume`, the volume service reaching Image with the service user.
fn serve_role_volume(engine: Engine) {
    // None only outside scripts/test and CI (without a PostgreSQL server to use)
    let Some(mut c) = Cloud::new(engine) else {
        return;
    };
    c.configure();
    let sync = c.manage(&["db", "sync"]);
    assert!(sync.success(), "{sync}");
    let boot = c.manage(&["bootstrap"]);
    assert!(boot.success(), "{boot}");
    c.with_service_auth();
    c.serve("identity,image,volume");
    qcow2_image(&c, "cirros", "64M");
    c.os_json(
        DEMO,
        &["volume", "create", "--image", "cirros", "--size", "1", "sv"],
    );
    let v = wait_status(&c, DEMO, "sv", "available");
    assert_eq!(
        v["bootable"].to_string().to_lowercase().trim_matches('"'),
        "true",
        "{v}"
    );
    c.os(DEMO, &["volume", "delete", "sv"]);
    wait_gone(&c, DEMO, &["volume", "show", "sv"]);
    assert!(files(&c).is_empty(), "{:?}", files(&c));
    c.stop();
}

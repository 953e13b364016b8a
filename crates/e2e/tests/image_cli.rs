//! Image service (Glance v2) flows driven by the unmodified clients against the real
//! binary: python-openstackclient for the everyday commands (create/upload, list, show,
//! save, set/unset, sharing, interoperable import, refusals), openstacksdk for a 1 GiB
//! upload and download with hash checks, and `oxistack up` registering the test image
//! `cirros`.
//!
//! Every cloud here runs with `test_image = false` (the harness's default), except the
//! flow about `cirros` ([`Cloud::with_test_image`]: `test_image_dir` is the repository's
//! `images/out`, so the builder reuses the image built there). Images are made with
//! `qemu-img` and `qemu-io` (from `qemu-utils`, which the test image builder installs).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use e2e::{on_every_engine, run, test_image_dir, Cloud, CmdOutput, Engine, ADMIN, DEMO};
use serde_json::Value;

on_every_engine!(
    cli_image_lifecycle,
    cli_sharing_and_member_refusals,
    cli_import_and_unsafe_images,
    up_registers_the_test_image,
);

// ------------------------------------------------------------------ the cloud

/// How long `up` may take to register `cirros` (the builder returns at once when the
/// image in `images/out` is current; a rebuild takes seconds, more when it must install
/// Debian packages first).
const TEST_IMAGE_TIMEOUT: Duration = Duration::from_secs(240);

/// A cloud on its own ports, with `test_image = false` unless `test_image` (then `up`
/// registers `cirros` from the harness's [`test_image_dir`]).
fn start(engine: Engine, test_image: bool) -> Option<Cloud> {
    let mut c = Cloud::new(engine)?;
    if test_image {
        c.with_test_image();
    }
    c.up();
    Some(c)
}

// ------------------------------------------------------------------ helpers

/// The value of `key` in `v` as a string ("" when absent or not a string).
fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The rows of a list output.
fn rows(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not a list: {v}"))
}

/// The `key` column of every row of a list output.
fn column(v: &Value, key: &str) -> Vec<String> {
    rows(v).iter().map(|r| s(r, key).to_owned()).collect()
}

/// Fails unless the client reported this HTTP status.
#[track_caller]
fn assert_http_error(out: &CmdOutput, code: u16) {
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!("HTTP {code}"))
            || text.contains(&format!("{code}:"))
            || text.contains(&format!("({code})")),
        "expected HTTP {code}:\n{out}"
    );
}

/// `program args...`, which must succeed within a minute.
#[track_caller]
fn sh(program: &str, args: &[&str]) -> CmdOutput {
    let out = run(Command::new(program).args(args), Duration::from_secs(60));
    assert!(out.success(), "{program} failed:\n{out}");
    out
}

/// The hex digest of a file by `md5sum`, `sha512sum`...
fn digest(tool: &str, path: &Path) -> String {
    let out = sh(tool, &[&path.display().to_string()]);
    out.stdout
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A small real qcow2 (64 MiB virtual) with two written extents, in `dir`.
fn make_qcow2(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let ps = p.display().to_string();
    sh("qemu-img", &["create", "-q", "-f", "qcow2", &ps, "64M"]);
    sh(
        "qemu-io",
        &[
            "-c",
            "write -q -P 0xab 0 1M",
            "-c",
            "write -q -P 0x5a 10M 512k",
            &ps,
        ],
    );
    p
}

/// A qcow2 whose backing file is `base` (what Glance refuses: it would expose a host
/// file to whatever uses the image).
fn make_overlay(dir: &Path, name: &str, base: &Path) -> PathBuf {
    let p = dir.join(name);
    sh(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            &base.display().to_string(),
            "-F",
            "qcow2",
            &p.display().to_string(),
        ],
    );
    p
}

/// A directory of this test for client files.
fn files(c: &Cloud) -> PathBuf {
    let d = c.dir().join("files");
    fs::create_dir_all(&d).expect("files dir");
    d
}

/// `image show <image> -f json` as `cloud`.
#[track_caller]
fn show(c: &Cloud, cloud: &str, image: &str) -> Value {
    c.os_json(cloud, &["image", "show", image])
}

/// A property of `image show` output (they are under `properties`).
fn prop<'a>(img: &'a Value, key: &str) -> Option<&'a Value> {
    img.get("properties").and_then(|p| p.get(key))
}

/// Poll `image show` until the image leaves the transitional statuses (saving,
/// uploading, importing) and return it.
#[track_caller]
fn wait_settled(c: &Cloud, cloud: &str, image: &str, timeout: Duration) -> Value {
    let started = Instant::now();
    loop {
        let img = show(c, cloud, image);
        if !matches!(s(&img, "status"), "saving" | "uploading" | "importing") {
            return img;
        }
        assert!(
            started.elapsed() < timeout,
            "image {image} still {} after {timeout:?}: {img}",
            s(&img, "status")
        );
        thread::sleep(Duration::from_millis(300));
    }
}

/// The image the data of `file` makes: size, md5 `checksum`, sha512 `os_hash_value`.
#[track_caller]
fn assert_holds(img: &Value, file: &Path) {
    let size = fs::metadata(file).expect("file").len();
    assert_eq!(s(img, "status"), "active", "{img}");
    assert_eq!(img["size"].as_u64(), Some(size), "{img}");
    assert_eq!(s(img, "checksum"), digest("md5sum", file), "{img}");
    assert_eq!(
        prop(img, "os_hash_algo").and_then(Value::as_str),
        Some("sha512"),
        "{img}"
    );
    assert_eq!(
        prop(img, "os_hash_value").and_then(Value::as_str),
        Some(digest("sha512sum", file).as_str()),
        "{img}"
    );
}

/// `image save` as `cloud` into `out`, which must then equal `file` byte for byte.
#[track_caller]
fn assert_saves_as(c: &Cloud, cloud: &str, image: &str, file: &Path, out: &Path) {
    c.os(
        cloud,
        &["image", "save", "--file", &out.display().to_string(), image],
    );
    let (a, b) = (fs::read(file).expect("file"), fs::read(out).expect("saved"));
    assert!(
        a == b,
        "image save gave {} bytes that differ from the {} uploaded ({})",
        b.len(),
        a.len(),
        file.display()
    );
}

// ------------------------------------------------------------------ flows

/// create --file (upload), list --long, show, save, set/unset properties and tags,
/// delete.
fn cli_image_lifecycle(engine: Engine) {
    let Some(c) = start(engine, false) else {
        return;
    };
    let dir = files(&c);
    let f = make_qcow2(&dir, "disk.qcow2");
    let fs_ = f.display().to_string();
    let name = "e2e-lifecycle";

    let created = c.os_json(
        ADMIN,
        &[
            "image",
            "create",
            "--file",
            &fs_,
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "--public",
            name,
        ],
    );
    let id = s(&created, "id").to_owned();
    assert!(!id.is_empty(), "{created}");
    assert_eq!(s(&created, "visibility"), "public", "{created}");
    assert_holds(&created, &f);

    // list --long: every column of the image, for the admin and (public) for demo
    let list = c.os_json(ADMIN, &["image", "list", "--long"]);
    let row = rows(&list)
        .iter()
        .find(|r| s(r, "ID") == id)
        .unwrap_or_else(|| panic!("{id} not in image list --long: {list}"));
    let size = fs::metadata(&f).expect("file").len();
    assert_eq!(s(row, "Name"), name, "{row}");
    assert_eq!(s(row, "Disk Format"), "qcow2", "{row}");
    assert_eq!(s(row, "Container Format"), "bare", "{row}");
    assert_eq!(row["Size"].as_u64(), Some(size), "{row}");
    assert_eq!(s(row, "Checksum"), digest("md5sum", &f), "{row}");
    assert_eq!(s(row, "Status"), "active", "{row}");
    assert_eq!(s(row, "Visibility"), "public", "{row}");
    assert_eq!(row["Protected"], Value::Bool(false), "{row}");
    assert_eq!(s(row, "Project"), s(&created, "owner"), "{row}");
    assert_eq!(s(row, "Hash Algorithm"), "sha512", "{row}");
    assert_eq!(s(row, "Hash Value"), digest("sha512sum", &f), "{row}");
    let demo_list = c.os_json(DEMO, &["image", "list"]);
    assert!(column(&demo_list, "ID").contains(&id), "{demo_list}");

    // show (by name and by ID), with what the upload found in the data
    let img = show(&c, ADMIN, name);
    assert_eq!(s(&img, "id"), id, "{img}");
    assert_holds(&img, &f);
    assert_eq!(img["virtual_size"].as_u64(), Some(64 << 20), "{img}");
    assert_eq!(s(&img, "disk_format"), "qcow2", "{img}");
    assert_eq!(s(&img, "container_format"), "bare", "{img}");
    assert_eq!(show(&c, DEMO, &id)["checksum"], img["checksum"]);

    // save: the same bytes back
    assert_saves_as(&c, ADMIN, name, &f, &dir.join("saved.qcow2"));

    // set / unset properties and tags
    c.os(
        ADMIN,
        &[
            "image",
            "set",
            "--property",
            "k=v",
            "--property",
            "keep=me",
            "--tag",
            "t",
            "--tag",
            "kept",
            name,
        ],
    );
    let img = show(&c, ADMIN, &id);
    assert_eq!(prop(&img, "k"), Some(&Value::from("v")), "{img}");
    assert_eq!(prop(&img, "keep"), Some(&Value::from("me")), "{img}");
    let tags = img["tags"].as_array().cloned().unwrap_or_default();
    assert!(
        tags.contains(&Value::from("t")) && tags.contains(&Value::from("kept")),
        "{img}"
    );
    let tagged = c.os_json(ADMIN, &["image", "list", "--tag", "t"]);
    assert_eq!(column(&tagged, "ID"), vec![id.clone()], "{tagged}");
    let by_prop = c.os_json(ADMIN, &["image", "list", "--property", "k=v"]);
    assert_eq!(column(&by_prop, "ID"), vec![id.clone()], "{by_prop}");

    c.os(
        ADMIN,
        &["image", "unset", "--property", "k", "--tag", "t", name],
    );
    let img = show(&c, ADMIN, &id);
    assert_eq!(prop(&img, "k"), None, "{img}");
    assert_eq!(prop(&img, "keep"), Some(&Value::from("me")), "{img}");
    assert_eq!(img["tags"], serde_json::json!(["kept"]), "{img}");
    let tagged = c.os_json(ADMIN, &["image", "list", "--tag", "t"]);
    assert!(rows(&tagged).is_empty(), "{tagged}");
    // the data did not change
    assert_holds(&img, &f);

    // delete
    c.os(ADMIN, &["image", "delete", name]);
    let out = c.os_err(ADMIN, &["image", "show", &id]);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("No Image found"),
        "{out}"
    );
    let list = c.os_json(ADMIN, &["image", "list"]);
    assert!(!column(&list, "ID").contains(&id), "{list}");
}

/// A shared image: the admin adds demo's project, demo accepts and sees, downloads it;
/// demo may not change or delete it, nor make a public image.
fn cli_sharing_and_member_refusals(engine: Engine) {
    let Some(c) = start(engine, false) else {
        return;
    };
    let dir = files(&c);
    let f = make_qcow2(&dir, "shared.qcow2");
    let name = "e2e-shared";
    let created = c.os_json(
        ADMIN,
        &[
            "image",
            "create",
            "--file",
            &f.display().to_string(),
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "--shared",
            name,
        ],
    );
    let id = s(&created, "id").to_owned();
    assert_eq!(s(&created, "visibility"), "shared", "{created}");
    assert_holds(&created, &f);

    // not a member yet: demo does not see it
    let demo_ids = |c: &Cloud| column(&c.os_json(DEMO, &["image", "list"]), "ID");
    assert!(!demo_ids(&c).contains(&id));

    // the admin adds demo's project: pending, so still not listed for demo
    let member = c.os_json(ADMIN, &["image", "add", "project", name, "demo"]);
    assert_eq!(s(&member, "status"), "pending", "{member}");
    assert_eq!(s(&member, "image_id"), id, "{member}");
    let demo_project = c.os_json(DEMO, &["token", "issue"]);
    assert_eq!(
        s(&member, "member_id"),
        s(&demo_project, "project_id"),
        "{member}"
    );
    assert!(!demo_ids(&c).contains(&id));

    // demo accepts: listed, readable, downloadable
    c.os(DEMO, &["image", "set", "--accept", &id]);
    assert!(demo_ids(&c).contains(&id));
    let members = c.os_json(ADMIN, &["image", "member", "list", name]);
    assert_eq!(column(&members, "Status"), vec!["accepted"], "{members}");
    assert_eq!(
        column(&members, "Member ID"),
        vec![s(&demo_project, "project_id").to_owned()],
        "{members}"
    );
    assert_holds(&show(&c, DEMO, &id), &f);
    assert_saves_as(&c, DEMO, &id, &f, &dir.join("demo-saved.qcow2"));

    // but it is not demo's to change or delete
    let out = c.os_err(DEMO, &["image", "set", "--property", "x=y", &id]);
    assert_http_error(&out, 403);
    let out = c.os_err(DEMO, &["image", "delete", &id]);
    assert_http_error(&out, 403);
    assert_eq!(s(&show(&c, ADMIN, &id), "status"), "active");

    // a member may not publish an image
    let out = c.os_err(
        DEMO,
        &[
            "image",
            "create",
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "--public",
            "e2e-member-public",
        ],
    );
    assert_http_error(&out, 403);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("publicize_image"),
        "{out}"
    );
    let all = c.os_json(ADMIN, &["image", "list"]);
    assert!(
        !column(&all, "Name").contains(&"e2e-member-public".to_owned()),
        "{all}"
    );

    // removed from the members: gone from demo's view
    c.os(ADMIN, &["image", "remove", "project", name, "demo"]);
    assert!(!demo_ids(&c).contains(&id));
    c.os_err(DEMO, &["image", "show", &id]);

    c.os(ADMIN, &["image", "delete", &id]);
    let all = c.os_json(ADMIN, &["image", "list"]);
    assert!(rows(&all).is_empty(), "{all}");
}

/// Interoperable import (glance-direct) by `image create --import` and by `image stage`
/// then `image import`; a qcow2 with a backing file is refused on upload and on import,
/// and the image is left queued, ready for good data.
fn cli_import_and_unsafe_images(engine: Engine) {
    let Some(c) = start(engine, false) else {
        return;
    };
    let dir = files(&c);
    let f = make_qcow2(&dir, "import.qcow2");
    let fs_ = f.display().to_string();
    let overlay = make_overlay(&dir, "overlay.qcow2", &f);
    let overlay_s = overlay.display().to_string();
    let settle = Duration::from_secs(60);

    let info = c.os_json(ADMIN, &["image", "import", "info"]);
    let methods = info["import-methods"].to_string();
    assert!(methods.contains("glance-direct"), "{info}");

    // image create --import: POST, PUT /stage, POST /import (method glance-direct)
    let created = c.os_json(
        ADMIN,
        &[
            "image",
            "create",
            "--import",
            "--file",
            &fs_,
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "e2e-imported",
        ],
    );
    let id = s(&created, "id").to_owned();
    let img = wait_settled(&c, ADMIN, &id, settle);
    assert_holds(&img, &f);
    assert_eq!(img["virtual_size"].as_u64(), Some(64 << 20), "{img}");
    assert_saves_as(&c, ADMIN, &id, &f, &dir.join("imported.qcow2"));

    // a backing file is refused on upload (415, as Glance does); the client then
    // deletes the image it created, so none is left active under that name
    let out = c.os_err(
        ADMIN,
        &[
            "image",
            "create",
            "--file",
            &overlay_s,
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "e2e-backing-upload",
        ],
    );
    assert_http_error(&out, 415);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("safety check"),
        "{out}"
    );
    let list = c.os_json(ADMIN, &["image", "list", "--long"]);
    assert!(
        !rows(&list)
            .iter()
            .any(|r| s(r, "Name") == "e2e-backing-upload" && s(r, "Status") == "active"),
        "{list}"
    );

    // ... and an upload to an existing image leaves it queued with no data (the SDK's
    // plain upload: OSC cannot upload to an existing image)
    let script = format!(
        r#"
import json, openstack
conn = openstack.connect(cloud='{ADMIN}')
img = conn.image.create_image(name='e2e-backing-put', disk_format='qcow2',
                              container_format='bare', allow_duplicates=True)
with open({overlay:?}, 'rb') as f:
    img.data = f
    resp = img.upload(conn.image)
after = conn.image.get_image(img.id)
print(json.dumps({{'id': img.id, 'code': resp.status_code, 'body': resp.text,
                  'status': after.status, 'size': after.size, 'checksum': after.checksum}}))
"#,
        overlay = overlay_s
    );
    let out = c.python(&script);
    assert!(out.success(), "{out}");
    let put: Value = serde_json::from_str(out.stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(put["code"], 415, "{put}");
    assert!(s(&put, "body").contains("safety check"), "{put}");
    let img = show(&c, ADMIN, s(&put, "id"));
    assert_eq!(s(&img, "status"), "queued", "{img}");
    assert!(img["size"].is_null() && img["checksum"].is_null(), "{img}");

    // a backing file is refused on import: the import fails and the image goes back
    // to queued, the failure recorded in os_glance_failed_import
    let created = c.os_json(
        ADMIN,
        &[
            "image",
            "create",
            "--import",
            "--file",
            &overlay_s,
            "--disk-format",
            "qcow2",
            "--container-format",
            "bare",
            "e2e-backing-import",
        ],
    );
    let bad = s(&created, "id").to_owned();
    let img = wait_settled(&c, ADMIN, &bad, settle);
    assert_eq!(s(&img, "status"), "queued", "{img}");
    assert!(img["size"].is_null() && img["checksum"].is_null(), "{img}");
    assert!(
        prop(&img, "os_glance_failed_import")
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty()),
        "{img}"
    );

    // the queued image takes good data: image stage, then image import glance-direct
    c.os(ADMIN, &["image", "stage", "--file", &fs_, &bad]);
    assert_eq!(s(&show(&c, ADMIN, &bad), "status"), "uploading");
    c.os(
        ADMIN,
        &["image", "import", "--method", "glance-direct", &bad],
    );
    let img = wait_settled(&c, ADMIN, &bad, settle);
    assert_holds(&img, &f);
    assert_eq!(
        prop(&img, "os_glance_failed_import").and_then(Value::as_str),
        Some(""),
        "{img}"
    );
    assert_saves_as(&c, ADMIN, &bad, &f, &dir.join("restaged.qcow2"));

    // a second import of an active image is refused
    c.os_err(
        ADMIN,
        &["image", "import", "--method", "glance-direct", &bad],
    );

    for i in [id.as_str(), bad.as_str(), s(&put, "id")] {
        c.os(ADMIN, &["image", "delete", i]);
    }
}

/// `up` with `test_image = true` registers the public qcow2 image `cirros` (active,
/// with its hardware properties) within a bounded wait; restarting registers no second
/// one.
fn up_registers_the_test_image(engine: Engine) {
    let Some(mut c) = start(engine, true) else {
        return;
    };
    let built = test_image_dir().join("test-image.qcow2");
    let started = Instant::now();
    let img = loop {
        // demo sees it: it is public
        let list = c.os_json(DEMO, &["image", "list", "--name", "cirros", "--long"]);
        if let Some(r) = rows(&list).iter().find(|r| s(r, "Status") == "active") {
            break show(&c, DEMO, s(r, "ID"));
        }
        let log = c.server_log();
        assert!(
            !(log.contains("[test-image]") && log.contains("FAILED")),
            "up failed to make the test image:\n{log}"
        );
        assert!(
            started.elapsed() < TEST_IMAGE_TIMEOUT,
            "no active cirros after {TEST_IMAGE_TIMEOUT:?}: {list}\n{log}"
        );
        thread::sleep(Duration::from_millis(500));
    };
    eprintln!("image_cli: cirros active after {:?}", started.elapsed());
    assert_eq!(s(&img, "name"), "cirros", "{img}");
    assert_eq!(s(&img, "visibility"), "public", "{img}");
    assert_eq!(s(&img, "disk_format"), "qcow2", "{img}");
    assert_eq!(s(&img, "container_format"), "bare", "{img}");
    for (k, v) in [
        ("hw_disk_bus", "virtio"),
        ("hw_vif_model", "virtio"),
        ("hw_rng_model", "virtio"),
        ("os_type", "linux"),
    ] {
        assert_eq!(prop(&img, k).and_then(Value::as_str), Some(v), "{k}: {img}");
    }
    assert_holds(&img, &built);
    let manifest: Value = serde_json::from_str(
        &fs::read_to_string(test_image_dir().join("manifest.json"))
            .expect("manifest.json of the test image"),
    )
    .expect("manifest JSON");
    assert_eq!(img["virtual_size"], manifest["disk_virtual_size"], "{img}");
    let admin_project = c.os_json(ADMIN, &["token", "issue"]);
    assert_eq!(
        s(&img, "owner"),
        s(&admin_project, "project_id"),
        "cirros belongs to the admin project: {img}"
    );
    let dir = files(&c);
    assert_saves_as(&c, DEMO, "cirros", &built, &dir.join("cirros.qcow2"));

    // a second up finds it and registers no other
    let id = s(&img, "id").to_owned();
    c.stop();
    c.up();
    let started = Instant::now();
    while !c
        .server_log()
        .contains("the test image is registered as cirros")
    {
        assert!(
            started.elapsed() < TEST_IMAGE_TIMEOUT,
            "the second up did not finish with the test image:\n{}",
            c.server_log()
        );
        thread::sleep(Duration::from_millis(300));
    }
    let list = c.os_json(ADMIN, &["image", "list", "--name", "cirros"]);
    assert_eq!(column(&list, "ID"), vec![id], "{list}");
}

// ------------------------------------------------------------------ openstacksdk

/// openstacksdk: a 1 GiB random image up and down, hashes checked end to end. The data
/// path does not depend on the database, so this runs on SQLite only.
const SDK_BIG_IMAGE: &str = r#"
import hashlib, json, os, sys, time
import openstack
from openstack import exceptions

src, dst = sys.argv[1], sys.argv[2]
t0 = time.time()
md5, sha = hashlib.md5(), hashlib.sha512()
with open(src, 'wb') as f:
    for _ in range(256):
        b = os.urandom(4 << 20)
        md5.update(b)
        sha.update(b)
        f.write(b)
local = {'md5': md5.hexdigest(), 'sha512': sha.hexdigest(), 'size': os.path.getsize(src)}
t1 = time.time()

conn = openstack.connect(cloud='oxistack-admin')
img = conn.image.create_image(
    name='e2e-sdk-1g', filename=src, disk_format='raw', container_format='bare',
    wait=True, timeout=150, validate_checksum=True, allow_duplicates=True)
img = conn.image.get_image(img.id)
t2 = time.time()

conn.image.download_image(img, output=dst, chunk_size=4 << 20)
md5, sha = hashlib.md5(), hashlib.sha512()
with open(dst, 'rb') as f:
    while True:
        b = f.read(8 << 20)
        if not b:
            break
        md5.update(b)
        sha.update(b)
down = {'md5': md5.hexdigest(), 'sha512': sha.hexdigest(), 'size': os.path.getsize(dst)}
t3 = time.time()
os.remove(src)
os.remove(dst)

conn.image.delete_image(img, ignore_missing=False)
try:
    conn.image.get_image(img.id)
    gone = False
except exceptions.NotFoundException:
    gone = True
print(json.dumps({
    'local': local, 'downloaded': down, 'gone': gone,
    'image': {'id': img.id, 'status': img.status, 'size': img.size,
              'checksum': img.checksum, 'os_hash_algo': img.hash_algo,
              'os_hash_value': img.hash_value,
              'md5_property': img.properties.get('owner_specified.openstack.md5')},
    'seconds': {'generate': round(t1 - t0, 1), 'upload': round(t2 - t1, 1),
                'download': round(t3 - t2, 1)},
}))
"#;

#[test]
fn openstacksdk_1gib_upload_and_download() {
    let Some(c) = start(Engine::Sqlite, false) else {
        return;
    };
    let dir = files(&c);
    let (src, dst) = (dir.join("big.raw"), dir.join("big.downloaded"));
    let script = format!(
        "import sys; sys.argv = ['sdk', {:?}, {:?}]\n{SDK_BIG_IMAGE}",
        src.display().to_string(),
        dst.display().to_string()
    );
    let started = Instant::now();
    // a gibibyte made, hashed, sent and read back: minutes on a loaded machine
    let out = c.python_within(&script, std::time::Duration::from_secs(900));
    let took = started.elapsed();
    assert!(out.success(), "{out}");
    let r: Value = serde_json::from_str(out.stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    eprintln!(
        "image_cli: 1 GiB through openstacksdk in {took:?}: {}",
        r["seconds"]
    );
    let (local, down, img) = (&r["local"], &r["downloaded"], &r["image"]);
    assert_eq!(local["size"], 1u64 << 30, "{r}");
    assert_eq!(down, local, "the download differs from the upload: {r}");
    assert_eq!(s(img, "status"), "active", "{r}");
    assert_eq!(img["size"], local["size"], "{r}");
    assert_eq!(img["checksum"], local["md5"], "{r}");
    assert_eq!(img["md5_property"], local["md5"], "{r}");
    assert_eq!(s(img, "os_hash_algo"), "sha512", "{r}");
    assert_eq!(img["os_hash_value"], local["sha512"], "{r}");
    assert_eq!(r["gone"], true, "{r}");
    assert!(!src.exists() && !dst.exists());
}

//! Object Storage (Swift v1) driven by the unmodified clients against the real binary:
//! python-openstackclient's `container` and `object` commands, python-swiftclient's
//! `swift` CLI (stat, upload, download, list --prefix, post -m, post -r), openstacksdk's
//! object store proxy, and raw requests for Swift's answers to bad input. `up` makes a
//! ring of three devices with three replicas; a device's contents are then deleted and
//! every object is still served.
//!
//! The object store keeps nothing in the cloud's database, so one engine (SQLite) is
//! enough here.

use std::{fs, path::Path};

use e2e::{Cloud, CmdOutput, DEMO};
use serde_json::Value;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|r| s(r, key).to_owned())
        .collect()
}

#[track_caller]
fn ok(out: CmdOutput) -> String {
    assert!(out.success(), "failed:\n{out}");
    out.stdout
}

fn md5_hex(data: &[u8]) -> String {
    // the clients compute it too; this is the reference
    let out = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(data)?;
            c.wait_with_output()
        })
        .expect("md5sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn object_store_cli() {
    let mut c = Cloud::sqlite();
    c.object_option("part_power = 6");
    c.up();
    let work = c.dir().join("work");
    fs::create_dir_all(&work).unwrap();

    // ---- openstack container / object
    let created = c.os_json(DEMO, &["container", "create", "photos"]);
    assert_eq!(names(&created, "container"), ["photos"], "{created}");
    let list = c.os_json(DEMO, &["container", "list"]);
    assert!(
        names(&list, "Name").contains(&"photos".to_owned()),
        "{list}"
    );
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = work.join("cat.jpg");
    fs::write(&file, &data).unwrap();
    let obj = c.os_json(
        DEMO,
        &[
            "object",
            "create",
            "--name",
            "2024/cat.jpg",
            "photos",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(s(&obj[0], "etag"), md5_hex(&data), "{obj}");
    let objects = c.os_json(DEMO, &["object", "list", "photos"]);
    assert_eq!(names(&objects, "Name"), ["2024/cat.jpg"], "{objects}");
    let shown = c.os_json(DEMO, &["object", "show", "photos", "2024/cat.jpg"]);
    assert_eq!(s(&shown, "etag"), md5_hex(&data), "{shown}");
    assert_eq!(
        s(&shown, "content-length"),
        data.len().to_string(),
        "{shown}"
    );
    let saved = work.join("saved.jpg");
    c.os(
        DEMO,
        &[
            "object",
            "save",
            "--file",
            saved.to_str().unwrap(),
            "photos",
            "2024/cat.jpg",
        ],
    );
    assert_eq!(fs::read(&saved).unwrap(), data);
    let cont = c.os_json(DEMO, &["container", "show", "photos"]);
    assert_eq!(
        cont["object_count"].to_string().trim_matches('"'),
        "1",
        "{cont}"
    );
    // a container with an object cannot be deleted (409)
    let out = c.os_cmd(DEMO, &["container", "delete", "photos"]);
    assert!(!out.success(), "{out}");

    // ---- the swift CLI (credentials from openrc-demo)
    let swift = |cmd: &str| {
        c.bash(&format!(
            "source ./openrc-demo && cd {} && {cmd}",
            work.display()
        ))
    };
    let stat = ok(swift("swift stat"));
    assert!(stat.contains("Containers: 1"), "{stat}");
    assert!(stat.contains("Objects: 1"), "{stat}");
    fs::create_dir_all(work.join("docs/a")).unwrap();
    fs::write(work.join("docs/a/one.txt"), b"one\n").unwrap();
    fs::write(work.join("docs/a/two.txt"), b"two two\n").unwrap();
    fs::write(work.join("docs/three.txt"), b"three\n").unwrap();
    ok(swift("swift upload backups docs"));
    let listed = ok(swift("swift list backups --prefix docs/a/"));
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        ["docs/a/one.txt", "docs/a/two.txt"]
    );
    let delimited = ok(swift("swift list backups --prefix docs/ --delimiter /"));
    assert_eq!(
        delimited.lines().collect::<Vec<_>>(),
        ["docs/a/", "docs/three.txt"]
    );
    ok(swift("swift post -m Color:blue backups docs/three.txt"));
    let st = ok(swift("swift stat backups docs/three.txt"));
    assert!(st.contains("Meta Color: blue"), "{st}");
    ok(swift("swift post -m Owner:ops backups"));
    let st = ok(swift("swift stat backups"));
    assert!(st.contains("Meta Owner: ops"), "{st}");
    fs::remove_dir_all(work.join("docs")).unwrap();
    ok(swift("swift download backups docs/a/two.txt"));
    assert_eq!(fs::read(work.join("docs/a/two.txt")).unwrap(), b"two two\n");
    ok(swift(
        "swift download backups -o - docs/three.txt > three.out",
    ));
    assert_eq!(fs::read(work.join("three.out")).unwrap(), b"three\n");

    // ---- TempURL: `swift tempurl` signs with the account's key; no token needed
    let account = stat
        .lines()
        .find_map(|l| l.trim().strip_prefix("Account: "))
        .expect("swift stat names the account")
        .to_owned();
    ok(swift("swift post -m Temp-URL-Key:sekrit"));
    let signed = ok(swift(&format!(
        "swift tempurl GET 120 /v1/{account}/backups/docs/three.txt sekrit"
    )));
    let signed = signed.trim();
    let r = e2e::http(c.object_port, "GET", signed, &[], None).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "three\n"), "{signed}");
    let forged = signed.replace("temp_url_sig=", "temp_url_sig=0");
    let r = e2e::http(c.object_port, "GET", &forged, &[], None).unwrap();
    assert_eq!(r.status, 401, "{forged}");
    // a GET signature does not write
    let r = e2e::http(c.object_port, "PUT", signed, &[], None).unwrap();
    assert_eq!(r.status, 401);

    // ---- openstacksdk, and raw requests for Swift's refusals
    let script = r#"
import hashlib, openstack, requests
conn = openstack.connect(cloud="oxistack-demo")
data = bytes(range(256)) * 4096
conn.object_store.create_container(name="sdk")
conn.object_store.upload_object(container="sdk", name="blob", data=data)
got = conn.object_store.download_object("blob", container="sdk")
assert got == data, len(got)
url = conn.object_store.get_endpoint().rstrip("/")
assert url.endswith("/v1/AUTH_" + conn.current_project_id), url
tok = {"X-Auth-Token": conn.auth_token}
def st(method, path, **kw):
    r = requests.request(method, url + path, **kw)
    return r.status_code, r
# names too long, a wrong ETag, a missing length
assert st("PUT", "/" + "c" * 257, headers=tok)[0] == 400
assert st("PUT", "/sdk/" + "o" * 1025, headers=tok, data=b"x")[0] == 400
code, r = st("PUT", "/sdk/bad", headers=dict(tok, ETag="0" * 32), data=b"abc")
assert code == 422, (code, r.text)
assert st("HEAD", "/sdk/bad", headers=tok)[0] == 404
# chunked upload, ranges, conditions
code, r = st("PUT", "/sdk/chunked", headers=tok, data=iter([b"hello ", b"world"]))
assert code == 201, (code, r.text)
assert r.headers["ETag"] == hashlib.md5(b"hello world").hexdigest()
code, r = st("GET", "/sdk/chunked", headers=dict(tok, Range="bytes=6-"))
assert (code, r.content) == (206, b"world"), (code, r.content)
code, r = st("GET", "/sdk/chunked", headers=dict(tok, Range="bytes=0-0,-1"))
assert code == 206 and r.headers["Content-Type"].startswith("multipart/byteranges"), r.headers
assert b"Content-Range: bytes 0-0/11" in r.content and b"Content-Range: bytes 10-10/11" in r.content
assert st("GET", "/sdk/chunked", headers=dict(tok, Range="bytes=20-"))[0] == 416
etag = hashlib.md5(b"hello world").hexdigest()
assert st("GET", "/sdk/chunked", headers=dict(tok, **{"If-None-Match": etag}))[0] == 304
assert st("GET", "/sdk/chunked", headers=dict(tok, **{"If-Match": "nope"}))[0] == 412
# copies, expiry
code, r = st("PUT", "/sdk/copy", headers=dict(tok, **{"X-Copy-From": "sdk/chunked", "Content-Length": "0"}))
assert code == 201, (code, r.text)
code, r = st("COPY", "/sdk/copy", headers=dict(tok, Destination="sdk/copy2"))
assert code == 201, (code, r.text)
assert st("GET", "/sdk/copy2", headers=tok)[1].content == b"hello world"
code, r = st("PUT", "/sdk/soon", headers=dict(tok, **{"X-Delete-After": "1"}), data=b"x")
assert code == 201
import time; time.sleep(2.1)
assert st("GET", "/sdk/soon", headers=tok)[0] == 404
# listings in JSON and XML, with the account's totals
code, r = st("GET", "/sdk?format=json&limit=2&reverse=true", headers=tok)
assert code == 200 and [o["name"] for o in r.json()] == ["soon", "copy2"], r.text
code, r = st("GET", "/sdk?format=xml&prefix=ch", headers=tok)
assert "<name>chunked</name>" in r.text, r.text
code, r = st("HEAD", "", headers=tok)
assert code == 204 and int(r.headers["X-Account-Container-Count"]) == 3, r.headers
assert r.headers.get("X-Trans-Id"), r.headers
# another project's account: 403 with a token, 401 without
admin = openstack.connect(cloud="oxistack-admin")
other = admin.object_store.get_endpoint().rstrip("/")
admin.object_store.create_container(name="secret")
assert requests.get(other + "/secret", headers=tok).status_code == 403
assert requests.put(other + "/secret/x", headers=tok, data=b"x").status_code == 403
assert requests.get(other + "/secret").status_code == 401
assert requests.get(url + "/sdk").status_code == 401
# public reads with .r:*, listings only with .rlistings
admin.object_store.upload_object(container="secret", name="pub", data=b"public")
r = requests.post(other + "/secret", headers={"X-Auth-Token": admin.auth_token, "X-Container-Read": ".r:*"})
assert r.status_code == 204, r.text
assert requests.get(other + "/secret/pub").content == b"public"
assert requests.get(other + "/secret").status_code == 401
# with .rlistings anyone lists it too, and sees no TempURL key of the container
r = requests.post(other + "/secret", headers={"X-Auth-Token": admin.auth_token,
    "X-Container-Read": ".r:*,.rlistings", "X-Container-Meta-Temp-URL-Key": "hidden"})
assert r.status_code == 204, r.text
r = requests.head(other + "/secret")
assert r.status_code == 204 and "X-Container-Meta-Temp-Url-Key" not in r.headers, r.headers
assert requests.get(other + "/secret").text == "pub\n"
assert requests.put(other + "/secret/x", data=b"x").status_code == 401
assert requests.get(url.split("/v1/")[0] + "/info").json()["swift"]["max_object_name_length"] == 1024
print("ok")
"#;
    let out = c.python(script);
    assert!(out.success() && out.stdout.contains("ok"), "{out}");

    // ---- a device loses everything: every object is still served
    let device = c.data_dir.join("object/devices/d1");
    for e in fs::read_dir(&device).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            fs::remove_dir_all(&p).unwrap();
        } else {
            fs::remove_file(&p).unwrap();
        }
    }
    assert_eq!(fs::read_dir(&device).unwrap().count(), 0);
    let again = work.join("again.jpg");
    c.os(
        DEMO,
        &[
            "object",
            "save",
            "--file",
            again.to_str().unwrap(),
            "photos",
            "2024/cat.jpg",
        ],
    );
    assert_eq!(fs::read(&again).unwrap(), data);
    let listed = ok(swift("swift list backups"));
    assert_eq!(listed.lines().count(), 3, "{listed}");
    // writes still reach a quorum
    ok(swift("swift upload backups three.out"));

    // ---- deletes
    c.os(DEMO, &["object", "delete", "photos", "2024/cat.jpg"]);
    let objects = c.os_json(DEMO, &["object", "list", "photos"]);
    assert!(names(&objects, "Name").is_empty(), "{objects}");
    c.os(DEMO, &["container", "delete", "photos"]);
    let list = c.os_json(DEMO, &["container", "list"]);
    assert!(
        !names(&list, "Name").contains(&"photos".to_owned()),
        "{list}"
    );
    assert!(Path::new(&c.data_dir.join("object/ring.json")).is_file());
}

#[test]
fn ring_commands() {
    let mut c = Cloud::sqlite();
    c.configure();
    let dev = |n: &str| c.dir().join(n).display().to_string();
    assert!(c.manage(&["ring", "create", "6", "3"]).success());
    assert!(
        !c.manage(&["ring", "create", "6", "3"]).success(),
        "a second create is refused"
    );
    for (i, d) in ["a", "b", "c"].iter().enumerate() {
        let zone = (i + 1).to_string();
        let out = c.manage(&["ring", "add", "--zone", &zone, "--device", &dev(d)]);
        assert!(out.success(), "{out}");
    }
    let out = c.manage(&["ring", "rebalance"]);
    assert!(out.success() && out.stdout.contains("192"), "{out}");
    let out = c.manage(&["ring", "add", "--zone", "4", "--device", &dev("d")]);
    assert!(out.success(), "{out}");
    let out = c.manage(&["ring", "rebalance"]);
    assert!(out.success(), "{out}");
    let show = c.manage(&["ring", "show"]);
    assert!(
        show.stdout.contains("64 partitions, 3 replicas, 4 devices"),
        "{show}"
    );
    // each device holds its share: 48 of the 192 replicas
    assert_eq!(show.stdout.matches("     48 ").count(), 4, "{show}");
    let out = c.manage(&[
        "ring",
        "add",
        "--zone",
        "1",
        "--weight",
        "-1",
        "--device",
        &dev("e"),
    ]);
    assert!(!out.success(), "{out}");
}

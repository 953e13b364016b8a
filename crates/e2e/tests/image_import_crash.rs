//! `kill -9` of `oxistack up` in the middle of an image import, then `oxistack up`
//! again: the import saga resumes and the image ends active with the staged data, and
//! nothing stray is left in the store or the staging area.

use std::{
    fs,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use e2e::{http, on_every_engine, Cloud, Engine};
use serde_json::{json, Value};

on_every_engine!(kill_during_import_then_restart);

/// Big enough that copying it into the store (hashed on the way) takes a while.
const SIZE_MIB: u64 = 512;

fn image_call(
    c: &Cloud,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let r = http(c.image_port, method, path, &[("X-Auth-Token", token)], body)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", c.server_log()));
    let v = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn status(c: &Cloud, token: &str, id: &str) -> String {
    let (code, v) = image_call(c, token, "GET", &format!("/v2/images/{id}"), None);
    assert_eq!(code, 200, "{v}");
    v["status"].as_str().unwrap_or_default().to_owned()
}

fn files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn kill_during_import_then_restart(engine: Engine) {
    let Some(mut c) = Cloud::start(engine) else {
        return;
    };
    let token = c.issue_token("admin", &c.password("admin"), "admin");
    let (code, img) = image_call(
        &c,
        &token,
        "POST",
        "/v2/images",
        Some(&json!({"name": "crash", "disk_format": "raw", "container_format": "bare"})),
    );
    assert_eq!(code, 201, "{img}");
    let id = img["id"].as_str().unwrap().to_owned();

    // a big file, staged (glance-direct)
    let data = c.dir().join("big.raw");
    let out = c.bash(&format!(
        "head -c {SIZE_MIB}M /dev/urandom > {f} && md5sum {f} | cut -d' ' -f1 && \
         curl -sS -o /dev/null -w '%{{http_code}}' -X PUT -H 'X-Auth-Token: {token}' \
         -H 'Content-Type: application/octet-stream' --data-binary @{f} \
         http://127.0.0.1:{port}/v2/images/{id}/stage",
        f = data.display(),
        port = c.image_port
    ));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        out.success() && lines.len() == 2 && lines[1] == "204",
        "{out}"
    );
    let md5 = lines[0].to_owned();
    assert_eq!(status(&c, &token, &id), "uploading");

    // import, and kill -9 while the data is being copied into the store
    let store = c.data_dir.join("images");
    let staging = store.join("staging");
    let (code, v) = image_call(
        &c,
        &token,
        "POST",
        &format!("/v2/images/{id}/import"),
        Some(&json!({"method": {"name": "glance-direct"}})),
    );
    assert_eq!(code, 202, "{v}");
    wait_until("the copy into the store", Duration::from_secs(30), || {
        files(&store)
            .iter()
            .any(|f| f.starts_with(&format!(".tmp-{id}")))
    });
    thread::sleep(Duration::from_millis(200));
    c.kill();
    assert!(
        files(&store).iter().any(|f| f.starts_with(".tmp-")),
        "the kill came too late to cut the copy short: {:?}",
        files(&store)
    );
    assert!(files(&staging).contains(&id), "the stage is gone");

    // restart: the saga resumes and finishes
    c.up();
    let token = c.issue_token("admin", &c.password("admin"), "admin");
    wait_until("the resumed import", Duration::from_secs(120), || {
        status(&c, &token, &id) != "importing"
    });
    let (_, v) = image_call(&c, &token, "GET", &format!("/v2/images/{id}"), None);
    assert_eq!(v["status"], "active", "{v}\n{}", c.server_log());
    assert_eq!(v["checksum"], md5.as_str());
    assert_eq!(v["size"], SIZE_MIB << 20);
    // the image is active before the saga's last step (the stage's removal) ends
    wait_until("the end of the saga", Duration::from_secs(30), || {
        c.server_log().contains("saga done")
    });
    assert_eq!(files(&store), vec![id.clone()], "stray files in the store");
    assert!(
        files(&staging).is_empty(),
        "stray staged files: {:?}",
        files(&staging)
    );
    c.stop();
}

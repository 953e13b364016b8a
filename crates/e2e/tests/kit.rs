//! The service kit as an operator sees it: `oxistack status`, `manage status
//! upgrade-check` on a data directory with no cloud, a second `up` on a data directory in
//! use (refused, touching nothing), and a data directory private to its user.

use std::{
    io::{Read, Write},
    net::TcpStream,
    os::unix::fs::PermissionsExt,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use e2e::{oxistack_bin, run, Cloud, CmdOutput, Engine};
use serde_json::json;

/// `oxistack -c <config> <args>`.
fn oxistack(c: &Cloud, args: &[&str]) -> CmdOutput {
    let mut cmd = Command::new(oxistack_bin());
    cmd.arg("-c")
        .arg(&c.config)
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    run(&mut cmd, Duration::from_secs(60))
}

/// An admin token and a new queued raw image of the admin project: (token, image id).
fn new_image(c: &Cloud, name: &str) -> (String, String) {
    let token = c.issue_token("admin", &c.password("admin"), "admin");
    let created = e2e::http(
        c.image_port,
        "POST",
        "/v2/images",
        &[("X-Auth-Token", token.as_str())],
        Some(&json!({"name": name, "disk_format": "raw", "container_format": "bare"})),
    )
    .unwrap();
    assert_eq!(created.status, 201, "{created}");
    let id = created.json()["id"].as_str().unwrap().to_owned();
    (token, id)
}

/// A connection that has sent the headers of an upload of `size` bytes to image `id`.
fn start_upload(c: &Cloud, token: &str, id: &str, size: usize) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", c.image_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "PUT /v2/images/{id}/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s
}

/// Send the rest of an upload and read the answer.
fn finish_upload(mut s: TcpStream, rest: &[u8]) -> String {
    s.write_all(rest).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn status_lists_services_and_background_work() {
    let mut c = Cloud::new(Engine::Sqlite).expect("sqlite");
    c.with_test_image();
    c.up();
    // the test image registers in the background; status shows it, and how it ended
    // (other work, such as Compute's recovery pass, may be done long before)
    let deadline = Instant::now() + Duration::from_secs(120);
    let out = loop {
        let out = oxistack(&c, &["status"]);
        assert!(out.success(), "{out}");
        if out.stdout.contains("registered as cirros") || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    for want in [
        "oxistack up (pid",
        &format!("identity   identity   http://127.0.0.1:{}/v3", c.port),
        &format!("image      image      http://127.0.0.1:{}", c.image_port),
        "up (",
        "test-image",
        "registered as cirros",
    ] {
        assert!(out.stdout.contains(want), "no {want:?} in:\n{out}");
    }
    // `up` printed the progress of the same work
    let log = c.server_log();
    assert!(log.contains("[test-image]"), "{log}");
    c.stop();
    let out = oxistack(&c, &["status"]);
    assert!(!out.success(), "{out}");
    assert!(out.stdout.contains("No oxistack is running"), "{out}");
}

#[test]
fn upgrade_check_without_a_cloud_says_how_to_make_one() {
    let mut c = Cloud::new(Engine::Sqlite).expect("sqlite");
    c.configure();
    let out = c.manage(&["status", "upgrade-check"]);
    assert_eq!(out.status.code(), Some(2), "{out}");
    assert!(out.stdout.contains("Upgrade Check Results"), "{out}");
    assert!(out.stdout.contains("Result: Failure"), "{out}");
    assert!(out.stdout.contains("there is no cloud in"), "{out}");
    assert!(out.stdout.contains("`oxistack up`"), "{out}");
    assert!(
        !out.stderr.contains("error returned from database"),
        "{out}"
    );
    // and it made no database while looking
    assert!(!c.data_dir.join("oxistack.db").exists());
}

/// Defect: a second `up` on a data directory in use reset the first one's uploads and
/// removed its temporary files before failing on the port. Now it is refused first.
#[test]
fn second_up_on_a_busy_data_dir_touches_nothing() {
    let c = Cloud::start(Engine::Sqlite).expect("sqlite");
    let (token, id) = new_image(&c, "in-flight");
    let auth = [("X-Auth-Token", token.as_str())];

    // an upload in flight: half of the body sent
    let size = 4 << 20;
    let mut s = start_upload(&c, &token, &id, size);
    let chunk = vec![7u8; size / 2];
    s.write_all(&chunk).unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // a second `up` on the same data directory (other ports, so only the lock can stop it)
    let other = c.dir().join("other.toml");
    let text = std::fs::read_to_string(&c.config).unwrap();
    let text = text
        .replace(
            &format!("port = {}", c.port),
            &format!("port = {}", e2e::free_port()),
        )
        .replace(
            &format!("port = {}", c.image_port),
            &format!("port = {}", e2e::free_port()),
        );
    std::fs::write(&other, text).unwrap();
    let mut cmd = Command::new(oxistack_bin());
    cmd.arg("-c")
        .arg(&other)
        .args(["up", "--data-dir"])
        .arg(&c.data_dir);
    let second = run(&mut cmd, Duration::from_secs(60));
    assert!(!second.success(), "{second}");
    assert!(
        second.stderr.contains("is in use by another oxistack"),
        "{second}"
    );

    // the first one's upload completes
    let resp = finish_upload(s, &chunk);
    assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");
    let shown = e2e::http(
        c.image_port,
        "GET",
        &format!("/v2/images/{id}"),
        &auth,
        None,
    )
    .unwrap();
    assert_eq!(shown.json()["status"], "active", "{shown}");
    assert_eq!(shown.json()["size"], size, "{shown}");
}

/// Defect: the database, key repository and image files were readable by everyone.
#[test]
fn data_dir_is_private() {
    let c = Cloud::start(Engine::Sqlite).expect("sqlite");
    let (token, id) = new_image(&c, "private");
    let resp = finish_upload(start_upload(&c, &token, &id, 5), b"hello");
    assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");

    let d = &c.data_dir;
    assert_eq!(mode(d), 0o700, "data directory");
    for f in [
        "oxistack.db",
        "admin-password",
        "clouds.yaml",
        "fernet-keys/0",
        "fernet-keys/1",
    ] {
        assert_eq!(mode(&d.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&d.join("fernet-keys")), 0o700, "fernet-keys");
    let mut image_files = 0;
    for e in walk(&d.join("images")) {
        let m = mode(&e);
        if e.is_dir() {
            assert_eq!(m, 0o700, "{}", e.display());
        } else {
            image_files += 1;
            assert_eq!(m, 0o600, "{}", e.display());
        }
    }
    assert!(image_files >= 1, "no image file under {}", d.display());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

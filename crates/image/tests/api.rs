//! The Glance v2 API in-process, as clients drive it.

mod common;

use std::time::Duration;

use axum::{
    body::{Body, Bytes},
    http::{Request, StatusCode},
};
use common::*;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use sha2::Sha512;

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn qcow2_file(args: &[&str]) -> Option<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("oxi-qemu-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("base.qcow2");
    let out = dir.join("out.qcow2");
    let ok = |a: Vec<String>| {
        std::process::Command::new("qemu-img")
            .args(a)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !ok(vec![
        "create".into(),
        "-f".into(),
        "qcow2".into(),
        base.display().to_string(),
        "8M".into(),
    ]) {
        return None;
    }
    let mut a: Vec<String> = vec!["create".into(), "-f".into(), "qcow2".into()];
    a.extend(
        args.iter()
            .map(|s| s.replace("{base}", &base.display().to_string())),
    );
    a.push(out.display().to_string());
    if args.is_empty() || !args.iter().any(|s| s.contains("{base}")) {
        a.push("8M".into());
    }
    assert!(ok(a), "qemu-img create failed");
    let data = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    Some(data)
}

#[tokio::test]
async fn version_documents_and_auth() {
    let e = env().await;
    for path in ["/", "/v2", "/v2/"] {
        let r = e.call("GET", path, None, None).await;
        assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES, "{path}");
        let v = r.json();
        let ids: Vec<&str> = v["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"v2.0") && ids.contains(&"v2.15"), "{ids:?}");
        let current: Vec<&Value> = v["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["status"] == "CURRENT")
            .collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["id"], "v2.17");
        assert_eq!(current[0]["links"][0]["href"], "http://127.0.0.1:9292/v2/");
        assert!(r
            .header("x-openstack-request-id")
            .unwrap()
            .starts_with("req-"));
    }
    assert_eq!(
        e.call("GET", "/versions", None, None).await.status,
        StatusCode::OK
    );
    let r = e.call("GET", "/v2/images", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"]["code"], 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("Keystone uri="));
    assert_eq!(
        e.call("GET", "/v2/images", Some("bogus"), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // every route but the version documents wants a token
    let id = "6f6b0a4e-0000-4c2a-9b5e-000000000009";
    for (method, path) in [
        ("GET", "/v2/images".to_owned()),
        ("POST", "/v2/images".to_owned()),
        ("GET", format!("/v2/images/{id}")),
        ("PATCH", format!("/v2/images/{id}")),
        ("DELETE", format!("/v2/images/{id}")),
        ("PUT", format!("/v2/images/{id}/file")),
        ("GET", format!("/v2/images/{id}/file")),
        ("PUT", format!("/v2/images/{id}/stage")),
        ("POST", format!("/v2/images/{id}/import")),
        ("POST", format!("/v2/images/{id}/actions/deactivate")),
        ("POST", format!("/v2/images/{id}/actions/reactivate")),
        ("PUT", format!("/v2/images/{id}/tags/t")),
        ("DELETE", format!("/v2/images/{id}/tags/t")),
        ("GET", format!("/v2/images/{id}/members")),
        ("POST", format!("/v2/images/{id}/members")),
        ("GET", format!("/v2/images/{id}/members/{PROJECT_B}")),
        ("PUT", format!("/v2/images/{id}/members/{PROJECT_B}")),
        ("DELETE", format!("/v2/images/{id}/members/{PROJECT_B}")),
        ("GET", "/v2/schemas/image".to_owned()),
        ("GET", "/v2/schemas/images".to_owned()),
        ("GET", "/v2/schemas/member".to_owned()),
        ("GET", "/v2/schemas/members".to_owned()),
        ("GET", "/v2/info/import".to_owned()),
        ("GET", "/v2/info/stores".to_owned()),
        ("GET", "/v2/info/stores/detail".to_owned()),
        ("GET", "/v2/info/usage".to_owned()),
    ] {
        assert_eq!(
            e.call(method, &path, None, None).await.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn interrupted_work_is_requeued_after_restart() {
    let e = env().await;
    let id = id_of(
        &e.create(
            MEMBER_A,
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await,
    );
    // as if a previous process died mid-upload
    let (queued, saving) = (image::model::Status::Queued, image::model::Status::Saving);
    assert!(e.svc.tables.set_status(&id, queued, saving).await.unwrap());
    assert_eq!(e.svc.requeue_interrupted().await.unwrap(), vec![id.clone()]);
    assert_eq!(e.status_of(&id).await, "queued");
    assert_eq!(
        e.upload(&id, MEMBER_A, b"again".to_vec()).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(e.svc.requeue_interrupted().await.unwrap().is_empty());
}

#[tokio::test]
async fn faults_follow_accept() {
    let e = env().await;
    let missing = "/v2/images/00000000-0000-0000-0000-000000000000";
    let html = e.get(missing, MEMBER_A).await;
    assert_eq!(html.status, StatusCode::NOT_FOUND);
    assert!(html
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(
        html.text().contains("<h1>404 Not Found</h1>"),
        "{}",
        html.text()
    );
    assert!(html
        .text()
        .contains("No image found with ID 00000000-0000-0000-0000-000000000000"));
    let req = Request::get(missing)
        .header("x-auth-token", MEMBER_A)
        .header("accept", "application/json")
        .body(Body::empty())
        .unwrap();
    let j = e.send(req).await;
    let v = j.json();
    assert_eq!(v["code"], "404 Not Found");
    assert_eq!(v["title"], "Not Found");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .starts_with("No image found with ID"));
    let req = Request::get(missing)
        .header("x-auth-token", MEMBER_A)
        .header("accept", "text/plain")
        .body(Body::empty())
        .unwrap();
    assert!(e
        .send(req)
        .await
        .text()
        .starts_with("404 Not Found\n\nNo image found"));
    let r = e.call("POST", "/v2/images", Some(MEMBER_A), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = e
        .send(
            Request::post("/v2/images")
                .header("x-auth-token", MEMBER_A)
                .body(Body::from("{nope"))
                .unwrap(),
        )
        .await;
    assert!(r.text().contains("Malformed JSON in request body."));
    assert_eq!(
        e.call("DELETE", "/v2/images", Some(MEMBER_A), None)
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn create_show_and_schema() {
    let e = env().await;
    let given = "6f6b0a4e-0000-4c2a-9b5e-000000000001";
    let r = e
        .call(
            "POST",
            "/v2/images",
            Some(MEMBER_A),
            Some(json!({"id": given, "name": "cirros", "disk_format": "qcow2", "container_format": "bare",
                "min_disk": 1, "min_ram": 64, "tags": ["a", "b"], "os_distro": "cirros", "protected": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        r.header("location").unwrap(),
        format!("http://127.0.0.1:9292/v2/images/{given}")
    );
    assert_eq!(
        r.header("openstack-image-import-methods").unwrap(),
        "glance-direct,web-download"
    );
    assert_eq!(r.header("openstack-image-store-ids").unwrap(), "file");
    let v = r.json();
    assert_eq!(v["id"], given);
    assert_eq!(v["status"], "queued");
    assert_eq!(v["visibility"], "shared");
    assert_eq!(v["owner"], PROJECT_A);
    assert_eq!(v["os_distro"], "cirros");
    assert_eq!(v["size"], Value::Null);
    assert_eq!(v["checksum"], Value::Null);
    assert_eq!(v["tags"], json!(["a", "b"]));
    assert_eq!(v["self"], format!("/v2/images/{given}"));
    assert_eq!(v["file"], format!("/v2/images/{given}/file"));
    assert_eq!(v["schema"], "/v2/schemas/image");
    assert!(
        v["created_at"].as_str().unwrap().ends_with('Z')
            && v["created_at"].as_str().unwrap().len() == 20
    );
    assert_eq!(
        e.get(&format!("/v2/images/{given}"), MEMBER_A).await.json(),
        v
    );
    // the same id again
    let r = e
        .call(
            "POST",
            "/v2/images",
            Some(MEMBER_A),
            Some(json!({"id": given})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Glance's refusals
    let check = |body: Value, status: StatusCode, text: &'static str| {
        let e = &e;
        async move {
            let r = e
                .call("POST", "/v2/images", Some(MEMBER_A), Some(body.clone()))
                .await;
            assert_eq!(r.status, status, "{body}: {}", r.text());
            assert!(r.text().contains(text), "{body}: {}", r.text());
        }
    };
    check(
        json!({"status": "active"}),
        StatusCode::FORBIDDEN,
        "Attribute 'status' is read-only.",
    )
    .await;
    check(
        json!({"self": "x"}),
        StatusCode::FORBIDDEN,
        "Attribute 'self' is read-only.",
    )
    .await;
    check(
        json!({"location": "x"}),
        StatusCode::FORBIDDEN,
        "Attribute 'location' is reserved.",
    )
    .await;
    check(
        json!({"os_glance_foo": "x"}),
        StatusCode::FORBIDDEN,
        "reserved",
    )
    .await;
    check(
        json!({"disk_format": "floppy"}),
        StatusCode::BAD_REQUEST,
        "does not match schema",
    )
    .await;
    check(
        json!({"custom": 5}),
        StatusCode::BAD_REQUEST,
        "is not of type",
    )
    .await;
    check(
        json!({"min_ram": -1}),
        StatusCode::BAD_REQUEST,
        "Cannot be a negative value",
    )
    .await;
    check(
        json!({"owner": PROJECT_B}),
        StatusCode::FORBIDDEN,
        "not permitted to create images owned by",
    )
    .await;
    check(
        json!({"visibility": "public"}),
        StatusCode::FORBIDDEN,
        "publicize_image",
    )
    .await;
    let r = e
        .call(
            "POST",
            "/v2/images",
            Some(READER_A),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "readers cannot create");
    // schemas
    let s = e.get("/v2/schemas/image", MEMBER_A).await.json();
    assert_eq!(s["name"], "image");
    assert_eq!(s["additionalProperties"], json!({"type": "string"}));
    assert!(s["properties"]["disk_format"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("qcow2")));
    assert_eq!(
        e.get("/v2/schemas/images", MEMBER_A).await.json()["name"],
        "images"
    );
    assert_eq!(
        e.get("/v2/schemas/member", MEMBER_A).await.json()["name"],
        "member"
    );
    assert_eq!(
        e.get("/v2/schemas/members", MEMBER_A).await.json()["name"],
        "members"
    );
}

#[tokio::test]
async fn upload_download_hashes_and_ranges() {
    let e = env().await;
    let img = e
        .create(
            MEMBER_A,
            json!({"name": "r", "disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    let id = id_of(&img);
    // nothing to download yet
    assert_eq!(
        e.get(&format!("/v2/images/{id}/file"), MEMBER_A)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let r = e.upload(&id, MEMBER_A, data.clone()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let v = e.get(&format!("/v2/images/{id}"), MEMBER_A).await.json();
    assert_eq!(v["status"], "active");
    assert_eq!(v["size"], data.len());
    assert_eq!(v["virtual_size"], data.len());
    assert_eq!(v["checksum"], hex::encode(Md5::digest(&data)));
    assert_eq!(v["os_hash_algo"], "sha512");
    assert_eq!(v["os_hash_value"], hex::encode(Sha512::digest(&data)));
    assert_eq!(v["stores"], "file");
    let r = e.get(&format!("/v2/images/{id}/file"), MEMBER_A).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.header("content-md5").unwrap(),
        v["checksum"].as_str().unwrap()
    );
    assert_eq!(
        r.header("content-type").unwrap(),
        "application/octet-stream"
    );
    assert_eq!(r.header("content-length").unwrap(), data.len().to_string());
    assert!(r.body == data);
    let range = |h: &'static str| {
        let e = &e;
        let id = id.clone();
        async move {
            let req = Request::get(format!("/v2/images/{id}/file"))
                .header("x-auth-token", MEMBER_A)
                .header("range", h)
                .body(Body::empty())
                .unwrap();
            e.send(req).await
        }
    };
    let r = range("bytes=10-19").await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes 10-19/{}", data.len())
    );
    assert!(r.body == data[10..20]);
    let r = range("bytes=-5").await;
    assert!(r.body == data[data.len() - 5..]);
    assert_eq!(
        range("bytes=3000000-").await.status,
        StatusCode::RANGE_NOT_SATISFIABLE
    );
    assert_eq!(range("bytes=0-1,5-6").await.status, StatusCode::BAD_REQUEST);
    // active images take no more data
    assert_eq!(
        e.upload(&id, MEMBER_A, vec![1, 2, 3]).await.status,
        StatusCode::CONFLICT
    );
    // another project cannot upload to it, nor see a shared image it is not a member of
    assert_eq!(
        e.get(&format!("/v2/images/{id}/file"), MEMBER_B)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // wrong content type
    let req = Request::put(format!("/v2/images/{id}/file"))
        .header("x-auth-token", MEMBER_A)
        .body(Body::from("x"))
        .unwrap();
    assert_eq!(e.send(req).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // formats must be set before data
    let bare = e.create(MEMBER_A, json!({"name": "noformat"})).await;
    let r = e.upload(&id_of(&bare), MEMBER_A, vec![1]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .contains("Properties disk_format, container_format must be set prior to saving data."));
    assert_eq!(e.status_of(&id_of(&bare)).await, "queued");
}

#[tokio::test]
async fn format_inspection_refuses_bad_uploads() {
    let e = env().await;
    let mk = |fmt: &'static str| {
        let e = &e;
        async move {
            id_of(
                &e.create(
                    MEMBER_A,
                    json!({"name": fmt, "disk_format": fmt, "container_format": "bare"}),
                )
                .await,
            )
        }
    };
    // plain bytes claimed to be qcow2
    let id = mk("qcow2").await;
    let r = e
        .upload(&id, MEMBER_A, b"definitely not a qcow2 image".to_vec())
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text());
    assert!(
        r.text()
            .contains("Image disk_format qcow2 does not match stream data raw"),
        "{}",
        r.text()
    );
    assert_eq!(e.status_of(&id).await, "queued");
    assert!(e.stored_files().is_empty(), "{:?}", e.stored_files());
    let Some(good) = qcow2_file(&[]) else { return };
    // a real qcow2 passes, with its virtual size
    let r = e.upload(&id, MEMBER_A, good.clone()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let v = e.get(&format!("/v2/images/{id}"), MEMBER_A).await.json();
    assert_eq!(v["virtual_size"], 8 << 20);
    assert_eq!(v["size"], good.len());
    // a qcow2 naming a backing file is refused, whatever it claims to be
    let backed = qcow2_file(&["-b", "{base}", "-F", "qcow2"]).unwrap();
    for fmt in ["qcow2", "raw"] {
        let id = mk(fmt).await;
        let r = e.upload(&id, MEMBER_A, backed.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{fmt}: {}",
            r.text()
        );
        assert!(r.text().contains("Image failed safety checks"));
        assert_eq!(e.status_of(&id).await, "queued");
        let v = e.get(&format!("/v2/images/{id}"), MEMBER_A).await.json();
        assert_eq!(v["size"], Value::Null);
        assert_eq!(v["checksum"], Value::Null);
    }
    // so is one with an external data file
    let dir = std::env::temp_dir().join(format!("oxi-df-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let df = format!("data_file={}", dir.join("d.raw").display());
    if let Some(ext) = qcow2_file(&["-o", &df]) {
        let id = mk("qcow2").await;
        assert_eq!(
            e.upload(&id, MEMBER_A, ext).await.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    // a qcow2 claimed as iso
    let id = mk("iso").await;
    assert_eq!(
        e.upload(&id, MEMBER_A, good).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // only the good one left data behind
    assert_eq!(e.stored_files().len(), 1, "{:?}", e.stored_files());
    // non-bare containers are not inspected, as in Glance
    let ovf = e
        .create(
            MEMBER_A,
            json!({"disk_format": "qcow2", "container_format": "ovf"}),
        )
        .await;
    assert_eq!(
        e.upload(&id_of(&ovf), MEMBER_A, b"anything".to_vec())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn interrupted_upload_leaves_image_queued() {
    let e = env().await;
    let id = id_of(
        &e.create(
            MEMBER_A,
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await,
    );
    // the client's stream breaks
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(vec![1u8; 1 << 20])),
        Err(std::io::Error::other("connection reset")),
    ];
    let req = Request::put(format!("/v2/images/{id}/file"))
        .header("x-auth-token", MEMBER_A)
        .header("content-type", "application/octet-stream")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let r = e.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(e.status_of(&id).await, "queued");
    assert!(e.stored_files().is_empty());
    // the client goes away: the request is dropped mid-way
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    tx.send(Ok(Bytes::from(vec![2u8; 1 << 20]))).await.unwrap();
    let body = Body::from_stream(futures::stream::poll_fn({
        let mut rx = rx;
        move |cx| rx.poll_recv(cx)
    }));
    let req = Request::put(format!("/v2/images/{id}/file"))
        .header("x-auth-token", MEMBER_A)
        .header("content-type", "application/octet-stream")
        .body(body)
        .unwrap();
    let pending = e.send(req);
    assert!(tokio::time::timeout(Duration::from_millis(300), pending)
        .await
        .is_err());
    drop(tx);
    for _ in 0..50 {
        if e.status_of(&id).await == "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(e.status_of(&id).await, "queued");
    assert!(e.stored_files().is_empty());
    // and a retry works
    assert_eq!(
        e.upload(&id, MEMBER_A, vec![3u8; 1000]).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(e.status_of(&id).await, "active");
}

#[tokio::test]
async fn list_filters_sorting_and_pages() {
    let e = env().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let v = e
            .create(
                MEMBER_A,
                json!({"name": format!("img-{i}"), "disk_format": if i % 2 == 0 { "raw" } else { "qcow2" },
                    "container_format": "bare", "tags": if i < 3 { vec!["small"] } else { vec!["big"] },
                    "os_distro": if i == 4 { "debian" } else { "cirros" }, "visibility": "private"}),
            )
            .await;
        ids.push(id_of(&v));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    e.upload(&ids[0], MEMBER_A, vec![0u8; 100]).await;
    e.upload(&ids[2], MEMBER_A, vec![0u8; 5000]).await;
    let names = |v: &Value| -> Vec<String> {
        v["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |q: &'static str| {
        let e = &e;
        async move {
            let r = e.get(&format!("/v2/images{q}"), MEMBER_A).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
            r.json()
        }
    };
    let all = list("").await;
    assert_eq!(
        names(&all),
        ["img-6", "img-5", "img-4", "img-3", "img-2", "img-1", "img-0"]
    );
    assert_eq!(all["first"], "/v2/images");
    assert_eq!(all["schema"], "/v2/schemas/images");
    assert!(all.get("next").is_none());
    assert_eq!(
        names(&list("?sort_key=name&sort_dir=asc").await)[0],
        "img-0"
    );
    assert_eq!(
        names(&list("?sort=disk_format:asc,name:desc").await),
        ["img-5", "img-3", "img-1", "img-6", "img-4", "img-2", "img-0"]
    );
    assert_eq!(names(&list("?name=img-3").await), ["img-3"]);
    assert_eq!(
        names(&list("?name=in:img-1,img-2").await),
        ["img-2", "img-1"]
    );
    assert_eq!(
        names(&list("?tag=small&sort_key=name&sort_dir=asc").await),
        ["img-0", "img-1", "img-2"]
    );
    assert_eq!(names(&list("?os_distro=debian").await), ["img-4"]);
    assert_eq!(names(&list("?status=active").await), ["img-2", "img-0"]);
    assert_eq!(names(&list("?size_min=1000").await), ["img-2"]);
    assert_eq!(names(&list("?size_max=1000").await), ["img-0"]);
    assert_eq!(
        names(&list("?disk_format=qcow2&visibility=private").await),
        ["img-5", "img-3", "img-1"]
    );
    assert_eq!(
        names(&list(&*format!("?owner={PROJECT_A}").leak()).await).len(),
        7
    );
    assert_eq!(
        names(&list("?created_at=gte:2000-01-01T00:00:00Z").await).len(),
        7
    );
    assert_eq!(
        names(&list("?created_at=lt:2000-01-01T00:00:00Z").await).len(),
        0
    );
    // pages of 3, following next links
    let mut seen = Vec::new();
    let mut url = "/v2/images?limit=3&sort_key=name&sort_dir=asc".to_owned();
    loop {
        let v = e.get(&url, MEMBER_A).await.json();
        seen.extend(names(&v));
        match v.get("next").and_then(Value::as_str) {
            Some(n) => {
                assert!(
                    n.starts_with("/v2/images?") && n.contains("limit=3") && n.contains("marker="),
                    "{n}"
                );
                url = n.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["img-0", "img-1", "img-2", "img-3", "img-4", "img-5", "img-6"]
    );
    let bad = |q: &'static str, status: StatusCode| {
        let e = &e;
        async move {
            assert_eq!(
                e.get(&format!("/v2/images{q}"), MEMBER_A).await.status,
                status,
                "{q}"
            )
        }
    };
    bad(
        "?marker=00000000-0000-0000-0000-000000000000",
        StatusCode::BAD_REQUEST,
    )
    .await;
    bad("?sort_key=owner", StatusCode::BAD_REQUEST).await;
    bad("?limit=-3", StatusCode::BAD_REQUEST).await;
    bad("?changes-since=2020-01-01", StatusCode::BAD_REQUEST).await;
    // hidden images are listed only on request
    e.patch(
        &ids[6],
        MEMBER_A,
        json!([{"op": "replace", "path": "/os_hidden", "value": true}]),
    )
    .await;
    assert!(!names(&list("").await).contains(&"img-6".to_owned()));
    assert_eq!(names(&list("?os_hidden=true").await), ["img-6"]);
    // project B sees none of these private images
    assert!(e.get("/v2/images", MEMBER_B).await.json()["images"]
        .as_array()
        .unwrap()
        .is_empty());
    // the admin sees them
    assert_eq!(
        e.get("/v2/images", ADMIN_A).await.json()["images"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

#[tokio::test]
async fn json_patch_updates() {
    let e = env().await;
    let id = id_of(
        &e.create(
            MEMBER_A,
            json!({"name": "p", "disk_format": "raw", "container_format": "bare", "foo": "1"}),
        )
        .await,
    );
    let r = e
        .patch(
            &id,
            MEMBER_A,
            json!([
                {"op": "replace", "path": "/name", "value": "renamed"},
                {"op": "add", "path": "/bar", "value": "2"},
                {"op": "replace", "path": "/foo", "value": "3"},
                {"op": "remove", "path": "/bar"},
                {"op": "add", "path": "/min_ram", "value": 512},
                {"op": "replace", "path": "/tags", "value": ["t1", "t2"]},
                {"op": "replace", "path": "/disk_format", "value": "qcow2"},
            ]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (v["name"].clone(), v["foo"].clone(), v.get("bar").cloned()),
        (json!("renamed"), json!("3"), None)
    );
    assert_eq!(v["min_ram"], 512);
    assert_eq!(v["tags"], json!(["t1", "t2"]));
    assert_eq!(v["disk_format"], "qcow2");
    let refuse = |ops: Value, status: StatusCode, text: &'static str| {
        let e = &e;
        let id = id.clone();
        async move {
            let r = e.patch(&id, MEMBER_A, ops.clone()).await;
            assert_eq!(r.status, status, "{ops}: {}", r.text());
            assert!(r.text().contains(text), "{ops}: {}", r.text());
        }
    };
    refuse(
        json!([{"op": "replace", "path": "/status", "value": "active"}]),
        StatusCode::FORBIDDEN,
        "Attribute 'status' is read-only.",
    )
    .await;
    refuse(
        json!([{"op": "remove", "path": "/name"}]),
        StatusCode::FORBIDDEN,
        "Property name may not be removed.",
    )
    .await;
    refuse(
        json!([{"op": "replace", "path": "/nope", "value": "x"}]),
        StatusCode::CONFLICT,
        "Property nope does not exist.",
    )
    .await;
    refuse(
        json!([{"op": "remove", "path": "/nope"}]),
        StatusCode::CONFLICT,
        "Property nope does not exist.",
    )
    .await;
    refuse(
        json!([{"op": "replace", "path": "/owner", "value": PROJECT_B}]),
        StatusCode::FORBIDDEN,
        "Owner can't be updated by non admin.",
    )
    .await;
    refuse(
        json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
        StatusCode::FORBIDDEN,
        "publicize_image",
    )
    .await;
    refuse(
        json!([{"op": "replace", "path": "/min_disk", "value": -1}]),
        StatusCode::BAD_REQUEST,
        "Cannot be a negative value",
    )
    .await;
    refuse(json!([{"op": "add", "path": "/locations/-", "value": {"url": "http://x", "metadata": {}}}]), StatusCode::FORBIDDEN, "locations").await;
    // the image is unchanged by refused patches
    assert_eq!(
        e.get(&format!("/v2/images/{id}"), MEMBER_A).await.json()["visibility"],
        "shared"
    );
    // wrong media type
    let req = Request::patch(format!("/v2/images/{id}"))
        .header("x-auth-token", MEMBER_A)
        .header("content-type", "application/json")
        .body(Body::from("[]"))
        .unwrap();
    let r = e.send(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r
        .header("accept-patch")
        .unwrap()
        .contains("openstack-images-v2.1-json-patch"));
    // the v2.0 dialect
    let req = Request::patch(format!("/v2/images/{id}"))
        .header("x-auth-token", MEMBER_A)
        .header(
            "content-type",
            "application/openstack-images-v2.0-json-patch",
        )
        .body(Body::from(
            json!([{"replace": "/name", "value": "old-style"}]).to_string(),
        ))
        .unwrap();
    assert_eq!(e.send(req).await.json()["name"], "old-style");
    // disk_format is frozen once there is data
    e.patch(
        &id,
        MEMBER_A,
        json!([{"op": "replace", "path": "/disk_format", "value": "raw"}]),
    )
    .await;
    assert_eq!(
        e.upload(&id, MEMBER_A, vec![0u8; 10]).await.status,
        StatusCode::NO_CONTENT
    );
    refuse(
        json!([{"op": "replace", "path": "/disk_format", "value": "qcow2"}]),
        StatusCode::FORBIDDEN,
        "can be only replaced for a queued image",
    )
    .await;
    // another project may not change it (and cannot even see it)
    assert_eq!(
        e.patch(
            &id,
            MEMBER_B,
            json!([{"op": "replace", "path": "/name", "value": "x"}])
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // readers of the owning project see it but may not change it
    assert_eq!(
        e.patch(
            &id,
            READER_A,
            json!([{"op": "replace", "path": "/name", "value": "x"}])
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // the admin may change the owner and publicize
    let r = e
        .patch(&id, ADMIN_A, json!([{"op": "replace", "path": "/visibility", "value": "public"}, {"op": "replace", "path": "/owner", "value": PROJECT_B}]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["owner"], PROJECT_B);
}

#[tokio::test]
async fn visibility_rules() {
    let e = env().await;
    let private = id_of(
        &e.create(
            MEMBER_A,
            json!({"name": "private", "visibility": "private"}),
        )
        .await,
    );
    let shared = id_of(&e.create(MEMBER_A, json!({"name": "shared"})).await);
    let community = id_of(
        &e.create(
            MEMBER_A,
            json!({"name": "community", "visibility": "community"}),
        )
        .await,
    );
    let public = id_of(
        &e.create(ADMIN_A, json!({"name": "public", "visibility": "public"}))
            .await,
    );
    for id in [&private, &shared] {
        assert_eq!(
            e.get(&format!("/v2/images/{id}"), MEMBER_B).await.status,
            StatusCode::NOT_FOUND
        );
    }
    for id in [&community, &public] {
        assert_eq!(
            e.get(&format!("/v2/images/{id}"), MEMBER_B).await.status,
            StatusCode::OK
        );
    }
    // B lists public images, but community ones only when asked
    let names = |v: Value| -> Vec<String> {
        v["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(e.get("/v2/images", MEMBER_B).await.json()),
        ["public"]
    );
    assert_eq!(
        names(
            e.get("/v2/images?visibility=community", MEMBER_B)
                .await
                .json()
        ),
        ["community"]
    );
    // B may not modify what it sees but does not own
    let r = e
        .patch(
            &public,
            MEMBER_B,
            json!([{"op": "replace", "path": "/name", "value": "x"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        e.call(
            "DELETE",
            &format!("/v2/images/{public}"),
            Some(MEMBER_B),
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        e.call(
            "DELETE",
            &format!("/v2/images/{private}"),
            Some(MEMBER_B),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // members may make their images community, not public
    let r = e
        .patch(
            &private,
            MEMBER_A,
            json!([{"op": "replace", "path": "/visibility", "value": "community"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn members_share_images() {
    let e = env().await;
    let id = id_of(
        &e.create(
            MEMBER_A,
            json!({"name": "s", "disk_format": "raw", "container_format": "bare"}),
        )
        .await,
    );
    e.upload(&id, MEMBER_A, b"shared bytes".to_vec()).await;
    let members = format!("/v2/images/{id}/members");
    // B cannot see it, nor add itself
    assert_eq!(
        e.call(
            "POST",
            &members,
            Some(MEMBER_B),
            Some(json!({"member": PROJECT_B}))
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let r = e
        .call(
            "POST",
            &members,
            Some(MEMBER_A),
            Some(json!({"member": PROJECT_B})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let m = r.json();
    assert_eq!(
        (
            m["member_id"].as_str(),
            m["image_id"].as_str(),
            m["status"].as_str()
        ),
        (Some(PROJECT_B), Some(id.as_str()), Some("pending"))
    );
    assert_eq!(m["schema"], "/v2/schemas/member");
    assert_eq!(
        e.call(
            "POST",
            &members,
            Some(MEMBER_A),
            Some(json!({"member": PROJECT_B}))
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        e.call("POST", &members, Some(MEMBER_A), Some(json!({})))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // pending: B can see the image, but it is not in B's list
    assert_eq!(
        e.get(&format!("/v2/images/{id}"), MEMBER_B).await.status,
        StatusCode::OK
    );
    let listed = |tok: &'static str, q: &'static str| {
        let e = &e;
        async move {
            e.get(&format!("/v2/images{q}"), tok).await.json()["images"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(listed(MEMBER_B, "").await, 0);
    assert_eq!(listed(MEMBER_B, "?member_status=pending").await, 1);
    // the owner cannot accept for B; B accepts
    let me = format!("{members}/{PROJECT_B}");
    assert_eq!(
        e.call(
            "PUT",
            &me,
            Some(MEMBER_A),
            Some(json!({"status": "accepted"}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        e.call("PUT", &me, Some(MEMBER_B), Some(json!({"status": "maybe"})))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = e
        .call(
            "PUT",
            &me,
            Some(MEMBER_B),
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "accepted");
    assert_eq!(listed(MEMBER_B, "").await, 1);
    assert_eq!(
        e.get(&format!("/v2/images/{id}/file"), MEMBER_B).await.body,
        "shared bytes"
    );
    // B sees only its own membership; the owner sees all
    e.call(
        "POST",
        &members,
        Some(MEMBER_A),
        Some(json!({"member": "cccccccccccccccccccccccccccccccc"})),
    )
    .await;
    assert_eq!(
        e.get(&members, MEMBER_A).await.json()["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let mine = e.get(&members, MEMBER_B).await.json();
    assert_eq!(mine["members"].as_array().unwrap().len(), 1);
    assert_eq!(mine["schema"], "/v2/schemas/members");
    assert_eq!(e.get(&me, MEMBER_B).await.json()["status"], "accepted");
    // B may not add members nor remove itself; the owner removes B
    assert_eq!(
        e.call(
            "POST",
            &members,
            Some(MEMBER_B),
            Some(json!({"member": "x"}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        e.call("DELETE", &me, Some(MEMBER_B), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        e.call("DELETE", &me, Some(MEMBER_A), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        e.get(&format!("/v2/images/{id}"), MEMBER_B).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(e.get(&me, MEMBER_A).await.status, StatusCode::NOT_FOUND);
    // only shared images have members
    let private = id_of(&e.create(MEMBER_A, json!({"visibility": "private"})).await);
    let r = e
        .call(
            "POST",
            &format!("/v2/images/{private}/members"),
            Some(MEMBER_A),
            Some(json!({"member": PROJECT_B})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        e.get(&format!("/v2/images/{private}/members"), MEMBER_A)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn protected_delete_and_deactivate() {
    let e = env().await;
    let id = id_of(&e.create(MEMBER_A, json!({"name": "keep", "protected": true, "disk_format": "raw", "container_format": "bare"})).await);
    e.upload(&id, MEMBER_A, b"data".to_vec()).await;
    let path = format!("/v2/images/{id}");
    let r = e.call("DELETE", &path, Some(MEMBER_A), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("is protected and cannot be deleted"));
    // deactivated: only admins download
    assert_eq!(
        e.call(
            "POST",
            &format!("{path}/actions/deactivate"),
            Some(MEMBER_A),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(e.status_of(&id).await, "deactivated");
    assert_eq!(
        e.get(&format!("{path}/file"), MEMBER_A).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(e.get(&format!("{path}/file"), ADMIN_A).await.body, "data");
    assert_eq!(
        e.call(
            "POST",
            &format!("{path}/actions/deactivate"),
            Some(MEMBER_A),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        e.call(
            "POST",
            &format!("{path}/actions/reactivate"),
            Some(MEMBER_A),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(e.get(&format!("{path}/file"), MEMBER_A).await.body, "data");
    let queued = id_of(&e.create(MEMBER_A, json!({})).await);
    assert_eq!(
        e.call(
            "POST",
            &format!("/v2/images/{queued}/actions/deactivate"),
            Some(MEMBER_A),
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // unprotect, delete: data gone, id stays taken
    e.patch(
        &id,
        MEMBER_A,
        json!([{"op": "replace", "path": "/protected", "value": false}]),
    )
    .await;
    assert_eq!(e.stored_files().len(), 1);
    assert_eq!(
        e.call("DELETE", &path, Some(MEMBER_A), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(e.get(&path, MEMBER_A).await.status, StatusCode::NOT_FOUND);
    assert!(e.stored_files().is_empty());
    assert_eq!(
        e.call(
            "POST",
            "/v2/images",
            Some(MEMBER_A),
            Some(json!({"id": id}))
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    // tags
    let tag = format!("/v2/images/{queued}/tags/blue");
    assert_eq!(
        e.call("PUT", &tag, Some(MEMBER_A), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        e.get(&format!("/v2/images/{queued}"), MEMBER_A)
            .await
            .json()["tags"],
        json!(["blue"])
    );
    assert_eq!(
        e.call("DELETE", &tag, Some(MEMBER_A), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        e.call("DELETE", &tag, Some(MEMBER_A), None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn quotas_and_size_cap() {
    let mut cfg = image::Config::default();
    cfg.quotas.image_count_total = 3;
    cfg.quotas.image_size_total = 1; // MiB
    cfg.max_image_size = 3 << 20;
    let e = env_with(cfg).await;
    let a = id_of(
        &e.create(
            MEMBER_A,
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await,
    );
    let b = id_of(
        &e.create(
            MEMBER_A,
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await,
    );
    let c = id_of(
        &e.create(
            MEMBER_A,
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await,
    );
    let r = e
        .call("POST", "/v2/images", Some(MEMBER_A), Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().contains("image_count_total"), "{}", r.text());
    // other projects have their own count
    e.create(MEMBER_B, json!({})).await;
    assert_eq!(
        e.upload(&a, MEMBER_A, vec![0u8; 700 << 10]).await.status,
        StatusCode::NO_CONTENT
    );
    // 700 KiB used of 1 MiB: 500 KiB more is refused mid-stream
    let r = e.upload(&b, MEMBER_A, vec![0u8; 500 << 10]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(e.status_of(&b).await, "queued");
    assert_eq!(e.stored_files().len(), 1);
    // over the size cap: refused up front
    let r = e.upload(&c, MEMBER_A, vec![0u8; 4 << 20]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(e.status_of(&c).await, "queued");
    let usage = e.get("/v2/info/usage", MEMBER_A).await.json();
    assert_eq!(
        usage["usage"]["image_count_total"],
        json!({"limit": 3, "usage": 3})
    );
}

#[tokio::test]
async fn interoperable_import() {
    // a web server on loopback to download from
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 199) as u8).collect();
    let served = payload.clone();
    let web = axum::Router::new().route(
        "/images/disk.raw",
        axum::routing::get(move || async move { served.clone() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, web).await.unwrap() });
    let cfg = image::Config {
        web_download_allowed: vec![format!("http://{addr}/images/")],
        ..Default::default()
    };
    let e = env_with(cfg).await;

    let info = e.get("/v2/info/import", MEMBER_A).await.json();
    assert_eq!(
        info["import-methods"]["value"],
        json!(["glance-direct", "web-download"])
    );
    let stores = e.get("/v2/info/stores", MEMBER_A).await.json();
    assert_eq!(stores["stores"][0]["id"], "file");
    assert_eq!(stores["stores"][0]["default"], "true");
    assert_eq!(
        e.get("/v2/info/stores/detail", MEMBER_A).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        e.get("/v2/info/stores/detail", ADMIN_A).await.json()["stores"][0]["type"],
        "file"
    );

    // web-download
    let id = id_of(
        &e.create(
            MEMBER_A,
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await,
    );
    let import = format!("/v2/images/{id}/import");
    let r = e
        .call(
            "POST",
            &import,
            Some(MEMBER_A),
            Some(json!({"method": {"name": "web-download", "uri": "http://example.com/x.img"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("does not pass filtering"));
    let uri = format!("http://{addr}/images/disk.raw");
    let r = e
        .call(
            "POST",
            &import,
            Some(MEMBER_A),
            Some(json!({"method": {"name": "web-download", "uri": uri}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(e.wait_import(&id).await, "active");
    let v = e.get(&format!("/v2/images/{id}"), MEMBER_A).await.json();
    assert_eq!(v["size"], payload.len());
    assert_eq!(v["checksum"], hex::encode(Md5::digest(&payload)));
    assert_eq!(v["os_glance_importing_to_stores"], "");
    assert!(e.get(&format!("/v2/images/{id}/file"), MEMBER_A).await.body == payload);
    // a failing download puts the image back to queued, marked failed
    let id = id_of(
        &e.create(
            MEMBER_A,
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await,
    );
    let uri = format!("http://{addr}/images/missing.raw");
    let r = e
        .call(
            "POST",
            &format!("/v2/images/{id}/import"),
            Some(MEMBER_A),
            Some(json!({"method": {"name": "web-download", "uri": uri}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(e.wait_import(&id).await, "queued");
    assert_eq!(
        e.get(&format!("/v2/images/{id}"), MEMBER_A).await.json()["os_glance_failed_import"],
        "file"
    );

    // glance-direct: stage, then import
    let id = id_of(
        &e.create(
            MEMBER_A,
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await,
    );
    let r = e
        .call(
            "POST",
            &format!("/v2/images/{id}/import"),
            Some(MEMBER_A),
            Some(json!({"method": {"name": "glance-direct"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "must be staged first");
    let req = Request::put(format!("/v2/images/{id}/stage"))
        .header("x-auth-token", MEMBER_A)
        .header("content-type", "application/octet-stream")
        .body(Body::from(b"staged data".to_vec()))
        .unwrap();
    assert_eq!(e.send(req).await.status, StatusCode::NO_CONTENT);
    let v = e.get(&format!("/v2/images/{id}"), MEMBER_A).await.json();
    assert_eq!(
        (v["status"].as_str(), v["size"].as_i64()),
        (Some("uploading"), Some(11))
    );
    let r = e
        .call(
            "POST",
            &format!("/v2/images/{id}/import"),
            Some(MEMBER_A),
            Some(json!({"method": {"name": "glance-direct"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(e.wait_import(&id).await, "active");
    assert_eq!(
        e.get(&format!("/v2/images/{id}/file"), MEMBER_A).await.body,
        "staged data"
    );
    // importing into an active image is refused
    let r = e
        .call(
            "POST",
            &format!("/v2/images/{id}/import"),
            Some(MEMBER_A),
            Some(json!({"method": {"name": "glance-direct"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // a staged qcow2 with a backing file fails its import
    if let Some(backed) = qcow2_file(&["-b", "{base}", "-F", "qcow2"]) {
        let id = id_of(
            &e.create(
                MEMBER_A,
                json!({"disk_format": "qcow2", "container_format": "bare"}),
            )
            .await,
        );
        let req = Request::put(format!("/v2/images/{id}/stage"))
            .header("x-auth-token", MEMBER_A)
            .header("content-type", "application/octet-stream")
            .body(Body::from(backed))
            .unwrap();
        assert_eq!(e.send(req).await.status, StatusCode::NO_CONTENT);
        e.call(
            "POST",
            &format!("/v2/images/{id}/import"),
            Some(MEMBER_A),
            Some(json!({"method": {"name": "glance-direct"}})),
        )
        .await;
        assert_eq!(e.wait_import(&id).await, "queued");
    }
}

#[tokio::test]
async fn register_file_is_idempotent() {
    let e = env().await;
    let path = e.dir.join("test.img");
    std::fs::write(&path, vec![7u8; 4096]).unwrap();
    let props = std::collections::BTreeMap::from([("os_distro".to_owned(), "cirros".to_owned())]);
    let id = e
        .svc
        .register_file(
            "cirros",
            &path,
            "raw",
            "bare",
            image::model::Visibility::Public,
            props.clone(),
            Some(PROJECT_A),
        )
        .await
        .unwrap();
    let again = e
        .svc
        .register_file(
            "cirros",
            &path,
            "raw",
            "bare",
            image::model::Visibility::Public,
            props,
            Some(PROJECT_A),
        )
        .await
        .unwrap();
    assert_eq!(id, again);
    let v = e.get(&format!("/v2/images/{id}"), MEMBER_B).await.json();
    assert_eq!(
        (
            v["status"].as_str(),
            v["size"].as_i64(),
            v["os_distro"].as_str()
        ),
        (Some("active"), Some(4096), Some("cirros"))
    );
    assert_eq!(e.stored_files().len(), 1);
    // a file that does not match its format is refused and leaves nothing
    let err = e
        .svc
        .register_file(
            "bad",
            &path,
            "qcow2",
            "bare",
            image::model::Visibility::Public,
            Default::default(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, api_common::ErrorKind::UnsupportedMediaType);
    assert_eq!(e.stored_files().len(), 1);
}

#[tokio::test]
async fn policy_file_overrides_defaults() {
    let policy = "\"publicize_image\": \"role:member\"\n\"get_images\": \"role:admin\"\n";
    let e = env_full(image::Config::default(), Some(policy)).await;
    let r = e
        .call(
            "POST",
            "/v2/images",
            Some(MEMBER_A),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        e.get("/v2/images", MEMBER_A).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(e.get("/v2/images", ADMIN_A).await.status, StatusCode::OK);
}

/// Defect 1: a clean restart kept only the uploads that were complete; a finished
/// glance-direct stage (204, `uploading`) was reset to `queued` and its data deleted.
/// Now only a stage a crash cut short is reset.
#[tokio::test]
async fn completed_stage_survives_restart() {
    let e = env().await;
    let raw = json!({"disk_format": "raw", "container_format": "bare"});
    let staged = id_of(&e.create(MEMBER_A, raw.clone()).await);
    assert_eq!(
        e.stage(&staged, MEMBER_A, b"staged data".to_vec())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // a stage a crash cut short: it began (queued -> uploading) and never finished
    let cut = id_of(&e.create(MEMBER_A, raw).await);
    let (queued, uploading) = (
        image::model::Status::Queued,
        image::model::Status::Uploading,
    );
    assert!(e
        .svc
        .tables
        .set_status(&cut, queued, uploading)
        .await
        .unwrap());
    // the next process over the same database and data directory
    let next = image::start(
        e.svc.tables.db.clone(),
        image::Config::default(),
        &e.dir,
        None,
        "test",
    )
    .await
    .unwrap();
    assert_eq!(next.requeue_interrupted().await.unwrap(), vec![cut.clone()]);
    assert_eq!(e.status_of(&cut).await, "queued");
    assert_eq!(e.status_of(&staged).await, "uploading");
    assert!(e.staged_files().contains(&staged));
    let r = e
        .import(&staged, MEMBER_A, json!({"name": "glance-direct"}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(e.wait_import(&staged).await, "active");
    assert_eq!(
        e.get(&format!("/v2/images/{staged}/file"), MEMBER_A)
            .await
            .body,
        "staged data"
    );
}

/// Defect 6: `min_disk` / `min_ram` of 2^63 or more were stored as 0. Glance keeps
/// them in 32-bit columns and refuses more than 2^31 - 1 with a 400.
#[tokio::test]
async fn min_disk_and_min_ram_out_of_range_are_refused() {
    let e = env().await;
    let too_big = [json!(1u64 << 63), json!(u64::MAX), json!(1i64 << 31)];
    for field in ["min_disk", "min_ram"] {
        for v in &too_big {
            let r = e
                .call(
                    "POST",
                    "/v2/images",
                    Some(MEMBER_A),
                    Some(json!({field: v})),
                )
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}={v}");
            assert!(
                r.text().contains(&format!(
                    "'{field}' value out of range, must not exceed 2147483647"
                )),
                "{}",
                r.text()
            );
        }
    }
    let img = e
        .create(MEMBER_A, json!({"min_disk": 2147483647, "min_ram": 1}))
        .await;
    assert_eq!(img["min_disk"], 2147483647);
    let id = id_of(&img);
    for v in &too_big {
        let r = e
            .patch(
                &id,
                MEMBER_A,
                json!([{"op": "replace", "path": "/min_ram", "value": v}]),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{v}: {}", r.text());
    }
    let v = e.get(&format!("/v2/images/{id}"), MEMBER_A).await.json();
    assert_eq!(
        (v["min_disk"].as_i64(), v["min_ram"].as_i64()),
        (Some(2147483647), Some(1))
    );
}

/// Defect 7: image ids were case-sensitive, so the upper-case form of an existing id
/// made a second image. Ids are UUIDs and are normalized wherever they come in.
#[tokio::test]
async fn image_ids_are_case_insensitive() {
    let e = env().await;
    let id = "6f6b0a4e-aaaa-4c2a-9b5e-00000000abcd";
    let upper = id.to_uppercase();
    e.create(MEMBER_A, json!({"id": id, "name": "one"})).await;
    let r = e
        .call(
            "POST",
            "/v2/images",
            Some(MEMBER_A),
            Some(json!({"id": upper})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let v = e.get(&format!("/v2/images/{upper}"), MEMBER_A).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.json()["id"], id);
    // an id created in upper case is stored (and shown) in lower case
    let other = "6F6B0A4E-BBBB-4C2A-9B5E-00000000ABCD";
    let v = e.create(MEMBER_A, json!({"id": other})).await;
    assert_eq!(v["id"], other.to_lowercase());
    // every route, filter and marker takes either form
    assert_eq!(
        e.call(
            "PUT",
            &format!("/v2/images/{upper}/tags/t1"),
            Some(MEMBER_A),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    let r = e
        .patch(
            &upper,
            MEMBER_A,
            json!([{"op": "replace", "path": "/name", "value": "renamed"}]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list = e
        .get(&format!("/v2/images?id={upper}"), MEMBER_A)
        .await
        .json();
    assert_eq!(list["images"].as_array().unwrap().len(), 1);
    assert_eq!(list["images"][0]["name"], "renamed");
    assert_eq!(list["images"][0]["tags"], json!(["t1"]));
    let page = e
        .get(
            &format!("/v2/images?marker={upper}&sort_key=id&sort_dir=asc"),
            MEMBER_A,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(
        e.call(
            "DELETE",
            &format!("/v2/images/{upper}"),
            Some(MEMBER_A),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        e.get(&format!("/v2/images/{id}"), MEMBER_A).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Defect 10: an import by a caller who does not own the image answered 409 (a state
/// check) before the 403/404 it should get.
#[tokio::test]
async fn import_authorizes_before_state_checks() {
    let e = env().await;
    let direct = json!({"name": "glance-direct"});
    let raw = json!({"disk_format": "raw", "container_format": "bare"});
    // A's private queued image: B may not see it (the state check would say 409)
    let private = id_of(&e.create(MEMBER_A, raw.clone()).await);
    let r = e.import(&private, MEMBER_B, direct.clone()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // A's public active image: B sees it but may not modify it
    let mut public = raw;
    public["visibility"] = json!("public");
    let public = id_of(&e.create(ADMIN_A, public).await);
    assert_eq!(
        e.upload(&public, ADMIN_A, b"data".to_vec()).await.status,
        StatusCode::NO_CONTENT
    );
    for who in [MEMBER_B, READER_A] {
        let r = e.import(&public, who, direct.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.text());
    }
    // the owner gets the state check
    let r = e.import(&public, MEMBER_A, direct).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
}

/// Defect 9 (image part): a member id of 10,000 characters was accepted. A member is a
/// project id: at most 255 characters.
#[tokio::test]
async fn member_ids_are_limited_to_project_id_length() {
    let e = env().await;
    let id = id_of(&e.create(MEMBER_A, json!({"visibility": "shared"})).await);
    let members = format!("/v2/images/{id}/members");
    for (len, want) in [
        (10_000, StatusCode::BAD_REQUEST),
        (256, StatusCode::BAD_REQUEST),
        (255, StatusCode::OK),
    ] {
        let r = e
            .call(
                "POST",
                &members,
                Some(MEMBER_A),
                Some(json!({"member": "m".repeat(len)})),
            )
            .await;
        assert_eq!(r.status, want, "{len}: {}", r.text());
    }
    assert_eq!(
        e.get(&members, MEMBER_A).await.json()["members"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

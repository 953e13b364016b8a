//! The metadata API over real HTTP, with requests signed as the networking service's
//! metadata proxy signs them, over in-memory instances.

use std::{collections::BTreeMap, sync::Arc};

use metadata::{
    api::{self, sign},
    memory::MemoryInstances,
    model::*,
    Settings,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

const SECRET: &str = "proxy-secret";
const PROJECT: &str = "f7ac731cc11f40efbc03a9f9e1d1d21f";

fn instance(uuid: Uuid) -> InstanceMetadata {
    InstanceMetadata {
        uuid,
        name: "web 1".into(),
        hostname: "web-1".into(),
        project_id: PROJECT.into(),
        availability_zone: Some("nova".into()),
        launch_index: 0,
        reservation_id: "r-abcdefgh".into(),
        ec2: Ec2Ids::from_numbers(7, 1),
        key_pairs: vec![KeyPair {
            name: "mykey".into(),
            kind: "ssh".into(),
            public_key: "ssh-ed25519 AAAAexample me@here".into(),
        }],
        user_data: None,
        metadata: BTreeMap::new(),
        security_groups: vec!["default".into()],
        ports: vec![],
        flavor_name: "m1.tiny".into(),
        root_device_name: Some("/dev/vda".into()),
        ..Default::default()
    }
}

struct Server {
    url: String,
    instances: Arc<MemoryInstances>,
    http: reqwest::Client,
    _server: api_common::server::Background,
}

async fn server() -> Server {
    let instances = Arc::new(MemoryInstances::default());
    let options = api::Options {
        secret: SECRET.into(),
        settings: Settings::default(),
    };
    let api = api::api(instances.clone(), options);
    let server = api_common::server::serve_in_background(api.router)
        .await
        .unwrap();
    Server {
        url: server.url(),
        instances,
        http: reqwest::Client::new(),
        _server: server,
    }
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Server {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: &str,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let content_type = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(r.headers().contains_key("x-openstack-request-id"));
        Answer {
            status,
            content_type,
            body: r.text().await.unwrap(),
        }
    }

    /// As the proxy sends it for `id` of `tenant`.
    async fn signed(
        &self,
        method: Method,
        path: &str,
        id: Uuid,
        tenant: &str,
        body: &str,
    ) -> Answer {
        let headers = [
            ("X-Instance-ID", id.to_string()),
            ("X-Tenant-ID", tenant.to_owned()),
            ("X-Instance-ID-Signature", sign(SECRET, &id.to_string())),
            ("X-Forwarded-For", "10.0.0.5".to_owned()),
            ("X-Neutron-Router-ID", "r1".to_owned()),
        ];
        self.send(method, path, &headers, body).await
    }

    async fn get(&self, path: &str, id: Uuid) -> Answer {
        self.signed(Method::GET, path, id, PROJECT, "").await
    }
}

#[tokio::test]
async fn a_signed_request_gets_the_instances_metadata() {
    let s = server().await;
    let id = Uuid::new_v4();
    s.instances.insert(instance(id));

    let a = s.get("/openstack/latest/meta_data.json", id).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.content_type, "application/json");
    let md: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(md["uuid"], id.to_string());
    assert_eq!(md["hostname"], "web-1.novalocal");
    assert_eq!(
        md["public_keys"]["mykey"],
        "ssh-ed25519 AAAAexample me@here"
    );
    assert_eq!(md["project_id"], PROJECT);

    let a = s.get("/openstack", id).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "text/plain; charset=UTF-8");
    assert!(a.body.ends_with("2025-04-04\nlatest"), "{}", a.body);
    let a = s.get("/openstack/latest/", id).await;
    assert_eq!(
        a.body,
        "meta_data.json\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"
    );
    let a = s.get("/openstack/latest/network_data.json", id).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "{}"));
    let a = s.get("/openstack/latest/vendor_data2.json", id).await;
    assert_eq!(
        serde_json::from_str::<Value>(&a.body).unwrap(),
        json!({"static": {}})
    );

    // the EC2 tree, with the proxy's X-Forwarded-For as local-ipv4 (no ports here)
    let a = s.get("/latest/meta-data/local-ipv4", id).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "10.0.0.5"));
    let a = s
        .get("/latest/meta-data/public-keys/0/openssh-key", id)
        .await;
    assert_eq!(a.body, "ssh-ed25519 AAAAexample me@here");
    let a = s.get("/2009-04-04/meta-data/instance-id", id).await;
    assert_eq!(a.body, "i-00000007");
    let a = s.get("/latest", id).await;
    assert_eq!(a.body, "meta-data/");

    // no user data: 404
    let a = s.get("/openstack/latest/user_data", id).await;
    assert_eq!(a.status, 404);
    let a = s.get("/latest/user-data", id).await;
    assert_eq!(a.status, 404);
    let mut with = instance(id);
    with.user_data = Some(b"#!/bin/sh\necho hi\n".to_vec());
    s.instances.insert(with);
    let a = s.get("/openstack/latest/user_data", id).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::OK, "#!/bin/sh\necho hi\n")
    );
    let a = s.get("/latest/user-data", id).await;
    assert_eq!(a.body, "#!/bin/sh\necho hi\n");
}

#[tokio::test]
async fn the_root_lists_ec2_versions_to_anyone() {
    let s = server().await;
    let a = s.send(Method::GET, "/", &[], "").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "text/plain; charset=UTF-8");
    assert!(a.body.starts_with("1.0\n2007-01-19\n"), "{}", a.body);
    assert!(a.body.ends_with("2009-04-04\nlatest"), "{}", a.body);
}

#[tokio::test]
async fn unsigned_or_wrongly_signed_requests_are_refused() {
    let s = server().await;
    let id = Uuid::new_v4();
    s.instances.insert(instance(id));
    let path = "/openstack/latest/meta_data.json";
    let text = [("Accept", "text/plain".to_owned())];

    // a bare instance id is worth nothing
    let a = s
        .send(
            Method::GET,
            path,
            &[
                ("X-Instance-ID", id.to_string()),
                ("X-Tenant-ID", PROJECT.into()),
            ],
            "",
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.body
            .contains("X-Instance-ID-Signature header is missing from request."),
        "{}",
        a.body
    );
    let a = s.send(Method::GET, path, &text, "").await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body,
        "400 Bad Request\n\nX-Instance-ID header is missing from request.\n\n   "
    );
    let a = s
        .send(
            Method::GET,
            path,
            &[
                ("X-Instance-ID", id.to_string()),
                ("X-Instance-ID-Signature", sign(SECRET, &id.to_string())),
            ],
            "",
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.body
            .contains("X-Tenant-ID header is missing from request."),
        "{}",
        a.body
    );

    // signed with another secret, or the signature of another instance
    for sig in [
        sign("guessed", &id.to_string()),
        sign(SECRET, &Uuid::new_v4().to_string()),
    ] {
        let a = s
            .send(
                Method::GET,
                path,
                &[
                    ("X-Instance-ID", id.to_string()),
                    ("X-Tenant-ID", PROJECT.into()),
                    ("X-Instance-ID-Signature", sig),
                    ("Accept", "application/json".into()),
                ],
                "",
            )
            .await;
        assert_eq!(a.status, 403);
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["title"], "Forbidden");
        assert!(v["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid proxy request signature."));
    }

    // a signed id of no instance, or not a UUID at all: 404
    let a = s.get(path, Uuid::new_v4()).await;
    assert_eq!(a.status, 404);
    let sig = sign(SECRET, "not-a-uuid");
    let a = s
        .send(
            Method::GET,
            path,
            &[
                ("X-Instance-ID", "not-a-uuid".into()),
                ("X-Tenant-ID", PROJECT.into()),
                ("X-Instance-ID-Signature", sig),
            ],
            "",
        )
        .await;
    assert_eq!(a.status, 404);
    assert!(
        a.body.contains("The resource could not be found."),
        "{}",
        a.body
    );

    // the instance, but another tenant: 404 as if there were none
    let a = s.signed(Method::GET, path, id, "another-project", "").await;
    assert_eq!(a.status, 404);

    // an unknown path or version of a signed instance
    for p in [
        "/openstack/latest/nope",
        "/openstack/2000-01-01/meta_data.json",
        "/2009-04-04/meta-data/nope",
    ] {
        assert_eq!(s.get(p, id).await.status, 404, "{p}");
    }
}

#[tokio::test]
async fn the_guest_sets_its_password_once() {
    let s = server().await;
    let id = Uuid::new_v4();
    s.instances.insert(instance(id));
    let path = "/openstack/latest/password";

    let a = s.get(path, id).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, ""));
    let a = s
        .signed(Method::POST, path, id, PROJECT, "ZW5jcnlwdGVk")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        s.instances.get(id).unwrap().password.as_deref(),
        Some("ZW5jcnlwdGVk")
    );
    let a = s.get(path, id).await;
    assert_eq!(a.body, "ZW5jcnlwdGVk");
    let a = s.signed(Method::POST, path, id, PROJECT, "again").await;
    assert_eq!(a.status, 409);
    assert_eq!(
        s.instances.get(id).unwrap().password.as_deref(),
        Some("ZW5jcnlwdGVk")
    );

    // too large, wrong method, too old a version, unsigned
    let other = Uuid::new_v4();
    s.instances.insert(instance(other));
    let a = s
        .signed(Method::POST, path, other, PROJECT, &"x".repeat(1021))
        .await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("Request is too large."), "{}", a.body);
    let a = s
        .signed(Method::POST, path, other, PROJECT, &"x".repeat(1020))
        .await;
    assert_eq!(a.status, 200);
    let a = s.signed(Method::PUT, path, other, PROJECT, "x").await;
    assert_eq!(a.status, 400);
    assert!(
        a.body.contains("GET and POST only are supported."),
        "{}",
        a.body
    );
    let a = s.get("/openstack/2012-08-10/password", other).await;
    assert_eq!(a.status, 404);
    let a = s.send(Method::POST, path, &[], "sneaky").await;
    assert_eq!(a.status, 400);
    // another tenant cannot set it
    let third = Uuid::new_v4();
    s.instances.insert(instance(third));
    let a = s
        .signed(Method::POST, path, third, "another-project", "x")
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(s.instances.get(third).unwrap().password, None);
}

//! The Compute API in-process, on SQLite and PostgreSQL: validation errors in Nova's
//! words, microversion differences, quotas, visibility (another project's server is
//! not found) and state checks, with a host that does everything at once
//! (`compute::app::lifecycle::Instant`).

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use compute::{app::lifecycle::Instant, Compute};
use serde_json::{json, Value};
use test_support::{Engine, TestCloud};

macro_rules! on_engines {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(setup(Engine::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !Engine::available().contains(&Engine::Postgres) {
                    db::testing::missing("no PostgreSQL for the compute API tests");
                    return;
                }
                ($body)(setup(Engine::Postgres).await).await;
            }
        }
    };
}

const SVC: &str = "compute_api";

/// A cloud with DevStack's flavors and an instant host.
async fn setup(engine: Engine) -> TestCloud {
    let tc = TestCloud::start_on(engine).await;
    let c = compute(&tc);
    c.bootstrap_flavors().await.unwrap();
    c.set_lifecycle(Arc::new(Instant::new(&c, "host1")));
    c.service_heartbeat("host1", "nova-compute").await.unwrap();
    tc
}

fn compute(tc: &TestCloud) -> Arc<Compute> {
    tc.cloud.handle::<Compute>(SVC).expect("compute_api runs")
}

/// A request to the compute API at microversion `mv` (None: no header).
async fn nova(
    tc: &TestCloud,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    mv: Option<&str>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("x-auth-token", token);
    if let Some(v) = mv {
        b = b.header("openstack-api-version", format!("compute {v}"));
    }
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let r = tc.send(SVC, b.body(body).unwrap()).await;
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    };
    (r.status, v, r.headers)
}

async fn get(tc: &TestCloud, token: &str, path: &str, mv: Option<&str>) -> (StatusCode, Value) {
    let (s, v, _) = nova(tc, token, Method::GET, path, None, mv).await;
    (s, v)
}

async fn post(
    tc: &TestCloud,
    token: &str,
    path: &str,
    body: Value,
    mv: Option<&str>,
) -> (StatusCode, Value) {
    let (s, v, _) = nova(tc, token, Method::POST, path, Some(body), mv).await;
    (s, v)
}

/// A refusal: its status, its Nova fault key and message.
fn fault(v: &Value) -> (&str, &str) {
    let (k, inner) = v
        .as_object()
        .and_then(|m| m.iter().next())
        .unwrap_or_else(|| panic!("no fault body: {v}"));
    (k.as_str(), inner["message"].as_str().unwrap_or(""))
}

/// An active public image (a few bytes), as admin.
async fn image(tc: &TestCloud) -> String {
    let admin = tc.admin_token().await;
    let r = tc
        .call("image", Method::POST, "/v2/images", Some(&admin), Some(json!({"name": "tiny", "disk_format": "raw", "container_format": "bare", "visibility": "public"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let req = Request::builder()
        .method(Method::PUT)
        .uri(format!("/v2/images/{id}/file"))
        .header("x-auth-token", &admin)
        .header("content-type", "application/octet-stream")
        .body(Body::from(vec![0u8; 1024]))
        .unwrap();
    let r = tc.send("image", req).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    id
}

on_engines!(versions_and_faults, |tc: TestCloud| async move {
    let r = tc.call(SVC, Method::GET, "/", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["versions"][0]["id"], "v2.1");
    assert_eq!(v["versions"][0]["version"], "2.96");
    assert_eq!(v["versions"][0]["min_version"], "2.1");
    let r = tc.call(SVC, Method::GET, "/v2.1", None, None).await;
    assert_eq!(
        r.json()["version"]["media-types"][0]["type"],
        "application/vnd.openstack.compute+json;version=2.1"
    );
    // no token
    let r = tc.call(SVC, Method::GET, "/v2.1/flavors", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let demo = tc.demo_token().await;
    // negotiation, echoed with Vary
    let (s, _, h) = nova(&tc, &demo, Method::GET, "/v2.1/flavors", None, Some("2.53")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["openstack-api-version"], "compute 2.53");
    assert_eq!(h["x-openstack-nova-api-version"], "2.53");
    assert!(
        h["vary"]
            .to_str()
            .unwrap()
            .contains("OpenStack-API-Version")
            || h["vary"]
                .to_str()
                .unwrap()
                .contains("openstack-api-version")
    );
    let (s, _, h) = nova(
        &tc,
        &demo,
        Method::GET,
        "/v2.1/flavors",
        None,
        Some("latest"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["openstack-api-version"], "compute 2.96");
    let (s, v, _) = nova(&tc, &demo, Method::GET, "/v2.1/flavors", None, Some("2.97")).await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(
        fault(&v).1,
        "Version 2.97 is not supported by the API. Minimum is 2.1 and maximum is 2.96."
    );
    let (s, v, _) = nova(&tc, &demo, Method::GET, "/v2.1/flavors", None, Some("2.x")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // a missing resource is Nova's itemNotFound
    let (s, v) = get(&tc, &demo, "/v2.1/flavors/nope", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        fault(&v),
        ("itemNotFound", "Flavor nope could not be found.")
    );
    let (s, v) = get(
        &tc,
        &demo,
        "/v2.1/servers/00000000-0000-0000-0000-000000000000",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(fault(&v).0, "itemNotFound");
    // bad JSON
    let (s, v, _) = nova(&tc, &demo, Method::POST, "/v2.1/os-keypairs", None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(fault(&v).0, "badRequest");
});

on_engines!(flavors, |tc: TestCloud| async move {
    let demo = tc.demo_token().await;
    let admin = tc.admin_token().await;
    let (s, v) = get(&tc, &demo, "/v2.1/flavors/detail", None).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = v["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "m1.tiny",
            "m1.small",
            "m1.medium",
            "m1.large",
            "m1.nano",
            "m1.xlarge"
        ],
        "by flavorid, as text"
    );
    let (_, v) = get(&tc, &demo, "/v2.1/flavors/1", None).await;
    let f = &v["flavor"];
    assert_eq!(
        (f["ram"].as_i64(), f["disk"].as_i64(), f["vcpus"].as_i64()),
        (Some(512), Some(1), Some(1))
    );
    assert_eq!(f["swap"], "", "swap is \"\" before 2.75");
    assert!(f.get("description").is_none());
    let (_, v) = get(&tc, &demo, "/v2.1/flavors/42", Some("2.75")).await;
    assert_eq!(v["flavor"]["swap"], 0);
    assert_eq!(v["flavor"]["description"], Value::Null);
    assert_eq!(v["flavor"]["extra_specs"], json!({}));
    // members may not create
    let body = json!({"flavor": {"name": "custom", "ram": 256, "vcpus": 1, "disk": 1}});
    let (s, v) = post(&tc, &demo, "/v2.1/flavors", body.clone(), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // validation
    let (s, v) = post(
        &tc,
        &admin,
        "/v2.1/flavors",
        json!({"flavor": {"name": "x", "ram": 0, "vcpus": 1, "disk": 1}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        fault(&v).1,
        "Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1"
    );
    let (s, v) = post(
        &tc,
        &admin,
        "/v2.1/flavors",
        json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 1, "bogus": 1}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        fault(&v)
            .1
            .contains("Additional properties are not allowed ('bogus' was unexpected)"),
        "{v}"
    );
    let (s, _) = post(
        &tc,
        &admin,
        "/v2.1/flavors",
        json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 1, "description": "d"}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "description needs 2.55");
    // a private flavor with a description
    let (s, v) = post(&tc, &admin, "/v2.1/flavors", json!({"flavor": {"name": "private", "id": "p1", "ram": 256, "vcpus": 1, "disk": 1, "os-flavor-access:is_public": false, "description": "mine"}}), Some("2.55")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["flavor"]["description"], "mine");
    let (s, v) = post(
        &tc,
        &admin,
        "/v2.1/flavors",
        json!({"flavor": {"name": "private", "ram": 256, "vcpus": 1, "disk": 1}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        fault(&v),
        (
            "conflictingRequest",
            "Flavor with name private already exists."
        )
    );
    // hidden from the demo project until access is given
    let (s, _) = get(&tc, &demo, "/v2.1/flavors/p1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let demo_project = tc
        .cloud
        .handle::<identity::Identity>("identity")
        .unwrap()
        .store
        .project_by_name("default", "demo")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (s, v) = post(
        &tc,
        &admin,
        "/v2.1/flavors/p1/action",
        json!({"addTenantAccess": {"tenant": demo_project}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["flavor_access"][0]["tenant_id"], demo_project);
    let (s, _) = get(&tc, &demo, "/v2.1/flavors/p1", None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = get(&tc, &admin, "/v2.1/flavors?is_public=false", None).await;
    assert_eq!(v["flavors"].as_array().unwrap().len(), 1);
    // extra specs
    let (s, v) = post(
        &tc,
        &admin,
        "/v2.1/flavors/p1/os-extra_specs",
        json!({"extra_specs": {"hw:cpu_policy": "shared"}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = get(
        &tc,
        &demo,
        "/v2.1/flavors/p1/os-extra_specs/hw:cpu_policy",
        None,
    )
    .await;
    assert_eq!(v, json!({"hw:cpu_policy": "shared"}));
    let (_, v) = get(&tc, &demo, "/v2.1/flavors/p1", Some("2.61")).await;
    assert_eq!(
        v["flavor"]["extra_specs"],
        json!({"hw:cpu_policy": "shared"})
    );
    let (s, v, _) = nova(
        &tc,
        &admin,
        Method::PUT,
        "/v2.1/flavors/p1/os-extra_specs/other",
        Some(json!({"hw:cpu_policy": "x"})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(fault(&v).1, "Request body and URI mismatch");
    // update (2.55), delete
    let (s, v, _) = nova(
        &tc,
        &admin,
        Method::PUT,
        "/v2.1/flavors/p1",
        Some(json!({"flavor": {"description": "new"}})),
        Some("2.55"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["flavor"]["description"], "new");
    let (s, _, _) = nova(&tc, &admin, Method::DELETE, "/v2.1/flavors/p1", None, None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _) = get(&tc, &admin, "/v2.1/flavors/p1", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // paging
    let (_, v) = get(&tc, &demo, "/v2.1/flavors?limit=2", None).await;
    assert_eq!(v["flavors"].as_array().unwrap().len(), 2);
    let next = v["flavors_links"][0]["href"].as_str().unwrap();
    assert!(next.contains("marker=2"), "{next}");
    let (_, v) = get(&tc, &demo, "/v2.1/flavors?marker=2", None).await;
    assert_eq!(v["flavors"][0]["id"], "3");
    let (s, _) = get(&tc, &demo, "/v2.1/flavors?marker=nope", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
});

on_engines!(keypairs, |tc: TestCloud| async move {
    let demo = tc.demo_token().await;
    let (s, v) = post(
        &tc,
        &demo,
        "/v2.1/os-keypairs",
        json!({"keypair": {"name": "gen"}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["keypair"]["private_key"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
    assert!(v["keypair"]["public_key"]
        .as_str()
        .unwrap()
        .starts_with("ssh-rsa "));
    assert!(v["keypair"].get("type").is_none(), "type comes at 2.2");
    let public = v["keypair"]["public_key"].as_str().unwrap().to_owned();
    let (s, v) = post(
        &tc,
        &demo,
        "/v2.1/os-keypairs",
        json!({"keypair": {"name": "imported", "public_key": public}}),
        Some("2.2"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["keypair"]["type"], "ssh");
    assert!(v["keypair"].get("private_key").is_none());
    let (s, v) = post(
        &tc,
        &demo,
        "/v2.1/os-keypairs",
        json!({"keypair": {"name": "imported", "public_key": public}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(fault(&v).1, "Key pair 'imported' already exists.");
    let (s, v) = post(
        &tc,
        &demo,
        "/v2.1/os-keypairs",
        json!({"keypair": {"name": "bad", "public_key": "ssh-rsa nonsense"}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        fault(&v).1,
        "Keypair data is invalid: failed to generate fingerprint"
    );
    let (s, v) = post(
        &tc,
        &demo,
        "/v2.1/os-keypairs",
        json!({"keypair": {"name": "bad/name"}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        fault(&v).1,
        "Keypair data is invalid: Keypair name contains unsafe characters"
    );
    let (s, _) = post(
        &tc,
        &demo,
        "/v2.1/os-keypairs",
        json!({"keypair": {"name": "nokey"}}),
        Some("2.92"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "2.92 imports only");
    let (_, v) = get(&tc, &demo, "/v2.1/os-keypairs", None).await;
    let names: Vec<&str> = v["keypairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keypair"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gen", "imported"]);
    let (_, v) = get(&tc, &demo, "/v2.1/os-keypairs?limit=1", Some("2.35")).await;
    assert_eq!(v["keypairs"].as_array().unwrap().len(), 1);
    assert!(v["keypairs_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains("marker=gen"));
    let (s, v) = get(&tc, &demo, "/v2.1/os-keypairs/gen", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["keypair"]["deleted"], false);
    // another user does not see them; a member may not name another user (2.10)
    let other = tc.new_member().await;
    let (s, v) = get(&tc, &other.token, "/v2.1/os-keypairs/gen", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(fault(&v).1.starts_with("Keypair gen not found for user"));
    let demo_user = tc
        .cloud
        .handle::<identity::Identity>("identity")
        .unwrap()
        .store
        .user_by_name("default", "demo")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (s, _) = get(
        &tc,
        &other.token,
        &format!("/v2.1/os-keypairs?user_id={demo_user}"),
        Some("2.10"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let admin = tc.admin_token().await;
    let (_, v) = get(
        &tc,
        &admin,
        &format!("/v2.1/os-keypairs?user_id={demo_user}"),
        Some("2.10"),
    )
    .await;
    assert_eq!(v["keypairs"].as_array().unwrap().len(), 2);
    let (s, _, _) = nova(
        &tc,
        &demo,
        Method::DELETE,
        "/v2.1/os-keypairs/gen",
        None,
        Some("2.2"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = nova(
        &tc,
        &demo,
        Method::DELETE,
        "/v2.1/os-keypairs/gen",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // quota
    let demo_project = tc
        .cloud
        .handle::<identity::Identity>("identity")
        .unwrap()
        .store
        .project_by_name("default", "demo")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (s, v, _) = nova(
        &tc,
        &admin,
        Method::PUT,
        &format!("/v2.1/os-quota-sets/{demo_project}"),
        Some(json!({"quota_set": {"key_pairs": 1}})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = post(
        &tc,
        &demo,
        "/v2.1/os-keypairs",
        json!({"keypair": {"name": "third", "public_key": public}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        fault(&v),
        ("forbidden", "Quota exceeded, too many key pairs.")
    );
});

async fn boot(tc: &TestCloud, token: &str, image: &str, name: &str, mv: Option<&str>) -> Value {
    let mut server = json!({"name": name, "imageRef": image, "flavorRef": "42"});
    if mv.is_some() {
        server["networks"] = json!("none");
    }
    let (s, v, h) = nova(
        tc,
        token,
        Method::POST,
        "/v2.1/servers",
        Some(json!({"server": server})),
        mv,
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert!(h["location"]
        .to_str()
        .unwrap()
        .ends_with(v["server"]["id"].as_str().unwrap()));
    v["server"].clone()
}

on_engines!(servers, |tc: TestCloud| async move {
    let img = image(&tc).await;
    let demo = tc.demo_token().await;
    let admin = tc.admin_token().await;
    // validation, in Nova's words
    let check = |body: Value, mv: Option<&'static str>, status: StatusCode, msg: &'static str| {
        let tc = &tc;
        let demo = demo.clone();
        async move {
            let (s, v, _) = nova(
                tc,
                &demo,
                Method::POST,
                "/v2.1/servers",
                Some(body.clone()),
                mv,
            )
            .await;
            assert_eq!(s, status, "{body}: {v}");
            assert!(fault(&v).1.contains(msg), "{body}: {v}");
        }
    };
    check(
        json!({"server": {"imageRef": img, "flavorRef": "42"}}),
        None,
        StatusCode::BAD_REQUEST,
        "'name' is a required property",
    )
    .await;
    check(
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "nope"}}),
        None,
        StatusCode::BAD_REQUEST,
        "Invalid flavorRef provided.",
    )
    .await;
    check(json!({"server": {"name": "x", "imageRef": "00000000-0000-0000-0000-000000000001", "flavorRef": "42"}}), None, StatusCode::BAD_REQUEST, "Can not find requested image").await;
    check(
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "42"}}),
        Some("2.37"),
        StatusCode::BAD_REQUEST,
        "'networks' is a required property",
    )
    .await;
    check(
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "42", "networks": "none"}}),
        None,
        StatusCode::BAD_REQUEST,
        "is not of type 'array'",
    )
    .await;
    check(json!({"server": {"name": "x", "imageRef": img, "flavorRef": "42", "networks": [{"uuid": "bad"}]}}), None, StatusCode::BAD_REQUEST, "Bad networks format").await;
    check(
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "42", "key_name": "nokey"}}),
        None,
        StatusCode::BAD_REQUEST,
        "Invalid key_name provided.",
    )
    .await;
    check(
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "42", "user_data": "!!!"}}),
        None,
        StatusCode::BAD_REQUEST,
        "is not a 'base64'",
    )
    .await;
    check(json!({"server": {"name": "x", "imageRef": img, "flavorRef": "42", "availability_zone": "elsewhere"}}), None, StatusCode::BAD_REQUEST, "The requested availability zone is not available").await;
    check(
        json!({"server": {"name": "x", "imageRef": img, "flavorRef": "42", "description": "d"}}),
        None,
        StatusCode::BAD_REQUEST,
        "Additional properties are not allowed",
    )
    .await;
    check(json!({"server": {"name": "x", "imageRef": img, "flavorRef": "42", "min_count": 3, "max_count": 2}}), None, StatusCode::BAD_REQUEST, "min_count must be <= max_count").await;
    let (_, v) = get(&tc, &demo, "/v2.1/servers", None).await;
    assert_eq!(v["servers"], json!([]), "nothing left behind");

    // create at 2.1 (no networks: the project has none), show at several microversions
    let s = boot(&tc, &demo, &img, "web 1", None).await;
    let id = s["id"].as_str().unwrap().to_owned();
    assert!(s["adminPass"].as_str().is_some_and(|p| p.len() >= 8));
    let (_, v) = get(&tc, &demo, &format!("/v2.1/servers/{id}"), None).await;
    let sv = &v["server"];
    assert_eq!(sv["status"], "ACTIVE", "{sv}");
    assert_eq!(sv["OS-EXT-STS:vm_state"], "active");
    assert_eq!(sv["OS-EXT-STS:power_state"], 1);
    assert_eq!(sv["flavor"]["id"], "42");
    assert_eq!(sv["image"]["id"], img.as_str());
    assert_eq!(sv["OS-EXT-AZ:availability_zone"], "nova");
    assert!(
        sv.get("OS-EXT-SRV-ATTR:host").is_none(),
        "members see no host"
    );
    assert!(sv.get("locked").is_none());
    assert_eq!(sv["hostId"].as_str().unwrap().len(), 56);
    let (_, v) = get(&tc, &demo, &format!("/v2.1/servers/{id}"), Some("2.96")).await;
    let sv = &v["server"];
    assert_eq!(sv["flavor"]["original_name"], "m1.nano");
    assert_eq!(sv["locked"], false);
    assert_eq!(sv["tags"], json!([]));
    assert_eq!(sv["OS-EXT-SRV-ATTR:hostname"], "web-1");
    assert_eq!(sv["server_groups"], json!([]));
    assert!(sv.get("host_status").is_none(), "host_status is for admins");
    let (_, v) = get(&tc, &admin, &format!("/v2.1/servers/{id}"), Some("2.16")).await;
    assert_eq!(v["server"]["OS-EXT-SRV-ATTR:host"], "host1");
    assert_eq!(v["server"]["host_status"], "UP");

    // another project sees nothing of it
    let other = tc.new_member().await;
    for (m, p) in [
        (Method::GET, format!("/v2.1/servers/{id}")),
        (Method::DELETE, format!("/v2.1/servers/{id}")),
    ] {
        let (s, v, _) = nova(&tc, &other.token, m, &p, None, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{p}: {v}");
    }
    let (s, _) = post(
        &tc,
        &other.token,
        &format!("/v2.1/servers/{id}/action"),
        json!({"os-stop": null}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = get(&tc, &other.token, "/v2.1/servers?all_tenants=1", None).await;
    assert_eq!(v["servers"], json!([]), "all_tenants is for admins");
    let (_, v) = get(&tc, &admin, "/v2.1/servers/detail?all_tenants=1", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);

    // state checks
    let act = |body: Value| {
        let (tc, demo, id) = (&tc, demo.clone(), id.clone());
        async move { post(tc, &demo, &format!("/v2.1/servers/{id}/action"), body, None).await }
    };
    let (s, v) = act(json!({"os-start": null})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        fault(&v),
        (
            "conflictingRequest",
            &*format!("Cannot 'start' instance {id} while it is in vm_state active")
        )
    );
    let (s, _) = act(json!({"os-stop": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, v) = get(&tc, &demo, &format!("/v2.1/servers/{id}"), None).await;
    assert_eq!(v["server"]["status"], "SHUTOFF");
    let (s, v) = act(json!({"os-stop": null})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        fault(&v).1,
        format!("Cannot 'stop' instance {id} while it is in vm_state stopped")
    );
    let (s, _) = act(json!({"reboot": {"type": "SOFT"}})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = act(json!({"os-start": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, v) = act(json!({"reboot": {"type": "sideways"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = act(json!({"pause": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _) = act(json!({"suspend": null})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = act(json!({"unpause": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, v) = act(json!({"resize": {"flavorRef": "42"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(fault(&v).1, "When resizing, instances must change flavor!");
    let (s, _) = act(json!({"resize": {"flavorRef": "1"}})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, v) = get(&tc, &demo, &format!("/v2.1/servers/{id}"), None).await;
    assert_eq!(v["server"]["status"], "VERIFY_RESIZE");
    assert_eq!(v["server"]["flavor"]["id"], "1");
    let (s, _) = act(json!({"revertResize": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, v) = get(&tc, &demo, &format!("/v2.1/servers/{id}"), None).await;
    assert_eq!(v["server"]["flavor"]["id"], "42");
    let (s, v) = act(json!({"os-getConsoleOutput": {"length": 1}})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["output"], "login: ");
    let (s, v) = post(
        &tc,
        &demo,
        &format!("/v2.1/servers/{id}/remote-consoles"),
        json!({"remote_console": {"protocol": "vnc", "type": "novnc"}}),
        Some("2.6"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["remote_console"]["url"]
        .as_str()
        .unwrap()
        .starts_with("http"));
    let (s, _) = act(json!({"nonsense": null})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // lock: the owner is refused, an admin is not
    let (s, _) = post(
        &tc,
        &demo,
        &format!("/v2.1/servers/{id}/action"),
        json!({"lock": {"locked_reason": "maintenance"}}),
        Some("2.73"),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, v) = get(&tc, &demo, &format!("/v2.1/servers/{id}"), Some("2.73")).await;
    assert_eq!(
        (
            v["server"]["locked"].clone(),
            v["server"]["locked_reason"].clone()
        ),
        (json!(true), json!("maintenance"))
    );
    let (s, v) = act(json!({"os-stop": null})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(fault(&v).1, format!("Instance {id} is locked"));
    let (s, _) = act(json!({"unlock": null})).await;
    assert_eq!(s, StatusCode::ACCEPTED);

    // instance actions
    let (_, v) = get(
        &tc,
        &demo,
        &format!("/v2.1/servers/{id}/os-instance-actions"),
        None,
    )
    .await;
    let actions: Vec<&str> = v["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"create") && actions.contains(&"stop") && actions.contains(&"lock"),
        "{actions:?}"
    );
    let req = v["instanceActions"][0]["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = get(
        &tc,
        &demo,
        &format!("/v2.1/servers/{id}/os-instance-actions/{req}"),
        Some("2.51"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["instanceAction"]["events"].is_array());

    // update, metadata, tags
    let (s, v, _) = nova(
        &tc,
        &demo,
        Method::PUT,
        &format!("/v2.1/servers/{id}"),
        Some(json!({"server": {"name": "renamed", "description": "d"}})),
        Some("2.19"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["server"]["name"].clone(),
            v["server"]["description"].clone()
        ),
        (json!("renamed"), json!("d"))
    );
    let (s, v) = post(
        &tc,
        &demo,
        &format!("/v2.1/servers/{id}/metadata"),
        json!({"metadata": {"a": "1", "b": "2"}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"], json!({"a": "1", "b": "2"}));
    let (s, v, _) = nova(
        &tc,
        &demo,
        Method::PUT,
        &format!("/v2.1/servers/{id}/metadata/a"),
        Some(json!({"meta": {"b": "x"}})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(fault(&v).1, "Request body and URI mismatch");
    let (s, _, _) = nova(
        &tc,
        &demo,
        Method::DELETE,
        &format!("/v2.1/servers/{id}/metadata/a"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = nova(
        &tc,
        &demo,
        Method::PUT,
        &format!("/v2.1/servers/{id}/tags/blue"),
        None,
        Some("2.26"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = nova(
        &tc,
        &demo,
        Method::PUT,
        &format!("/v2.1/servers/{id}/tags/blue"),
        None,
        Some("2.26"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = get(&tc, &demo, "/v2.1/servers?tags=blue", Some("2.26")).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    let (_, v) = get(&tc, &demo, "/v2.1/servers?not-tags=blue", Some("2.26")).await;
    assert_eq!(v["servers"], json!([]));
    let (s, _) = get(&tc, &demo, &format!("/v2.1/servers/{id}/tags"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "tags need 2.26");

    // a second server; list filters, sort and paging
    let s2 = boot(&tc, &demo, &img, "db", Some("2.37")).await;
    let id2 = s2["id"].as_str().unwrap().to_owned();
    let (_, v) = get(&tc, &demo, "/v2.1/servers", None).await;
    let ids: Vec<&str> = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id2.as_str(), id.as_str()], "newest first");
    let (_, v) = get(&tc, &demo, "/v2.1/servers?name=^ren", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    let (_, v) = get(
        &tc,
        &demo,
        "/v2.1/servers?sort_key=display_name&sort_dir=asc",
        None,
    )
    .await;
    assert_eq!(v["servers"][0]["name"], "db");
    let (_, v) = get(&tc, &demo, "/v2.1/servers?limit=1", None).await;
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    assert!(v["servers_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains(&format!("marker={id2}")));
    let (_, v) = get(&tc, &demo, &format!("/v2.1/servers?marker={id2}"), None).await;
    assert_eq!(v["servers"][0]["id"], id.as_str());
    let (_, v) = get(&tc, &demo, "/v2.1/servers?status=SHUTOFF", None).await;
    assert_eq!(v["servers"], json!([]));
    let (s, _) = get(&tc, &demo, "/v2.1/servers?status=BOGUS", Some("2.38")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = get(&tc, &demo, "/v2.1/servers?sort_key=bogus", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // delete
    let (s, _, _) = nova(
        &tc,
        &demo,
        Method::DELETE,
        &format!("/v2.1/servers/{id2}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = get(&tc, &demo, &format!("/v2.1/servers/{id2}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = get(
        &tc,
        &admin,
        "/v2.1/servers/detail?all_tenants=1&deleted=true",
        None,
    )
    .await;
    assert_eq!(v["servers"][0]["status"], "DELETED");
});

on_engines!(quotas_and_limits, |tc: TestCloud| async move {
    let img = image(&tc).await;
    let admin = tc.admin_token().await;
    let m = tc.new_member().await;
    let (_, v) = get(
        &tc,
        &m.token,
        &format!("/v2.1/os-quota-sets/{}", m.project_id),
        None,
    )
    .await;
    assert_eq!(v["quota_set"]["instances"], 10);
    assert_eq!(
        v["quota_set"]["floating_ips"], 10,
        "network quotas before 2.36"
    );
    let (_, v) = get(
        &tc,
        &m.token,
        &format!("/v2.1/os-quota-sets/{}", m.project_id),
        Some("2.57"),
    )
    .await;
    assert!(v["quota_set"].get("floating_ips").is_none());
    assert!(v["quota_set"].get("injected_files").is_none());
    let (s, _, _) = nova(
        &tc,
        &m.token,
        Method::PUT,
        &format!("/v2.1/os-quota-sets/{}", m.project_id),
        Some(json!({"quota_set": {"instances": 50}})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "members do not set quotas");
    let (s, v, _) = nova(
        &tc,
        &admin,
        Method::PUT,
        &format!("/v2.1/os-quota-sets/{}", m.project_id),
        Some(json!({"quota_set": {"instances": 2, "cores": 3}})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["quota_set"]["instances"], 2);
    // min/max count: as many as fit
    let (s, v) = post(&tc, &m.token, "/v2.1/servers", json!({"server": {"name": "many", "imageRef": img, "flavorRef": "42", "min_count": 1, "max_count": 5, "return_reservation_id": true}}), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let rid = v["reservation_id"].as_str().unwrap().to_owned();
    let (_, v) = get(
        &tc,
        &m.token,
        &format!("/v2.1/servers?reservation_id={rid}"),
        None,
    )
    .await;
    let mut names: Vec<&str> = v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["many-1", "many-2"]);
    let (s, v) = post(
        &tc,
        &m.token,
        "/v2.1/servers",
        json!({"server": {"name": "one", "imageRef": img, "flavorRef": "42"}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        fault(&v),
        (
            "forbidden",
            "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
        )
    );
    // limits
    let (_, v) = get(&tc, &m.token, "/v2.1/limits", None).await;
    let a = &v["limits"]["absolute"];
    assert_eq!(
        (
            a["maxTotalInstances"].as_i64(),
            a["totalInstancesUsed"].as_i64(),
            a["totalCoresUsed"].as_i64(),
            a["totalRAMUsed"].as_i64()
        ),
        (Some(2), Some(2), Some(2), Some(256))
    );
    let (_, v) = get(
        &tc,
        &m.token,
        &format!("/v2.1/os-quota-sets/{}/detail", m.project_id),
        None,
    )
    .await;
    assert_eq!(
        v["quota_set"]["instances"],
        json!({"limit": 2, "in_use": 2, "reserved": 0})
    );
    // another project's quotas are not the member's to read
    let other = tc.new_member().await;
    let (s, _) = get(
        &tc,
        &other.token,
        &format!("/v2.1/os-quota-sets/{}", m.project_id),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = get(
        &tc,
        &m.token,
        &format!("/v2.1/os-simple-tenant-usage/{}", m.project_id),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["tenant_usage"]["server_usages"].as_array().unwrap().len(),
        2
    );
});

on_engines!(groups_zones_services, |tc: TestCloud| async move {
    let img = image(&tc).await;
    let admin = tc.admin_token().await;
    let demo = tc.demo_token().await;
    // server groups across microversions
    let (s, v) = post(
        &tc,
        &demo,
        "/v2.1/os-server-groups",
        json!({"server_group": {"name": "g", "policies": ["anti-affinity"]}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["server_group"]["policies"], json!(["anti-affinity"]));
    let (s, v) = post(&tc, &demo, "/v2.1/os-server-groups", json!({"server_group": {"name": "g2", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}}), Some("2.64")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["server_group"]["rules"],
        json!({"max_server_per_host": 2})
    );
    let gid = v["server_group"]["id"].as_str().unwrap().to_owned();
    let (s, _) = post(&tc, &demo, "/v2.1/os-server-groups", json!({"server_group": {"name": "g3", "policy": "affinity", "rules": {"max_server_per_host": 2}}}), Some("2.64")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = post(
        &tc,
        &demo,
        "/v2.1/os-server-groups",
        json!({"server_group": {"name": "g3", "policies": ["soft-affinity"]}}),
        Some("2.14"),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "soft policies come at 2.15");
    let (s, v) = post(&tc, &demo, "/v2.1/servers", json!({"server": {"name": "member", "imageRef": img, "flavorRef": "42"}, "os:scheduler_hints": {"group": gid}}), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let sid = v["server"]["id"].as_str().unwrap().to_owned();
    let (_, v) = get(
        &tc,
        &demo,
        &format!("/v2.1/os-server-groups/{gid}"),
        Some("2.64"),
    )
    .await;
    assert_eq!(v["server_group"]["members"], json!([sid]));
    let (_, v) = get(&tc, &demo, &format!("/v2.1/servers/{sid}"), Some("2.71")).await;
    assert_eq!(v["server"]["server_groups"], json!([gid]));
    let other = tc.new_member().await;
    let (s, _) = get(
        &tc,
        &other.token,
        &format!("/v2.1/os-server-groups/{gid}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = nova(
        &tc,
        &demo,
        Method::DELETE,
        &format!("/v2.1/os-server-groups/{gid}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // zones, services, hypervisors
    let (_, v) = get(&tc, &demo, "/v2.1/os-availability-zone", None).await;
    assert_eq!(
        v["availabilityZoneInfo"],
        json!([{"zoneName": "nova", "zoneState": {"available": true}, "hosts": null}])
    );
    let (s, _) = get(&tc, &demo, "/v2.1/os-availability-zone/detail", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, v) = get(&tc, &admin, "/v2.1/os-availability-zone/detail", None).await;
    assert_eq!(
        v["availabilityZoneInfo"][0]["hosts"]["host1"]["nova-compute"]["available"],
        true
    );
    let (s, _) = get(&tc, &demo, "/v2.1/os-services", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, v) = get(&tc, &admin, "/v2.1/os-services", Some("2.53")).await;
    let svc = v["services"][0].clone();
    assert_eq!(
        (
            svc["binary"].clone(),
            svc["state"].clone(),
            svc["status"].clone()
        ),
        (json!("nova-compute"), json!("up"), json!("enabled"))
    );
    let sid = svc["id"].as_str().unwrap().to_owned();
    let (s, v, _) = nova(
        &tc,
        &admin,
        Method::PUT,
        &format!("/v2.1/os-services/{sid}"),
        Some(json!({"status": "disabled", "disabled_reason": "maintenance"})),
        Some("2.53"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["service"]["disabled_reason"], "maintenance");
    let (s, v, _) = nova(
        &tc,
        &admin,
        Method::PUT,
        "/v2.1/os-services/enable",
        Some(json!({"host": "host1", "binary": "nova-compute"})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["service"]["status"], "enabled");
    let (s, v, _) = nova(
        &tc,
        &admin,
        Method::PUT,
        "/v2.1/os-services/force-down",
        Some(json!({"host": "host1", "binary": "nova-compute", "forced_down": true})),
        Some("2.11"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, v) = get(&tc, &admin, "/v2.1/os-services", Some("2.11")).await;
    assert_eq!(
        (
            v["services"][0]["state"].clone(),
            v["services"][0]["forced_down"].clone()
        ),
        (json!("down"), json!(true))
    );
    compute(&tc)
        .node_report(compute::app::hosts::NodeReport {
            host: "host1".into(),
            hypervisor_hostname: "host1".into(),
            hypervisor_type: "QEMU".into(),
            hypervisor_version: 7002000,
            host_ip: "127.0.0.1".into(),
            vcpus: 2,
            memory_mb: 4096,
            local_gb: 20,
            ..Default::default()
        })
        .await
        .unwrap();
    let (_, v) = get(&tc, &admin, "/v2.1/os-hypervisors/detail", None).await;
    assert_eq!(v["hypervisors"][0]["vcpus"], 2);
    let (_, v) = get(&tc, &admin, "/v2.1/os-hypervisors/detail", Some("2.88")).await;
    assert!(
        v["hypervisors"][0].get("vcpus").is_none(),
        "2.88 drops the resource fields"
    );
    let (_, v) = get(&tc, &admin, "/v2.1/os-hypervisors/statistics", None).await;
    assert_eq!(v["hypervisor_statistics"]["count"], 1);
    // aggregates give zones
    let (s, v) = post(
        &tc,
        &admin,
        "/v2.1/os-aggregates",
        json!({"aggregate": {"name": "agg", "availability_zone": "az1"}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let aid = v["aggregate"]["id"].as_i64().unwrap();
    let (s, v) = post(
        &tc,
        &admin,
        &format!("/v2.1/os-aggregates/{aid}/action"),
        json!({"add_host": {"host": "host1"}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["aggregate"]["hosts"], json!(["host1"]));
    let (_, v) = get(&tc, &admin, "/v2.1/os-services", None).await;
    assert_eq!(v["services"][0]["zone"], "az1");
    // the network proxies are gone at 2.36
    let (s, _) = get(&tc, &demo, "/v2.1/os-security-groups", Some("2.36")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
});

on_engines!(external_events, |tc: TestCloud| async move {
    let img = image(&tc).await;
    let demo = tc.demo_token().await;
    let admin = tc.admin_token().await;
    let s = boot(&tc, &demo, &img, "events", Some("2.37")).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let path = "/v2.1/os-server-external-events";
    let ev = |name: &str, server: &str| json!({"name": name, "server_uuid": server, "tag": "t1"});
    let nobody = "6b1d3c2e-1f7a-4c55-9d3e-2a4b5c6d7e8f";
    // only services (and admins) send them
    let (st, _) = post(
        &tc,
        &demo,
        path,
        json!({"events": [ev("network-vif-plugged", &id)]}),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // validated as Nova's schema does, per microversion
    for (body, mv) in [
        (json!({"events": []}), None),
        (json!({}), None),
        (json!({"events": [{"name": "network-changed"}]}), None),
        (json!({"events": [ev("no-such-event", &id)]}), None),
        (
            json!({"events": [{"name": "network-changed", "server_uuid": "not-a-uuid"}]}),
            None,
        ),
        (
            json!({"events": [ev("volume-extended", &id)]}),
            Some("2.50"),
        ),
        (
            json!({"events": [{"name": "network-changed", "server_uuid": &id, "status": "odd"}]}),
            None,
        ),
    ] {
        let (st, v) = post(&tc, &admin, path, body.clone(), mv).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    // no server of any event: 404
    let (st, _) = post(
        &tc,
        &admin,
        path,
        json!({"events": [ev("network-vif-plugged", nobody)]}),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // one delivered, one not: 207, with each event's code
    let (st, v) = post(
        &tc,
        &admin,
        path,
        json!({"events": [ev("network-vif-plugged", &id), ev("network-vif-plugged", nobody)]}),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::MULTI_STATUS, "{v}");
    assert_eq!(v["events"][0]["code"], 200, "{v}");
    assert_eq!(v["events"][0]["status"], "completed", "{v}");
    assert_eq!(v["events"][0]["tag"], "t1", "{v}");
    assert_eq!(v["events"][1]["code"], 404, "{v}");
    assert_eq!(v["events"][1]["status"], "failed", "{v}");
    let (st, v) = post(
        &tc,
        &admin,
        path,
        json!({"events": [ev("volume-extended", &id)]}),
        Some("2.51"),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
});

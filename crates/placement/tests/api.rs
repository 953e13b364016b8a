//! The Placement API in-process, on SQLite and PostgreSQL: microversions, providers and
//! inventories with their generations, classes, traits, aggregates, allocations and
//! usages, allocation candidates, the reshaper, errors in placement's format, and
//! concurrent writers (several API processes over one database) that never lose an
//! update.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use serde_json::{json, Value};
use test_support::{Engine, Resp, TestCloud};

macro_rules! on_engines {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(TestCloud::start_on(Engine::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !Engine::available().contains(&Engine::Postgres) {
                    db::testing::missing("no PostgreSQL for the placement API tests");
                    return;
                }
                ($body)(TestCloud::start_on(Engine::Postgres).await).await;
            }
        }
    };
}

/// A client of the placement API at one microversion.
struct P<'a> {
    tc: &'a TestCloud,
    token: String,
}

impl P<'_> {
    async fn req(&self, v: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("x-auth-token", &self.token)
            .header("openstack-api-version", format!("placement {v}"));
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.tc.send("placement", b.body(body).unwrap()).await
    }

    /// A request that must answer `status`; its JSON body (or null).
    async fn ok(
        &self,
        v: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let r = self.req(v, method.clone(), path, body).await;
        assert_eq!(
            r.status.as_u16(),
            status,
            "{method} {path} at {v}: {}",
            r.text()
        );
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// A refused request: its status and placement error code.
    async fn refused(
        &self,
        v: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        let r = self.req(v, method.clone(), path, body.clone()).await;
        assert!(
            !r.status.is_success(),
            "{method} {path} at {v} {body:?}: {}",
            r.status
        );
        let doc = r.json();
        let e = &doc["errors"][0];
        assert_eq!(e["status"], r.status.as_u16(), "{doc}");
        assert!(
            e["request_id"].as_str().unwrap().starts_with("req-"),
            "{doc}"
        );
        assert!(!e["detail"].as_str().unwrap().is_empty(), "{doc}");
        (
            r.status.as_u16(),
            e["code"].as_str().unwrap_or("").to_owned(),
        )
    }

    async fn provider(&self, name: &str, parent: Option<&str>) -> String {
        let mut body = json!({"name": name});
        if let Some(p) = parent {
            body["parent_provider_uuid"] = json!(p);
        }
        let v = self
            .ok("1.20", Method::POST, "/resource_providers", Some(body), 200)
            .await;
        v["uuid"].as_str().unwrap().to_owned()
    }

    async fn generation(&self, rp: &str) -> i64 {
        self.ok(
            "1.14",
            Method::GET,
            &format!("/resource_providers/{rp}"),
            None,
            200,
        )
        .await["generation"]
            .as_i64()
            .unwrap()
    }

    async fn inventory(&self, rp: &str, inv: Value) {
        let g = self.generation(rp).await;
        self.ok(
            "1.26",
            Method::PUT,
            &format!("/resource_providers/{rp}/inventories"),
            Some(json!({"resource_provider_generation": g, "inventories": inv})),
            200,
        )
        .await;
    }
}

/// A user with the `service` role (what Nova calls Placement as).
async fn service(tc: &TestCloud) -> P<'_> {
    let m = tc.new_member().await;
    let admin = tc.admin_token().await;
    let role = tc.role_id("service").await;
    let path = format!(
        "/v3/projects/{}/users/{}/roles/{role}",
        m.project_id, m.user_id
    );
    let r = tc
        .call("identity", Method::PUT, &path, Some(&admin), None)
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    P {
        tc,
        token: tc.token(&m.name, &m.password, &m.project_id).await,
    }
}

async fn admin(tc: &TestCloud) -> P<'_> {
    P {
        tc,
        token: tc.admin_token().await,
    }
}

on_engines!(versions, |tc: TestCloud| async move {
    let r = tc.call("placement", Method::GET, "/", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0",
            "status": "CURRENT", "links": [{"rel": "self", "href": ""}]}]})
    );
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.0"));
    assert_eq!(r.header("vary"), Some("openstack-api-version"));
    let p = admin(&tc).await;
    let r = p.req("latest", Method::GET, "/", None).await;
    assert_eq!(r.header("openstack-api-version"), Some("placement 1.39"));
    let r = p
        .req("1.40", Method::GET, "/resource_providers", None)
        .await;
    assert_eq!(r.status.as_u16(), 406, "{}", r.text());
    let e = &r.json()["errors"][0];
    assert_eq!(e["title"], "Not Acceptable");
    assert_eq!(e["max_version"], "1.39");
    assert!(e["detail"]
        .as_str()
        .unwrap()
        .contains("Unacceptable version header: 1.40"));
    let r = p.req("pony.horse", Method::GET, "/", None).await;
    assert_eq!(r.status.as_u16(), 400);
    assert!(r.text().contains("invalid version string: pony.horse"));
    // a route that does not exist yet at this version
    let (s, _) = p.refused("1.5", Method::GET, "/traits", None).await;
    assert_eq!(s, 404);
    // no token: keystonemiddleware's 401
    let r = tc
        .call("placement", Method::GET, "/resource_providers", None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"]["code"], 401);
    // a project member is not the admin or a service
    let m = tc.new_member().await;
    let member = P {
        tc: &tc,
        token: m.token,
    };
    let (s, code) = member
        .refused("1.23", Method::GET, "/resource_providers", None)
        .await;
    assert_eq!((s, code.as_str()), (403, "placement.undefined_code"));
});

on_engines!(providers_and_inventories, |tc: TestCloud| async move {
    let p = admin(&tc).await;
    // before 1.20: 201 and a Location, no body
    let r = p
        .req(
            "1.19",
            Method::POST,
            "/resource_providers",
            Some(json!({"name": "cn1"})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let cn1 = location.rsplit('/').next().unwrap().to_owned();
    let shown = p.ok("1.14", Method::GET, &location, None, 200).await;
    assert_eq!(shown["name"], "cn1");
    assert_eq!(shown["generation"], 0);
    assert_eq!(shown["root_provider_uuid"], cn1.as_str());
    assert_eq!(shown["parent_provider_uuid"], Value::Null);
    let old = p.ok("1.0", Method::GET, &location, None, 200).await;
    assert!(old.get("root_provider_uuid").is_none(), "{old}");
    assert_eq!(old["links"].as_array().unwrap().len(), 3);
    let child = p.provider("cn1-numa0", Some(&cn1)).await;
    let c = p
        .ok(
            "1.14",
            Method::GET,
            &format!("/resource_providers/{child}"),
            None,
            200,
        )
        .await;
    assert_eq!(c["root_provider_uuid"], cn1.as_str());
    // duplicates, bad bodies
    let (s, code) = p
        .refused(
            "1.23",
            Method::POST,
            "/resource_providers",
            Some(json!({"name": "cn1"})),
        )
        .await;
    assert_eq!((s, code.as_str()), (409, "placement.duplicate_name"));
    let (s, _) = p
        .refused(
            "1.20",
            Method::POST,
            "/resource_providers",
            Some(json!({"name": "x", "bogus": 1})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = p
        .refused(
            "1.13",
            Method::POST,
            "/resource_providers",
            Some(json!({"name": "x", "parent_provider_uuid": cn1})),
        )
        .await;
    assert_eq!(s, 400, "parent_provider_uuid is 1.14's");
    // list and filters
    let all = p
        .ok("1.14", Method::GET, "/resource_providers", None, 200)
        .await;
    assert_eq!(all["resource_providers"].as_array().unwrap().len(), 2);
    let tree = p
        .ok(
            "1.14",
            Method::GET,
            &format!("/resource_providers?in_tree={child}"),
            None,
            200,
        )
        .await;
    assert_eq!(tree["resource_providers"].as_array().unwrap().len(), 2);
    let named = p
        .ok(
            "1.14",
            Method::GET,
            "/resource_providers?name=cn1",
            None,
            200,
        )
        .await;
    assert_eq!(named["resource_providers"][0]["uuid"], cn1.as_str());
    let (s, _) = p
        .refused("1.13", Method::GET, "/resource_providers?in_tree=x", None)
        .await;
    assert_eq!(s, 400);
    // rename; a parent that is not allowed to change before 1.37
    let renamed = p
        .ok(
            "1.14",
            Method::PUT,
            &format!("/resource_providers/{cn1}"),
            Some(json!({"name": "compute1"})),
            200,
        )
        .await;
    assert_eq!(renamed["name"], "compute1");
    let (s, _) = p
        .refused(
            "1.36",
            Method::PUT,
            &format!("/resource_providers/{child}"),
            Some(json!({"name": "n", "parent_provider_uuid": null})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = p
        .refused(
            "1.37",
            Method::PUT,
            &format!("/resource_providers/{cn1}"),
            Some(json!({"name": "compute1", "parent_provider_uuid": child})),
        )
        .await;
    assert_eq!(s, 400, "a loop");

    // inventories with generations
    let inv_url = format!("/resource_providers/{cn1}/inventories");
    let put = p
        .ok(
            "1.26",
            Method::PUT,
            &inv_url,
            Some(json!({"resource_provider_generation": 0, "inventories": {
            "VCPU": {"total": 8, "allocation_ratio": 16.0, "max_unit": 8},
            "MEMORY_MB": {"total": 4096, "reserved": 512}}})),
            200,
        )
        .await;
    assert_eq!(put["resource_provider_generation"], 1);
    assert_eq!(put["inventories"]["VCPU"]["allocation_ratio"], 16.0);
    assert_eq!(put["inventories"]["MEMORY_MB"]["max_unit"], 2147483647);
    let (s, code) = p
        .refused(
            "1.23",
            Method::PUT,
            &inv_url,
            Some(json!({"resource_provider_generation": 0, "inventories": {}})),
        )
        .await;
    assert_eq!((s, code.as_str()), (409, "placement.concurrent_update"));
    let (s, _) = p
        .refused("1.26", Method::PUT, &inv_url, Some(json!({"resource_provider_generation": 1, "inventories": {"VCPU": {"total": 4, "reserved": 5}}})))
        .await;
    assert_eq!(s, 400);
    let (s, _) = p
        .refused("1.26", Method::PUT, &inv_url, Some(json!({"resource_provider_generation": 1, "inventories": {"CUSTOM_NOPE": {"total": 4}}})))
        .await;
    assert_eq!(s, 400);
    // reserved == total: only from 1.26
    let (s, _) = p
        .refused(
            "1.25",
            Method::PUT,
            &format!("{inv_url}/VCPU"),
            Some(json!({"resource_provider_generation": 1, "total": 8, "reserved": 8})),
        )
        .await;
    assert_eq!(s, 400);
    let one = p
        .ok(
            "1.26",
            Method::PUT,
            &format!("{inv_url}/VCPU"),
            Some(json!({"resource_provider_generation": 1, "total": 16})),
            200,
        )
        .await;
    assert_eq!(one["resource_provider_generation"], 2);
    assert_eq!(one["total"], 16);
    let r = p
        .req(
            "1.26",
            Method::POST,
            &inv_url,
            Some(json!({"resource_class": "DISK_GB", "total": 100})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    assert!(r
        .header("location")
        .unwrap()
        .ends_with("/inventories/DISK_GB"));
    let (s, code) = p
        .refused(
            "1.23",
            Method::POST,
            &inv_url,
            Some(json!({"resource_class": "DISK_GB", "total": 100})),
        )
        .await;
    assert_eq!((s, code.as_str()), (409, "placement.concurrent_update"));
    let got = p
        .ok(
            "1.26",
            Method::GET,
            &format!("{inv_url}/DISK_GB"),
            None,
            200,
        )
        .await;
    assert_eq!(got["resource_provider_generation"], 3);
    p.ok(
        "1.26",
        Method::DELETE,
        &format!("{inv_url}/DISK_GB"),
        None,
        204,
    )
    .await;
    let (s, _) = p
        .refused("1.26", Method::GET, &format!("{inv_url}/DISK_GB"), None)
        .await;
    assert_eq!(s, 404);
    let r = p.req("1.4", Method::DELETE, &inv_url, None).await;
    assert_eq!(r.status.as_u16(), 405);
    // the resources filter
    let fit = p
        .ok(
            "1.4",
            Method::GET,
            "/resource_providers?resources=VCPU:10,MEMORY_MB:1024",
            None,
            200,
        )
        .await;
    assert_eq!(fit["resource_providers"].as_array().unwrap().len(), 1);
    let big = p
        .ok(
            "1.4",
            Method::GET,
            "/resource_providers?resources=MEMORY_MB:4000",
            None,
            200,
        )
        .await;
    assert_eq!(
        big["resource_providers"].as_array().unwrap().len(),
        0,
        "reserved counts"
    );
    // usages: zero for each class
    let u = p
        .ok(
            "1.0",
            Method::GET,
            &format!("/resource_providers/{cn1}/usages"),
            None,
            200,
        )
        .await;
    assert_eq!(u["usages"], json!({"VCPU": 0, "MEMORY_MB": 0}));
    // delete: the parent refuses while it has a child
    let (s, code) = p
        .refused(
            "1.23",
            Method::DELETE,
            &format!("/resource_providers/{cn1}"),
            None,
        )
        .await;
    assert_eq!(
        (s, code.as_str()),
        (409, "placement.resource_provider.cannot_delete_parent")
    );
    p.ok(
        "1.0",
        Method::DELETE,
        &format!("/resource_providers/{child}"),
        None,
        204,
    )
    .await;
    p.ok("1.5", Method::DELETE, &inv_url, None, 204).await;
    p.ok(
        "1.0",
        Method::DELETE,
        &format!("/resource_providers/{cn1}"),
        None,
        204,
    )
    .await;
    let (s, _) = p
        .refused(
            "1.0",
            Method::GET,
            &format!("/resource_providers/{cn1}"),
            None,
        )
        .await;
    assert_eq!(s, 404);
});

on_engines!(classes_traits_aggregates, |tc: TestCloud| async move {
    let p = admin(&tc).await;
    let classes = p
        .ok("1.2", Method::GET, "/resource_classes", None, 200)
        .await;
    let names: Vec<&str> = classes["resource_classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"VCPU") && names.contains(&"SRIOV_NET_VF") && names.contains(&"VGPU"));
    let r = p
        .req(
            "1.2",
            Method::POST,
            "/resource_classes",
            Some(json!({"name": "CUSTOM_FPGA_X"})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some("/resource_classes/CUSTOM_FPGA_X")
    );
    let (s, code) = p
        .refused(
            "1.23",
            Method::POST,
            "/resource_classes",
            Some(json!({"name": "CUSTOM_FPGA_X"})),
        )
        .await;
    assert_eq!((s, code.as_str()), (409, "placement.duplicate_name"));
    let (s, _) = p
        .refused(
            "1.2",
            Method::POST,
            "/resource_classes",
            Some(json!({"name": "FPGA_X"})),
        )
        .await;
    assert_eq!(s, 400);
    p.ok(
        "1.7",
        Method::PUT,
        "/resource_classes/CUSTOM_FPGA_X",
        None,
        204,
    )
    .await;
    p.ok(
        "1.7",
        Method::PUT,
        "/resource_classes/CUSTOM_NEW",
        None,
        201,
    )
    .await;
    let renamed = p
        .ok(
            "1.2",
            Method::PUT,
            "/resource_classes/CUSTOM_NEW",
            Some(json!({"name": "CUSTOM_NEWER"})),
            200,
        )
        .await;
    assert_eq!(renamed["name"], "CUSTOM_NEWER");
    let (s, _) = p
        .refused("1.2", Method::DELETE, "/resource_classes/VCPU", None)
        .await;
    assert_eq!(s, 400);
    p.ok(
        "1.2",
        Method::DELETE,
        "/resource_classes/CUSTOM_NEWER",
        None,
        204,
    )
    .await;

    // traits
    p.ok("1.6", Method::PUT, "/traits/CUSTOM_GOLD", None, 201)
        .await;
    p.ok("1.6", Method::PUT, "/traits/CUSTOM_GOLD", None, 204)
        .await;
    p.ok("1.6", Method::GET, "/traits/CUSTOM_GOLD", None, 204)
        .await;
    p.ok("1.6", Method::GET, "/traits/HW_CPU_X86_AVX2", None, 204)
        .await;
    let (s, _) = p.refused("1.6", Method::PUT, "/traits/GOLD", None).await;
    assert_eq!(s, 400);
    let custom = p
        .ok(
            "1.6",
            Method::GET,
            "/traits?name=startswith:CUSTOM",
            None,
            200,
        )
        .await;
    assert_eq!(custom["traits"], json!(["CUSTOM_GOLD"]));
    let some = p
        .ok(
            "1.6",
            Method::GET,
            "/traits?name=in:CUSTOM_GOLD,COMPUTE_VOLUME_MULTI_ATTACH,NOPE",
            None,
            200,
        )
        .await;
    assert_eq!(
        some["traits"],
        json!(["COMPUTE_VOLUME_MULTI_ATTACH", "CUSTOM_GOLD"])
    );

    // a provider's traits and aggregates, with generations
    let rp = p.provider("cn-traits", None).await;
    let url = format!("/resource_providers/{rp}/traits");
    let set = p
        .ok("1.6", Method::PUT, &url, Some(json!({"traits": ["CUSTOM_GOLD", "HW_CPU_X86_AVX2"], "resource_provider_generation": 0})), 200)
        .await;
    assert_eq!(set["resource_provider_generation"], 1);
    let (s, code) = p
        .refused(
            "1.23",
            Method::PUT,
            &url,
            Some(json!({"traits": [], "resource_provider_generation": 0})),
        )
        .await;
    assert_eq!((s, code.as_str()), (409, "placement.concurrent_update"));
    let (s, _) = p
        .refused(
            "1.6",
            Method::PUT,
            &url,
            Some(json!({"traits": ["CUSTOM_UNKNOWN"], "resource_provider_generation": 1})),
        )
        .await;
    assert_eq!(s, 400);
    let assoc = p
        .ok(
            "1.6",
            Method::GET,
            "/traits?associated=true&name=startswith:CUSTOM",
            None,
            200,
        )
        .await;
    assert_eq!(assoc["traits"], json!(["CUSTOM_GOLD"]));
    let (s, _) = p
        .refused("1.6", Method::DELETE, "/traits/CUSTOM_GOLD", None)
        .await;
    assert_eq!(s, 409, "in use");
    let with = p
        .ok(
            "1.18",
            Method::GET,
            "/resource_providers?required=CUSTOM_GOLD",
            None,
            200,
        )
        .await;
    assert_eq!(with["resource_providers"].as_array().unwrap().len(), 1);
    let without = p
        .ok(
            "1.22",
            Method::GET,
            "/resource_providers?required=!CUSTOM_GOLD",
            None,
            200,
        )
        .await;
    assert_eq!(without["resource_providers"].as_array().unwrap().len(), 0);
    let any = p
        .ok(
            "1.39",
            Method::GET,
            "/resource_providers?required=in:CUSTOM_GOLD,HW_CPU_X86_SSE",
            None,
            200,
        )
        .await;
    assert_eq!(any["resource_providers"].as_array().unwrap().len(), 1);
    let (s, _) = p
        .refused(
            "1.21",
            Method::GET,
            "/resource_providers?required=!CUSTOM_GOLD",
            None,
        )
        .await;
    assert_eq!(s, 400);

    let agg = "0fe3f07a-2ac9-4bd8-b5b4-6f0fa7e1b6c0";
    let aurl = format!("/resource_providers/{rp}/aggregates");
    let old = p
        .ok("1.1", Method::PUT, &aurl, Some(json!([agg])), 200)
        .await;
    assert_eq!(old, json!({"aggregates": [agg]}));
    let got = p.ok("1.19", Method::GET, &aurl, None, 200).await;
    assert_eq!(got["resource_provider_generation"], 2);
    let (s, code) = p
        .refused(
            "1.23",
            Method::PUT,
            &aurl,
            Some(json!({"aggregates": [], "resource_provider_generation": 1})),
        )
        .await;
    assert_eq!((s, code.as_str()), (409, "placement.concurrent_update"));
    let (s, _) = p
        .refused("1.19", Method::PUT, &aurl, Some(json!([agg])))
        .await;
    assert_eq!(s, 400, "1.19's body is an object");
    let members = p
        .ok(
            "1.3",
            Method::GET,
            &format!("/resource_providers?member_of=in:{agg}"),
            None,
            200,
        )
        .await;
    assert_eq!(members["resource_providers"].as_array().unwrap().len(), 1);
    let not = p
        .ok(
            "1.32",
            Method::GET,
            &format!("/resource_providers?member_of=!{agg}"),
            None,
            200,
        )
        .await;
    assert_eq!(not["resource_providers"].as_array().unwrap().len(), 0);
    p.ok("1.6", Method::DELETE, &url, None, 204).await;
    p.ok("1.6", Method::DELETE, "/traits/CUSTOM_GOLD", None, 204)
        .await;
});

on_engines!(allocations_and_usages, |tc: TestCloud| async move {
    let p = admin(&tc).await;
    let rp = p.provider("cn-alloc", None).await;
    p.inventory(
        &rp,
        json!({"VCPU": {"total": 4, "allocation_ratio": 2.0, "max_unit": 4},
        "MEMORY_MB": {"total": 2048, "step_size": 256}}),
    )
    .await;
    let c1 = "7a3b5e0e-6a51-4f0e-9b5e-3c1c1e0c0a01";
    let c2 = "7a3b5e0e-6a51-4f0e-9b5e-3c1c1e0c0a02";
    let (project, user) = (
        "6b9c9e7e4d6a4f0e8c0e1e2e3e4e5e6e",
        "0c0e1e2e3e4e5e6e6b9c9e7e4d6a4f0e",
    );
    let put = |c: &str, vcpu: i64, mem: i64, gen: Value| {
        (
            format!("/allocations/{c}"),
            json!({"allocations": {rp.clone(): {"resources": {"VCPU": vcpu, "MEMORY_MB": mem}}},
                "project_id": project, "user_id": user, "consumer_generation": gen}),
        )
    };
    let (url, body) = put(c1, 4, 512, Value::Null);
    p.ok("1.28", Method::PUT, &url, Some(body), 204).await;
    let got = p.ok("1.28", Method::GET, &url, None, 200).await;
    assert_eq!(got["consumer_generation"], 1);
    assert_eq!(got["project_id"], project);
    assert_eq!(
        got["allocations"][&rp]["resources"],
        json!({"VCPU": 4, "MEMORY_MB": 512})
    );
    assert_eq!(got["allocations"][&rp]["generation"], 2);
    // stale consumer generation; a new consumer that already exists
    let (url, body) = put(c1, 1, 256, json!(0));
    let (s, code) = p.refused("1.28", Method::PUT, &url, Some(body)).await;
    assert_eq!((s, code.as_str()), (409, "placement.concurrent_update"));
    let (url, body) = put(c1, 1, 256, Value::Null);
    let (s, _) = p.refused("1.28", Method::PUT, &url, Some(body)).await;
    assert_eq!(s, 409);
    // capacity: 8 VCPU with the ratio, 4 used
    let (url, body) = put(c2, 5, 256, Value::Null);
    let (s, _) = p.refused("1.28", Method::PUT, &url, Some(body)).await;
    assert_eq!(s, 409, "max_unit");
    let (url, body) = put(c2, 4, 100, Value::Null);
    let (s, _) = p.refused("1.28", Method::PUT, &url, Some(body)).await;
    assert_eq!(s, 409, "step_size");
    let (url, body) = put(c2, 4, 256, Value::Null);
    p.ok("1.28", Method::PUT, &url, Some(body), 204).await;
    let (url, _) = put(c1, 1, 256, json!(1));
    // missing fields of the version
    let (s, _) = p
        .refused(
            "1.28",
            Method::PUT,
            &url,
            Some(json!({"allocations": {}, "project_id": project, "user_id": user})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = p
        .refused("1.38", Method::PUT, &url, Some(json!({"allocations": {}, "project_id": project, "user_id": user, "consumer_generation": 1})))
        .await;
    assert_eq!(s, 400, "consumer_type is required at 1.38");
    // the old list format
    let c3 = "7a3b5e0e-6a51-4f0e-9b5e-3c1c1e0c0a03";
    let (s, _) = p
        .refused("1.0", Method::PUT, &format!("/allocations/{c3}"),
            Some(json!({"allocations": [{"resource_provider": {"uuid": rp}, "resources": {"VCPU": 1}}]})))
        .await;
    assert_eq!(s, 409, "the VCPUs are used up");
    // usages
    let u = p
        .ok(
            "1.9",
            Method::GET,
            &format!("/resource_providers/{rp}/usages"),
            None,
            200,
        )
        .await;
    assert_eq!(u["usages"], json!({"VCPU": 8, "MEMORY_MB": 768}));
    let tu = p
        .ok(
            "1.9",
            Method::GET,
            &format!("/usages?project_id={project}"),
            None,
            200,
        )
        .await;
    assert_eq!(tu["usages"], json!({"VCPU": 8, "MEMORY_MB": 768}));
    let typed = p
        .ok(
            "1.38",
            Method::GET,
            &format!("/usages?project_id={project}&user_id={user}"),
            None,
            200,
        )
        .await;
    assert_eq!(typed["usages"]["unknown"]["consumer_count"], 2, "{typed}");
    let (s, _) = p.refused("1.9", Method::GET, "/usages", None).await;
    assert_eq!(s, 400);
    let ra = p
        .ok(
            "1.0",
            Method::GET,
            &format!("/resource_providers/{rp}/allocations"),
            None,
            200,
        )
        .await;
    assert_eq!(ra["allocations"].as_object().unwrap().len(), 2);
    // the inventory in use cannot go, nor the provider
    let g = p.generation(&rp).await;
    let (s, code) = p
        .refused("1.23", Method::PUT, &format!("/resource_providers/{rp}/inventories"),
            Some(json!({"resource_provider_generation": g, "inventories": {"MEMORY_MB": {"total": 2048}}})))
        .await;
    assert_eq!((s, code.as_str()), (409, "placement.inventory.inuse"));
    let (s, code) = p
        .refused(
            "1.23",
            Method::DELETE,
            &format!("/resource_providers/{rp}"),
            None,
        )
        .await;
    assert_eq!(
        (s, code.as_str()),
        (409, "placement.resource_provider.inuse")
    );
    // POST /allocations: move c2 to c3 atomically (c2 emptied), with a consumer type
    let body = json!({
        c2: {"allocations": {}, "project_id": project, "user_id": user, "consumer_generation": 1, "consumer_type": "INSTANCE"},
        c3: {"allocations": {rp.clone(): {"resources": {"VCPU": 4, "MEMORY_MB": 256}}},
             "project_id": project, "user_id": user, "consumer_generation": null, "consumer_type": "MIGRATION"},
    });
    p.ok("1.38", Method::POST, "/allocations", Some(body), 204)
        .await;
    let gone = p
        .ok(
            "1.38",
            Method::GET,
            &format!("/allocations/{c2}"),
            None,
            200,
        )
        .await;
    assert_eq!(gone, json!({"allocations": {}}));
    let c3v = p
        .ok(
            "1.38",
            Method::GET,
            &format!("/allocations/{c3}"),
            None,
            200,
        )
        .await;
    assert_eq!(c3v["consumer_type"], "MIGRATION");
    let typed = p
        .ok(
            "1.38",
            Method::GET,
            &format!("/usages?project_id={project}&consumer_type=MIGRATION"),
            None,
            200,
        )
        .await;
    assert_eq!(
        typed["usages"],
        json!({"MIGRATION": {"consumer_count": 1, "VCPU": 4, "MEMORY_MB": 256}})
    );
    // a failed POST changes nothing
    let body = json!({
        c1: {"allocations": {}, "project_id": project, "user_id": user, "consumer_generation": 1, "consumer_type": "INSTANCE"},
        c2: {"allocations": {rp.clone(): {"resources": {"VCPU": 100}}},
             "project_id": project, "user_id": user, "consumer_generation": null, "consumer_type": "INSTANCE"},
    });
    let (s, _) = p
        .refused("1.38", Method::POST, "/allocations", Some(body))
        .await;
    assert_eq!(s, 409);
    let still = p
        .ok(
            "1.28",
            Method::GET,
            &format!("/allocations/{c1}"),
            None,
            200,
        )
        .await;
    assert_eq!(still["consumer_generation"], 1);
    p.ok(
        "1.0",
        Method::DELETE,
        &format!("/allocations/{c1}"),
        None,
        204,
    )
    .await;
    let (s, _) = p
        .refused("1.0", Method::DELETE, &format!("/allocations/{c1}"), None)
        .await;
    assert_eq!(s, 404);
    p.ok(
        "1.0",
        Method::DELETE,
        &format!("/allocations/{c3}"),
        None,
        204,
    )
    .await;
    p.ok(
        "1.0",
        Method::DELETE,
        &format!("/resource_providers/{rp}"),
        None,
        204,
    )
    .await;
});

on_engines!(allocation_candidates, |tc: TestCloud| async move {
    let p = admin(&tc).await;
    p.ok("1.6", Method::PUT, "/traits/CUSTOM_FAST", None, 201)
        .await;
    let agg = "5a8f7a2c-3b7e-4f4e-9f1e-2d3c4b5a6978";
    let mut cns = Vec::new();
    for i in 0..3 {
        let rp = p.provider(&format!("cand{i}"), None).await;
        p.inventory(
            &rp,
            json!({"VCPU": {"total": 4 * (i + 1)}, "MEMORY_MB": {"total": 4096},
            "DISK_GB": {"total": 100}}),
        )
        .await;
        cns.push(rp);
    }
    let g = p.generation(&cns[1]).await;
    p.ok(
        "1.6",
        Method::PUT,
        &format!("/resource_providers/{}/traits", cns[1]),
        Some(json!({"traits": ["CUSTOM_FAST"], "resource_provider_generation": g})),
        200,
    )
    .await;
    let g = p.generation(&cns[2]).await;
    p.ok(
        "1.19",
        Method::PUT,
        &format!("/resource_providers/{}/aggregates", cns[2]),
        Some(json!({"aggregates": [agg], "resource_provider_generation": g})),
        200,
    )
    .await;
    // a nested provider: an SR-IOV child of cand0
    let pf = p.provider("cand0-pf", Some(&cns[0])).await;
    p.inventory(&pf, json!({"SRIOV_NET_VF": {"total": 8}}))
        .await;

    let list = |v: &'static str, q: &'static str| {
        let p = &p;
        async move {
            p.ok(
                v,
                Method::GET,
                &format!("/allocation_candidates?{q}"),
                None,
                200,
            )
            .await
        }
    };
    let all = list("1.12", "resources=VCPU:2,MEMORY_MB:1024").await;
    assert_eq!(
        all["allocation_requests"].as_array().unwrap().len(),
        3,
        "{all}"
    );
    assert_eq!(
        all["provider_summaries"][&cns[0]]["resources"]["VCPU"],
        json!({"capacity": 4, "used": 0})
    );
    assert!(
        all["provider_summaries"][&cns[0]]["resources"]
            .get("DISK_GB")
            .is_none(),
        "before 1.27"
    );
    let big = list("1.12", "resources=VCPU:6").await;
    assert_eq!(big["allocation_requests"].as_array().unwrap().len(), 2);
    let fast = list("1.17", "resources=VCPU:1&required=CUSTOM_FAST").await;
    let reqs = fast["allocation_requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0]["allocations"].get(&cns[1]).is_some());
    assert_eq!(
        fast["provider_summaries"][&cns[1]]["traits"],
        json!(["CUSTOM_FAST"])
    );
    let slow = list("1.22", "resources=VCPU:1&required=!CUSTOM_FAST").await;
    assert_eq!(slow["allocation_requests"].as_array().unwrap().len(), 2);
    let anyof = list(
        "1.39",
        "resources=VCPU:1&required=in:CUSTOM_FAST,HW_CPU_X86_AVX2",
    )
    .await;
    assert_eq!(anyof["allocation_requests"].as_array().unwrap().len(), 1);
    let member = list(
        "1.21",
        "resources=VCPU:1&member_of=5a8f7a2c-3b7e-4f4e-9f1e-2d3c4b5a6978",
    )
    .await;
    assert_eq!(member["allocation_requests"].as_array().unwrap().len(), 1);
    let limited = list("1.16", "resources=VCPU:1&limit=2").await;
    assert_eq!(limited["allocation_requests"].as_array().unwrap().len(), 2);
    assert_eq!(limited["provider_summaries"].as_object().unwrap().len(), 2);
    let old = list("1.10", "resources=VCPU:1").await;
    assert!(
        old["allocation_requests"][0]["allocations"].is_array(),
        "{old}"
    );
    // nested: VCPU from cand0 and a VF from its child, in one candidate
    let nested = list("1.29", "resources=VCPU:1,SRIOV_NET_VF:2").await;
    let reqs = nested["allocation_requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1, "{nested}");
    assert_eq!(
        reqs[0]["allocations"][&pf]["resources"],
        json!({"SRIOV_NET_VF": 2})
    );
    assert_eq!(
        nested["provider_summaries"][&pf]["parent_provider_uuid"],
        cns[0].as_str()
    );
    // granular groups, with mappings
    let gran = list(
        "1.34",
        "resources1=VCPU:1&resources2=SRIOV_NET_VF:1&group_policy=isolate",
    )
    .await;
    let reqs = gran["allocation_requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1, "{gran}");
    assert_eq!(reqs[0]["mappings"]["2"], json!([pf]));
    let in_tree = p
        .ok(
            "1.31",
            Method::GET,
            &format!("/allocation_candidates?resources=VCPU:1&in_tree={}", cns[2]),
            None,
            200,
        )
        .await;
    assert_eq!(in_tree["allocation_requests"].as_array().unwrap().len(), 1);
    // bad queries
    for (v, q) in [
        ("1.10", "resources=VCPU"),
        ("1.10", "resources=CUSTOM_NOPE:1"),
        ("1.25", "resources1=VCPU:1&resources2=VCPU:1"),
        ("1.16", "resources=VCPU:1&limit=0"),
        ("1.17", "resources=VCPU:1&required=CUSTOM_NOPE"),
        ("1.10", "required=CUSTOM_FAST"),
    ] {
        let (s, _) = p
            .refused(v, Method::GET, &format!("/allocation_candidates?{q}"), None)
            .await;
        assert_eq!(s, 400, "{q}");
    }
});

on_engines!(reshaper, |tc: TestCloud| async move {
    let p = admin(&tc).await;
    let root = p.provider("reshape-root", None).await;
    p.inventory(&root, json!({"VGPU": {"total": 4}})).await;
    let child = p.provider("reshape-gpu", Some(&root)).await;
    let c = "3d0f7e3e-1c2b-4a5d-8e9f-0a1b2c3d4e5f";
    let (project, user) = ("proj", "user");
    p.ok(
        "1.28",
        Method::PUT,
        &format!("/allocations/{c}"),
        Some(json!({
        "allocations": {root.clone(): {"resources": {"VGPU": 2}}},
        "project_id": project, "user_id": user, "consumer_generation": null})),
        204,
    )
    .await;
    let rg = p.generation(&root).await;
    let cg = p.generation(&child).await;
    // move the VGPUs from the root to the child, and the allocation with them
    let body = json!({
        "inventories": {
            root.clone(): {"resource_provider_generation": rg, "inventories": {}},
            child.clone(): {"resource_provider_generation": cg, "inventories": {"VGPU": {"total": 4}}},
        },
        "allocations": {c: {"allocations": {child.clone(): {"resources": {"VGPU": 2}}},
            "project_id": project, "user_id": user, "consumer_generation": 1}},
    });
    let svc = service(&tc).await;
    let (s, _) = svc
        .refused("1.29", Method::POST, "/reshaper", Some(body.clone()))
        .await;
    assert_eq!(s, 404);
    let (s, _) = p
        .refused("1.30", Method::POST, "/reshaper", Some(body.clone()))
        .await;
    assert_eq!(s, 403, "the service's, not the admin's");
    // the service user may do what Nova does
    svc.ok(
        "1.14",
        Method::GET,
        &format!("/resource_providers/{root}"),
        None,
        200,
    )
    .await;
    svc.ok("1.30", Method::POST, "/reshaper", Some(body.clone()), 204)
        .await;
    let a = p
        .ok("1.28", Method::GET, &format!("/allocations/{c}"), None, 200)
        .await;
    assert_eq!(a["allocations"][&child]["resources"], json!({"VGPU": 2}));
    assert_eq!(a["consumer_generation"], 2);
    let inv = p
        .ok(
            "1.0",
            Method::GET,
            &format!("/resource_providers/{root}/inventories"),
            None,
            200,
        )
        .await;
    assert_eq!(inv["inventories"], json!({}));
    // the same body again is stale
    let (s, code) = svc
        .refused("1.30", Method::POST, "/reshaper", Some(body))
        .await;
    assert_eq!((s, code.as_str()), (409, "placement.concurrent_update"));
});

/// A second placement "process" over the cloud's database: its own pool, its own
/// router (and so its own kept snapshot), answering the token `svc` as a service user.
async fn second_process(tc: &TestCloud) -> axum::Router {
    use std::sync::Arc;
    let url = tc.db.pool.connect_options().database_url.to_string();
    let db2 = db::Db::connect(&url, 4).await.unwrap();
    let policy = policy::Policy::load_if_exists(placement::policies::DEFAULTS, None).unwrap();
    let svc = Arc::new(placement::Placement::new(
        db2,
        placement::Config::default(),
        policy,
    ));
    let tokens =
        test_support::FixedTokens::default().with("svc", "svc-user", "service", &["service"]);
    let auth = api_common::auth::AuthLayerState {
        validator: Arc::new(tokens),
        identity_uri: "http://127.0.0.1:1".into(),
    };
    placement::api::api(svc, auth).router
}

/// Many writers at once on one provider, through two API "processes" (two pools and two
/// routers over one database): its capacity is never exceeded, each loser gets a 409,
/// and of writers sharing one generation exactly one wins.
async fn concurrent_writers(tc: TestCloud) {
    let p = admin(&tc).await;
    let rp = p.provider("contended", None).await;
    p.inventory(&rp, json!({"VCPU": {"total": 10}})).await;
    let second = second_process(&tc).await;
    let routers = [tc.router("placement"), second];
    let tokens = [p.token.clone(), "svc".to_owned()];
    let send = |i: usize, method: Method, path: String, body: Value| {
        use tower::ServiceExt;
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("x-auth-token", &tokens[i % 2])
            .header("openstack-api-version", "placement 1.28")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        routers[i % 2].clone().oneshot(req)
    };
    // 30 consumers of 1 VCPU each, all at once
    let calls: Vec<_> = (0..30)
        .map(|i| {
            send(
                i,
                Method::PUT,
                format!("/allocations/{}", uuid::Uuid::new_v4()),
                json!({"allocations": {rp.clone(): {"resources": {"VCPU": 1}}},
                    "project_id": "p", "user_id": "u", "consumer_generation": null}),
            )
        })
        .collect();
    let results = futures::future::join_all(calls).await;
    let mut won = 0;
    for r in results {
        match r.unwrap().status().as_u16() {
            204 => won += 1,
            409 => {}
            other => panic!("a writer got {other}"),
        }
    }
    let used = p
        .ok(
            "1.0",
            Method::GET,
            &format!("/resource_providers/{rp}/usages"),
            None,
            200,
        )
        .await["usages"]["VCPU"]
        .as_i64()
        .unwrap();
    assert_eq!(used, won, "every success is recorded, nothing more");
    assert!(used <= 10, "capacity exceeded: {used}");
    assert!(won >= 1);
    // ten inventory writers with the same generation: one wins
    let g = p.generation(&rp).await;
    let calls: Vec<_> = (0..10)
        .map(|i| {
            send(
                i,
                Method::PUT,
                format!("/resource_providers/{rp}/inventories/VCPU"),
                json!({"resource_provider_generation": g, "total": 20 + i}),
            )
        })
        .collect();
    let ok = futures::future::join_all(calls)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().status() == StatusCode::OK)
        .count();
    assert_eq!(ok, 1);
    assert_eq!(p.generation(&rp).await, g + 1);
}

on_engines!(concurrency, concurrent_writers);

/// Each process keeps the providers it searched for candidates between requests; what
/// another process (or this one) writes in between shows at once: allocations, inventory,
/// traits, aggregates, custom traits and classes, new and deleted providers.
async fn candidates_follow_every_writer(tc: TestCloud) {
    use tower::ServiceExt;
    let p = admin(&tc).await;
    let second = second_process(&tc).await;
    // `first` is the cloud's own placement (`p`), `second` the other process
    let on_second = |method: Method, path: String, body: Option<Value>| {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("x-auth-token", "svc")
            .header("openstack-api-version", "placement 1.39")
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let router = second.clone();
        async move {
            let r = router.oneshot(req).await.unwrap();
            let status = r.status().as_u16();
            let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            let v: Value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).unwrap()
            };
            (status, v)
        }
    };
    // how many candidates each process finds
    let found = |q: &str| {
        let path = format!("/allocation_candidates?{q}");
        let (p, on_second) = (&p, &on_second);
        async move {
            let a = p.req("1.39", Method::GET, &path, None).await;
            assert_eq!(a.status, 200, "{path}: {}", a.text());
            let (s, b) = on_second(Method::GET, path.clone(), None).await;
            assert_eq!(s, 200, "{path}: {b}");
            let n = |v: &Value| v["allocation_requests"].as_array().unwrap().len();
            (n(&a.json()), n(&b))
        }
    };
    let rp = p.provider("kept", None).await;
    let vcpu3 = "resources=VCPU:3";
    assert_eq!(found(vcpu3).await, (0, 0));
    p.inventory(&rp, json!({"VCPU": {"total": 4}})).await;
    assert_eq!(found(vcpu3).await, (1, 1));
    // an allocation by the second process
    let consumer = uuid::Uuid::new_v4().to_string();
    let (s, b) = on_second(
        Method::PUT,
        format!("/allocations/{consumer}"),
        Some(
            json!({"allocations": {rp.clone(): {"resources": {"VCPU": 2}}},
            "project_id": "p", "user_id": "u", "consumer_generation": null,
            "consumer_type": "INSTANCE"}),
        ),
    )
    .await;
    assert_eq!(s, 204, "{b}");
    assert_eq!(found(vcpu3).await, (0, 0));
    assert_eq!(found("resources=VCPU:2").await, (1, 1));
    // its deletion by the first
    p.ok(
        "1.39",
        Method::DELETE,
        &format!("/allocations/{consumer}"),
        None,
        204,
    )
    .await;
    assert_eq!(found(vcpu3).await, (1, 1));
    // a custom trait, created by the second and set by the first
    let with_trait = "resources=VCPU:1&required=CUSTOM_KEPT";
    let (s, _) = on_second(
        Method::GET,
        format!("/allocation_candidates?{with_trait}"),
        None,
    )
    .await;
    assert_eq!(s, 400, "the trait does not exist yet");
    let (s, _) = on_second(Method::PUT, "/traits/CUSTOM_KEPT".into(), None).await;
    assert_eq!(s, 201);
    assert_eq!(found(with_trait).await, (0, 0));
    let g = p.generation(&rp).await;
    p.ok(
        "1.39",
        Method::PUT,
        &format!("/resource_providers/{rp}/traits"),
        Some(json!({"traits": ["CUSTOM_KEPT"], "resource_provider_generation": g})),
        200,
    )
    .await;
    assert_eq!(found(with_trait).await, (1, 1));
    // an aggregate, set by the second
    let agg = uuid::Uuid::new_v4().to_string();
    let in_agg = format!("resources=VCPU:1&member_of={agg}");
    assert_eq!(found(&in_agg).await, (0, 0));
    let (s, b) = on_second(
        Method::PUT,
        format!("/resource_providers/{rp}/aggregates"),
        Some(json!({"aggregates": [agg], "resource_provider_generation": g + 1})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(found(&in_agg).await, (1, 1));
    // a custom class, created by the first, in an inventory set by the second
    let custom = "resources=CUSTOM_KEPT_RC:1";
    let (s, _) = on_second(
        Method::GET,
        format!("/allocation_candidates?{custom}"),
        None,
    )
    .await;
    assert_eq!(s, 400, "the class does not exist yet");
    p.ok(
        "1.39",
        Method::PUT,
        "/resource_classes/CUSTOM_KEPT_RC",
        None,
        201,
    )
    .await;
    assert_eq!(found(custom).await, (0, 0));
    let (s, b) = on_second(
        Method::PUT,
        format!("/resource_providers/{rp}/inventories"),
        Some(
            json!({"resource_provider_generation": g + 2, "inventories": {
            "VCPU": {"total": 4}, "CUSTOM_KEPT_RC": {"total": 1}}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(found(custom).await, (1, 1));
    // a second provider, then both deleted, each by another process
    let other = p.provider("kept-2", None).await;
    p.inventory(&other, json!({"VCPU": {"total": 8}})).await;
    assert_eq!(found(vcpu3).await, (2, 2));
    let (s, _) = on_second(Method::DELETE, format!("/resource_providers/{other}"), None).await;
    assert_eq!(s, 204);
    assert_eq!(found(vcpu3).await, (1, 1));
    p.ok(
        "1.39",
        Method::DELETE,
        &format!("/resource_providers/{rp}"),
        None,
        204,
    )
    .await;
    assert_eq!(found(vcpu3).await, (0, 0));
}

on_engines!(kept_snapshot, candidates_follow_every_writer);

//! In-process API tests of the identity service: the real router, a real database per
//! test (SQLite, and PostgreSQL when `OXISTACK_TEST_PG_URL` is set), no network.

use std::sync::Arc;

use axum::{body::Body, Router};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use identity::{
    bootstrap::{CatalogEntry, Spec},
    model::User,
    Identity,
};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Cloud {
    router: Router,
    id: Arc<Identity>,
}

struct Resp {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

/// What the tests bootstrap: admin and demo with these passwords, identity in the catalog.
fn spec(admin: &str, demo: &str) -> Spec {
    Spec {
        region: "RegionOne".into(),
        admin_password: admin.into(),
        demo_password: Some(demo.into()),
        catalog: vec![CatalogEntry {
            kind: "identity".into(),
            name: "keystone".into(),
            url: "http://localhost:5000/v3".into(),
        }],
    }
}

async fn cloud(db: db::Db) -> Cloud {
    cloud_with(db, identity::Config::default()).await
}

async fn cloud_with(db: db::Db, cfg: identity::Config) -> Cloud {
    db.migrate("identity", identity::MIGRATIONS).await.unwrap();
    let dir = std::env::temp_dir().join(format!("oxi-id-test-{}", uuid::Uuid::new_v4().simple()));
    let id = identity::start(db, cfg, &dir, None).await.unwrap();
    id.bootstrap(&spec("adminpw", "demopw")).await.unwrap();
    Cloud {
        router: identity::api::router(id.clone(), "http://localhost:5000".into()),
        id,
    }
}

impl Cloud {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.raw(method, path, token, body.map(|b| b.to_string()), &[])
            .await
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body.unwrap_or_default())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Issue a token; `scope` is the `scope` object or `None` for the default.
    async fn issue(&self, user: &str, password: &str, scope: Option<Value>) -> Resp {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}}});
        if let Some(s) = scope {
            auth["scope"] = s;
        }
        self.call(
            Method::POST,
            "/v3/auth/tokens",
            None,
            Some(json!({ "auth": auth })),
        )
        .await
    }

    async fn token(&self, user: &str, password: &str, project: &str) -> String {
        let r = self
            .issue(
                user,
                password,
                Some(json!({"project": {"name": project, "domain": {"id": "default"}}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.headers["x-subject-token"].to_str().unwrap().to_owned()
    }

    async fn admin(&self) -> String {
        self.token("admin", "adminpw", "admin").await
    }

    async fn demo(&self) -> String {
        self.token("demo", "demopw", "demo").await
    }

    async fn role_id(&self, name: &str) -> String {
        self.id
            .store
            .roles()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap()
            .id
    }
}

async fn each_engine<F, Fut>(f: F)
where
    F: Fn(Cloud) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    each_engine_with(identity::Config::default, f).await
}

async fn each_engine_with<F, Fut>(cfg: fn() -> identity::Config, f: F)
where
    F: Fn(Cloud) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in db::testing::engines().await {
        let engine = db.engine;
        eprintln!("engine: {engine:?}");
        f(cloud_with(db, cfg()).await).await;
    }
}

#[tokio::test]
async fn version_documents_and_faults() {
    each_engine(|c| async move {
        let r = c.call(Method::GET, "/", None, None).await;
        assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
        assert_eq!(r.body["versions"]["values"][0]["id"], "v3.14");
        assert!(r.headers["x-openstack-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req-"));
        let r = c.call(Method::GET, "/v3", None, None).await;
        assert_eq!(
            r.body["version"]["links"][0]["href"],
            "http://localhost:5000/v3/"
        );
        // No token: Keystone's fault body.
        let r = c.call(Method::GET, "/v3/projects", None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.body["error"]["code"], 401);
        assert_eq!(r.body["error"]["title"], "Unauthorized");
        // Malformed JSON and wrong types are 400 with the field named.
        let t = c.admin().await;
        let r = c
            .raw(
                Method::POST,
                "/v3/projects",
                Some(&t),
                Some("{\"project\": ".into()),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Malformed"));
        let r = c
            .post(
                "/v3/projects",
                &t,
                json!({"project": {"name": "x", "enabled": "yes"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("project.enabled"),
            "{}",
            r.body
        );
        // Nothing was created by the bad requests.
        let r = c.get("/v3/projects?name=x", &t).await;
        assert_eq!(r.body["projects"].as_array().unwrap().len(), 0);
        // Unknown path, wrong method.
        assert_eq!(c.get("/v3/nothing", &t).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            c.call(Method::PUT, "/v3/projects", Some(&t), None)
                .await
                .status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        // Oversized body.
        let big = "x".repeat(200_000);
        let r = c
            .post("/v3/projects", &t, json!({"project": {"name": big}}))
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    })
    .await;
}

#[tokio::test]
async fn tokens_scopes_and_documents() {
    each_engine(|c| async move {
        // Project scope with catalog and roles (implied roles included).
        let r = c.issue("admin", "adminpw", Some(json!({"project": {"name": "admin", "domain": {"name": "Default"}}}))).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let t = &r.body["token"];
        assert_eq!(t["project"]["name"], "admin");
        assert_eq!(t["user"]["domain"]["id"], "default");
        let roles: Vec<&str> = t["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        for want in ["admin", "manager", "member", "reader"] {
            assert!(roles.contains(&want), "{roles:?}");
        }
        assert_eq!(t["catalog"][0]["type"], "identity");
        assert_eq!(t["catalog"][0]["endpoints"].as_array().unwrap().len(), 3);
        assert_eq!(t["methods"], json!(["password"]));
        assert_eq!(t["audit_ids"].as_array().unwrap().len(), 1);
        assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
        // Default scope: the user's default project.
        let r = c.issue("demo", "demopw", None).await;
        assert_eq!(r.body["token"]["project"]["name"], "demo");
        // Explicitly unscoped.
        let r = c.issue("demo", "demopw", Some(json!("unscoped"))).await;
        assert!(r.body["token"].get("project").is_none());
        assert!(r.body["token"].get("roles").is_none());
        // Domain and system scope for admin; not for demo.
        let r = c.issue("admin", "adminpw", Some(json!({"domain": {"id": "default"}}))).await;
        assert_eq!(r.body["token"]["domain"]["id"], "default");
        let r = c.issue("admin", "adminpw", Some(json!({"system": {"all": true}}))).await;
        assert_eq!(r.body["token"]["system"], json!({"all": true}));
        let r = c.issue("demo", "demopw", Some(json!({"system": {"all": true}}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = c.issue("demo", "demopw", Some(json!({"project": {"name": "admin", "domain": {"id": "default"}}}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // Wrong password, unknown user: the same 401.
        assert_eq!(c.issue("demo", "nope", None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(c.issue("ghost", "nope", None).await.status, StatusCode::UNAUTHORIZED);
        // Rescope with the token method keeps the expiry and chains the audit ids.
        let demo = c.demo().await;
        let unscoped = c.issue("demo", "demopw", Some(json!("unscoped"))).await;
        let ut = unscoped.headers["x-subject-token"].to_str().unwrap().to_owned();
        let r = c
            .call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["token"], "token": {"id": ut}}, "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["token"]["expires_at"], unscoped.body["token"]["expires_at"]);
        assert_eq!(r.body["token"]["audit_ids"][1], unscoped.body["token"]["audit_ids"][0]);
        assert_eq!(r.body["token"]["methods"], json!(["token"]));
        // Validate: own token allowed, nocatalog honoured; HEAD works; admin validates any.
        let r = c.raw(Method::GET, "/v3/auth/tokens?nocatalog", Some(&demo), None, &[("x-subject-token", &demo)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body["token"].get("catalog").is_none());
        let admin = c.admin().await;
        let r = c.raw(Method::HEAD, "/v3/auth/tokens", Some(&admin), None, &[("x-subject-token", &demo)]).await;
        assert_eq!(r.status, StatusCode::OK);
        // demo may not validate admin's token, nor tell it from garbage (issue 6, defect 11).
        let r = c.raw(Method::GET, "/v3/auth/tokens", Some(&demo), None, &[("x-subject-token", &admin)]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let garbage = c.raw(Method::GET, "/v3/auth/tokens", Some(&demo), None, &[("x-subject-token", "garbage")]).await;
        assert_eq!((r.status, r.body), (garbage.status, garbage.body));
        // Garbage token: 404 on validation, 401 when used.
        let r = c.raw(Method::GET, "/v3/auth/tokens", Some(&admin), None, &[("x-subject-token", "garbage")]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(c.get("/v3/auth/projects", "garbage").await.status, StatusCode::UNAUTHORIZED);
        // /v3/auth/*
        let r = c.get("/v3/auth/projects", &demo).await;
        let names: Vec<&str> = r.body["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["demo"]);
        assert_eq!(c.get("/v3/auth/catalog", &demo).await.body["catalog"][0]["type"], "identity");
        assert_eq!(c.get("/v3/auth/system", &admin).await.body["system"], json!([{"all": true}]));
        assert_eq!(c.get("/v3/auth/system", &demo).await.body["system"], json!([]));
        assert_eq!(c.get("/v3/auth/domains", &admin).await.body["domains"][0]["id"], "default");
    })
    .await;
}

#[tokio::test]
async fn revocation_and_disabling() {
    each_engine(|c| async move {
        let admin = c.admin().await;
        let demo = c.demo().await;
        let demo2 = c.demo().await;
        // Revoke one token: it fails, the other token of the same user still works.
        let r = c
            .raw(
                Method::DELETE,
                "/v3/auth/tokens",
                Some(&admin),
                None,
                &[("x-subject-token", &demo)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = c
            .raw(
                Method::GET,
                "/v3/auth/tokens",
                Some(&admin),
                None,
                &[("x-subject-token", &demo)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(
            c.get("/v3/auth/projects", &demo).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            c.get("/v3/auth/projects", &demo2).await.status,
            StatusCode::OK
        );
        // Disabling the user revokes all their tokens and refuses new ones.
        let uid =
            c.id.store
                .user_by_name("default", "demo")
                .await
                .unwrap()
                .unwrap()
                .id;
        let r = c
            .call(
                Method::PATCH,
                &format!("/v3/users/{uid}"),
                Some(&admin),
                Some(json!({"user": {"enabled": false}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            c.get("/v3/auth/projects", &demo2).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            c.issue("demo", "demopw", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        c.call(
            Method::PATCH,
            &format!("/v3/users/{uid}"),
            Some(&admin),
            Some(json!({"user": {"enabled": true}})),
        )
        .await;
        let demo3 = c.demo().await;
        // Disabling the project invalidates project-scoped tokens at once.
        let pid =
            c.id.store
                .project_by_name("default", "demo")
                .await
                .unwrap()
                .unwrap()
                .id;
        c.call(
            Method::PATCH,
            &format!("/v3/projects/{pid}"),
            Some(&admin),
            Some(json!({"project": {"enabled": false}})),
        )
        .await;
        assert_eq!(
            c.get("/v3/auth/projects", &demo3).await.status,
            StatusCode::UNAUTHORIZED
        );
        c.call(
            Method::PATCH,
            &format!("/v3/projects/{pid}"),
            Some(&admin),
            Some(json!({"project": {"enabled": true}})),
        )
        .await;
        // Self-service password change revokes the old tokens; the new password works.
        let demo4 = c.demo().await;
        let r = c
            .post(
                &format!("/v3/users/{uid}/password"),
                &demo4,
                json!({"user": {"original_password": "wrong", "password": "x"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = c
            .post(
                &format!("/v3/users/{uid}/password"),
                &demo4,
                json!({"user": {"original_password": "demopw", "password": "newpw"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        assert_eq!(
            c.get("/v3/auth/projects", &demo4).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            c.issue("demo", "newpw", None).await.status,
            StatusCode::CREATED
        );
        // Deleting a user revokes their tokens.
        let t = c.token("demo", "newpw", "demo").await;
        assert_eq!(
            c.call(
                Method::DELETE,
                &format!("/v3/users/{uid}"),
                Some(&admin),
                None
            )
            .await
            .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            c.get("/v3/auth/projects", &t).await.status,
            StatusCode::UNAUTHORIZED
        );
    })
    .await;
}

#[tokio::test]
async fn policy_member_reader_domain_admin() {
    each_engine(|c| async move {
        let admin = c.admin().await;
        let demo = c.demo().await;
        // A member cannot create projects or users, nor list them.
        let r = c.post("/v3/projects", &demo, json!({"project": {"name": "nope"}})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.body["error"]["code"], 403);
        assert_eq!(c.post("/v3/users", &demo, json!({"user": {"name": "nope"}})).await.status, StatusCode::FORBIDDEN);
        assert_eq!(c.get("/v3/users", &demo).await.status, StatusCode::FORBIDDEN);
        assert!(c.id.store.project_by_name("default", "nope").await.unwrap().is_none());
        // But sees its own project and itself.
        let pid = c.id.store.project_by_name("default", "demo").await.unwrap().unwrap().id;
        assert_eq!(c.get(&format!("/v3/projects/{pid}"), &demo).await.status, StatusCode::OK);
        // A reader on the admin project can read everything but write nothing.
        let r = c.post("/v3/users", &admin, json!({"user": {"name": "auditor", "password": "pw", "domain_id": "default"}})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let auditor = r.body["user"]["id"].as_str().unwrap().to_owned();
        let admin_pid = c.id.store.project_by_name("default", "admin").await.unwrap().unwrap().id;
        let reader = c.role_id("reader").await;
        let r = c.call(Method::PUT, &format!("/v3/projects/{admin_pid}/users/{auditor}/roles/{reader}"), Some(&admin), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let at = c.token("auditor", "pw", "admin").await;
        assert_eq!(c.get("/v3/users", &at).await.status, StatusCode::OK);
        assert_eq!(c.get("/v3/projects", &at).await.status, StatusCode::OK);
        assert_eq!(c.post("/v3/projects", &at, json!({"project": {"name": "nope"}})).await.status, StatusCode::FORBIDDEN);
        // A domain admin manages only its domain.
        let r = c.post("/v3/domains", &admin, json!({"domain": {"name": "acme"}})).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let acme = r.body["domain"]["id"].as_str().unwrap().to_owned();
        let r = c.post("/v3/users", &admin, json!({"user": {"name": "boss", "password": "pw", "domain_id": acme}})).await;
        let boss = r.body["user"]["id"].as_str().unwrap().to_owned();
        let admin_role = c.role_id("admin").await;
        let r = c.call(Method::PUT, &format!("/v3/domains/{acme}/users/{boss}/roles/{admin_role}"), Some(&admin), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = c
            .call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "boss", "domain": {"name": "acme"}, "password": "pw"}}}, "scope": {"domain": {"name": "acme"}}}})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let bt = r.headers["x-subject-token"].to_str().unwrap().to_owned();
        let r = c.post("/v3/projects", &bt, json!({"project": {"name": "rocket", "domain_id": acme}})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = c.post("/v3/projects", &bt, json!({"project": {"name": "rocket", "domain_id": "default"}})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // Its listing is narrowed to its domain; other domains' users are hidden.
        let r = c.get("/v3/projects", &bt).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body["projects"].as_array().unwrap().iter().all(|p| p["domain_id"] == acme));
        let r = c.get("/v3/users?domain_id=default", &bt).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(c.post("/v3/domains", &bt, json!({"domain": {"name": "mine"}})).await.status, StatusCode::FORBIDDEN);
        // The cloud admin can do all.
        assert_eq!(c.get("/v3/users?domain_id=default", &admin).await.status, StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn resources_crud_and_assignments() {
    each_engine(|c| async move {
        let t = c.admin().await;
        // Projects with parents, tags and extra properties.
        let r = c.post("/v3/projects", &t, json!({"project": {"name": "parent", "tags": ["a", "b"], "colour": "blue"}})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["project"]["parent_id"], "default");
        assert_eq!(r.body["project"]["colour"], "blue");
        let parent = r.body["project"]["id"].as_str().unwrap().to_owned();
        let r = c.post("/v3/projects", &t, json!({"project": {"name": "child", "parent_id": parent}})).await;
        assert_eq!(r.body["project"]["domain_id"], "default");
        let child = r.body["project"]["id"].as_str().unwrap().to_owned();
        assert_eq!(c.post("/v3/projects", &t, json!({"project": {"name": "parent"}})).await.status, StatusCode::CONFLICT);
        assert_eq!(c.get("/v3/projects?tags=a,b", &t).await.body["projects"].as_array().unwrap().len(), 1);
        assert_eq!(c.call(Method::PUT, &format!("/v3/projects/{parent}/tags/c"), Some(&t), None).await.status, StatusCode::CREATED);
        assert_eq!(c.get(&format!("/v3/projects/{parent}/tags"), &t).await.body["tags"], json!(["a", "b", "c"]));
        assert_eq!(c.call(Method::DELETE, &format!("/v3/projects/{parent}"), Some(&t), None).await.status, StatusCode::FORBIDDEN);
        let r = c.call(Method::PATCH, &format!("/v3/projects/{child}"), Some(&t), Some(json!({"project": {"description": "d", "id": "x"}}))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = c.call(Method::PATCH, &format!("/v3/projects/{child}"), Some(&t), Some(json!({"project": {"description": "d"}}))).await;
        assert_eq!(r.body["project"]["description"], "d");
        // Groups: membership grants roles; inherited domain grants reach projects.
        let r = c.post("/v3/users", &t, json!({"user": {"name": "alice", "password": "pw", "default_project_id": child}})).await;
        let alice = r.body["user"]["id"].as_str().unwrap().to_owned();
        assert!(r.body["user"].get("password").is_none());
        let r = c.post("/v3/groups", &t, json!({"group": {"name": "devs"}})).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let devs = r.body["group"]["id"].as_str().unwrap().to_owned();
        assert_eq!(c.call(Method::PUT, &format!("/v3/groups/{devs}/users/{alice}"), Some(&t), None).await.status, StatusCode::NO_CONTENT);
        assert_eq!(c.call(Method::HEAD, &format!("/v3/groups/{devs}/users/{alice}"), Some(&t), None).await.status, StatusCode::NO_CONTENT);
        let member = c.role_id("member").await;
        assert_eq!(c.issue("alice", "pw", Some(json!({"project": {"id": child}}))).await.status, StatusCode::UNAUTHORIZED);
        let r = c.call(Method::PUT, &format!("/v3/OS-INHERIT/projects/{parent}/groups/{devs}/roles/{member}/inherited_to_projects"), Some(&t), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = c.issue("alice", "pw", Some(json!({"project": {"id": child}}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert!(r.body["token"]["roles"].as_array().unwrap().iter().any(|x| x["name"] == "reader"));
        // role_assignments: raw, effective, names, filters.
        let r = c.get(&format!("/v3/role_assignments?group.id={devs}"), &t).await;
        assert_eq!(r.body["role_assignments"].as_array().unwrap().len(), 1);
        assert_eq!(r.body["role_assignments"][0]["scope"]["OS-INHERIT:inherited_to"], "projects");
        let r = c.get(&format!("/v3/role_assignments?effective&include_names=True&user.id={alice}"), &t).await;
        let rows = r.body["role_assignments"].as_array().unwrap();
        assert!(rows.iter().any(|a| a["scope"]["project"]["name"] == "child" && a["role"]["name"] == "member" && a["user"]["name"] == "alice"), "{rows:?}");
        assert!(rows.iter().all(|a| a["links"]["membership"].is_string()));
        let r = c.get("/v3/role_assignments?include_names=1&scope.system", &t).await;
        assert!(r.body["role_assignments"].as_array().unwrap().iter().all(|a| a["scope"]["system"]["all"] == true));
        // Implied roles: create, list, refuse a cycle.
        let r = c.post("/v3/roles", &t, json!({"role": {"name": "operator"}})).await;
        let op = r.body["role"]["id"].as_str().unwrap().to_owned();
        assert_eq!(c.call(Method::PUT, &format!("/v3/roles/{op}/implies/{member}"), Some(&t), None).await.status, StatusCode::CREATED);
        assert_eq!(c.call(Method::PUT, &format!("/v3/roles/{member}/implies/{op}"), Some(&t), None).await.status, StatusCode::FORBIDDEN);
        assert_eq!(c.get("/v3/role_inferences", &t).await.status, StatusCode::OK);
        // Catalog resources.
        let r = c.post("/v3/regions", &t, json!({"region": {"id": "RegionTwo"}})).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = c.post("/v3/services", &t, json!({"service": {"type": "compute", "name": "nova"}})).await;
        let svc = r.body["service"]["id"].as_str().unwrap().to_owned();
        let r = c.post("/v3/endpoints", &t, json!({"endpoint": {"service_id": svc, "interface": "public", "url": "http://x:8774/v2.1", "region_id": "RegionTwo"}})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = c.post("/v3/endpoints", &t, json!({"endpoint": {"service_id": svc, "interface": "sideways", "url": "http://x"}})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = c.issue("admin", "adminpw", Some(json!({"project": {"name": "admin", "domain": {"id": "default"}}}))).await;
        assert!(r.body["token"]["catalog"].as_array().unwrap().iter().any(|s| s["type"] == "compute"));
        // Domains: deleting an enabled one is refused; a disabled one goes with its content.
        let r = c.post("/v3/domains", &t, json!({"domain": {"name": "tmp"}})).await;
        let tmp = r.body["domain"]["id"].as_str().unwrap().to_owned();
        c.post("/v3/projects", &t, json!({"project": {"name": "p", "domain_id": tmp}})).await;
        assert_eq!(c.call(Method::DELETE, &format!("/v3/domains/{tmp}"), Some(&t), None).await.status, StatusCode::FORBIDDEN);
        c.call(Method::PATCH, &format!("/v3/domains/{tmp}"), Some(&t), Some(json!({"domain": {"enabled": false}}))).await;
        assert_eq!(c.call(Method::DELETE, &format!("/v3/domains/{tmp}"), Some(&t), None).await.status, StatusCode::NO_CONTENT);
        assert_eq!(c.get(&format!("/v3/domains/{tmp}"), &t).await.status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn application_credentials() {
    each_engine(|c| async move {
        let demo = c.demo().await;
        let uid = c.id.store.user_by_name("default", "demo").await.unwrap().unwrap().id;
        let r = c.post(&format!("/v3/users/{uid}/application_credentials"), &demo, json!({"application_credential": {"name": "ci", "roles": [{"name": "reader"}]}})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let ac = r.body["application_credential"]["id"].as_str().unwrap().to_owned();
        let secret = r.body["application_credential"]["secret"].as_str().unwrap().to_owned();
        assert_eq!(r.body["application_credential"]["roles"][0]["name"], "reader");
        // Delegating a role one does not hold is refused.
        let r = c.post(&format!("/v3/users/{uid}/application_credentials"), &demo, json!({"application_credential": {"name": "x", "roles": [{"name": "admin"}]}})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // Authenticate with it: scoped to its project, with only its roles.
        let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": ac, "secret": secret}}}});
        let r = c.call(Method::POST, "/v3/auth/tokens", None, Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let names: Vec<&str> = r.body["token"]["roles"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["reader"]);
        assert_eq!(r.body["token"]["project"]["name"], "demo");
        assert_eq!(r.body["token"]["application_credential"]["id"], ac);
        let act = r.headers["x-subject-token"].to_str().unwrap().to_owned();
        // By name + user too; wrong secret refused.
        let r = c
            .call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"name": "ci", "user": {"name": "demo", "domain": {"id": "default"}}, "secret": secret}}}})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = c.call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": ac, "secret": "bad"}}}}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // An app-cred token cannot make another credential.
        let r = c.post(&format!("/v3/users/{uid}/application_credentials"), &act, json!({"application_credential": {"name": "y"}})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // List, show, delete: deleting revokes its tokens.
        assert_eq!(c.get(&format!("/v3/users/{uid}/application_credentials"), &demo).await.body["application_credentials"].as_array().unwrap().len(), 1);
        assert_eq!(c.call(Method::DELETE, &format!("/v3/users/{uid}/application_credentials/{ac}"), Some(&demo), None).await.status, StatusCode::NO_CONTENT);
        assert_eq!(c.get("/v3/auth/projects", &act).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(c.call(Method::POST, "/v3/auth/tokens", None, Some(body)).await.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn bootstrap_is_idempotent() {
    for db in db::testing::engines().await {
        let c = cloud(db).await;
        let before = (
            c.id.store.users(&Default::default()).await.unwrap().len(),
            c.id.store.endpoints().await.unwrap().len(),
            c.id.store.assignments().await.unwrap().len(),
        );
        c.id.bootstrap(&spec("ignored-on-second-run", "x"))
            .await
            .unwrap();
        let after = (
            c.id.store.users(&Default::default()).await.unwrap().len(),
            c.id.store.endpoints().await.unwrap().len(),
            c.id.store.assignments().await.unwrap().len(),
        );
        assert_eq!(before, after);
        assert_eq!(
            c.issue("admin", "adminpw", None).await.status,
            StatusCode::CREATED
        );
    }
}

/// Defect 4: duplicate or unknown methods are a 400 before any password is hashed.
#[tokio::test]
async fn auth_methods_each_once() {
    each_engine(|c| async move {
        let pw = json!({"user": {"name": "admin", "domain": {"id": "default"}, "password": "adminpw"}});
        let methods = vec!["password"; 1000];
        let t0 = std::time::Instant::now();
        let r = c
            .call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": methods, "password": pw}}})))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert_eq!(r.body["error"]["code"], 400);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("more than once"), "{}", r.body);
        // Far less than one Argon2 hash per method (each takes tens of ms).
        assert!(t0.elapsed() < std::time::Duration::from_secs(2), "{:?}", t0.elapsed());
        let r = c
            .call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["password", "totp"], "password": pw}}})))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("totp"));
        let r = c
            .call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["password"], "password": pw}}})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    })
    .await;
}

/// Defect 9: `"enabled": null` is a 400 (create and update); a huge `Content-Length` is a
/// 413 before the body is read.
#[tokio::test]
async fn enabled_null_and_declared_length() {
    each_engine(|c| async move {
        let t = c.admin().await;
        let r = c
            .post(
                "/v3/users",
                &t,
                json!({"user": {"name": "nul", "enabled": null}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("enabled"),
            "{}",
            r.body
        );
        assert!(c
            .id
            .store
            .user_by_name("default", "nul")
            .await
            .unwrap()
            .is_none());
        let r = c
            .post("/v3/users", &t, json!({"user": {"name": "nul"}}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let uid = r.body["user"]["id"].as_str().unwrap().to_owned();
        let r = c
            .call(
                Method::PATCH,
                &format!("/v3/users/{uid}"),
                Some(&t),
                Some(json!({"user": {"enabled": null}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(c.id.store.user(&uid).await.unwrap().unwrap().enabled);
        let r = c
            .post(
                "/v3/projects",
                &t,
                json!({"project": {"name": "nul", "enabled": null}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        // A declared length over the limit: refused without waiting for the body.
        let r = c
            .raw(
                Method::POST,
                "/v3/projects",
                Some(&t),
                Some("{}".into()),
                &[("content-length", "1000000000000")],
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
        assert_eq!(r.body["error"]["code"], 413);
    })
    .await;
}

/// Lists are cut at `list_limit` and flagged `"truncated": true` as Keystone does; filters
/// apply in SQL before the limit.
#[tokio::test]
async fn lists_honour_list_limit() {
    let cfg = || identity::Config {
        list_limit: Some(3),
        ..Default::default()
    };
    each_engine_with(cfg, |c| async move {
        let t = c.admin().await;
        for i in 0..4 {
            let r = c
                .post(
                    "/v3/projects",
                    &t,
                    json!({"project": {"name": format!("p{i}"), "tags": [format!("t{}", i % 2)]}}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            let r = c
                .post(
                    "/v3/users",
                    &t,
                    json!({"user": {"name": format!("u{i}"), "enabled": i != 0}}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
        for path in ["/v3/projects", "/v3/users"] {
            let r = c.get(path, &t).await;
            let key = &path[4..];
            assert_eq!(r.body[key].as_array().unwrap().len(), 3, "{}", r.body);
            assert_eq!(r.body["truncated"], true, "{}", r.body);
        }
        // Filtered below the limit: whole, and not flagged.
        let r = c.get("/v3/projects?tags=t1", &t).await;
        let names: Vec<&str> = r.body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["p1", "p3"]);
        assert!(r.body.get("truncated").is_none(), "{}", r.body);
        let r = c.get("/v3/projects?not-tags-any=t0,t1", &t).await;
        assert!(r.body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| !p["name"].as_str().unwrap().starts_with('p')));
        let r = c.get("/v3/users?enabled=false", &t).await;
        assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
        assert_eq!(r.body["users"][0]["name"], "u0");
        let r = c.get("/v3/users?name=u2", &t).await;
        assert_eq!(r.body["users"].as_array().unwrap().len(), 1);
    })
    .await;
}

/// `GET /v3/users/{id}/projects` finds grants through groups and inheritance from the
/// user's own assignments.
#[tokio::test]
async fn user_projects_through_groups_and_inheritance() {
    each_engine(|c| async move {
        let t = c.admin().await;
        let r = c
            .post("/v3/projects", &t, json!({"project": {"name": "top"}}))
            .await;
        let top = r.body["project"]["id"].as_str().unwrap().to_owned();
        let r = c
            .post(
                "/v3/projects",
                &t,
                json!({"project": {"name": "below", "parent_id": top}}),
            )
            .await;
        let below = r.body["project"]["id"].as_str().unwrap().to_owned();
        let r = c
            .post("/v3/projects", &t, json!({"project": {"name": "direct"}}))
            .await;
        let direct = r.body["project"]["id"].as_str().unwrap().to_owned();
        let r = c
            .post("/v3/users", &t, json!({"user": {"name": "bob"}}))
            .await;
        let bob = r.body["user"]["id"].as_str().unwrap().to_owned();
        let r = c
            .post("/v3/groups", &t, json!({"group": {"name": "g"}}))
            .await;
        let g = r.body["group"]["id"].as_str().unwrap().to_owned();
        let member = c.role_id("member").await;
        c.call(
            Method::PUT,
            &format!("/v3/groups/{g}/users/{bob}"),
            Some(&t),
            None,
        )
        .await;
        c.call(
            Method::PUT,
            &format!(
                "/v3/OS-INHERIT/projects/{top}/groups/{g}/roles/{member}/inherited_to_projects"
            ),
            Some(&t),
            None,
        )
        .await;
        c.call(
            Method::PUT,
            &format!("/v3/projects/{direct}/users/{bob}/roles/{member}"),
            Some(&t),
            None,
        )
        .await;
        let r = c.get(&format!("/v3/users/{bob}/projects"), &t).await;
        let mut ids: Vec<&str> = r.body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        ids.sort();
        let mut want = vec![below.as_str(), direct.as_str()];
        want.sort();
        assert_eq!(ids, want, "{}", r.body);
    })
    .await;
}

/// A row that does not decode is an error (500), not a resource with empty fields.
#[tokio::test]
async fn bad_rows_fail_loudly() {
    each_engine(|c| async move {
        let t = c.admin().await;
        let r = c
            .post("/v3/users", &t, json!({"user": {"name": "broken"}}))
            .await;
        let uid = r.body["user"]["id"].as_str().unwrap().to_owned();
        sqlx::query("UPDATE users SET extra = 'not json' WHERE id = $1")
            .bind(&uid)
            .execute(&c.id.store.db.pool)
            .await
            .unwrap();
        let r = c.get(&format!("/v3/users/{uid}"), &t).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.body);
        assert_eq!(
            c.get("/v3/users", &t).await.status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    })
    .await;
}

/// Lost update: a writer holding a copy read before a password change cannot write it
/// back (409); the new password stays.
#[tokio::test]
async fn user_update_is_compare_and_set() {
    each_engine(|c| async move {
        let t = c.admin().await;
        let r = c
            .post(
                "/v3/users",
                &t,
                json!({"user": {"name": "carol", "password": "old"}}),
            )
            .await;
        let uid = r.body["user"]["id"].as_str().unwrap().to_owned();
        // Writer A reads the user...
        let stale = c.id.store.user(&uid).await.unwrap().unwrap();
        // ...writer B changes the password...
        let r = c
            .call(
                Method::PATCH,
                &format!("/v3/users/{uid}"),
                Some(&t),
                Some(json!({"user": {"password": "new"}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // ...and A's write of its copy is refused instead of restoring the old hash.
        let e =
            c.id.update_user(
                User {
                    description: "from A".into(),
                    ..stale
                },
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, api_common::ErrorKind::Conflict, "{e}");
        assert_eq!(
            c.issue("carol", "new", Some(json!("unscoped")))
                .await
                .status,
            StatusCode::CREATED
        );
        assert_eq!(
            c.issue("carol", "old", Some(json!("unscoped")))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            c.id.store.user(&uid).await.unwrap().unwrap().description,
            ""
        );
        // Concurrent PATCHes over HTTP: each either applies or answers 409, never 500.
        let path = format!("/v3/users/{uid}");
        let (a, b) = tokio::join!(
            c.call(
                Method::PATCH,
                &path,
                Some(&t),
                Some(json!({"user": {"description": "a"}}))
            ),
            c.call(
                Method::PATCH,
                &path,
                Some(&t),
                Some(json!({"user": {"email": "b@x"}}))
            ),
        );
        for r in [&a, &b] {
            assert!(
                matches!(r.status, StatusCode::OK | StatusCode::CONFLICT),
                "{} {}",
                r.status,
                r.body
            );
        }
        let u = c.id.store.user(&uid).await.unwrap().unwrap();
        if a.status == StatusCode::OK && b.status == StatusCode::OK {
            assert_eq!(
                (u.description.as_str(), u.email.as_deref()),
                ("a", Some("b@x"))
            );
        }
    })
    .await;
}

/// Defect 5: the validation cache is bounded in bytes and entries expire; a write evicts
/// only what it affects, and what it affects stops working at once.
#[tokio::test]
async fn validation_cache_bounded_and_precise() {
    let cfg = || identity::Config {
        validation_cache_bytes: 128 << 10,
        validation_cache_seconds: 2,
        ..Default::default()
    };
    each_engine_with(cfg, |c| async move {
        let admin = c.admin().await;
        let unscoped = c.issue("admin", "adminpw", Some(json!("unscoped"))).await;
        let ut = unscoped.headers["x-subject-token"].to_str().unwrap().to_owned();
        let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": ut}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let mut max_bytes = 0;
        for _ in 0..300 {
            let r = c.call(Method::POST, "/v3/auth/tokens?nocatalog", None, Some(rescope.clone())).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            let t = r.headers["x-subject-token"].to_str().unwrap().to_owned();
            let r = c.raw(Method::GET, "/v3/auth/tokens", Some(&t), None, &[("x-subject-token", &t)]).await;
            assert_eq!(r.status, StatusCode::OK);
            let (_, bytes) = c.id.validation_cache_usage();
            max_bytes = max_bytes.max(bytes);
        }
        let (entries, bytes) = c.id.validation_cache_usage();
        assert!(max_bytes <= 128 << 10, "{max_bytes}");
        assert!(entries < 300, "{entries} entries: nothing was evicted");
        assert!(bytes > 0);

        // An unrelated write keeps the cached validation; a related one drops it.
        let demo = c.demo().await;
        let r = c.raw(Method::GET, "/v3/auth/tokens", Some(&demo), None, &[("x-subject-token", &demo)]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(c.id.validation_cached(&demo));
        let r = c.post("/v3/users", &admin, json!({"user": {"name": "bystander"}})).await;
        let other = r.body["user"]["id"].as_str().unwrap().to_owned();
        c.call(Method::PATCH, &format!("/v3/users/{other}"), Some(&admin), Some(json!({"user": {"description": "x"}}))).await;
        assert!(c.id.validation_cached(&demo), "a write to another user evicted demo's token");
        // Removing demo's role on its project: the token fails at once.
        let demo_id = c.id.store.user_by_name("default", "demo").await.unwrap().unwrap().id;
        let pid = c.id.store.project_by_name("default", "demo").await.unwrap().unwrap().id;
        let rows = c.get(&format!("/v3/role_assignments?user.id={demo_id}&scope.project.id={pid}"), &admin).await;
        for a in rows.body["role_assignments"].as_array().unwrap() {
            let rid = a["role"]["id"].as_str().unwrap();
            let r = c.call(Method::DELETE, &format!("/v3/projects/{pid}/users/{demo_id}/roles/{rid}"), Some(&admin), None).await;
            assert_eq!(r.status, StatusCode::NO_CONTENT);
        }
        assert!(!c.id.validation_cached(&demo));
        assert_eq!(c.get("/v3/auth/projects", &demo).await.status, StatusCode::UNAUTHORIZED);
        // Entries expire with the cache's lifetime.
        let t = c.admin().await;
        c.raw(Method::GET, "/v3/auth/tokens", Some(&t), None, &[("x-subject-token", &t)]).await;
        assert!(c.id.validation_cached(&t));
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert!(!c.id.validation_cached(&t));
    })
    .await;
}

/// Defect 11: `allow_expired` returns a token expired within the window; a caller who may
/// not validate a token cannot tell a valid foreign token from an invalid one.
#[tokio::test]
async fn allow_expired_and_no_token_probing() {
    let cfg = || identity::Config {
        token_expiration: 3,
        allow_expired_window: 4,
        ..Default::default()
    };
    each_engine_with(cfg, |c| async move {
        let demo = c.demo().await;
        tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
        let admin = c.admin().await;
        let get = |q: &'static str, auth: String, subject: String| {
            let c = &c;
            async move {
                c.raw(
                    Method::GET,
                    &format!("/v3/auth/tokens{q}"),
                    Some(&auth),
                    None,
                    &[("x-subject-token", &subject)],
                )
                .await
            }
        };
        assert_eq!(
            get("", admin.clone(), demo.clone()).await.status,
            StatusCode::NOT_FOUND
        );
        let r = get("?allow_expired=true", admin.clone(), demo.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["token"]["user"]["name"], "demo");
        let r = c
            .raw(
                Method::HEAD,
                "/v3/auth/tokens?allow_expired=1",
                Some(&admin),
                None,
                &[("x-subject-token", &demo)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        // An expired token never authenticates a request, allow_expired or not.
        assert_eq!(
            c.get("/v3/auth/projects?allow_expired=true", &demo)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        // Probing: a valid foreign token and garbage answer alike to a non-admin.
        let demo2 = c.demo().await;
        let foreign = get("", demo2.clone(), admin.clone()).await;
        let garbage = get("", demo2.clone(), "garbage".into()).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        assert_eq!(
            (foreign.status, &foreign.body),
            (garbage.status, &garbage.body)
        );
        let r = c
            .raw(
                Method::DELETE,
                "/v3/auth/tokens",
                Some(&demo2),
                None,
                &[("x-subject-token", &admin)],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(
            get("", admin.clone(), admin.clone()).await.status,
            StatusCode::OK
        );
        // Past the window: gone.
        tokio::time::sleep(std::time::Duration::from_millis(4000)).await;
        let admin = c.admin().await;
        assert_eq!(
            get("?allow_expired=true", admin.clone(), demo.clone())
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    })
    .await;
}

/// Lists may be served from a cache: every write shows in the next list.
#[tokio::test]
async fn lists_follow_writes() {
    each_engine(|c| async move {
        let t = c.admin().await;
        let names = |r: &Resp, key: &str| -> Vec<String> {
            r.body[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let before = names(&c.get("/v3/users", &t).await, "users");
        let r = c
            .post("/v3/users", &t, json!({"user": {"name": "zed"}}))
            .await;
        let uid = r.body["user"]["id"].as_str().unwrap().to_owned();
        assert!(names(&c.get("/v3/users", &t).await, "users").contains(&"zed".to_owned()));
        c.call(
            Method::PATCH,
            &format!("/v3/users/{uid}"),
            Some(&t),
            Some(json!({"user": {"name": "zoe"}})),
        )
        .await;
        let now = names(&c.get("/v3/users", &t).await, "users");
        assert!(
            now.contains(&"zoe".to_owned()) && !now.contains(&"zed".to_owned()),
            "{now:?}"
        );
        c.call(Method::DELETE, &format!("/v3/users/{uid}"), Some(&t), None)
            .await;
        assert_eq!(names(&c.get("/v3/users", &t).await, "users"), before);
        let r = c
            .post("/v3/projects", &t, json!({"project": {"name": "pz"}}))
            .await;
        let pid = r.body["project"]["id"].as_str().unwrap().to_owned();
        c.call(
            Method::PUT,
            &format!("/v3/projects/{pid}/tags/hot"),
            Some(&t),
            None,
        )
        .await;
        let r = c.get("/v3/projects?tags=hot", &t).await;
        assert_eq!(names(&r, "projects"), vec!["pz"]);
        c.call(
            Method::DELETE,
            &format!("/v3/projects/{pid}/tags/hot"),
            Some(&t),
            None,
        )
        .await;
        assert!(names(&c.get("/v3/projects?tags=hot", &t).await, "projects").is_empty());
        c.call(
            Method::PATCH,
            &format!("/v3/projects/{pid}"),
            Some(&t),
            Some(json!({"project": {"enabled": false}})),
        )
        .await;
        let r = c.get("/v3/projects?enabled=false", &t).await;
        assert_eq!(names(&r, "projects"), vec!["pz"]);
    })
    .await;
}

/// The rendered documents of a validation (with and without the catalog) are cached with
/// it: after a role removal, a catalog change or a revocation, the next validation shows
/// the change, never the document rendered before.
#[tokio::test]
async fn cached_token_documents_follow_changes() {
    each_engine(|c| async move {
        let admin = c.admin().await;
        let demo_id = c.id.store.user_by_name("default", "demo").await.unwrap().unwrap().id;
        let pid = c.id.store.project_by_name("default", "demo").await.unwrap().unwrap().id;
        let r = c.post("/v3/roles", &admin, json!({"role": {"name": "extra"}})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let extra = r.body["role"]["id"].as_str().unwrap().to_owned();
        let grant = format!("/v3/projects/{pid}/users/{demo_id}/roles/{extra}");
        let r = c.call(Method::PUT, &grant, Some(&admin), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        let demo = c.demo().await;
        let validate = |path: &'static str| {
            let (c, admin, demo) = (&c, admin.clone(), demo.clone());
            async move {
                c.raw(Method::GET, path, Some(&admin), None, &[("x-subject-token", &demo)])
                    .await
            }
        };
        let roles = |r: &Resp| -> Vec<String> {
            r.body["token"]["roles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let services = |r: &Resp| -> Vec<String> {
            r.body["token"]["catalog"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].as_str().unwrap().to_owned())
                .collect()
        };
        // Rendered, then served from the cache: the same documents.
        for path in ["/v3/auth/tokens", "/v3/auth/tokens?nocatalog"] {
            let first = validate(path).await;
            assert_eq!(first.status, StatusCode::OK, "{}", first.body);
            assert!(roles(&first).contains(&"extra".to_owned()), "{}", first.body);
            assert_eq!(first.headers["x-subject-token"], demo.as_str());
            let again = validate(path).await;
            assert_eq!(again.body, first.body);
        }
        assert!(c.id.validation_cached(&demo));

        // A role removal: the token is still valid, without the role.
        let r = c.call(Method::DELETE, &grant, Some(&admin), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        for path in ["/v3/auth/tokens", "/v3/auth/tokens?nocatalog"] {
            let r = validate(path).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert!(!roles(&r).contains(&"extra".to_owned()), "{path}: {}", r.body);
            assert!(!roles(&r).is_empty(), "{}", r.body);
        }

        // A catalog change shows in the document with the catalog.
        let before = validate("/v3/auth/tokens").await;
        assert!(!services(&before).contains(&"glance-bis".to_owned()));
        let r = c
            .post("/v3/services", &admin, json!({"service": {"type": "image", "name": "glance-bis"}}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let sid = r.body["service"]["id"].as_str().unwrap().to_owned();
        let r = c
            .post(
                "/v3/endpoints",
                &admin,
                json!({"endpoint": {"service_id": sid, "interface": "public", "url": "http://localhost:9393", "region_id": "RegionOne"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let after = validate("/v3/auth/tokens").await;
        assert!(services(&after).contains(&"glance-bis".to_owned()), "{}", after.body);

        // A revocation: neither document is served any more.
        let r = c
            .raw(Method::DELETE, "/v3/auth/tokens", Some(&admin), None, &[("x-subject-token", &demo)])
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        for path in ["/v3/auth/tokens", "/v3/auth/tokens?nocatalog"] {
            assert_eq!(validate(path).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(c.get("/v3/auth/projects", &demo).await.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

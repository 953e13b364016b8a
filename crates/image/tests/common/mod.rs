//! The image service in-process: a fresh database (SQLite in a temporary directory, or
//! a new database on the PostgreSQL server of `OXISTACK_TEST_PG_URL`), fixed tokens,
//! and requests driven through the router with `oneshot`.

#![allow(dead_code)]

use std::{path::PathBuf, sync::Arc};

use api_common::{auth::AuthLayerState, fixed_tokens::FixedTokens};
use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use image::{Config, Image};
use serde_json::Value;
use tower::ServiceExt;

pub const PROJECT_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const PROJECT_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
pub const ADMIN_A: &str = "admin-a";
pub const MEMBER_A: &str = "member-a";
pub const MEMBER_B: &str = "member-b";
pub const READER_A: &str = "reader-a";

/// The fixed tokens and their callers (roles include the implied ones).
pub fn fake_validator() -> FixedTokens {
    let user = |u: &str| format!("user-{u}");
    FixedTokens::default()
        .with(
            ADMIN_A,
            &user(ADMIN_A),
            PROJECT_A,
            &["admin", "member", "reader"],
        )
        .with(MEMBER_A, &user(MEMBER_A), PROJECT_A, &["member", "reader"])
        .with(MEMBER_B, &user(MEMBER_B), PROJECT_B, &["member", "reader"])
        .with(READER_A, &user(READER_A), PROJECT_A, &["reader"])
}

pub struct Env {
    pub app: Router,
    pub svc: Arc<Image>,
    pub dir: PathBuf,
    pub store_dir: PathBuf,
    _background: Background,
}

/// The service's background task, stopped with the environment.
struct Background(
    Option<tokio::sync::oneshot::Sender<()>>,
    tokio::task::JoinHandle<()>,
);

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
        self.1.abort();
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A database URL for one test: a new database on the PostgreSQL server named by
/// `OXISTACK_TEST_PG_URL` if set, else a SQLite file under `dir`.
pub async fn test_db_url(dir: &std::path::Path) -> String {
    match std::env::var("OXISTACK_TEST_PG_URL") {
        Ok(server) if !server.is_empty() => {
            let name = format!("oxi_image_{}", uuid::Uuid::new_v4().simple());
            let admin = db::Db::connect(&server, 1)
                .await
                .expect("connect to OXISTACK_TEST_PG_URL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin.pool)
                .await
                .expect("create database");
            admin.pool.close().await;
            let (base, _) = server.rsplit_once('/').expect("URL with a database name");
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}/image.db", dir.display()),
    }
}

pub async fn env() -> Env {
    env_with(Config::default()).await
}

pub async fn env_with(cfg: Config) -> Env {
    env_full(cfg, None).await
}

/// With a policy file of this content (YAML) overriding the defaults.
pub async fn env_full(cfg: Config, policy: Option<&str>) -> Env {
    let dir = std::env::temp_dir().join(format!("oxi-image-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = db::Db::connect(&test_db_url(&dir).await, 4).await.unwrap();
    db.migrate("image", image::MIGRATIONS).await.unwrap();
    db.migrate(saga::SERVICE, saga::MIGRATIONS).await.unwrap();
    let policy_file = policy.map(|p| {
        let f = dir.join("policy.yaml");
        std::fs::write(&f, p).unwrap();
        f
    });
    let svc = image::start(db, cfg, &dir, policy_file.as_deref(), "test")
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let background = tokio::spawn(svc.background(async move {
        let _ = stopped.await;
    }));
    let auth = AuthLayerState {
        validator: Arc::new(fake_validator()),
        identity_uri: "http://127.0.0.1:5000/v3".into(),
    };
    let app = image::api::router(svc.clone(), "http://127.0.0.1:9292".into(), auth);
    let store_dir = dir.join("images");
    Env {
        app,
        svc,
        dir,
        store_dir,
        _background: Background(Some(stop), background),
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Env {
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        if let Some(t) = token {
            b = b.header("x-auth-token", t);
        }
        let body = match body {
            Some(v) => {
                b = b.header("content-type", "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(b.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn patch(&self, id: &str, token: &str, ops: Value) -> Resp {
        let req = Request::patch(format!("/v2/images/{id}"))
            .header("x-auth-token", token)
            .header(
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            )
            .body(Body::from(ops.to_string()))
            .unwrap();
        self.send(req).await
    }

    pub async fn upload(&self, id: &str, token: &str, data: Vec<u8>) -> Resp {
        let req = Request::put(format!("/v2/images/{id}/file"))
            .header("x-auth-token", token)
            .header("content-type", "application/octet-stream")
            .body(Body::from(data))
            .unwrap();
        self.send(req).await
    }

    /// `PUT /v2/images/{id}/stage`.
    pub async fn stage(&self, id: &str, token: &str, data: Vec<u8>) -> Resp {
        let req = Request::put(format!("/v2/images/{id}/stage"))
            .header("x-auth-token", token)
            .header("content-type", "application/octet-stream")
            .body(Body::from(data))
            .unwrap();
        self.send(req).await
    }

    /// `POST /v2/images/{id}/import` with this `method` document.
    pub async fn import(&self, id: &str, token: &str, method: Value) -> Resp {
        let body = serde_json::json!({ "method": method });
        self.call(
            "POST",
            &format!("/v2/images/{id}/import"),
            Some(token),
            Some(body),
        )
        .await
    }

    /// Wait (up to 5 s) while the image is `importing`; its status then.
    pub async fn wait_import(&self, id: &str) -> String {
        for _ in 0..200 {
            let s = self.status_of(id).await;
            if s != "importing" {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        "timeout".into()
    }

    /// Files in the staging directory.
    pub fn staged_files(&self) -> Vec<String> {
        files_in(&self.store_dir.join("staging"))
    }

    /// Create an image and return its document.
    pub async fn create(&self, token: &str, body: Value) -> Value {
        let r = self
            .call("POST", "/v2/images", Some(token), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }

    pub async fn status_of(&self, id: &str) -> String {
        self.get(&format!("/v2/images/{id}"), ADMIN_A).await.json()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Files in the store (not counting the staging directory).
    pub fn stored_files(&self) -> Vec<String> {
        files_in(&self.store_dir)
    }
}

/// The names of the files (not directories) in `dir`.
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

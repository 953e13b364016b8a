//! What oxistack's tests share.
//!
//! - [`TestCloud`]: the whole cloud in this process, started as `oxistack up` starts it
//!   (every registered service of [`oxistack::services::SERVICES`] through
//!   [`oxistack::cloud::build`], bootstrapped by [`oxistack::up::bootstrap`]) over a fresh
//!   database, each service listening on a port of its own picked by the OS. Requests
//!   go either in-process ([`TestCloud::call`], through the service's router) or over
//!   HTTP to [`TestCloud::url`].
//! - Tokens for the bootstrap users and for fresh users in fresh projects
//!   ([`TestCloud::admin_token`], [`TestCloud::demo_token`], [`TestCloud::new_member`]).
//! - [`unique`] names and [`FixedTokens`], the validator of tests that run one service
//!   without identity.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Context as _;
pub use api_common::fixed_tokens::FixedTokens;
use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use oxistack::{
    cloud::{self, Cloud},
    config::Config,
    services::SERVICES,
    up::Passwords,
};
use serde_json::{json, Value};
use service::{AnyService, Mode, Tasks};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Environment variable naming a PostgreSQL server (`postgres://user:pw@host:port/db`):
/// when set, clouds can run on a fresh database there too.
pub const PG_URL_ENV: &str = "OXISTACK_TEST_PG_URL";

/// A name no other test of any process uses (`prefix` + pid + counter + time).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}_{n}_{nanos}", std::process::id())
}

/// The database engine a cloud runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// SQLite, and PostgreSQL when [`PG_URL_ENV`] names a server.
    pub fn available() -> Vec<Engine> {
        let mut v = vec![Engine::Sqlite];
        if std::env::var(PG_URL_ENV).is_ok_and(|u| !u.is_empty()) {
            v.push(Engine::Postgres);
        }
        v
    }
}

/// An answer, body read.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON (panics, showing it, when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A user made for one test: member of a project of its own.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: String,
    pub name: String,
    pub password: String,
    pub project_id: String,
    pub domain_id: String,
    /// Scoped to `project_id`.
    pub token: String,
}

/// The whole cloud in-process. Dropping it stops its servers and background work and
/// removes its data directory.
pub struct TestCloud {
    pub cfg: Config,
    pub db: db::Db,
    pub engine: Engine,
    pub cloud: Cloud,
    pub passwords: Passwords,
    servers: JoinSet<std::io::Result<()>>,
}

impl TestCloud {
    /// On SQLite.
    pub async fn start() -> TestCloud {
        Self::start_on(Engine::Sqlite).await
    }

    /// On `engine` (PostgreSQL: a new database on the server of [`PG_URL_ENV`]).
    pub async fn start_on(engine: Engine) -> TestCloud {
        Self::try_start(engine)
            .await
            .unwrap_or_else(|e| panic!("cannot start the test cloud on {engine:?}: {e:#}"))
    }

    async fn try_start(engine: Engine) -> anyhow::Result<TestCloud> {
        let mut cfg = Config {
            data_dir: std::env::temp_dir().join(unique("oxi-cloud-")),
            test_image: false,
            ..Config::default()
        };
        // Every service on a port the OS picks, known before the services start so
        // that the catalog and the links they render name it.
        let mut listeners = Vec::new();
        for svc in SERVICES {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let port = l.local_addr()?.port();
            let mut section = toml_table(*svc);
            section.insert("port".into(), i64::from(port).into());
            cfg.services
                .insert(svc.name().to_owned(), toml::Value::Table(section));
            listeners.push(l);
        }
        let db = match engine {
            Engine::Sqlite => cloud::open_db(&cfg).await?,
            Engine::Postgres => {
                let db = db::testing::postgres()
                    .await
                    .with_context(|| format!("{PG_URL_ENV} is not set"))?;
                for (name, migrations) in oxistack::services::COMPONENTS {
                    db.migrate(name, migrations).await?;
                }
                for svc in SERVICES {
                    db.migrate(svc.name(), svc.migrations()).await?;
                }
                db
            }
        };
        let cloud = cloud::build(
            &cfg,
            Some(db.clone()),
            SERVICES,
            Mode::AllInOne,
            Tasks::new(None),
        )
        .await?;
        let id = cloud
            .handle::<identity::Identity>("identity")
            .context("identity is not running")?;
        let passwords = oxistack::up::bootstrap(&cfg, &id).await?;
        let mut servers = JoinSet::new();
        for (r, listener) in cloud.services.iter().zip(listeners) {
            let stop = cloud.tasks.shutdown();
            servers.spawn(api_common::server::serve(
                listener,
                r.router(),
                async move { stop.cancelled().await },
            ));
        }
        Ok(TestCloud {
            cfg,
            db,
            engine,
            cloud,
            passwords,
            servers,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &PathBuf {
        &self.cfg.data_dir
    }

    /// The router of service `name` (identity, image...), for in-process requests.
    pub fn router(&self, name: &str) -> Router {
        self.running(name).router()
    }

    /// The route table of service `name`.
    pub fn routes(&self, name: &str) -> &[String] {
        &self.running(name).routes
    }

    /// The root URL (`http://127.0.0.1:port`) service `name` answers on over HTTP.
    pub fn url(&self, name: &str) -> String {
        self.cfg.service_url(self.running(name).service)
    }

    fn running(&self, name: &str) -> &cloud::Running {
        self.cloud
            .services
            .iter()
            .find(|r| r.service.name() == name)
            .unwrap_or_else(|| panic!("no service {name} in the cloud"))
    }

    /// Send `req` to service `name`, in-process.
    pub async fn send(&self, name: &str, req: Request<Body>) -> Resp {
        let resp = self
            .router(name)
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_else(|e| panic!("reading the body of a {status} answer: {e}"));
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A JSON request (or none) to service `name`, with `token` as `X-Auth-Token`.
    pub async fn call(
        &self,
        name: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
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
        self.send(name, b.body(body).expect("a valid request"))
            .await
    }

    /// A project-scoped token for `user` (by name, in the Default domain).
    pub async fn token(&self, user: &str, password: &str, project_id: &str) -> String {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"id": project_id}},
        }});
        self.issue(body).await
    }

    /// A token for `body` (`POST /v3/auth/tokens`), which must be accepted.
    pub async fn issue(&self, body: Value) -> String {
        let r = self
            .call(
                "identity",
                Method::POST,
                "/v3/auth/tokens",
                None,
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "token refused: {}", r.text());
        r.header("x-subject-token")
            .expect("a token in X-Subject-Token")
            .to_owned()
    }

    /// A token of `user` scoped to the project called `project` of the Default domain.
    async fn token_by_project_name(&self, user: &str, password: &str, project: &str) -> String {
        self.issue(json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }}))
        .await
    }

    /// The cloud admin's token (admin of the admin project).
    pub async fn admin_token(&self) -> String {
        let project = self
            .cfg
            .service::<identity::IdentityService>()
            .admin_project_name;
        self.token_by_project_name("admin", &self.passwords.admin, &project)
            .await
    }

    /// The demo user's token (member of the demo project).
    pub async fn demo_token(&self) -> String {
        self.token_by_project_name("demo", &self.passwords.demo, "demo")
            .await
    }

    /// A new user, member of a new project, both in the Default domain.
    pub async fn new_member(&self) -> Member {
        self.new_member_in("default").await
    }

    /// A new user, member of a new project, both in domain `domain_id`.
    pub async fn new_member_in(&self, domain_id: &str) -> Member {
        let admin = self.admin_token().await;
        let name = unique("user");
        let password = unique("pw");
        let project_id = self
            .create(
                &admin,
                "/v3/projects",
                json!({"project": {"name": unique("project"), "domain_id": domain_id}}),
            )
            .await;
        let user_id = self
            .create(
                &admin,
                "/v3/users",
                json!({"user": {"name": name, "password": password, "domain_id": domain_id}}),
            )
            .await;
        let member = self.role_id("member").await;
        let r = self
            .call(
                "identity",
                Method::PUT,
                &format!("/v3/projects/{project_id}/users/{user_id}/roles/{member}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "grant: {}", r.text());
        let token = self
            .issue(json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "id": user_id, "password": password}}},
                "scope": {"project": {"id": project_id}},
            }}))
            .await;
        Member {
            user_id,
            name,
            password,
            project_id,
            domain_id: domain_id.to_owned(),
            token,
        }
    }

    /// `POST` an identity resource as `token`; its id.
    pub async fn create(&self, token: &str, path: &str, body: Value) -> String {
        self.create_in("identity", token, path, body).await
    }

    /// [`TestCloud::create`] on service `svc`.
    pub async fn create_in(&self, svc: &str, token: &str, path: &str, body: Value) -> String {
        let r = self
            .call(svc, Method::POST, path, Some(token), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "POST {path}: {}", r.text());
        let doc = r.json();
        let (_, resource) = doc
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| *k != "links"))
            .unwrap_or_else(|| panic!("POST {path}: no resource in {doc}"));
        resource["id"]
            .as_str()
            .unwrap_or_else(|| panic!("POST {path}: no id in {doc}"))
            .to_owned()
    }

    /// The id of the role called `name`.
    pub async fn role_id(&self, name: &str) -> String {
        let admin = self.admin_token().await;
        let r = self
            .call(
                "identity",
                Method::GET,
                &format!("/v3/roles?name={name}"),
                Some(&admin),
                None,
            )
            .await;
        r.json()["roles"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no role {name}: {}", r.text()))
            .to_owned()
    }
}

/// The default `[NAME]` section of a service, as a table.
fn toml_table(svc: &dyn AnyService) -> toml::Table {
    match svc.default_config() {
        toml::Value::Table(t) => t,
        other => panic!("the [{}] section is not a table: {other}", svc.name()),
    }
}

impl TestCloud {
    /// Stop the servers and wait for them and for the background work (dropping the
    /// cloud stops them without waiting).
    pub async fn stop(mut self) {
        self.cloud.tasks.shutdown().cancel();
        while let Some(r) = self.servers.join_next().await {
            if let Ok(Err(e)) = r {
                panic!("a server of the test cloud failed: {e}");
            }
        }
        self.cloud.tasks.join().await;
    }
}

impl Drop for TestCloud {
    fn drop(&mut self) {
        self.cloud.tasks.shutdown().cancel();
        self.servers.abort_all();
        let _ = std::fs::remove_dir_all(&self.cfg.data_dir);
    }
}

/// Every row of every table, as text, by table: to show a request changed nothing.
pub type Fingerprint = std::collections::BTreeMap<String, Vec<String>>;

impl TestCloud {
    /// The whole database, row by row (rows sorted, each rendered as text).
    pub async fn fingerprint(&self) -> Fingerprint {
        let pool = &self.db.pool;
        let tables: Vec<String> = match self.engine {
            Engine::Sqlite => sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            ),
            Engine::Postgres => sqlx::query_scalar(
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            ),
        }
        .fetch_all(pool)
        .await
        .expect("list the tables");
        let mut out = Fingerprint::new();
        for t in tables {
            let sql = match self.engine {
                Engine::Sqlite => {
                    let cols: Vec<String> =
                        sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{t}')"))
                            .fetch_all(pool)
                            .await
                            .expect("list the columns");
                    let row = cols
                        .iter()
                        .map(|c| format!("quote(\"{c}\")"))
                        .collect::<Vec<_>>()
                        .join(" || '|' || ");
                    format!("SELECT {row} FROM \"{t}\"")
                }
                Engine::Postgres => format!("SELECT CAST(t AS TEXT) FROM \"{t}\" t"),
            };
            let mut rows: Vec<String> = sqlx::query_scalar(&sql)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("read table {t}: {e}"));
            rows.sort();
            out.insert(t, rows);
        }
        out
    }
}

/// The rows added or removed between two fingerprints (`+ table: row` / `- table: row`),
/// leaving out rows that mention any of `ignore` (the caller's own ids, say).
pub fn changes(before: &Fingerprint, after: &Fingerprint, ignore: &[&str]) -> Vec<String> {
    let empty = Vec::new();
    let mut out = Vec::new();
    let tables: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for t in tables {
        let b = before.get(t).unwrap_or(&empty);
        let a = after.get(t).unwrap_or(&empty);
        let mentions = |row: &String| ignore.iter().any(|i| !i.is_empty() && row.contains(i));
        for (sign, rows, other) in [("-", b, a), ("+", a, b)] {
            for row in rows {
                if !other.contains(row) && !mentions(row) {
                    out.push(format!("{sign} {t}: {row}"));
                }
            }
        }
    }
    out
}

//! The database layer: one pool type over SQLite (the default, a file under the data
//! directory) or PostgreSQL (for many machines), and versioned migrations per service.
//!
//! Queries are written once for both engines: `$1`-style placeholders (SQLite numbers
//! them the same way), `BIGINT` for integers and booleans (0/1), `TEXT` for strings and
//! timestamps (RFC 3339, UTC, so they sort as text). No engine-specific SQL outside this
//! crate.
//!
//! Reading rows: [`Columns`] and [`get`] decode columns and fail loudly (naming
//! `table.column`) on a missing column, an unexpected NULL or a value that does not parse;
//! typed ids ([`types::Id`]) decode from `TEXT` columns and are checked as they are read.
//!
//! Errors: `?` on a query turns a `sqlx::Error` into the services' [`types::Error`]. That
//! conversion, and the classification it makes (no row -> NotFound, unique violation ->
//! Conflict, pool timed out or closed -> Unavailable, anything else -> Internal, the sqlx
//! error kept as the cause for the log), is [`types::error::sql`]: the orphan rule lets it
//! live only beside `Error` (or in sqlx), not here. [`DbError`] converts the same way.

mod row;

pub mod list;
pub mod quotas;

use std::{str::FromStr, time::Duration};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    AnyPool, Executor,
};

pub use list::{execute, execute_each, fetch_in, Cas, Insert, Page, Select, Update, Value};
pub use row::{get, Columns};
pub use sqlx::{any::AnyRow, AnyPool as Pool, Row};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("migration {service}/{version} ({name}) failed: {source}")]
    Migration {
        service: String,
        version: i64,
        name: String,
        source: sqlx::Error,
    },
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Opening or migrating the database fails the start of a service; a query error inside
/// a request is classified as any sqlx error is ([`types::error::sql`]).
impl From<DbError> for types::Error {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sql(e) => e.into(),
            DbError::Open { .. } => {
                types::Error::unavailable("The database is not available.").with_source(e)
            }
            DbError::Migration { .. } => types::Error::internal_from(e),
        }
    }
}

/// Which engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of(url: &str) -> Engine {
        if url.starts_with("postgres") {
            Engine::Postgres
        } else {
            Engine::Sqlite
        }
    }
}

/// The shared database handle.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub engine: Engine,
}

/// A versioned schema change of one service.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    /// Statements separated by `;` at line ends; must run on both engines.
    pub sql: &'static str,
}

impl Db {
    /// Open (creating a SQLite file when missing) a database by URL:
    /// `sqlite:///path/to/file.db` or `postgres://user:pass@host/db`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of(url);
        let url_full = match engine {
            Engine::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let opts = AnyConnectOptions::from_str(&url_full).map_err(|source| DbError::Open {
            url: redact(url),
            source,
        })?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|source| DbError::Open { url: redact(url), source })?;
        Ok(Db { pool, engine })
    }

    /// A transaction that will write: on SQLite it takes the write lock at `BEGIN
    /// IMMEDIATE`, so two writers queue on `busy_timeout` instead of one failing when it
    /// upgrades a read lock; on PostgreSQL an ordinary transaction.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool.begin().await,
        }
    }

    /// Apply the migrations of `service` that are not applied yet, in version order, each
    /// in its own transaction. Returns how many were applied.
    ///
    /// Several processes may start at once on one database (two `serve` processes, or
    /// `manage db sync` beside a running cloud), so each transaction first takes the
    /// migration lock and only then reads which versions are applied: a process that
    /// waited for the lock sees what the other one applied and skips it, instead of
    /// running the same `CREATE TABLE` twice. On PostgreSQL the lock is an advisory lock
    /// held until the transaction ends (`pg_advisory_xact_lock`, released on commit,
    /// rollback or a dropped connection); on SQLite it is the database's write lock,
    /// taken at `BEGIN IMMEDIATE` rather than at the first write.
    pub async fn migrate(&self, service: &str, migrations: &[Migration]) -> Result<usize, DbError> {
        /// The advisory lock key of oxistack's migrations ("oxistack" in ASCII); one key
        /// for every service, so migrations of one database never run side by side.
        const MIGRATION_LOCK: i64 = 0x6f78_6973_7461_636b;
        let mut sorted: Vec<&Migration> = migrations.iter().collect();
        sorted.sort_by_key(|m| m.version);
        let mut count = 0;
        loop {
            let mut tx = match self.engine {
                Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
                Engine::Postgres => {
                    let mut tx = self.pool.begin().await?;
                    // The outer SELECT gives a column the Any driver can decode
                    // (pg_advisory_xact_lock returns `void`).
                    sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock($1)) AS l")
                        .bind(MIGRATION_LOCK)
                        .execute(&mut *tx)
                        .await?;
                    tx
                }
            };
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (service TEXT NOT NULL, version BIGINT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (service, version))",
            )
            .await?;
            let applied: Vec<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE service = $1")
                    .bind(service)
                    .fetch_all(&mut *tx)
                    .await?;
            let Some(m) = sorted.iter().find(|m| !applied.contains(&m.version)) else {
                tx.commit().await?;
                return Ok(count);
            };
            let err = |source| DbError::Migration {
                service: service.into(),
                version: m.version,
                name: m.name.into(),
                source,
            };
            for stmt in m.sql.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
                tx.execute(stmt).await.map_err(err)?;
            }
            sqlx::query(
                "INSERT INTO schema_migrations (service, version, name) VALUES ($1, $2, $3)",
            )
            .bind(service)
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
            tx.commit().await?;
            count += 1;
            tracing::info!(
                service,
                version = m.version,
                name = m.name,
                "applied migration"
            );
        }
    }

    /// The latest applied version of each service's schema.
    pub async fn versions(&self) -> Result<Vec<(String, i64)>, DbError> {
        let rows = sqlx::query_as::<_, (String, i64)>(
            "SELECT service, MAX(version) FROM schema_migrations GROUP BY service ORDER BY service",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Fresh databases for tests: every test gets its own, on SQLite always and on PostgreSQL
/// too when `OXISTACK_TEST_PG_URL` names a server (the test command starts one).
pub mod testing {
    use super::*;

    /// A SQLite database in a new temporary directory (removed by the OS's tmp cleaning;
    /// tests that care remove it themselves).
    pub async fn sqlite() -> Db {
        let dir = std::env::temp_dir().join(format!("oxi-test-{}", uuid_like()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Db::connect(&format!("sqlite://{}/test.db", dir.display()), 4)
            .await
            .expect("sqlite")
    }

    /// Whether a test must have every engine, broker and tool it uses (under
    /// `scripts/test`, which sets `OXISTACK_TEST_REQUIRE`, and under CI): then a missing
    /// one fails the test. In a bare `cargo test` the part needing it is skipped, saying so.
    pub fn required() -> bool {
        ["CI", "OXISTACK_TEST_REQUIRE"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
    }

    /// Fail (when [`required`]) or say by name that this test skips what needs `what`.
    pub fn missing(what: &str) {
        let test = std::thread::current()
            .name()
            .unwrap_or("this test")
            .to_owned();
        if required() {
            panic!("{test}: {what} (scripts/test provides it)");
        }
        eprintln!("SKIPPED in {test}: {what} (scripts/test provides it)");
    }

    /// A new, empty database on the PostgreSQL server of `OXISTACK_TEST_PG_URL`. When it
    /// is not set: a failure under `scripts/test` and CI, else `None` and a skip notice.
    pub async fn postgres() -> Option<Db> {
        let Some(url) = std::env::var("OXISTACK_TEST_PG_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            missing("no PostgreSQL: OXISTACK_TEST_PG_URL is not set");
            return None;
        };
        let admin = Db::connect(&url, 1)
            .await
            .expect("cannot reach OXISTACK_TEST_PG_URL");
        let name = format!("oxi_test_{}", uuid_like());
        admin
            .pool
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        admin.pool.close().await;
        let base = match url.rfind('/') {
            Some(i) if i > url.find("://").map(|j| j + 2).unwrap_or(0) => &url[..i],
            _ => url.as_str(),
        };
        let (base, query) = match url.split_once('?') {
            Some((_, q)) => (base.split('?').next().unwrap_or(base), format!("?{q}")),
            None => (base, String::new()),
        };
        Some(
            Db::connect(&format!("{base}/{name}{query}"), 4)
                .await
                .expect("connect to test database"),
        )
    }

    /// Every engine available to this test run: SQLite, then PostgreSQL when configured.
    pub async fn engines() -> Vec<Db> {
        let mut v = vec![sqlite().await];
        v.extend(postgres().await);
        v
    }

    fn uuid_like() -> String {
        use std::time::{SystemTime, UNIX_EPOCH};
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!(
            "{}_{}_{}",
            std::process::id(),
            t,
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )
    }
}

/// Booleans are stored as 0/1.
pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &[Migration] = &[
        Migration { version: 1, name: "t", sql: "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL);\nCREATE INDEX t_n ON t (n)" },
        Migration { version: 2, name: "u", sql: "ALTER TABLE t ADD COLUMN extra TEXT" },
    ];

    #[tokio::test]
    async fn migrations_apply_once() {
        let dir = std::env::temp_dir().join(format!("oxi-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/t.db", dir.display());
        let db = Db::connect(&url, 2).await.unwrap();
        assert_eq!(db.migrate("svc", M).await.unwrap(), 2);
        assert_eq!(db.migrate("svc", M).await.unwrap(), 0);
        sqlx::query("INSERT INTO t (id, n, extra) VALUES ($1, $2, $3)")
            .bind("a")
            .bind(flag(true))
            .bind("x")
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(db.versions().await.unwrap(), vec![("svc".to_owned(), 2)]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Migrations whose double application would show: v3 inserts a row.
    const COUNTED: &[Migration] = &[
        Migration {
            version: 1,
            name: "t",
            sql: "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL)",
        },
        Migration {
            version: 2,
            name: "u",
            sql: "ALTER TABLE t ADD COLUMN extra TEXT",
        },
        Migration {
            version: 3,
            name: "row",
            sql: "INSERT INTO t (id, n) VALUES ('only', 1)",
        },
    ];

    /// Many processes migrating one database at once (simulated by separate pools, each
    /// with its own connections): every call succeeds and each migration runs once.
    async fn concurrent_migrations_apply_once(db: Db) {
        const PROCESSES: usize = 8;
        let url = db.pool.connect_options().database_url.to_string();
        let mut pools = Vec::new();
        for _ in 0..PROCESSES {
            pools.push(Db::connect(&url, 2).await.unwrap());
        }
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(PROCESSES));
        let calls: Vec<_> = pools
            .into_iter()
            .map(|p| {
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    p.migrate("svc", COUNTED).await
                })
            })
            .collect();
        let mut applied = 0;
        for call in calls {
            applied += call.await.unwrap().unwrap();
        }
        assert_eq!(applied, COUNTED.len(), "{:?}", db.engine);
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(rows, 1);
        let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(recorded, 3);
        assert_eq!(db.versions().await.unwrap(), vec![("svc".to_owned(), 3)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_migrations_sqlite() {
        concurrent_migrations_apply_once(testing::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_migrations_postgres() {
        let Some(db) = testing::postgres().await else {
            if std::env::var_os("CI").is_some() {
                panic!("OXISTACK_TEST_PG_URL is not set under CI");
            }
            eprintln!("concurrent_migrations_postgres: SKIPPED, OXISTACK_TEST_PG_URL is not set");
            return;
        };
        concurrent_migrations_apply_once(db).await;
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://u:p@h/db"), "postgres://***@h/db");
    }
}

//! Typed ids in the database, loud row decoding and the sqlx error classification, on
//! every engine of the test run (SQLite; PostgreSQL under `scripts/test`).

use db::{testing, Columns, Db, Migration};
use types::{kind, Error, ErrorKind, Id, ImageId, ProjectId};

const U: &str = "6f1e2b9c-3a4d-4e5f-8a7b-0c1d2e3f4a5b";

const SCHEMA: &[Migration] = &[Migration {
    version: 1,
    name: "t",
    sql: "CREATE TABLE t (id TEXT PRIMARY KEY, owner TEXT, flag BIGINT, size BIGINT, status TEXT)",
}];

async fn each_engine(f: impl AsyncFn(Db)) {
    for db in testing::engines().await {
        db.migrate("test", SCHEMA).await.expect("migrate");
        f(db).await;
    }
}

/// Insert a row with raw text, as drifted or hand-edited data would be.
async fn insert(db: &Db, id: &str, owner: Option<&str>, flag: i64, size: i64, status: &str) {
    sqlx::query("INSERT INTO t (id, owner, flag, size, status) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(owner)
        .bind(flag)
        .bind(size)
        .bind(status)
        .execute(&db.pool)
        .await
        .expect("insert");
}

async fn row(db: &Db, id: &str) -> sqlx::any::AnyRow {
    sqlx::query("SELECT id, owner, flag, size, status FROM t WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("row")
}

#[tokio::test]
async fn ids_round_trip_normalized() {
    each_engine(async |db| {
        let id: ImageId = U.to_uppercase().parse().unwrap();
        let owner: ProjectId = "default".parse().unwrap();
        sqlx::query(
            "INSERT INTO t (id, owner, flag, size, status) VALUES ($1, $2, 1, 0, 'active')",
        )
        .bind(&id)
        .bind(Some(&owner))
        .execute(&db.pool)
        .await
        .unwrap();
        // Stored in the normalized form: the lower-case text finds it.
        let r = row(&db, U).await;
        let c = Columns::new("t", &r);
        assert_eq!(c.get::<ImageId>("id").unwrap(), id);
        assert_eq!(c.get::<Option<ProjectId>>("owner").unwrap(), Some(owner));
        assert_eq!(
            db::get::<Id<kind::Image>>(&r, "t", "id").unwrap().as_str(),
            U
        );
        // A second spelling of the same UUID is the same key.
        let again: ImageId = U.parse().unwrap();
        let err: Error = sqlx::query("INSERT INTO t (id) VALUES ($1)")
            .bind(&again)
            .execute(&db.pool)
            .await
            .unwrap_err()
            .into();
        assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.report());
    })
    .await;
}

/// Each failure names `t.<column>` in the log and hides it from the user.
#[tokio::test]
async fn drifted_rows_fail_loudly() {
    each_engine(async |db| {
        insert(&db, "not-a-uuid", None, 2, -1, "actve").await;
        let r = row(&db, "not-a-uuid").await;
        let c = Columns::new("t", &r);
        let check = |res: Result<(), Error>, want: &[&str]| {
            let e = res.expect_err("must fail");
            assert_eq!(e.kind, ErrorKind::Internal);
            assert!(!e.message.contains("reading"), "{}", e.message);
            let log = e.report().to_string();
            for w in want {
                assert!(log.contains(w), "{log:?} lacks {w:?}");
            }
        };
        check(
            c.get::<ImageId>("id").map(drop),
            &["reading t.id", "invalid image id \"not-a-uuid\""],
        );
        check(
            c.get::<String>("owner").map(drop),
            &["reading t.owner", "Null"],
        );
        check(
            c.get::<String>("missing").map(drop),
            &["reading t.missing", "missing"],
        );
        check(
            c.flag("flag").map(drop),
            &["reading t.flag: stored value 2: not a 0/1 flag"],
        );
        check(
            c.int::<u64>("size").map(drop),
            &["reading t.size: stored value -1: out of range for u64"],
        );
        check(
            c.parse::<Status>("status").map(drop),
            &["reading t.status: stored value \"actve\": unknown status"],
        );
        check(
            c.parse_opt::<Status>("status").map(drop),
            &["reading t.status"],
        );
    })
    .await;
}

#[tokio::test]
async fn well_formed_rows_decode() {
    each_engine(async |db| {
        insert(&db, U, None, 1, 5, "active").await;
        let r = row(&db, U).await;
        let c = Columns::new("t", &r);
        assert!(c.flag("flag").unwrap());
        assert_eq!(c.int::<u64>("size").unwrap(), 5);
        assert_eq!(c.parse::<Status>("status").unwrap(), Status::Active);
        assert_eq!(
            c.parse_opt::<Status>("status").unwrap(),
            Some(Status::Active)
        );
        assert_eq!(c.parse_opt::<Status>("owner").unwrap(), None);
        assert_eq!(c.get::<Option<String>>("owner").unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn sqlx_errors_keep_their_cause() {
    each_engine(async |db| {
        let check = |e: sqlx::Error, kind: ErrorKind, cause: &str| {
            let e = Error::from(e);
            assert_eq!(e.kind, kind, "{}", e.report());
            assert!(e.report().to_string().contains(cause), "{}", e.report());
            assert!(
                cause.is_empty() || !e.message.contains(cause),
                "{}",
                e.message
            );
        };
        let none = sqlx::query("SELECT id FROM t WHERE id = 'x'")
            .fetch_one(&db.pool)
            .await
            .map(drop);
        check(none.unwrap_err(), ErrorKind::NotFound, "no rows");
        insert(&db, "dup", None, 0, 0, "active").await;
        let dup = sqlx::query("INSERT INTO t (id) VALUES ('dup')")
            .execute(&db.pool)
            .await;
        check(dup.unwrap_err(), ErrorKind::Conflict, "");
        // The engines word a unique violation differently; the cause is still there.
        let dup = sqlx::query("INSERT INTO t (id) VALUES ('dup')")
            .execute(&db.pool)
            .await;
        assert!(Error::from(dup.unwrap_err()).chain().count() >= 2);
        let bad = sqlx::query("SELECT nope FROM t")
            .fetch_all(&db.pool)
            .await
            .map(drop);
        check(bad.unwrap_err(), ErrorKind::Internal, "nope");
        db.pool.close().await;
        let closed = sqlx::query("SELECT 1").execute(&db.pool).await;
        check(closed.unwrap_err(), ErrorKind::Unavailable, "closed");
    })
    .await;
}

#[derive(Debug, PartialEq)]
enum Status {
    Active,
}

impl std::str::FromStr for Status {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Status::Active),
            _ => Err("unknown status"),
        }
    }
}

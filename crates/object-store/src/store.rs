//! Every SQL statement of the service: the listing databases.
//!
//! Swift keeps no central database. Each account has a small SQLite file on each device
//! of its partition (`<device>/accounts/<partition>/<hash>/account.db`) holding the
//! account's metadata, its containers (metadata, ACLs) and the listing rows of their
//! objects; the proxy updates every replica and reads one. One file per account (rather
//! than Swift's file per container as well) makes "a container may be deleted only when
//! empty" and the account's totals single transactions of one file.
//!
//! A file that vanished (a wiped device) is not recreated by updates: only creating the
//! account does, so a replica that lost its file answers "nothing here" instead of an
//! empty listing that looks complete.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    str::FromStr,
};

use api_common::Error;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    ConnectOptions, Row, SqlitePool,
};

use crate::model::{
    AccountInfo, ContainerEntry, ContainerInfo, ContainerUpdate, ListQuery, Meta, ObjectEntry,
    Timestamp,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    created TEXT NOT NULL,
    put_timestamp TEXT NOT NULL,
    meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    name TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    put_timestamp TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    meta TEXT NOT NULL,
    read_acl TEXT NOT NULL,
    write_acl TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    ts TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (container, name)
);
";

/// A listing row of an object, as the proxy records it after a write.
#[derive(Debug, Clone)]
pub struct ObjectRow {
    pub name: String,
    pub ts: Timestamp,
    pub size: u64,
    pub content_type: String,
    pub etag: String,
}

type Conn = SqlitePool;

/// The open account databases of this process.
#[derive(Default)]
pub struct Tables {
    open: tokio::sync::Mutex<HashMap<PathBuf, Conn>>,
}

fn db_err(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::internal_from(e)
}

fn meta_json(m: &Meta) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

fn parse_meta(s: &str) -> Meta {
    serde_json::from_str(s).unwrap_or_default()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or_default()
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Tables {
    /// The connection to the account database at `path`; `None` when the file is not
    /// there and `create` is false.
    async fn conn(&self, path: &Path, create: bool) -> Result<Option<Conn>, Error> {
        // one pool per file: opening is serialized, so two requests never race to
        // create the same file's schema
        let mut open = self.open.lock().await;
        let exists = tokio::fs::try_exists(path).await.unwrap_or(false);
        if !exists {
            // a cached connection to a deleted file would write to nothing anyone reads
            if let Some(old) = open.remove(path) {
                old.close().await;
            }
            if !create {
                return Ok(None);
            }
        } else if let Some(c) = open.get(path) {
            return Ok(Some(c.clone()));
        }
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(db_err)?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(db_err)?
            .create_if_missing(create)
            .disable_statement_logging()
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10));
        // one connection: SQLite serializes writers anyway
        let c = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(db_err)?;
        sqlx::raw_sql(SCHEMA).execute(&c).await.map_err(db_err)?;
        open.insert(path.to_owned(), c.clone());
        Ok(Some(c))
    }

    /// Create the account's database (idempotent).
    pub async fn account_create(&self, path: &Path, now: Timestamp) -> Result<(), Error> {
        let c = self.conn(path, true).await?.expect("created");
        sqlx::query(
            "INSERT INTO account (id, created, put_timestamp, meta) VALUES (1, $1, $1, '{}')
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(now.normal())
        .execute(&c)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// The account's totals and metadata; `None` when this replica has no database.
    pub async fn account_info(&self, path: &Path) -> Result<Option<AccountInfo>, Error> {
        let Some(c) = self.conn(path, false).await? else {
            return Ok(None);
        };
        let Some(row) = sqlx::query("SELECT created, put_timestamp, meta FROM account")
            .fetch_optional(&c)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let totals = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM containers), COUNT(*), COALESCE(SUM(size), 0) FROM objects",
        )
        .fetch_one(&c)
        .await
        .map_err(db_err)?;
        Ok(Some(AccountInfo {
            container_count: count(totals.get(0)),
            object_count: count(totals.get(1)),
            bytes_used: count(totals.get(2)),
            meta: parse_meta(row.get("meta")),
            created: ts(row.get("created")),
            put_timestamp: ts(row.get("put_timestamp")),
        }))
    }

    /// Merge `update` into the account's metadata (empty values remove). `false` when
    /// this replica has no database.
    pub async fn account_post(&self, path: &Path, update: &Meta) -> Result<bool, Error> {
        let Some(c) = self.conn(path, false).await? else {
            return Ok(false);
        };
        let mut tx = c.begin().await.map_err(db_err)?;
        let Some(row) = sqlx::query("SELECT meta FROM account")
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
        else {
            return Ok(false);
        };
        let mut meta = parse_meta(row.get("meta"));
        merge(&mut meta, update);
        sqlx::query("UPDATE account SET meta = $1")
            .bind(meta_json(&meta))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    /// Create a container or update an existing one; `Some(true)` when it was created,
    /// `None` when this replica has no database.
    pub async fn container_put(
        &self,
        path: &Path,
        name: &str,
        now: Timestamp,
        update: &ContainerUpdate,
    ) -> Result<Option<bool>, Error> {
        self.container_write(path, name, Some(now), update).await
    }

    /// Update an existing container's metadata and ACLs; `Some(false)` when it does not
    /// exist, `None` when this replica has no database.
    pub async fn container_post(
        &self,
        path: &Path,
        name: &str,
        update: &ContainerUpdate,
    ) -> Result<Option<bool>, Error> {
        Ok(self
            .container_write(path, name, None, update)
            .await?
            .map(|created| !created))
    }

    /// Apply `update` to a container; one that does not exist is made when `put` (its
    /// time) is given. `Some(true)`: it was made; `Some(false)`: it existed (or, without
    /// `put`, does not exist: nothing written).
    async fn container_write(
        &self,
        path: &Path,
        name: &str,
        put: Option<Timestamp>,
        update: &ContainerUpdate,
    ) -> Result<Option<bool>, Error> {
        let Some(c) = self.conn(path, false).await? else {
            return Ok(None);
        };
        let mut tx = c.begin().await.map_err(db_err)?;
        let existing = container_settings(&mut tx, name).await?;
        let missing = existing.is_none();
        if missing && put.is_none() {
            return Ok(Some(true));
        }
        let (meta, read, write) = merged(existing, update);
        let sql = if put.is_some() {
            "INSERT INTO containers (name, created, put_timestamp, last_modified, meta, read_acl, write_acl)
             VALUES ($1, $2, $2, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET put_timestamp = $2, meta = $3, read_acl = $4, write_acl = $5"
        } else {
            "UPDATE containers SET meta = $3, read_acl = $4, write_acl = $5 WHERE name = $1"
        };
        sqlx::query(sql)
            .bind(name)
            .bind(put.unwrap_or_default().normal())
            .bind(meta)
            .bind(read)
            .bind(write)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(missing))
    }

    /// A container's totals, metadata and ACLs.
    pub async fn container_info(
        &self,
        path: &Path,
        name: &str,
    ) -> Result<Option<ContainerInfo>, Error> {
        let Some(c) = self.conn(path, false).await? else {
            return Ok(None);
        };
        let Some(r) = sqlx::query(
            "SELECT c.created, c.put_timestamp, c.last_modified, c.meta, c.read_acl, c.write_acl,
                    (SELECT COUNT(*) FROM objects o WHERE o.container = c.name) AS n,
                    (SELECT COALESCE(SUM(size), 0) FROM objects o WHERE o.container = c.name) AS b
             FROM containers c WHERE c.name = $1",
        )
        .bind(name)
        .fetch_optional(&c)
        .await
        .map_err(db_err)?
        else {
            return Ok(None);
        };
        Ok(Some(ContainerInfo {
            name: name.to_owned(),
            object_count: count(r.get("n")),
            bytes_used: count(r.get("b")),
            meta: parse_meta(r.get("meta")),
            read_acl: r.get("read_acl"),
            write_acl: r.get("write_acl"),
            created: ts(r.get("created")),
            put_timestamp: ts(r.get("put_timestamp")),
            last_modified: ts(r.get("last_modified")),
        }))
    }

    /// Delete an empty container. `Ok(None)`: no database here; `Ok(Some(false))`: no
    /// such container; a conflict when it holds objects.
    pub async fn container_delete(&self, path: &Path, name: &str) -> Result<Option<bool>, Error> {
        let Some(c) = self.conn(path, false).await? else {
            return Ok(None);
        };
        let mut tx = c.begin().await.map_err(db_err)?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM objects WHERE container = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM containers WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Ok(Some(false));
        }
        if n > 0 {
            return Err(Error::conflict(
                "There was a conflict when trying to complete your request.",
            ));
        }
        sqlx::query("DELETE FROM containers WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(true))
    }

    /// Record an object's listing row (a newer row wins). `false` when this replica has
    /// no database or no such container.
    pub async fn object_put(
        &self,
        path: &Path,
        container: &str,
        row: &ObjectRow,
    ) -> Result<bool, Error> {
        let Some(c) = self.conn(path, false).await? else {
            return Ok(false);
        };
        let mut tx = c.begin().await.map_err(db_err)?;
        let done = sqlx::query(
            "UPDATE containers SET last_modified = $2 WHERE name = $1 AND last_modified < $2",
        )
        .bind(container)
        .bind(row.ts.normal())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let _ = done;
        sqlx::query(
            "INSERT INTO objects (container, name, ts, size, content_type, etag)
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM containers WHERE name = $1)
             ON CONFLICT (container, name) DO UPDATE
             SET ts = excluded.ts, size = excluded.size, content_type = excluded.content_type,
                 etag = excluded.etag
             WHERE excluded.ts > objects.ts",
        )
        .bind(container)
        .bind(&row.name)
        .bind(row.ts.normal())
        .bind(i64::try_from(row.size).unwrap_or(i64::MAX))
        .bind(&row.content_type)
        .bind(&row.etag)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    /// Remove an object's listing row if older than `ts`.
    pub async fn object_delete(
        &self,
        path: &Path,
        container: &str,
        name: &str,
        ts: Timestamp,
    ) -> Result<bool, Error> {
        let Some(c) = self.conn(path, false).await? else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM objects WHERE container = $1 AND name = $2 AND ts < $3")
            .bind(container)
            .bind(name)
            .bind(ts.normal())
            .execute(&c)
            .await
            .map_err(db_err)?;
        Ok(true)
    }

    /// A page of the account's containers.
    pub async fn list_containers(
        &self,
        path: &Path,
        q: &ListQuery,
    ) -> Result<Option<Vec<ContainerEntry>>, Error> {
        let Some(c) = self.conn(path, false).await? else {
            return Ok(None);
        };
        let order = if q.reverse { "DESC" } else { "ASC" };
        let rows = listing(
            &c,
            q,
            |bounds, limit| {
                let sql = format!(
                    "SELECT c.name, c.last_modified,
                            (SELECT COUNT(*) FROM objects o WHERE o.container = c.name) AS n,
                            (SELECT COALESCE(SUM(size), 0) FROM objects o WHERE o.container = c.name) AS b
                     FROM containers c WHERE 1 = 1{} ORDER BY c.name {order} LIMIT {limit}",
                    bounds.sql("c.name"),
                );
                (sql, bounds.binds())
            },
            |r| ContainerEntry::Container {
                name: r.get("name"),
                count: count(r.get("n")),
                bytes: count(r.get("b")),
                last_modified: ts(r.get("last_modified")),
            },
        )
        .await?;
        Ok(Some(
            rows.into_iter()
                .map(|e| match e {
                    Listed::Row(r) => r,
                    Listed::Subdir(d) => ContainerEntry::Subdir(d),
                })
                .collect(),
        ))
    }

    /// A page of a container's objects.
    pub async fn list_objects(
        &self,
        path: &Path,
        container: &str,
        q: &ListQuery,
    ) -> Result<Option<Vec<ObjectEntry>>, Error> {
        let Some(c) = self.conn(path, false).await? else {
            return Ok(None);
        };
        let order = if q.reverse { "DESC" } else { "ASC" };
        let rows = listing(
            &c,
            q,
            |bounds, limit| {
                let sql = format!(
                    "SELECT name, ts, size, content_type, etag FROM objects WHERE container = ?{}
                     ORDER BY name {order} LIMIT {limit}",
                    bounds.sql("name"),
                );
                let mut binds = vec![container.to_owned()];
                binds.extend(bounds.binds());
                (sql, binds)
            },
            |r| ObjectEntry::Object {
                name: r.get("name"),
                bytes: count(r.get("size")),
                content_type: r.get("content_type"),
                hash: r.get("etag"),
                last_modified: ts(r.get("ts")),
            },
        )
        .await?;
        Ok(Some(
            rows.into_iter()
                .map(|e| match e {
                    Listed::Row(r) => r,
                    Listed::Subdir(d) => ObjectEntry::Subdir(d),
                })
                .collect(),
        ))
    }
}

/// A container's metadata and ACLs, as stored.
async fn container_settings(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    name: &str,
) -> Result<Option<(Meta, String, String)>, Error> {
    let row = sqlx::query("SELECT meta, read_acl, write_acl FROM containers WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(row.map(|r| {
        (
            parse_meta(r.get("meta")),
            r.get("read_acl"),
            r.get("write_acl"),
        )
    }))
}

/// A container's settings with `update` applied: (metadata as JSON, read ACL, write ACL).
fn merged(
    existing: Option<(Meta, String, String)>,
    update: &ContainerUpdate,
) -> (String, String, String) {
    let (mut meta, read, write) = existing.unwrap_or_default();
    merge(&mut meta, &update.meta);
    (
        meta_json(&meta),
        update.read_acl.clone().unwrap_or(read),
        update.write_acl.clone().unwrap_or(write),
    )
}

/// `update` applied to `meta`: an empty value removes the name.
fn merge(meta: &mut Meta, update: &Meta) {
    for (k, v) in update {
        if v.is_empty() {
            meta.remove(k);
        } else {
            meta.insert(k.clone(), v.clone());
        }
    }
}

/// The bounds of one listing query, as SQL over a name column (`?` placeholders).
#[derive(Debug, Clone, Default)]
struct Bounds {
    /// (value, inclusive)
    lower: Option<(String, bool)>,
    upper: Option<String>,
    prefix: String,
}

impl Bounds {
    fn sql(&self, col: &str) -> String {
        let mut s = String::new();
        if let Some((_, inclusive)) = &self.lower {
            s.push_str(&format!(
                " AND {col} {} ?",
                if *inclusive { ">=" } else { ">" }
            ));
        }
        if self.upper.is_some() {
            s.push_str(&format!(" AND {col} < ?"));
        }
        if !self.prefix.is_empty() {
            s.push_str(&format!(
                " AND {col} >= ? AND substr({col}, 1, length(?)) = ?"
            ));
        }
        s
    }

    fn binds(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some((l, _)) = &self.lower {
            v.push(l.clone());
        }
        if let Some(u) = &self.upper {
            v.push(u.clone());
        }
        if !self.prefix.is_empty() {
            v.extend([
                self.prefix.clone(),
                self.prefix.clone(),
                self.prefix.clone(),
            ]);
        }
        v
    }
}

enum Listed<T> {
    Row(T),
    Subdir(String),
}

trait Named {
    fn listed_name(&self) -> &str;
}

impl Named for ContainerEntry {
    fn listed_name(&self) -> &str {
        self.name()
    }
}

impl Named for ObjectEntry {
    fn listed_name(&self) -> &str {
        self.name()
    }
}

/// Swift's listing walk: pages of rows within (marker, end_marker) and the prefix; with
/// a delimiter, names with the delimiter after the prefix fold into one `subdir` and
/// the walk skips past them.
async fn listing<T: Named>(
    c: &SqlitePool,
    q: &ListQuery,
    sql: impl Fn(&Bounds, usize) -> (String, Vec<String>),
    map: impl Fn(sqlx::sqlite::SqliteRow) -> T,
) -> Result<Vec<Listed<T>>, Error> {
    let mut out = Vec::new();
    // forward: names above `marker`, below `end_marker`; reverse: the other way round
    let (mut lower, mut upper) = if q.reverse {
        (
            (!q.end_marker.is_empty()).then(|| (q.end_marker.clone(), false)),
            (!q.marker.is_empty()).then(|| q.marker.clone()),
        )
    } else {
        (
            (!q.marker.is_empty()).then(|| (q.marker.clone(), false)),
            (!q.end_marker.is_empty()).then(|| q.end_marker.clone()),
        )
    };
    while out.len() < q.limit {
        let want = q.limit - out.len();
        let bounds = Bounds {
            lower: lower.clone(),
            upper: upper.clone(),
            prefix: q.prefix.clone(),
        };
        let (text, binds) = sql(&bounds, want);
        let mut query = sqlx::query(&text);
        for b in binds {
            query = query.bind(b);
        }
        let rows: Vec<T> = query
            .fetch_all(c)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(&map)
            .collect();
        let got = rows.len();
        let mut folded = false;
        for row in rows {
            let name = row.listed_name();
            let dir = q.delimiter.and_then(|d| {
                let rest = name.get(q.prefix.len()..)?;
                let i = rest.find(d)?;
                Some(format!("{}{}", q.prefix, &rest[..i + d.len_utf8()]))
            });
            match dir {
                Some(dir) => {
                    let d = q.delimiter.expect("a delimiter");
                    if q.reverse {
                        upper = Some(dir.clone());
                    } else {
                        let mut past = dir[..dir.len() - d.len_utf8()].to_owned();
                        past.push(char::from_u32(u32::from(d) + 1).unwrap_or(char::MAX));
                        lower = Some((past, true));
                    }
                    // the marker itself is not listed again
                    if dir != q.marker {
                        out.push(Listed::Subdir(dir));
                    }
                    folded = true;
                    break;
                }
                None => {
                    if q.reverse {
                        upper = Some(name.to_owned());
                    } else {
                        lower = Some((name.to_owned(), false));
                    }
                    out.push(Listed::Row(row));
                }
            }
        }
        if !folded && got < want {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(prefix: &str, delimiter: Option<char>, marker: &str, reverse: bool) -> ListQuery {
        ListQuery {
            prefix: prefix.into(),
            delimiter,
            marker: marker.into(),
            end_marker: String::new(),
            limit: 100,
            reverse,
        }
    }

    fn names(v: &[ObjectEntry]) -> Vec<String> {
        v.iter()
            .map(|e| match e {
                ObjectEntry::Object { name, .. } => name.clone(),
                ObjectEntry::Subdir(d) => format!("{d}(dir)"),
            })
            .collect()
    }

    #[tokio::test]
    async fn listings() {
        let dir = std::env::temp_dir().join(format!("oxistack-store-{}", uuid::Uuid::new_v4()));
        let path = dir.join("account.db");
        let t = Tables::default();
        assert!(t.account_info(&path).await.unwrap().is_none());
        t.account_create(&path, Timestamp(1)).await.unwrap();
        assert_eq!(
            t.container_put(&path, "c", Timestamp(2), &ContainerUpdate::default())
                .await
                .unwrap(),
            Some(true)
        );
        for (i, n) in ["a", "b/1", "b/2", "c", "d/x/1", "é"].iter().enumerate() {
            let row = ObjectRow {
                name: (*n).into(),
                ts: Timestamp(10 + i as u64),
                size: 2,
                content_type: "text/plain".into(),
                etag: "e".into(),
            };
            assert!(t.object_put(&path, "c", &row).await.unwrap());
        }
        let list = |q: ListQuery| {
            let t = &t;
            let path = &path;
            async move { names(&t.list_objects(path, "c", &q).await.unwrap().unwrap()) }
        };
        assert_eq!(
            list(q("", None, "", false)).await,
            ["a", "b/1", "b/2", "c", "d/x/1", "é"]
        );
        assert_eq!(
            list(q("", Some('/'), "", false)).await,
            ["a", "b/(dir)", "c", "d/(dir)", "é"]
        );
        assert_eq!(
            list(q("", Some('/'), "", true)).await,
            ["é", "d/(dir)", "c", "b/(dir)", "a"]
        );
        assert_eq!(list(q("b/", Some('/'), "", false)).await, ["b/1", "b/2"]);
        assert_eq!(list(q("d/", Some('/'), "", false)).await, ["d/x/(dir)"]);
        assert_eq!(list(q("", None, "b/2", false)).await, ["c", "d/x/1", "é"]);
        assert_eq!(list(q("", None, "c", true)).await, ["b/2", "b/1", "a"]);
        let mut limited = q("", Some('/'), "", false);
        limited.limit = 2;
        assert_eq!(list(limited.clone()).await, ["a", "b/(dir)"]);
        limited.marker = "b/".into();
        assert_eq!(list(limited).await, ["c", "d/(dir)"]);
        let mut ended = q("", None, "", false);
        ended.end_marker = "c".into();
        assert_eq!(list(ended).await, ["a", "b/1", "b/2"]);

        let info = t.container_info(&path, "c").await.unwrap().unwrap();
        assert_eq!((info.object_count, info.bytes_used), (6, 12));
        // a POST updates what exists, and makes nothing
        let mut update = ContainerUpdate {
            read_acl: Some(".r:*".into()),
            ..Default::default()
        };
        update.meta.insert("k".into(), "v".into());
        assert_eq!(
            t.container_post(&path, "c", &update).await.unwrap(),
            Some(true)
        );
        assert_eq!(
            t.container_post(&path, "nope", &update).await.unwrap(),
            Some(false)
        );
        assert!(t.container_info(&path, "nope").await.unwrap().is_none());
        let info = t.container_info(&path, "c").await.unwrap().unwrap();
        assert_eq!(
            (info.meta["k"].as_str(), info.read_acl.as_str()),
            ("v", ".r:*")
        );
        // a PUT of an existing container keeps what it does not name
        let again = ContainerUpdate::default();
        assert_eq!(
            t.container_put(&path, "c", Timestamp(5), &again)
                .await
                .unwrap(),
            Some(false)
        );
        assert_eq!(
            t.container_info(&path, "c")
                .await
                .unwrap()
                .unwrap()
                .read_acl,
            ".r:*"
        );
        assert!(t.container_delete(&path, "c").await.is_err());
        for n in ["a", "b/1", "b/2", "c", "d/x/1", "é"] {
            t.object_delete(&path, "c", n, Timestamp(100))
                .await
                .unwrap();
        }
        assert_eq!(t.container_delete(&path, "c").await.unwrap(), Some(true));
        assert_eq!(t.container_delete(&path, "c").await.unwrap(), Some(false));
        let a = t.account_info(&path).await.unwrap().unwrap();
        assert_eq!(a.container_count, 0);
        // a wiped replica stays wiped: updates do not recreate it
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(t.account_info(&path).await.unwrap().is_none());
        assert_eq!(
            t.container_put(&path, "c", Timestamp(3), &ContainerUpdate::default())
                .await
                .unwrap(),
            None
        );
        assert!(!path.exists());
    }
}

//! Queries built from parts, written once for both engines: filtered, ordered, limited
//! lists (`Select`), rows written whole (`Insert`), compare-and-set updates on a
//! `revision` column (`Update`), and the helpers every store repeats otherwise
//! ([`fetch_in`] for `IN (...)` over many ids, [`execute_each`] for cascades).
//!
//! Values are bound, never pasted into the SQL; only the column and table names (which
//! are `&'static str` in the callers) and fragments the caller writes are.

use sqlx::{
    any::{AnyArguments, AnyRow},
    query::Query,
    Any,
};

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::OptText(v)
    }
}
impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Value::OptText(v.clone())
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::OptInt(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(crate::flag(v))
    }
}
impl<K: types::Kind> From<&types::Id<K>> for Value {
    fn from(v: &types::Id<K>) -> Self {
        Value::Text(v.as_str().to_owned())
    }
}
impl<K: types::Kind> From<&Option<types::Id<K>>> for Value {
    fn from(v: &Option<types::Id<K>>) -> Self {
        Value::OptText(v.as_ref().map(|id| id.as_str().to_owned()))
    }
}

fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    values: &'q [Value],
) -> Query<'q, Any, AnyArguments<'q>> {
    for v in values {
        q = match v {
            Value::Text(s) => q.bind(s.as_str()),
            Value::OptText(s) => q.bind(s.as_deref()),
            Value::Int(i) => q.bind(*i),
            Value::OptInt(i) => q.bind(*i),
        };
    }
    q
}

/// A list query: `SELECT <columns> FROM <table> [WHERE ...] [ORDER BY ...] [LIMIT n+1]`.
#[derive(Debug, Clone)]
pub struct Select {
    columns: &'static str,
    table: &'static str,
    conds: Vec<String>,
    values: Vec<Value>,
    order: Option<&'static str>,
    limit: Option<usize>,
}

/// One page of a list: the rows, and whether the limit cut rows off.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub truncated: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            truncated: self.truncated,
        }
    }
}

impl Select {
    pub fn new(table: &'static str, columns: &'static str) -> Select {
        Select {
            columns,
            table,
            conds: Vec::new(),
            values: Vec::new(),
            order: None,
            limit: None,
        }
    }

    /// `column = value`.
    pub fn eq(self, column: &str, value: impl Into<Value>) -> Select {
        self.cond(&format!("{column} = ?"), [value.into()])
    }

    /// `column = value` when a value is given.
    pub fn eq_opt<V: Into<Value>>(self, column: &str, value: Option<V>) -> Select {
        match value {
            Some(v) => self.eq(column, v),
            None => self,
        }
    }

    /// A condition written by the caller with `?` where each value goes, in order
    /// (numbered `$n` here, so fragments compose).
    pub fn cond(mut self, sql: &str, values: impl IntoIterator<Item = Value>) -> Select {
        let mut out = String::with_capacity(sql.len() + 8);
        let mut values = values.into_iter();
        for ch in sql.chars() {
            if ch == '?' {
                let v = values.next().expect("fewer values than placeholders");
                self.values.push(v);
                out.push_str(&format!("${}", self.values.len()));
            } else {
                out.push(ch);
            }
        }
        assert!(values.next().is_none(), "more values than placeholders");
        self.conds.push(out);
        self
    }

    /// `?, ?, ...` for `n` values, for `IN (...)` in [`Select::cond`].
    pub fn placeholders(n: usize) -> String {
        vec!["?"; n].join(", ")
    }

    pub fn order_by(mut self, order: &'static str) -> Select {
        self.order = Some(order);
        self
    }

    /// At most `limit` rows (one more is fetched to tell whether the list was cut).
    pub fn limit(mut self, limit: Option<usize>) -> Select {
        self.limit = limit;
        self
    }

    pub fn sql(&self) -> String {
        let mut sql = format!("SELECT {} FROM {}", self.columns, self.table);
        if !self.conds.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.conds.join(" AND "));
        }
        if let Some(o) = self.order {
            sql.push_str(" ORDER BY ");
            sql.push_str(o);
        }
        if let Some(n) = self.limit {
            sql.push_str(&format!(" LIMIT {}", n.saturating_add(1)));
        }
        sql
    }

    /// Run the query and decode each row with `map` (which fails loudly on a bad row).
    pub async fn fetch<'e, T, E: From<sqlx::Error>>(
        &self,
        exec: impl sqlx::Executor<'e, Database = Any>,
        map: impl Fn(&AnyRow) -> Result<T, E>,
    ) -> Result<Page<T>, E> {
        let sql = self.sql();
        let rows = bind_all(sqlx::query(&sql), &self.values)
            .fetch_all(exec)
            .await?;
        let mut items = rows.iter().map(map).collect::<Result<Vec<T>, E>>()?;
        let truncated = self.limit.is_some_and(|n| items.len() > n);
        if let Some(n) = self.limit {
            items.truncate(n);
        }
        Ok(Page { items, truncated })
    }

    /// Run the query for at most one row (a lookup by key) and decode it with `map`.
    pub async fn fetch_optional<'e, T, E: From<sqlx::Error>>(
        &self,
        exec: impl sqlx::Executor<'e, Database = Any>,
        map: impl Fn(&AnyRow) -> Result<T, E>,
    ) -> Result<Option<T>, E> {
        let sql = self.sql();
        let row = bind_all(sqlx::query(&sql), &self.values)
            .fetch_optional(exec)
            .await?;
        row.as_ref().map(map).transpose()
    }
}

/// How many ids [`fetch_in`] binds in one statement.
const IN_CHUNK: usize = 500;

/// Rows of `sql` for many ids: `sql` has `{}` where the list of placeholders of a chunk
/// of `ids` goes (after the `lead` values, which every chunk binds first as `$1..`). One
/// statement runs per chunk of ids (none for no ids); every row is decoded with `map`.
pub async fn fetch_in<T, E: From<sqlx::Error>>(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
    lead: &[Value],
    ids: &[&str],
    mut map: impl FnMut(&AnyRow) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let list = (lead.len() + 1..=lead.len() + chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = sql.replace("{}", &list);
        let mut q = bind_all(sqlx::query(&sql), lead);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            out.push(map(&r)?);
        }
    }
    Ok(out)
}

/// Run each of `statements` with `id` as `$1`, in order (a delete and its cascade).
pub async fn execute_each(
    conn: &mut sqlx::AnyConnection,
    statements: &[&str],
    id: &str,
) -> Result<(), sqlx::Error> {
    for sql in statements {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

/// A row written whole: `INSERT INTO <table> (<columns>) VALUES ($1, ...)`, the values
/// in the order of the columns, with an optional `ON CONFLICT ...` clause.
#[derive(Debug, Clone)]
pub struct Insert {
    table: &'static str,
    columns: &'static str,
    values: Vec<Value>,
    on_conflict: Option<&'static str>,
}

impl Insert {
    pub fn new(table: &'static str, columns: &'static str, values: Vec<Value>) -> Insert {
        Insert {
            table,
            columns,
            values,
            on_conflict: None,
        }
    }

    /// What a conflict does: `"DO NOTHING"`, `"(a, b) DO UPDATE SET ..."`.
    pub fn on_conflict(mut self, clause: &'static str) -> Insert {
        self.on_conflict = Some(clause);
        self
    }

    pub fn sql(&self) -> String {
        let list = (1..=self.values.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ({list})",
            self.table, self.columns
        );
        if let Some(c) = self.on_conflict {
            sql.push_str(" ON CONFLICT ");
            sql.push_str(c);
        }
        sql
    }

    /// Write the row; how many rows were written (0 when a conflict did nothing).
    pub async fn execute<'e>(
        &self,
        exec: impl sqlx::Executor<'e, Database = Any>,
    ) -> Result<u64, sqlx::Error> {
        execute(exec, &self.sql(), &self.values).await
    }
}

/// Run `sql` with `values` bound as `$1, $2, ...`; how many rows it changed.
pub async fn execute<'e>(
    exec: impl sqlx::Executor<'e, Database = Any>,
    sql: &str,
    values: &[Value],
) -> Result<u64, sqlx::Error> {
    let r = bind_all(sqlx::query(sql), values).execute(exec).await?;
    Ok(r.rows_affected())
}

/// A compare-and-set update of one row: `UPDATE <table> SET ..., revision = revision + 1
/// WHERE id = $ AND revision = $`. It changes nothing when the row was changed since the
/// caller read `revision`: the caller then answers 409 instead of overwriting the other
/// writer's change.
#[derive(Debug, Clone)]
pub struct Update {
    table: &'static str,
    sets: Vec<&'static str>,
    values: Vec<Value>,
}

/// What a compare-and-set update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cas {
    /// The row was at the expected revision and is now at the next one.
    Done,
    /// The row is gone or at another revision: nothing was written.
    Stale,
}

impl Update {
    pub fn new(table: &'static str) -> Update {
        Update {
            table,
            sets: Vec::new(),
            values: Vec::new(),
        }
    }

    /// `column = value`.
    pub fn set(mut self, column: &'static str, value: impl Into<Value>) -> Update {
        self.sets.push(column);
        self.values.push(value.into());
        self
    }

    fn sql(&self) -> String {
        let mut sql = format!("UPDATE {} SET ", self.table);
        for (i, c) in self.sets.iter().enumerate() {
            sql.push_str(&format!("{c} = ${}, ", i + 1));
        }
        let n = self.sets.len();
        sql.push_str(&format!(
            "revision = revision + 1 WHERE id = ${} AND revision = ${}",
            n + 1,
            n + 2
        ));
        sql
    }

    /// Apply to the row `id` if it is still at `revision`.
    pub async fn apply<'e, X>(self, exec: X, id: &str, revision: i64) -> Result<Cas, sqlx::Error>
    where
        X: sqlx::Executor<'e, Database = Any>,
    {
        let sql = self.sql();
        let mut values = self.values;
        values.push(Value::Text(id.to_owned()));
        values.push(Value::Int(revision));
        let r = bind_all(sqlx::query(&sql), &values).execute(exec).await?;
        Ok(if r.rows_affected() == 1 {
            Cas::Done
        } else {
            Cas::Stale
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn sql_text() {
        let q = Select::new("t", "id, n")
            .eq("name", "a")
            .eq_opt::<i64>("n", None)
            .cond(
                &format!("id IN ({})", Select::placeholders(2)),
                ["x".into(), "y".into()],
            )
            .order_by("name")
            .limit(Some(5));
        assert_eq!(
            q.sql(),
            "SELECT id, n FROM t WHERE name = $1 AND id IN ($2, $3) ORDER BY name LIMIT 6"
        );
        assert_eq!(
            Update::new("t").set("a", 1).set("b", "x").sql(),
            "UPDATE t SET a = $1, b = $2, revision = revision + 1 WHERE id = $3 AND revision = $4"
        );
        assert_eq!(
            Insert::new("t", "id, n", vec!["a".into(), 1i64.into()])
                .on_conflict("DO NOTHING")
                .sql(),
            "INSERT INTO t (id, n) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
    }

    #[tokio::test]
    async fn lists_truncate_and_updates_compare() {
        for db in testing::engines().await {
            sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT, revision BIGINT NOT NULL DEFAULT 1)")
                .execute(&db.pool)
                .await
                .unwrap();
            for i in 0..5i64 {
                sqlx::query("INSERT INTO t (id, n) VALUES ($1, $2)")
                    .bind(format!("r{i}"))
                    .bind(i % 2)
                    .execute(&db.pool)
                    .await
                    .unwrap();
            }
            let ids = |p: &Page<String>| p.items.clone();
            let get = |r: &AnyRow| -> Result<String, sqlx::Error> { sqlx::Row::try_get(r, "id") };
            let q = Select::new("t", "id").order_by("id");
            let all = q.clone().fetch(&db.pool, get).await.unwrap();
            assert_eq!((all.items.len(), all.truncated), (5, false));
            let cut = q.clone().limit(Some(3)).fetch(&db.pool, get).await.unwrap();
            assert_eq!(
                (ids(&cut), cut.truncated),
                (vec!["r0".into(), "r1".into(), "r2".into()], true)
            );
            let exact = q.clone().limit(Some(5)).fetch(&db.pool, get).await.unwrap();
            assert!(!exact.truncated);
            let odd = q.eq("n", 1i64).fetch(&db.pool, get).await.unwrap();
            assert_eq!(ids(&odd), vec!["r1".to_owned(), "r3".into()]);
            // Two writers read revision 1; the second one finds it stale.
            let w = |note: &str| Update::new("t").set("note", Some(note.to_owned()));
            assert_eq!(w("a").apply(&db.pool, "r0", 1).await.unwrap(), Cas::Done);
            assert_eq!(w("b").apply(&db.pool, "r0", 1).await.unwrap(), Cas::Stale);
            assert_eq!(w("b").apply(&db.pool, "nope", 1).await.unwrap(), Cas::Stale);
            let (note, rev): (String, i64) =
                sqlx::query_as("SELECT note, revision FROM t WHERE id = 'r0'")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            assert_eq!((note.as_str(), rev), ("a", 2));
            // Whole rows, lookups by key, lists over many ids, cascades.
            let mut conn = db.pool.acquire().await.unwrap();
            let row = Insert::new(
                "t",
                "id, n, note",
                vec!["z".into(), 7i64.into(), Value::OptText(None)],
            )
            .on_conflict("DO NOTHING");
            assert_eq!(row.execute(&mut *conn).await.unwrap(), 1);
            assert_eq!(row.execute(&mut *conn).await.unwrap(), 0);
            let by_id = |id: &str| Select::new("t", "id").eq("id", id);
            let z = by_id("z").fetch_optional(&mut *conn, get).await.unwrap();
            assert_eq!(z.as_deref(), Some("z"));
            assert_eq!(
                by_id("y").fetch_optional(&mut *conn, get).await.unwrap(),
                None
            );
            let many: Vec<String> = (0..1200).map(|i| format!("r{i}")).collect();
            let many: Vec<&str> = many.iter().map(String::as_str).collect();
            let found = fetch_in(
                &mut conn,
                "SELECT id FROM t WHERE n = $1 AND id IN ({}) ORDER BY id",
                &[1i64.into()],
                &many,
                get,
            )
            .await
            .unwrap();
            assert_eq!(found, vec!["r1".to_owned(), "r3".into()]);
            execute_each(&mut conn, &["DELETE FROM t WHERE id = $1"; 2], "z")
                .await
                .unwrap();
            assert_eq!(
                by_id("z").fetch_optional(&mut *conn, get).await.unwrap(),
                None
            );
        }
    }
}

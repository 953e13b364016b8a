//! Every SQL statement of the Placement service, written once for SQLite and PostgreSQL
//! (see the db crate). Functions take a connection, so the app layer groups them in one
//! transaction ([`db::Db::begin_write`]); generations change only by compare-and-set
//! (`... WHERE generation = $n`), which is what keeps concurrent writers honest.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use db::Columns;
use sqlx::{any::AnyRow, AnyConnection};
use types::{Error, Result};

use crate::{
    candidates::{Node, Snapshot},
    model::*,
};

type Conn = AnyConnection;

/// Timestamps as stored: RFC 3339, UTC, microseconds (so they sort as text).
pub fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn placeholders(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ------------------------------------------------------------------ providers

const PROVIDER_COLUMNS: &str =
    "uuid, name, generation, parent_uuid, root_uuid, created_at, updated_at";

fn provider(r: &AnyRow) -> Result<Provider> {
    let c = Columns::new("placement_providers", r);
    Ok(Provider {
        uuid: c.parse("uuid")?,
        name: c.get("name")?,
        generation: c.get("generation")?,
        parent: c.parse_opt("parent_uuid")?,
        root: c.parse("root_uuid")?,
        created_at: c.parse("created_at")?,
        updated_at: c.parse("updated_at")?,
    })
}

pub async fn insert_provider(conn: &mut Conn, p: &Provider) -> Result<()> {
    sqlx::query(
        "INSERT INTO placement_providers (uuid, name, generation, parent_uuid, root_uuid, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(p.uuid.as_str())
    .bind(&p.name)
    .bind(p.generation)
    .bind(p.parent.as_ref().map(|u| u.as_str()))
    .bind(p.root.as_str())
    .bind(stamp(p.created_at))
    .bind(stamp(p.updated_at))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_provider(conn: &mut Conn, id: &ProviderId) -> Result<Option<Provider>> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM placement_providers WHERE uuid = $1");
    sqlx::query(&sql)
        .bind(id.as_str())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(provider)
        .transpose()
}

pub async fn provider_by_name(conn: &mut Conn, name: &str) -> Result<Option<Provider>> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM placement_providers WHERE name = $1");
    sqlx::query(&sql)
        .bind(name)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(provider)
        .transpose()
}

/// Providers, optionally of one name, one uuid, one tree; in creation order.
pub async fn list_providers(
    conn: &mut Conn,
    name: Option<&str>,
    uuid: Option<&ProviderId>,
    root: Option<&ProviderId>,
) -> Result<Vec<Provider>> {
    let mut conds = Vec::new();
    let mut values: Vec<String> = Vec::new();
    for (col, v) in [
        ("name", name.map(str::to_owned)),
        ("uuid", uuid.map(|u| u.to_string())),
        ("root_uuid", root.map(|u| u.to_string())),
    ] {
        if let Some(v) = v {
            values.push(v);
            conds.push(format!("{col} = ${}", values.len()));
        }
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let sql = format!(
        "SELECT {PROVIDER_COLUMNS} FROM placement_providers{filter} ORDER BY created_at, uuid"
    );
    let mut q = sqlx::query(&sql);
    for v in &values {
        q = q.bind(v.as_str());
    }
    q.fetch_all(conn).await?.iter().map(provider).collect()
}

/// Change a provider's name, parent and root (its generation is not a guard here, as in
/// placement).
pub async fn update_provider(conn: &mut Conn, p: &Provider) -> Result<()> {
    sqlx::query(
        "UPDATE placement_providers SET name = $1, parent_uuid = $2, root_uuid = $3, updated_at = $4 WHERE uuid = $5",
    )
    .bind(&p.name)
    .bind(p.parent.as_ref().map(|u| u.as_str()))
    .bind(p.root.as_str())
    .bind(stamp(p.updated_at))
    .bind(p.uuid.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Every provider under `id` (children, grandchildren...).
pub async fn descendants(conn: &mut Conn, id: &ProviderId) -> Result<Vec<ProviderId>> {
    let mut out = Vec::new();
    let mut todo = vec![id.clone()];
    while let Some(p) = todo.pop() {
        let rows = sqlx::query("SELECT uuid FROM placement_providers WHERE parent_uuid = $1")
            .bind(p.as_str())
            .fetch_all(&mut *conn)
            .await?;
        for r in rows {
            let child: ProviderId = Columns::new("placement_providers", &r).parse("uuid")?;
            todo.push(child.clone());
            out.push(child);
        }
    }
    Ok(out)
}

pub async fn set_root(conn: &mut Conn, id: &ProviderId, root: &ProviderId) -> Result<()> {
    sqlx::query("UPDATE placement_providers SET root_uuid = $1 WHERE uuid = $2")
        .bind(root.as_str())
        .bind(id.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// The compare-and-set of a provider's generation: `false` when it is not `expected`
/// (another writer got there first) or the provider is gone.
pub async fn bump_generation(conn: &mut Conn, id: &ProviderId, expected: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE placement_providers SET generation = generation + 1, updated_at = $1 WHERE uuid = $2 AND generation = $3",
    )
    .bind(stamp(Utc::now()))
    .bind(id.as_str())
    .bind(expected)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete_provider(conn: &mut Conn, id: &ProviderId) -> Result<()> {
    sqlx::query("DELETE FROM placement_providers WHERE uuid = $1")
        .bind(id.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn count_children(conn: &mut Conn, id: &ProviderId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM placement_providers WHERE parent_uuid = $1")
            .bind(id.as_str())
            .fetch_one(conn)
            .await?,
    )
}

// ------------------------------------------------------------------ inventories

fn inventory(c: &Columns) -> Result<Inventory> {
    Ok(Inventory {
        total: c.get("total")?,
        reserved: c.get("reserved")?,
        min_unit: c.get("min_unit")?,
        max_unit: c.get("max_unit")?,
        step_size: c.get("step_size")?,
        allocation_ratio: c.get("allocation_ratio")?,
    })
}

pub async fn inventories(conn: &mut Conn, id: &ProviderId) -> Result<Inventories> {
    let rows = sqlx::query(
        "SELECT resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio FROM placement_inventories WHERE provider_uuid = $1",
    )
    .bind(id.as_str())
    .fetch_all(conn)
    .await?;
    let mut out = Inventories::new();
    for r in &rows {
        let c = Columns::new("placement_inventories", r);
        out.insert(c.get("resource_class")?, inventory(&c)?);
    }
    Ok(out)
}

/// Create or replace one class of a provider's inventory.
pub async fn put_inventory(
    conn: &mut Conn,
    id: &ProviderId,
    rc: &str,
    inv: &Inventory,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO placement_inventories (provider_uuid, resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (provider_uuid, resource_class) DO UPDATE SET total = excluded.total, reserved = excluded.reserved, min_unit = excluded.min_unit, max_unit = excluded.max_unit, step_size = excluded.step_size, allocation_ratio = excluded.allocation_ratio, updated_at = excluded.updated_at",
    )
    .bind(id.as_str())
    .bind(rc)
    .bind(inv.total)
    .bind(inv.reserved)
    .bind(inv.min_unit)
    .bind(inv.max_unit)
    .bind(inv.step_size)
    .bind(inv.allocation_ratio)
    .bind(stamp(Utc::now()))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_inventory(conn: &mut Conn, id: &ProviderId, rc: &str) -> Result<bool> {
    let r = sqlx::query(
        "DELETE FROM placement_inventories WHERE provider_uuid = $1 AND resource_class = $2",
    )
    .bind(id.as_str())
    .bind(rc)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// What is allocated of each class on a provider.
pub async fn usages(conn: &mut Conn, id: &ProviderId) -> Result<Resources> {
    let rows = sqlx::query(
        "SELECT resource_class, CAST(SUM(used) AS BIGINT) AS used FROM placement_allocations WHERE provider_uuid = $1 GROUP BY resource_class",
    )
    .bind(id.as_str())
    .fetch_all(conn)
    .await?;
    let mut out = Resources::new();
    for r in &rows {
        let c = Columns::new("placement_allocations", r);
        out.insert(c.get("resource_class")?, c.get("used")?);
    }
    Ok(out)
}

// ------------------------------------------------------------------ resource classes

pub async fn custom_classes(conn: &mut Conn) -> Result<Vec<ResourceClass>> {
    let rows = sqlx::query("SELECT name, updated_at FROM placement_resource_classes ORDER BY name")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let c = Columns::new("placement_resource_classes", r);
            Ok(ResourceClass {
                name: c.get("name")?,
                updated_at: Some(c.parse("updated_at")?),
            })
        })
        .collect()
}

pub async fn custom_class(conn: &mut Conn, name: &str) -> Result<Option<ResourceClass>> {
    let row =
        sqlx::query("SELECT name, updated_at FROM placement_resource_classes WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    row.as_ref()
        .map(|r| {
            let c = Columns::new("placement_resource_classes", r);
            Ok(ResourceClass {
                name: c.get("name")?,
                updated_at: Some(c.parse("updated_at")?),
            })
        })
        .transpose()
}

/// Create a custom class; `false` when it exists.
pub async fn insert_class(conn: &mut Conn, name: &str) -> Result<bool> {
    let now = stamp(Utc::now());
    let r = sqlx::query(
        "INSERT INTO placement_resource_classes (name, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn rename_class(conn: &mut Conn, old: &str, new: &str) -> Result<()> {
    for sql in [
        "UPDATE placement_resource_classes SET name = $2 WHERE name = $1",
        "UPDATE placement_inventories SET resource_class = $2 WHERE resource_class = $1",
        "UPDATE placement_allocations SET resource_class = $2 WHERE resource_class = $1",
    ] {
        sqlx::query(sql)
            .bind(old)
            .bind(new)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn delete_class(conn: &mut Conn, name: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM placement_resource_classes WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn class_in_inventory(conn: &mut Conn, name: &str) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM placement_inventories WHERE resource_class = $1")
            .bind(name)
            .fetch_one(conn)
            .await?;
    Ok(n > 0)
}

// ------------------------------------------------------------------ traits

pub async fn custom_traits(conn: &mut Conn) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT name FROM placement_traits ORDER BY name")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn custom_trait_exists(conn: &mut Conn, name: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM placement_traits WHERE name = $1")
        .bind(name)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// Create a custom trait; `false` when it exists.
pub async fn insert_trait(conn: &mut Conn, name: &str) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO placement_traits (name, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(stamp(Utc::now()))
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete_trait(conn: &mut Conn, name: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM placement_traits WHERE name = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// The traits some provider has.
pub async fn associated_traits(conn: &mut Conn) -> Result<HashSet<String>> {
    let v: Vec<String> = sqlx::query_scalar("SELECT DISTINCT trait FROM placement_provider_traits")
        .fetch_all(conn)
        .await?;
    Ok(v.into_iter().collect())
}

pub async fn provider_traits(conn: &mut Conn, id: &ProviderId) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT trait FROM placement_provider_traits WHERE provider_uuid = $1 ORDER BY trait",
    )
    .bind(id.as_str())
    .fetch_all(conn)
    .await?)
}

pub async fn set_provider_traits(
    conn: &mut Conn,
    id: &ProviderId,
    traits: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM placement_provider_traits WHERE provider_uuid = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    for t in traits {
        sqlx::query("INSERT INTO placement_provider_traits (provider_uuid, trait) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id.as_str())
            .bind(t)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// ------------------------------------------------------------------ aggregates

pub async fn provider_aggregates(conn: &mut Conn, id: &ProviderId) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT aggregate_uuid FROM placement_provider_aggregates WHERE provider_uuid = $1 ORDER BY aggregate_uuid",
    )
    .bind(id.as_str())
    .fetch_all(conn)
    .await?)
}

pub async fn set_provider_aggregates(
    conn: &mut Conn,
    id: &ProviderId,
    aggregates: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM placement_provider_aggregates WHERE provider_uuid = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    for a in aggregates {
        sqlx::query("INSERT INTO placement_provider_aggregates (provider_uuid, aggregate_uuid) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id.as_str())
            .bind(a)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// ------------------------------------------------------------------ consumers

fn consumer(r: &AnyRow) -> Result<Consumer> {
    let c = Columns::new("placement_consumers", r);
    Ok(Consumer {
        uuid: c.get("uuid")?,
        project_id: c.get("project_id")?,
        user_id: c.get("user_id")?,
        generation: c.get("generation")?,
        consumer_type: c.get("consumer_type")?,
    })
}

pub async fn get_consumer(conn: &mut Conn, uuid: &str) -> Result<Option<Consumer>> {
    sqlx::query("SELECT uuid, project_id, user_id, generation, consumer_type FROM placement_consumers WHERE uuid = $1")
        .bind(uuid)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(consumer)
        .transpose()
}

/// Record a new consumer; `false` when another writer recorded it first.
pub async fn insert_consumer(conn: &mut Conn, c: &Consumer) -> Result<bool> {
    let now = stamp(Utc::now());
    let r = sqlx::query(
        "INSERT INTO placement_consumers (uuid, project_id, user_id, generation, consumer_type, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (uuid) DO NOTHING",
    )
    .bind(&c.uuid)
    .bind(&c.project_id)
    .bind(&c.user_id)
    .bind(c.generation)
    .bind(c.consumer_type.as_deref())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The compare-and-set of a consumer: its owner and type, the generation one up.
pub async fn update_consumer(conn: &mut Conn, c: &Consumer, expected: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE placement_consumers SET project_id = $1, user_id = $2, consumer_type = $3, generation = generation + 1, updated_at = $4 WHERE uuid = $5 AND generation = $6",
    )
    .bind(&c.project_id)
    .bind(&c.user_id)
    .bind(c.consumer_type.as_deref())
    .bind(stamp(Utc::now()))
    .bind(&c.uuid)
    .bind(expected)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Remove a consumer as of `generation` (its last allocations are gone); `false` when it
/// changed meanwhile.
pub async fn delete_consumer(conn: &mut Conn, uuid: &str, generation: i64) -> Result<bool> {
    let r = sqlx::query("DELETE FROM placement_consumers WHERE uuid = $1 AND generation = $2")
        .bind(uuid)
        .bind(generation)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

// ------------------------------------------------------------------ allocations

fn allocation(r: &AnyRow) -> Result<Allocation> {
    let c = Columns::new("placement_allocations", r);
    Ok(Allocation {
        consumer: c.get("consumer_uuid")?,
        provider: c.parse("provider_uuid")?,
        resource_class: c.get("resource_class")?,
        used: c.get("used")?,
    })
}

pub async fn consumer_allocations(conn: &mut Conn, uuid: &str) -> Result<Vec<Allocation>> {
    sqlx::query("SELECT consumer_uuid, provider_uuid, resource_class, used FROM placement_allocations WHERE consumer_uuid = $1 ORDER BY provider_uuid, resource_class")
        .bind(uuid)
        .fetch_all(conn)
        .await?
        .iter()
        .map(allocation)
        .collect()
}

pub async fn provider_allocations(conn: &mut Conn, id: &ProviderId) -> Result<Vec<Allocation>> {
    sqlx::query("SELECT consumer_uuid, provider_uuid, resource_class, used FROM placement_allocations WHERE provider_uuid = $1 ORDER BY consumer_uuid, resource_class")
        .bind(id.as_str())
        .fetch_all(conn)
        .await?
        .iter()
        .map(allocation)
        .collect()
}

pub async fn provider_has_allocations(conn: &mut Conn, id: &ProviderId) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM placement_allocations WHERE provider_uuid = $1")
            .bind(id.as_str())
            .fetch_one(conn)
            .await?;
    Ok(n > 0)
}

pub async fn delete_consumer_allocations(conn: &mut Conn, uuid: &str) -> Result<()> {
    sqlx::query("DELETE FROM placement_allocations WHERE consumer_uuid = $1")
        .bind(uuid)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_allocation(conn: &mut Conn, a: &Allocation) -> Result<()> {
    sqlx::query(
        "INSERT INTO placement_allocations (consumer_uuid, provider_uuid, resource_class, used, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&a.consumer)
    .bind(a.provider.as_str())
    .bind(&a.resource_class)
    .bind(a.used)
    .bind(stamp(Utc::now()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Usages of a project (and user), by consumer type (`None`: unknown), each with the
/// number of its consumers.
pub async fn total_usages(
    conn: &mut Conn,
    project: &str,
    user: Option<&str>,
) -> Result<BTreeMap<Option<String>, TypedUsage>> {
    let user_cond = if user.is_some() {
        " AND c.user_id = $2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT c.consumer_type, a.resource_class, CAST(SUM(a.used) AS BIGINT) AS used, COUNT(DISTINCT c.uuid) AS consumers \
         FROM placement_allocations a JOIN placement_consumers c ON c.uuid = a.consumer_uuid \
         WHERE c.project_id = $1{user_cond} GROUP BY c.consumer_type, a.resource_class"
    );
    let mut q = sqlx::query(&sql).bind(project);
    if let Some(u) = user {
        q = q.bind(u);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut out: BTreeMap<Option<String>, TypedUsage> = BTreeMap::new();
    for r in &rows {
        let c = Columns::new("placement_allocations", r);
        let t: Option<String> = c.get("consumer_type")?;
        let e = out.entry(t).or_default();
        e.usages.insert(c.get("resource_class")?, c.get("used")?);
    }
    // consumers per type, counted once however many classes they use
    let sql = format!(
        "SELECT c.consumer_type, COUNT(DISTINCT c.uuid) AS consumers FROM placement_consumers c \
         WHERE c.project_id = $1{user_cond} AND EXISTS (SELECT 1 FROM placement_allocations a WHERE a.consumer_uuid = c.uuid) GROUP BY c.consumer_type"
    );
    let mut q = sqlx::query(&sql).bind(project);
    if let Some(u) = user {
        q = q.bind(u);
    }
    for r in &q.fetch_all(conn).await? {
        let c = Columns::new("placement_consumers", r);
        let t: Option<String> = c.get("consumer_type")?;
        out.entry(t).or_default().consumer_count = c.get("consumers")?;
    }
    Ok(out)
}

// ------------------------------------------------------------------ changes

/// Count one change of what a [`snapshot`] reads (providers, inventories, allocations,
/// traits, aggregates, custom classes and traits), in the transaction that makes it: the
/// last statement before the commit, so the counter's row lock (PostgreSQL) is the last
/// lock a writer takes and writers queue on it without deadlocking. `structure`: the
/// change is more than allocations (which only move the usages: see [`usages_all`]).
pub async fn note_change(conn: &mut Conn, structure: bool) -> Result<()> {
    sqlx::query(
        "UPDATE placement_changes SET counter = counter + 1, structure = structure + $1 WHERE id = 1",
    )
    .bind(i64::from(structure))
    .execute(conn)
    .await?;
    Ok(())
}

/// How many changes have been committed (by any process on this database), and how
/// many of them were more than allocations.
pub async fn changes(conn: &mut Conn) -> Result<(i64, i64)> {
    Ok(
        sqlx::query_as("SELECT counter, structure FROM placement_changes WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}

/// What is allocated of each class on each provider (the usages a [`snapshot`] holds).
pub async fn usages_all(conn: &mut Conn) -> Result<HashMap<(String, String), i64>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT provider_uuid, resource_class, CAST(SUM(used) AS BIGINT) AS used \
         FROM placement_allocations GROUP BY provider_uuid, resource_class",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(p, rc, n)| ((p, rc), n)).collect())
}

// ------------------------------------------------------------------ snapshots

fn bound<'q>(
    sql: &'q str,
    values: &'q [&'q str],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(sql);
    for v in values {
        q = q.bind(*v);
    }
    q
}

/// Every provider with its inventory, usage, traits and aggregates, for the search of
/// allocation candidates and the filtered provider list. `only` limits it to providers
/// of these trees.
pub async fn snapshot(conn: &mut Conn, roots: Option<&[ProviderId]>) -> Result<Snapshot> {
    let (filter, p_filter, values): (String, String, Vec<&str>) = match roots {
        Some(r) if !r.is_empty() => (
            format!(
                " WHERE provider_uuid IN (SELECT uuid FROM placement_providers WHERE root_uuid IN ({}))",
                placeholders(r.len(), 1)
            ),
            format!(" WHERE root_uuid IN ({})", placeholders(r.len(), 1)),
            r.iter().map(|u| u.as_str()).collect(),
        ),
        Some(_) => return Ok(Snapshot::default()),
        None => (String::new(), String::new(), Vec::new()),
    };
    let mut nodes = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let sql = format!(
        "SELECT uuid, parent_uuid, root_uuid, generation FROM placement_providers{p_filter} ORDER BY created_at, uuid"
    );
    let q = bound(&sql, &values);
    for r in q.fetch_all(&mut *conn).await? {
        let c = Columns::new("placement_providers", &r);
        let uuid: String = c.get("uuid")?;
        index.insert(uuid.clone(), nodes.len());
        nodes.push(Node {
            uuid: c.parse("uuid")?,
            parent: c.parse_opt("parent_uuid")?,
            root: c.parse("root_uuid")?,
            generation: c.get("generation")?,
            inventory: BTreeMap::new(),
            traits: HashSet::new(),
            aggregates: HashSet::new(),
        });
    }
    let inv_filter = filter.replace("provider_uuid", "i.provider_uuid");
    let sql = format!(
        "SELECT i.provider_uuid, i.resource_class, i.total, i.reserved, i.min_unit, i.max_unit, i.step_size, i.allocation_ratio, COALESCE(u.used, 0) AS used \
         FROM placement_inventories i LEFT JOIN (SELECT provider_uuid, resource_class, CAST(SUM(used) AS BIGINT) AS used FROM placement_allocations GROUP BY provider_uuid, resource_class) u \
         ON u.provider_uuid = i.provider_uuid AND u.resource_class = i.resource_class{inv_filter}"
    );
    let q = bound(&sql, &values);
    for r in q.fetch_all(&mut *conn).await? {
        let c = Columns::new("placement_inventories", &r);
        let p: String = c.get("provider_uuid")?;
        let Some(&i) = index.get(&p) else { continue };
        let used: i64 = c.get("used")?;
        nodes[i]
            .inventory
            .insert(c.get("resource_class")?, (inventory(&c)?, used));
    }
    let sql = format!("SELECT provider_uuid, trait FROM placement_provider_traits{filter}");
    let q = bound(&sql, &values);
    for r in q.fetch_all(&mut *conn).await? {
        let c = Columns::new("placement_provider_traits", &r);
        let p: String = c.get("provider_uuid")?;
        if let Some(&i) = index.get(&p) {
            nodes[i].traits.insert(c.get("trait")?);
        }
    }
    let sql =
        format!("SELECT provider_uuid, aggregate_uuid FROM placement_provider_aggregates{filter}");
    let q = bound(&sql, &values);
    for r in q.fetch_all(&mut *conn).await? {
        let c = Columns::new("placement_provider_aggregates", &r);
        let p: String = c.get("provider_uuid")?;
        if let Some(&i) = index.get(&p) {
            nodes[i].aggregates.insert(c.get("aggregate_uuid")?);
        }
    }
    Ok(Snapshot { nodes })
}

/// A unique violation means another writer created the same row first.
pub fn is_duplicate(e: &Error) -> bool {
    e.kind == types::ErrorKind::Conflict
}

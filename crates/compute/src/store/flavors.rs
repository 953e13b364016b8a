//! Flavors, their extra specs and the projects a private flavor is open to.

use std::collections::BTreeMap;

use db::Columns;
use sqlx::any::AnyRow;
use types::{FlavorId, Result};

use super::Conn;
use crate::model::Flavor;

const COLUMNS: &str = "id, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, description, created_at";

fn row(r: &AnyRow) -> Result<Flavor> {
    let c = Columns::new("flavors", r);
    Ok(Flavor {
        id: c.get("id")?,
        name: c.get("name")?,
        memory_mb: c.get("memory_mb")?,
        vcpus: c.get("vcpus")?,
        root_gb: c.get("root_gb")?,
        ephemeral_gb: c.get("ephemeral_gb")?,
        swap: c.get("swap")?,
        rxtx_factor: c.parse("rxtx_factor")?,
        is_public: c.flag("is_public")?,
        disabled: c.flag("disabled")?,
        description: c.get("description")?,
        extra_specs: BTreeMap::new(),
        created_at: c.get("created_at")?,
    })
}

pub async fn insert(conn: &mut Conn, f: &Flavor) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO flavors ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(f.id.as_str())
    .bind(&f.name)
    .bind(f.memory_mb)
    .bind(f.vcpus)
    .bind(f.root_gb)
    .bind(f.ephemeral_gb)
    .bind(f.swap)
    .bind(f.rxtx_factor.to_string())
    .bind(db::flag(f.is_public))
    .bind(db::flag(f.disabled))
    .bind(f.description.as_deref())
    .bind(&f.created_at)
    .execute(&mut *conn)
    .await?;
    for (k, v) in &f.extra_specs {
        set_spec(conn, &f.id, k, v).await?;
    }
    Ok(())
}

/// The flavor with its extra specs.
pub async fn get(conn: &mut Conn, id: &FlavorId) -> Result<Option<Flavor>> {
    let r = sqlx::query(&format!("SELECT {COLUMNS} FROM flavors WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(r) = r else { return Ok(None) };
    let mut f = row(&r)?;
    f.extra_specs = specs(conn, id).await?;
    Ok(Some(f))
}

pub async fn by_name(conn: &mut Conn, name: &str) -> Result<Option<Flavor>> {
    let r = sqlx::query(&format!("SELECT {COLUMNS} FROM flavors WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    r.as_ref().map(row).transpose()
}

/// Every flavor (extra specs included), by id.
pub async fn list(conn: &mut Conn) -> Result<Vec<Flavor>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM flavors ORDER BY id"))
        .fetch_all(&mut *conn)
        .await?;
    let mut out: Vec<Flavor> = rows.iter().map(row).collect::<Result<_>>()?;
    let mut all: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in sqlx::query("SELECT flavor_id, key, value FROM flavor_extra_specs")
        .fetch_all(&mut *conn)
        .await?
    {
        let c = Columns::new("flavor_extra_specs", &r);
        all.entry(c.get("flavor_id")?)
            .or_default()
            .insert(c.get("key")?, c.get("value")?);
    }
    for f in &mut out {
        if let Some(s) = all.remove(f.id.as_str()) {
            f.extra_specs = s;
        }
    }
    Ok(out)
}

pub async fn set_description(conn: &mut Conn, id: &FlavorId, d: Option<&str>) -> Result<()> {
    sqlx::query("UPDATE flavors SET description = $1 WHERE id = $2")
        .bind(d)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id: &FlavorId) -> Result<bool> {
    let r = sqlx::query("DELETE FROM flavors WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn specs(conn: &mut Conn, id: &FlavorId) -> Result<BTreeMap<String, String>> {
    let rows = sqlx::query("SELECT key, value FROM flavor_extra_specs WHERE flavor_id = $1")
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let c = Columns::new("flavor_extra_specs", r);
            Ok((c.get("key")?, c.get("value")?))
        })
        .collect()
}

pub async fn set_spec(conn: &mut Conn, id: &FlavorId, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO flavor_extra_specs (flavor_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (flavor_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(id.as_str())
    .bind(key)
    .bind(value)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_spec(conn: &mut Conn, id: &FlavorId, key: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM flavor_extra_specs WHERE flavor_id = $1 AND key = $2")
        .bind(id.as_str())
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// The projects a private flavor is open to.
pub async fn projects(conn: &mut Conn, id: &FlavorId) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT project_id FROM flavor_projects WHERE flavor_id = $1 ORDER BY project_id",
    )
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Columns::new("flavor_projects", r).get("project_id"))
        .collect()
}

/// The flavors open to `project` by name.
pub async fn open_to(conn: &mut Conn, project: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT flavor_id FROM flavor_projects WHERE project_id = $1")
        .bind(project)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Columns::new("flavor_projects", r).get("flavor_id"))
        .collect()
}

/// Whether it was added (false: it was there).
pub async fn add_project(conn: &mut Conn, id: &FlavorId, project: &str) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO flavor_projects (flavor_id, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(id.as_str())
    .bind(project)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn remove_project(conn: &mut Conn, id: &FlavorId, project: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM flavor_projects WHERE flavor_id = $1 AND project_id = $2")
        .bind(id.as_str())
        .bind(project)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

//! Server groups and their members.

use std::collections::HashMap;

use db::Columns;
use sqlx::any::AnyRow;
use types::{Result, ServerGroupId, ServerId};

use super::{json_col, to_json, Conn};
use crate::model::ServerGroup;

const COLUMNS: &str = "id, project_id, user_id, name, policy, rules, created_at";

fn row(r: &AnyRow) -> Result<ServerGroup> {
    let c = Columns::new("server_groups", r);
    Ok(ServerGroup {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        user_id: c.get("user_id")?,
        name: c.get("name")?,
        policy: c.get("policy")?,
        rules: json_col(&c, "rules")?,
        members: Vec::new(),
        created_at: c.get("created_at")?,
    })
}

pub async fn insert(conn: &mut Conn, g: &ServerGroup) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO server_groups ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(g.id.as_str())
    .bind(&g.project_id)
    .bind(&g.user_id)
    .bind(&g.name)
    .bind(&g.policy)
    .bind(to_json(&g.rules))
    .bind(&g.created_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The hosts of the group's live members other than `except`, with the group's row
/// locked until the transaction ends (PostgreSQL takes a row lock on the update;
/// SQLite's write transaction holds the whole database): of two conductors placing
/// members at once, the second reads the first's host.
pub async fn lock_member_hosts(
    conn: &mut Conn,
    group: &ServerGroupId,
    except: &ServerId,
) -> Result<Vec<String>> {
    sqlx::query("UPDATE server_groups SET policy = policy WHERE id = $1")
        .bind(group.as_str())
        .execute(&mut *conn)
        .await?;
    let rows = sqlx::query(
        "SELECT i.host FROM server_group_members m JOIN instances i ON i.id = m.instance_id \
         WHERE m.group_id = $1 AND i.id <> $2 AND i.deleted = $3 AND i.host IS NOT NULL",
    )
    .bind(group.as_str())
    .bind(except.as_str())
    .bind(db::flag(false))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Columns::new("instances", r).get("host"))
        .collect()
}

async fn members(conn: &mut Conn) -> Result<HashMap<String, Vec<ServerId>>> {
    let mut out: HashMap<String, Vec<ServerId>> = HashMap::new();
    for r in
        sqlx::query("SELECT group_id, instance_id FROM server_group_members ORDER BY instance_id")
            .fetch_all(&mut *conn)
            .await?
    {
        let c = Columns::new("server_group_members", &r);
        out.entry(c.get("group_id")?)
            .or_default()
            .push(c.get("instance_id")?);
    }
    Ok(out)
}

pub async fn get(conn: &mut Conn, id: &ServerGroupId) -> Result<Option<ServerGroup>> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM server_groups WHERE id = $1"
    ))
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = r else { return Ok(None) };
    let mut g = row(&r)?;
    let rows = sqlx::query(
        "SELECT instance_id FROM server_group_members WHERE group_id = $1 ORDER BY instance_id",
    )
    .bind(id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    g.members = rows
        .iter()
        .map(|r| Columns::new("server_group_members", r).get("instance_id"))
        .collect::<Result<_>>()?;
    Ok(Some(g))
}

/// The groups of `project` (all when None), oldest first, with members.
pub async fn list(conn: &mut Conn, project: Option<&str>) -> Result<Vec<ServerGroup>> {
    let rows = match project {
        Some(p) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM server_groups WHERE project_id = $1 ORDER BY created_at, id"
            ))
            .bind(p)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM server_groups ORDER BY created_at, id"
            ))
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let mut out: Vec<ServerGroup> = rows.iter().map(row).collect::<Result<_>>()?;
    let mut m = members(conn).await?;
    for g in &mut out {
        g.members = m.remove(g.id.as_str()).unwrap_or_default();
    }
    Ok(out)
}

pub async fn count(conn: &mut Conn, project: &str) -> Result<i64> {
    let r = sqlx::query("SELECT COUNT(*) AS n FROM server_groups WHERE project_id = $1")
        .bind(project)
        .fetch_one(&mut *conn)
        .await?;
    Columns::new("server_groups", &r).get("n")
}

pub async fn delete(conn: &mut Conn, id: &ServerGroupId) -> Result<bool> {
    let r = sqlx::query("DELETE FROM server_groups WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn add_member(conn: &mut Conn, id: &ServerGroupId, server: &ServerId) -> Result<()> {
    sqlx::query(
        "INSERT INTO server_group_members (group_id, instance_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(id.as_str())
    .bind(server.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Take a server out of every group.
pub async fn remove_member(conn: &mut Conn, server: &ServerId) -> Result<()> {
    sqlx::query("DELETE FROM server_group_members WHERE instance_id = $1")
        .bind(server.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

//! Servers (Nova's instances) and their tags. A deleted server keeps its row
//! (`deleted = 1`), as Nova's soft-deleted rows, so admins can list it and usage can count it.

use std::collections::HashMap;

use db::Columns;
use sqlx::any::AnyRow;
use types::{Result, ServerId};

use super::{json_col, json_opt, placeholders, to_json, Conn};
use crate::model::{PowerState, Server};

const COLUMNS: &str = "id, project_id, user_id, name, hostname, description, image_id, flavor_id, vcpus, memory_mb, flavor, vm_state, task_state, power_state, host, node, availability_zone, key_name, key_data, user_data, config_drive, metadata, security_groups, networks, block_devices, scheduler_hints, server_group_id, reservation_id, launch_index, admin_pass, locked, locked_by, locked_reason, access_ipv4, access_ipv6, ports, fault, progress, new_flavor, old_flavor, launched_at, terminated_at, created_at, updated_at, deleted";

fn row(r: &AnyRow) -> Result<Server> {
    let c = Columns::new("instances", r);
    Ok(Server {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        user_id: c.get("user_id")?,
        name: c.get("name")?,
        hostname: c.get("hostname")?,
        description: c.get("description")?,
        image_id: c.get("image_id")?,
        flavor: json_col(&c, "flavor")?,
        vm_state: c.parse("vm_state")?,
        task_state: c.parse_opt("task_state")?,
        power_state: {
            let code: i64 = c.get("power_state")?;
            PowerState::from_code(code).ok_or_else(|| {
                types::Error::internal(format!("instances.power_state {code} is no power state"))
            })?
        },
        host: c.get("host")?,
        node: c.get("node")?,
        availability_zone: c.get("availability_zone")?,
        key_name: c.get("key_name")?,
        key_data: c.get("key_data")?,
        user_data: c.get("user_data")?,
        config_drive: c.flag("config_drive")?,
        metadata: json_col(&c, "metadata")?,
        tags: Vec::new(),
        security_groups: json_col(&c, "security_groups")?,
        networks: json_col(&c, "networks")?,
        block_devices: json_col(&c, "block_devices")?,
        scheduler_hints: json_col(&c, "scheduler_hints")?,
        server_group: c.get("server_group_id")?,
        reservation_id: c.get("reservation_id")?,
        launch_index: c.get("launch_index")?,
        admin_pass: c.get("admin_pass")?,
        locked: c.flag("locked")?,
        locked_by: c.get("locked_by")?,
        locked_reason: c.get("locked_reason")?,
        access_ipv4: c.get("access_ipv4")?,
        access_ipv6: c.get("access_ipv6")?,
        ports: json_col(&c, "ports")?,
        fault: json_opt(&c, "fault")?,
        progress: c.get("progress")?,
        new_flavor: json_opt(&c, "new_flavor")?,
        old_flavor: json_opt(&c, "old_flavor")?,
        launched_at: c.get("launched_at")?,
        terminated_at: c.get("terminated_at")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        deleted: c.flag("deleted")?,
    })
}

pub async fn insert(conn: &mut Conn, s: &Server) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO instances ({COLUMNS}) VALUES ({})",
        placeholders(45, 1)
    ))
    .bind(s.id.as_str())
    .bind(&s.project_id)
    .bind(&s.user_id)
    .bind(&s.name)
    .bind(&s.hostname)
    .bind(s.description.as_deref())
    .bind(s.image_id.as_ref().map(|i| i.as_str()))
    .bind(s.flavor.id.as_str())
    .bind(s.flavor.vcpus)
    .bind(s.flavor.memory_mb)
    .bind(to_json(&s.flavor))
    .bind(s.vm_state.as_str())
    .bind(s.task_state.map(|t| t.as_str()))
    .bind(s.power_state.code())
    .bind(s.host.as_deref())
    .bind(s.node.as_deref())
    .bind(s.availability_zone.as_deref())
    .bind(s.key_name.as_deref())
    .bind(s.key_data.as_deref())
    .bind(s.user_data.as_deref())
    .bind(db::flag(s.config_drive))
    .bind(to_json(&s.metadata))
    .bind(to_json(&s.security_groups))
    .bind(to_json(&s.networks))
    .bind(to_json(&s.block_devices))
    .bind(to_json(&s.scheduler_hints))
    .bind(s.server_group.as_ref().map(|g| g.as_str()))
    .bind(&s.reservation_id)
    .bind(s.launch_index)
    .bind(s.admin_pass.as_deref())
    .bind(db::flag(s.locked))
    .bind(s.locked_by.as_deref())
    .bind(s.locked_reason.as_deref())
    .bind(s.access_ipv4.as_deref())
    .bind(s.access_ipv6.as_deref())
    .bind(to_json(&s.ports))
    .bind(s.fault.as_ref().map(to_json))
    .bind(s.progress)
    .bind(s.new_flavor.as_ref().map(to_json))
    .bind(s.old_flavor.as_ref().map(to_json))
    .bind(s.launched_at.as_deref())
    .bind(s.terminated_at.as_deref())
    .bind(&s.created_at)
    .bind(&s.updated_at)
    .bind(db::flag(s.deleted))
    .execute(&mut *conn)
    .await?;
    set_tags(conn, &s.id, &s.tags).await
}

/// Mark the server as having a config drive (one its host forced).
pub async fn set_config_drive(conn: &mut Conn, id: &ServerId) -> Result<()> {
    sqlx::query("UPDATE instances SET config_drive = $1 WHERE id = $2")
        .bind(db::flag(true))
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Write back every column a server's life changes (all but its identity and creation).
pub async fn save(conn: &mut Conn, s: &Server) -> Result<()> {
    sqlx::query(
        "UPDATE instances SET name = $1, hostname = $2, description = $3, image_id = $4, flavor_id = $5, vcpus = $6, memory_mb = $7, flavor = $8, vm_state = $9, task_state = $10, power_state = $11, host = $12, node = $13, availability_zone = $14, key_name = $15, key_data = $16, user_data = $17, metadata = $18, security_groups = $19, admin_pass = $20, locked = $21, locked_by = $22, locked_reason = $23, access_ipv4 = $24, access_ipv6 = $25, ports = $26, fault = $27, progress = $28, new_flavor = $29, old_flavor = $30, launched_at = $31, terminated_at = $32, updated_at = $33, deleted = $34, server_group_id = $35 WHERE id = $36",
    )
    .bind(&s.name)
    .bind(&s.hostname)
    .bind(s.description.as_deref())
    .bind(s.image_id.as_ref().map(|i| i.as_str()))
    .bind(s.flavor.id.as_str())
    .bind(s.flavor.vcpus)
    .bind(s.flavor.memory_mb)
    .bind(to_json(&s.flavor))
    .bind(s.vm_state.as_str())
    .bind(s.task_state.map(|t| t.as_str()))
    .bind(s.power_state.code())
    .bind(s.host.as_deref())
    .bind(s.node.as_deref())
    .bind(s.availability_zone.as_deref())
    .bind(s.key_name.as_deref())
    .bind(s.key_data.as_deref())
    .bind(s.user_data.as_deref())
    .bind(to_json(&s.metadata))
    .bind(to_json(&s.security_groups))
    .bind(s.admin_pass.as_deref())
    .bind(db::flag(s.locked))
    .bind(s.locked_by.as_deref())
    .bind(s.locked_reason.as_deref())
    .bind(s.access_ipv4.as_deref())
    .bind(s.access_ipv6.as_deref())
    .bind(to_json(&s.ports))
    .bind(s.fault.as_ref().map(to_json))
    .bind(s.progress)
    .bind(s.new_flavor.as_ref().map(to_json))
    .bind(s.old_flavor.as_ref().map(to_json))
    .bind(s.launched_at.as_deref())
    .bind(s.terminated_at.as_deref())
    .bind(&s.updated_at)
    .bind(db::flag(s.deleted))
    .bind(s.server_group.as_ref().map(|g| g.as_str()))
    .bind(s.id.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The server (deleted ones too), with its tags.
pub async fn get(conn: &mut Conn, id: &ServerId) -> Result<Option<Server>> {
    let r = sqlx::query(&format!("SELECT {COLUMNS} FROM instances WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(r) = r else { return Ok(None) };
    let mut s = row(&r)?;
    s.tags = tags(conn, id).await?;
    Ok(Some(s))
}

/// The servers in BUILD or with a task (their tags left out).
pub async fn busy(conn: &mut Conn) -> Result<Vec<Server>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM instances WHERE deleted = {} AND (task_state IS NOT NULL OR vm_state = 'building')",
        db::flag(false)
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(row).collect()
}

/// What a list is narrowed to in SQL (the rest is filtered on the rows).
#[derive(Debug, Default, Clone)]
pub struct Narrow {
    pub project: Option<String>,
    pub deleted: bool,
    pub host: Option<String>,
    pub reservation_id: Option<String>,
}

/// The servers of `n`, newest first, with their tags.
pub async fn list(conn: &mut Conn, n: &Narrow) -> Result<Vec<Server>> {
    let mut conds = vec![format!("deleted = {}", db::flag(n.deleted))];
    let mut binds: Vec<String> = Vec::new();
    for (col, v) in [
        ("project_id", &n.project),
        ("host", &n.host),
        ("reservation_id", &n.reservation_id),
    ] {
        if let Some(v) = v {
            binds.push(v.clone());
            conds.push(format!("{col} = ${}", binds.len()));
        }
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM instances WHERE {} ORDER BY created_at DESC, id DESC",
        conds.join(" AND ")
    );
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b.as_str());
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut out: Vec<Server> = rows.iter().map(row).collect::<Result<_>>()?;
    let ids: Vec<&str> = out.iter().map(|s| s.id.as_str()).collect();
    let mut tags = tags_of(conn, &ids).await?;
    for s in &mut out {
        s.tags = tags.remove(s.id.as_str()).unwrap_or_default();
    }
    Ok(out)
}

/// The servers of `project` that count against its quota: (count, vcpus, ram).
pub async fn usage(conn: &mut Conn, project: &str) -> Result<(i64, i64, i64)> {
    let r = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(vcpus), 0) AS BIGINT) AS cores, CAST(COALESCE(SUM(memory_mb), 0) AS BIGINT) AS ram FROM instances WHERE project_id = $1 AND deleted = 0",
    )
    .bind(project)
    .fetch_one(&mut *conn)
    .await?;
    let c = Columns::new("instances", &r);
    Ok((c.get("n")?, c.get("cores")?, c.get("ram")?))
}

async fn tags(conn: &mut Conn, id: &ServerId) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT tag FROM instance_tags WHERE instance_id = $1 ORDER BY tag")
        .bind(id.as_str())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Columns::new("instance_tags", r).get("tag"))
        .collect()
}

async fn tags_of(conn: &mut Conn, ids: &[&str]) -> Result<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT instance_id, tag FROM instance_tags WHERE instance_id IN ({}) ORDER BY tag",
            placeholders(chunk.len(), 1)
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let c = Columns::new("instance_tags", &r);
            out.entry(c.get("instance_id")?)
                .or_default()
                .push(c.get("tag")?);
        }
    }
    Ok(out)
}

pub async fn set_tags(conn: &mut Conn, id: &ServerId, tags: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM instance_tags WHERE instance_id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    for t in tags {
        sqlx::query(
            "INSERT INTO instance_tags (instance_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(t)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

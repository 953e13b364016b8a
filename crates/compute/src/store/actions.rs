//! The recorded actions on servers (os-instance-actions) and their events.

use db::Columns;
use sqlx::any::AnyRow;
use types::{Result, ServerId};

use super::{json_col, to_json, Conn};
use crate::model::InstanceAction;

const COLUMNS: &str =
    "instance_id, request_id, action, project_id, user_id, start_time, updated_at, message, events";

fn row(r: &AnyRow) -> Result<InstanceAction> {
    let c = Columns::new("instance_actions", r);
    Ok(InstanceAction {
        server_id: c.get("instance_id")?,
        request_id: c.get("request_id")?,
        action: c.get("action")?,
        project_id: c.get("project_id")?,
        user_id: c.get("user_id")?,
        start_time: c.get("start_time")?,
        updated_at: c.get("updated_at")?,
        message: c.get("message")?,
        events: json_col(&c, "events")?,
    })
}

/// Record an action (again: the same request's record is kept).
pub async fn insert(conn: &mut Conn, a: &InstanceAction) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO instance_actions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
    ))
    .bind(a.server_id.as_str())
    .bind(&a.request_id)
    .bind(&a.action)
    .bind(&a.project_id)
    .bind(&a.user_id)
    .bind(&a.start_time)
    .bind(&a.updated_at)
    .bind(a.message.as_deref())
    .bind(to_json(&a.events))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn save(conn: &mut Conn, a: &InstanceAction) -> Result<()> {
    sqlx::query(
        "UPDATE instance_actions SET updated_at = $1, message = $2, events = $3 WHERE instance_id = $4 AND request_id = $5",
    )
    .bind(&a.updated_at)
    .bind(a.message.as_deref())
    .bind(to_json(&a.events))
    .bind(a.server_id.as_str())
    .bind(&a.request_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The server's actions, newest first.
pub async fn list(conn: &mut Conn, server: &ServerId) -> Result<Vec<InstanceAction>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM instance_actions WHERE instance_id = $1 ORDER BY start_time DESC, request_id DESC"
    ))
    .bind(server.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(row).collect()
}

pub async fn get(
    conn: &mut Conn,
    server: &ServerId,
    request: &str,
) -> Result<Option<InstanceAction>> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM instance_actions WHERE instance_id = $1 AND request_id = $2"
    ))
    .bind(server.as_str())
    .bind(request)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(row).transpose()
}

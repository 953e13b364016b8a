//! Per-project quota limits that differ from the defaults.

use std::collections::BTreeMap;

use db::Columns;
use types::Result;

use super::Conn;

pub async fn limits(conn: &mut Conn, project: &str) -> Result<BTreeMap<String, i64>> {
    let rows = sqlx::query("SELECT resource, hard_limit FROM compute_quotas WHERE project_id = $1")
        .bind(project)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let c = Columns::new("compute_quotas", r);
            Ok((c.get("resource")?, c.get("hard_limit")?))
        })
        .collect()
}

pub async fn set(conn: &mut Conn, project: &str, resource: &str, limit: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO compute_quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3) ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
    )
    .bind(project)
    .bind(resource)
    .bind(limit)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn clear(conn: &mut Conn, project: &str) -> Result<()> {
    sqlx::query("DELETE FROM compute_quotas WHERE project_id = $1")
        .bind(project)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

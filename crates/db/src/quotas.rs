//! Per-project quota limits that differ from a service's defaults: one table per
//! service, `(project_id, resource, hard_limit)` with `(project_id, resource)` unique.

use sqlx::AnyConnection;
use types::{Error, Result};

use crate::Columns;

/// A service's table of per-project limits (its name, a constant of the caller's).
#[derive(Debug, Clone, Copy)]
pub struct QuotaTable(pub &'static str);

impl QuotaTable {
    /// The limits `project` has of its own (resource -> limit).
    pub async fn limits<C: FromIterator<(String, i64)>>(
        self,
        conn: &mut AnyConnection,
        project: &str,
    ) -> Result<C> {
        let rows = sqlx::query(&format!(
            "SELECT resource, hard_limit FROM {} WHERE project_id = $1",
            self.0
        ))
        .bind(project)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                let c = Columns::new(self.0, r);
                Ok::<_, Error>((c.get("resource")?, c.get("hard_limit")?))
            })
            .collect()
    }

    /// Set one limit of `project`.
    pub async fn set(
        self,
        conn: &mut AnyConnection,
        project: &str,
        resource: &str,
        limit: i64,
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO {} (project_id, resource, hard_limit) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
            self.0
        ))
        .bind(project)
        .bind(resource)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Back to the defaults: every limit of `project` dropped.
    pub async fn clear(self, conn: &mut AnyConnection, project: &str) -> Result<()> {
        sqlx::query(&format!("DELETE FROM {} WHERE project_id = $1", self.0))
            .bind(project)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

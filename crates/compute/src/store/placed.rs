//! What the conductor reads for the hosts' syncs: the servers the database places on a
//! host.

use db::Columns;
use types::Result;

use super::Conn;

/// A server placed on a host: id, vm_state, task_state, flavor (JSON).
pub struct Placed {
    pub id: String,
    pub vm_state: String,
    pub task_state: Option<String>,
    pub flavor: String,
}

/// The servers (not deleted) the database places on `host`.
pub async fn placed_on(conn: &mut Conn, host: &str) -> Result<Vec<Placed>> {
    let rows = sqlx::query(
        "SELECT id, vm_state, task_state, flavor FROM instances WHERE host = $1 AND deleted = 0",
    )
    .bind(host)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let c = Columns::new("instances", r);
            Ok(Placed {
                id: c.get("id")?,
                vm_state: c.get("vm_state")?,
                task_state: c.get("task_state")?,
                flavor: c.get("flavor")?,
            })
        })
        .collect()
}

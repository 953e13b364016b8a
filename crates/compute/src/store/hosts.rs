//! What the conductor records of compute hosts (their `services` row and compute node,
//! from the hosts' reports) and what the scheduler and the hosts' syncs read: the
//! hosts with their service state and aggregates, the servers placed on a host.

use std::collections::BTreeMap;

use db::Columns;
use types::{Error, Result};

use super::Conn;

/// A host's compute node as its report gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRecord {
    pub uuid: String,
    pub host: String,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub host_ip: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub vcpus_used: i64,
    pub memory_mb_used: i64,
    pub local_gb_used: i64,
    pub running_vms: i64,
    pub cpu_info: String,
}

/// Record a heartbeat of `binary` on `host` (its row made on the first).
pub async fn service_seen(conn: &mut Conn, host: &str, binary: &str, topic: &str, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO services (id, host, service_binary, topic, disabled, disabled_reason, forced_down, version, last_seen_up, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, NULL, 0, 66, $5, $5, $5) \
         ON CONFLICT (host, service_binary) DO UPDATE SET last_seen_up = $5, updated_at = $5",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(host)
    .bind(binary)
    .bind(topic)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Record a host's compute node (one per host: its hypervisor host name is the host).
pub async fn node_seen(conn: &mut Conn, n: &NodeRecord, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO compute_nodes (id, host, hypervisor_hostname, hypervisor_type, hypervisor_version, host_ip, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, local_gb_used, running_vms, cpu_info, updated_at) \
         VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (hypervisor_hostname) DO UPDATE SET id = $1, hypervisor_type = $3, hypervisor_version = $4, host_ip = $5, vcpus = $6, memory_mb = $7, local_gb = $8, vcpus_used = $9, memory_mb_used = $10, local_gb_used = $11, running_vms = $12, cpu_info = $13, updated_at = $14",
    )
    .bind(&n.uuid)
    .bind(&n.host)
    .bind(&n.hypervisor_type)
    .bind(n.hypervisor_version)
    .bind(&n.host_ip)
    .bind(n.vcpus)
    .bind(n.memory_mb)
    .bind(n.local_gb)
    .bind(n.vcpus_used)
    .bind(n.memory_mb_used)
    .bind(n.local_gb_used)
    .bind(n.running_vms)
    .bind(&n.cpu_info)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

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

/// A compute host as the scheduler reads it.
pub struct HostRow {
    pub node_uuid: String,
    pub host: String,
    pub node: String,
    pub hypervisor_type: String,
    pub disabled: bool,
    pub forced_down: bool,
    pub last_seen_up: Option<String>,
    /// Its aggregates' metadata (key -> every value).
    pub aggregate_metadata: BTreeMap<String, Vec<String>>,
}

/// The compute hosts whose nodes have these uuids.
pub async fn hosts_of_nodes(conn: &mut Conn, uuids: &[String]) -> Result<Vec<HostRow>> {
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT n.id, n.host, n.hypervisor_hostname, n.hypervisor_type, s.disabled, s.forced_down, s.last_seen_up \
         FROM compute_nodes n JOIN services s ON s.host = n.host AND s.service_binary = 'nova-compute'",
    )
    .fetch_all(&mut *conn)
    .await?;
    let wanted: std::collections::HashSet<&str> = uuids.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    for r in &rows {
        let c = Columns::new("compute_nodes", r);
        let uuid: String = c.get("id")?;
        if !wanted.contains(uuid.as_str()) {
            continue;
        }
        out.push(HostRow {
            node_uuid: uuid,
            host: c.get("host")?,
            node: c.get("hypervisor_hostname")?,
            hypervisor_type: c.get("hypervisor_type")?,
            disabled: c.flag("disabled")?,
            forced_down: c.flag("forced_down")?,
            last_seen_up: c.get("last_seen_up")?,
            aggregate_metadata: BTreeMap::new(),
        });
    }
    let meta = sqlx::query(
        "SELECT h.host, m.key, m.value FROM aggregate_hosts h JOIN aggregate_metadata m ON m.aggregate_id = h.aggregate_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for r in &meta {
        let c = Columns::new("aggregate_metadata", r);
        let host: String = c.get("host")?;
        let key: String = c.get("key")?;
        let value: String = c.get("value")?;
        for h in out.iter_mut().filter(|h| h.host == host) {
            h.aggregate_metadata
                .entry(key.clone())
                .or_default()
                .push(value.clone());
        }
    }
    Ok(out)
}

/// The hosts of the servers of a group (not deleted), one entry per member.
pub async fn group_member_hosts(conn: &mut Conn, group_id: &str, except: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT i.host FROM server_group_members m JOIN instances i ON i.id = m.instance_id \
         WHERE m.group_id = $1 AND i.deleted = 0 AND i.host IS NOT NULL AND i.id <> $2",
    )
    .bind(group_id)
    .bind(except)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Columns::new("instances", r).get::<String>("host").map_err(Error::from))
        .collect()
}

/// A server group's policy and rules (JSON), if it exists.
pub async fn group_policy(conn: &mut Conn, group_id: &str) -> Result<Option<(String, String)>> {
    let row = sqlx::query("SELECT policy, rules FROM server_groups WHERE id = $1")
        .bind(group_id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        let c = Columns::new("server_groups", &r);
        Ok((c.get("policy")?, c.get("rules")?))
    })
    .transpose()
}

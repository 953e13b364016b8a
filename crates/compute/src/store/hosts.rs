//! What the compute hosts report: service records (nova-compute, and the conductor's and
//! scheduler's), compute nodes (hypervisors), and aggregates of hosts.

use std::collections::BTreeMap;

use db::Columns;
use sqlx::any::AnyRow;
use types::{ComputeServiceId, HypervisorId, Result};

use super::Conn;

/// A service record.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub id: ComputeServiceId,
    pub host: String,
    pub binary: String,
    pub topic: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    pub version: i64,
    pub last_seen_up: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const SERVICE_COLUMNS: &str = "id, host, service_binary, topic, disabled, disabled_reason, forced_down, version, last_seen_up, created_at, updated_at";

fn service_row(r: &AnyRow) -> Result<ServiceRow> {
    let c = Columns::new("compute_services", r);
    Ok(ServiceRow {
        id: c.get("id")?,
        host: c.get("host")?,
        binary: c.get("service_binary")?,
        topic: c.get("topic")?,
        disabled: c.flag("disabled")?,
        disabled_reason: c.get("disabled_reason")?,
        forced_down: c.flag("forced_down")?,
        version: c.get("version")?,
        last_seen_up: c.get("last_seen_up")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}

/// Record a heartbeat of (host, binary), creating the record the first time.
pub async fn heartbeat(
    conn: &mut Conn,
    id: &ComputeServiceId,
    host: &str,
    binary: &str,
    topic: &str,
    now: &str,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO compute_services ({SERVICE_COLUMNS}) VALUES ($1, $2, $3, $4, 0, NULL, 0, 66, $5, $5, $5) ON CONFLICT (host, service_binary) DO UPDATE SET last_seen_up = excluded.last_seen_up"
    ))
    .bind(id.as_str())
    .bind(host)
    .bind(binary)
    .bind(topic)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn services(conn: &mut Conn) -> Result<Vec<ServiceRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {SERVICE_COLUMNS} FROM compute_services ORDER BY created_at, host"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(service_row).collect()
}

pub async fn save_service(conn: &mut Conn, s: &ServiceRow) -> Result<()> {
    sqlx::query(
        "UPDATE compute_services SET disabled = $1, disabled_reason = $2, forced_down = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(db::flag(s.disabled))
    .bind(s.disabled_reason.as_deref())
    .bind(db::flag(s.forced_down))
    .bind(&s.updated_at)
    .bind(s.id.as_str())
    .execute(&mut *conn)
    .await?;
    bump(conn).await
}

pub async fn delete_service(conn: &mut Conn, id: &ComputeServiceId) -> Result<bool> {
    let r = sqlx::query("DELETE FROM compute_services WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    bump(conn).await?;
    Ok(r.rows_affected() > 0)
}

/// A compute node (hypervisor) as its host reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub id: HypervisorId,
    pub host: String,
    pub hypervisor_hostname: String,
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
    pub updated_at: String,
}

const NODE_COLUMNS: &str = "id, host, hypervisor_hostname, hypervisor_type, hypervisor_version, host_ip, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, local_gb_used, running_vms, cpu_info, updated_at";

fn node_row(r: &AnyRow) -> Result<NodeRow> {
    let c = Columns::new("compute_nodes", r);
    Ok(NodeRow {
        id: c.get("id")?,
        host: c.get("host")?,
        hypervisor_hostname: c.get("hypervisor_hostname")?,
        hypervisor_type: c.get("hypervisor_type")?,
        hypervisor_version: c.get("hypervisor_version")?,
        host_ip: c.get("host_ip")?,
        vcpus: c.get("vcpus")?,
        memory_mb: c.get("memory_mb")?,
        local_gb: c.get("local_gb")?,
        vcpus_used: c.get("vcpus_used")?,
        memory_mb_used: c.get("memory_mb_used")?,
        local_gb_used: c.get("local_gb_used")?,
        running_vms: c.get("running_vms")?,
        cpu_info: c.get("cpu_info")?,
        updated_at: c.get("updated_at")?,
    })
}

/// Record a node's report (by its hypervisor hostname).
pub async fn upsert_node(conn: &mut Conn, n: &NodeRow) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO compute_nodes ({NODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (hypervisor_hostname) DO UPDATE SET host = excluded.host, hypervisor_type = excluded.hypervisor_type, hypervisor_version = excluded.hypervisor_version, host_ip = excluded.host_ip, vcpus = excluded.vcpus, memory_mb = excluded.memory_mb, local_gb = excluded.local_gb, vcpus_used = excluded.vcpus_used, memory_mb_used = excluded.memory_mb_used, local_gb_used = excluded.local_gb_used, running_vms = excluded.running_vms, cpu_info = excluded.cpu_info, updated_at = excluded.updated_at"
    ))
    .bind(n.id.as_str())
    .bind(&n.host)
    .bind(&n.hypervisor_hostname)
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
    .bind(&n.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn nodes(conn: &mut Conn) -> Result<Vec<NodeRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {NODE_COLUMNS} FROM compute_nodes ORDER BY hypervisor_hostname"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(node_row).collect()
}

pub async fn delete_nodes_of(conn: &mut Conn, host: &str) -> Result<()> {
    sqlx::query("DELETE FROM compute_nodes WHERE host = $1")
        .bind(host)
        .execute(&mut *conn)
        .await?;
    bump(conn).await
}

/// An aggregate with its hosts and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateRow {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub hosts: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: Option<String>,
}

pub async fn aggregates(conn: &mut Conn) -> Result<Vec<AggregateRow>> {
    let rows = sqlx::query(
        "SELECT id, uuid, name, created_at, updated_at FROM compute_aggregates ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<AggregateRow> = rows
        .iter()
        .map(|r| {
            let c = Columns::new("compute_aggregates", r);
            Ok(AggregateRow {
                id: c.get("id")?,
                uuid: c.get("uuid")?,
                name: c.get("name")?,
                hosts: Vec::new(),
                metadata: BTreeMap::new(),
                created_at: c.get("created_at")?,
                updated_at: c.get("updated_at")?,
            })
        })
        .collect::<Result<_>>()?;
    for r in sqlx::query("SELECT aggregate_id, host FROM compute_aggregate_hosts ORDER BY host")
        .fetch_all(&mut *conn)
        .await?
    {
        let c = Columns::new("compute_aggregate_hosts", &r);
        let id: i64 = c.get("aggregate_id")?;
        if let Some(a) = out.iter_mut().find(|a| a.id == id) {
            a.hosts.push(c.get("host")?);
        }
    }
    for r in sqlx::query("SELECT aggregate_id, key, value FROM compute_aggregate_metadata")
        .fetch_all(&mut *conn)
        .await?
    {
        let c = Columns::new("compute_aggregate_metadata", &r);
        let id: i64 = c.get("aggregate_id")?;
        if let Some(a) = out.iter_mut().find(|a| a.id == id) {
            a.metadata.insert(c.get("key")?, c.get("value")?);
        }
    }
    Ok(out)
}

/// Insert with the next id (in the caller's write transaction).
pub async fn insert_aggregate(conn: &mut Conn, uuid: &str, name: &str, now: &str) -> Result<i64> {
    let r = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS next FROM compute_aggregates")
        .fetch_one(&mut *conn)
        .await?;
    let id: i64 = Columns::new("compute_aggregates", &r).get("next")?;
    sqlx::query("INSERT INTO compute_aggregates (id, uuid, name, created_at, updated_at) VALUES ($1, $2, $3, $4, NULL)")
        .bind(id)
        .bind(uuid)
        .bind(name)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    bump(conn).await?;
    Ok(id)
}

pub async fn rename_aggregate(conn: &mut Conn, id: i64, name: &str, now: &str) -> Result<()> {
    sqlx::query("UPDATE compute_aggregates SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete_aggregate(conn: &mut Conn, id: i64) -> Result<()> {
    sqlx::query("DELETE FROM compute_aggregates WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    bump(conn).await
}

pub async fn add_host(conn: &mut Conn, id: i64, host: &str) -> Result<()> {
    sqlx::query("INSERT INTO compute_aggregate_hosts (aggregate_id, host) VALUES ($1, $2)")
        .bind(id)
        .bind(host)
        .execute(&mut *conn)
        .await?;
    bump(conn).await
}

pub async fn remove_host(conn: &mut Conn, id: i64, host: &str) -> Result<bool> {
    let r =
        sqlx::query("DELETE FROM compute_aggregate_hosts WHERE aggregate_id = $1 AND host = $2")
            .bind(id)
            .bind(host)
            .execute(&mut *conn)
            .await?;
    bump(conn).await?;
    Ok(r.rows_affected() > 0)
}

/// Set (`Some`) or remove (`None`) a metadata key.
pub async fn set_metadata(conn: &mut Conn, id: i64, key: &str, value: Option<&str>) -> Result<()> {
    sqlx::query("DELETE FROM compute_aggregate_metadata WHERE aggregate_id = $1 AND key = $2")
        .bind(id)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    if let Some(v) = value {
        sqlx::query(
            "INSERT INTO compute_aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(key)
        .bind(v)
        .execute(&mut *conn)
        .await?;
    }
    bump(conn).await
}

/// Count a change to what the scheduler reads of hosts (see the `compute_host_changes`
/// migration), after the change and in its transaction when it has one.
async fn bump(conn: &mut Conn) -> Result<()> {
    sqlx::query("UPDATE compute_host_changes SET counter = counter + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The count of changes to what the scheduler reads of hosts: read it before the
/// hosts, and read them again when it moved.
pub async fn changes(conn: &mut Conn) -> Result<i64> {
    let r = sqlx::query("SELECT counter FROM compute_host_changes WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    Columns::new("compute_host_changes", &r).get("counter")
}

//! Every SQL statement of the Networking service, written once for SQLite and
//! PostgreSQL (see the db crate). Functions take a connection, so the app layer groups
//! them in one transaction ([`db::Db::begin_write`]) where a change spans tables.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
};

use db::Columns;
use serde::{de::DeserializeOwned, Serialize};
use sqlx::{any::AnyRow, AnyConnection};
use types::{
    AddressScopeId, Error, FloatingIpId, NetworkId, PortId, QosPolicyId, RbacPolicyId, Result,
    RouterId, SecurityGroupId, SubnetId, SubnetPoolId,
};

use crate::model::*;

type Conn = AnyConnection;

fn json_col<T: DeserializeOwned>(c: &Columns, column: &str) -> Result<T> {
    let text: String = c.get(column)?;
    serde_json::from_str(&text).map_err(|e| {
        Error::internal_from(e).with_detail(format!("reading the JSON column {column}"))
    })
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain values serialize")
}

fn placeholders(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ------------------------------------------------------------------ tags

/// The tags of each of `ids`.
async fn tags_of(conn: &mut Conn, ids: &[&str]) -> Result<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT resource_id, tag FROM tags WHERE resource_id IN ({}) ORDER BY tag",
            placeholders(chunk.len(), 1)
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let c = Columns::new("tags", &r);
            out.entry(c.get("resource_id")?)
                .or_default()
                .push(c.get("tag")?);
        }
    }
    Ok(out)
}

pub async fn set_tags(conn: &mut Conn, id: &str, tags: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM tags WHERE resource_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for t in tags.iter().collect::<HashSet<_>>() {
        sqlx::query("INSERT INTO tags (resource_id, tag) VALUES ($1, $2)")
            .bind(id)
            .bind(t)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn add_tag(conn: &mut Conn, id: &str, tag: &str) -> Result<()> {
    sqlx::query("INSERT INTO tags (resource_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(id)
        .bind(tag)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether the tag was there.
pub async fn delete_tag(conn: &mut Conn, id: &str, tag: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM tags WHERE resource_id = $1 AND tag = $2")
        .bind(id)
        .bind(tag)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Bump a resource's revision (a tag change is a change of the resource).
pub async fn touch(conn: &mut Conn, table: &'static str, id: &str) -> Result<()> {
    sqlx::query(&format!(
        "UPDATE {table} SET revision = revision + 1, updated_at = $1 WHERE id = $2"
    ))
    .bind(now())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ------------------------------------------------------------------ networks

const NETWORK_COLUMNS: &str = "id, project_id, name, description, admin_state_up, shared, external, mtu, port_security_enabled, network_type, physical_network, segmentation_id, availability_zone_hints, dns_domain, revision, created_at, updated_at, qos_policy_id";

fn network_row(r: &AnyRow) -> Result<Network> {
    let c = Columns::new("networks", r);
    Ok(Network {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        admin_state_up: c.flag("admin_state_up")?,
        shared: c.flag("shared")?,
        external: c.flag("external")?,
        mtu: c.int("mtu")?,
        port_security_enabled: c.flag("port_security_enabled")?,
        segment: Segment {
            network_type: c.get("network_type")?,
            physical_network: c.get("physical_network")?,
            segmentation_id: c
                .get::<Option<i64>>("segmentation_id")?
                .map(|v| {
                    u32::try_from(v)
                        .map_err(|_| Error::internal("networks.segmentation_id out of range"))
                })
                .transpose()?,
        },
        availability_zone_hints: json_col(&c, "availability_zone_hints")?,
        dns_domain: c.get("dns_domain")?,
        qos_policy_id: c.get("qos_policy_id")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        subnets: Vec::new(),
        tags: Vec::new(),
    })
}

/// Fill each network's subnets and tags.
async fn hydrate_networks(conn: &mut Conn, nets: &mut [Network]) -> Result<()> {
    let ids: Vec<&str> = nets.iter().map(|n| n.id.as_str()).collect();
    let mut subnets: HashMap<String, Vec<SubnetId>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id, network_id FROM subnets WHERE network_id IN ({}) ORDER BY created_at, id",
            placeholders(chunk.len(), 1)
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let c = Columns::new("subnets", &r);
            subnets
                .entry(c.get("network_id")?)
                .or_default()
                .push(c.get("id")?);
        }
    }
    let mut tags = tags_of(conn, &ids).await?;
    for n in nets {
        n.subnets = subnets.remove(n.id.as_str()).unwrap_or_default();
        n.tags = tags.remove(n.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

pub async fn insert_network(conn: &mut Conn, n: &Network) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO networks ({NETWORK_COLUMNS}) VALUES ({})",
        placeholders(18, 1)
    ))
    .bind(&n.id)
    .bind(&n.project_id)
    .bind(&n.name)
    .bind(&n.description)
    .bind(db::flag(n.admin_state_up))
    .bind(db::flag(n.shared))
    .bind(db::flag(n.external))
    .bind(i64::from(n.mtu))
    .bind(db::flag(n.port_security_enabled))
    .bind(&n.segment.network_type)
    .bind(&n.segment.physical_network)
    .bind(n.segment.segmentation_id.map(i64::from))
    .bind(to_json(&n.availability_zone_hints))
    .bind(&n.dns_domain)
    .bind(n.revision)
    .bind(&n.created_at)
    .bind(&n.updated_at)
    .bind(&n.qos_policy_id)
    .execute(&mut *conn)
    .await?;
    set_tags(conn, n.id.as_str(), &n.tags).await
}

pub async fn get_network(conn: &mut Conn, id: &NetworkId) -> Result<Option<Network>> {
    let row = sqlx::query(&format!(
        "SELECT {NETWORK_COLUMNS} FROM networks WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut nets = [network_row(&row)?];
    hydrate_networks(conn, &mut nets).await?;
    let [n] = nets;
    Ok(Some(n))
}

/// Networks `project` may see (its own, shared and external ones); all for `None`.
pub async fn list_networks(conn: &mut Conn, project: Option<&str>) -> Result<Vec<Network>> {
    let rows = match project {
        None => {
            sqlx::query(&format!(
                "SELECT {NETWORK_COLUMNS} FROM networks ORDER BY created_at, id"
            ))
            .fetch_all(&mut *conn)
            .await?
        }
        Some(p) => {
            sqlx::query(&format!("SELECT {NETWORK_COLUMNS} FROM networks WHERE project_id = $1 OR shared = 1 OR external = 1 OR id IN (SELECT object_id FROM rbac_policies WHERE object_type = 'network' AND (target_project = $1 OR target_project = '*')) ORDER BY created_at, id"))
                .bind(p)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut nets = rows.iter().map(network_row).collect::<Result<Vec<_>>>()?;
    hydrate_networks(conn, &mut nets).await?;
    Ok(nets)
}

/// Write `n` over the row at `revision` (the caller read it there); false: someone
/// changed it meanwhile.
pub async fn update_network(conn: &mut Conn, n: &Network, revision: i64) -> Result<bool> {
    let r = db::Update::new("networks")
        .set("name", n.name.clone())
        .set("description", n.description.clone())
        .set("admin_state_up", n.admin_state_up)
        .set("shared", n.shared)
        .set("external", n.external)
        .set("mtu", i64::from(n.mtu))
        .set("port_security_enabled", n.port_security_enabled)
        .set("dns_domain", n.dns_domain.clone())
        .set(
            "qos_policy_id",
            n.qos_policy_id.as_ref().map(|q| q.to_string()),
        )
        .set("updated_at", n.updated_at.clone())
        .apply(&mut *conn, n.id.as_str(), revision)
        .await?;
    Ok(r == db::Cas::Done)
}

pub async fn delete_network(conn: &mut Conn, id: &NetworkId) -> Result<()> {
    for sql in [
        "DELETE FROM segment_allocations WHERE network_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM networks WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Segmentation ids of `network_type` on `physnet` in use.
pub async fn segments_in_use(
    conn: &mut Conn,
    network_type: &str,
    physnet: &str,
) -> Result<HashSet<u32>> {
    let rows = sqlx::query(
        "SELECT segmentation_id FROM segment_allocations WHERE network_type = $1 AND physical_network = $2",
    )
    .bind(network_type)
    .bind(physnet)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Columns::new("segment_allocations", r).int::<u32>("segmentation_id"))
        .collect()
}

/// Claim a segment for a network; false when another network holds it.
pub async fn claim_segment(conn: &mut Conn, network: &NetworkId, seg: &Segment) -> Result<bool> {
    let Some(id) = seg.segmentation_id else {
        return Ok(true);
    };
    let r = sqlx::query("INSERT INTO segment_allocations (network_type, physical_network, segmentation_id, network_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(&seg.network_type)
        .bind(seg.physical_network.clone().unwrap_or_default())
        .bind(i64::from(id))
        .bind(network)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// A flat network already uses this physical network.
pub async fn flat_in_use(conn: &mut Conn, physnet: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM networks WHERE network_type = 'flat' AND physical_network = $1",
    )
    .bind(physnet)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

// ------------------------------------------------------------------ subnets

const SUBNET_COLUMNS: &str = "id, project_id, network_id, name, description, ip_version, cidr, gateway_ip, allocation_pools, dns_nameservers, host_routes, enable_dhcp, ipv6_ra_mode, ipv6_address_mode, subnetpool_id, revision, created_at, updated_at";

fn subnet_row(r: &AnyRow) -> Result<Subnet> {
    let c = Columns::new("subnets", r);
    Ok(Subnet {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        network_id: c.get("network_id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        cidr: c.parse("cidr")?,
        gateway_ip: c.parse_opt("gateway_ip")?,
        allocation_pools: json_col(&c, "allocation_pools")?,
        dns_nameservers: json_col(&c, "dns_nameservers")?,
        host_routes: json_col(&c, "host_routes")?,
        enable_dhcp: c.flag("enable_dhcp")?,
        ipv6_ra_mode: c.get("ipv6_ra_mode")?,
        ipv6_address_mode: c.get("ipv6_address_mode")?,
        subnetpool_id: c.get("subnetpool_id")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        tags: Vec::new(),
    })
}

async fn hydrate_subnets(conn: &mut Conn, subnets: &mut [Subnet]) -> Result<()> {
    let ids: Vec<&str> = subnets.iter().map(|s| s.id.as_str()).collect();
    let mut tags = tags_of(conn, &ids).await?;
    for s in subnets {
        s.tags = tags.remove(s.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

pub async fn insert_subnet(conn: &mut Conn, s: &Subnet) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO subnets ({SUBNET_COLUMNS}) VALUES ({})",
        placeholders(18, 1)
    ))
    .bind(&s.id)
    .bind(&s.project_id)
    .bind(&s.network_id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(i64::from(s.ip_version()))
    .bind(s.cidr.to_string())
    .bind(s.gateway_ip.map(|g| g.to_string()))
    .bind(to_json(&s.allocation_pools))
    .bind(to_json(&s.dns_nameservers))
    .bind(to_json(&s.host_routes))
    .bind(db::flag(s.enable_dhcp))
    .bind(&s.ipv6_ra_mode)
    .bind(&s.ipv6_address_mode)
    .bind(&s.subnetpool_id)
    .bind(s.revision)
    .bind(&s.created_at)
    .bind(&s.updated_at)
    .execute(&mut *conn)
    .await?;
    set_tags(conn, s.id.as_str(), &s.tags).await
}

pub async fn get_subnet(conn: &mut Conn, id: &SubnetId) -> Result<Option<Subnet>> {
    let row = sqlx::query(&format!(
        "SELECT {SUBNET_COLUMNS} FROM subnets WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut s = [subnet_row(&row)?];
    hydrate_subnets(conn, &mut s).await?;
    let [s] = s;
    Ok(Some(s))
}

/// The subnets of one network, or of every network when `None`.
pub async fn list_subnets(conn: &mut Conn, network: Option<&NetworkId>) -> Result<Vec<Subnet>> {
    let rows = match network {
        Some(n) => {
            sqlx::query(&format!(
            "SELECT {SUBNET_COLUMNS} FROM subnets WHERE network_id = $1 ORDER BY created_at, id"
        ))
            .bind(n)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {SUBNET_COLUMNS} FROM subnets ORDER BY created_at, id"
            ))
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let mut subnets = rows.iter().map(subnet_row).collect::<Result<Vec<_>>>()?;
    hydrate_subnets(conn, &mut subnets).await?;
    Ok(subnets)
}

pub async fn update_subnet(conn: &mut Conn, s: &Subnet, revision: i64) -> Result<bool> {
    let r = db::Update::new("subnets")
        .set("name", s.name.clone())
        .set("description", s.description.clone())
        .set("gateway_ip", s.gateway_ip.map(|g| g.to_string()))
        .set("allocation_pools", to_json(&s.allocation_pools))
        .set("dns_nameservers", to_json(&s.dns_nameservers))
        .set("host_routes", to_json(&s.host_routes))
        .set("enable_dhcp", s.enable_dhcp)
        .set("updated_at", s.updated_at.clone())
        .apply(&mut *conn, s.id.as_str(), revision)
        .await?;
    Ok(r == db::Cas::Done)
}

/// Delete a subnet and every address of it.
pub async fn delete_subnet(conn: &mut Conn, id: &SubnetId) -> Result<()> {
    for sql in [
        "DELETE FROM ip_allocations WHERE subnet_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM subnets WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

// ------------------------------------------------------------------ addresses

/// The addresses of a subnet already given out.
///
/// One row of them joined by commas (`string_agg`, in both engines) rather than a row
/// each: every port create reads them, and a row costs far more to fetch than its
/// address to parse (on a /22 with 1,000 ports this was most of a create's growth).
pub async fn taken_addresses(conn: &mut Conn, subnet: &SubnetId) -> Result<HashSet<IpAddr>> {
    let row = sqlx::query(
        "SELECT string_agg(ip_address, ',') AS taken FROM ip_allocations WHERE subnet_id = $1",
    )
    .bind(subnet)
    .fetch_one(&mut *conn)
    .await?;
    let taken: Option<String> = Columns::new("ip_allocations", &row).get("taken")?;
    taken
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse()
                .map_err(|e| Error::internal(format_args!("ip_allocations.ip_address {a:?}: {e}")))
        })
        .collect()
}

/// Give `ip` of `subnet` to `port`; false when it is taken.
pub async fn allocate(
    conn: &mut Conn,
    network: &NetworkId,
    port: &PortId,
    ip: &FixedIp,
) -> Result<bool> {
    let r = sqlx::query("INSERT INTO ip_allocations (subnet_id, ip_address, port_id, network_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(&ip.subnet_id)
        .bind(ip.ip_address.to_string())
        .bind(port)
        .bind(network)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn release_addresses(conn: &mut Conn, port: &PortId) -> Result<()> {
    sqlx::query("DELETE FROM ip_allocations WHERE port_id = $1")
        .bind(port)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ports holding an address of `subnet`, but those owned by `except_owner`.
pub async fn subnet_users(
    conn: &mut Conn,
    subnet: &SubnetId,
    except_owner: &str,
) -> Result<Vec<PortId>> {
    let rows = sqlx::query("SELECT a.port_id FROM ip_allocations a JOIN ports p ON p.id = a.port_id WHERE a.subnet_id = $1 AND p.device_owner <> $2")
        .bind(subnet)
        .bind(except_owner)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Columns::new("ip_allocations", r).get("port_id"))
        .collect()
}

// ------------------------------------------------------------------ ports

const PORT_COLUMNS: &str = "id, project_id, network_id, name, description, admin_state_up, mac_address, device_id, device_owner, host_id, vnic_type, profile, status, port_security_enabled, allowed_address_pairs, extra_dhcp_opts, dns_name, revision, created_at, updated_at, qos_policy_id";

fn port_row(r: &AnyRow) -> Result<Port> {
    let c = Columns::new("ports", r);
    Ok(Port {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        network_id: c.get("network_id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        admin_state_up: c.flag("admin_state_up")?,
        mac_address: c.get("mac_address")?,
        fixed_ips: Vec::new(),
        device_id: c.get("device_id")?,
        device_owner: c.get("device_owner")?,
        host_id: c.get("host_id")?,
        vnic_type: c.get("vnic_type")?,
        profile: json_col(&c, "profile")?,
        status: c.get("status")?,
        port_security_enabled: c.flag("port_security_enabled")?,
        security_groups: Vec::new(),
        allowed_address_pairs: json_col(&c, "allowed_address_pairs")?,
        extra_dhcp_opts: json_col(&c, "extra_dhcp_opts")?,
        dns_name: c.get("dns_name")?,
        qos_policy_id: c.get("qos_policy_id")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        tags: Vec::new(),
    })
}

async fn hydrate_ports(conn: &mut Conn, ports: &mut [Port]) -> Result<()> {
    let ids: Vec<&str> = ports.iter().map(|p| p.id.as_str()).collect();
    let mut ips: HashMap<String, Vec<FixedIp>> = HashMap::new();
    let mut sgs: HashMap<String, Vec<SecurityGroupId>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let list = placeholders(chunk.len(), 1);
        let sql = format!(
            "SELECT port_id, subnet_id, ip_address FROM ip_allocations WHERE port_id IN ({list})"
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let c = Columns::new("ip_allocations", &r);
            ips.entry(c.get("port_id")?).or_default().push(FixedIp {
                subnet_id: c.get("subnet_id")?,
                ip_address: c.parse("ip_address")?,
            });
        }
        let sql = format!("SELECT port_id, security_group_id FROM port_security_groups WHERE port_id IN ({list}) ORDER BY security_group_id");
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let c = Columns::new("port_security_groups", &r);
            sgs.entry(c.get("port_id")?)
                .or_default()
                .push(c.get("security_group_id")?);
        }
    }
    let mut tags = tags_of(conn, &ids).await?;
    for p in ports {
        let mut fixed = ips.remove(p.id.as_str()).unwrap_or_default();
        fixed.sort_by(|a, b| {
            (a.ip_address.is_ipv6(), a.ip_address).cmp(&(b.ip_address.is_ipv6(), b.ip_address))
        });
        p.fixed_ips = fixed;
        p.security_groups = sgs.remove(p.id.as_str()).unwrap_or_default();
        p.tags = tags.remove(p.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

/// Insert a port row (its addresses go in with [`allocate`]).
pub async fn insert_port(conn: &mut Conn, p: &Port) -> Result<bool> {
    let r = sqlx::query(&format!(
        "INSERT INTO ports ({PORT_COLUMNS}) VALUES ({}) ON CONFLICT DO NOTHING",
        placeholders(21, 1)
    ))
    .bind(&p.id)
    .bind(&p.project_id)
    .bind(&p.network_id)
    .bind(&p.name)
    .bind(&p.description)
    .bind(db::flag(p.admin_state_up))
    .bind(&p.mac_address)
    .bind(&p.device_id)
    .bind(&p.device_owner)
    .bind(&p.host_id)
    .bind(&p.vnic_type)
    .bind(to_json(&p.profile))
    .bind(&p.status)
    .bind(db::flag(p.port_security_enabled))
    .bind(to_json(&p.allowed_address_pairs))
    .bind(to_json(&p.extra_dhcp_opts))
    .bind(&p.dns_name)
    .bind(p.revision)
    .bind(&p.created_at)
    .bind(&p.updated_at)
    .bind(&p.qos_policy_id)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    set_port_groups(conn, &p.id, &p.security_groups).await?;
    set_tags(conn, p.id.as_str(), &p.tags).await?;
    Ok(true)
}

/// A port of `network` already has this MAC.
pub async fn mac_in_use(conn: &mut Conn, network: &NetworkId, mac: &str) -> Result<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ports WHERE network_id = $1 AND mac_address = $2")
            .bind(network)
            .bind(mac)
            .fetch_one(&mut *conn)
            .await?;
    Ok(n > 0)
}

pub async fn set_port_groups(
    conn: &mut Conn,
    port: &PortId,
    groups: &[SecurityGroupId],
) -> Result<()> {
    sqlx::query("DELETE FROM port_security_groups WHERE port_id = $1")
        .bind(port)
        .execute(&mut *conn)
        .await?;
    for g in groups.iter().collect::<HashSet<_>>() {
        sqlx::query(
            "INSERT INTO port_security_groups (port_id, security_group_id) VALUES ($1, $2)",
        )
        .bind(port)
        .bind(g)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn get_port(conn: &mut Conn, id: &PortId) -> Result<Option<Port>> {
    let row = sqlx::query(&format!("SELECT {PORT_COLUMNS} FROM ports WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut p = [port_row(&row)?];
    hydrate_ports(conn, &mut p).await?;
    let [p] = p;
    Ok(Some(p))
}

/// Which ports a list reads.
#[derive(Debug, Default, Clone)]
pub struct PortScope<'a> {
    /// Ports of this project, or on networks it owns.
    pub visible_to: Option<&'a str>,
    pub network: Option<&'a NetworkId>,
    pub device_id: Option<&'a str>,
    pub host: Option<&'a str>,
}

pub async fn list_ports(conn: &mut Conn, scope: PortScope<'_>) -> Result<Vec<Port>> {
    let mut q = db::Select::new("ports", PORT_COLUMNS).order_by("created_at, id");
    if let Some(p) = scope.visible_to {
        q = q.cond(
            "(project_id = ? OR network_id IN (SELECT id FROM networks WHERE project_id = ?))",
            [p.into(), p.into()],
        );
    }
    q = q
        .eq_opt("network_id", scope.network.map(|n| n.to_string()))
        .eq_opt("device_id", scope.device_id)
        .eq_opt("host_id", scope.host);
    let page = q.fetch(&mut *conn, port_row).await?;
    let mut ports = page.items;
    hydrate_ports(conn, &mut ports).await?;
    Ok(ports)
}

pub async fn update_port(conn: &mut Conn, p: &Port, revision: i64) -> Result<bool> {
    let r = db::Update::new("ports")
        .set("name", p.name.clone())
        .set("description", p.description.clone())
        .set("admin_state_up", p.admin_state_up)
        .set("mac_address", p.mac_address.clone())
        .set("device_id", p.device_id.clone())
        .set("device_owner", p.device_owner.clone())
        .set("host_id", p.host_id.clone())
        .set("vnic_type", p.vnic_type.clone())
        .set("profile", to_json(&p.profile))
        .set("status", p.status.clone())
        .set("port_security_enabled", p.port_security_enabled)
        .set("allowed_address_pairs", to_json(&p.allowed_address_pairs))
        .set("extra_dhcp_opts", to_json(&p.extra_dhcp_opts))
        .set("dns_name", p.dns_name.clone())
        .set(
            "qos_policy_id",
            p.qos_policy_id.as_ref().map(|q| q.to_string()),
        )
        .set("updated_at", p.updated_at.clone())
        .apply(&mut *conn, p.id.as_str(), revision)
        .await?;
    Ok(r == db::Cas::Done)
}

/// Set the status of those of `ids` bound to `host` (its agent wired them, or not).
pub async fn set_port_status_on(
    conn: &mut Conn,
    host: &str,
    ids: &[PortId],
    status: &str,
) -> Result<usize> {
    let mut n = 0;
    for id in ids {
        let r = sqlx::query("UPDATE ports SET status = $1, revision = revision + 1, updated_at = $2 WHERE id = $3 AND host_id = $4 AND status <> $1")
            .bind(status)
            .bind(now())
            .bind(id)
            .bind(host)
            .execute(&mut *conn)
            .await?;
        n += usize::try_from(r.rows_affected()).unwrap_or(0);
    }
    Ok(n)
}

pub async fn delete_port(conn: &mut Conn, id: &PortId) -> Result<bool> {
    disassociate_port(conn, id).await?;
    for sql in [
        "DELETE FROM ip_allocations WHERE port_id = $1",
        "DELETE FROM port_security_groups WHERE port_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    let r = sqlx::query("DELETE FROM ports WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Ports on a network not owned by the network itself (DHCP).
pub async fn network_users(conn: &mut Conn, network: &NetworkId) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM ports WHERE network_id = $1 AND device_owner NOT LIKE 'network:dhcp%'",
    )
    .bind(network)
    .fetch_one(&mut *conn)
    .await?)
}

// ------------------------------------------------------------------ security groups

const SG_COLUMNS: &str =
    "id, project_id, name, description, stateful, revision, created_at, updated_at";
const RULE_COLUMNS: &str = "id, project_id, security_group_id, direction, ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id, description, revision, created_at, updated_at";

fn sg_row(r: &AnyRow) -> Result<SecurityGroup> {
    let c = Columns::new("security_groups", r);
    Ok(SecurityGroup {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        stateful: c.flag("stateful")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        rules: Vec::new(),
        tags: Vec::new(),
    })
}

fn opt_port(c: &Columns, column: &str) -> Result<Option<u16>> {
    c.get::<Option<i64>>(column)?
        .map(|v| {
            u16::try_from(v)
                .map_err(|_| Error::internal(format!("security_group_rules.{column} out of range")))
        })
        .transpose()
}

fn rule_row(r: &AnyRow) -> Result<SecurityGroupRule> {
    let c = Columns::new("security_group_rules", r);
    Ok(SecurityGroupRule {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        security_group_id: c.get("security_group_id")?,
        direction: c.parse("direction")?,
        ethertype: c.get("ethertype")?,
        protocol: c.get("protocol")?,
        port_range_min: opt_port(&c, "port_range_min")?,
        port_range_max: opt_port(&c, "port_range_max")?,
        remote_ip_prefix: c.parse_opt("remote_ip_prefix")?,
        remote_group_id: c.get("remote_group_id")?,
        description: c.get("description")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}

async fn hydrate_groups(conn: &mut Conn, groups: &mut [SecurityGroup]) -> Result<()> {
    let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    let mut rules: HashMap<String, Vec<SecurityGroupRule>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM security_group_rules WHERE security_group_id IN ({}) ORDER BY created_at, id",
            placeholders(chunk.len(), 1)
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let rule = rule_row(&r)?;
            rules
                .entry(rule.security_group_id.to_string())
                .or_default()
                .push(rule);
        }
    }
    let mut tags = tags_of(conn, &ids).await?;
    for g in groups {
        g.rules = rules.remove(g.id.as_str()).unwrap_or_default();
        g.tags = tags.remove(g.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

pub async fn insert_group(conn: &mut Conn, g: &SecurityGroup) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO security_groups ({SG_COLUMNS}) VALUES ({})",
        placeholders(8, 1)
    ))
    .bind(&g.id)
    .bind(&g.project_id)
    .bind(&g.name)
    .bind(&g.description)
    .bind(db::flag(g.stateful))
    .bind(g.revision)
    .bind(&g.created_at)
    .bind(&g.updated_at)
    .execute(&mut *conn)
    .await?;
    for r in &g.rules {
        insert_rule(conn, r).await?;
    }
    set_tags(conn, g.id.as_str(), &g.tags).await
}

/// Record `group` as `project`'s default; false when another request made one first.
pub async fn claim_default_group(
    conn: &mut Conn,
    project: &str,
    group: &SecurityGroupId,
) -> Result<bool> {
    let r = sqlx::query("INSERT INTO default_security_groups (project_id, security_group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(project)
        .bind(group)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn default_group(conn: &mut Conn, project: &str) -> Result<Option<SecurityGroupId>> {
    let row =
        sqlx::query("SELECT security_group_id FROM default_security_groups WHERE project_id = $1")
            .bind(project)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| Columns::new("default_security_groups", &r).get("security_group_id"))
        .transpose()
}

pub async fn insert_rule(conn: &mut Conn, r: &SecurityGroupRule) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO security_group_rules ({RULE_COLUMNS}) VALUES ({})",
        placeholders(14, 1)
    ))
    .bind(&r.id)
    .bind(&r.project_id)
    .bind(&r.security_group_id)
    .bind(r.direction.as_str())
    .bind(&r.ethertype)
    .bind(&r.protocol)
    .bind(r.port_range_min.map(i64::from))
    .bind(r.port_range_max.map(i64::from))
    .bind(r.remote_ip_prefix.map(|p| p.to_string()))
    .bind(&r.remote_group_id)
    .bind(&r.description)
    .bind(r.revision)
    .bind(&r.created_at)
    .bind(&r.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get_group(conn: &mut Conn, id: &SecurityGroupId) -> Result<Option<SecurityGroup>> {
    let row = sqlx::query(&format!(
        "SELECT {SG_COLUMNS} FROM security_groups WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut g = [sg_row(&row)?];
    hydrate_groups(conn, &mut g).await?;
    let [g] = g;
    Ok(Some(g))
}

/// The groups of `project`, or every group for `None`.
pub async fn list_groups(conn: &mut Conn, project: Option<&str>) -> Result<Vec<SecurityGroup>> {
    let q = db::Select::new("security_groups", SG_COLUMNS)
        .eq_opt("project_id", project)
        .order_by("created_at, id");
    let mut groups = q.fetch(&mut *conn, sg_row).await?.items;
    hydrate_groups(conn, &mut groups).await?;
    Ok(groups)
}

pub async fn update_group(conn: &mut Conn, g: &SecurityGroup, revision: i64) -> Result<bool> {
    let r = db::Update::new("security_groups")
        .set("name", g.name.clone())
        .set("description", g.description.clone())
        .set("stateful", g.stateful)
        .set("updated_at", g.updated_at.clone())
        .apply(&mut *conn, g.id.as_str(), revision)
        .await?;
    Ok(r == db::Cas::Done)
}

/// Ports that use `group`.
pub async fn group_users(conn: &mut Conn, group: &SecurityGroupId) -> Result<i64> {
    Ok(
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM port_security_groups WHERE security_group_id = $1",
        )
        .bind(group)
        .fetch_one(&mut *conn)
        .await?,
    )
}

pub async fn delete_group(conn: &mut Conn, id: &SecurityGroupId) -> Result<()> {
    for sql in [
        "DELETE FROM security_group_rules WHERE security_group_id = $1 OR remote_group_id = $1",
        "DELETE FROM default_security_groups WHERE security_group_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM security_groups WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn get_rule(
    conn: &mut Conn,
    id: &types::SecurityGroupRuleId,
) -> Result<Option<SecurityGroupRule>> {
    let row = sqlx::query(&format!(
        "SELECT {RULE_COLUMNS} FROM security_group_rules WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(rule_row).transpose()
}

/// Rules of the groups of `project` (all for `None`).
pub async fn list_rules(conn: &mut Conn, project: Option<&str>) -> Result<Vec<SecurityGroupRule>> {
    let q = db::Select::new("security_group_rules", RULE_COLUMNS)
        .eq_opt("project_id", project)
        .order_by("created_at, id");
    Ok(q.fetch(&mut *conn, rule_row).await?.items)
}

pub async fn delete_rule(conn: &mut Conn, id: &types::SecurityGroupRuleId) -> Result<()> {
    sqlx::query("DELETE FROM security_group_rules WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Rules of a group.
pub async fn count_rules(conn: &mut Conn, group: &SecurityGroupId) -> Result<i64> {
    Ok(
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM security_group_rules WHERE security_group_id = $1",
        )
        .bind(group)
        .fetch_one(&mut *conn)
        .await?,
    )
}

/// Every port's id, MAC and addresses in each group (for remote-group rules).
pub async fn group_members(conn: &mut Conn) -> Result<HashMap<String, Vec<IpAddr>>> {
    let rows = sqlx::query("SELECT g.security_group_id, a.ip_address FROM port_security_groups g JOIN ip_allocations a ON a.port_id = g.port_id")
        .fetch_all(&mut *conn)
        .await?;
    let mut out: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for r in &rows {
        let c = Columns::new("port_security_groups", r);
        out.entry(c.get("security_group_id")?)
            .or_default()
            .push(c.parse("ip_address")?);
    }
    Ok(out)
}

// ------------------------------------------------------------------ quotas

/// How many `resource`s `project` has (the table of each resource counted).
pub async fn usage(conn: &mut Conn, resource: &str, project: &str) -> Result<i64> {
    let table = match resource {
        "network" => "networks",
        "subnet" => "subnets",
        "port" => "ports",
        "security_group" => "security_groups",
        "security_group_rule" => "security_group_rules",
        "router" => "routers",
        "floatingip" => "floatingips",
        _ => return Ok(0),
    };
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {table} WHERE project_id = $1"
    ))
    .bind(project)
    .fetch_one(&mut *conn)
    .await?)
}

/// The limits set for `project` (the rest are the defaults).
pub async fn quota_overrides(conn: &mut Conn, project: &str) -> Result<HashMap<String, i64>> {
    let rows = sqlx::query("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
        .bind(project)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| {
            let c = Columns::new("quotas", r);
            Ok((c.get("resource")?, c.get("hard_limit")?))
        })
        .collect()
}

/// Projects with limits of their own.
pub async fn quota_projects(conn: &mut Conn) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT project_id FROM quotas ORDER BY project_id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Columns::new("quotas", r).get("project_id"))
        .collect()
}

pub async fn set_quota(conn: &mut Conn, project: &str, resource: &str, limit: i64) -> Result<()> {
    sqlx::query("INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3) ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit")
        .bind(project)
        .bind(resource)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete_quotas(conn: &mut Conn, project: &str) -> Result<()> {
    sqlx::query("DELETE FROM quotas WHERE project_id = $1")
        .bind(project)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ------------------------------------------------------------------ agents

const AGENT_COLUMNS: &str = "id, host, agent_type, binary_name, topic, admin_state_up, availability_zone, configurations, description, started_at, heartbeat_at, created_at";

fn agent_row(r: &AnyRow, down_after: chrono::Duration) -> Result<Agent> {
    let c = Columns::new("agents", r);
    let heartbeat_at: String = c.get("heartbeat_at")?;
    let alive = chrono::DateTime::parse_from_rfc3339(&heartbeat_at)
        .map(|t| chrono::Utc::now() - t.with_timezone(&chrono::Utc) < down_after)
        .unwrap_or(false);
    Ok(Agent {
        id: c.get("id")?,
        host: c.get("host")?,
        agent_type: c.get("agent_type")?,
        binary: c.get("binary_name")?,
        topic: c.get("topic")?,
        admin_state_up: c.flag("admin_state_up")?,
        availability_zone: c.get("availability_zone")?,
        configurations: json_col(&c, "configurations")?,
        description: c.get("description")?,
        started_at: c.get("started_at")?,
        heartbeat_at,
        created_at: c.get("created_at")?,
        alive,
    })
}

/// Record an agent's heartbeat (and its state), creating it on its first.
pub async fn heartbeat(conn: &mut Conn, a: &Agent) -> Result<()> {
    sqlx::query(&format!("INSERT INTO agents ({AGENT_COLUMNS}) VALUES ({}) ON CONFLICT (host, agent_type) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, started_at = excluded.started_at, configurations = excluded.configurations, binary_name = excluded.binary_name, topic = excluded.topic", placeholders(12, 1)))
        .bind(&a.id)
        .bind(&a.host)
        .bind(&a.agent_type)
        .bind(&a.binary)
        .bind(&a.topic)
        .bind(db::flag(a.admin_state_up))
        .bind(&a.availability_zone)
        .bind(to_json(&a.configurations))
        .bind(&a.description)
        .bind(&a.started_at)
        .bind(&a.heartbeat_at)
        .bind(&a.created_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The agent of `agent_type` on `host`, if it ever reported.
pub async fn find_agent(
    conn: &mut Conn,
    host: &str,
    agent_type: &str,
    down_after: chrono::Duration,
) -> Result<Option<Agent>> {
    let row = sqlx::query(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE host = $1 AND agent_type = $2"
    ))
    .bind(host)
    .bind(agent_type)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| agent_row(&r, down_after)).transpose()
}

pub async fn list_agents(conn: &mut Conn, down_after: chrono::Duration) -> Result<Vec<Agent>> {
    let rows = sqlx::query(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents ORDER BY host, agent_type"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| agent_row(r, down_after)).collect()
}

pub async fn update_agent(
    conn: &mut Conn,
    id: &str,
    admin_state_up: bool,
    description: &str,
) -> Result<bool> {
    let r = sqlx::query("UPDATE agents SET admin_state_up = $1, description = $2 WHERE id = $3")
        .bind(db::flag(admin_state_up))
        .bind(description)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete_agent(conn: &mut Conn, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM agents WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Rows of any table, by id, exist (used by the tag API to find a resource's table).
pub async fn exists(conn: &mut Conn, table: &'static str, id: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(n > 0)
}

// ------------------------------------------------------------------ routers

const ROUTER_COLUMNS: &str = "id, project_id, name, description, admin_state_up, gw_network_id, enable_snat, routes, availability_zone_hints, revision, created_at, updated_at";

fn router_row(r: &AnyRow) -> Result<Router> {
    let c = Columns::new("routers", r);
    let gw: Option<NetworkId> = c.get("gw_network_id")?;
    let enable_snat = c.flag("enable_snat")?;
    Ok(Router {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        admin_state_up: c.flag("admin_state_up")?,
        gateway: gw.map(|network_id| Gateway {
            network_id,
            enable_snat,
            external_fixed_ips: Vec::new(),
        }),
        routes: json_col(&c, "routes")?,
        availability_zone_hints: json_col(&c, "availability_zone_hints")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        tags: Vec::new(),
    })
}

/// Fill each router's gateway addresses (from its gateway port) and tags.
async fn hydrate_routers(conn: &mut Conn, routers: &mut [Router]) -> Result<()> {
    let ids: Vec<&str> = routers.iter().map(|r| r.id.as_str()).collect();
    let mut gw_ips: HashMap<String, Vec<FixedIp>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT p.device_id, a.subnet_id, a.ip_address FROM ports p JOIN ip_allocations a ON a.port_id = p.id WHERE p.device_owner = $1 AND p.device_id IN ({})",
            placeholders(chunk.len(), 2)
        );
        let mut q = sqlx::query(&sql).bind(DEVICE_OWNER_ROUTER_GATEWAY);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            let c = Columns::new("ports", &r);
            gw_ips
                .entry(c.get("device_id")?)
                .or_default()
                .push(FixedIp {
                    subnet_id: c.get("subnet_id")?,
                    ip_address: c.parse("ip_address")?,
                });
        }
    }
    let mut tags = tags_of(conn, &ids).await?;
    for r in routers {
        if let Some(g) = &mut r.gateway {
            let mut ips = gw_ips.remove(r.id.as_str()).unwrap_or_default();
            ips.sort_by_key(|f| (f.ip_address.is_ipv6(), f.ip_address));
            g.external_fixed_ips = ips;
        }
        r.tags = tags.remove(r.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

pub async fn insert_router(conn: &mut Conn, r: &Router) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO routers ({ROUTER_COLUMNS}) VALUES ({})",
        placeholders(12, 1)
    ))
    .bind(&r.id)
    .bind(&r.project_id)
    .bind(&r.name)
    .bind(&r.description)
    .bind(db::flag(r.admin_state_up))
    .bind(r.gateway.as_ref().map(|g| g.network_id.clone()))
    .bind(db::flag(r.gateway.as_ref().is_none_or(|g| g.enable_snat)))
    .bind(to_json(&r.routes))
    .bind(to_json(&r.availability_zone_hints))
    .bind(r.revision)
    .bind(&r.created_at)
    .bind(&r.updated_at)
    .execute(&mut *conn)
    .await?;
    set_tags(conn, r.id.as_str(), &r.tags).await
}

pub async fn get_router(conn: &mut Conn, id: &RouterId) -> Result<Option<Router>> {
    let row = sqlx::query(&format!(
        "SELECT {ROUTER_COLUMNS} FROM routers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut r = [router_row(&row)?];
    hydrate_routers(conn, &mut r).await?;
    let [r] = r;
    Ok(Some(r))
}

/// The routers of `project` (every router for `None`).
pub async fn list_routers(conn: &mut Conn, project: Option<&str>) -> Result<Vec<Router>> {
    let q = db::Select::new("routers", ROUTER_COLUMNS)
        .eq_opt("project_id", project)
        .order_by("created_at, id");
    let mut routers = q.fetch(&mut *conn, router_row).await?.items;
    hydrate_routers(conn, &mut routers).await?;
    Ok(routers)
}

pub async fn update_router(conn: &mut Conn, r: &Router, revision: i64) -> Result<bool> {
    let res = db::Update::new("routers")
        .set("name", r.name.clone())
        .set("description", r.description.clone())
        .set("admin_state_up", r.admin_state_up)
        .set(
            "gw_network_id",
            r.gateway.as_ref().map(|g| g.network_id.to_string()),
        )
        .set(
            "enable_snat",
            r.gateway.as_ref().is_none_or(|g| g.enable_snat),
        )
        .set("routes", to_json(&r.routes))
        .set("updated_at", r.updated_at.clone())
        .apply(&mut *conn, r.id.as_str(), revision)
        .await?;
    Ok(res == db::Cas::Done)
}

pub async fn delete_router(conn: &mut Conn, id: &RouterId) -> Result<()> {
    for sql in [
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM routers WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The ports a router owns with `owner` (its interfaces, or its gateway port).
pub async fn router_ports(conn: &mut Conn, router: &RouterId, owner: &str) -> Result<Vec<Port>> {
    let q = db::Select::new("ports", PORT_COLUMNS)
        .eq("device_id", router.to_string())
        .eq("device_owner", owner)
        .order_by("created_at, id");
    let mut ports = q.fetch(&mut *conn, port_row).await?.items;
    hydrate_ports(conn, &mut ports).await?;
    Ok(ports)
}

// ------------------------------------------------------------------ floating IPs

const FIP_COLUMNS: &str = "id, project_id, floating_network_id, floating_port_id, floating_ip_address, port_id, fixed_ip_address, router_id, description, dns_name, dns_domain, revision, created_at, updated_at";

fn fip_row(r: &AnyRow) -> Result<FloatingIp> {
    let c = Columns::new("floatingips", r);
    Ok(FloatingIp {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        floating_network_id: c.get("floating_network_id")?,
        floating_port_id: c.get("floating_port_id")?,
        floating_ip_address: c.parse("floating_ip_address")?,
        port_id: c.get("port_id")?,
        fixed_ip_address: c.parse_opt("fixed_ip_address")?,
        router_id: c.get("router_id")?,
        description: c.get("description")?,
        dns_name: c.get("dns_name")?,
        dns_domain: c.get("dns_domain")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        tags: Vec::new(),
    })
}

async fn hydrate_fips(conn: &mut Conn, fips: &mut [FloatingIp]) -> Result<()> {
    let ids: Vec<&str> = fips.iter().map(|f| f.id.as_str()).collect();
    let mut tags = tags_of(conn, &ids).await?;
    for f in fips {
        f.tags = tags.remove(f.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

pub async fn insert_fip(conn: &mut Conn, f: &FloatingIp) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO floatingips ({FIP_COLUMNS}) VALUES ({})",
        placeholders(14, 1)
    ))
    .bind(&f.id)
    .bind(&f.project_id)
    .bind(&f.floating_network_id)
    .bind(&f.floating_port_id)
    .bind(f.floating_ip_address.to_string())
    .bind(&f.port_id)
    .bind(f.fixed_ip_address.map(|a| a.to_string()))
    .bind(&f.router_id)
    .bind(&f.description)
    .bind(&f.dns_name)
    .bind(&f.dns_domain)
    .bind(f.revision)
    .bind(&f.created_at)
    .bind(&f.updated_at)
    .execute(&mut *conn)
    .await?;
    set_tags(conn, f.id.as_str(), &f.tags).await
}

pub async fn get_fip(conn: &mut Conn, id: &FloatingIpId) -> Result<Option<FloatingIp>> {
    let row = sqlx::query(&format!(
        "SELECT {FIP_COLUMNS} FROM floatingips WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut f = [fip_row(&row)?];
    hydrate_fips(conn, &mut f).await?;
    let [f] = f;
    Ok(Some(f))
}

/// Which floating IPs a list reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct FipScope<'a> {
    pub project: Option<&'a str>,
    pub port: Option<&'a PortId>,
    pub router: Option<&'a RouterId>,
}

pub async fn list_fips(conn: &mut Conn, scope: FipScope<'_>) -> Result<Vec<FloatingIp>> {
    let q = db::Select::new("floatingips", FIP_COLUMNS)
        .eq_opt("project_id", scope.project)
        .eq_opt("port_id", scope.port.map(|p| p.to_string()))
        .eq_opt("router_id", scope.router.map(|r| r.to_string()))
        .order_by("created_at, id");
    let mut fips = q.fetch(&mut *conn, fip_row).await?.items;
    hydrate_fips(conn, &mut fips).await?;
    Ok(fips)
}

/// Write a floating IP's association (and description) over the row at `revision`.
pub async fn update_fip(conn: &mut Conn, f: &FloatingIp, revision: i64) -> Result<bool> {
    let r = db::Update::new("floatingips")
        .set("port_id", f.port_id.as_ref().map(|p| p.to_string()))
        .set(
            "fixed_ip_address",
            f.fixed_ip_address.map(|a| a.to_string()),
        )
        .set("router_id", f.router_id.as_ref().map(|r| r.to_string()))
        .set("description", f.description.clone())
        .set("updated_at", f.updated_at.clone())
        .apply(&mut *conn, f.id.as_str(), revision)
        .await?;
    Ok(r == db::Cas::Done)
}

pub async fn delete_fip(conn: &mut Conn, id: &FloatingIpId) -> Result<()> {
    for sql in [
        "DELETE FROM port_forwardings WHERE floatingip_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM floatingips WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Forget the association of every floating IP on `port` (the port is going away).
pub async fn disassociate_port(conn: &mut Conn, port: &PortId) -> Result<()> {
    sqlx::query("UPDATE floatingips SET port_id = NULL, fixed_ip_address = NULL, router_id = NULL, revision = revision + 1, updated_at = $1 WHERE port_id = $2")
        .bind(now())
        .bind(port)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM port_forwardings WHERE internal_port_id = $1")
        .bind(port)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ------------------------------------------------------------------ port forwardings

const PF_COLUMNS: &str = "id, floatingip_id, protocol, internal_port_id, internal_ip_address, internal_port, external_port, description, revision, created_at, updated_at";

fn pf_row(r: &AnyRow) -> Result<PortForwarding> {
    let c = Columns::new("port_forwardings", r);
    Ok(PortForwarding {
        id: c.get("id")?,
        floatingip_id: c.get("floatingip_id")?,
        protocol: c.get("protocol")?,
        internal_port_id: c.get("internal_port_id")?,
        internal_ip_address: c.parse("internal_ip_address")?,
        internal_port: c.int("internal_port")?,
        external_port: c.int("external_port")?,
        description: c.get("description")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}

/// Insert a port forwarding; false when the (protocol, external port) is taken.
pub async fn insert_pf(conn: &mut Conn, p: &PortForwarding) -> Result<bool> {
    let r = sqlx::query(&format!(
        "INSERT INTO port_forwardings ({PF_COLUMNS}) VALUES ({}) ON CONFLICT DO NOTHING",
        placeholders(11, 1)
    ))
    .bind(&p.id)
    .bind(&p.floatingip_id)
    .bind(&p.protocol)
    .bind(&p.internal_port_id)
    .bind(p.internal_ip_address.to_string())
    .bind(i64::from(p.internal_port))
    .bind(i64::from(p.external_port))
    .bind(&p.description)
    .bind(p.revision)
    .bind(&p.created_at)
    .bind(&p.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The port forwardings of one floating IP, or of all for `None`.
pub async fn list_pfs(conn: &mut Conn, fip: Option<&FloatingIpId>) -> Result<Vec<PortForwarding>> {
    let q = db::Select::new("port_forwardings", PF_COLUMNS)
        .eq_opt("floatingip_id", fip.map(|f| f.to_string()))
        .order_by("created_at, id");
    Ok(q.fetch(&mut *conn, pf_row).await?.items)
}

pub async fn delete_pf(conn: &mut Conn, fip: &FloatingIpId, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM port_forwardings WHERE floatingip_id = $1 AND id = $2")
        .bind(fip)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

// ------------------------------------------------------------------ QoS

const QOS_COLUMNS: &str =
    "id, project_id, name, description, shared, is_default, revision, created_at, updated_at";

fn qos_row(r: &AnyRow) -> Result<QosPolicy> {
    let c = Columns::new("qos_policies", r);
    Ok(QosPolicy {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        shared: c.flag("shared")?,
        is_default: c.flag("is_default")?,
        rules: Vec::new(),
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        tags: Vec::new(),
    })
}

async fn hydrate_qos(conn: &mut Conn, policies: &mut [QosPolicy]) -> Result<()> {
    let rows = sqlx::query(
        "SELECT id, policy_id, max_kbps, max_burst_kbps, direction FROM qos_rules ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut rules: HashMap<String, Vec<BandwidthLimitRule>> = HashMap::new();
    for r in &rows {
        let c = Columns::new("qos_rules", r);
        let rule = BandwidthLimitRule {
            id: c.get("id")?,
            policy_id: c.get("policy_id")?,
            max_kbps: c.int("max_kbps")?,
            max_burst_kbps: c.int("max_burst_kbps")?,
            direction: c.get("direction")?,
        };
        rules
            .entry(rule.policy_id.to_string())
            .or_default()
            .push(rule);
    }
    let ids: Vec<&str> = policies.iter().map(|p| p.id.as_str()).collect();
    let mut tags = tags_of(conn, &ids).await?;
    for p in policies {
        p.rules = rules.remove(p.id.as_str()).unwrap_or_default();
        p.tags = tags.remove(p.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

pub async fn insert_qos(conn: &mut Conn, p: &QosPolicy) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO qos_policies ({QOS_COLUMNS}) VALUES ({})",
        placeholders(9, 1)
    ))
    .bind(&p.id)
    .bind(&p.project_id)
    .bind(&p.name)
    .bind(&p.description)
    .bind(db::flag(p.shared))
    .bind(db::flag(p.is_default))
    .bind(p.revision)
    .bind(&p.created_at)
    .bind(&p.updated_at)
    .execute(&mut *conn)
    .await?;
    set_tags(conn, p.id.as_str(), &p.tags).await
}

pub async fn get_qos(conn: &mut Conn, id: &QosPolicyId) -> Result<Option<QosPolicy>> {
    let row = sqlx::query(&format!(
        "SELECT {QOS_COLUMNS} FROM qos_policies WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut p = [qos_row(&row)?];
    hydrate_qos(conn, &mut p).await?;
    let [p] = p;
    Ok(Some(p))
}

/// Every QoS policy (the app layer filters what a caller may see).
pub async fn list_qos(conn: &mut Conn) -> Result<Vec<QosPolicy>> {
    let mut policies = db::Select::new("qos_policies", QOS_COLUMNS)
        .order_by("created_at, id")
        .fetch(&mut *conn, qos_row)
        .await?
        .items;
    hydrate_qos(conn, &mut policies).await?;
    Ok(policies)
}

pub async fn update_qos(conn: &mut Conn, p: &QosPolicy, revision: i64) -> Result<bool> {
    let r = db::Update::new("qos_policies")
        .set("name", p.name.clone())
        .set("description", p.description.clone())
        .set("shared", p.shared)
        .set("is_default", p.is_default)
        .set("updated_at", p.updated_at.clone())
        .apply(&mut *conn, p.id.as_str(), revision)
        .await?;
    Ok(r == db::Cas::Done)
}

/// Ports and networks that use a policy.
pub async fn qos_users(conn: &mut Conn, id: &QosPolicyId) -> Result<i64> {
    let ports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ports WHERE qos_policy_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let nets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM networks WHERE qos_policy_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(ports + nets)
}

pub async fn delete_qos(conn: &mut Conn, id: &QosPolicyId) -> Result<()> {
    for sql in [
        "DELETE FROM qos_rules WHERE policy_id = $1",
        "DELETE FROM rbac_policies WHERE object_type = 'qos_policy' AND object_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM qos_policies WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Insert a rule; false when the policy has one of that direction already.
pub async fn insert_qos_rule(conn: &mut Conn, r: &BandwidthLimitRule) -> Result<bool> {
    let res = sqlx::query("INSERT INTO qos_rules (id, policy_id, rule_type, max_kbps, max_burst_kbps, direction) VALUES ($1, $2, 'bandwidth_limit', $3, $4, $5) ON CONFLICT DO NOTHING")
        .bind(&r.id)
        .bind(&r.policy_id)
        .bind(i64::try_from(r.max_kbps).map_err(|_| Error::bad_request("max_kbps is too large"))?)
        .bind(i64::try_from(r.max_burst_kbps).map_err(|_| Error::bad_request("max_burst_kbps is too large"))?)
        .bind(&r.direction)
        .execute(&mut *conn)
        .await?;
    Ok(res.rows_affected() == 1)
}

pub async fn update_qos_rule(conn: &mut Conn, r: &BandwidthLimitRule) -> Result<()> {
    sqlx::query(
        "UPDATE qos_rules SET max_kbps = $1, max_burst_kbps = $2, direction = $3 WHERE id = $4",
    )
    .bind(i64::try_from(r.max_kbps).map_err(|_| Error::bad_request("max_kbps is too large"))?)
    .bind(
        i64::try_from(r.max_burst_kbps)
            .map_err(|_| Error::bad_request("max_burst_kbps is too large"))?,
    )
    .bind(&r.direction)
    .bind(&r.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn delete_qos_rule(conn: &mut Conn, policy: &QosPolicyId, id: &str) -> Result<bool> {
    let r = sqlx::query("DELETE FROM qos_rules WHERE policy_id = $1 AND id = $2")
        .bind(policy)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

// ------------------------------------------------------------------ RBAC

const RBAC_COLUMNS: &str = "id, project_id, object_type, object_id, action, target_project, revision, created_at, updated_at";

fn rbac_row(r: &AnyRow) -> Result<RbacPolicy> {
    let c = Columns::new("rbac_policies", r);
    Ok(RbacPolicy {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        object_type: c.get("object_type")?,
        object_id: c.get("object_id")?,
        action: c.get("action")?,
        target_project: c.get("target_project")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}

/// Insert; false when the same grant exists.
pub async fn insert_rbac(conn: &mut Conn, p: &RbacPolicy) -> Result<bool> {
    let r = sqlx::query(&format!(
        "INSERT INTO rbac_policies ({RBAC_COLUMNS}) VALUES ({}) ON CONFLICT DO NOTHING",
        placeholders(9, 1)
    ))
    .bind(&p.id)
    .bind(&p.project_id)
    .bind(&p.object_type)
    .bind(&p.object_id)
    .bind(&p.action)
    .bind(&p.target_project)
    .bind(p.revision)
    .bind(&p.created_at)
    .bind(&p.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Every RBAC policy (the app layer filters what a caller may see).
pub async fn list_rbac(conn: &mut Conn) -> Result<Vec<RbacPolicy>> {
    Ok(db::Select::new("rbac_policies", RBAC_COLUMNS)
        .order_by("created_at, id")
        .fetch(&mut *conn, rbac_row)
        .await?
        .items)
}

pub async fn get_rbac(conn: &mut Conn, id: &RbacPolicyId) -> Result<Option<RbacPolicy>> {
    let row = sqlx::query(&format!(
        "SELECT {RBAC_COLUMNS} FROM rbac_policies WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(rbac_row).transpose()
}

pub async fn update_rbac_target(conn: &mut Conn, id: &RbacPolicyId, target: &str) -> Result<()> {
    sqlx::query("UPDATE rbac_policies SET target_project = $1, revision = revision + 1, updated_at = $2 WHERE id = $3")
        .bind(target)
        .bind(now())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn delete_rbac(conn: &mut Conn, id: &RbacPolicyId) -> Result<()> {
    sqlx::query("DELETE FROM rbac_policies WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ports of projects other than the network's owner on `network` (an RBAC grant being
/// withdrawn would strand them).
pub async fn foreign_ports(conn: &mut Conn, network: &str, owner: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT project_id FROM ports WHERE network_id = $1 AND project_id <> $2 AND project_id <> ''")
        .bind(network)
        .bind(owner)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Columns::new("ports", r).get("project_id"))
        .collect()
}

// ------------------------------------------------------------------ subnet pools, address scopes

const POOL_COLUMNS: &str = "id, project_id, name, description, ip_version, prefixes, default_prefixlen, min_prefixlen, max_prefixlen, shared, is_default, address_scope_id, default_quota, revision, created_at, updated_at";

fn pool_row(r: &AnyRow) -> Result<SubnetPool> {
    let c = Columns::new("subnet_pools", r);
    Ok(SubnetPool {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        ip_version: c.int("ip_version")?,
        prefixes: json_col(&c, "prefixes")?,
        default_prefixlen: c.int("default_prefixlen")?,
        min_prefixlen: c.int("min_prefixlen")?,
        max_prefixlen: c.int("max_prefixlen")?,
        shared: c.flag("shared")?,
        is_default: c.flag("is_default")?,
        address_scope_id: c.get("address_scope_id")?,
        default_quota: c.get("default_quota")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
        tags: Vec::new(),
    })
}

pub async fn insert_pool(conn: &mut Conn, p: &SubnetPool) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO subnet_pools ({POOL_COLUMNS}) VALUES ({})",
        placeholders(16, 1)
    ))
    .bind(&p.id)
    .bind(&p.project_id)
    .bind(&p.name)
    .bind(&p.description)
    .bind(i64::from(p.ip_version))
    .bind(to_json(&p.prefixes))
    .bind(i64::from(p.default_prefixlen))
    .bind(i64::from(p.min_prefixlen))
    .bind(i64::from(p.max_prefixlen))
    .bind(db::flag(p.shared))
    .bind(db::flag(p.is_default))
    .bind(&p.address_scope_id)
    .bind(p.default_quota)
    .bind(p.revision)
    .bind(&p.created_at)
    .bind(&p.updated_at)
    .execute(&mut *conn)
    .await?;
    set_tags(conn, p.id.as_str(), &p.tags).await
}

async fn hydrate_pools(conn: &mut Conn, pools: &mut [SubnetPool]) -> Result<()> {
    let ids: Vec<&str> = pools.iter().map(|p| p.id.as_str()).collect();
    let mut tags = tags_of(conn, &ids).await?;
    for p in pools {
        p.tags = tags.remove(p.id.as_str()).unwrap_or_default();
    }
    Ok(())
}

pub async fn get_pool(conn: &mut Conn, id: &SubnetPoolId) -> Result<Option<SubnetPool>> {
    let row = sqlx::query(&format!(
        "SELECT {POOL_COLUMNS} FROM subnet_pools WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut p = [pool_row(&row)?];
    hydrate_pools(conn, &mut p).await?;
    let [p] = p;
    Ok(Some(p))
}

/// Every pool (the app layer filters what a caller may see).
pub async fn list_pools(conn: &mut Conn) -> Result<Vec<SubnetPool>> {
    let mut pools = db::Select::new("subnet_pools", POOL_COLUMNS)
        .order_by("created_at, id")
        .fetch(&mut *conn, pool_row)
        .await?
        .items;
    hydrate_pools(conn, &mut pools).await?;
    Ok(pools)
}

pub async fn update_pool(conn: &mut Conn, p: &SubnetPool, revision: i64) -> Result<bool> {
    let r = db::Update::new("subnet_pools")
        .set("name", p.name.clone())
        .set("description", p.description.clone())
        .set("prefixes", to_json(&p.prefixes))
        .set("default_prefixlen", i64::from(p.default_prefixlen))
        .set("min_prefixlen", i64::from(p.min_prefixlen))
        .set("max_prefixlen", i64::from(p.max_prefixlen))
        .set("is_default", p.is_default)
        .set(
            "address_scope_id",
            p.address_scope_id.as_ref().map(|a| a.to_string()),
        )
        .set("updated_at", p.updated_at.clone())
        .apply(&mut *conn, p.id.as_str(), revision)
        .await?;
    Ok(r == db::Cas::Done)
}

/// The subnets allocated from a pool (their CIDRs).
pub async fn pool_allocations(conn: &mut Conn, pool: &SubnetPoolId) -> Result<Vec<ipnet::IpNet>> {
    let rows = sqlx::query("SELECT cidr FROM subnets WHERE subnetpool_id = $1")
        .bind(pool)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Columns::new("subnets", r).parse("cidr"))
        .collect()
}

pub async fn delete_pool(conn: &mut Conn, id: &SubnetPoolId) -> Result<()> {
    for sql in [
        "DELETE FROM tags WHERE resource_id = $1",
        "DELETE FROM subnet_pools WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *conn).await?;
    }
    Ok(())
}

const SCOPE_COLUMNS: &str =
    "id, project_id, name, ip_version, shared, revision, created_at, updated_at";

fn scope_row(r: &AnyRow) -> Result<AddressScope> {
    let c = Columns::new("address_scopes", r);
    Ok(AddressScope {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        name: c.get("name")?,
        ip_version: c.int("ip_version")?,
        shared: c.flag("shared")?,
        revision: c.get("revision")?,
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}

pub async fn insert_scope(conn: &mut Conn, s: &AddressScope) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO address_scopes ({SCOPE_COLUMNS}) VALUES ({})",
        placeholders(8, 1)
    ))
    .bind(&s.id)
    .bind(&s.project_id)
    .bind(&s.name)
    .bind(i64::from(s.ip_version))
    .bind(db::flag(s.shared))
    .bind(s.revision)
    .bind(&s.created_at)
    .bind(&s.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get_scope(conn: &mut Conn, id: &AddressScopeId) -> Result<Option<AddressScope>> {
    let row = sqlx::query(&format!(
        "SELECT {SCOPE_COLUMNS} FROM address_scopes WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(scope_row).transpose()
}

pub async fn list_scopes(conn: &mut Conn) -> Result<Vec<AddressScope>> {
    Ok(db::Select::new("address_scopes", SCOPE_COLUMNS)
        .order_by("created_at, id")
        .fetch(&mut *conn, scope_row)
        .await?
        .items)
}

pub async fn update_scope(conn: &mut Conn, s: &AddressScope, revision: i64) -> Result<bool> {
    let r = db::Update::new("address_scopes")
        .set("name", s.name.clone())
        .set("shared", s.shared)
        .set("updated_at", s.updated_at.clone())
        .apply(&mut *conn, s.id.as_str(), revision)
        .await?;
    Ok(r == db::Cas::Done)
}

/// Pools in a scope.
pub async fn scope_users(conn: &mut Conn, id: &AddressScopeId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM subnet_pools WHERE address_scope_id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?,
    )
}

pub async fn delete_scope(conn: &mut Conn, id: &AddressScopeId) -> Result<()> {
    sqlx::query("DELETE FROM address_scopes WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

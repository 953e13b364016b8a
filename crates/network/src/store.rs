//! Every SQL statement of the Networking service, written once for SQLite and
//! PostgreSQL (see the db crate). Functions take a connection, so the app layer groups
//! them in one transaction ([`db::Db::begin_write`]) where a change spans tables.
//!
//! Each resource's row type is a [`Record`]: its table, its columns, how a row decodes
//! and encodes, and what other tables fill in (tags, rules, addresses). Reading one by
//! id, listing, inserting and deleting are then written once ([`get`], [`list`],
//! [`insert`], [`delete_tagged`]); the public functions below name the resource.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
};

use db::{Columns, Value};
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

fn to_json<T: Serialize>(v: &T) -> Value {
    Value::Text(serde_json::to_string(v).expect("plain values serialize"))
}

// ------------------------------------------------------------------ records

/// The row type of one table.
trait Record: Sized {
    const TABLE: &'static str;
    /// Every column, in the order of [`Record::values`].
    const COLUMNS: &'static str;
    fn from_row(r: &AnyRow) -> Result<Self>;
    /// The values of [`Record::COLUMNS`], for an insert.
    fn values(&self) -> Vec<Value>;
    /// Fill in what other tables hold (tags, rules, addresses).
    async fn hydrate(_conn: &mut Conn, _items: &mut [Self]) -> Result<()> {
        Ok(())
    }
}

/// A record with tags (kept in the `tags` table by resource id).
trait Tagged: Record + HasTags {}

impl<T: Record + HasTags> Tagged for T {}

/// `SELECT <columns> FROM <table>`, for conditions to be added.
fn select<T: Record>() -> db::Select {
    db::Select::new(T::TABLE, T::COLUMNS)
}

/// The record with this id, filled in.
async fn get<T: Record>(conn: &mut Conn, id: &str) -> Result<Option<T>> {
    let Some(item) = select::<T>()
        .eq("id", id)
        .fetch_optional(&mut *conn, T::from_row)
        .await?
    else {
        return Ok(None);
    };
    let mut items = [item];
    T::hydrate(conn, &mut items).await?;
    let [item] = items;
    Ok(Some(item))
}

/// The records `q` (from [`select`]) finds, oldest first, filled in.
async fn list<T: Record>(conn: &mut Conn, q: db::Select) -> Result<Vec<T>> {
    let mut items = q
        .order_by("created_at, id")
        .fetch(&mut *conn, T::from_row)
        .await?
        .items;
    T::hydrate(conn, &mut items).await?;
    Ok(items)
}

fn insert_row<T: Record>(item: &T) -> db::Insert {
    db::Insert::new(T::TABLE, T::COLUMNS, item.values())
}

async fn insert<T: Record>(conn: &mut Conn, item: &T) -> Result<()> {
    insert_row(item).execute(&mut *conn).await?;
    Ok(())
}

/// Insert; false when the row conflicts with one there (nothing is written).
async fn insert_new<T: Record>(conn: &mut Conn, item: &T) -> Result<bool> {
    let n = insert_row(item)
        .on_conflict("DO NOTHING")
        .execute(&mut *conn)
        .await?;
    Ok(n == 1)
}

async fn insert_tagged<T: Tagged>(conn: &mut Conn, item: &T) -> Result<()> {
    insert(conn, item).await?;
    set_tags(conn, item.id(), item.tags()).await
}

/// Write over the row at `revision`; false: someone changed it meanwhile.
async fn update(conn: &mut Conn, u: db::Update, id: &str, revision: i64) -> Result<bool> {
    Ok(u.apply(&mut *conn, id, revision).await? == db::Cas::Done)
}

/// Run `first` (each with the id as `$1`), then delete the record's tags and its row.
async fn delete_tagged<T: Tagged>(conn: &mut Conn, id: &str, first: &[&str]) -> Result<()> {
    let row = format!("DELETE FROM {} WHERE id = $1", T::TABLE);
    let mut statements = first.to_vec();
    statements.extend(["DELETE FROM tags WHERE resource_id = $1", row.as_str()]);
    db::execute_each(conn, &statements, id).await?;
    Ok(())
}

/// Delete the row with this id (a record nothing else refers to).
async fn delete_row<T: Record>(conn: &mut Conn, id: &str) -> Result<()> {
    let sql = format!("DELETE FROM {} WHERE id = $1", T::TABLE);
    db::execute_each(conn, &[sql.as_str()], id).await?;
    Ok(())
}

/// Rows of `sql` over many ids ([`db::fetch_in`]), grouped by the key `map` returns.
async fn grouped<T>(
    conn: &mut Conn,
    sql: &str,
    lead: &[Value],
    ids: &[&str],
    map: impl FnMut(&AnyRow) -> Result<(String, T)>,
) -> Result<HashMap<String, Vec<T>>> {
    let mut out: HashMap<String, Vec<T>> = HashMap::new();
    for (k, v) in db::fetch_in(conn, sql, lead, ids, map).await? {
        out.entry(k).or_default().push(v);
    }
    Ok(out)
}

/// Fill each item's tags.
async fn fill_tags<T: Tagged>(conn: &mut Conn, items: &mut [T]) -> Result<()> {
    let ids: Vec<&str> = items.iter().map(HasTags::id).collect();
    let mut tags = tags_of(conn, &ids).await?;
    for x in items {
        *x.tags_mut() = tags.remove(x.id()).unwrap_or_default();
    }
    Ok(())
}

// ------------------------------------------------------------------ tags

/// The tags of each of `ids`.
async fn tags_of(conn: &mut Conn, ids: &[&str]) -> Result<HashMap<String, Vec<String>>> {
    grouped(
        conn,
        "SELECT resource_id, tag FROM tags WHERE resource_id IN ({}) ORDER BY tag",
        &[],
        ids,
        |r| {
            let c = Columns::new("tags", r);
            Ok((c.get("resource_id")?, c.get("tag")?))
        },
    )
    .await
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

impl Record for Network {
    const TABLE: &'static str = "networks";
    const COLUMNS: &'static str = "id, project_id, name, description, admin_state_up, shared, external, mtu, port_security_enabled, network_type, physical_network, segmentation_id, availability_zone_hints, dns_domain, revision, created_at, updated_at, qos_policy_id";

    fn from_row(r: &AnyRow) -> Result<Network> {
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

    fn values(&self) -> Vec<Value> {
        let n = self;
        vec![
            (&n.id).into(),
            (&n.project_id).into(),
            (&n.name).into(),
            (&n.description).into(),
            n.admin_state_up.into(),
            n.shared.into(),
            n.external.into(),
            i64::from(n.mtu).into(),
            n.port_security_enabled.into(),
            (&n.segment.network_type).into(),
            (&n.segment.physical_network).into(),
            n.segment.segmentation_id.map(i64::from).into(),
            to_json(&n.availability_zone_hints),
            (&n.dns_domain).into(),
            n.revision.into(),
            (&n.created_at).into(),
            (&n.updated_at).into(),
            (&n.qos_policy_id).into(),
        ]
    }

    /// Fill each network's subnets and tags.
    async fn hydrate(conn: &mut Conn, nets: &mut [Network]) -> Result<()> {
        let ids: Vec<&str> = nets.iter().map(|n| n.id.as_str()).collect();
        let mut subnets = grouped(
            conn,
            "SELECT id, network_id FROM subnets WHERE network_id IN ({}) ORDER BY created_at, id",
            &[],
            &ids,
            |r| {
                let c = Columns::new("subnets", r);
                Ok((c.get("network_id")?, c.get::<SubnetId>("id")?))
            },
        )
        .await?;
        for n in nets.iter_mut() {
            n.subnets = subnets.remove(n.id.as_str()).unwrap_or_default();
        }
        fill_tags(conn, nets).await
    }
}

pub async fn insert_network(conn: &mut Conn, n: &Network) -> Result<()> {
    insert_tagged(conn, n).await
}

pub async fn get_network(conn: &mut Conn, id: &NetworkId) -> Result<Option<Network>> {
    get(conn, id.as_str()).await
}

/// Networks `project` may see (its own, shared and external ones); all for `None`.
pub async fn list_networks(conn: &mut Conn, project: Option<&str>) -> Result<Vec<Network>> {
    let mut q = select::<Network>();
    if let Some(p) = project {
        q = q.cond("(project_id = ? OR shared = 1 OR external = 1 OR id IN (SELECT object_id FROM rbac_policies WHERE object_type = 'network' AND (target_project = ? OR target_project = '*')))", [p.into(), p.into()]);
    }
    list(conn, q).await
}

/// Write `n` over the row at `revision` (the caller read it there); false: someone
/// changed it meanwhile.
pub async fn update_network(conn: &mut Conn, n: &Network, revision: i64) -> Result<bool> {
    let u = db::Update::new("networks")
        .set("name", n.name.clone())
        .set("description", n.description.clone())
        .set("admin_state_up", n.admin_state_up)
        .set("shared", n.shared)
        .set("external", n.external)
        .set("mtu", i64::from(n.mtu))
        .set("port_security_enabled", n.port_security_enabled)
        .set("dns_domain", n.dns_domain.clone())
        .set("qos_policy_id", &n.qos_policy_id)
        .set("updated_at", n.updated_at.clone());
    update(conn, u, n.id.as_str(), revision).await
}

pub async fn delete_network(conn: &mut Conn, id: &NetworkId) -> Result<()> {
    let first = ["DELETE FROM segment_allocations WHERE network_id = $1"];
    delete_tagged::<Network>(conn, id.as_str(), &first).await
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

impl Record for Subnet {
    const TABLE: &'static str = "subnets";
    const COLUMNS: &'static str = "id, project_id, network_id, name, description, ip_version, cidr, gateway_ip, allocation_pools, dns_nameservers, host_routes, enable_dhcp, ipv6_ra_mode, ipv6_address_mode, subnetpool_id, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<Subnet> {
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

    fn values(&self) -> Vec<Value> {
        let s = self;
        vec![
            (&s.id).into(),
            (&s.project_id).into(),
            (&s.network_id).into(),
            (&s.name).into(),
            (&s.description).into(),
            i64::from(s.ip_version()).into(),
            s.cidr.to_string().into(),
            s.gateway_ip.map(|g| g.to_string()).into(),
            to_json(&s.allocation_pools),
            to_json(&s.dns_nameservers),
            to_json(&s.host_routes),
            s.enable_dhcp.into(),
            (&s.ipv6_ra_mode).into(),
            (&s.ipv6_address_mode).into(),
            (&s.subnetpool_id).into(),
            s.revision.into(),
            (&s.created_at).into(),
            (&s.updated_at).into(),
        ]
    }

    async fn hydrate(conn: &mut Conn, subnets: &mut [Subnet]) -> Result<()> {
        fill_tags(conn, subnets).await
    }
}

pub async fn insert_subnet(conn: &mut Conn, s: &Subnet) -> Result<()> {
    insert_tagged(conn, s).await
}

pub async fn get_subnet(conn: &mut Conn, id: &SubnetId) -> Result<Option<Subnet>> {
    get(conn, id.as_str()).await
}

/// The subnets of one network, or of every network when `None`.
pub async fn list_subnets(conn: &mut Conn, network: Option<&NetworkId>) -> Result<Vec<Subnet>> {
    let q = select::<Subnet>().eq_opt("network_id", network.map(|n| n.to_string()));
    list(conn, q).await
}

pub async fn update_subnet(conn: &mut Conn, s: &Subnet, revision: i64) -> Result<bool> {
    let u = db::Update::new("subnets")
        .set("name", s.name.clone())
        .set("description", s.description.clone())
        .set("gateway_ip", s.gateway_ip.map(|g| g.to_string()))
        .set("allocation_pools", to_json(&s.allocation_pools))
        .set("dns_nameservers", to_json(&s.dns_nameservers))
        .set("host_routes", to_json(&s.host_routes))
        .set("enable_dhcp", s.enable_dhcp)
        .set("updated_at", s.updated_at.clone());
    update(conn, u, s.id.as_str(), revision).await
}

/// Delete a subnet and every address of it.
pub async fn delete_subnet(conn: &mut Conn, id: &SubnetId) -> Result<()> {
    let first = ["DELETE FROM ip_allocations WHERE subnet_id = $1"];
    delete_tagged::<Subnet>(conn, id.as_str(), &first).await
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
// ------------------------------------------------------------------ ports

impl Record for Port {
    const TABLE: &'static str = "ports";
    const COLUMNS: &'static str = PORT_COLUMNS;

    fn from_row(r: &AnyRow) -> Result<Port> {
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

    fn values(&self) -> Vec<Value> {
        let p = self;
        vec![
            (&p.id).into(),
            (&p.project_id).into(),
            (&p.network_id).into(),
            (&p.name).into(),
            (&p.description).into(),
            p.admin_state_up.into(),
            (&p.mac_address).into(),
            (&p.device_id).into(),
            (&p.device_owner).into(),
            (&p.host_id).into(),
            (&p.vnic_type).into(),
            to_json(&p.profile),
            (&p.status).into(),
            p.port_security_enabled.into(),
            to_json(&p.allowed_address_pairs),
            to_json(&p.extra_dhcp_opts),
            (&p.dns_name).into(),
            p.revision.into(),
            (&p.created_at).into(),
            (&p.updated_at).into(),
            (&p.qos_policy_id).into(),
        ]
    }

    async fn hydrate(conn: &mut Conn, ports: &mut [Port]) -> Result<()> {
        let ids: Vec<&str> = ports.iter().map(|p| p.id.as_str()).collect();
        let mut ips = grouped(
            conn,
            "SELECT port_id, subnet_id, ip_address FROM ip_allocations WHERE port_id IN ({})",
            &[],
            &ids,
            fixed_ip,
        )
        .await?;
        let mut sgs = grouped(
            conn,
            "SELECT port_id, security_group_id FROM port_security_groups WHERE port_id IN ({}) ORDER BY security_group_id",
            &[],
            &ids,
            |r| {
                let c = Columns::new("port_security_groups", r);
                Ok((c.get("port_id")?, c.get::<SecurityGroupId>("security_group_id")?))
            },
        )
        .await?;
        for p in ports.iter_mut() {
            let mut fixed = ips.remove(p.id.as_str()).unwrap_or_default();
            fixed.sort_by(|a, b| {
                (a.ip_address.is_ipv6(), a.ip_address).cmp(&(b.ip_address.is_ipv6(), b.ip_address))
            });
            p.fixed_ips = fixed;
            p.security_groups = sgs.remove(p.id.as_str()).unwrap_or_default();
        }
        fill_tags(conn, ports).await
    }
}

const PORT_COLUMNS: &str = "id, project_id, network_id, name, description, admin_state_up, mac_address, device_id, device_owner, host_id, vnic_type, profile, status, port_security_enabled, allowed_address_pairs, extra_dhcp_opts, dns_name, revision, created_at, updated_at, qos_policy_id";

/// A row of `ip_allocations` (or of a join with it, as `table`): its port (or device)
/// and the address.
fn fixed_ip_of(table: &str, key: &str, r: &AnyRow) -> Result<(String, FixedIp)> {
    let c = Columns::new(table, r);
    Ok((
        c.get(key)?,
        FixedIp {
            subnet_id: c.get("subnet_id")?,
            ip_address: c.parse("ip_address")?,
        },
    ))
}

fn fixed_ip(r: &AnyRow) -> Result<(String, FixedIp)> {
    fixed_ip_of("ip_allocations", "port_id", r)
}

/// Insert a port row (its addresses go in with [`allocate`]).
pub async fn insert_port(conn: &mut Conn, p: &Port) -> Result<bool> {
    if !insert_new(conn, p).await? {
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
    get(conn, id.as_str()).await
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
    let mut q = select::<Port>();
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
    list(conn, q).await
}

pub async fn update_port(conn: &mut Conn, p: &Port, revision: i64) -> Result<bool> {
    let u = db::Update::new("ports")
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
        .set("qos_policy_id", &p.qos_policy_id)
        .set("updated_at", p.updated_at.clone());
    update(conn, u, p.id.as_str(), revision).await
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
    let first = [
        "DELETE FROM ip_allocations WHERE port_id = $1",
        "DELETE FROM port_security_groups WHERE port_id = $1",
        "DELETE FROM tags WHERE resource_id = $1",
    ];
    db::execute_each(conn, &first, id.as_str()).await?;
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

impl Record for SecurityGroup {
    const TABLE: &'static str = "security_groups";
    const COLUMNS: &'static str =
        "id, project_id, name, description, stateful, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<SecurityGroup> {
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

    fn values(&self) -> Vec<Value> {
        let g = self;
        vec![
            (&g.id).into(),
            (&g.project_id).into(),
            (&g.name).into(),
            (&g.description).into(),
            g.stateful.into(),
            g.revision.into(),
            (&g.created_at).into(),
            (&g.updated_at).into(),
        ]
    }

    async fn hydrate(conn: &mut Conn, groups: &mut [SecurityGroup]) -> Result<()> {
        let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
        let sql = format!(
            "SELECT {} FROM security_group_rules WHERE security_group_id IN ({{}}) ORDER BY created_at, id",
            SecurityGroupRule::COLUMNS
        );
        let mut rules = grouped(conn, &sql, &[], &ids, |r| {
            let rule = SecurityGroupRule::from_row(r)?;
            Ok((rule.security_group_id.to_string(), rule))
        })
        .await?;
        for g in groups.iter_mut() {
            g.rules = rules.remove(g.id.as_str()).unwrap_or_default();
        }
        fill_tags(conn, groups).await
    }
}

fn opt_port(c: &Columns, column: &str) -> Result<Option<u16>> {
    c.get::<Option<i64>>(column)?
        .map(|v| {
            u16::try_from(v)
                .map_err(|_| Error::internal(format!("security_group_rules.{column} out of range")))
        })
        .transpose()
}

impl Record for SecurityGroupRule {
    const TABLE: &'static str = "security_group_rules";
    const COLUMNS: &'static str = "id, project_id, security_group_id, direction, ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id, description, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<SecurityGroupRule> {
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

    fn values(&self) -> Vec<Value> {
        let r = self;
        vec![
            (&r.id).into(),
            (&r.project_id).into(),
            (&r.security_group_id).into(),
            r.direction.as_str().into(),
            (&r.ethertype).into(),
            (&r.protocol).into(),
            r.port_range_min.map(i64::from).into(),
            r.port_range_max.map(i64::from).into(),
            r.remote_ip_prefix.map(|p| p.to_string()).into(),
            (&r.remote_group_id).into(),
            (&r.description).into(),
            r.revision.into(),
            (&r.created_at).into(),
            (&r.updated_at).into(),
        ]
    }
}

pub async fn insert_group(conn: &mut Conn, g: &SecurityGroup) -> Result<()> {
    insert(conn, g).await?;
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
    insert(conn, r).await
}

pub async fn get_group(conn: &mut Conn, id: &SecurityGroupId) -> Result<Option<SecurityGroup>> {
    get(conn, id.as_str()).await
}

/// The groups of `project`, or every group for `None`.
pub async fn list_groups(conn: &mut Conn, project: Option<&str>) -> Result<Vec<SecurityGroup>> {
    list(
        conn,
        select::<SecurityGroup>().eq_opt("project_id", project),
    )
    .await
}

pub async fn update_group(conn: &mut Conn, g: &SecurityGroup, revision: i64) -> Result<bool> {
    let u = db::Update::new("security_groups")
        .set("name", g.name.clone())
        .set("description", g.description.clone())
        .set("stateful", g.stateful)
        .set("updated_at", g.updated_at.clone());
    update(conn, u, g.id.as_str(), revision).await
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
    let first = [
        "DELETE FROM security_group_rules WHERE security_group_id = $1 OR remote_group_id = $1",
        "DELETE FROM default_security_groups WHERE security_group_id = $1",
    ];
    delete_tagged::<SecurityGroup>(conn, id.as_str(), &first).await
}

pub async fn get_rule(
    conn: &mut Conn,
    id: &types::SecurityGroupRuleId,
) -> Result<Option<SecurityGroupRule>> {
    get(conn, id.as_str()).await
}

/// Rules of the groups of `project` (all for `None`).
pub async fn list_rules(conn: &mut Conn, project: Option<&str>) -> Result<Vec<SecurityGroupRule>> {
    list(
        conn,
        select::<SecurityGroupRule>().eq_opt("project_id", project),
    )
    .await
}

pub async fn delete_rule(conn: &mut Conn, id: &types::SecurityGroupRuleId) -> Result<()> {
    delete_row::<SecurityGroupRule>(conn, id.as_str()).await
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

/// Per-project quota limits that differ from the defaults.
pub const QUOTAS: db::quotas::QuotaTable = db::quotas::QuotaTable("quotas");

/// Projects with limits of their own.
pub async fn quota_projects(conn: &mut Conn) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT project_id FROM quotas ORDER BY project_id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Columns::new("quotas", r).get("project_id"))
        .collect()
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
    let values = vec![
        (&a.id).into(),
        (&a.host).into(),
        (&a.agent_type).into(),
        (&a.binary).into(),
        (&a.topic).into(),
        a.admin_state_up.into(),
        (&a.availability_zone).into(),
        to_json(&a.configurations),
        (&a.description).into(),
        (&a.started_at).into(),
        (&a.heartbeat_at).into(),
        (&a.created_at).into(),
    ];
    db::Insert::new("agents", AGENT_COLUMNS, values)
        .on_conflict("(host, agent_type) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, started_at = excluded.started_at, configurations = excluded.configurations, binary_name = excluded.binary_name, topic = excluded.topic")
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

impl Record for Router {
    const TABLE: &'static str = "routers";
    const COLUMNS: &'static str = "id, project_id, name, description, admin_state_up, gw_network_id, enable_snat, routes, availability_zone_hints, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<Router> {
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

    fn values(&self) -> Vec<Value> {
        let r = self;
        vec![
            (&r.id).into(),
            (&r.project_id).into(),
            (&r.name).into(),
            (&r.description).into(),
            r.admin_state_up.into(),
            r.gateway.as_ref().map(|g| g.network_id.to_string()).into(),
            r.gateway.as_ref().is_none_or(|g| g.enable_snat).into(),
            to_json(&r.routes),
            to_json(&r.availability_zone_hints),
            r.revision.into(),
            (&r.created_at).into(),
            (&r.updated_at).into(),
        ]
    }

    /// Fill each router's gateway addresses (from its gateway port) and tags.
    async fn hydrate(conn: &mut Conn, routers: &mut [Router]) -> Result<()> {
        let ids: Vec<&str> = routers.iter().map(|r| r.id.as_str()).collect();
        let mut gw_ips = grouped(
            conn,
            "SELECT p.device_id, a.subnet_id, a.ip_address FROM ports p JOIN ip_allocations a ON a.port_id = p.id WHERE p.device_owner = $1 AND p.device_id IN ({})",
            &[DEVICE_OWNER_ROUTER_GATEWAY.into()],
            &ids,
            |r| fixed_ip_of("ports", "device_id", r),
        )
        .await?;
        for r in routers.iter_mut() {
            if let Some(g) = &mut r.gateway {
                let mut ips = gw_ips.remove(r.id.as_str()).unwrap_or_default();
                ips.sort_by_key(|f| (f.ip_address.is_ipv6(), f.ip_address));
                g.external_fixed_ips = ips;
            }
        }
        fill_tags(conn, routers).await
    }
}

pub async fn insert_router(conn: &mut Conn, r: &Router) -> Result<()> {
    insert_tagged(conn, r).await
}

pub async fn get_router(conn: &mut Conn, id: &RouterId) -> Result<Option<Router>> {
    get(conn, id.as_str()).await
}

/// The routers of `project` (every router for `None`).
pub async fn list_routers(conn: &mut Conn, project: Option<&str>) -> Result<Vec<Router>> {
    list(conn, select::<Router>().eq_opt("project_id", project)).await
}

pub async fn update_router(conn: &mut Conn, r: &Router, revision: i64) -> Result<bool> {
    let u = db::Update::new("routers")
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
        .set("updated_at", r.updated_at.clone());
    update(conn, u, r.id.as_str(), revision).await
}

pub async fn delete_router(conn: &mut Conn, id: &RouterId) -> Result<()> {
    delete_tagged::<Router>(conn, id.as_str(), &[]).await
}

/// The ports a router owns with `owner` (its interfaces, or its gateway port).
pub async fn router_ports(conn: &mut Conn, router: &RouterId, owner: &str) -> Result<Vec<Port>> {
    let q = select::<Port>()
        .eq("device_id", router.to_string())
        .eq("device_owner", owner);
    list(conn, q).await
}

// ------------------------------------------------------------------ floating IPs

impl Record for FloatingIp {
    const TABLE: &'static str = "floatingips";
    const COLUMNS: &'static str = "id, project_id, floating_network_id, floating_port_id, floating_ip_address, port_id, fixed_ip_address, router_id, description, dns_name, dns_domain, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<FloatingIp> {
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

    fn values(&self) -> Vec<Value> {
        let f = self;
        vec![
            (&f.id).into(),
            (&f.project_id).into(),
            (&f.floating_network_id).into(),
            (&f.floating_port_id).into(),
            f.floating_ip_address.to_string().into(),
            (&f.port_id).into(),
            f.fixed_ip_address.map(|a| a.to_string()).into(),
            (&f.router_id).into(),
            (&f.description).into(),
            (&f.dns_name).into(),
            (&f.dns_domain).into(),
            f.revision.into(),
            (&f.created_at).into(),
            (&f.updated_at).into(),
        ]
    }

    async fn hydrate(conn: &mut Conn, fips: &mut [FloatingIp]) -> Result<()> {
        fill_tags(conn, fips).await
    }
}

pub async fn insert_fip(conn: &mut Conn, f: &FloatingIp) -> Result<()> {
    insert_tagged(conn, f).await
}

pub async fn get_fip(conn: &mut Conn, id: &FloatingIpId) -> Result<Option<FloatingIp>> {
    get(conn, id.as_str()).await
}

/// Which floating IPs a list reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct FipScope<'a> {
    pub project: Option<&'a str>,
    pub port: Option<&'a PortId>,
    pub router: Option<&'a RouterId>,
}

pub async fn list_fips(conn: &mut Conn, scope: FipScope<'_>) -> Result<Vec<FloatingIp>> {
    let q = select::<FloatingIp>()
        .eq_opt("project_id", scope.project)
        .eq_opt("port_id", scope.port.map(|p| p.to_string()))
        .eq_opt("router_id", scope.router.map(|r| r.to_string()));
    list(conn, q).await
}

/// Write a floating IP's association (and description) over the row at `revision`.
pub async fn update_fip(conn: &mut Conn, f: &FloatingIp, revision: i64) -> Result<bool> {
    let u = db::Update::new("floatingips")
        .set("port_id", &f.port_id)
        .set(
            "fixed_ip_address",
            f.fixed_ip_address.map(|a| a.to_string()),
        )
        .set("router_id", &f.router_id)
        .set("description", f.description.clone())
        .set("updated_at", f.updated_at.clone());
    update(conn, u, f.id.as_str(), revision).await
}

pub async fn delete_fip(conn: &mut Conn, id: &FloatingIpId) -> Result<()> {
    let first = ["DELETE FROM port_forwardings WHERE floatingip_id = $1"];
    delete_tagged::<FloatingIp>(conn, id.as_str(), &first).await
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

impl Record for PortForwarding {
    const TABLE: &'static str = "port_forwardings";
    const COLUMNS: &'static str = "id, floatingip_id, protocol, internal_port_id, internal_ip_address, internal_port, external_port, description, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<PortForwarding> {
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

    fn values(&self) -> Vec<Value> {
        let p = self;
        vec![
            (&p.id).into(),
            (&p.floatingip_id).into(),
            (&p.protocol).into(),
            (&p.internal_port_id).into(),
            p.internal_ip_address.to_string().into(),
            i64::from(p.internal_port).into(),
            i64::from(p.external_port).into(),
            (&p.description).into(),
            p.revision.into(),
            (&p.created_at).into(),
            (&p.updated_at).into(),
        ]
    }
}

/// Insert a port forwarding; false when the (protocol, external port) is taken.
pub async fn insert_pf(conn: &mut Conn, p: &PortForwarding) -> Result<bool> {
    insert_new(conn, p).await
}

/// The port forwardings of one floating IP, or of all for `None`.
pub async fn list_pfs(conn: &mut Conn, fip: Option<&FloatingIpId>) -> Result<Vec<PortForwarding>> {
    let q = select::<PortForwarding>().eq_opt("floatingip_id", fip.map(|f| f.to_string()));
    list(conn, q).await
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

impl Record for QosPolicy {
    const TABLE: &'static str = "qos_policies";
    const COLUMNS: &'static str =
        "id, project_id, name, description, shared, is_default, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<QosPolicy> {
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

    fn values(&self) -> Vec<Value> {
        let p = self;
        vec![
            (&p.id).into(),
            (&p.project_id).into(),
            (&p.name).into(),
            (&p.description).into(),
            p.shared.into(),
            p.is_default.into(),
            p.revision.into(),
            (&p.created_at).into(),
            (&p.updated_at).into(),
        ]
    }

    async fn hydrate(conn: &mut Conn, policies: &mut [QosPolicy]) -> Result<()> {
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
        for p in policies.iter_mut() {
            p.rules = rules.remove(p.id.as_str()).unwrap_or_default();
        }
        fill_tags(conn, policies).await
    }
}

pub async fn insert_qos(conn: &mut Conn, p: &QosPolicy) -> Result<()> {
    insert_tagged(conn, p).await
}

pub async fn get_qos(conn: &mut Conn, id: &QosPolicyId) -> Result<Option<QosPolicy>> {
    get(conn, id.as_str()).await
}

/// Every QoS policy (the app layer filters what a caller may see).
pub async fn list_qos(conn: &mut Conn) -> Result<Vec<QosPolicy>> {
    list(conn, select::<QosPolicy>()).await
}

pub async fn update_qos(conn: &mut Conn, p: &QosPolicy, revision: i64) -> Result<bool> {
    let u = db::Update::new("qos_policies")
        .set("name", p.name.clone())
        .set("description", p.description.clone())
        .set("shared", p.shared)
        .set("is_default", p.is_default)
        .set("updated_at", p.updated_at.clone());
    update(conn, u, p.id.as_str(), revision).await
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
    let first = [
        "DELETE FROM qos_rules WHERE policy_id = $1",
        "DELETE FROM rbac_policies WHERE object_type = 'qos_policy' AND object_id = $1",
    ];
    delete_tagged::<QosPolicy>(conn, id.as_str(), &first).await
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

impl Record for RbacPolicy {
    const TABLE: &'static str = "rbac_policies";
    const COLUMNS: &'static str = "id, project_id, object_type, object_id, action, target_project, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<RbacPolicy> {
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

    fn values(&self) -> Vec<Value> {
        let p = self;
        vec![
            (&p.id).into(),
            (&p.project_id).into(),
            (&p.object_type).into(),
            (&p.object_id).into(),
            (&p.action).into(),
            (&p.target_project).into(),
            p.revision.into(),
            (&p.created_at).into(),
            (&p.updated_at).into(),
        ]
    }
}

/// Insert; false when the same grant exists.
pub async fn insert_rbac(conn: &mut Conn, p: &RbacPolicy) -> Result<bool> {
    insert_new(conn, p).await
}

/// Every RBAC policy (the app layer filters what a caller may see).
pub async fn list_rbac(conn: &mut Conn) -> Result<Vec<RbacPolicy>> {
    list(conn, select::<RbacPolicy>()).await
}

pub async fn get_rbac(conn: &mut Conn, id: &RbacPolicyId) -> Result<Option<RbacPolicy>> {
    get(conn, id.as_str()).await
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
    delete_row::<RbacPolicy>(conn, id.as_str()).await
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

impl Record for SubnetPool {
    const TABLE: &'static str = "subnet_pools";
    const COLUMNS: &'static str = "id, project_id, name, description, ip_version, prefixes, default_prefixlen, min_prefixlen, max_prefixlen, shared, is_default, address_scope_id, default_quota, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<SubnetPool> {
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

    fn values(&self) -> Vec<Value> {
        let p = self;
        vec![
            (&p.id).into(),
            (&p.project_id).into(),
            (&p.name).into(),
            (&p.description).into(),
            i64::from(p.ip_version).into(),
            to_json(&p.prefixes),
            i64::from(p.default_prefixlen).into(),
            i64::from(p.min_prefixlen).into(),
            i64::from(p.max_prefixlen).into(),
            p.shared.into(),
            p.is_default.into(),
            (&p.address_scope_id).into(),
            p.default_quota.into(),
            p.revision.into(),
            (&p.created_at).into(),
            (&p.updated_at).into(),
        ]
    }

    async fn hydrate(conn: &mut Conn, pools: &mut [SubnetPool]) -> Result<()> {
        fill_tags(conn, pools).await
    }
}

pub async fn insert_pool(conn: &mut Conn, p: &SubnetPool) -> Result<()> {
    insert_tagged(conn, p).await
}

pub async fn get_pool(conn: &mut Conn, id: &SubnetPoolId) -> Result<Option<SubnetPool>> {
    get(conn, id.as_str()).await
}

/// Every pool (the app layer filters what a caller may see).
pub async fn list_pools(conn: &mut Conn) -> Result<Vec<SubnetPool>> {
    list(conn, select::<SubnetPool>()).await
}

pub async fn update_pool(conn: &mut Conn, p: &SubnetPool, revision: i64) -> Result<bool> {
    let u = db::Update::new("subnet_pools")
        .set("name", p.name.clone())
        .set("description", p.description.clone())
        .set("prefixes", to_json(&p.prefixes))
        .set("default_prefixlen", i64::from(p.default_prefixlen))
        .set("min_prefixlen", i64::from(p.min_prefixlen))
        .set("max_prefixlen", i64::from(p.max_prefixlen))
        .set("is_default", p.is_default)
        .set("address_scope_id", &p.address_scope_id)
        .set("updated_at", p.updated_at.clone());
    update(conn, u, p.id.as_str(), revision).await
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
    delete_tagged::<SubnetPool>(conn, id.as_str(), &[]).await
}

impl Record for AddressScope {
    const TABLE: &'static str = "address_scopes";
    const COLUMNS: &'static str =
        "id, project_id, name, ip_version, shared, revision, created_at, updated_at";

    fn from_row(r: &AnyRow) -> Result<AddressScope> {
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

    fn values(&self) -> Vec<Value> {
        let s = self;
        vec![
            (&s.id).into(),
            (&s.project_id).into(),
            (&s.name).into(),
            i64::from(s.ip_version).into(),
            s.shared.into(),
            s.revision.into(),
            (&s.created_at).into(),
            (&s.updated_at).into(),
        ]
    }
}

pub async fn insert_scope(conn: &mut Conn, s: &AddressScope) -> Result<()> {
    insert(conn, s).await
}

pub async fn get_scope(conn: &mut Conn, id: &AddressScopeId) -> Result<Option<AddressScope>> {
    get(conn, id.as_str()).await
}

pub async fn list_scopes(conn: &mut Conn) -> Result<Vec<AddressScope>> {
    list(conn, select::<AddressScope>()).await
}

pub async fn update_scope(conn: &mut Conn, s: &AddressScope, revision: i64) -> Result<bool> {
    let u = db::Update::new("address_scopes")
        .set("name", s.name.clone())
        .set("shared", s.shared)
        .set("updated_at", s.updated_at.clone());
    update(conn, u, s.id.as_str(), revision).await
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
    delete_row::<AddressScope>(conn, id.as_str()).await
}

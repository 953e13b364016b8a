//! Every SQL statement of the Block Storage service, written once for SQLite and
//! PostgreSQL (see the db crate). Functions take a connection, so the app layer groups
//! them in one transaction ([`db::Db::begin_write`]) where a change spans tables or
//! must read what it checks (quotas).

use db::Columns;
use sqlx::{any::AnyRow, AnyConnection};
use types::{Result, SnapshotId, VolumeId, VolumeTypeId};

use crate::model::{Metadata, Snapshot, Volume, VolumeType};

pub type Conn = AnyConnection;

// ------------------------------------------------------------------ key/value tables

/// A table of `(owner, key, value)` rows: extra specs and metadata.
#[derive(Clone, Copy)]
pub struct Pairs {
    table: &'static str,
    owner: &'static str,
}

pub const EXTRA_SPECS: Pairs = Pairs {
    table: "volume_type_extra_specs",
    owner: "type_id",
};
pub const VOLUME_METADATA: Pairs = Pairs {
    table: "volume_metadata",
    owner: "volume_id",
};
pub const SNAPSHOT_METADATA: Pairs = Pairs {
    table: "volume_snapshot_metadata",
    owner: "snapshot_id",
};

impl Pairs {
    pub async fn get(self, conn: &mut Conn, owner: &str) -> Result<Metadata> {
        let rows = sqlx::query(&format!(
            "SELECT key, value FROM {} WHERE {} = $1",
            self.table, self.owner
        ))
        .bind(owner)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| {
                let c = Columns::new(self.table, r);
                Ok((c.get("key")?, c.get("value")?))
            })
            .collect()
    }

    /// Set these keys (others kept).
    pub async fn upsert(self, conn: &mut Conn, owner: &str, pairs: &Metadata) -> Result<()> {
        for (k, v) in pairs {
            sqlx::query(&format!(
                "INSERT INTO {t} ({o}, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT ({o}, key) DO UPDATE SET value = excluded.value",
                t = self.table,
                o = self.owner
            ))
            .bind(owner)
            .bind(k)
            .bind(v)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Replace every key.
    pub async fn replace(self, conn: &mut Conn, owner: &str, pairs: &Metadata) -> Result<()> {
        self.clear(conn, owner).await?;
        self.upsert(conn, owner, pairs).await
    }

    /// Whether the key was there.
    pub async fn remove(self, conn: &mut Conn, owner: &str, key: &str) -> Result<bool> {
        let r = sqlx::query(&format!(
            "DELETE FROM {} WHERE {} = $1 AND key = $2",
            self.table, self.owner
        ))
        .bind(owner)
        .bind(key)
        .execute(&mut *conn)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    pub async fn clear(self, conn: &mut Conn, owner: &str) -> Result<()> {
        sqlx::query(&format!(
            "DELETE FROM {} WHERE {} = $1",
            self.table, self.owner
        ))
        .bind(owner)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

// ------------------------------------------------------------------ rows with metadata

/// A row type whose metadata lives in a [`Pairs`] table.
trait WithMetadata: Sized {
    const METADATA: Pairs;
    fn from_row(r: &AnyRow) -> Result<Self>;
    fn id(&self) -> &str;
    fn set_metadata(&mut self, m: Metadata);
}

impl WithMetadata for Volume {
    const METADATA: Pairs = VOLUME_METADATA;
    fn from_row(r: &AnyRow) -> Result<Self> {
        volume_row(r)
    }
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn set_metadata(&mut self, m: Metadata) {
        self.metadata = m;
    }
}

impl WithMetadata for Snapshot {
    const METADATA: Pairs = SNAPSHOT_METADATA;
    fn from_row(r: &AnyRow) -> Result<Self> {
        snapshot_row(r)
    }
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn set_metadata(&mut self, m: Metadata) {
        self.metadata = m;
    }
}

/// The rows `select` (with `$1` bound to `arg`, if any) finds, each with its metadata.
async fn fetch_with_metadata<T: WithMetadata>(
    conn: &mut Conn,
    select: &str,
    arg: Option<&str>,
) -> Result<Vec<T>> {
    let mut query = sqlx::query(select);
    if let Some(a) = arg {
        query = query.bind(a);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut out: Vec<T> = rows.iter().map(T::from_row).collect::<Result<_>>()?;
    for item in &mut out {
        let m = T::METADATA.get(conn, item.id()).await?;
        item.set_metadata(m);
    }
    Ok(out)
}

/// `WHERE <column> = $1` when narrowed to a project.
fn project_filter(column: &str, project: Option<&str>) -> String {
    project
        .map(|_| format!("WHERE {column} = $1"))
        .unwrap_or_default()
}

// ------------------------------------------------------------------ volume types

const TYPE_COLUMNS: &str = "id, name, description, is_public, created_at, updated_at";

fn type_row(r: &AnyRow) -> Result<VolumeType> {
    let c = Columns::new("volume_types", r);
    Ok(VolumeType {
        id: c.get("id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        is_public: c.flag("is_public")?,
        extra_specs: Metadata::new(),
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}

async fn hydrate_type(conn: &mut Conn, t: Option<VolumeType>) -> Result<Option<VolumeType>> {
    let Some(mut t) = t else { return Ok(None) };
    t.extra_specs = EXTRA_SPECS.get(conn, t.id.as_str()).await?;
    Ok(Some(t))
}

/// Whether it was inserted (false: a type has that name).
pub async fn insert_type(conn: &mut Conn, t: &VolumeType) -> Result<bool> {
    let r = sqlx::query(&format!(
        "INSERT INTO volume_types ({TYPE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
    ))
    .bind(&t.id)
    .bind(&t.name)
    .bind(&t.description)
    .bind(db::flag(t.is_public))
    .bind(&t.created_at)
    .bind(&t.updated_at)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    EXTRA_SPECS
        .upsert(conn, t.id.as_str(), &t.extra_specs)
        .await?;
    Ok(true)
}

pub async fn get_type(conn: &mut Conn, id: &str) -> Result<Option<VolumeType>> {
    let r = sqlx::query(&format!(
        "SELECT {TYPE_COLUMNS} FROM volume_types WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let t = r.as_ref().map(type_row).transpose()?;
    hydrate_type(conn, t).await
}

pub async fn get_type_by_name(conn: &mut Conn, name: &str) -> Result<Option<VolumeType>> {
    let r = sqlx::query(&format!(
        "SELECT {TYPE_COLUMNS} FROM volume_types WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    let t = r.as_ref().map(type_row).transpose()?;
    hydrate_type(conn, t).await
}

/// Every type, oldest first.
pub async fn list_types(conn: &mut Conn) -> Result<Vec<VolumeType>> {
    let rows = sqlx::query(&format!(
        "SELECT {TYPE_COLUMNS} FROM volume_types ORDER BY created_at, id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.extend(hydrate_type(conn, Some(type_row(r)?)).await?);
    }
    Ok(out)
}

/// Write a type's name, description and visibility (false: it is gone).
pub async fn update_type(conn: &mut Conn, t: &VolumeType) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE volume_types SET name = $1, description = $2, is_public = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&t.name)
    .bind(&t.description)
    .bind(db::flag(t.is_public))
    .bind(&t.updated_at)
    .bind(&t.id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn delete_type(conn: &mut Conn, id: &VolumeTypeId) -> Result<bool> {
    EXTRA_SPECS.clear(conn, id.as_str()).await?;
    sqlx::query("DELETE FROM volume_type_projects WHERE type_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let r = sqlx::query("DELETE FROM volume_types WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// How many volumes use the type.
pub async fn type_volumes(conn: &mut Conn, id: &VolumeTypeId) -> Result<i64> {
    let r = sqlx::query("SELECT COUNT(*) AS n FROM volumes WHERE volume_type_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    Columns::new("volumes", &r).get("n")
}

/// The projects a private type is shared with.
pub async fn type_projects(conn: &mut Conn, id: &VolumeTypeId) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT project_id FROM volume_type_projects WHERE type_id = $1 ORDER BY project_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Columns::new("volume_type_projects", r).get("project_id"))
        .collect()
}

/// Whether it was added (false: it was there).
pub async fn add_type_project(conn: &mut Conn, id: &VolumeTypeId, project: &str) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO volume_type_projects (type_id, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(project)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Whether it was there.
pub async fn remove_type_project(
    conn: &mut Conn,
    id: &VolumeTypeId,
    project: &str,
) -> Result<bool> {
    let r = sqlx::query("DELETE FROM volume_type_projects WHERE type_id = $1 AND project_id = $2")
        .bind(id)
        .bind(project)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ------------------------------------------------------------------ volumes

const VOLUME_COLUMNS: &str = "v.id, v.project_id, v.user_id, v.name, v.description, v.size, \
    v.status, v.availability_zone, v.bootable, v.readonly, v.volume_type_id, v.snapshot_id, \
    v.source_volid, v.image_id, v.host, v.backend, v.created_at, v.updated_at, t.name AS type_name";

const VOLUME_FROM: &str = "volumes v JOIN volume_types t ON t.id = v.volume_type_id";

fn volume_row(r: &AnyRow) -> Result<Volume> {
    let c = Columns::new("volumes", r);
    Ok(Volume {
        id: c.get("id")?,
        project_id: c.get("project_id")?,
        user_id: c.get("user_id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        size: c.get("size")?,
        status: c.parse("status")?,
        availability_zone: c.get("availability_zone")?,
        bootable: c.flag("bootable")?,
        readonly: c.flag("readonly")?,
        volume_type_id: c.get("volume_type_id")?,
        volume_type_name: c.get("type_name")?,
        snapshot_id: c.get("snapshot_id")?,
        source_volid: c.get("source_volid")?,
        image_id: c.get("image_id")?,
        host: c.get("host")?,
        backend: c.get("backend")?,
        metadata: Metadata::new(),
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}

pub async fn insert_volume(conn: &mut Conn, v: &Volume) -> Result<()> {
    sqlx::query(
        "INSERT INTO volumes (id, project_id, user_id, name, description, size, status, \
         availability_zone, bootable, readonly, volume_type_id, snapshot_id, source_volid, \
         image_id, host, backend, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&v.id)
    .bind(&v.project_id)
    .bind(&v.user_id)
    .bind(&v.name)
    .bind(&v.description)
    .bind(v.size)
    .bind(v.status.as_str())
    .bind(&v.availability_zone)
    .bind(db::flag(v.bootable))
    .bind(db::flag(v.readonly))
    .bind(&v.volume_type_id)
    .bind(&v.snapshot_id)
    .bind(&v.source_volid)
    .bind(&v.image_id)
    .bind(&v.host)
    .bind(&v.backend)
    .bind(&v.created_at)
    .bind(&v.updated_at)
    .execute(&mut *conn)
    .await?;
    VOLUME_METADATA
        .upsert(conn, v.id.as_str(), &v.metadata)
        .await
}

pub async fn get_volume(conn: &mut Conn, id: &str) -> Result<Option<Volume>> {
    let q = format!("SELECT {VOLUME_COLUMNS} FROM {VOLUME_FROM} WHERE v.id = $1");
    Ok(fetch_with_metadata(conn, &q, Some(id)).await?.pop())
}

/// The volumes of a project (`None`: of every project), oldest first, with metadata.
pub async fn list_volumes(conn: &mut Conn, project: Option<&str>) -> Result<Vec<Volume>> {
    let q = format!(
        "SELECT {VOLUME_COLUMNS} FROM {VOLUME_FROM} {} ORDER BY v.created_at, v.id",
        project_filter("v.project_id", project)
    );
    fetch_with_metadata(conn, &q, project).await
}

/// Write a volume's mutable columns (name, description, size, status, flags); false:
/// it is gone.
pub async fn update_volume(conn: &mut Conn, v: &Volume) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE volumes SET name = $1, description = $2, size = $3, status = $4, bootable = $5, \
         readonly = $6, updated_at = $7 WHERE id = $8",
    )
    .bind(&v.name)
    .bind(&v.description)
    .bind(v.size)
    .bind(v.status.as_str())
    .bind(db::flag(v.bootable))
    .bind(db::flag(v.readonly))
    .bind(&v.updated_at)
    .bind(&v.id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Move a volume from one of `from` to `to` (compare-and-set); false: it was not in
/// one of them (or is gone).
pub async fn volume_transition(
    conn: &mut Conn,
    id: &VolumeId,
    from: &[crate::model::Status],
    to: crate::model::Status,
) -> Result<bool> {
    let list = from
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let r = sqlx::query(&format!(
        "UPDATE volumes SET status = $1, updated_at = $2 WHERE id = $3 AND status IN ({list})"
    ))
    .bind(to.as_str())
    .bind(crate::model::now())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn delete_volume(conn: &mut Conn, id: &VolumeId) -> Result<bool> {
    VOLUME_METADATA.clear(conn, id.as_str()).await?;
    let r = sqlx::query("DELETE FROM volumes WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ------------------------------------------------------------------ snapshots

const SNAPSHOT_COLUMNS: &str =
    "id, volume_id, project_id, user_id, name, description, size, status, created_at, updated_at";

fn snapshot_row(r: &AnyRow) -> Result<Snapshot> {
    let c = Columns::new("volume_snapshots", r);
    Ok(Snapshot {
        id: c.get("id")?,
        volume_id: c.get("volume_id")?,
        project_id: c.get("project_id")?,
        user_id: c.get("user_id")?,
        name: c.get("name")?,
        description: c.get("description")?,
        size: c.get("size")?,
        status: c.parse("status")?,
        metadata: Metadata::new(),
        created_at: c.get("created_at")?,
        updated_at: c.get("updated_at")?,
    })
}

pub async fn insert_snapshot(conn: &mut Conn, s: &Snapshot) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO volume_snapshots ({SNAPSHOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&s.id)
    .bind(&s.volume_id)
    .bind(&s.project_id)
    .bind(&s.user_id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(s.size)
    .bind(s.status.as_str())
    .bind(&s.created_at)
    .bind(&s.updated_at)
    .execute(&mut *conn)
    .await?;
    SNAPSHOT_METADATA
        .upsert(conn, s.id.as_str(), &s.metadata)
        .await
}

pub async fn get_snapshot(conn: &mut Conn, id: &str) -> Result<Option<Snapshot>> {
    let q = format!("SELECT {SNAPSHOT_COLUMNS} FROM volume_snapshots WHERE id = $1");
    Ok(fetch_with_metadata(conn, &q, Some(id)).await?.pop())
}

/// The snapshots of a project (`None`: every project), oldest first, with metadata.
pub async fn list_snapshots(conn: &mut Conn, project: Option<&str>) -> Result<Vec<Snapshot>> {
    let q = format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM volume_snapshots {} ORDER BY created_at, id",
        project_filter("project_id", project)
    );
    fetch_with_metadata(conn, &q, project).await
}

/// The snapshots of a volume.
pub async fn volume_snapshots(conn: &mut Conn, volume: &VolumeId) -> Result<Vec<Snapshot>> {
    let rows = sqlx::query(&format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM volume_snapshots WHERE volume_id = $1 ORDER BY created_at, id"
    ))
    .bind(volume)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(snapshot_row).collect()
}

pub async fn update_snapshot(conn: &mut Conn, s: &Snapshot) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE volume_snapshots SET name = $1, description = $2, status = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&s.name)
    .bind(&s.description)
    .bind(s.status.as_str())
    .bind(&s.updated_at)
    .bind(&s.id)
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn set_snapshot_status(
    conn: &mut Conn,
    id: &SnapshotId,
    status: crate::model::SnapshotStatus,
) -> Result<bool> {
    let r = sqlx::query("UPDATE volume_snapshots SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(crate::model::now())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn delete_snapshot(conn: &mut Conn, id: &SnapshotId) -> Result<bool> {
    SNAPSHOT_METADATA.clear(conn, id.as_str()).await?;
    let r = sqlx::query("DELETE FROM volume_snapshots WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

// ------------------------------------------------------------------ quotas

/// Per-project quota limits that differ from the defaults.
pub const QUOTAS: db::quotas::QuotaTable = db::quotas::QuotaTable("volume_quotas");

/// What a project uses: (volumes, snapshots, gigabytes of both).
pub async fn usage(conn: &mut Conn, project: &str) -> Result<(i64, i64, i64)> {
    let r = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS gb FROM volumes WHERE project_id = $1",
    )
    .bind(project)
    .fetch_one(&mut *conn)
    .await?;
    let c = Columns::new("volumes", &r);
    let (volumes, vgb): (i64, i64) = (c.get("n")?, c.get("gb")?);
    let r = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS gb FROM volume_snapshots WHERE project_id = $1",
    )
    .bind(project)
    .fetch_one(&mut *conn)
    .await?;
    let c = Columns::new("volume_snapshots", &r);
    let (snapshots, sgb): (i64, i64) = (c.get("n")?, c.get("gb")?);
    Ok((volumes, snapshots, vgb + sgb))
}

//! The image tables: every SQL statement of the service lives here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use api_common::{Error, Result};
use db::{flag, AnyRow, Db, Row};

use crate::{
    model::*,
    query::{Column, Cond, Dir, ListQuery, Op, Value},
};

/// Who is listing: admins see every project's images.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub project: Option<String>,
    pub admin: bool,
}

/// The handle on the image tables.
#[derive(Clone, Debug)]
pub struct Tables {
    pub db: Db,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

/// A statement being built, numbering its placeholders.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    fn arg(&mut self, a: Arg) -> &mut Self {
        self.args.push(a);
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }
    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::OptText(s) => q.bind(s.as_deref()),
                Arg::Int(i) => q.bind(*i),
                Arg::OptInt(i) => q.bind(*i),
            };
        }
        q
    }
}

fn s(row: &AnyRow, col: &str) -> String {
    row.try_get(col).unwrap_or_default()
}
fn opt(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}
fn int(row: &AnyRow, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(col).ok().flatten()
}

fn image_row(r: &AnyRow) -> ImageRecord {
    ImageRecord {
        id: s(r, "id"),
        name: opt(r, "name"),
        status: Status::parse(&s(r, "status")).unwrap_or(Status::Killed),
        visibility: Visibility::parse(&s(r, "visibility")).unwrap_or(Visibility::Private),
        protected: int(r, "protected").unwrap_or(0) != 0,
        os_hidden: int(r, "os_hidden").unwrap_or(0) != 0,
        owner: opt(r, "owner"),
        disk_format: opt(r, "disk_format"),
        container_format: opt(r, "container_format"),
        min_disk: int(r, "min_disk").unwrap_or(0),
        min_ram: int(r, "min_ram").unwrap_or(0),
        size: int(r, "size"),
        virtual_size: int(r, "virtual_size"),
        checksum: opt(r, "checksum"),
        os_hash_algo: opt(r, "os_hash_algo"),
        os_hash_value: opt(r, "os_hash_value"),
        location: opt(r, "location"),
        properties: BTreeMap::new(),
        tags: BTreeSet::new(),
        created_at: s(r, "created_at"),
        updated_at: s(r, "updated_at"),
    }
}

const COLUMNS: &str = "id, name, status, visibility, protected, os_hidden, owner, disk_format, container_format, \
     min_disk, min_ram, size, virtual_size, checksum, os_hash_algo, os_hash_value, location, created_at, updated_at";

/// The column of a filter.
fn column(c: Column) -> &'static str {
    match c {
        Column::Id => "i.id",
        Column::Name => "i.name",
        Column::Status => "i.status",
        Column::ContainerFormat => "i.container_format",
        Column::DiskFormat => "i.disk_format",
        Column::Owner => "i.owner",
        Column::Checksum => "i.checksum",
        Column::OsHashAlgo => "i.os_hash_algo",
        Column::OsHashValue => "i.os_hash_value",
        Column::Size => "i.size",
        Column::VirtualSize => "i.virtual_size",
        Column::MinDisk => "i.min_disk",
        Column::MinRam => "i.min_ram",
        Column::Protected => "i.protected",
        Column::CreatedAt => "i.created_at",
        Column::UpdatedAt => "i.updated_at",
    }
}

/// The expression a sort key orders by: NULLs count as '' or 0, as in Glance's paging,
/// so both engines order them alike.
fn sort_expr(c: Column) -> &'static str {
    match c {
        Column::Name => "COALESCE(i.name, '')",
        Column::ContainerFormat => "COALESCE(i.container_format, '')",
        Column::DiskFormat => "COALESCE(i.disk_format, '')",
        Column::Size => "COALESCE(i.size, 0)",
        other => column(other),
    }
}

/// The marker's value for a sort key, as `sort_expr` computes it.
fn sort_value(img: &ImageRecord, c: Column) -> Arg {
    let text = |v: &Option<String>| Arg::Text(v.clone().unwrap_or_default());
    match c {
        Column::Name => text(&img.name),
        Column::ContainerFormat => text(&img.container_format),
        Column::DiskFormat => text(&img.disk_format),
        Column::Size => Arg::Int(img.size.unwrap_or(0)),
        Column::Status => Arg::Text(img.status.as_str().into()),
        Column::Id => Arg::Text(img.id.clone()),
        Column::UpdatedAt => Arg::Text(img.updated_at.clone()),
        _ => Arg::Text(img.created_at.clone()),
    }
}

fn op_sql(op: Op) -> &'static str {
    match op {
        Op::Eq => " = ",
        Op::Neq => " <> ",
        Op::Gt => " > ",
        Op::Gte => " >= ",
        Op::Lt => " < ",
        Op::Lte => " <= ",
    }
}

impl Tables {
    async fn with_details(&self, mut images: Vec<ImageRecord>) -> Result<Vec<ImageRecord>> {
        if images.is_empty() {
            return Ok(images);
        }
        let mut ids = Sql::default();
        ids.push("(");
        for (i, img) in images.iter().enumerate() {
            if i > 0 {
                ids.push(", ");
            }
            ids.arg(Arg::Text(img.id.clone()));
        }
        ids.push(")");
        let mut props: HashMap<String, BTreeMap<String, Option<String>>> = HashMap::new();
        let mut q = Sql {
            text: format!(
                "SELECT image_id, name, value FROM image_properties WHERE image_id IN {}",
                ids.text
            ),
            args: ids.args.clone(),
        };
        for r in q.query().fetch_all(&self.db.pool).await? {
            props
                .entry(s(&r, "image_id"))
                .or_default()
                .insert(s(&r, "name"), opt(&r, "value"));
        }
        let mut tags: HashMap<String, BTreeSet<String>> = HashMap::new();
        q.text = format!(
            "SELECT image_id, value FROM image_tags WHERE image_id IN {}",
            ids.text
        );
        for r in q.query().fetch_all(&self.db.pool).await? {
            tags.entry(s(&r, "image_id"))
                .or_default()
                .insert(s(&r, "value"));
        }
        for img in &mut images {
            img.properties = props.remove(&img.id).unwrap_or_default();
            img.tags = tags.remove(&img.id).unwrap_or_default();
        }
        Ok(images)
    }

    /// A live (not deleted) image.
    pub async fn image(&self, id: &str) -> Result<Option<ImageRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM images WHERE id = $1 AND deleted = 0"
        ))
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(self
            .with_details(row.iter().map(image_row).collect())
            .await?
            .pop())
    }

    /// Whether any image, even a deleted one, ever had this id.
    pub async fn id_used(&self, id: &str) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM images WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
            .is_some())
    }

    pub async fn insert_image(&self, img: &ImageRecord) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        image_values(
            Sql::default().push(&format!("INSERT INTO images ({COLUMNS}, deleted) VALUES (")),
            img,
        )
        .push(", 0)")
        .query()
        .execute(&mut *tx)
        .await?;
        write_details(&mut tx, img).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Write every attribute of a live image; with `from`, only if it is still in that
    /// status. Returns whether the image was written.
    pub async fn update_image(&self, img: &ImageRecord, from: Option<Status>) -> Result<bool> {
        let mut tx = self.db.pool.begin().await?;
        let mut q = Sql::default();
        q.push("UPDATE images SET name = ")
            .arg(Arg::OptText(img.name.clone()));
        q.push(", status = ")
            .arg(Arg::Text(img.status.as_str().into()));
        q.push(", visibility = ")
            .arg(Arg::Text(img.visibility.as_str().into()));
        q.push(", protected = ").arg(Arg::Int(flag(img.protected)));
        q.push(", os_hidden = ").arg(Arg::Int(flag(img.os_hidden)));
        q.push(", owner = ").arg(Arg::OptText(img.owner.clone()));
        q.push(", disk_format = ")
            .arg(Arg::OptText(img.disk_format.clone()));
        q.push(", container_format = ")
            .arg(Arg::OptText(img.container_format.clone()));
        q.push(", min_disk = ").arg(Arg::Int(img.min_disk));
        q.push(", min_ram = ").arg(Arg::Int(img.min_ram));
        q.push(", size = ").arg(Arg::OptInt(img.size));
        q.push(", virtual_size = ")
            .arg(Arg::OptInt(img.virtual_size));
        q.push(", checksum = ")
            .arg(Arg::OptText(img.checksum.clone()));
        q.push(", os_hash_algo = ")
            .arg(Arg::OptText(img.os_hash_algo.clone()));
        q.push(", os_hash_value = ")
            .arg(Arg::OptText(img.os_hash_value.clone()));
        q.push(", location = ")
            .arg(Arg::OptText(img.location.clone()));
        q.push(", updated_at = ")
            .arg(Arg::Text(img.updated_at.clone()));
        q.push(" WHERE id = ")
            .arg(Arg::Text(img.id.clone()))
            .push(" AND deleted = 0");
        if let Some(from) = from {
            q.push(" AND status = ")
                .arg(Arg::Text(from.as_str().into()));
        }
        let done = q.query().execute(&mut *tx).await?.rows_affected() == 1;
        if done {
            for sql in [
                "DELETE FROM image_properties WHERE image_id = $1",
                "DELETE FROM image_tags WHERE image_id = $1",
            ] {
                sqlx::query(sql).bind(&img.id).execute(&mut *tx).await?;
            }
            write_details(&mut tx, img).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Move a live image from one status to another; false if it was not in `from`.
    /// Back to `queued` drops the size; into `uploading` starts a stage that is not
    /// complete until [`Tables::record_stage`].
    pub async fn set_status(&self, id: &str, from: Status, to: Status) -> Result<bool> {
        let clear = match to {
            Status::Queued => ", size = NULL, virtual_size = NULL",
            Status::Uploading => ", stage_complete = 0",
            _ => "",
        };
        let n = sqlx::query(&format!(
            "UPDATE images SET status = $1, updated_at = $2{clear} WHERE id = $3 AND status = $4 AND deleted = 0"
        ))
        .bind(to.as_str())
        .bind(now())
        .bind(id)
        .bind(from.as_str())
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Record a finished stage (`glance-direct` data in the staging store) of `size`
    /// bytes; false if the image is no longer `uploading`.
    pub async fn record_stage(&self, id: &str, size: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE images SET size = $1, stage_complete = 1, updated_at = $2 WHERE id = $3 AND status = 'uploading' AND deleted = 0",
        )
        .bind(size)
        .bind(now())
        .bind(id)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Mark an image deleted (its id stays taken, as in Glance) and drop its details.
    pub async fn delete_image(&self, id: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        let t = now();
        sqlx::query(
            "UPDATE images SET deleted = 1, status = 'deleted', location = NULL, deleted_at = $1, updated_at = $1 WHERE id = $2",
        )
        .bind(&t)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM image_properties WHERE image_id = $1",
            "DELETE FROM image_tags WHERE image_id = $1",
            "DELETE FROM image_members WHERE image_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One page of the images `viewer` may list, filtered and ordered by `q`, after
    /// `marker` (the last image of the previous page).
    pub async fn list_images(
        &self,
        q: &ListQuery,
        viewer: &Viewer,
        limit: usize,
        marker: Option<&ImageRecord>,
    ) -> Result<Vec<ImageRecord>> {
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT {} FROM images i WHERE i.deleted = 0 AND i.status <> 'killed'",
            COLUMNS
                .split(", ")
                .map(|c| format!("i.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let project = viewer.project.clone();
        if !viewer.admin {
            sql.push(" AND (i.visibility IN ('public', 'community')");
            if let Some(p) = &project {
                sql.push(" OR i.owner = ").arg(Arg::Text(p.clone()));
                sql.push(" OR (i.visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m WHERE m.image_id = i.id AND m.member = ")
                    .arg(Arg::Text(p.clone()));
                if let Some(ms) = q.member_status {
                    sql.push(" AND m.status = ")
                        .arg(Arg::Text(ms.as_str().into()));
                }
                sql.push("))");
            }
            sql.push(")");
        }
        match (&q.visibility, &project) {
            (Some(v), _) if v == "all" => {}
            (Some(v), _) => {
                sql.push(" AND i.visibility = ").arg(Arg::Text(v.clone()));
            }
            (None, None) => {
                sql.push(" AND i.visibility <> 'community'");
            }
            (None, Some(p)) => {
                sql.push(" AND (i.owner = ")
                    .arg(Arg::Text(p.clone()))
                    .push(" OR i.visibility <> 'community')");
            }
        }
        sql.push(" AND i.os_hidden = ")
            .arg(Arg::Int(flag(q.os_hidden)));
        for c in &q.conds {
            match c {
                Cond::Cmp(col, op, v) => {
                    sql.push(" AND ").push(column(*col)).push(op_sql(*op));
                    sql.arg(match v {
                        Value::Text(t) => Arg::Text(t.clone()),
                        Value::Int(i) => Arg::Int(*i),
                        Value::Bool(b) => Arg::Int(flag(*b)),
                    });
                }
                Cond::In(_, vals) if vals.is_empty() => {
                    sql.push(" AND 1 = 0");
                }
                Cond::In(col, vals) => {
                    sql.push(" AND ").push(column(*col)).push(" IN (");
                    for (i, v) in vals.iter().enumerate() {
                        if i > 0 {
                            sql.push(", ");
                        }
                        sql.arg(Arg::Text(v.clone()));
                    }
                    sql.push(")");
                }
            }
        }
        for (k, v) in &q.properties {
            sql.push(" AND EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = i.id AND p.name = ")
                .arg(Arg::Text(k.clone()))
                .push(" AND p.value = ")
                .arg(Arg::Text(v.clone()))
                .push(")");
        }
        for t in &q.tags {
            sql.push(
                " AND EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id AND t.value = ",
            )
            .arg(Arg::Text(t.clone()))
            .push(")");
        }
        if let Some(m) = marker {
            // (k1 after m1) or (k1 = m1 and k2 after m2) or ...
            sql.push(" AND (");
            for i in 0..q.sort.len() {
                if i > 0 {
                    sql.push(" OR ");
                }
                sql.push("(");
                for (col, _) in &q.sort[..i] {
                    sql.push(sort_expr(*col))
                        .push(" = ")
                        .arg(sort_value(m, *col))
                        .push(" AND ");
                }
                let (col, dir) = q.sort[i];
                sql.push(sort_expr(col))
                    .push(if dir == Dir::Desc { " < " } else { " > " })
                    .arg(sort_value(m, col));
                sql.push(")");
            }
            sql.push(")");
        }
        sql.push(" ORDER BY ");
        for (i, (col, dir)) in q.sort.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push(sort_expr(*col))
                .push(if *dir == Dir::Desc { " DESC" } else { " ASC" });
        }
        sql.push(" LIMIT ")
            .arg(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        let rows = sql.query().fetch_all(&self.db.pool).await?;
        self.with_details(rows.iter().map(image_row).collect())
            .await
    }

    /// Put every image whose data transfer a crash cut short back to `queued`; returns
    /// their ids. That is an upload (`saving`), a stage not complete (`uploading`
    /// without `stage_complete`), and an import that no saga holds (`importing`
    /// without the import lock property, left by a version before sagas). Completed
    /// stages stay; imports held by a saga are the saga executor's to finish.
    pub async fn requeue_interrupted(&self, lock_property: &str) -> Result<Vec<String>> {
        const CUT_SHORT: &str = "deleted = 0 AND (status = 'saving' \
             OR (status = 'uploading' AND stage_complete = 0) \
             OR (status = 'importing' AND NOT EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = images.id AND p.name = $1)))";
        let ids: Vec<String> = sqlx::query(&format!("SELECT id FROM images WHERE {CUT_SHORT}"))
            .bind(lock_property)
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|r| s(r, "id"))
            .collect();
        for id in &ids {
            sqlx::query(&format!(
                "UPDATE images SET status = 'queued', size = NULL, virtual_size = NULL, updated_at = $2 \
                 WHERE id = $3 AND {CUT_SHORT}"
            ))
            .bind(lock_property)
            .bind(now())
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        }
        Ok(ids)
    }

    /// The id of an active image with this name, if any.
    pub async fn active_image_named(&self, name: &str) -> Result<Option<String>> {
        Ok(sqlx::query(
            "SELECT id FROM images WHERE name = $1 AND status = 'active' AND deleted = 0 LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&self.db.pool)
        .await?
        .map(|r| s(&r, "id")))
    }

    // ---- quota usage ----

    pub async fn count_images(&self, owner: &str) -> Result<i64> {
        self.scalar(
            "SELECT COUNT(*) FROM images WHERE owner = $1 AND deleted = 0",
            owner,
        )
        .await
    }

    /// Bytes of image data a project stores (active or being written).
    pub async fn stored_bytes(&self, owner: &str) -> Result<i64> {
        self.scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM images WHERE owner = $1 AND deleted = 0 AND location IS NOT NULL",
            owner,
        )
        .await
    }

    /// Bytes a project has staged for import.
    pub async fn staged_bytes(&self, owner: &str) -> Result<i64> {
        self.scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM images WHERE owner = $1 AND deleted = 0 AND status = 'uploading'",
            owner,
        )
        .await
    }

    pub async fn count_uploading(&self, owner: &str) -> Result<i64> {
        self.scalar(
            "SELECT COUNT(*) FROM images WHERE owner = $1 AND deleted = 0 AND status IN ('saving', 'uploading', 'importing')",
            owner,
        )
        .await
    }

    async fn scalar(&self, sql: &str, arg: &str) -> Result<i64> {
        let row = sqlx::query(sql).bind(arg).fetch_one(&self.db.pool).await?;
        row.try_get::<i64, _>(0).map_err(Error::internal)
    }

    // ---- members ----

    pub async fn members(&self, image_id: &str) -> Result<Vec<Member>> {
        Ok(sqlx::query(
            "SELECT * FROM image_members WHERE image_id = $1 ORDER BY created_at, member",
        )
        .bind(image_id)
        .fetch_all(&self.db.pool)
        .await?
        .iter()
        .map(member_row)
        .collect())
    }

    pub async fn member(&self, image_id: &str, member: &str) -> Result<Option<Member>> {
        Ok(
            sqlx::query("SELECT * FROM image_members WHERE image_id = $1 AND member = $2")
                .bind(image_id)
                .bind(member)
                .fetch_optional(&self.db.pool)
                .await?
                .as_ref()
                .map(member_row),
        )
    }

    pub async fn insert_member(&self, m: &Member) -> Result<()> {
        sqlx::query("INSERT INTO image_members (image_id, member, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&m.image_id)
            .bind(&m.member_id)
            .bind(m.status.as_str())
            .bind(&m.created_at)
            .bind(&m.updated_at)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    pub async fn update_member(&self, m: &Member) -> Result<()> {
        sqlx::query("UPDATE image_members SET status = $1, updated_at = $2 WHERE image_id = $3 AND member = $4")
            .bind(m.status.as_str())
            .bind(&m.updated_at)
            .bind(&m.image_id)
            .bind(&m.member_id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_member(&self, image_id: &str, member: &str) -> Result<()> {
        sqlx::query("DELETE FROM image_members WHERE image_id = $1 AND member = $2")
            .bind(image_id)
            .bind(member)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
}

fn member_row(r: &AnyRow) -> Member {
    Member {
        image_id: s(r, "image_id"),
        member_id: s(r, "member"),
        status: MemberStatus::parse(&s(r, "status")).unwrap_or(MemberStatus::Pending),
        created_at: s(r, "created_at"),
        updated_at: s(r, "updated_at"),
    }
}

/// The values of `COLUMNS`, in order.
fn image_values<'a>(q: &'a mut Sql, img: &ImageRecord) -> &'a mut Sql {
    let args = [
        Arg::Text(img.id.clone()),
        Arg::OptText(img.name.clone()),
        Arg::Text(img.status.as_str().into()),
        Arg::Text(img.visibility.as_str().into()),
        Arg::Int(flag(img.protected)),
        Arg::Int(flag(img.os_hidden)),
        Arg::OptText(img.owner.clone()),
        Arg::OptText(img.disk_format.clone()),
        Arg::OptText(img.container_format.clone()),
        Arg::Int(img.min_disk),
        Arg::Int(img.min_ram),
        Arg::OptInt(img.size),
        Arg::OptInt(img.virtual_size),
        Arg::OptText(img.checksum.clone()),
        Arg::OptText(img.os_hash_algo.clone()),
        Arg::OptText(img.os_hash_value.clone()),
        Arg::OptText(img.location.clone()),
        Arg::Text(img.created_at.clone()),
        Arg::Text(img.updated_at.clone()),
    ];
    for (i, a) in args.into_iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.arg(a);
    }
    q
}

async fn write_details(tx: &mut sqlx::Transaction<'_, sqlx::Any>, img: &ImageRecord) -> Result<()> {
    for (k, v) in &img.properties {
        sqlx::query("INSERT INTO image_properties (image_id, name, value) VALUES ($1, $2, $3)")
            .bind(&img.id)
            .bind(k)
            .bind(v.as_deref())
            .execute(&mut **tx)
            .await?;
    }
    for t in &img.tags {
        sqlx::query("INSERT INTO image_tags (image_id, value) VALUES ($1, $2)")
            .bind(&img.id)
            .bind(t)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

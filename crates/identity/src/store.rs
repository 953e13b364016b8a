//! The identity tables: every SQL statement of the service lives here.
//!
//! Rows are decoded strictly: every column is named in the query (no `SELECT *`) and a
//! missing column, a NULL where none may be, or an `extra` that is not a JSON object is an
//! error, never a default.

use std::collections::HashMap;

use api_common::{Error, Result};
use db::{flag, AnyRow, Cas, Db, Insert, Page, Row, Select, Update};
use serde_json::Value;

use crate::model::*;

fn s(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.try_get(col)?)
}

fn opt(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get(col)?)
}

fn b(row: &AnyRow, col: &str) -> Result<bool> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

fn i(row: &AnyRow, col: &str) -> Result<i64> {
    Ok(row.try_get(col)?)
}

fn extra(row: &AnyRow) -> Result<Extra> {
    match serde_json::from_str(&s(row, "extra")?) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::internal(
            "a stored `extra` column is not a JSON object",
        )),
    }
}

fn extra_text(e: &Extra) -> String {
    Value::Object(e.clone()).to_string()
}

/// A compare-and-set that found the row changed (or gone) since it was read.
fn stale(kind: &str, id: &str) -> Error {
    Error::conflict(format!(
        "The {kind} {id} was changed by another request since it was read; read it again and retry."
    ))
}

fn cas(r: Cas, kind: &str, id: &str) -> Result<()> {
    match r {
        Cas::Done => Ok(()),
        Cas::Stale => Err(stale(kind, id)),
    }
}

/// `col IN (...)` for a filter on ids (an empty list matches nothing).
fn ids_in(q: Select, col: &str, ids: &Option<Vec<String>>) -> Select {
    match ids {
        None => q,
        Some(ids) if ids.is_empty() => q.cond("1 = 0", []),
        Some(ids) => q.cond(
            &format!("{col} IN ({})", Select::placeholders(ids.len())),
            ids.iter().map(Into::into),
        ),
    }
}

/// The handle on the identity tables.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
    /// Longest list returned (Keystone's `list_limit`); `None`: no limit.
    pub list_limit: Option<usize>,
}

impl Store {
    pub fn new(db: Db, list_limit: Option<usize>) -> Store {
        Store { db, list_limit }
    }

    /// The row of `sql` (with one `$1` parameter), decoded.
    async fn one<T>(
        &self,
        sql: &str,
        id: &str,
        map: fn(&AnyRow) -> Result<T>,
    ) -> Result<Option<T>> {
        sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
            .map(|r| map(&r))
            .transpose()
    }

    /// The row of `table` with this id, decoded.
    async fn by_id<T>(
        &self,
        table: &'static str,
        columns: &'static str,
        id: &str,
        map: fn(&AnyRow) -> Result<T>,
    ) -> Result<Option<T>> {
        Select::new(table, columns)
            .eq("id", id)
            .fetch_optional(&self.db.pool, map)
            .await
    }

    /// Write a whole row.
    async fn insert(&self, row: Insert) -> Result<()> {
        row.execute(&self.db.pool).await?;
        Ok(())
    }

    /// Insert a row of `table`, or (`create` false) write every column but the first,
    /// `id`, over the row with that id. `values` are those of `columns`, in order.
    async fn put(
        &self,
        table: &'static str,
        columns: &'static str,
        values: Vec<db::Value>,
        create: bool,
    ) -> Result<()> {
        if create {
            return self.insert(Insert::new(table, columns, values)).await;
        }
        let sets = columns
            .split(", ")
            .enumerate()
            .skip(1)
            .map(|(i, c)| format!("{c} = ${}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("UPDATE {table} SET {sets} WHERE id = $1");
        db::execute(&self.db.pool, &sql, &values).await?;
        Ok(())
    }

    /// Every row of `sql` (with one `$1` parameter), decoded.
    async fn rows<T>(&self, sql: &str, id: &str, map: fn(&AnyRow) -> Result<T>) -> Result<Vec<T>> {
        sqlx::query(sql)
            .bind(id)
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(map)
            .collect()
    }

    /// Every row of a list query, without the list limit (for internal use).
    async fn all<T>(&self, q: Select, map: fn(&AnyRow) -> Result<T>) -> Result<Vec<T>> {
        Ok(q.fetch(&self.db.pool, map).await?.items)
    }

    /// A list query for the API: cut at the list limit.
    async fn page<T>(&self, q: Select, map: fn(&AnyRow) -> Result<T>) -> Result<Page<T>> {
        q.limit(self.list_limit).fetch(&self.db.pool, map).await
    }

    /// Run each statement with `id` as `$1`, in one transaction.
    async fn delete_cascade(&self, id: &str, statements: &[&str]) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        db::execute_each(&mut tx, statements, id).await?;
        tx.commit().await?;
        Ok(())
    }
}

// ---- domains ----

const DOMAIN: &str = "id, name, description, enabled, extra, revision";

fn domain(r: &AnyRow) -> Result<Domain> {
    Ok(Domain {
        id: s(r, "id")?,
        name: s(r, "name")?,
        description: s(r, "description")?,
        enabled: b(r, "enabled")?,
        extra: extra(r)?,
        revision: i(r, "revision")?,
    })
}

impl Store {
    pub async fn domain(&self, id: &str) -> Result<Option<Domain>> {
        self.by_id("domain", DOMAIN, id, domain).await
    }
    pub async fn domain_by_name(&self, name: &str) -> Result<Option<Domain>> {
        self.one(
            &format!("SELECT {DOMAIN} FROM domain WHERE name = $1"),
            name,
            domain,
        )
        .await
    }
    /// Every domain (internal use: no list limit).
    pub async fn domains(&self) -> Result<Vec<Domain>> {
        self.all(Select::new("domain", DOMAIN).order_by("name"), domain)
            .await
    }
    pub async fn list_domains(&self, f: &DomainFilter) -> Result<Page<Domain>> {
        let q = Select::new("domain", DOMAIN)
            .eq_opt("name", f.name.as_ref())
            .eq_opt("enabled", f.enabled)
            .order_by("name");
        self.page(q, domain).await
    }
    pub async fn insert_domain(&self, d: &Domain) -> Result<()> {
        let values = vec![
            (&d.id).into(),
            (&d.name).into(),
            (&d.description).into(),
            d.enabled.into(),
            extra_text(&d.extra).into(),
        ];
        self.insert(Insert::new(
            "domain",
            "id, name, description, enabled, extra",
            values,
        ))
        .await
    }
    /// Write `d` over the row at `d.revision`; 409 when it changed meanwhile.
    pub async fn update_domain(&self, d: &Domain) -> Result<()> {
        let r = Update::new("domain")
            .set("name", &d.name)
            .set("description", &d.description)
            .set("enabled", d.enabled)
            .set("extra", extra_text(&d.extra))
            .apply(&self.db.pool, &d.id, d.revision)
            .await?;
        cas(r, "domain", &d.id)
    }
    pub async fn delete_domain(&self, id: &str) -> Result<()> {
        self.delete_cascade(id, &[
            "DELETE FROM assignment WHERE target_type = 'domain' AND target_id = $1",
            "DELETE FROM assignment WHERE target_type = 'project' AND target_id IN (SELECT id FROM project WHERE domain_id = $1)",
            "DELETE FROM assignment WHERE actor_type = 'user' AND actor_id IN (SELECT id FROM users WHERE domain_id = $1)",
            "DELETE FROM assignment WHERE actor_type = 'group' AND actor_id IN (SELECT id FROM groups WHERE domain_id = $1)",
            "DELETE FROM role WHERE domain_id = $1",
            "DELETE FROM application_credential WHERE user_id IN (SELECT id FROM users WHERE domain_id = $1)",
            "DELETE FROM user_group WHERE user_id IN (SELECT id FROM users WHERE domain_id = $1)",
            "DELETE FROM user_group WHERE group_id IN (SELECT id FROM groups WHERE domain_id = $1)",
            "DELETE FROM users WHERE domain_id = $1",
            "DELETE FROM groups WHERE domain_id = $1",
            "DELETE FROM project_tag WHERE project_id IN (SELECT id FROM project WHERE domain_id = $1)",
            "UPDATE project SET parent_id = NULL WHERE domain_id = $1",
            "DELETE FROM project WHERE domain_id = $1",
            "DELETE FROM domain WHERE id = $1",
        ])
        .await
    }
}

// ---- projects ----

const PROJECT: &str = "id, name, domain_id, parent_id, description, enabled, extra, revision";

fn project(r: &AnyRow) -> Result<Project> {
    Ok(Project {
        id: s(r, "id")?,
        name: s(r, "name")?,
        domain_id: s(r, "domain_id")?,
        parent_id: opt(r, "parent_id")?,
        description: s(r, "description")?,
        enabled: b(r, "enabled")?,
        tags: Vec::new(),
        extra: extra(r)?,
        revision: i(r, "revision")?,
    })
}

/// `EXISTS (a tag of the project named one of `tags`)`.
fn has_tag(n: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM project_tag t WHERE t.project_id = project.id AND t.name IN ({}))",
        Select::placeholders(n)
    )
}

fn project_query(f: &ProjectFilter) -> Select {
    let mut q = Select::new("project", PROJECT)
        .eq_opt("name", f.name.as_ref())
        .eq_opt("domain_id", f.domain_id.as_ref())
        .eq_opt("enabled", f.enabled);
    if let Some(p) = &f.parent_id {
        q = q.cond(
            "(parent_id = ? OR (parent_id IS NULL AND domain_id = ?))",
            [p.into(), p.into()],
        );
    }
    for t in &f.tags {
        q = q.cond(&has_tag(1), [t.into()]);
    }
    if !f.tags_any.is_empty() {
        q = q.cond(
            &has_tag(f.tags_any.len()),
            f.tags_any.iter().map(Into::into),
        );
    }
    if !f.not_tags.is_empty() {
        let all = vec![has_tag(1); f.not_tags.len()].join(" AND ");
        q = q.cond(&format!("NOT ({all})"), f.not_tags.iter().map(Into::into));
    }
    if !f.not_tags_any.is_empty() {
        q = q.cond(
            &format!("NOT {}", has_tag(f.not_tags_any.len())),
            f.not_tags_any.iter().map(Into::into),
        );
    }
    ids_in(q, "id", &f.ids).order_by("name")
}

impl Store {
    /// Fill in the tags of `ps` with one query.
    async fn with_tags(&self, mut ps: Vec<Project>) -> Result<Vec<Project>> {
        if ps.is_empty() {
            return Ok(ps);
        }
        let ids: Vec<String> = ps.iter().map(|p| p.id.clone()).collect();
        let q = ids_in(
            Select::new("project_tag", "project_id, name"),
            "project_id",
            &Some(ids),
        )
        .order_by("name");
        let rows = self
            .all(q, |r| Ok((s(r, "project_id")?, s(r, "name")?)))
            .await?;
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        for (p, t) in rows {
            tags.entry(p).or_default().push(t);
        }
        for p in &mut ps {
            if let Some(t) = tags.remove(&p.id) {
                p.tags = t;
            }
        }
        Ok(ps)
    }
    pub async fn project(&self, id: &str) -> Result<Option<Project>> {
        let Some(mut p) = self.by_id("project", PROJECT, id, project).await? else {
            return Ok(None);
        };
        p.tags = self
            .rows(
                "SELECT name FROM project_tag WHERE project_id = $1 ORDER BY name",
                id,
                |r| s(r, "name"),
            )
            .await?;
        Ok(Some(p))
    }
    pub async fn project_by_name(&self, domain_id: &str, name: &str) -> Result<Option<Project>> {
        let q = project_query(&ProjectFilter {
            name: Some(name.to_owned()),
            domain_id: Some(domain_id.to_owned()),
            ..Default::default()
        });
        Ok(self.with_tags(self.all(q, project).await?).await?.pop())
    }
    /// Every project matching `f` (internal use: no list limit).
    pub async fn projects(&self, f: &ProjectFilter) -> Result<Vec<Project>> {
        self.with_tags(self.all(project_query(f), project).await?)
            .await
    }
    /// The projects matching `f`, cut at the list limit.
    pub async fn list_projects(&self, f: &ProjectFilter) -> Result<Page<Project>> {
        let page = self.page(project_query(f), project).await?;
        Ok(Page {
            items: self.with_tags(page.items).await?,
            truncated: page.truncated,
        })
    }
    async fn put_tags(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, p: &Project) -> Result<()> {
        sqlx::query("DELETE FROM project_tag WHERE project_id = $1")
            .bind(&p.id)
            .execute(&mut **tx)
            .await?;
        for t in &p.tags {
            sqlx::query("INSERT INTO project_tag (project_id, name) VALUES ($1, $2)")
                .bind(&p.id)
                .bind(t)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
    pub async fn insert_project(&self, p: &Project) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query("INSERT INTO project (id, name, domain_id, parent_id, description, enabled, extra) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.domain_id)
            .bind(&p.parent_id)
            .bind(&p.description)
            .bind(flag(p.enabled))
            .bind(extra_text(&p.extra))
            .execute(&mut *tx)
            .await?;
        self.put_tags(&mut tx, p).await?;
        tx.commit().await?;
        Ok(())
    }
    /// Write `p` (and its tags) over the row at `p.revision`; 409 when it changed meanwhile.
    pub async fn update_project(&self, p: &Project) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        let r = Update::new("project")
            .set("name", &p.name)
            .set("description", &p.description)
            .set("enabled", p.enabled)
            .set("extra", extra_text(&p.extra))
            .apply(&mut *tx, &p.id, p.revision)
            .await?;
        cas(r, "project", &p.id)?;
        self.put_tags(&mut tx, p).await?;
        tx.commit().await?;
        Ok(())
    }
    pub async fn project_children(&self, id: &str) -> Result<Vec<String>> {
        self.rows("SELECT id FROM project WHERE parent_id = $1", id, |r| {
            s(r, "id")
        })
        .await
    }
    pub async fn delete_project(&self, id: &str) -> Result<()> {
        self.delete_cascade(
            id,
            &[
                "DELETE FROM assignment WHERE target_type = 'project' AND target_id = $1",
                "DELETE FROM application_credential WHERE project_id = $1",
                "UPDATE users SET default_project_id = NULL WHERE default_project_id = $1",
                "DELETE FROM project WHERE id = $1",
            ],
        )
        .await
    }
}

// ---- users ----

const USER: &str = "id, name, domain_id, enabled, default_project_id, description, email, password_hash, password_expires_at, extra, revision";

fn user(r: &AnyRow) -> Result<User> {
    Ok(User {
        id: s(r, "id")?,
        name: s(r, "name")?,
        domain_id: s(r, "domain_id")?,
        enabled: b(r, "enabled")?,
        default_project_id: opt(r, "default_project_id")?,
        description: s(r, "description")?,
        email: opt(r, "email")?,
        password_hash: opt(r, "password_hash")?,
        password_expires_at: opt(r, "password_expires_at")?,
        extra: extra(r)?,
        revision: i(r, "revision")?,
    })
}

fn user_query(f: &UserFilter) -> Select {
    let q = Select::new("users", USER)
        .eq_opt("name", f.name.as_ref())
        .eq_opt("domain_id", f.domain_id.as_ref())
        .eq_opt("enabled", f.enabled);
    ids_in(q, "id", &f.ids).order_by("name")
}

impl Store {
    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        self.by_id("users", USER, id, user).await
    }
    pub async fn user_by_name(&self, domain_id: &str, name: &str) -> Result<Option<User>> {
        let q = user_query(&UserFilter {
            name: Some(name.to_owned()),
            domain_id: Some(domain_id.to_owned()),
            ..Default::default()
        });
        Ok(self.all(q, user).await?.pop())
    }
    /// Every user matching `f` (internal use: no list limit).
    pub async fn users(&self, f: &UserFilter) -> Result<Vec<User>> {
        self.all(user_query(f), user).await
    }
    pub async fn list_users(&self, f: &UserFilter) -> Result<Page<User>> {
        self.page(user_query(f), user).await
    }
    pub async fn insert_user(&self, u: &User) -> Result<()> {
        let values = vec![
            (&u.id).into(),
            (&u.name).into(),
            (&u.domain_id).into(),
            u.enabled.into(),
            (&u.default_project_id).into(),
            (&u.description).into(),
            (&u.email).into(),
            (&u.password_hash).into(),
            (&u.password_expires_at).into(),
            extra_text(&u.extra).into(),
            chrono::Utc::now().to_rfc3339().into(),
        ];
        self.insert(Insert::new("users", "id, name, domain_id, enabled, default_project_id, description, email, password_hash, password_expires_at, extra, created_at", values)).await
    }
    /// Write `u` over the row at `u.revision`; 409 when it changed meanwhile (so a
    /// concurrent password change is never undone by a stale copy).
    pub async fn update_user(&self, u: &User) -> Result<()> {
        let r = Update::new("users")
            .set("name", &u.name)
            .set("enabled", u.enabled)
            .set("default_project_id", &u.default_project_id)
            .set("description", &u.description)
            .set("email", &u.email)
            .set("password_hash", &u.password_hash)
            .set("password_expires_at", &u.password_expires_at)
            .set("extra", extra_text(&u.extra))
            .apply(&self.db.pool, &u.id, u.revision)
            .await?;
        cas(r, "user", &u.id)
    }
    pub async fn delete_user(&self, id: &str) -> Result<()> {
        self.delete_cascade(
            id,
            &[
                "DELETE FROM assignment WHERE actor_type = 'user' AND actor_id = $1",
                "DELETE FROM application_credential WHERE user_id = $1",
                "DELETE FROM user_group WHERE user_id = $1",
                "DELETE FROM users WHERE id = $1",
            ],
        )
        .await
    }
}

// ---- groups ----

const GROUP: &str = NAMED;

/// The columns of groups and roles (a role of no domain has `domain_id` "").
const NAMED: &str = "id, name, domain_id, description, extra";

fn named_values(
    id: &str,
    name: &str,
    domain_id: &str,
    description: &str,
    e: &Extra,
) -> Vec<db::Value> {
    vec![
        id.into(),
        name.into(),
        domain_id.into(),
        description.into(),
        extra_text(e).into(),
    ]
}

fn group_values(g: &Group) -> Vec<db::Value> {
    named_values(&g.id, &g.name, &g.domain_id, &g.description, &g.extra)
}

fn group(r: &AnyRow) -> Result<Group> {
    Ok(Group {
        id: s(r, "id")?,
        name: s(r, "name")?,
        domain_id: s(r, "domain_id")?,
        description: s(r, "description")?,
        extra: extra(r)?,
    })
}

fn group_query(f: &GroupFilter) -> Select {
    let q = Select::new("groups", GROUP)
        .eq_opt("name", f.name.as_ref())
        .eq_opt("domain_id", f.domain_id.as_ref());
    ids_in(q, "id", &f.ids).order_by("name")
}

impl Store {
    pub async fn group(&self, id: &str) -> Result<Option<Group>> {
        self.by_id("groups", GROUP, id, group).await
    }
    /// Every group matching `f` (internal use: no list limit).
    pub async fn groups(&self, f: &GroupFilter) -> Result<Vec<Group>> {
        self.all(group_query(f), group).await
    }
    pub async fn list_groups(&self, f: &GroupFilter) -> Result<Page<Group>> {
        self.page(group_query(f), group).await
    }
    pub async fn insert_group(&self, g: &Group) -> Result<()> {
        self.put("groups", GROUP, group_values(g), true).await
    }
    pub async fn update_group(&self, g: &Group) -> Result<()> {
        self.put("groups", GROUP, group_values(g), false).await
    }
    pub async fn delete_group(&self, id: &str) -> Result<()> {
        self.delete_cascade(
            id,
            &[
                "DELETE FROM assignment WHERE actor_type = 'group' AND actor_id = $1",
                "DELETE FROM user_group WHERE group_id = $1",
                "DELETE FROM groups WHERE id = $1",
            ],
        )
        .await
    }
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<String>> {
        self.rows(
            "SELECT user_id FROM user_group WHERE group_id = $1",
            group_id,
            |r| s(r, "user_id"),
        )
        .await
    }
    pub async fn user_groups(&self, user_id: &str) -> Result<Vec<String>> {
        self.rows(
            "SELECT group_id FROM user_group WHERE user_id = $1",
            user_id,
            |r| s(r, "group_id"),
        )
        .await
    }
    pub async fn is_member(&self, group_id: &str, user_id: &str) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM user_group WHERE group_id = $1 AND user_id = $2",
        )
        .bind(group_id)
        .bind(user_id)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(found.is_some())
    }
    pub async fn add_member(&self, group_id: &str, user_id: &str) -> Result<()> {
        if !self.is_member(group_id, user_id).await? {
            sqlx::query("INSERT INTO user_group (user_id, group_id) VALUES ($1, $2)")
                .bind(user_id)
                .bind(group_id)
                .execute(&self.db.pool)
                .await?;
        }
        Ok(())
    }
    pub async fn remove_member(&self, group_id: &str, user_id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM user_group WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(&self.db.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

// ---- roles ----

const ROLE: &str = NAMED;

fn role_values(r: &Role) -> Vec<db::Value> {
    let domain = r.domain_id.as_deref().unwrap_or("");
    named_values(&r.id, &r.name, domain, &r.description, &r.extra)
}

fn role(r: &AnyRow) -> Result<Role> {
    let d = s(r, "domain_id")?;
    Ok(Role {
        id: s(r, "id")?,
        name: s(r, "name")?,
        domain_id: (!d.is_empty()).then_some(d),
        description: s(r, "description")?,
        extra: extra(r)?,
    })
}

impl Store {
    pub async fn role(&self, id: &str) -> Result<Option<Role>> {
        self.by_id("role", ROLE, id, role).await
    }
    /// Every role (internal use: no list limit).
    pub async fn roles(&self) -> Result<Vec<Role>> {
        self.all(Select::new("role", ROLE).order_by("name"), role)
            .await
    }
    pub async fn list_roles(&self, f: &RoleFilter) -> Result<Page<Role>> {
        let q = Select::new("role", ROLE)
            .eq_opt("name", f.name.as_ref())
            .eq("domain_id", f.domain_id.as_deref().unwrap_or(""))
            .order_by("name");
        self.page(q, role).await
    }
    pub async fn insert_role(&self, r: &Role) -> Result<()> {
        self.put("role", ROLE, role_values(r), true).await
    }
    pub async fn update_role(&self, r: &Role) -> Result<()> {
        self.put("role", ROLE, role_values(r), false).await
    }
    pub async fn delete_role(&self, id: &str) -> Result<()> {
        self.delete_cascade(
            id,
            &[
                "DELETE FROM assignment WHERE role_id = $1",
                "DELETE FROM implied_role WHERE prior_role_id = $1 OR implied_role_id = $1",
                "DELETE FROM role WHERE id = $1",
            ],
        )
        .await
    }
    /// All implication rules as (prior, implied).
    pub async fn implied_roles(&self) -> Result<Vec<(String, String)>> {
        let q = Select::new("implied_role", "prior_role_id, implied_role_id")
            .order_by("prior_role_id, implied_role_id");
        self.all(q, |r| {
            Ok((s(r, "prior_role_id")?, s(r, "implied_role_id")?))
        })
        .await
    }
    pub async fn put_implied_role(&self, prior: &str, implied: &str) -> Result<()> {
        let exists: Option<String> = sqlx::query_scalar("SELECT prior_role_id FROM implied_role WHERE prior_role_id = $1 AND implied_role_id = $2").bind(prior).bind(implied).fetch_optional(&self.db.pool).await?;
        if exists.is_none() {
            sqlx::query(
                "INSERT INTO implied_role (prior_role_id, implied_role_id) VALUES ($1, $2)",
            )
            .bind(prior)
            .bind(implied)
            .execute(&self.db.pool)
            .await?;
        }
        Ok(())
    }
    pub async fn delete_implied_role(&self, prior: &str, implied: &str) -> Result<bool> {
        let r = sqlx::query(
            "DELETE FROM implied_role WHERE prior_role_id = $1 AND implied_role_id = $2",
        )
        .bind(prior)
        .bind(implied)
        .execute(&self.db.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }
}

// ---- assignments ----

const ASSIGNMENT: &str = "actor_type, actor_id, target_type, target_id, role_id, inherited";

fn assignment(r: &AnyRow) -> Result<Assignment> {
    let tid = s(r, "target_id")?;
    let actor_type = match s(r, "actor_type")?.as_str() {
        "user" => ActorType::User,
        "group" => ActorType::Group,
        other => {
            return Err(Error::internal(format!(
                "unknown actor_type {other:?} in an assignment"
            )))
        }
    };
    let target = match s(r, "target_type")?.as_str() {
        "project" => Target::Project(tid),
        "domain" => Target::Domain(tid),
        "system" => Target::System,
        other => {
            return Err(Error::internal(format!(
                "unknown target_type {other:?} in an assignment"
            )))
        }
    };
    Ok(Assignment {
        actor_type,
        actor_id: s(r, "actor_id")?,
        target,
        role_id: s(r, "role_id")?,
        inherited: b(r, "inherited")?,
    })
}

impl Store {
    /// Every assignment of the cloud (for `GET /v3/role_assignments`).
    pub async fn assignments(&self) -> Result<Vec<Assignment>> {
        self.all(Select::new("assignment", ASSIGNMENT), assignment)
            .await
    }
    /// The assignments a user holds directly or through any of their groups, each with
    /// the group it comes through: one query.
    pub async fn assignments_of(&self, user_id: &str) -> Result<Vec<Assignment>> {
        let q = Select::new("assignment", ASSIGNMENT).cond(
            "((actor_type = 'user' AND actor_id = ?) OR (actor_type = 'group' AND actor_id IN (SELECT group_id FROM user_group WHERE user_id = ?)))",
            [user_id.into(), user_id.into()],
        );
        self.all(q, assignment).await
    }
    /// The assignments of one actor on one target (for the grant lists).
    pub async fn grants_of(&self, a: &Assignment) -> Result<Vec<Assignment>> {
        let q = Select::new("assignment", ASSIGNMENT)
            .eq("actor_type", a.actor_type.as_str())
            .eq("actor_id", &a.actor_id)
            .eq("target_type", a.target.kind())
            .eq("target_id", a.target.id())
            .eq("inherited", a.inherited);
        self.all(q, assignment).await
    }
    pub async fn grant(&self, a: &Assignment) -> Result<()> {
        if self.has_grant(a).await? {
            return Ok(());
        }
        sqlx::query("INSERT INTO assignment (actor_type, actor_id, target_type, target_id, role_id, inherited) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(a.actor_type.as_str())
            .bind(&a.actor_id)
            .bind(a.target.kind())
            .bind(a.target.id())
            .bind(&a.role_id)
            .bind(flag(a.inherited))
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn has_grant(&self, a: &Assignment) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar("SELECT role_id FROM assignment WHERE actor_type = $1 AND actor_id = $2 AND target_type = $3 AND target_id = $4 AND role_id = $5 AND inherited = $6")
            .bind(a.actor_type.as_str())
            .bind(&a.actor_id)
            .bind(a.target.kind())
            .bind(a.target.id())
            .bind(&a.role_id)
            .bind(flag(a.inherited))
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(found.is_some())
    }
    pub async fn revoke_grant(&self, a: &Assignment) -> Result<bool> {
        let r = sqlx::query("DELETE FROM assignment WHERE actor_type = $1 AND actor_id = $2 AND target_type = $3 AND target_id = $4 AND role_id = $5 AND inherited = $6")
            .bind(a.actor_type.as_str())
            .bind(&a.actor_id)
            .bind(a.target.kind())
            .bind(a.target.id())
            .bind(&a.role_id)
            .bind(flag(a.inherited))
            .execute(&self.db.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

// ---- catalog ----

const REGION: &str = "id, description, parent_region_id, extra";
const SERVICE: &str = "id, type, name, description, enabled, extra";
const ENDPOINT: &str = "id, service_id, interface, region_id, url, enabled, extra";

fn region(r: &AnyRow) -> Result<Region> {
    Ok(Region {
        id: s(r, "id")?,
        description: s(r, "description")?,
        parent_region_id: opt(r, "parent_region_id")?,
        extra: extra(r)?,
    })
}
fn service(r: &AnyRow) -> Result<Service> {
    Ok(Service {
        id: s(r, "id")?,
        kind: s(r, "type")?,
        name: s(r, "name")?,
        description: s(r, "description")?,
        enabled: b(r, "enabled")?,
        extra: extra(r)?,
    })
}
fn endpoint(r: &AnyRow) -> Result<Endpoint> {
    Ok(Endpoint {
        id: s(r, "id")?,
        service_id: s(r, "service_id")?,
        interface: s(r, "interface")?,
        region_id: opt(r, "region_id")?,
        url: s(r, "url")?,
        enabled: b(r, "enabled")?,
        extra: extra(r)?,
    })
}

impl Store {
    pub async fn region(&self, id: &str) -> Result<Option<Region>> {
        self.by_id("region", REGION, id, region).await
    }
    pub async fn regions(&self) -> Result<Vec<Region>> {
        self.all(Select::new("region", REGION).order_by("id"), region)
            .await
    }
    pub async fn put_region(&self, r: &Region, create: bool) -> Result<()> {
        let values = vec![
            (&r.id).into(),
            (&r.description).into(),
            (&r.parent_region_id).into(),
            extra_text(&r.extra).into(),
        ];
        self.put("region", REGION, values, create).await
    }
    pub async fn delete_region(&self, id: &str) -> Result<()> {
        self.delete_cascade(id, &["DELETE FROM region WHERE id = $1"])
            .await
    }
    pub async fn service(&self, id: &str) -> Result<Option<Service>> {
        self.by_id("service", SERVICE, id, service).await
    }
    pub async fn services(&self) -> Result<Vec<Service>> {
        self.all(
            Select::new("service", SERVICE).order_by("type, name"),
            service,
        )
        .await
    }
    pub async fn put_service(&self, v: &Service, create: bool) -> Result<()> {
        let values = vec![
            (&v.id).into(),
            (&v.kind).into(),
            (&v.name).into(),
            (&v.description).into(),
            v.enabled.into(),
            extra_text(&v.extra).into(),
        ];
        self.put("service", SERVICE, values, create).await
    }
    pub async fn delete_service(&self, id: &str) -> Result<()> {
        self.delete_cascade(
            id,
            &[
                "DELETE FROM endpoint WHERE service_id = $1",
                "DELETE FROM service WHERE id = $1",
            ],
        )
        .await
    }
    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        self.by_id("endpoint", ENDPOINT, id, endpoint).await
    }
    pub async fn endpoints(&self) -> Result<Vec<Endpoint>> {
        self.all(
            Select::new("endpoint", ENDPOINT).order_by("service_id, interface"),
            endpoint,
        )
        .await
    }
    pub async fn put_endpoint(&self, e: &Endpoint, create: bool) -> Result<()> {
        let values = vec![
            (&e.id).into(),
            (&e.service_id).into(),
            (&e.interface).into(),
            (&e.region_id).into(),
            (&e.url).into(),
            e.enabled.into(),
            extra_text(&e.extra).into(),
        ];
        self.put("endpoint", ENDPOINT, values, create).await
    }
    pub async fn delete_endpoint(&self, id: &str) -> Result<()> {
        self.delete_cascade(id, &["DELETE FROM endpoint WHERE id = $1"])
            .await
    }
}

// ---- application credentials ----

const APP_CRED: &str =
    "id, name, user_id, project_id, secret_hash, description, expires_at, unrestricted, role_ids";

fn app_cred(r: &AnyRow) -> Result<AppCred> {
    Ok(AppCred {
        id: s(r, "id")?,
        name: s(r, "name")?,
        user_id: s(r, "user_id")?,
        project_id: s(r, "project_id")?,
        secret_hash: s(r, "secret_hash")?,
        description: s(r, "description")?,
        expires_at: opt(r, "expires_at")?,
        unrestricted: b(r, "unrestricted")?,
        role_ids: serde_json::from_str(&s(r, "role_ids")?).map_err(|e| {
            Error::internal(format!(
                "a stored application credential's role_ids is not a list: {e}"
            ))
        })?,
    })
}

impl Store {
    pub async fn app_cred(&self, id: &str) -> Result<Option<AppCred>> {
        self.by_id("application_credential", APP_CRED, id, app_cred)
            .await
    }
    pub async fn app_creds(&self, user_id: &str) -> Result<Vec<AppCred>> {
        self.rows(
            &format!(
                "SELECT {APP_CRED} FROM application_credential WHERE user_id = $1 ORDER BY name"
            ),
            user_id,
            app_cred,
        )
        .await
    }
    pub async fn insert_app_cred(&self, a: &AppCred) -> Result<()> {
        sqlx::query("INSERT INTO application_credential (id, name, user_id, project_id, secret_hash, description, expires_at, unrestricted, role_ids, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(&a.id)
            .bind(&a.name)
            .bind(&a.user_id)
            .bind(&a.project_id)
            .bind(&a.secret_hash)
            .bind(&a.description)
            .bind(&a.expires_at)
            .bind(flag(a.unrestricted))
            .bind(serde_json::to_string(&a.role_ids).map_err(Error::internal)?)
            .bind(chrono::Utc::now().to_rfc3339())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn delete_app_cred(&self, id: &str) -> Result<()> {
        self.delete_cascade(id, &["DELETE FROM application_credential WHERE id = $1"])
            .await
    }
}

// ---- revocation events ----

/// `issued_before` is stored as text (microseconds): a value that is not a number is an
/// error, not "revokes nothing".
fn micros(r: &AnyRow, col: &str) -> Result<i64> {
    s(r, col)?
        .parse()
        .map_err(|e| Error::internal(format!("a stored {col} is not a number: {e}")))
}

fn revocation(r: &AnyRow) -> Result<Revocation> {
    Ok(Revocation {
        user_id: opt(r, "user_id")?,
        project_id: opt(r, "project_id")?,
        audit_id: opt(r, "audit_id")?,
        audit_chain_id: opt(r, "audit_chain_id")?,
        app_cred_id: opt(r, "app_cred_id")?,
        issued_before: micros(r, "issued_before")?,
    })
}

impl Store {
    pub async fn add_revocation(&self, e: &Revocation) -> Result<()> {
        sqlx::query("INSERT INTO revocation_event (id, user_id, project_id, audit_id, audit_chain_id, app_cred_id, issued_before, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(new_id())
            .bind(&e.user_id)
            .bind(&e.project_id)
            .bind(&e.audit_id)
            .bind(&e.audit_chain_id)
            .bind(&e.app_cred_id)
            .bind(e.issued_before.to_string())
            .bind(chrono::Utc::now().to_rfc3339())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    /// Events recent enough to matter (tokens cannot outlive `since_micros`).
    pub async fn revocations(&self, since_micros: i64) -> Result<Vec<Revocation>> {
        let q = Select::new(
            "revocation_event",
            "user_id, project_id, audit_id, audit_chain_id, app_cred_id, issued_before",
        );
        Ok(self
            .all(q, revocation)
            .await?
            .into_iter()
            .filter(|e| e.issued_before >= since_micros)
            .collect())
    }
    pub async fn prune_revocations(&self, before_micros: i64) -> Result<()> {
        // issued_before is stored as text; compare numerically in the app to stay portable.
        let old = self
            .all(Select::new("revocation_event", "id, issued_before"), |r| {
                Ok((s(r, "id")?, micros(r, "issued_before")?))
            })
            .await?;
        for (id, ib) in old {
            if ib < before_micros {
                sqlx::query("DELETE FROM revocation_event WHERE id = $1")
                    .bind(id)
                    .execute(&self.db.pool)
                    .await?;
            }
        }
        Ok(())
    }
}

//! The identity tables: every SQL statement of the service lives here.

use api_common::Result;
use db::{flag, AnyRow, Db, Row};
use serde_json::Value;

use crate::model::*;

fn extra(row: &AnyRow) -> Extra {
    let s: String = row.try_get("extra").unwrap_or_default();
    match serde_json::from_str(&s) {
        Ok(Value::Object(m)) => m,
        _ => Extra::new(),
    }
}

fn extra_text(e: &Extra) -> String {
    Value::Object(e.clone()).to_string()
}

fn b(row: &AnyRow, col: &str) -> bool {
    row.try_get::<i64, _>(col).map(|v| v != 0).unwrap_or(false)
}

fn opt(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}

fn s(row: &AnyRow, col: &str) -> String {
    row.try_get(col).unwrap_or_default()
}

/// The handle on the identity tables.
#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
}

impl Store {
    /// The row of `sql` (with one `$1` parameter), mapped.
    async fn one<T>(&self, sql: &str, id: &str, map: fn(&AnyRow) -> T) -> Result<Option<T>> {
        Ok(sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
            .map(|r| map(&r)))
    }

    /// Every row of `sql`, mapped.
    async fn all<T>(&self, sql: &str, map: fn(&AnyRow) -> T) -> Result<Vec<T>> {
        Ok(sqlx::query(sql)
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(map)
            .collect())
    }
}

// ---- domains ----

fn domain(r: &AnyRow) -> Domain {
    Domain {
        id: s(r, "id"),
        name: s(r, "name"),
        description: s(r, "description"),
        enabled: b(r, "enabled"),
        extra: extra(r),
    }
}

impl Store {
    pub async fn domain(&self, id: &str) -> Result<Option<Domain>> {
        self.one("SELECT * FROM domain WHERE id = $1", id, domain)
            .await
    }
    pub async fn domain_by_name(&self, name: &str) -> Result<Option<Domain>> {
        self.one("SELECT * FROM domain WHERE name = $1", name, domain)
            .await
    }
    pub async fn domains(&self) -> Result<Vec<Domain>> {
        self.all("SELECT * FROM domain ORDER BY name", domain).await
    }
    pub async fn put_domain(&self, d: &Domain, create: bool) -> Result<()> {
        let sql = if create {
            "INSERT INTO domain (id, name, description, enabled, extra) VALUES ($1, $2, $3, $4, $5)"
        } else {
            "UPDATE domain SET name = $2, description = $3, enabled = $4, extra = $5 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(&d.id)
            .bind(&d.name)
            .bind(&d.description)
            .bind(flag(d.enabled))
            .bind(extra_text(&d.extra))
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn delete_domain(&self, id: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        for sql in [
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
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

// ---- projects ----

fn project(r: &AnyRow) -> Project {
    Project {
        id: s(r, "id"),
        name: s(r, "name"),
        domain_id: s(r, "domain_id"),
        parent_id: opt(r, "parent_id"),
        description: s(r, "description"),
        enabled: b(r, "enabled"),
        tags: Vec::new(),
        extra: extra(r),
    }
}

impl Store {
    async fn with_tags(&self, mut ps: Vec<Project>) -> Result<Vec<Project>> {
        if ps.is_empty() {
            return Ok(ps);
        }
        let rows = sqlx::query("SELECT project_id, name FROM project_tag ORDER BY name")
            .fetch_all(&self.db.pool)
            .await?;
        let mut tags: std::collections::HashMap<String, Vec<String>> = Default::default();
        for r in rows {
            tags.entry(s(&r, "project_id"))
                .or_default()
                .push(s(&r, "name"));
        }
        for p in &mut ps {
            p.tags = tags.remove(&p.id).unwrap_or_default();
        }
        Ok(ps)
    }
    pub async fn project(&self, id: &str) -> Result<Option<Project>> {
        let Some(r) = sqlx::query("SELECT * FROM project WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut p = project(&r);
        p.tags =
            sqlx::query_scalar("SELECT name FROM project_tag WHERE project_id = $1 ORDER BY name")
                .bind(id)
                .fetch_all(&self.db.pool)
                .await?;
        Ok(Some(p))
    }
    pub async fn project_by_name(&self, domain_id: &str, name: &str) -> Result<Option<Project>> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM project WHERE domain_id = $1 AND name = $2")
                .bind(domain_id)
                .bind(name)
                .fetch_optional(&self.db.pool)
                .await?;
        match id {
            Some(id) => self.project(&id).await,
            None => Ok(None),
        }
    }
    pub async fn projects(&self) -> Result<Vec<Project>> {
        let ps = sqlx::query("SELECT * FROM project ORDER BY name")
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(project)
            .collect();
        self.with_tags(ps).await
    }
    pub async fn put_project(&self, p: &Project, create: bool) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        let sql = if create {
            "INSERT INTO project (id, name, domain_id, parent_id, description, enabled, extra) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        } else {
            "UPDATE project SET name = $2, domain_id = $3, parent_id = $4, description = $5, enabled = $6, extra = $7 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.domain_id)
            .bind(&p.parent_id)
            .bind(&p.description)
            .bind(flag(p.enabled))
            .bind(extra_text(&p.extra))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM project_tag WHERE project_id = $1")
            .bind(&p.id)
            .execute(&mut *tx)
            .await?;
        for t in &p.tags {
            sqlx::query("INSERT INTO project_tag (project_id, name) VALUES ($1, $2)")
                .bind(&p.id)
                .bind(t)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
    pub async fn project_children(&self, id: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM project WHERE parent_id = $1")
                .bind(id)
                .fetch_all(&self.db.pool)
                .await?,
        )
    }
    pub async fn delete_project(&self, id: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        for sql in [
            "DELETE FROM assignment WHERE target_type = 'project' AND target_id = $1",
            "DELETE FROM application_credential WHERE project_id = $1",
            "UPDATE users SET default_project_id = NULL WHERE default_project_id = $1",
            "DELETE FROM project WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

// ---- users ----

fn user(r: &AnyRow) -> User {
    User {
        id: s(r, "id"),
        name: s(r, "name"),
        domain_id: s(r, "domain_id"),
        enabled: b(r, "enabled"),
        default_project_id: opt(r, "default_project_id"),
        description: s(r, "description"),
        email: opt(r, "email"),
        password_hash: opt(r, "password_hash"),
        password_expires_at: opt(r, "password_expires_at"),
        extra: extra(r),
    }
}

impl Store {
    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        self.one("SELECT * FROM users WHERE id = $1", id, user)
            .await
    }
    pub async fn user_by_name(&self, domain_id: &str, name: &str) -> Result<Option<User>> {
        Ok(
            sqlx::query("SELECT * FROM users WHERE domain_id = $1 AND name = $2")
                .bind(domain_id)
                .bind(name)
                .fetch_optional(&self.db.pool)
                .await?
                .map(|r| user(&r)),
        )
    }
    pub async fn users(&self) -> Result<Vec<User>> {
        self.all("SELECT * FROM users ORDER BY name", user).await
    }
    pub async fn put_user(&self, u: &User, create: bool) -> Result<()> {
        let sql = if create {
            "INSERT INTO users (id, name, domain_id, enabled, default_project_id, description, email, password_hash, password_expires_at, extra, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        } else {
            "UPDATE users SET name = $2, domain_id = $3, enabled = $4, default_project_id = $5, description = $6, email = $7, password_hash = $8, password_expires_at = $9, extra = $10 WHERE id = $1"
        };
        let mut q = sqlx::query(sql)
            .bind(&u.id)
            .bind(&u.name)
            .bind(&u.domain_id)
            .bind(flag(u.enabled))
            .bind(&u.default_project_id)
            .bind(&u.description)
            .bind(&u.email)
            .bind(&u.password_hash)
            .bind(&u.password_expires_at)
            .bind(extra_text(&u.extra));
        if create {
            q = q.bind(chrono::Utc::now().to_rfc3339());
        }
        q.execute(&self.db.pool).await?;
        Ok(())
    }
    pub async fn delete_user(&self, id: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        for sql in [
            "DELETE FROM assignment WHERE actor_type = 'user' AND actor_id = $1",
            "DELETE FROM application_credential WHERE user_id = $1",
            "DELETE FROM user_group WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

// ---- groups ----

fn group(r: &AnyRow) -> Group {
    Group {
        id: s(r, "id"),
        name: s(r, "name"),
        domain_id: s(r, "domain_id"),
        description: s(r, "description"),
        extra: extra(r),
    }
}

impl Store {
    pub async fn group(&self, id: &str) -> Result<Option<Group>> {
        self.one("SELECT * FROM groups WHERE id = $1", id, group)
            .await
    }
    pub async fn groups(&self) -> Result<Vec<Group>> {
        self.all("SELECT * FROM groups ORDER BY name", group).await
    }
    pub async fn put_group(&self, g: &Group, create: bool) -> Result<()> {
        let sql = if create {
            "INSERT INTO groups (id, name, domain_id, description, extra) VALUES ($1, $2, $3, $4, $5)"
        } else {
            "UPDATE groups SET name = $2, domain_id = $3, description = $4, extra = $5 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(&g.id)
            .bind(&g.name)
            .bind(&g.domain_id)
            .bind(&g.description)
            .bind(extra_text(&g.extra))
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn delete_group(&self, id: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        for sql in [
            "DELETE FROM assignment WHERE actor_type = 'group' AND actor_id = $1",
            "DELETE FROM user_group WHERE group_id = $1",
            "DELETE FROM groups WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM user_group WHERE group_id = $1")
                .bind(group_id)
                .fetch_all(&self.db.pool)
                .await?,
        )
    }
    pub async fn user_groups(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT group_id FROM user_group WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&self.db.pool)
                .await?,
        )
    }
    pub async fn add_member(&self, group_id: &str, user_id: &str) -> Result<()> {
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM user_group WHERE group_id = $1 AND user_id = $2",
        )
        .bind(group_id)
        .bind(user_id)
        .fetch_optional(&self.db.pool)
        .await?;
        if exists.is_none() {
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

fn role(r: &AnyRow) -> Role {
    let d = s(r, "domain_id");
    Role {
        id: s(r, "id"),
        name: s(r, "name"),
        domain_id: (!d.is_empty()).then_some(d),
        description: s(r, "description"),
        extra: extra(r),
    }
}

impl Store {
    pub async fn role(&self, id: &str) -> Result<Option<Role>> {
        self.one("SELECT * FROM role WHERE id = $1", id, role).await
    }
    pub async fn roles(&self) -> Result<Vec<Role>> {
        self.all("SELECT * FROM role ORDER BY name", role).await
    }
    pub async fn put_role(&self, r: &Role, create: bool) -> Result<()> {
        let sql = if create {
            "INSERT INTO role (id, name, domain_id, description, extra) VALUES ($1, $2, $3, $4, $5)"
        } else {
            "UPDATE role SET name = $2, domain_id = $3, description = $4, extra = $5 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(&r.id)
            .bind(&r.name)
            .bind(r.domain_id.clone().unwrap_or_default())
            .bind(&r.description)
            .bind(extra_text(&r.extra))
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn delete_role(&self, id: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        for sql in [
            "DELETE FROM assignment WHERE role_id = $1",
            "DELETE FROM implied_role WHERE prior_role_id = $1 OR implied_role_id = $1",
            "DELETE FROM role WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
    /// All implication rules as (prior, implied).
    pub async fn implied_roles(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as("SELECT prior_role_id, implied_role_id FROM implied_role ORDER BY prior_role_id, implied_role_id").fetch_all(&self.db.pool).await?)
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

fn assignment(r: &AnyRow) -> Assignment {
    let tid = s(r, "target_id");
    Assignment {
        actor_type: if s(r, "actor_type") == "group" {
            ActorType::Group
        } else {
            ActorType::User
        },
        actor_id: s(r, "actor_id"),
        target: match s(r, "target_type").as_str() {
            "project" => Target::Project(tid),
            "domain" => Target::Domain(tid),
            _ => Target::System,
        },
        role_id: s(r, "role_id"),
        inherited: b(r, "inherited"),
    }
}

impl Store {
    pub async fn assignments(&self) -> Result<Vec<Assignment>> {
        self.all("SELECT * FROM assignment", assignment).await
    }
    /// The assignments held by any of `actors` (type, id).
    pub async fn assignments_of(
        &self,
        user_id: &str,
        group_ids: &[String],
    ) -> Result<Vec<Assignment>> {
        let mut out: Vec<Assignment> =
            sqlx::query("SELECT * FROM assignment WHERE actor_type = 'user' AND actor_id = $1")
                .bind(user_id)
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(assignment)
                .collect();
        for g in group_ids {
            out.extend(
                sqlx::query(
                    "SELECT * FROM assignment WHERE actor_type = 'group' AND actor_id = $1",
                )
                .bind(g)
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(assignment),
            );
        }
        Ok(out)
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

fn region(r: &AnyRow) -> Region {
    Region {
        id: s(r, "id"),
        description: s(r, "description"),
        parent_region_id: opt(r, "parent_region_id"),
        extra: extra(r),
    }
}
fn service(r: &AnyRow) -> Service {
    Service {
        id: s(r, "id"),
        kind: s(r, "type"),
        name: s(r, "name"),
        description: s(r, "description"),
        enabled: b(r, "enabled"),
        extra: extra(r),
    }
}
fn endpoint(r: &AnyRow) -> Endpoint {
    Endpoint {
        id: s(r, "id"),
        service_id: s(r, "service_id"),
        interface: s(r, "interface"),
        region_id: opt(r, "region_id"),
        url: s(r, "url"),
        enabled: b(r, "enabled"),
        extra: extra(r),
    }
}

impl Store {
    pub async fn region(&self, id: &str) -> Result<Option<Region>> {
        self.one("SELECT * FROM region WHERE id = $1", id, region)
            .await
    }
    pub async fn regions(&self) -> Result<Vec<Region>> {
        self.all("SELECT * FROM region ORDER BY id", region).await
    }
    pub async fn put_region(&self, r: &Region, create: bool) -> Result<()> {
        let sql = if create {
            "INSERT INTO region (id, description, parent_region_id, extra) VALUES ($1, $2, $3, $4)"
        } else {
            "UPDATE region SET description = $2, parent_region_id = $3, extra = $4 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(&r.id)
            .bind(&r.description)
            .bind(&r.parent_region_id)
            .bind(extra_text(&r.extra))
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn delete_region(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM region WHERE id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn service(&self, id: &str) -> Result<Option<Service>> {
        self.one("SELECT * FROM service WHERE id = $1", id, service)
            .await
    }
    pub async fn services(&self) -> Result<Vec<Service>> {
        self.all("SELECT * FROM service ORDER BY type, name", service)
            .await
    }
    pub async fn put_service(&self, v: &Service, create: bool) -> Result<()> {
        let sql = if create {
            "INSERT INTO service (id, type, name, description, enabled, extra) VALUES ($1, $2, $3, $4, $5, $6)"
        } else {
            "UPDATE service SET type = $2, name = $3, description = $4, enabled = $5, extra = $6 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(&v.id)
            .bind(&v.kind)
            .bind(&v.name)
            .bind(&v.description)
            .bind(flag(v.enabled))
            .bind(extra_text(&v.extra))
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn delete_service(&self, id: &str) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query("DELETE FROM endpoint WHERE service_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM service WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        self.one("SELECT * FROM endpoint WHERE id = $1", id, endpoint)
            .await
    }
    pub async fn endpoints(&self) -> Result<Vec<Endpoint>> {
        Ok(
            sqlx::query("SELECT * FROM endpoint ORDER BY service_id, interface")
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(endpoint)
                .collect(),
        )
    }
    pub async fn put_endpoint(&self, e: &Endpoint, create: bool) -> Result<()> {
        let sql = if create {
            "INSERT INTO endpoint (id, service_id, interface, region_id, url, enabled, extra) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        } else {
            "UPDATE endpoint SET service_id = $2, interface = $3, region_id = $4, url = $5, enabled = $6, extra = $7 WHERE id = $1"
        };
        sqlx::query(sql)
            .bind(&e.id)
            .bind(&e.service_id)
            .bind(&e.interface)
            .bind(&e.region_id)
            .bind(&e.url)
            .bind(flag(e.enabled))
            .bind(extra_text(&e.extra))
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn delete_endpoint(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM endpoint WHERE id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
}

// ---- application credentials ----

fn app_cred(r: &AnyRow) -> AppCred {
    AppCred {
        id: s(r, "id"),
        name: s(r, "name"),
        user_id: s(r, "user_id"),
        project_id: s(r, "project_id"),
        secret_hash: s(r, "secret_hash"),
        description: s(r, "description"),
        expires_at: opt(r, "expires_at"),
        unrestricted: b(r, "unrestricted"),
        role_ids: serde_json::from_str(&s(r, "role_ids")).unwrap_or_default(),
    }
}

impl Store {
    pub async fn app_cred(&self, id: &str) -> Result<Option<AppCred>> {
        Ok(
            sqlx::query("SELECT * FROM application_credential WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.db.pool)
                .await?
                .map(|r| app_cred(&r)),
        )
    }
    pub async fn app_creds(&self, user_id: &str) -> Result<Vec<AppCred>> {
        Ok(
            sqlx::query("SELECT * FROM application_credential WHERE user_id = $1 ORDER BY name")
                .bind(user_id)
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(app_cred)
                .collect(),
        )
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
            .bind(serde_json::to_string(&a.role_ids).unwrap_or_default())
            .bind(chrono::Utc::now().to_rfc3339())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
    pub async fn delete_app_cred(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM application_credential WHERE id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
}

// ---- revocation events ----

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
        let rows = sqlx::query("SELECT * FROM revocation_event")
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| Revocation {
                user_id: opt(r, "user_id"),
                project_id: opt(r, "project_id"),
                audit_id: opt(r, "audit_id"),
                audit_chain_id: opt(r, "audit_chain_id"),
                app_cred_id: opt(r, "app_cred_id"),
                issued_before: s(r, "issued_before").parse().unwrap_or(0),
            })
            .filter(|e| e.issued_before >= since_micros)
            .collect())
    }
    pub async fn prune_revocations(&self, before_micros: i64) -> Result<()> {
        // issued_before is stored as text; compare numerically in the app to stay portable.
        let old: Vec<(String, String)> =
            sqlx::query_as("SELECT id, issued_before FROM revocation_event")
                .fetch_all(&self.db.pool)
                .await?;
        for (id, ib) in old {
            if ib.parse::<i64>().unwrap_or(0) < before_micros {
                sqlx::query("DELETE FROM revocation_event WHERE id = $1")
                    .bind(id)
                    .execute(&self.db.pool)
                    .await?;
            }
        }
        Ok(())
    }
}

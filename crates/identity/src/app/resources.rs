//! Creating, changing and deleting identity resources, with Keystone's rules. Every write
//! names what it changed (`Identity::changed`), so the cached validations of tokens that
//! depend on it are re-checked against the new state on their next use, and only those.
//! Creating something new changes no existing token.

use std::collections::BTreeSet;

use api_common::{Error, Result};
use db::Page;

use super::{Dep, Identity};
use crate::{model::*, password};

fn nonempty(what: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        return Err(Error::bad_request(format!(
            "Invalid input for field '{what}': it must not be empty."
        )));
    }
    if v.len() > 255 {
        return Err(Error::bad_request(format!(
            "Invalid input for field '{what}': longer than 255 characters."
        )));
    }
    Ok(())
}

fn not_found(kind: &str, id: &str) -> Error {
    Error::not_found(format!("Could not find {kind}: {id}."))
}

fn conflict(kind: &str, name: &str) -> Error {
    Error::conflict(format!(
        "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name}."
    ))
}

impl Identity {
    // ---- lists (filtered in SQL, cut at the list limit) ----

    pub async fn list_domains(&self, f: &DomainFilter) -> Result<Page<Domain>> {
        self.store.list_domains(f).await
    }

    pub async fn list_projects(&self, f: &ProjectFilter) -> Result<Page<Project>> {
        self.store.list_projects(f).await
    }

    pub async fn list_users(&self, f: &UserFilter) -> Result<Page<User>> {
        self.store.list_users(f).await
    }

    pub async fn list_groups(&self, f: &GroupFilter) -> Result<Page<Group>> {
        self.store.list_groups(f).await
    }

    pub async fn list_roles(&self, f: &RoleFilter) -> Result<Page<Role>> {
        self.store.list_roles(f).await
    }

    // ---- domains ----

    pub async fn get_domain(&self, id: &str) -> Result<Domain> {
        self.store
            .domain(id)
            .await?
            .ok_or_else(|| not_found("domain", id))
    }

    pub async fn create_domain(&self, d: Domain) -> Result<Domain> {
        nonempty("name", &d.name)?;
        if self.store.domain_by_name(&d.name).await?.is_some() {
            return Err(conflict("domain", &d.name));
        }
        self.store.insert_domain(&d).await?;
        // No cached token depends on this, but cached lists do.
        self.changed(&[]);
        Ok(d)
    }

    pub async fn update_domain(&self, d: Domain) -> Result<Domain> {
        nonempty("name", &d.name)?;
        if self
            .store
            .domain_by_name(&d.name)
            .await?
            .is_some_and(|o| o.id != d.id)
        {
            return Err(conflict("domain", &d.name));
        }
        self.store.update_domain(&d).await?;
        self.changed(&[Dep::Domain(d.id.clone())]);
        Ok(Domain {
            revision: d.revision + 1,
            ..d
        })
    }

    pub async fn delete_domain(&self, id: &str) -> Result<()> {
        let d = self.get_domain(id).await?;
        if d.enabled {
            return Err(Error::forbidden(
                "Cannot delete a domain that is enabled, please disable it first.",
            ));
        }
        self.store.delete_domain(id).await?;
        self.changed(&[Dep::Domain(id.to_owned())]);
        Ok(())
    }

    // ---- projects ----

    pub async fn get_project(&self, id: &str) -> Result<Project> {
        self.store
            .project(id)
            .await?
            .ok_or_else(|| not_found("project", id))
    }

    pub async fn create_project(&self, mut p: Project) -> Result<Project> {
        nonempty("name", &p.name)?;
        // A parent that is a domain means a top-level project of that domain.
        if let Some(parent) = p.parent_id.clone() {
            if let Some(d) = self.store.domain(&parent).await? {
                p.parent_id = None;
                if p.domain_id.is_empty() {
                    p.domain_id = d.id;
                }
            } else {
                let pp = self
                    .store
                    .project(&parent)
                    .await?
                    .ok_or_else(|| not_found("project", &parent))?;
                if p.domain_id.is_empty() {
                    p.domain_id = pp.domain_id.clone();
                } else if p.domain_id != pp.domain_id {
                    return Err(Error::bad_request(
                        "Cannot create a project in a domain other than its parent's.",
                    ));
                }
            }
        }
        if self.store.domain(&p.domain_id).await?.is_none() {
            return Err(not_found("domain", &p.domain_id));
        }
        if self
            .store
            .project_by_name(&p.domain_id, &p.name)
            .await?
            .is_some()
        {
            return Err(conflict("project", &p.name));
        }
        check_tags(&p.tags)?;
        self.store.insert_project(&p).await?;
        // No cached token depends on this, but cached lists do.
        self.changed(&[]);
        Ok(p)
    }

    pub async fn update_project(&self, p: Project) -> Result<Project> {
        nonempty("name", &p.name)?;
        if self
            .store
            .project_by_name(&p.domain_id, &p.name)
            .await?
            .is_some_and(|o| o.id != p.id)
        {
            return Err(conflict("project", &p.name));
        }
        check_tags(&p.tags)?;
        self.store.update_project(&p).await?;
        self.changed(&[Dep::Project(p.id.clone())]);
        Ok(Project {
            revision: p.revision + 1,
            ..p
        })
    }

    pub async fn delete_project(&self, id: &str) -> Result<()> {
        self.get_project(id).await?;
        if !self.store.project_children(id).await?.is_empty() {
            return Err(Error::forbidden(format!(
                "Cannot delete project {id}: it has child projects."
            )));
        }
        self.store.delete_project(id).await?;
        self.changed(&[Dep::Project(id.to_owned())]);
        Ok(())
    }

    // ---- users ----

    pub async fn get_user(&self, id: &str) -> Result<User> {
        self.store
            .user(id)
            .await?
            .ok_or_else(|| not_found("user", id))
    }

    /// Create a user; `password` is hashed here.
    pub async fn create_user(&self, mut u: User, password: Option<String>) -> Result<User> {
        nonempty("name", &u.name)?;
        if self.store.domain(&u.domain_id).await?.is_none() {
            return Err(not_found("domain", &u.domain_id));
        }
        if self
            .store
            .user_by_name(&u.domain_id, &u.name)
            .await?
            .is_some()
        {
            return Err(conflict("user", &u.name));
        }
        if let Some(pw) = password {
            u.password_hash = Some(password::hash(pw).await?);
        }
        self.store.insert_user(&u).await?;
        // No cached token depends on this, but cached lists do.
        self.changed(&[]);
        Ok(u)
    }

    /// Update a user; a new password is hashed, and disabling the user or changing the
    /// password revokes the user's tokens.
    pub async fn update_user(&self, mut u: User, password: Option<String>) -> Result<User> {
        nonempty("name", &u.name)?;
        let old = self.get_user(&u.id).await?;
        if self
            .store
            .user_by_name(&u.domain_id, &u.name)
            .await?
            .is_some_and(|o| o.id != u.id)
        {
            return Err(conflict("user", &u.name));
        }
        let changed_pw = password.is_some();
        if let Some(pw) = password {
            u.password_hash = Some(password::hash(pw).await?);
        }
        self.store.update_user(&u).await?;
        u.revision += 1;
        if changed_pw || (old.enabled && !u.enabled) {
            self.revoke_user_tokens(&u.id).await?;
        }
        self.changed(&[Dep::User(u.id.clone())]);
        Ok(u)
    }

    /// A user changes their own password, proving the old one.
    pub async fn change_password(
        &self,
        user_id: &str,
        original: String,
        new: String,
    ) -> Result<()> {
        let u = self.get_user(user_id).await?;
        let ok = match u.password_hash.clone() {
            Some(h) => password::verify(original, h).await,
            None => false,
        };
        if !ok {
            return Err(Error::unauthenticated("Invalid user / password"));
        }
        nonempty("password", &new)?;
        self.update_user(u, Some(new)).await?;
        Ok(())
    }

    pub async fn delete_user(&self, id: &str) -> Result<()> {
        self.get_user(id).await?;
        self.store.delete_user(id).await?;
        self.revoke_user_tokens(id).await?;
        self.changed(&[Dep::User(id.to_owned())]);
        Ok(())
    }

    // ---- groups ----

    pub async fn get_group(&self, id: &str) -> Result<Group> {
        self.store
            .group(id)
            .await?
            .ok_or_else(|| not_found("group", id))
    }

    pub async fn create_group(&self, g: Group) -> Result<Group> {
        nonempty("name", &g.name)?;
        if self.store.domain(&g.domain_id).await?.is_none() {
            return Err(not_found("domain", &g.domain_id));
        }
        if !self
            .store
            .groups(&GroupFilter {
                name: Some(g.name.clone()),
                domain_id: Some(g.domain_id.clone()),
                ..Default::default()
            })
            .await?
            .is_empty()
        {
            return Err(conflict("group", &g.name));
        }
        self.store.insert_group(&g).await?;
        // No cached token depends on this, but cached lists do.
        self.changed(&[]);
        Ok(g)
    }

    pub async fn update_group(&self, g: Group) -> Result<Group> {
        nonempty("name", &g.name)?;
        if self
            .store
            .groups(&GroupFilter {
                name: Some(g.name.clone()),
                domain_id: Some(g.domain_id.clone()),
                ..Default::default()
            })
            .await?
            .iter()
            .any(|o| o.id != g.id)
        {
            return Err(conflict("group", &g.name));
        }
        self.store.update_group(&g).await?;
        // No cached token depends on this, but cached lists do.
        self.changed(&[]);
        Ok(g)
    }

    pub async fn delete_group(&self, id: &str) -> Result<()> {
        self.get_group(id).await?;
        self.store.delete_group(id).await?;
        self.changed(&[Dep::Everything]);
        Ok(())
    }

    pub async fn add_user_to_group(&self, group_id: &str, user_id: &str) -> Result<()> {
        self.get_group(group_id).await?;
        self.get_user(user_id).await?;
        self.store.add_member(group_id, user_id).await?;
        self.changed(&[Dep::User(user_id.to_owned())]);
        Ok(())
    }

    pub async fn remove_user_from_group(&self, group_id: &str, user_id: &str) -> Result<()> {
        self.get_group(group_id).await?;
        self.get_user(user_id).await?;
        if !self.store.remove_member(group_id, user_id).await? {
            return Err(Error::not_found(format!(
                "User {user_id} is not a member of group {group_id}."
            )));
        }
        self.changed(&[Dep::User(user_id.to_owned())]);
        Ok(())
    }

    // ---- roles ----

    pub async fn get_role(&self, id: &str) -> Result<Role> {
        self.store
            .role(id)
            .await?
            .ok_or_else(|| not_found("role", id))
    }

    pub async fn create_role(&self, r: Role) -> Result<Role> {
        nonempty("name", &r.name)?;
        if self
            .store
            .roles()
            .await?
            .iter()
            .any(|o| o.domain_id == r.domain_id && o.name.eq_ignore_ascii_case(&r.name))
        {
            return Err(conflict("role", &r.name));
        }
        if let Some(d) = &r.domain_id {
            self.get_domain(d).await?;
        }
        self.store.insert_role(&r).await?;
        // No cached token depends on this, but cached lists do.
        self.changed(&[]);
        Ok(r)
    }

    pub async fn update_role(&self, r: Role) -> Result<Role> {
        nonempty("name", &r.name)?;
        if self.store.roles().await?.iter().any(|o| {
            o.domain_id == r.domain_id && o.name.eq_ignore_ascii_case(&r.name) && o.id != r.id
        }) {
            return Err(conflict("role", &r.name));
        }
        self.store.update_role(&r).await?;
        self.changed(&[Dep::Everything]);
        Ok(r)
    }

    pub async fn delete_role(&self, id: &str) -> Result<()> {
        self.get_role(id).await?;
        self.store.delete_role(id).await?;
        self.changed(&[Dep::Everything]);
        Ok(())
    }

    pub async fn create_implied_role(&self, prior: &str, implied: &str) -> Result<(Role, Role)> {
        let p = self.get_role(prior).await?;
        let i = self.get_role(implied).await?;
        if p.id == i.id {
            return Err(Error::bad_request("A role cannot imply itself."));
        }
        // Refuse cycles: `implied` must not already (transitively) imply `prior`.
        let reach = self.expand_roles(BTreeSet::from([i.id.clone()])).await?;
        if reach.iter().any(|r| r.id == p.id) {
            return Err(Error::forbidden(format!(
                "Role {prior} implying {implied} would create a cycle."
            )));
        }
        self.store.put_implied_role(prior, implied).await?;
        self.changed(&[Dep::Everything]);
        Ok((p, i))
    }

    pub async fn delete_implied_role(&self, prior: &str, implied: &str) -> Result<()> {
        if !self.store.delete_implied_role(prior, implied).await? {
            return Err(Error::not_found(format!(
                "Could not find implied role: {prior} implies {implied}."
            )));
        }
        self.changed(&[Dep::Everything]);
        Ok(())
    }

    // ---- grants ----

    /// Check that the actor, the target and the role of a grant exist.
    pub async fn check_grant_parts(&self, a: &Assignment) -> Result<()> {
        self.check_actor_and_target(a).await?;
        self.get_role(&a.role_id).await?;
        Ok(())
    }

    /// Check that the actor and the target of a grant exist (its role may be unset).
    pub async fn check_actor_and_target(&self, a: &Assignment) -> Result<()> {
        match a.actor_type {
            ActorType::User => drop(self.get_user(&a.actor_id).await?),
            ActorType::Group => drop(self.get_group(&a.actor_id).await?),
        }
        match &a.target {
            Target::Project(p) => drop(self.get_project(p).await?),
            Target::Domain(d) => drop(self.get_domain(d).await?),
            Target::System => {}
        }
        Ok(())
    }

    pub async fn create_grant(&self, a: Assignment) -> Result<()> {
        self.check_grant_parts(&a).await?;
        self.store.grant(&a).await?;
        self.changed(&[grant_dep(&a)]);
        Ok(())
    }

    pub async fn revoke_grant(&self, a: Assignment) -> Result<()> {
        self.check_grant_parts(&a).await?;
        if !self.store.revoke_grant(&a).await? {
            return Err(Error::not_found(format!(
                "Could not find role assignment with role: {}.",
                a.role_id
            )));
        }
        self.changed(&[grant_dep(&a)]);
        Ok(())
    }

    // ---- catalog ----

    pub async fn create_region(&self, r: Region) -> Result<Region> {
        if self.store.region(&r.id).await?.is_some() {
            return Err(Error::conflict(format!("Duplicate ID, {}.", r.id)));
        }
        if let Some(p) = &r.parent_region_id {
            self.store
                .region(p)
                .await?
                .ok_or_else(|| not_found("region", p))?;
        }
        self.store.put_region(&r, true).await?;
        self.invalidate_catalog();
        Ok(r)
    }

    pub async fn create_endpoint(&self, e: Endpoint) -> Result<Endpoint> {
        check_endpoint(&e)?;
        self.store
            .service(&e.service_id)
            .await?
            .ok_or_else(|| not_found("service", &e.service_id))?;
        if let Some(r) = &e.region_id {
            self.store
                .region(r)
                .await?
                .ok_or_else(|| not_found("region", r))?;
        }
        self.store.put_endpoint(&e, true).await?;
        self.invalidate_catalog();
        Ok(e)
    }

    pub async fn update_endpoint(&self, e: Endpoint) -> Result<Endpoint> {
        check_endpoint(&e)?;
        self.store.put_endpoint(&e, false).await?;
        self.invalidate_catalog();
        Ok(e)
    }

    // ---- application credentials ----

    /// Create an application credential; returns it and its secret (shown only once).
    pub async fn create_app_cred(
        &self,
        mut a: AppCred,
        secret: Option<String>,
        caller_role_ids: &[String],
    ) -> Result<(AppCred, String)> {
        nonempty("name", &a.name)?;
        if self
            .store
            .app_creds(&a.user_id)
            .await?
            .iter()
            .any(|o| o.name == a.name)
        {
            return Err(Error::conflict(format!(
                "Duplicate application credential name {}.",
                a.name
            )));
        }
        if a.role_ids.is_empty() {
            a.role_ids = caller_role_ids.to_vec();
        } else if let Some(r) = a.role_ids.iter().find(|r| !caller_role_ids.contains(r)) {
            return Err(Error::forbidden(format!(
                "You cannot delegate role {r}: you do not hold it on the project."
            )));
        }
        let secret = secret.unwrap_or_else(random_secret);
        a.secret_hash = password::hash(secret.clone()).await?;
        self.store.insert_app_cred(&a).await?;
        Ok((a, secret))
    }

    pub async fn delete_app_cred(&self, id: &str) -> Result<()> {
        self.store.delete_app_cred(id).await?;
        self.revoke(Revocation {
            user_id: None,
            project_id: None,
            audit_id: None,
            audit_chain_id: None,
            app_cred_id: Some(id.to_owned()),
            issued_before: chrono::Utc::now().timestamp_micros(),
        })
        .await
    }
}

/// What a grant changes: its user's tokens, or (for a group, whose members are not
/// tracked per token) every token.
fn grant_dep(a: &Assignment) -> Dep {
    match a.actor_type {
        ActorType::User => Dep::User(a.actor_id.clone()),
        ActorType::Group => Dep::Everything,
    }
}

fn check_tags(tags: &[String]) -> Result<()> {
    if tags.len() > 80 {
        return Err(Error::bad_request("A project can have at most 80 tags."));
    }
    for t in tags {
        if t.is_empty() || t.len() > 255 || t.contains(',') || t.contains('/') {
            return Err(Error::bad_request(format!(
                "Invalid tag {t:?}: tags are 1-255 characters without ',' or '/'."
            )));
        }
    }
    Ok(())
}

fn check_endpoint(e: &Endpoint) -> Result<()> {
    if !["public", "internal", "admin"].contains(&e.interface.as_str()) {
        return Err(Error::bad_request(format!(
            "Invalid input for field 'interface': '{}' is not one of public, internal, admin.",
            e.interface
        )));
    }
    nonempty("url", &e.url)
}

/// A random secret: 64 URL-safe characters.
pub fn random_secret() -> String {
    use base64::Engine as _;
    use rand::RngCore;
    let mut b = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

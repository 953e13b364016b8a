//! Making a fresh cloud usable: what `keystone-manage bootstrap` does, plus the demo
//! project. Every step is an upsert, so running it again changes nothing.

use std::collections::BTreeSet;

use api_common::Result;

use crate::{app::Identity, model::*};

/// One service of the catalog.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub kind: String,
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub region: String,
    pub admin_password: String,
    /// `None`: no demo user and project.
    pub demo_password: Option<String>,
    pub catalog: Vec<CatalogEntry>,
}

/// Well-known ids, so that bootstrapping two databases gives the same names.
pub const DEFAULT_DOMAIN: &str = "default";

impl Identity {
    async fn ensure_role(&self, name: &str) -> Result<Role> {
        if let Some(r) = self
            .store
            .roles()
            .await?
            .into_iter()
            .find(|r| r.domain_id.is_none() && r.name == name)
        {
            return Ok(r);
        }
        let r = Role {
            id: new_id(),
            name: name.into(),
            domain_id: None,
            description: String::new(),
            extra: Extra::new(),
        };
        self.store.insert_role(&r).await?;
        Ok(r)
    }

    async fn ensure_project(&self, name: &str) -> Result<Project> {
        if let Some(p) = self.store.project_by_name(DEFAULT_DOMAIN, name).await? {
            return Ok(p);
        }
        let p = Project {
            id: new_id(),
            name: name.into(),
            domain_id: DEFAULT_DOMAIN.into(),
            parent_id: None,
            description: format!("Bootstrap project {name}"),
            enabled: true,
            tags: vec![],
            extra: Extra::new(),
            revision: 1,
        };
        self.store.insert_project(&p).await?;
        Ok(p)
    }

    /// Create the user with `password` if missing; an existing user keeps its password.
    async fn ensure_user(&self, name: &str, password: &str, project: &Project) -> Result<User> {
        if let Some(u) = self.store.user_by_name(DEFAULT_DOMAIN, name).await? {
            return Ok(u);
        }
        let u = User {
            id: new_id(),
            name: name.into(),
            domain_id: DEFAULT_DOMAIN.into(),
            enabled: true,
            default_project_id: Some(project.id.clone()),
            description: String::new(),
            email: None,
            password_hash: None,
            password_expires_at: None,
            extra: Extra::new(),
            revision: 1,
        };
        self.create_user(u, Some(password.to_owned())).await
    }

    async fn ensure_grant(&self, user: &User, target: Target, role: &Role) -> Result<()> {
        self.store
            .grant(&Assignment {
                actor_type: ActorType::User,
                actor_id: user.id.clone(),
                target,
                role_id: role.id.clone(),
                inherited: false,
            })
            .await
    }

    /// Bring the identity data to a usable state. Returns the admin user.
    pub async fn bootstrap(&self, spec: &Spec) -> Result<User> {
        if self.store.domain(DEFAULT_DOMAIN).await?.is_none() {
            let d = Domain {
                id: DEFAULT_DOMAIN.into(),
                name: "Default".into(),
                description: "The default domain".into(),
                enabled: true,
                extra: Extra::new(),
                revision: 1,
            };
            self.store.insert_domain(&d).await?;
        }
        let admin = self.ensure_role("admin").await?;
        let manager = self.ensure_role("manager").await?;
        let member = self.ensure_role("member").await?;
        let reader = self.ensure_role("reader").await?;
        self.ensure_role("service").await?;
        let rules = self.store.implied_roles().await?;
        for (p, i) in [(&admin, &manager), (&manager, &member), (&member, &reader)] {
            if !rules.iter().any(|(a, b)| *a == p.id && *b == i.id) {
                // Keep the chain acyclic even if an operator changed it.
                let reach = self.expand_roles(BTreeSet::from([i.id.clone()])).await?;
                if !reach.iter().any(|r| r.id == p.id) {
                    self.store.put_implied_role(&p.id, &i.id).await?;
                }
            }
        }
        let admin_project = self
            .ensure_project(&self.cfg.admin_project_name.clone())
            .await?;
        let admin_user = self
            .ensure_user("admin", &spec.admin_password, &admin_project)
            .await?;
        self.ensure_grant(
            &admin_user,
            Target::Project(admin_project.id.clone()),
            &admin,
        )
        .await?;
        self.ensure_grant(&admin_user, Target::System, &admin)
            .await?;
        self.ensure_grant(&admin_user, Target::Domain(DEFAULT_DOMAIN.into()), &admin)
            .await?;
        if let Some(pw) = &spec.demo_password {
            let demo_project = self.ensure_project("demo").await?;
            let demo = self.ensure_user("demo", pw, &demo_project).await?;
            self.ensure_grant(&demo, Target::Project(demo_project.id.clone()), &member)
                .await?;
        }
        let service_project = self.ensure_project("service").await?;
        let _ = service_project;
        if self.store.region(&spec.region).await?.is_none() {
            let r = Region {
                id: spec.region.clone(),
                description: String::new(),
                parent_region_id: None,
                extra: Extra::new(),
            };
            self.store.put_region(&r, true).await?;
        }
        let services = self.store.services().await?;
        let endpoints = self.store.endpoints().await?;
        for entry in &spec.catalog {
            let svc = match services.iter().find(|s| s.kind == entry.kind) {
                Some(s) => s.clone(),
                None => {
                    let s = Service {
                        id: new_id(),
                        kind: entry.kind.clone(),
                        name: entry.name.clone(),
                        description: String::new(),
                        enabled: true,
                        extra: Extra::new(),
                    };
                    self.store.put_service(&s, true).await?;
                    s
                }
            };
            for iface in ["public", "internal", "admin"] {
                let existing = endpoints.iter().find(|e| {
                    e.service_id == svc.id
                        && e.interface == iface
                        && e.region_id.as_deref() == Some(spec.region.as_str())
                });
                let e = Endpoint {
                    id: existing.map(|e| e.id.clone()).unwrap_or_else(new_id),
                    service_id: svc.id.clone(),
                    interface: iface.into(),
                    region_id: Some(spec.region.clone()),
                    url: entry.url.clone(),
                    enabled: true,
                    extra: Extra::new(),
                };
                if existing.is_none_or(|x| x.url != e.url) {
                    self.store.put_endpoint(&e, existing.is_none()).await?;
                }
            }
        }
        self.invalidate();
        Ok(admin_user)
    }
}

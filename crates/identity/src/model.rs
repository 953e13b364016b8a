//! The plain types of the identity service. No HTTP, no SQL.

use serde_json::{Map, Value};

/// Extra attributes a client set on a resource beyond the known ones (Keystone keeps
/// these and returns them flattened into the resource).
pub type Extra = Map<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub extra: Extra,
    /// Bumped by every write; an update names the revision it read (compare-and-set).
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    /// `None` for a top-level project (its parent is its domain).
    pub parent_id: Option<String>,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub extra: Extra,
    /// Bumped by every write; an update names the revision it read (compare-and-set).
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    pub description: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub password_expires_at: Option<String>,
    pub extra: Extra,
    /// Bumped by every write; an update names the revision it read (compare-and-set).
    pub revision: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: String,
    pub name: String,
    /// `None` for a global role.
    pub domain_id: Option<String>,
    pub description: String,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub id: String,
    pub description: String,
    pub parent_region_id: Option<String>,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub interface: String,
    pub region_id: Option<String>,
    pub url: String,
    pub enabled: bool,
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppCred {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub secret_hash: String,
    pub description: String,
    pub expires_at: Option<String>,
    pub unrestricted: bool,
    pub role_ids: Vec<String>,
}

/// Who holds a role: a user or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorType {
    User,
    Group,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::Group => "group",
        }
    }
}

/// Where a role is held: a project, a domain or the whole system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Project(String),
    Domain(String),
    System,
}

impl Target {
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Project(_) => "project",
            Target::Domain(_) => "domain",
            Target::System => "system",
        }
    }
    pub fn id(&self) -> &str {
        match self {
            Target::Project(id) | Target::Domain(id) => id,
            Target::System => "all",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub actor_type: ActorType,
    pub actor_id: String,
    pub target: Target,
    pub role_id: String,
    pub inherited: bool,
}

/// A revocation event: tokens matching every set field and issued before
/// `issued_before` are invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub audit_id: Option<String>,
    pub audit_chain_id: Option<String>,
    pub app_cred_id: Option<String>,
    /// Microseconds since the epoch.
    pub issued_before: i64,
}

/// A fresh resource id, as Keystone makes them (uuid4 hex).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What a list of domains is narrowed to (Keystone's filters for `GET /v3/domains`).
#[derive(Debug, Clone, Default)]
pub struct DomainFilter {
    pub name: Option<String>,
    pub enabled: Option<bool>,
}

/// What a list of projects is narrowed to (Keystone's filters for `GET /v3/projects`).
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
    /// A project id, or a domain id for the domain's top-level projects.
    pub parent_id: Option<String>,
    /// Projects with all of these tags.
    pub tags: Vec<String>,
    /// Projects with at least one of these tags.
    pub tags_any: Vec<String>,
    /// Projects without all of these tags together.
    pub not_tags: Vec<String>,
    /// Projects with none of these tags.
    pub not_tags_any: Vec<String>,
    /// Only these projects.
    pub ids: Option<Vec<String>>,
}

/// What a list of users is narrowed to (Keystone's filters for `GET /v3/users`).
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    pub enabled: Option<bool>,
    /// Only these users.
    pub ids: Option<Vec<String>>,
}

/// What a list of groups is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct GroupFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
    /// Only these groups.
    pub ids: Option<Vec<String>>,
}

/// What a list of roles is narrowed to: `domain_id` `None` lists the global roles.
#[derive(Debug, Clone, Default)]
pub struct RoleFilter {
    pub name: Option<String>,
    pub domain_id: Option<String>,
}

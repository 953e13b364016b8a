//! Domains, projects (and tags), users (and passwords, groups, projects, application
//! credentials), groups (and members), roles (and implied roles).

use crate::policies::Rule;
use api_common::routes::Routes;

use std::collections::HashMap;

use api_common::{ApiJson, Ctx, Error};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{bool_filter, with_extra, ApiState};
use crate::model::*;

pub fn routes() -> Routes<ApiState> {
    Routes::new()
        .route("/v3/domains", get(domain_list).post(domain_create))
        .route(
            "/v3/domains/{id}",
            get(domain_show).patch(domain_update).delete(domain_delete),
        )
        .route("/v3/projects", get(project_list).post(project_create))
        .route(
            "/v3/projects/{id}",
            get(project_show)
                .patch(project_update)
                .delete(project_delete),
        )
        .route(
            "/v3/projects/{id}/tags",
            get(project_tags)
                .put(project_tags_replace)
                .delete(project_tags_clear),
        )
        .route(
            "/v3/projects/{id}/tags/{tag}",
            get(project_tag_check)
                .put(project_tag_add)
                .delete(project_tag_delete),
        )
        .route("/v3/users", get(user_list).post(user_create))
        .route(
            "/v3/users/{id}",
            get(user_show).patch(user_update).delete(user_delete),
        )
        .route("/v3/users/{id}/password", post(user_password))
        .route("/v3/users/{id}/groups", get(user_groups))
        .route("/v3/users/{id}/projects", get(user_projects))
        .route(
            "/v3/users/{id}/application_credentials",
            get(app_cred_list).post(app_cred_create),
        )
        .route(
            "/v3/users/{id}/application_credentials/{ac}",
            get(app_cred_show).delete(app_cred_delete),
        )
        .route("/v3/groups", get(group_list).post(group_create))
        .route(
            "/v3/groups/{id}",
            get(group_show).patch(group_update).delete(group_delete),
        )
        .route("/v3/groups/{id}/users", get(group_users))
        .route(
            "/v3/groups/{id}/users/{user}",
            put(group_user_add)
                .head(group_user_check)
                .get(group_user_check)
                .delete(group_user_remove),
        )
        .route("/v3/roles", get(role_list).post(role_create))
        .route(
            "/v3/roles/{id}",
            get(role_show).patch(role_update).delete(role_delete),
        )
        .route("/v3/roles/{id}/implies", get(implied_list))
        .route(
            "/v3/roles/{id}/implies/{implied}",
            put(implied_create)
                .get(implied_show)
                .head(implied_check)
                .delete(implied_delete),
        )
        .route("/v3/role_inferences", get(role_inferences))
}

type Q = Query<HashMap<String, String>>;

/// Reject an attempt to change a resource's id.
fn no_id(extra: &Map<String, Value>) -> Result<(), Error> {
    if extra.contains_key("id") {
        return Err(Error::bad_request("Cannot change the ID of a resource."));
    }
    Ok(())
}

/// Keys that are rendered, not stored.
fn clean(mut extra: Map<String, Value>) -> Map<String, Value> {
    for k in ["links", "options", "is_domain", "id"] {
        extra.remove(k);
    }
    extra
}

/// A name filter (`name`), with Keystone's exact match.
fn name_ok(q: &HashMap<String, String>, name: &str) -> bool {
    q.get("name").is_none_or(|n| n == name)
}

/// Authorize `rule` on the `kind` ("project", "user", "group") with this id: the
/// target names its id and domain when `found` (`(id, domain_id)`), only the id asked
/// for when not (so a caller who may not see it learns nothing), and `user` when given.
fn authorize_on(
    st: &ApiState,
    ctx: &Ctx,
    rule: Rule,
    kind: &str,
    id: &str,
    found: Option<(&str, &str)>,
    user: Option<&User>,
) -> Result<(), Error> {
    let mut target = match found {
        Some((id, domain_id)) => json!({"target": {(kind): {"id": id, "domain_id": domain_id}}}),
        None => json!({"target": {(kind): {"id": id}}}),
    };
    if let Some(u) = user {
        target["target"]["user"] = json!({"id": u.id, "domain_id": u.domain_id});
    }
    st.id.authorize(ctx, rule, target)
}

/// Keystone's NotFound for a `kind` ("project") by id.
fn missing(kind: &str, id: &str) -> Error {
    Error::not_found(format!("Could not find {kind}: {id}."))
}

/// For list calls: the domain the listing is limited to. Cloud readers see everything
/// (or the domain they filter on); domain readers see only their own domain.
fn list_domain(
    st: &ApiState,
    ctx: &Ctx,
    rule: Rule,
    q: &HashMap<String, String>,
) -> Result<Option<String>, Error> {
    let requested = q.get("domain_id").cloned();
    if st.id.allowed(ctx, Rule::CloudReader, json!({})) {
        return Ok(requested);
    }
    let dom = requested.clone().or_else(|| ctx.domain_id.clone());
    st.id
        .authorize(ctx, rule, json!({"target": {"domain_id": dom}}))?;
    Ok(dom)
}

// ---- domains ----

pub fn domain_json(st: &ApiState, d: &Domain) -> Value {
    with_extra(
        json!({
            "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
            "tags": [], "options": {}, "links": st.links("domains", &d.id),
        }),
        &d.extra,
    )
}

#[derive(Deserialize)]
struct DomainBody {
    domain: DomainWire,
}
#[derive(Deserialize)]
struct DomainWire {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "api_common::json::non_null")]
    enabled: Option<bool>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn domain_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Query(q): Q,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::ListDomains, json!({}))?;
    let f = DomainFilter {
        name: q.get("name").cloned(),
        enabled: bool_filter(&q, "enabled")?,
    };
    let page = st.id.list_domains(&f).await?;
    Ok(st.page("domains", "domains", page.map(|d| domain_json(&st, &d))))
}

async fn domain_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<DomainBody>,
) -> Result<Response, Error> {
    st.id.authorize(&ctx, Rule::CreateDomain, json!({}))?;
    let w = b.domain;
    let d = Domain {
        id: w
            .extra
            .get("explicit_domain_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(new_id),
        name: w.name.ok_or_else(|| {
            Error::bad_request("Invalid input for field 'name': a domain needs a name.")
        })?,
        description: w.description.unwrap_or_default(),
        enabled: w.enabled.unwrap_or(true),
        extra: clean(w.extra),
        revision: 1,
    };
    let d = st.id.create_domain(d).await?;
    Ok(super::created("domain", domain_json(&st, &d)))
}

async fn domain_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(
        &ctx,
        Rule::GetDomain,
        json!({"target": {"domain": {"id": id}}}),
    )?;
    let d = st.id.get_domain(&id).await?;
    Ok(Json(json!({"domain": domain_json(&st, &d)})))
}

async fn domain_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DomainBody>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(
        &ctx,
        Rule::UpdateDomain,
        json!({"target": {"domain": {"id": id}}}),
    )?;
    let mut d = st.id.get_domain(&id).await?;
    let w = b.domain;
    no_id(&w.extra)?;
    if let Some(n) = w.name {
        d.name = n;
    }
    if let Some(x) = w.description {
        d.description = x;
    }
    if let Some(e) = w.enabled {
        d.enabled = e;
    }
    d.extra.extend(clean(w.extra));
    let d = st.id.update_domain(d).await?;
    Ok(Json(json!({"domain": domain_json(&st, &d)})))
}

async fn domain_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    st.id.authorize(
        &ctx,
        Rule::DeleteDomain,
        json!({"target": {"domain": {"id": id}}}),
    )?;
    st.id.delete_domain(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- projects ----

pub fn project_json(st: &ApiState, p: &Project) -> Value {
    with_extra(
        json!({
            "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
            "enabled": p.enabled, "parent_id": p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone()),
            "is_domain": false, "tags": p.tags, "options": {}, "links": st.links("projects", &p.id),
        }),
        &p.extra,
    )
}

#[derive(Deserialize)]
struct ProjectBody {
    project: ProjectWire,
}
#[derive(Deserialize)]
struct ProjectWire {
    name: Option<String>,
    domain_id: Option<String>,
    parent_id: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "api_common::json::non_null")]
    enabled: Option<bool>,
    tags: Option<Vec<String>>,
    is_domain: Option<bool>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn project_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Query(q): Q,
) -> Result<Response, Error> {
    let dom = list_domain(&st, &ctx, Rule::ListProjects, &q)?;
    if bool_filter(&q, "is_domain")? == Some(true) {
        return Ok(st
            .collection("projects", "projects", vec![])
            .into_response());
    }
    let tags = |k: &str| -> Vec<String> {
        q.get(k)
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let f = ProjectFilter {
        name: q.get("name").cloned(),
        domain_id: dom,
        enabled: bool_filter(&q, "enabled")?,
        parent_id: q.get("parent_id").cloned(),
        tags: tags("tags"),
        tags_any: tags("tags-any"),
        not_tags: tags("not-tags"),
        not_tags_any: tags("not-tags-any"),
        ids: None,
    };
    st.cached_list(format!("projects {f:?}"), || async {
        let page = st.id.list_projects(&f).await?;
        Ok(st.page("projects", "projects", page.map(|p| project_json(&st, &p))))
    })
    .await
}

async fn project_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<ProjectBody>,
) -> Result<Response, Error> {
    let w = b.project;
    if w.is_domain == Some(true) {
        return Err(Error::bad_request(
            "Creating a domain through /v3/projects is not supported; use /v3/domains.",
        ));
    }
    let mut domain_id = w.domain_id.clone().unwrap_or_default();
    if domain_id.is_empty() && w.parent_id.is_none() {
        domain_id = ctx
            .domain_id
            .clone()
            .or_else(|| ctx.project_domain_id.clone())
            .unwrap_or_else(|| "default".into());
    }
    let p = Project {
        id: new_id(),
        name: w.name.ok_or_else(|| {
            Error::bad_request("Invalid input for field 'name': a project needs a name.")
        })?,
        domain_id,
        parent_id: w.parent_id,
        description: w.description.unwrap_or_default(),
        enabled: w.enabled.unwrap_or(true),
        tags: w.tags.unwrap_or_default(),
        extra: clean(w.extra),
        revision: 1,
    };
    // Resolve the domain from the parent before authorizing, so the rule sees it.
    let target_dom = if p.domain_id.is_empty() {
        match &p.parent_id {
            Some(pid) => st
                .id
                .store
                .project(pid)
                .await?
                .map(|x| x.domain_id)
                .unwrap_or_else(|| pid.clone()),
            None => String::new(),
        }
    } else {
        p.domain_id.clone()
    };
    st.id.authorize(
        &ctx,
        Rule::CreateProject,
        json!({"target": {"project": {"domain_id": target_dom}}}),
    )?;
    let p = st.id.create_project(p).await?;
    Ok(super::created("project", project_json(&st, &p)))
}

async fn visible_project(st: &ApiState, ctx: &Ctx, id: &str, rule: Rule) -> Result<Project, Error> {
    let p = st.id.store.project(id).await?;
    let found = p.as_ref().map(|p| (p.id.as_str(), p.domain_id.as_str()));
    authorize_on(st, ctx, rule, "project", id, found, None)?;
    p.ok_or_else(|| missing("project", id))
}

async fn project_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    let p = visible_project(&st, &ctx, &id, Rule::GetProject).await?;
    Ok(Json(json!({"project": project_json(&st, &p)})))
}

async fn project_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ProjectBody>,
) -> Result<Json<Value>, Error> {
    let mut p = visible_project(&st, &ctx, &id, Rule::UpdateProject).await?;
    let w = b.project;
    no_id(&w.extra)?;
    if w.domain_id.as_ref().is_some_and(|d| *d != p.domain_id) {
        return Err(Error::bad_request("Cannot change the domain of a project."));
    }
    if w.parent_id
        .as_ref()
        .is_some_and(|x| Some(x) != p.parent_id.as_ref() && *x != p.domain_id)
    {
        return Err(Error::bad_request("Cannot change the parent of a project."));
    }
    if let Some(n) = w.name {
        p.name = n;
    }
    if let Some(x) = w.description {
        p.description = x;
    }
    if let Some(e) = w.enabled {
        p.enabled = e;
    }
    if let Some(t) = w.tags {
        p.tags = t;
    }
    p.extra.extend(clean(w.extra));
    let p = st.id.update_project(p).await?;
    Ok(Json(json!({"project": project_json(&st, &p)})))
}

async fn project_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    visible_project(&st, &ctx, &id, Rule::DeleteProject).await?;
    st.id.delete_project(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn project_tags(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    let p = visible_project(&st, &ctx, &id, Rule::ListProjectTags).await?;
    Ok(Json(json!({"tags": p.tags})))
}

#[derive(Deserialize)]
struct TagsBody {
    tags: Vec<String>,
}

async fn project_tags_replace(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TagsBody>,
) -> Result<Json<Value>, Error> {
    let mut p = visible_project(&st, &ctx, &id, Rule::UpdateProjectTags).await?;
    p.tags = b.tags;
    let p = st.id.update_project(p).await?;
    Ok(Json(json!({"tags": p.tags})))
}

async fn project_tags_clear(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let mut p = visible_project(&st, &ctx, &id, Rule::UpdateProjectTags).await?;
    p.tags.clear();
    st.id.update_project(p).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn project_tag_check(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let p = visible_project(&st, &ctx, &id, Rule::ListProjectTags).await?;
    if p.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!(
            "Tag {tag} not found on project {id}."
        )))
    }
}

async fn project_tag_add(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let mut p = visible_project(&st, &ctx, &id, Rule::UpdateProjectTags).await?;
    if !p.tags.contains(&tag) {
        p.tags.push(tag);
        st.id.update_project(p).await?;
    }
    Ok(StatusCode::CREATED)
}

async fn project_tag_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let mut p = visible_project(&st, &ctx, &id, Rule::UpdateProjectTags).await?;
    let before = p.tags.len();
    p.tags.retain(|t| *t != tag);
    if p.tags.len() == before {
        return Err(Error::not_found(format!(
            "Tag {tag} not found on project {id}."
        )));
    }
    st.id.update_project(p).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- users ----

pub fn user_json(st: &ApiState, u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": u.password_expires_at, "options": {}, "links": st.links("users", &u.id),
    });
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    if !u.description.is_empty() {
        v["description"] = json!(u.description);
    }
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    with_extra(v, &u.extra)
}

#[derive(Deserialize)]
struct UserBody {
    user: UserWire,
}
#[derive(Deserialize)]
struct UserWire {
    name: Option<String>,
    domain_id: Option<String>,
    #[serde(default, deserialize_with = "api_common::json::non_null")]
    enabled: Option<bool>,
    default_project_id: Option<Option<String>>,
    description: Option<String>,
    email: Option<Option<String>>,
    password: Option<Option<String>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn user_list(State(st): State<ApiState>, ctx: Ctx, Query(q): Q) -> Result<Response, Error> {
    let f = UserFilter {
        name: q.get("name").cloned(),
        domain_id: list_domain(&st, &ctx, Rule::ListUsers, &q)?,
        enabled: bool_filter(&q, "enabled")?,
        ids: None,
    };
    st.cached_list(format!("users {f:?}"), || async {
        let page = st.id.list_users(&f).await?;
        Ok(st.page("users", "users", page.map(|u| user_json(&st, &u))))
    })
    .await
}

async fn user_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<UserBody>,
) -> Result<Response, Error> {
    let w = b.user;
    let domain_id = w
        .domain_id
        .or_else(|| ctx.domain_id.clone())
        .or_else(|| ctx.project_domain_id.clone())
        .unwrap_or_else(|| "default".into());
    st.id.authorize(
        &ctx,
        Rule::CreateUser,
        json!({"target": {"user": {"domain_id": domain_id}}}),
    )?;
    if let Some(Some(p)) = &w.default_project_id {
        st.id.get_project(p).await?;
    }
    let u = User {
        id: new_id(),
        name: w.name.ok_or_else(|| {
            Error::bad_request("Invalid input for field 'name': a user needs a name.")
        })?,
        domain_id,
        enabled: w.enabled.unwrap_or(true),
        default_project_id: w.default_project_id.flatten(),
        description: w.description.unwrap_or_default(),
        email: w.email.flatten(),
        password_hash: None,
        password_expires_at: None,
        extra: clean(w.extra),
        revision: 1,
    };
    let u = st.id.create_user(u, w.password.flatten()).await?;
    Ok(super::created("user", user_json(&st, &u)))
}

async fn visible_user(st: &ApiState, ctx: &Ctx, id: &str, rule: Rule) -> Result<User, Error> {
    let u = st.id.store.user(id).await?;
    let found = u.as_ref().map(|u| (u.id.as_str(), u.domain_id.as_str()));
    authorize_on(st, ctx, rule, "user", id, found, None)?;
    u.ok_or_else(|| missing("user", id))
}

async fn user_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    let u = visible_user(&st, &ctx, &id, Rule::GetUser).await?;
    Ok(Json(json!({"user": user_json(&st, &u)})))
}

async fn user_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UserBody>,
) -> Result<Json<Value>, Error> {
    let mut u = visible_user(&st, &ctx, &id, Rule::UpdateUser).await?;
    let w = b.user;
    no_id(&w.extra)?;
    if w.domain_id.as_ref().is_some_and(|d| *d != u.domain_id) {
        return Err(Error::bad_request("Cannot change the domain of a user."));
    }
    if let Some(n) = w.name {
        u.name = n;
    }
    if let Some(e) = w.enabled {
        u.enabled = e;
    }
    if let Some(p) = w.default_project_id {
        if let Some(p) = &p {
            st.id.get_project(p).await?;
        }
        u.default_project_id = p;
    }
    if let Some(d) = w.description {
        u.description = d;
    }
    if let Some(e) = w.email {
        u.email = e;
    }
    u.extra.extend(clean(w.extra));
    let u = st.id.update_user(u, w.password.flatten()).await?;
    Ok(Json(json!({"user": user_json(&st, &u)})))
}

async fn user_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    visible_user(&st, &ctx, &id, Rule::DeleteUser).await?;
    st.id.delete_user(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct PasswordBody {
    user: PasswordWire,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordWire {
    original_password: String,
    password: String,
}

async fn user_password(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<StatusCode, Error> {
    st.id.authorize(
        &ctx,
        Rule::ChangePassword,
        json!({"target": {"user": {"id": id}}}),
    )?;
    st.id
        .change_password(&id, b.user.original_password, b.user.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn user_groups(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    visible_user(&st, &ctx, &id, Rule::ListGroupsForUser).await?;
    let f = GroupFilter {
        ids: Some(st.id.store.user_groups(&id).await?),
        ..Default::default()
    };
    let items = st
        .id
        .store
        .groups(&f)
        .await?
        .iter()
        .map(|g| group_json(&st, g))
        .collect();
    Ok(st.collection("groups", &format!("users/{id}/groups"), items))
}

async fn user_projects(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    visible_user(&st, &ctx, &id, Rule::ListUserProjects).await?;
    let items = st
        .id
        .user_projects(&id)
        .await?
        .iter()
        .map(|p| project_json(&st, p))
        .collect();
    Ok(st.collection("projects", &format!("users/{id}/projects"), items))
}

// ---- application credentials ----

fn app_cred_json(st: &ApiState, a: &AppCred, roles: &[Role]) -> Value {
    json!({
        "id": a.id, "name": a.name, "description": a.description, "user_id": a.user_id,
        "project_id": a.project_id, "expires_at": a.expires_at, "unrestricted": a.unrestricted,
        "system": null, "access_rules": [],
        "roles": roles.iter().filter(|r| a.role_ids.contains(&r.id)).map(|r| json!({"id": r.id, "name": r.name, "domain_id": r.domain_id})).collect::<Vec<_>>(),
        "links": {"self": st.link(&format!("users/{}/application_credentials/{}", a.user_id, a.id))},
    })
}

#[derive(Deserialize)]
struct AppCredBody {
    application_credential: AppCredWire,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppCredWire {
    name: String,
    description: Option<String>,
    secret: Option<String>,
    expires_at: Option<String>,
    roles: Option<Vec<RoleRefWire>>,
    unrestricted: Option<bool>,
    access_rules: Option<Vec<Value>>,
}
#[derive(Deserialize)]
struct RoleRefWire {
    id: Option<String>,
    name: Option<String>,
}

async fn app_cred_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, Error> {
    st.id.authorize(
        &ctx,
        Rule::ListApplicationCredentials,
        json!({"target": {"user": {"id": id}}}),
    )?;
    let roles = st.id.store.roles().await?;
    let items = st
        .id
        .store
        .app_creds(&id)
        .await?
        .iter()
        .filter(|a| name_ok(&q, &a.name))
        .map(|a| app_cred_json(&st, a, &roles))
        .collect();
    Ok(st.collection(
        "application_credentials",
        &format!("users/{id}/application_credentials"),
        items,
    ))
}

async fn app_cred_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AppCredBody>,
) -> Result<Response, Error> {
    st.id.authorize(
        &ctx,
        Rule::CreateApplicationCredential,
        json!({"target": {"user": {"id": id}}}),
    )?;
    let project_id = ctx.project_id.clone().ok_or_else(|| {
        Error::forbidden("Creating an application credential needs a project-scoped token.")
    })?;
    if ctx.application_credential_id.is_some() {
        return Err(Error::forbidden(
            "An application credential cannot create another one.",
        ));
    }
    let w = b.application_credential;
    if w.access_rules.as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(Error::bad_request(
            "Access rules are not supported by this cloud.",
        ));
    }
    if let Some(e) = &w.expires_at {
        chrono::DateTime::parse_from_rfc3339(e)
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(e, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|n| n.and_utc().fixed_offset())
            })
            .map_err(|_| {
                Error::bad_request(format!(
                    "Invalid input for field 'expires_at': '{e}' is not a timestamp."
                ))
            })?;
    }
    let all_roles = st.id.store.roles().await?;
    let mut role_ids = Vec::new();
    for r in w.roles.unwrap_or_default() {
        let found = all_roles.iter().find(|x| {
            r.id.as_ref() == Some(&x.id)
                || r.name
                    .as_ref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&x.name))
        });
        role_ids.push(
            found
                .ok_or_else(|| {
                    Error::not_found("Could not find role in the application credential's roles.")
                })?
                .id
                .clone(),
        );
    }
    let ac = AppCred {
        id: new_id(),
        name: w.name,
        user_id: id.clone(),
        project_id,
        secret_hash: String::new(),
        description: w.description.unwrap_or_default(),
        expires_at: w.expires_at,
        unrestricted: w.unrestricted.unwrap_or(false),
        role_ids,
    };
    let (ac, secret) = st.id.create_app_cred(ac, w.secret, &ctx.role_ids).await?;
    let mut v = app_cred_json(&st, &ac, &all_roles);
    v["secret"] = json!(secret);
    Ok((
        StatusCode::CREATED,
        Json(json!({"application_credential": v})),
    )
        .into_response())
}

async fn app_cred_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, ac)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(
        &ctx,
        Rule::GetApplicationCredential,
        json!({"target": {"user": {"id": id}}}),
    )?;
    let a = st
        .id
        .store
        .app_cred(&ac)
        .await?
        .filter(|a| a.user_id == id)
        .ok_or_else(|| Error::not_found(format!("Could not find application credential: {ac}.")))?;
    let roles = st.id.store.roles().await?;
    Ok(Json(
        json!({"application_credential": app_cred_json(&st, &a, &roles)}),
    ))
}

async fn app_cred_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, ac)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    st.id.authorize(
        &ctx,
        Rule::DeleteApplicationCredential,
        json!({"target": {"user": {"id": id}}}),
    )?;
    st.id
        .store
        .app_cred(&ac)
        .await?
        .filter(|a| a.user_id == id)
        .ok_or_else(|| Error::not_found(format!("Could not find application credential: {ac}.")))?;
    st.id.delete_app_cred(&ac).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- groups ----

pub fn group_json(st: &ApiState, g: &Group) -> Value {
    with_extra(
        json!({"id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description, "links": st.links("groups", &g.id)}),
        &g.extra,
    )
}

#[derive(Deserialize)]
struct GroupBody {
    group: GroupWire,
}
#[derive(Deserialize)]
struct GroupWire {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn group_list(State(st): State<ApiState>, ctx: Ctx, Query(q): Q) -> Result<Response, Error> {
    let f = GroupFilter {
        name: q.get("name").cloned(),
        domain_id: list_domain(&st, &ctx, Rule::ListGroups, &q)?,
        ids: None,
    };
    st.cached_list(format!("groups {f:?}"), || async {
        let page = st.id.list_groups(&f).await?;
        Ok(st.page("groups", "groups", page.map(|g| group_json(&st, &g))))
    })
    .await
}

async fn group_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<GroupBody>,
) -> Result<Response, Error> {
    let w = b.group;
    let domain_id = w
        .domain_id
        .or_else(|| ctx.domain_id.clone())
        .or_else(|| ctx.project_domain_id.clone())
        .unwrap_or_else(|| "default".into());
    st.id.authorize(
        &ctx,
        Rule::CreateGroup,
        json!({"target": {"group": {"domain_id": domain_id}}}),
    )?;
    let g = Group {
        id: new_id(),
        name: w.name.ok_or_else(|| {
            Error::bad_request("Invalid input for field 'name': a group needs a name.")
        })?,
        domain_id,
        description: w.description.unwrap_or_default(),
        extra: clean(w.extra),
    };
    let g = st.id.create_group(g).await?;
    Ok(super::created("group", group_json(&st, &g)))
}

async fn visible_group(
    st: &ApiState,
    ctx: &Ctx,
    id: &str,
    rule: Rule,
    user: Option<&User>,
) -> Result<Group, Error> {
    let g = st.id.store.group(id).await?;
    let found = g.as_ref().map(|g| (g.id.as_str(), g.domain_id.as_str()));
    authorize_on(st, ctx, rule, "group", id, found, user)?;
    g.ok_or_else(|| missing("group", id))
}

async fn group_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    let g = visible_group(&st, &ctx, &id, Rule::GetGroup, None).await?;
    Ok(Json(json!({"group": group_json(&st, &g)})))
}

async fn group_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<GroupBody>,
) -> Result<Json<Value>, Error> {
    let mut g = visible_group(&st, &ctx, &id, Rule::UpdateGroup, None).await?;
    let w = b.group;
    no_id(&w.extra)?;
    if let Some(n) = w.name {
        g.name = n;
    }
    if let Some(d) = w.description {
        g.description = d;
    }
    g.extra.extend(clean(w.extra));
    let g = st.id.update_group(g).await?;
    Ok(Json(json!({"group": group_json(&st, &g)})))
}

async fn group_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    visible_group(&st, &ctx, &id, Rule::DeleteGroup, None).await?;
    st.id.delete_group(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn group_users(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    visible_group(&st, &ctx, &id, Rule::ListUsersInGroup, None).await?;
    let f = UserFilter {
        ids: Some(st.id.store.group_members(&id).await?),
        ..Default::default()
    };
    let items = st
        .id
        .store
        .users(&f)
        .await?
        .iter()
        .map(|u| user_json(&st, u))
        .collect();
    Ok(st.collection("users", &format!("groups/{id}/users"), items))
}

async fn group_user_add(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, user)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let u = st.id.get_user(&user).await?;
    visible_group(&st, &ctx, &id, Rule::AddUserToGroup, Some(&u)).await?;
    st.id.add_user_to_group(&id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn group_user_check(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, user)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    visible_group(&st, &ctx, &id, Rule::CheckUserInGroup, None).await?;
    st.id.get_user(&user).await?;
    if st.id.store.is_member(&id, &user).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!(
            "User {user} is not a member of group {id}."
        )))
    }
}

async fn group_user_remove(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((id, user)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let u = st.id.get_user(&user).await?;
    visible_group(&st, &ctx, &id, Rule::RemoveUserFromGroup, Some(&u)).await?;
    st.id.remove_user_from_group(&id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- roles ----

pub fn role_json(st: &ApiState, r: &Role) -> Value {
    with_extra(
        json!({"id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description, "options": {}, "links": st.links("roles", &r.id)}),
        &r.extra,
    )
}

#[derive(Deserialize)]
struct RoleBody {
    role: RoleWire,
}
#[derive(Deserialize)]
struct RoleWire {
    name: Option<String>,
    domain_id: Option<String>,
    description: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

async fn role_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Query(q): Q,
) -> Result<Json<Value>, Error> {
    let dom = q
        .get("domain_id")
        .cloned()
        .or_else(|| ctx.domain_id.clone());
    st.id
        .authorize(&ctx, Rule::ListRoles, json!({"target": {"domain_id": dom}}))?;
    let f = RoleFilter {
        name: q.get("name").cloned(),
        domain_id: q.get("domain_id").cloned(),
    };
    let page = st.id.list_roles(&f).await?;
    Ok(st.page("roles", "roles", page.map(|r| role_json(&st, &r))))
}

async fn role_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<RoleBody>,
) -> Result<Response, Error> {
    st.id.authorize(&ctx, Rule::CreateRole, json!({}))?;
    let w = b.role;
    let r = Role {
        id: new_id(),
        name: w.name.ok_or_else(|| {
            Error::bad_request("Invalid input for field 'name': a role needs a name.")
        })?,
        domain_id: w.domain_id,
        description: w.description.unwrap_or_default(),
        extra: clean(w.extra),
    };
    let r = st.id.create_role(r).await?;
    Ok(super::created("role", role_json(&st, &r)))
}

async fn role_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(
        &ctx,
        Rule::GetRole,
        json!({"target": {"domain_id": ctx.domain_id}}),
    )?;
    let r = st.id.get_role(&id).await?;
    Ok(Json(json!({"role": role_json(&st, &r)})))
}

async fn role_update(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RoleBody>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::UpdateRole, json!({}))?;
    let mut r = st.id.get_role(&id).await?;
    let w = b.role;
    no_id(&w.extra)?;
    if let Some(n) = w.name {
        r.name = n;
    }
    if let Some(d) = w.description {
        r.description = d;
    }
    r.extra.extend(clean(w.extra));
    let r = st.id.update_role(r).await?;
    Ok(Json(json!({"role": role_json(&st, &r)})))
}

async fn role_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    st.id.authorize(&ctx, Rule::DeleteRole, json!({}))?;
    st.id.delete_role(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn role_ref(st: &ApiState, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "links": st.links("roles", &r.id)})
}

async fn implied_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::ListImpliedRoles, json!({}))?;
    let prior = st.id.get_role(&id).await?;
    let roles = st.id.store.roles().await?;
    let implies: Vec<Value> = st
        .id
        .store
        .implied_roles()
        .await?
        .iter()
        .filter(|(p, _)| *p == id)
        .filter_map(|(_, i)| roles.iter().find(|r| r.id == *i))
        .map(|r| role_ref(&st, r))
        .collect();
    Ok(Json(
        json!({"role_inference": {"prior_role": role_ref(&st, &prior), "implies": implies}, "links": {"self": st.link(&format!("roles/{id}/implies"))}}),
    ))
}

async fn implied_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((prior, implied)): Path<(String, String)>,
) -> Result<Response, Error> {
    st.id.authorize(&ctx, Rule::CreateImpliedRole, json!({}))?;
    let (p, i) = st.id.create_implied_role(&prior, &implied).await?;
    Ok((StatusCode::CREATED, Json(json!({"role_inference": {"prior_role": role_ref(&st, &p), "implies": role_ref(&st, &i)}}))).into_response())
}

async fn find_implied(st: &ApiState, prior: &str, implied: &str) -> Result<(Role, Role), Error> {
    let p = st.id.get_role(prior).await?;
    let i = st.id.get_role(implied).await?;
    if !st
        .id
        .store
        .implied_roles()
        .await?
        .iter()
        .any(|(a, b)| a == prior && b == implied)
    {
        return Err(Error::not_found(format!(
            "Could not find implied role: {prior} implies {implied}."
        )));
    }
    Ok((p, i))
}

async fn implied_show(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((prior, implied)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    st.id.authorize(&ctx, Rule::GetImpliedRole, json!({}))?;
    let (p, i) = find_implied(&st, &prior, &implied).await?;
    Ok(Json(
        json!({"role_inference": {"prior_role": role_ref(&st, &p), "implies": role_ref(&st, &i)}}),
    ))
}

async fn implied_check(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((prior, implied)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    st.id.authorize(&ctx, Rule::GetImpliedRole, json!({}))?;
    find_implied(&st, &prior, &implied).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn implied_delete(
    State(st): State<ApiState>,
    ctx: Ctx,
    Path((prior, implied)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    st.id.authorize(&ctx, Rule::DeleteImpliedRole, json!({}))?;
    st.id.delete_implied_role(&prior, &implied).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn role_inferences(State(st): State<ApiState>, ctx: Ctx) -> Result<Json<Value>, Error> {
    st.id
        .authorize(&ctx, Rule::ListRoleInferenceRules, json!({}))?;
    let roles = st.id.store.roles().await?;
    let rules = st.id.store.implied_roles().await?;
    let mut by_prior: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for (p, i) in &rules {
        if let Some(r) = roles.iter().find(|r| r.id == *i) {
            by_prior
                .entry(p.clone())
                .or_default()
                .push(role_ref(&st, r));
        }
    }
    let items: Vec<Value> = by_prior
        .into_iter()
        .filter_map(|(p, implies)| {
            roles
                .iter()
                .find(|r| r.id == p)
                .map(|r| json!({"prior_role": role_ref(&st, r), "implies": implies}))
        })
        .collect();
    Ok(Json(
        json!({"role_inferences": items, "links": {"self": st.link("role_inferences")}}),
    ))
}

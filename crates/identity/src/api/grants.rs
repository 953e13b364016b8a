//! Role grants on projects, domains and the system, and `/v3/role_assignments`.

use crate::policies::Rule;
use api_common::routes::Routes;

use std::collections::HashMap;

use api_common::{Ctx, Error};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, put},
    Json,
};
use serde_json::{json, Value};

use super::{flag, resources::role_json, ApiState};
use crate::model::*;

pub fn routes() -> Routes<ApiState> {
    let mut r = Routes::new();
    for target in ["projects", "domains"] {
        for actor in ["users", "groups"] {
            r = r
                .route(&format!("/v3/{target}/{{t}}/{actor}/{{a}}/roles"), get(grant_list))
                .route(
                    &format!("/v3/{target}/{{t}}/{actor}/{{a}}/roles/{{r}}"),
                    put(grant_create).head(grant_check).get(grant_check).delete(grant_revoke),
                )
                .route(
                    &format!("/v3/OS-INHERIT/{target}/{{t}}/{actor}/{{a}}/roles/{{r}}/inherited_to_projects"),
                    put(grant_create).head(grant_check).get(grant_check).delete(grant_revoke),
                )
                .route(&format!("/v3/OS-INHERIT/{target}/{{t}}/{actor}/{{a}}/roles/inherited_to_projects"), get(grant_list));
        }
    }
    for actor in ["users", "groups"] {
        r = r
            .route(
                &format!("/v3/system/{actor}/{{a}}/roles"),
                get(system_grant_list),
            )
            .route(
                &format!("/v3/system/{actor}/{{a}}/roles/{{r}}"),
                put(system_grant_create)
                    .head(system_grant_check)
                    .get(system_grant_check)
                    .delete(system_grant_revoke),
            );
    }
    r.route("/v3/role_assignments", get(assignment_list))
}

/// The grant a URL names, with the policy target (domains of target and actor).
async fn grant_from(
    st: &ApiState,
    uri: &axum::http::Uri,
    t: Option<String>,
    a: String,
    r: Option<String>,
) -> Result<(Assignment, Value), Error> {
    let path = uri.path();
    let inherited = path.contains("/OS-INHERIT/");
    let actor_type = if path.contains("/users/") {
        ActorType::User
    } else {
        ActorType::Group
    };
    let target = match t {
        None => Target::System,
        Some(t) if path.contains("/projects/") => Target::Project(t),
        Some(t) => Target::Domain(t),
    };
    let target_domain = match &target {
        Target::Project(p) => st.id.store.project(p).await?.map(|p| p.domain_id),
        Target::Domain(d) => Some(d.clone()),
        Target::System => None,
    };
    let actor_domain = match actor_type {
        ActorType::User => st.id.store.user(&a).await?.map(|u| u.domain_id),
        ActorType::Group => st.id.store.group(&a).await?.map(|g| g.domain_id),
    };
    let a = Assignment {
        actor_type,
        actor_id: a,
        target,
        role_id: r.unwrap_or_default(),
        inherited,
    };
    Ok((
        a,
        json!({"target": {"target_domain_id": target_domain, "actor_domain_id": actor_domain}}),
    ))
}

async fn grant_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    uri: axum::http::Uri,
    Path((t, a, r)): Path<(String, String, String)>,
) -> Result<StatusCode, Error> {
    let (g, target) = grant_from(&st, &uri, Some(t), a, Some(r)).await?;
    st.id.authorize(&ctx, Rule::CreateGrant, target)?;
    st.id.create_grant(g).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn grant_check(
    State(st): State<ApiState>,
    ctx: Ctx,
    uri: axum::http::Uri,
    Path((t, a, r)): Path<(String, String, String)>,
) -> Result<StatusCode, Error> {
    let (g, target) = grant_from(&st, &uri, Some(t), a, Some(r)).await?;
    st.id.authorize(&ctx, Rule::CheckGrant, target)?;
    st.id.check_grant_parts(&g).await?;
    if st.id.store.has_grant(&g).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!(
            "Could not find role assignment with role: {}.",
            g.role_id
        )))
    }
}

async fn grant_revoke(
    State(st): State<ApiState>,
    ctx: Ctx,
    uri: axum::http::Uri,
    Path((t, a, r)): Path<(String, String, String)>,
) -> Result<StatusCode, Error> {
    let (g, target) = grant_from(&st, &uri, Some(t), a, Some(r)).await?;
    st.id.authorize(&ctx, Rule::RevokeGrant, target)?;
    st.id.revoke_grant(g).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_for(
    st: &ApiState,
    ctx: &Ctx,
    g: Assignment,
    target: Value,
) -> Result<Json<Value>, Error> {
    st.id.authorize(ctx, Rule::ListGrants, target)?;
    st.id.check_actor_and_target(&g).await?;
    let roles = st.id.store.roles().await?;
    let held: Vec<Value> = st
        .id
        .store
        .grants_of(&g)
        .await?
        .iter()
        .filter_map(|x| roles.iter().find(|r| r.id == x.role_id))
        .map(|r| role_json(st, r))
        .collect();
    Ok(st.collection("roles", "roles", held))
}

async fn grant_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    uri: axum::http::Uri,
    Path((t, a)): Path<(String, String)>,
) -> Result<Json<Value>, Error> {
    let (g, target) = grant_from(&st, &uri, Some(t), a, None).await?;
    list_for(&st, &ctx, g, target).await
}

async fn system_grant_create(
    State(st): State<ApiState>,
    ctx: Ctx,
    uri: axum::http::Uri,
    Path((a, r)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let (g, target) = grant_from(&st, &uri, None, a, Some(r)).await?;
    st.id.authorize(&ctx, Rule::CreateGrant, target)?;
    st.id.create_grant(g).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn system_grant_check(
    State(st): State<ApiState>,
    ctx: Ctx,
    uri: axum::http::Uri,
    Path((a, r)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let (g, target) = grant_from(&st, &uri, None, a, Some(r)).await?;
    st.id.authorize(&ctx, Rule::CheckGrant, target)?;
    if st.id.store.has_grant(&g).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!(
            "Could not find role assignment with role: {}.",
            g.role_id
        )))
    }
}

async fn system_grant_revoke(
    State(st): State<ApiState>,
    ctx: Ctx,
    uri: axum::http::Uri,
    Path((a, r)): Path<(String, String)>,
) -> Result<StatusCode, Error> {
    let (g, target) = grant_from(&st, &uri, None, a, Some(r)).await?;
    st.id.authorize(&ctx, Rule::RevokeGrant, target)?;
    st.id.revoke_grant(g).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn system_grant_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    uri: axum::http::Uri,
    Path(a): Path<String>,
) -> Result<Json<Value>, Error> {
    let (g, target) = grant_from(&st, &uri, None, a, None).await?;
    list_for(&st, &ctx, g, target).await
}

/// `GET /v3/role_assignments` with Keystone's filters, `effective` and `include_names`.
async fn assignment_list(
    State(st): State<ApiState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, Error> {
    let dom = if st.id.allowed(&ctx, Rule::CloudReader, json!({})) {
        None
    } else {
        let d = ctx.domain_id.clone();
        st.id.authorize(
            &ctx,
            Rule::ListRoleAssignments,
            json!({"target": {"domain_id": d}}),
        )?;
        d
    };
    let effective = flag(&q, "effective");
    let names = flag(&q, "include_names");
    let rows = st.id.role_assignments(effective).await?;
    let (users, groups, projects, domains, roles) = if names || dom.is_some() {
        (
            st.id.store.users(&UserFilter::default()).await?,
            st.id.store.groups(&GroupFilter::default()).await?,
            st.id.store.projects(&ProjectFilter::default()).await?,
            st.id.store.domains().await?,
            st.id.store.roles().await?,
        )
    } else {
        (vec![], vec![], vec![], vec![], st.id.store.roles().await?)
    };
    let dom_name = |id: &str| domains.iter().find(|d| d.id == id).map(|d| d.name.clone());
    let items: Vec<Value> = rows
        .iter()
        .filter(|(a, _)| {
            let actor_ok = match a.actor_type {
                ActorType::User => !q.contains_key("group.id") && q.get("user.id").is_none_or(|u| *u == a.actor_id),
                ActorType::Group => !q.contains_key("user.id") && q.get("group.id").is_none_or(|g| *g == a.actor_id),
            };
            let scope_ok = match &a.target {
                Target::Project(p) => !q.contains_key("scope.domain.id") && !q.contains_key("scope.system") && q.get("scope.project.id").is_none_or(|x| x == p),
                Target::Domain(d) => !q.contains_key("scope.project.id") && !q.contains_key("scope.system") && q.get("scope.domain.id").is_none_or(|x| x == d),
                Target::System => !q.contains_key("scope.project.id") && !q.contains_key("scope.domain.id"),
            };
            let role_ok = q.get("role.id").is_none_or(|r| *r == a.role_id);
            let inherit_ok = q.get("scope.OS-INHERIT:inherited_to").is_none_or(|_| a.inherited);
            let dom_ok = dom.as_ref().is_none_or(|d| match &a.target {
                Target::Project(p) => projects.iter().any(|x| x.id == *p && x.domain_id == *d),
                Target::Domain(x) => x == d,
                Target::System => false,
            });
            actor_ok && scope_ok && role_ok && inherit_ok && dom_ok
        })
        .map(|(a, via_group)| {
            let role = roles.iter().find(|r| r.id == a.role_id);
            let mut role_v = json!({"id": a.role_id});
            if names {
                if let Some(r) = role {
                    role_v["name"] = json!(r.name);
                    if let Some(d) = &r.domain_id {
                        role_v["domain"] = json!({"id": d, "name": dom_name(d)});
                    }
                }
            }
            let mut actor_v = json!({"id": a.actor_id});
            if names {
                match a.actor_type {
                    ActorType::User => if let Some(u) = users.iter().find(|u| u.id == a.actor_id) {
                        actor_v["name"] = json!(u.name);
                        actor_v["domain"] = json!({"id": u.domain_id, "name": dom_name(&u.domain_id)});
                    },
                    ActorType::Group => if let Some(g) = groups.iter().find(|g| g.id == a.actor_id) {
                        actor_v["name"] = json!(g.name);
                        actor_v["domain"] = json!({"id": g.domain_id, "name": dom_name(&g.domain_id)});
                    },
                }
            }
            let scope = match &a.target {
                Target::Project(p) => {
                    let mut v = json!({"id": p});
                    if names {
                        if let Some(x) = projects.iter().find(|x| x.id == *p) {
                            v["name"] = json!(x.name);
                            v["domain"] = json!({"id": x.domain_id, "name": dom_name(&x.domain_id)});
                        }
                    }
                    json!({"project": v})
                }
                Target::Domain(d) => {
                    let mut v = json!({"id": d});
                    if names {
                        v["name"] = json!(dom_name(d));
                    }
                    json!({"domain": v})
                }
                Target::System => json!({"system": {"all": true}}),
            };
            let mut scope = scope;
            if a.inherited {
                scope["OS-INHERIT:inherited_to"] = json!("projects");
            }
            let actor_key = match a.actor_type {
                ActorType::User => "user",
                ActorType::Group => "group",
            };
            let target_path = match &a.target {
                Target::Project(p) => format!("projects/{p}"),
                Target::Domain(d) => format!("domains/{d}"),
                Target::System => "system".into(),
            };
            let mut links = json!({"assignment": st.link(&format!("{target_path}/{actor_key}s/{}/roles/{}", a.actor_id, a.role_id))});
            if let Some(g) = via_group {
                links["membership"] = json!(st.link(&format!("groups/{g}/users/{}", a.actor_id)));
            }
            json!({"role": role_v, actor_key: actor_v, "scope": scope, "links": links})
        })
        .collect();
    Ok(st.collection("role_assignments", "role_assignments", items))
}

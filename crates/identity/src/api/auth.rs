//! `/v3/auth/*`: issuing, validating and revoking tokens, and what a token may see.

use crate::policies::Rule;
use api_common::routes::Routes;
use api_common::visibility::authorize_or_hide;

use std::sync::Arc;

use api_common::{auth::SUBJECT_TOKEN, ApiJson, Ctx, Error};
use axum::{
    body::Bytes,
    extract::{FromRequestParts, State},
    http::{header, request::Parts, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::ApiState;
use crate::{
    app::{
        tokens::{AuthRequest, DomainRef, ProjectRef, Proof, ScopeRequest, UserRef},
        Catalog, Validated,
    },
    token::iso,
};

pub fn public_routes() -> Routes<ApiState> {
    Routes::new().route("/v3/auth/tokens", post(token_issue))
}

pub fn protected_routes() -> Routes<ApiState> {
    Routes::new()
        .route(
            "/v3/auth/tokens",
            get(token_validate).head(token_check).delete(token_revoke),
        )
        .route("/v3/auth/catalog", get(auth_catalog))
        .route("/v3/auth/projects", get(auth_projects))
        .route("/v3/auth/domains", get(auth_domains))
        .route("/v3/auth/system", get(auth_system))
}

// ---- wire types of POST /v3/auth/tokens ----

#[derive(Deserialize)]
struct AuthBody {
    auth: AuthWire,
}

#[derive(Deserialize)]
struct AuthWire {
    identity: IdentityWire,
    #[serde(default)]
    scope: Option<Value>,
}

#[derive(Deserialize)]
struct IdentityWire {
    methods: Vec<String>,
    password: Option<PasswordWire>,
    token: Option<TokenWire>,
    application_credential: Option<AppCredWire>,
}

#[derive(Deserialize)]
struct PasswordWire {
    user: UserWire,
}

#[derive(Deserialize)]
struct UserWire {
    id: Option<String>,
    name: Option<String>,
    domain: Option<NamedWire>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct NamedWire {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct TokenWire {
    id: String,
}

#[derive(Deserialize)]
struct AppCredWire {
    id: Option<String>,
    name: Option<String>,
    secret: String,
    user: Option<UserWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeWire {
    project: Option<ProjectWire>,
    domain: Option<NamedWire>,
    system: Option<Value>,
}

#[derive(Deserialize)]
struct ProjectWire {
    id: Option<String>,
    name: Option<String>,
    domain: Option<NamedWire>,
}

fn domain_ref(d: Option<NamedWire>, what: &str) -> Result<DomainRef, Error> {
    match d {
        Some(NamedWire { id: Some(id), .. }) => Ok(DomainRef::Id(id)),
        Some(NamedWire { name: Some(n), .. }) => Ok(DomainRef::Name(n)),
        _ => Err(Error::bad_request(format!(
            "{what} given by name needs a domain id or name."
        ))),
    }
}

fn user_ref(u: &mut UserWire) -> Result<UserRef, Error> {
    match (u.id.take(), u.name.take()) {
        (Some(id), _) => Ok(UserRef::Id(id)),
        (None, Some(name)) => Ok(UserRef::Name {
            name,
            domain: domain_ref(u.domain.take(), "A user")?,
        }),
        _ => Err(Error::bad_request(
            "Expecting to find a user id or name in auth.",
        )),
    }
}

/// Each method at most once, and only methods this cloud knows: a list of a thousand
/// `password`s must not cost a thousand password hashes.
fn check_methods(methods: &[String]) -> Result<(), Error> {
    for (i, m) in methods.iter().enumerate() {
        if !crate::token::METHODS.contains(&m.as_str()) {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'identity.methods': unsupported method '{m}' (supported: {}).",
                crate::token::METHODS.join(", ")
            )));
        }
        if methods[..i].contains(m) {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'identity.methods': '{m}' is given more than once."
            )));
        }
    }
    Ok(())
}

fn parse_auth(body: AuthBody) -> Result<AuthRequest, Error> {
    let AuthWire { identity, scope } = body.auth;
    check_methods(&identity.methods)?;
    let mut proofs = Vec::new();
    for m in &identity.methods {
        match m.as_str() {
            "password" => {
                let mut u = identity
                    .password
                    .as_ref()
                    .map(|p| UserWire {
                        id: p.user.id.clone(),
                        name: p.user.name.clone(),
                        domain: p.user.domain.as_ref().map(|d| NamedWire {
                            id: d.id.clone(),
                            name: d.name.clone(),
                        }),
                        password: p.user.password.clone(),
                    })
                    .ok_or_else(|| Error::bad_request("Expecting to find password in identity."))?;
                let password = u
                    .password
                    .take()
                    .ok_or_else(|| Error::bad_request("Expecting to find password in user."))?;
                proofs.push(Proof::Password {
                    user: user_ref(&mut u)?,
                    password,
                });
            }
            "token" => {
                let t = identity
                    .token
                    .as_ref()
                    .ok_or_else(|| Error::bad_request("Expecting to find token in identity."))?;
                proofs.push(Proof::Token { id: t.id.clone() });
            }
            "application_credential" => {
                let a = identity.application_credential.as_ref().ok_or_else(|| {
                    Error::bad_request("Expecting to find application_credential in identity.")
                })?;
                let user = match &a.user {
                    Some(u) => Some(user_ref(&mut UserWire {
                        id: u.id.clone(),
                        name: u.name.clone(),
                        domain: u.domain.as_ref().map(|d| NamedWire {
                            id: d.id.clone(),
                            name: d.name.clone(),
                        }),
                        password: None,
                    })?),
                    None => None,
                };
                proofs.push(Proof::ApplicationCredential {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    user,
                    secret: a.secret.clone(),
                });
            }
            other => {
                return Err(Error::unauthenticated(format!(
                    "Attempted to authenticate with an unsupported method: {other}."
                )))
            }
        }
    }
    let scope = match scope {
        None | Some(Value::Null) => ScopeRequest::Default,
        Some(Value::String(s)) if s == "unscoped" => ScopeRequest::Unscoped,
        Some(v) => {
            let w: ScopeWire = api_common::json::parse(v.to_string().as_bytes())?;
            match w {
                ScopeWire {
                    project: Some(p),
                    domain: None,
                    system: None,
                } => ScopeRequest::Project(match (p.id, p.name) {
                    (Some(id), _) => ProjectRef::Id(id),
                    (None, Some(name)) => ProjectRef::Name {
                        name,
                        domain: domain_ref(p.domain, "A project")?,
                    },
                    _ => {
                        return Err(Error::bad_request(
                            "Expecting to find a project id or name in scope.",
                        ))
                    }
                }),
                ScopeWire {
                    domain: Some(d),
                    project: None,
                    system: None,
                } => ScopeRequest::Domain(match (d.id, d.name) {
                    (Some(id), _) => DomainRef::Id(id),
                    (None, Some(n)) => DomainRef::Name(n),
                    _ => {
                        return Err(Error::bad_request(
                            "Expecting to find a domain id or name in scope.",
                        ))
                    }
                }),
                ScopeWire {
                    system: Some(_),
                    project: None,
                    domain: None,
                } => ScopeRequest::System,
                ScopeWire {
                    project: None,
                    domain: None,
                    system: None,
                } => ScopeRequest::Default,
                _ => {
                    return Err(Error::bad_request(
                        "Specify only one of project, domain or system in scope.",
                    ))
                }
            }
        }
    };
    Ok(AuthRequest {
        methods: identity.methods,
        proofs,
        scope,
    })
}

// ---- token documents ----

pub(super) fn catalog_json(cat: &Catalog) -> Value {
    Value::Array(
        cat.iter()
            .map(|(s, eps)| {
                json!({
                    "id": s.id,
                    "type": s.kind,
                    "name": s.name,
                    "endpoints": eps.iter().map(|e| json!({
                        "id": e.id,
                        "interface": e.interface,
                        "region": e.region_id,
                        "region_id": e.region_id,
                        "url": e.url,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

fn token_json(v: &Validated, catalog: Option<&Value>) -> Value {
    let p = &v.payload;
    let mut t = json!({
        "methods": p.method_names(),
        "user": {
            "id": v.user.id,
            "name": v.user.name,
            "domain": {"id": v.user_domain.id, "name": v.user_domain.name},
            "password_expires_at": v.user.password_expires_at,
        },
        "audit_ids": p.audit_ids,
        "expires_at": iso(p.expires()),
        "issued_at": iso(p.issued()),
    });
    let roles: Vec<Value> = v
        .roles
        .iter()
        .map(|r| json!({"id": r.id, "name": r.name}))
        .collect();
    if let Some((proj, dom)) = &v.project {
        t["project"] =
            json!({"id": proj.id, "name": proj.name, "domain": {"id": dom.id, "name": dom.name}});
        t["is_domain"] = json!(false);
        t["roles"] = json!(roles);
        if v.is_admin_project {
            t["is_admin_project"] = json!(true);
        }
    } else if let Some(d) = &v.domain {
        t["domain"] = json!({"id": d.id, "name": d.name});
        t["roles"] = json!(roles);
    } else if v.ctx.system_scope.is_some() {
        t["system"] = json!({"all": true});
        t["roles"] = json!(roles);
    }
    if let Some(ac) = &v.app_cred {
        t["application_credential"] =
            json!({"id": ac.id, "name": ac.name, "restricted": !ac.unrestricted});
    }
    if let Some(c) = catalog {
        t["catalog"] = c.clone();
    }
    json!({ "token": t })
}

/// The `X-Subject-Token` of a request: the token a validation, check or revocation is
/// about. (An extractor of that one header: `HeaderMap` would copy every header.)
struct Subject {
    token: String,
    /// The header as it came, for the answer's `X-Subject-Token`.
    header: HeaderValue,
}

impl<S: Send + Sync> FromRequestParts<S> for Subject {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let header = parts.headers.get(SUBJECT_TOKEN);
        match header.map(|h| (h, h.to_str())) {
            Some((h, Ok(token))) => Ok(Subject {
                token: token.to_owned(),
                header: h.clone(),
            }),
            _ => Err(Error::bad_request(
                "The X-Subject-Token header is required.",
            )),
        }
    }
}

/// The query flags of `/v3/auth/tokens`.
#[derive(Default)]
struct TokenQuery {
    /// `nocatalog`, with any value or none.
    nocatalog: bool,
    allow_expired: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for TokenQuery {
    type Rejection = Error;

    /// Read by hand: these two flags are all that is looked at, on every validation.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let mut q = TokenQuery::default();
        let query = parts.uri.query().unwrap_or_default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match &*k {
                "nocatalog" => q.nocatalog = true,
                "allow_expired" if q.allow_expired.is_none() => {
                    q.allow_expired = Some(v.into_owned())
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

async fn token_issue(
    State(st): State<ApiState>,
    q: TokenQuery,
    ApiJson(body): ApiJson<AuthBody>,
) -> Result<Response, Error> {
    let req = parse_auth(body)?;
    let (token, v) = st.id.authenticate(req).await?;
    let mut body = render(&token_json(&v, None))?;
    if !q.nocatalog {
        body = with_catalog(&body, &st.catalog_json().await?, project_of(&v));
    }
    let mut resp = (
        StatusCode::CREATED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    resp.headers_mut().insert(
        SUBJECT_TOKEN,
        HeaderValue::from_str(&token).map_err(Error::internal)?,
    );
    Ok(resp)
}

/// The subject token, validated, if the caller may act on it. A caller who may not gets
/// the same 404 as for an invalid token, so that nobody can probe which foreign tokens
/// are valid. `allow_expired` accepts a token expired within `[identity]
/// allow_expired_window` (for callers the rule lets act on it, as Keystone does).
async fn subject_validated(
    st: &ApiState,
    ctx: &Ctx,
    subject: &Subject,
    rule: Rule,
    allow_expired: bool,
) -> Result<Arc<Validated>, Error> {
    let window = if allow_expired {
        st.id.cfg.allow_expired_window
    } else {
        0
    };
    let v = st.id.validate_within(&subject.token, window).await?;
    // Another user's valid token answers as an invalid one does: a 403 would tell it
    // is valid. (A flat dotted key: the policy engine looks those up first.)
    let target = json!({"target.token.user_id": v.user.id});
    authorize_or_hide(st.id.authorize(ctx, rule, target), || {
        Error::not_found("Failed to validate token")
    })?;
    Ok(v)
}

/// oslo's `bool_from_string`: what a query flag's value means.
fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "1" | "t" | "true" | "on" | "y" | "yes"
        )
    })
}

async fn token_validate(
    State(st): State<ApiState>,
    ctx: Ctx,
    q: TokenQuery,
    subject: Subject,
) -> Result<Response, Error> {
    let allow_expired = truthy(q.allow_expired.as_deref());
    let v = subject_validated(&st, &ctx, &subject, Rule::ValidateToken, allow_expired).await?;
    // The documents of a token are rendered once per cached validation (the catalog
    // once per catalog) instead of on every request; they go with the validation, so
    // whatever makes it stale (a revocation, a role or catalog change) drops them too.
    let doc = match v.rendered.without_catalog.get() {
        Some(b) => b.clone(),
        None => {
            let b = render(&token_json(&v, None))?;
            let _ = v.rendered.without_catalog.set(b.clone());
            b
        }
    };
    let body = if q.nocatalog {
        doc
    } else {
        v.rendered.with_catalog(&st.catalog_json().await?, |c| {
            with_catalog(&doc, c, project_of(&v))
        })
    };
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    resp.headers_mut().insert(SUBJECT_TOKEN, subject.header);
    Ok(resp)
}

/// `{"token":{...}}` with `"catalog": <catalog>` added as the token's last member:
/// the token document and the catalog are each rendered once, not once per request.
/// Endpoint URLs naming `$(project_id)s` (Swift's `/v1/AUTH_$(project_id)s`) get the
/// token's project, as Keystone formats them.
fn with_catalog(doc: &Bytes, catalog: &Bytes, project: Option<&str>) -> Bytes {
    let head = doc.strip_suffix(b"}}").unwrap_or(doc);
    let mut out = Vec::with_capacity(doc.len() + catalog.len() + 16);
    out.extend_from_slice(head);
    out.extend_from_slice(b",\"catalog\":");
    out.extend_from_slice(&with_project(catalog, project));
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// The project a token is scoped to.
fn project_of(v: &Validated) -> Option<&str> {
    v.project.as_ref().map(|(p, _)| p.id.as_str())
}

/// `$(project_id)s` and `$(tenant_id)s` in a rendered catalog replaced by `project`.
fn with_project(catalog: &[u8], project: Option<&str>) -> Vec<u8> {
    let (Some(project), Ok(text)) = (project, std::str::from_utf8(catalog)) else {
        return catalog.to_vec();
    };
    if !text.contains("$(") {
        return catalog.to_vec();
    }
    text.replace("$(project_id)s", project)
        .replace("$(tenant_id)s", project)
        .into_bytes()
}

/// A JSON document as a response body (what `Json` sends).
fn render(doc: &Value) -> Result<Bytes, Error> {
    serde_json::to_vec(doc)
        .map(Bytes::from)
        .map_err(Error::internal)
}

async fn token_check(
    State(st): State<ApiState>,
    ctx: Ctx,
    q: TokenQuery,
    subject: Subject,
) -> Result<StatusCode, Error> {
    let allow_expired = truthy(q.allow_expired.as_deref());
    subject_validated(&st, &ctx, &subject, Rule::CheckToken, allow_expired).await?;
    Ok(StatusCode::OK)
}

async fn token_revoke(
    State(st): State<ApiState>,
    ctx: Ctx,
    subject: Subject,
) -> Result<StatusCode, Error> {
    let v = subject_validated(&st, &ctx, &subject, Rule::RevokeToken, false).await?;
    st.id.revoke_token(&v).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn auth_catalog(State(st): State<ApiState>, ctx: Ctx) -> Result<Json<Value>, Error> {
    if ctx.project_id.is_none() && ctx.domain_id.is_none() && ctx.system_scope.is_none() {
        return Err(Error::forbidden(
            "The service catalog requires a scoped token.",
        ));
    }
    let cat = catalog_json(&*st.id.catalog().await?);
    let cat: Value = serde_json::from_slice(&with_project(
        &serde_json::to_vec(&cat).map_err(Error::internal)?,
        ctx.project_id.as_deref(),
    ))
    .map_err(Error::internal)?;
    Ok(Json(
        json!({"catalog": cat, "links": {"self": st.link("auth/catalog"), "previous": null, "next": null}}),
    ))
}

async fn auth_projects(State(st): State<ApiState>, ctx: Ctx) -> Result<Json<Value>, Error> {
    let projects = st.id.user_projects(&ctx.user_id).await?;
    let items = projects
        .iter()
        .filter(|p| p.enabled)
        .map(|p| super::resources::project_json(&st, p))
        .collect();
    Ok(st.collection("projects", "auth/projects", items))
}

async fn auth_domains(State(st): State<ApiState>, ctx: Ctx) -> Result<Json<Value>, Error> {
    let domains = st.id.user_domains(&ctx.user_id).await?;
    let items = domains
        .iter()
        .filter(|d| d.enabled)
        .map(|d| super::resources::domain_json(&st, d))
        .collect();
    Ok(st.collection("domains", "auth/domains", items))
}

async fn auth_system(State(st): State<ApiState>, ctx: Ctx) -> Result<Json<Value>, Error> {
    let roles = st
        .id
        .effective_roles(&ctx.user_id, &crate::model::Target::System)
        .await?;
    let system: Vec<Value> = if roles.is_empty() {
        vec![]
    } else {
        vec![json!({"all": true})]
    };
    Ok(Json(
        json!({"system": system, "links": {"self": st.link("auth/system"), "previous": null, "next": null}}),
    ))
}

//! Authentication (`POST /v3/auth/tokens`), validation and revocation of tokens.

use std::{collections::BTreeSet, sync::Arc};

use api_common::{AuthContext, Error, Result};
use chrono::Utc;

use super::{Identity, Validated};
use crate::{
    model::*,
    password,
    token::{method_bits, new_audit_id, Payload, Scope},
};

/// A user named by id, or by name within a domain.
#[derive(Debug, Clone)]
pub enum UserRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

/// A domain named by id or by name.
#[derive(Debug, Clone)]
pub enum DomainRef {
    Id(String),
    Name(String),
}

/// A project named by id, or by name within a domain.
#[derive(Debug, Clone)]
pub enum ProjectRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

/// What the caller asks the token to be scoped to.
#[derive(Debug, Clone)]
pub enum ScopeRequest {
    /// No scope given: the user's default project when they have a role there.
    Default,
    Unscoped,
    Project(ProjectRef),
    Domain(DomainRef),
    System,
}

/// One way of proving who the caller is.
#[derive(Debug, Clone)]
pub enum Proof {
    Password {
        user: UserRef,
        password: String,
    },
    Token {
        id: String,
    },
    ApplicationCredential {
        id: Option<String>,
        name: Option<String>,
        user: Option<UserRef>,
        secret: String,
    },
}

#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub methods: Vec<String>,
    pub proofs: Vec<Proof>,
    pub scope: ScopeRequest,
}

fn denied() -> Error {
    Error::unauthenticated("The request you have made requires authentication.")
}

fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

impl Identity {
    async fn resolve_domain(&self, d: &DomainRef) -> Result<Option<Domain>> {
        match d {
            DomainRef::Id(id) => self.store.domain(id).await,
            DomainRef::Name(n) => self.store.domain_by_name(n).await,
        }
    }

    async fn resolve_user(&self, u: &UserRef) -> Result<Option<User>> {
        match u {
            UserRef::Id(id) => self.store.user(id).await,
            UserRef::Name { name, domain } => match self.resolve_domain(domain).await? {
                Some(d) => self.store.user_by_name(&d.id, name).await,
                None => Ok(None),
            },
        }
    }

    async fn resolve_project(&self, p: &ProjectRef) -> Result<Option<Project>> {
        match p {
            ProjectRef::Id(id) => self.store.project(id).await,
            ProjectRef::Name { name, domain } => match self.resolve_domain(domain).await? {
                Some(d) => self.store.project_by_name(&d.id, name).await,
                None => Ok(None),
            },
        }
    }

    /// An enabled user in an enabled domain, or 401.
    async fn active_user(&self, user: Option<User>) -> Result<(User, Domain)> {
        let user = user.ok_or_else(denied)?;
        let dom = self
            .store
            .domain(&user.domain_id)
            .await?
            .ok_or_else(denied)?;
        if !user.enabled || !dom.enabled {
            return Err(denied());
        }
        Ok((user, dom))
    }

    /// Issue a token. Returns the token and its validated content.
    pub async fn authenticate(&self, req: AuthRequest) -> Result<(String, Arc<Validated>)> {
        if req.methods.is_empty() || req.proofs.is_empty() {
            return Err(Error::bad_request(
                "Expecting to find identity methods in auth.",
            ));
        }
        let mut user_id: Option<String> = None;
        let mut expires_at = now_micros()
            + i64::try_from(self.cfg.token_expiration).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
        let mut audit_ids = vec![new_audit_id()];
        let mut app_cred: Option<AppCred> = None;
        let mut scope = req.scope.clone();
        for proof in &req.proofs {
            let uid = match proof {
                Proof::Password { user, password } => {
                    let (user, _) = self.active_user(self.resolve_user(user).await?).await?;
                    let hash = user.password_hash.clone().ok_or_else(denied)?;
                    if !password::verify(password.clone(), hash).await {
                        return Err(denied());
                    }
                    if let Some(exp) = &user.password_expires_at {
                        if chrono::DateTime::parse_from_rfc3339(exp).is_ok_and(|e| e < Utc::now()) {
                            return Err(Error::unauthenticated(
                                "The password is expired and needs to be changed.",
                            ));
                        }
                    }
                    user.id
                }
                Proof::Token { id } => {
                    let v = self.validate(id).await?;
                    if v.payload.app_cred_id.is_some() {
                        return Err(Error::forbidden(
                            "A token created with an application credential cannot be rescoped.",
                        ));
                    }
                    expires_at = v.payload.expires_at;
                    audit_ids = vec![new_audit_id(), v.payload.audit_chain_id().to_owned()];
                    v.user.id.clone()
                }
                Proof::ApplicationCredential {
                    id,
                    name,
                    user,
                    secret,
                } => {
                    let ac = match (id, name, user) {
                        (Some(id), _, _) => self.store.app_cred(id).await?,
                        (None, Some(name), Some(user)) => {
                            let u = self.resolve_user(user).await?.ok_or_else(denied)?;
                            self.store
                                .app_creds(&u.id)
                                .await?
                                .into_iter()
                                .find(|a| &a.name == name)
                        }
                        _ => {
                            return Err(Error::bad_request(
                                "An application credential needs an id, or a name and a user.",
                            ))
                        }
                    }
                    .ok_or_else(denied)?;
                    if !password::verify(secret.clone(), ac.secret_hash.clone()).await {
                        return Err(denied());
                    }
                    if let Some(exp) = &ac.expires_at {
                        if chrono::DateTime::parse_from_rfc3339(exp).is_ok_and(|e| e < Utc::now()) {
                            return Err(denied());
                        }
                    }
                    self.active_user(self.store.user(&ac.user_id).await?)
                        .await?;
                    match &scope {
                        ScopeRequest::Default => {}
                        ScopeRequest::Project(ProjectRef::Id(p)) if *p == ac.project_id => {}
                        _ => {
                            return Err(Error::unauthenticated(
                                "An application credential token is always scoped to the credential's project.",
                            ))
                        }
                    }
                    scope = ScopeRequest::Project(ProjectRef::Id(ac.project_id.clone()));
                    let uid = ac.user_id.clone();
                    app_cred = Some(ac);
                    uid
                }
            };
            if user_id.as_ref().is_some_and(|u| *u != uid) {
                return Err(Error::unauthenticated(
                    "The methods identify different users.",
                ));
            }
            user_id = Some(uid);
        }
        let user_id = user_id.ok_or_else(denied)?;
        let scope = match scope {
            ScopeRequest::Unscoped => Scope::Unscoped,
            ScopeRequest::System => Scope::System,
            ScopeRequest::Domain(d) => {
                Scope::Domain(self.resolve_domain(&d).await?.ok_or_else(denied)?.id)
            }
            ScopeRequest::Project(p) => {
                Scope::Project(self.resolve_project(&p).await?.ok_or_else(denied)?.id)
            }
            ScopeRequest::Default => {
                let user = self.store.user(&user_id).await?.ok_or_else(denied)?;
                match user.default_project_id {
                    Some(p)
                        if !self
                            .effective_roles(&user_id, &Target::Project(p.clone()))
                            .await?
                            .is_empty() =>
                    {
                        Scope::Project(p)
                    }
                    _ => Scope::Unscoped,
                }
            }
        };
        let payload = Payload {
            user_id,
            methods: method_bits(&req.methods),
            scope,
            issued_at: now_micros(),
            expires_at,
            audit_ids,
            app_cred_id: app_cred.map(|a| a.id),
        };
        let token = self
            .keys
            .encrypt(&serde_json::to_vec(&payload).map_err(Error::internal)?);
        let v = self.check_payload(&token, payload).await?;
        Ok((token, v))
    }

    /// Validate a token: decrypt it, check expiry and revocation, and re-check the user,
    /// the scope and the roles. Answers come from a short cache cleared by every write.
    pub async fn validate(&self, token: &str) -> Result<Arc<Validated>> {
        self.validate_within(token, 0).await
    }

    /// Validate a token that may have expired up to `window_secs` ago (Keystone's
    /// `allow_expired`: services finishing long operations). Revoked tokens, disabled
    /// users and lost roles fail as always; expired tokens are never cached.
    pub async fn validate_within(&self, token: &str, window_secs: u64) -> Result<Arc<Validated>> {
        if let Some(v) = self.cached_validation(token) {
            // revocations made on other nodes apply to cached tokens too (the event list
            // is itself refreshed every few seconds)
            if v.payload.expires_at > now_micros()
                && !self
                    .revocations()
                    .await?
                    .iter()
                    .any(|e| revoked(e, &v.payload))
            {
                return Ok(v);
            }
        }
        let epoch = self.epoch();
        let not_found = || Error::not_found("Failed to validate token");
        let bytes = self.keys.decrypt(token).ok_or_else(not_found)?;
        let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| not_found())?;
        let window = i64::try_from(window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let expired = payload.expires_at <= now_micros();
        if payload.expires_at.saturating_add(window) <= now_micros() {
            return Err(not_found());
        }
        if self
            .revocations()
            .await?
            .iter()
            .any(|e| revoked(e, &payload))
        {
            return Err(not_found());
        }
        let v = self
            .check_payload(token, payload)
            .await
            .map_err(|e| match e.kind {
                api_common::ErrorKind::Unauthenticated => not_found(),
                _ => e,
            })?;
        if !expired {
            self.cache_validation(token, epoch, v.clone());
        }
        Ok(v)
    }

    async fn check_payload(&self, token: &str, payload: Payload) -> Result<Arc<Validated>> {
        let (user, user_domain) = self
            .active_user(self.store.user(&payload.user_id).await?)
            .await?;
        let app_cred = match &payload.app_cred_id {
            Some(id) => Some(self.store.app_cred(id).await?.ok_or_else(denied)?),
            None => None,
        };
        let mut project = None;
        let mut domain = None;
        let target = match &payload.scope {
            Scope::Unscoped => None,
            Scope::System => Some(Target::System),
            Scope::Domain(id) => {
                let d = self
                    .store
                    .domain(id)
                    .await?
                    .filter(|d| d.enabled)
                    .ok_or_else(|| {
                        Error::unauthenticated("The domain is disabled or does not exist.")
                    })?;
                domain = Some(d);
                Some(Target::Domain(id.clone()))
            }
            Scope::Project(id) => {
                let p = self
                    .store
                    .project(id)
                    .await?
                    .filter(|p| p.enabled)
                    .ok_or_else(|| {
                        Error::unauthenticated("The project is disabled or does not exist.")
                    })?;
                let d = self
                    .store
                    .domain(&p.domain_id)
                    .await?
                    .filter(|d| d.enabled)
                    .ok_or_else(|| {
                        Error::unauthenticated(
                            "The project's domain is disabled or does not exist.",
                        )
                    })?;
                project = Some((p, d));
                Some(Target::Project(id.clone()))
            }
        };
        let mut roles = match &target {
            Some(t) => self.effective_roles(&user.id, t).await?,
            None => Vec::new(),
        };
        if let Some(ac) = &app_cred {
            let allowed: BTreeSet<String> = ac.role_ids.iter().cloned().collect();
            let expanded = self.expand_roles(allowed).await?;
            roles.retain(|r| expanded.iter().any(|e| e.id == r.id));
        }
        if target.is_some() && roles.is_empty() {
            return Err(Error::unauthenticated(format!(
                "User {} has no access to the requested scope.",
                user.id
            )));
        }
        let is_admin_project = project.as_ref().is_some_and(|(p, d)| {
            p.name == self.cfg.admin_project_name && d.name == self.cfg.admin_project_domain_name
        });
        let ctx = AuthContext {
            token: token.to_owned(),
            user_id: user.id.clone(),
            user_name: user.name.clone(),
            user_domain_id: user_domain.id.clone(),
            user_domain_name: user_domain.name.clone(),
            project_id: project.as_ref().map(|(p, _)| p.id.clone()),
            project_name: project.as_ref().map(|(p, _)| p.name.clone()),
            project_domain_id: project.as_ref().map(|(_, d)| d.id.clone()),
            project_domain_name: project.as_ref().map(|(_, d)| d.name.clone()),
            domain_id: domain.as_ref().map(|d| d.id.clone()),
            domain_name: domain.as_ref().map(|d| d.name.clone()),
            system_scope: (payload.scope == Scope::System).then(|| "all".to_owned()),
            roles: roles.iter().map(|r| r.name.to_lowercase()).collect(),
            role_ids: roles.iter().map(|r| r.id.clone()).collect(),
            methods: payload.method_names(),
            audit_ids: payload.audit_ids.clone(),
            expires_at: payload.expires(),
            issued_at: payload.issued(),
            application_credential_id: payload.app_cred_id.clone(),
            service_roles: Vec::new(),
            is_admin_project,
            policy_cache: Default::default(),
        };
        Ok(Arc::new(Validated {
            payload,
            user,
            user_domain,
            project,
            domain,
            roles,
            app_cred,
            is_admin_project,
            ctx: Arc::new(ctx),
            rendered: Default::default(),
        }))
    }

    /// Revoke one token (and only it: tokens rescoped from it keep their own audit id).
    pub async fn revoke_token(&self, v: &Validated) -> Result<()> {
        self.revoke(Revocation {
            user_id: None,
            project_id: None,
            audit_id: v.payload.audit_ids.first().cloned(),
            audit_chain_id: None,
            app_cred_id: None,
            issued_before: now_micros(),
        })
        .await
    }

    /// Revoke every token of a user issued until now.
    pub async fn revoke_user_tokens(&self, user_id: &str) -> Result<()> {
        self.revoke(Revocation {
            user_id: Some(user_id.to_owned()),
            project_id: None,
            audit_id: None,
            audit_chain_id: None,
            app_cred_id: None,
            issued_before: now_micros(),
        })
        .await
    }
}

/// Whether a revocation event covers a token.
fn revoked(e: &Revocation, p: &Payload) -> bool {
    let project = match &p.scope {
        Scope::Project(id) => Some(id.as_str()),
        _ => None,
    };
    p.issued_at <= e.issued_before
        && e.user_id.as_deref().is_none_or(|u| u == p.user_id)
        && e.project_id.as_deref().is_none_or(|x| Some(x) == project)
        && e.audit_id
            .as_deref()
            .is_none_or(|a| p.audit_ids.first().map(String::as_str) == Some(a))
        && e.audit_chain_id
            .as_deref()
            .is_none_or(|a| a == p.audit_chain_id())
        && e.app_cred_id
            .as_deref()
            .is_none_or(|a| p.app_cred_id.as_deref() == Some(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Payload {
            user_id: "u".into(),
            methods: 1,
            scope: Scope::Project("p".into()),
            issued_at: 100,
            expires_at: 1000,
            audit_ids: vec!["a1".into(), "a0".into()],
            app_cred_id: None,
        }
    }

    fn event() -> Revocation {
        Revocation {
            user_id: None,
            project_id: None,
            audit_id: None,
            audit_chain_id: None,
            app_cred_id: None,
            issued_before: 100,
        }
    }

    #[test]
    fn revocation_matching() {
        let p = payload();
        let check = |e: Revocation, want: bool| assert_eq!(revoked(&e, &p), want, "{e:?}");
        check(
            Revocation {
                user_id: Some("u".into()),
                ..event()
            },
            true,
        );
        check(
            Revocation {
                user_id: Some("x".into()),
                ..event()
            },
            false,
        );
        check(
            Revocation {
                user_id: Some("u".into()),
                issued_before: 99,
                ..event()
            },
            false,
        );
        check(
            Revocation {
                audit_id: Some("a1".into()),
                ..event()
            },
            true,
        );
        check(
            Revocation {
                audit_id: Some("a0".into()),
                ..event()
            },
            false,
        );
        check(
            Revocation {
                audit_chain_id: Some("a0".into()),
                ..event()
            },
            true,
        );
        check(
            Revocation {
                project_id: Some("p".into()),
                ..event()
            },
            true,
        );
        check(
            Revocation {
                app_cred_id: Some("c".into()),
                ..event()
            },
            false,
        );
    }
}

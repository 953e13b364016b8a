//! Who may do what to an account and its containers: keystoneauth's decisions.
//!
//! - A reseller admin ([`Rule::ResellerAdmin`]) reaches every account.
//! - An operator of the account's project ([`Rule::Operator`]) owns the account.
//! - Anyone else gets only what the container's ACLs grant: `X-Container-Read` lists
//!   `.r:*` (anyone, even without a token, may read objects), `.r:<host>` (requests
//!   whose `Referer` is that host or under it, `.r:.example.com`), `.r:-<host>` (deny),
//!   `.rlistings` (who may read objects may also list), and `<project>:<user>` grants
//!   (ids or names, `*` for any); `X-Container-Write` lists `<project>:<user>` grants.
//!
//! A refusal is 401 for a caller without a token, 403 for one with a token.

use std::sync::Arc;

use api_common::{auth::AuthContext, Error};
use serde_json::json;

use crate::policies::Rule;

/// Who is calling: a validated token, or nobody (anonymous), and the `Referer`.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub auth: Option<Arc<AuthContext>>,
    pub referrer: Option<String>,
    /// A TempURL's signature, when the request carries one.
    pub temp_url: Option<super::tempurl::TempUrl>,
}

/// What an operation needs of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Read an object.
    Read,
    /// List the container (or read its metadata).
    List,
    /// Write or delete an object.
    Write,
}

/// The refusal for this caller: 401 without a token, 403 with one.
pub fn refused(caller: &Caller) -> Error {
    match caller.auth {
        None => Error::unauthenticated(""),
        Some(_) => Error::forbidden(""),
    }
}

/// The project of an account name (`AUTH_<project_id>`), if it is one.
pub fn account_project(account: &str) -> Option<&str> {
    account.strip_prefix("AUTH_").filter(|p| !p.is_empty())
}

impl super::ObjectStore {
    /// Whether the caller owns `account` (an operator of its project, or a reseller).
    pub fn owns(&self, caller: &Caller, account: &str) -> bool {
        let Some(ctx) = &caller.auth else {
            return false;
        };
        let creds = ctx.policy_credentials();
        if self
            .policy
            .enforce(Rule::ResellerAdmin.name(), &json!({}), creds)
        {
            return true;
        }
        let Some(project) = account_project(account) else {
            return false;
        };
        self.policy.enforce(
            Rule::Operator.name(),
            &json!({ "project_id": project }),
            creds,
        )
    }

    /// Refuse unless the caller owns `account`.
    pub fn authorize_owner(&self, caller: &Caller, account: &str) -> Result<(), Error> {
        if self.owns(caller, account) {
            Ok(())
        } else {
            Err(refused(caller))
        }
    }
}

/// Whether a container's ACLs let the caller (who does not own the account) do `need`.
pub fn acl_allows(caller: &Caller, read_acl: &str, write_acl: &str, need: Need) -> bool {
    match need {
        Need::Write => grants(caller, write_acl),
        Need::Read | Need::List => {
            let items: Vec<&str> = read_acl
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let listings = items.contains(&".rlistings");
            let by_referrer = referrer_allowed(caller.referrer.as_deref(), &items);
            let by_grant = grants(caller, read_acl);
            match need {
                Need::Read => by_referrer || by_grant,
                _ => by_grant || (by_referrer && listings),
            }
        }
    }
}

/// `.r:` items: the last matching one decides, as Swift's `referrer_allowed`.
fn referrer_allowed(referrer: Option<&str>, items: &[&str]) -> bool {
    let host = referrer.and_then(|r| {
        let rest = r.split_once("://").map_or(r, |(_, rest)| rest);
        rest.split(['/', ':']).next().map(str::to_ascii_lowercase)
    });
    let mut allowed = false;
    for item in items {
        let Some(rule) = item
            .strip_prefix(".r:")
            .or_else(|| item.strip_prefix(".referrer:"))
        else {
            continue;
        };
        let (deny, rule) = match rule.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, rule),
        };
        let rule = rule.to_ascii_lowercase();
        let matches = rule == "*"
            || host.as_deref().is_some_and(|h| {
                if let Some(domain) = rule.strip_prefix('.') {
                    h == domain || h.ends_with(&format!(".{domain}"))
                } else {
                    h == rule
                }
            });
        if matches {
            allowed = !deny;
        }
    }
    allowed
}

/// `<project>:<user>` grants of an ACL that match a caller with a token.
fn grants(caller: &Caller, acl: &str) -> bool {
    let Some(ctx) = &caller.auth else {
        return false;
    };
    let project_ids = [ctx.project_id.as_deref(), ctx.project_name.as_deref()];
    acl.split(',').map(str::trim).any(|item| {
        let Some((p, u)) = item.split_once(':') else {
            return false;
        };
        if p.starts_with('.') {
            return false;
        }
        let p_ok = p == "*" || project_ids.iter().flatten().any(|x| *x == p);
        let u_ok = u == "*" || u == ctx.user_id || u == ctx.user_name;
        p_ok && u_ok
    })
}

/// Check an ACL's syntax as Swift does before storing it.
pub fn check_acl(acl: &str, read: bool) -> Result<(), Error> {
    for item in acl.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let ok = if let Some(rest) = item.strip_prefix('.') {
            read && (rest == "rlistings"
                || rest
                    .strip_prefix("r:")
                    .or_else(|| rest.strip_prefix("referrer:"))
                    .is_some_and(|r| !r.is_empty() && r != "-"))
        } else {
            item.split_once(':')
                .is_some_and(|(p, u)| !p.is_empty() && !u.is_empty())
                || !item.contains(':')
        };
        if !ok {
            return Err(Error::bad_request(format!(
                "Error in ACL header: the item {item:?} is not valid"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(project: &str, user: &str) -> Caller {
        Caller {
            auth: Some(Arc::new(AuthContext {
                project_id: Some(project.into()),
                project_name: Some(format!("{project}-name")),
                user_id: user.into(),
                user_name: format!("{user}-name"),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn acls() {
        let anon = Caller::default();
        let p = caller("p1", "u1");
        // public reads, listings only with .rlistings
        assert!(acl_allows(&anon, ".r:*", "", Need::Read));
        assert!(!acl_allows(&anon, ".r:*", "", Need::List));
        assert!(acl_allows(&anon, ".r:*,.rlistings", "", Need::List));
        assert!(!acl_allows(&anon, "", "", Need::Read));
        assert!(!acl_allows(&anon, "*:*", "*:*", Need::Write));
        // grants
        assert!(acl_allows(&p, "p1:*", "", Need::Read));
        assert!(acl_allows(&p, "p1:*", "", Need::List));
        assert!(acl_allows(&p, "*:u1", "", Need::Read));
        assert!(acl_allows(&p, "p1-name:u1-name", "", Need::Read));
        assert!(!acl_allows(&p, "p2:*", "", Need::Read));
        assert!(acl_allows(&p, "", "p1:u1", Need::Write));
        assert!(!acl_allows(&p, "p1:u1", "", Need::Write));
        // referrers
        let mut r = anon.clone();
        r.referrer = Some("http://www.example.com/page".into());
        assert!(acl_allows(&r, ".r:.example.com", "", Need::Read));
        assert!(!acl_allows(&r, ".r:*,.r:-www.example.com", "", Need::Read));
        assert!(!acl_allows(&r, ".r:other.com", "", Need::Read));
        // syntax
        assert!(check_acl(".r:*,.rlistings,p:u", true).is_ok());
        assert!(check_acl(".r:", true).is_err());
        assert!(check_acl(".r:*", false).is_err());
        assert_eq!(account_project("AUTH_abc"), Some("abc"));
        assert_eq!(account_project("AUTH_"), None);
        assert_eq!(account_project("abc"), None);
    }
}

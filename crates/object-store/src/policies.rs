//! Object Storage's rules. Swift decides access with its auth middleware (keystoneauth)
//! and container ACLs, not policy.json; the two decisions keystoneauth takes from roles
//! are rules here, so an operator can change which roles own accounts:
//!
//! - `swift:operator`: a caller whose token is scoped to the account's project and who
//!   holds one of these roles owns the account (keystoneauth's `operator_roles`).
//! - `swift:reseller_admin`: reaches every account (keystoneauth's
//!   `reseller_admin_role`).
//!
//! Everyone else is served only what a container's ACL grants (see `app::access`).

policy::rules! {
    /// Object Storage's rules (the target is `project_id`: the account's project).
    pub enum Rule {
    Operator = (
        "swift:operator",
        "(role:admin or role:member or role:swiftoperator) and project_id:%(project_id)s",
    ),
    ResellerAdmin = ("swift:reseller_admin", "role:admin or role:reselleradmin"),
    }
}

/// The default rules, in oslo.policy's language.
pub const DEFAULTS: &[(&str, &str)] = Rule::DEFAULTS;

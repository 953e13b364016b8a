//! An engine for oslo.policy's rule language, as OpenStack services use it.
//!
//! A [`Policy`] maps rule names (`"identity:get_user"`) to rule strings. Services ship
//! their rules as code defaults and operators override them with a `policy.yaml` (or
//! legacy `policy.json`) file. Rules are parsed and linked once, when the policy is
//! built; [`Policy::enforce`] / [`Policy::authorize`] then evaluate a rule for the
//! caller's [`Credentials`] and a JSON *target* describing the object acted upon.
//!
//! ```
//! use policy::{Credentials, Policy};
//! use serde_json::json;
//!
//! let policy = Policy::from_defaults(&[
//!     ("admin_required", "role:admin or is_admin:True"),
//!     ("owner", "user_id:%(target.user.id)s"),
//!     ("identity:get_user", "rule:admin_required or rule:owner"),
//! ])?;
//! let creds = Credentials { user_id: Some("u1".into()), roles: vec!["member".into()], ..Default::default() };
//! assert!(policy.enforce("identity:get_user", &json!({"target": {"user": {"id": "u1"}}}), &creds));
//! assert!(policy.authorize("identity:get_user", &json!({"target.user.id": "u2"}), &creds).is_err());
//! # Ok::<(), policy::PolicyError>(())
//! ```
//!
//! # The rule language
//!
//! A rule combines *checks* with `and`, `or`, `not` and parentheses. Precedence is
//! oslo's: `not` binds tightest, then `and`, then `or`; operators are case-insensitive.
//! Checks are whitespace-separated words (a check can't contain spaces):
//!
//! | check | true when |
//! |---|---|
//! | `@`, or the empty rule `""` | always |
//! | `!` | never |
//! | `rule:NAME` | rule `NAME` of the same policy is true |
//! | `role:admin` | the credentials hold role `admin`, compared case-insensitively |
//! | `role:%(target.role.name)s` | the credentials hold the role named by the target |
//! | `ATTR:VALUE` | credential attribute `ATTR` equals `VALUE`, e.g. `is_admin:True`, `system_scope:all`, `project_id:%(project_id)s` |
//! | `LITERAL:VALUE` | a Python literal equals `VALUE`, e.g. `'member':%(role.name)s`, `True:%(user.enabled)s` |
//!
//! `VALUE` may contain `%(key)s` substitutions from the target (and `%%` for `%`). A key
//! is looked up as a flat key first (`{"target.user.id": ...}`, as oslo does and as
//! Keystone's flattened targets provide), then as a path through nested objects
//! (`{"target": {"user": {"id": ...}}}`). Target values are compared as Python's `str()`
//! would render them (`true` → `True`, `null` → `None`, `1.0` → `1.0`). A missing key —
//! or one naming a list or object — makes that check false, never an error.
//!
//! Credential attributes are `user_id`, `project_id`, `domain_id`, `system_scope`
//! (also visible as `system` when set, as in oslo), `is_admin` (`True`/`False`), `roles`
//! (any role equal, case-sensitively), and any key of [`Credentials::extra`] such as
//! `user_domain_id` or `project_domain_id`. An attribute that is unset never matches.
//!
//! # Differences from oslo.policy
//!
//! oslo turns a malformed rule into "deny" and logs it; here it is a [`PolicyError`] when
//! the policy is built, naming the rule and the position. The same goes for references to
//! undefined rules and reference cycles. `http:`/`https:` remote checks and the legacy
//! list-of-lists rule form are not supported.

mod error;
mod eval;
mod parser;
mod policy;

pub use error::{Denied, PolicyError};
pub use eval::Credentials;
pub use policy::{Policy, PolicyBuilder};

/// Declares a service's policy rules as a typed enum, so code names a rule the compiler
/// knows (a misspelled rule does not build) and the defaults come from the same table:
///
/// ```
/// policy::rules! {
///     /// The rules of a service.
///     pub enum Rule {
///         AdminRequired = ("admin_required", "role:admin"),
///         GetThing = ("thing:get", "rule:admin_required or project_id:%(project_id)s"),
///     }
/// }
/// assert_eq!(Rule::GetThing.name(), "thing:get");
/// assert_eq!(Rule::DEFAULTS.len(), Rule::ALL.len());
/// let p = policy::Policy::from_defaults(Rule::DEFAULTS).unwrap();
/// assert!(Rule::ALL.iter().all(|r| p.contains(r.name())));
/// ```
#[macro_export]
macro_rules! rules {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = ($rule:literal, $default:expr $(,)?) ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),*
        }

        impl $name {
            /// Every rule, in the order of the table.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The default rules, for [`Policy::builder`]`.defaults(..)`.
            pub const DEFAULTS: &'static [(&'static str, &'static str)] =
                &[$(($rule, $default)),*];

            /// The rule's name in oslo.policy (what a policy.yaml overrides).
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $rule),*
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

//! Evaluation inputs ([`Credentials`], the JSON target) and the per-check matching logic.

use std::{borrow::Cow, collections::HashMap};

use serde_json::Value;

use crate::parser::{CredAttr, Kind, Piece, Template};

/// The caller's attributes that rules are evaluated against: what oslo.context's
/// `to_policy_values()` provides.
///
/// An attribute that is `None` never matches anything (oslo would compare against the
/// string `"None"`; this engine fails closed instead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `user_id:...`
    pub user_id: Option<String>,
    /// `project_id:...` — set for project-scoped tokens.
    pub project_id: Option<String>,
    /// `domain_id:...` — set for domain-scoped tokens.
    pub domain_id: Option<String>,
    /// Role names, matched case-insensitively by `role:...` checks and exactly by
    /// generic `roles:...` checks.
    pub roles: Vec<String>,
    /// `system_scope:...` — `Some("all")` for system-scoped tokens. When non-empty it is
    /// also visible as `system:...`, as in oslo.
    pub system_scope: Option<String>,
    /// `is_admin:True` / `is_admin:False` (rendered as Python's `str(bool)`).
    pub is_admin: bool,
    /// Any other attribute, e.g. `user_domain_id`, `project_domain_id`; a generic check
    /// whose kind is not one of the fields above looks its kind up here.
    pub extra: HashMap<String, String>,
}

impl Credentials {
    /// Whether credential attribute `attr` has a value equal to `value`.
    fn matches(&self, attr: &CredAttr, value: &str) -> bool {
        let eq = |field: &Option<String>| field.as_deref() == Some(value);
        match attr {
            CredAttr::UserId => eq(&self.user_id),
            CredAttr::ProjectId => eq(&self.project_id),
            CredAttr::DomainId => eq(&self.domain_id),
            CredAttr::Roles => self.roles.iter().any(|r| r == value),
            CredAttr::SystemScope => eq(&self.system_scope),
            CredAttr::System => self
                .system_scope
                .as_deref()
                .is_some_and(|s| !s.is_empty() && s == value),
            CredAttr::IsAdmin => value == if self.is_admin { "True" } else { "False" },
            CredAttr::Extra(name) => self.extra.get(&**name).is_some_and(|v| v == value),
        }
    }

    /// Whether the credentials hold role `role`, compared case-insensitively.
    fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| eq_ignore_case(r, role))
    }
}

/// `role:` check.
pub(crate) fn check_role(template: &Template, target: &Value, creds: &Credentials) -> bool {
    match render(template, target) {
        Some(role) => creds.has_role(&role),
        None => false,
    }
}

/// Generic `kind:value` check.
pub(crate) fn check_generic(
    kind: &Kind,
    template: &Template,
    target: &Value,
    creds: &Credentials,
) -> bool {
    let Some(value) = render(template, target) else {
        return false;
    };
    match kind {
        Kind::Literal(lit) => **lit == *value,
        Kind::Attr(attr) => creds.matches(attr, &value),
    }
}

/// Case-insensitive comparison with Python's `str.lower()` semantics (full Unicode
/// lower-casing), without allocating.
fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Expands `%(key)s` substitutions against the target; `None` if a key is missing (or
/// names a list/object, which this engine refuses to stringify).
fn render<'a>(template: &'a Template, target: &'a Value) -> Option<Cow<'a, str>> {
    match template {
        Template::Literal(s) => Some(Cow::Borrowed(s)),
        Template::Key(key) => lookup(target, key).and_then(py_str),
        Template::Mixed(pieces) => {
            let mut out = String::new();
            for piece in pieces.iter() {
                match piece {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Key(key) => out.push_str(&lookup(target, key).and_then(py_str)?),
                }
            }
            Some(Cow::Owned(out))
        }
    }
}

/// Finds `key` in the target.
///
/// oslo itself only does a flat lookup (`target["target.user.id"]`); services such as
/// Keystone flatten nested targets into such dotted keys before enforcing. This lookup
/// accepts both: the whole key as a flat key first, then, at each `.`, the part before it
/// as a key whose value is searched for the rest (so nested objects, flat dotted keys and
/// any mix of the two resolve).
pub(crate) fn lookup<'a>(target: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = target.as_object()?;
    if let Some(v) = obj.get(key) {
        return Some(v);
    }
    for (i, _) in key.match_indices('.') {
        if let Some(child) = obj.get(&key[..i]) {
            if let Some(v) = lookup(child, &key[i + 1..]) {
                return Some(v);
            }
        }
    }
    None
}

/// Python's `str()` of a JSON-decoded scalar, as `'%s' % value` would produce it.
fn py_str(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(true) => Some(Cow::Borrowed("True")),
        Value::Bool(false) => Some(Cow::Borrowed("False")),
        Value::Null => Some(Cow::Borrowed("None")),
        Value::Number(n) => Some(Cow::Owned(if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            py_float_repr(n.as_f64().unwrap_or(f64::NAN))
        })),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Python's `repr()`/`str()` of a float: shortest round-trip digits, fixed notation for
/// decimal exponents in `-4..16` (always with a fractional part), otherwise `1.5e+16`.
pub(crate) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let mut s = f.to_string();
        if !s.contains('.') {
            s.push_str(".0");
        }
        s
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn float_repr_matches_python() {
        for (f, s) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1e100, "1e+100"),
            (-2.5e20, "-2.5e+20"),
        ] {
            assert_eq!(py_float_repr(f), s, "{f}");
        }
    }

    #[test]
    fn python_str_of_json_values() {
        let v =
            json!({"s": "x", "t": true, "f": false, "n": null, "i": -3, "u": u64::MAX, "x": 2.0});
        let s = |k| py_str(&v[k]).map(Cow::into_owned);
        assert_eq!(s("s").as_deref(), Some("x"));
        assert_eq!(s("t").as_deref(), Some("True"));
        assert_eq!(s("f").as_deref(), Some("False"));
        assert_eq!(s("n").as_deref(), Some("None"));
        assert_eq!(s("i").as_deref(), Some("-3"));
        assert_eq!(s("u").as_deref(), Some("18446744073709551615"));
        assert_eq!(s("x").as_deref(), Some("2.0"));
        assert_eq!(py_str(&json!([1])), None);
        assert_eq!(py_str(&json!({})), None);
    }

    #[test]
    fn lookup_flat_nested_and_mixed() {
        let t = json!({
            "a.b.c": "flat",
            "x": {"y": {"z": "nested"}},
            "m.n": {"o": "mixed1"},
            "p": {"q.r": "mixed2"},
            "list": [{"id": "1"}],
        });
        assert_eq!(lookup(&t, "a.b.c"), Some(&json!("flat")));
        assert_eq!(lookup(&t, "x.y.z"), Some(&json!("nested")));
        assert_eq!(lookup(&t, "m.n.o"), Some(&json!("mixed1")));
        assert_eq!(lookup(&t, "p.q.r"), Some(&json!("mixed2")));
        assert_eq!(lookup(&t, "x.y"), Some(&json!({"z": "nested"})));
        assert_eq!(lookup(&t, "x.q"), None);
        assert_eq!(lookup(&t, "list.id"), None);
        assert_eq!(lookup(&json!("scalar"), "a"), None);
    }

    #[test]
    fn unicode_case_folding() {
        assert!(eq_ignore_case("Admin", "aDMIN"));
        assert!(eq_ignore_case("ÉDITEUR", "éditeur"));
        assert!(!eq_ignore_case("admin", "admins"));
    }
}

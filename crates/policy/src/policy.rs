//! The rule set: defaults from code, overrides from a policy file, linking, enforcement.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use serde_json::Value;

use crate::{
    error::{Denied, PolicyError},
    eval::{check_generic, check_role, Credentials},
    parser::{parse_rule, Expr, UNLINKED},
};

/// A parsed, linked set of named rules, ready for enforcement.
///
/// Build one with [`Policy::from_defaults`], [`Policy::load`] or [`Policy::builder`].
/// Every rule is parsed and every `rule:` reference resolved when the policy is built,
/// so enforcement never parses, never fails and does not allocate in the common case.
/// `Policy` is `Send + Sync`; share it behind an `Arc` (and swap the `Arc` to reload).
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<NamedRule>,
    by_name: HashMap<Box<str>, usize>,
}

#[derive(Debug, Clone)]
struct NamedRule {
    name: Box<str>,
    text: Box<str>,
    expr: Expr,
}

impl Policy {
    /// Starts a [`PolicyBuilder`].
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// A policy of the code defaults only: `(rule name, rule string)` pairs.
    pub fn from_defaults(defaults: &[(&str, &str)]) -> Result<Policy, PolicyError> {
        Policy::builder().defaults(defaults).build()
    }

    /// The code defaults, overridden by the YAML or JSON policy file at `policy_file` if
    /// one is given (it must then exist; see [`PolicyBuilder::file_if_exists`] otherwise).
    pub fn load(
        defaults: &[(&str, &str)],
        policy_file: Option<&Path>,
    ) -> Result<Policy, PolicyError> {
        let mut builder = Policy::builder().defaults(defaults);
        if let Some(path) = policy_file {
            builder = builder.file(path)?;
        }
        builder.build()
    }

    /// The code defaults, overridden by the file at `policy_file` when it exists (a
    /// service's start: the operator's `policy.yaml` is optional).
    pub fn load_if_exists(
        defaults: &[(&str, &str)],
        policy_file: Option<&Path>,
    ) -> Result<Policy, PolicyError> {
        let mut builder = Policy::builder().defaults(defaults);
        if let Some(path) = policy_file {
            builder = builder.file_if_exists(path)?;
        }
        builder.build()
    }

    /// Whether the rule set defines `rule`.
    pub fn contains(&self, rule: &str) -> bool {
        self.by_name.contains_key(rule)
    }

    /// The effective (possibly overridden) rule string of `rule`.
    pub fn rule_text(&self, rule: &str) -> Option<&str> {
        self.by_name.get(rule).map(|&i| &*self.rules[i].text)
    }

    /// The names of all rules, defaults first (in the order given), then rules that only
    /// the overrides define.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.rules.iter().map(|r| &*r.name)
    }

    /// Evaluates rule `rule` for `creds` acting on `target` (a JSON object whose values
    /// `%(key)s` substitutions look up). An undefined rule name yields `false`.
    pub fn enforce(&self, rule: &str, target: &Value, creds: &Credentials) -> bool {
        match self.by_name.get(rule) {
            Some(&i) => self.eval(&self.rules[i].expr, target, creds),
            None => false,
        }
    }

    /// Like [`enforce`](Self::enforce), but an undefined rule name is an error
    /// ([`Denied::UnknownRule`]) rather than a plain refusal ([`Denied::Forbidden`]).
    pub fn authorize(&self, rule: &str, target: &Value, creds: &Credentials) -> Result<(), Denied> {
        match self.by_name.get(rule) {
            Some(&i) if self.eval(&self.rules[i].expr, target, creds) => Ok(()),
            Some(_) => Err(Denied::Forbidden {
                rule: rule.to_string(),
            }),
            None => Err(Denied::UnknownRule {
                rule: rule.to_string(),
            }),
        }
    }

    /// Parses `rule_text` and evaluates it against this policy's rules (which it may
    /// reference with `rule:`). Meant for tools and tests: it parses on every call.
    pub fn check(
        &self,
        rule_text: &str,
        target: &Value,
        creds: &Credentials,
    ) -> Result<bool, PolicyError> {
        let mut expr = parse_named("<inline>", rule_text)?;
        self.link("<inline>", &mut expr)?;
        Ok(self.eval(&expr, target, creds))
    }

    fn eval(&self, expr: &Expr, target: &Value, creds: &Credentials) -> bool {
        match expr {
            Expr::Always => true,
            Expr::Never => false,
            Expr::Not(e) => !self.eval(e, target, creds),
            Expr::And(es) => es.iter().all(|e| self.eval(e, target, creds)),
            Expr::Or(es) => es.iter().any(|e| self.eval(e, target, creds)),
            // Linking guarantees the index is valid and the graph acyclic.
            Expr::Rule { index, .. } => self
                .rules
                .get(*index)
                .is_some_and(|r| self.eval(&r.expr, target, creds)),
            Expr::Role(template) => check_role(template, target, creds),
            Expr::Generic { kind, value } => check_generic(kind, value, target, creds),
        }
    }

    /// Resolves every `rule:` reference in `expr` to an index into `self.rules`.
    fn link(&self, rule: &str, expr: &mut Expr) -> Result<(), PolicyError> {
        match expr {
            Expr::Not(e) => self.link(rule, e),
            Expr::And(es) | Expr::Or(es) => es.iter_mut().try_for_each(|e| self.link(rule, e)),
            Expr::Rule { name, index } => match self.by_name.get(&**name) {
                Some(&i) => {
                    *index = i;
                    Ok(())
                }
                None => Err(PolicyError::UndefinedRule {
                    rule: rule.to_string(),
                    missing: name.to_string(),
                }),
            },
            Expr::Always | Expr::Never | Expr::Role(_) | Expr::Generic { .. } => Ok(()),
        }
    }

    /// Fails with the first cycle of `rule:` references found.
    fn check_cycles(&self) -> Result<(), PolicyError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        fn refs(expr: &Expr, out: &mut Vec<usize>) {
            match expr {
                Expr::Not(e) => refs(e, out),
                Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| refs(e, out)),
                Expr::Rule { index, .. } => out.push(*index),
                Expr::Always | Expr::Never | Expr::Role(_) | Expr::Generic { .. } => {}
            }
        }
        let edges: Vec<Vec<usize>> = self
            .rules
            .iter()
            .map(|r| {
                let mut out = Vec::new();
                refs(&r.expr, &mut out);
                out
            })
            .collect();
        let mut marks = vec![Mark::New; self.rules.len()];
        // Iterative depth-first search; `stack` holds (rule, next edge to follow).
        for root in 0..self.rules.len() {
            if marks[root] != Mark::New {
                continue;
            }
            let mut stack = vec![(root, 0usize)];
            marks[root] = Mark::Active;
            while let Some(&(node, next)) = stack.last() {
                let Some(&child) = edges[node].get(next) else {
                    marks[node] = Mark::Done;
                    stack.pop();
                    continue;
                };
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match marks[child] {
                    Mark::New => {
                        marks[child] = Mark::Active;
                        stack.push((child, 0));
                    }
                    Mark::Active => {
                        let from = stack.iter().position(|&(n, _)| n == child).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|&(n, _)| self.rules[n].name.to_string())
                            .collect();
                        cycle.push(self.rules[child].name.to_string());
                        return Err(PolicyError::Cycle { cycle });
                    }
                    Mark::Done => {}
                }
            }
        }
        Ok(())
    }
}

fn parse_named(name: &str, text: &str) -> Result<Expr, PolicyError> {
    parse_rule(text).map_err(|f| PolicyError::Parse {
        rule: name.to_string(),
        text: text.to_string(),
        position: text[..f.offset.min(text.len())].chars().count(),
        message: f.message,
    })
}

/// Assembles a [`Policy`] from code defaults and overrides, then parses, links and
/// cycle-checks it in [`build`](Self::build).
///
/// Overrides replace the default of the same name or add a new rule (usable through
/// `rule:`); later overrides win over earlier ones.
#[derive(Debug, Clone, Default)]
pub struct PolicyBuilder {
    defaults: Vec<(String, String)>,
    overrides: Vec<(String, String)>,
}

impl PolicyBuilder {
    /// Adds code defaults: `(rule name, rule string)` pairs. A name given twice across
    /// all defaults is an error at [`build`](Self::build).
    pub fn defaults(mut self, defaults: &[(&str, &str)]) -> Self {
        self.defaults.extend(
            defaults
                .iter()
                .map(|&(n, r)| (n.to_string(), r.to_string())),
        );
        self
    }

    /// Overrides one rule.
    pub fn rule(mut self, name: &str, rule: &str) -> Self {
        self.overrides.push((name.to_string(), rule.to_string()));
        self
    }

    /// Overrides rules from a YAML or JSON policy file (a mapping of rule name to rule
    /// string, as `oslopolicy-sample-generator` writes). The file must exist.
    pub fn file(self, path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.overrides_str(&text, &path.display().to_string())
    }

    /// Like [`file`](Self::file), but a missing file is not an error (oslo's behaviour
    /// for the default `policy.yaml`).
    pub fn file_if_exists(self, path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path: PathBuf = path.as_ref().to_path_buf();
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(self),
            _ => self.file(path),
        }
    }

    /// Overrides rules from YAML or JSON text; `source_name` labels errors.
    pub fn overrides_str(mut self, text: &str, source_name: &str) -> Result<Self, PolicyError> {
        self.overrides.extend(parse_policy_file(text, source_name)?);
        Ok(self)
    }

    /// Parses every rule, resolves `rule:` references and rejects cycles.
    pub fn build(self) -> Result<Policy, PolicyError> {
        let mut rules: Vec<NamedRule> = Vec::with_capacity(self.defaults.len());
        let mut by_name: HashMap<Box<str>, usize> = HashMap::with_capacity(self.defaults.len());
        for (name, text) in self.defaults {
            if by_name.contains_key(name.as_str()) {
                return Err(PolicyError::DuplicateDefault(name));
            }
            by_name.insert(name.as_str().into(), rules.len());
            rules.push(NamedRule {
                name: name.into(),
                text: text.into(),
                expr: Expr::Never,
            });
        }
        for (name, text) in self.overrides {
            match by_name.get(name.as_str()) {
                Some(&i) => rules[i].text = text.into(),
                None => {
                    by_name.insert(name.as_str().into(), rules.len());
                    rules.push(NamedRule {
                        name: name.into(),
                        text: text.into(),
                        expr: Expr::Never,
                    });
                }
            }
        }
        for rule in &mut rules {
            rule.expr = parse_named(&rule.name, &rule.text)?;
        }
        let mut policy = Policy { rules, by_name };
        for i in 0..policy.rules.len() {
            let mut expr = std::mem::replace(&mut policy.rules[i].expr, Expr::Never);
            let linked = policy.link(&policy.rules[i].name, &mut expr);
            policy.rules[i].expr = expr;
            linked?;
        }
        debug_assert!(policy.rules.iter().all(|r| !has_unlinked(&r.expr)));
        policy.check_cycles()?;
        Ok(policy)
    }
}

fn has_unlinked(expr: &Expr) -> bool {
    match expr {
        Expr::Not(e) => has_unlinked(e),
        Expr::And(es) | Expr::Or(es) => es.iter().any(has_unlinked),
        Expr::Rule { index, .. } => *index == UNLINKED,
        Expr::Always | Expr::Never | Expr::Role(_) | Expr::Generic { .. } => false,
    }
}

/// Reads a policy file: a YAML (or JSON, which is YAML) mapping of rule name to rule
/// string. An empty document means no overrides.
fn parse_policy_file(text: &str, source_name: &str) -> Result<Vec<(String, String)>, PolicyError> {
    let err = |message: String| PolicyError::File {
        source_name: source_name.to_string(),
        message,
    };
    let doc: serde_norway::Value = match serde_norway::from_str(text) {
        Ok(v) => v,
        Err(yaml_err) => {
            // JSON files indented with tabs are not valid YAML; accept them as JSON.
            if text.trim_start().starts_with('{') {
                if let Ok(json) = serde_json::from_str::<Value>(text) {
                    return json_overrides(json).map_err(err);
                }
            }
            return Err(err(yaml_err.to_string()));
        }
    };
    let map = match doc {
        serde_norway::Value::Null => return Ok(Vec::new()),
        serde_norway::Value::Mapping(m) => m,
        other => {
            return Err(err(format!(
                "expected a mapping of rule names to rules, found {}",
                yaml_type(&other)
            )))
        }
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let serde_norway::Value::String(name) = k else {
            return Err(err(format!(
                "rule names must be strings, found {}",
                yaml_type(&k)
            )));
        };
        match v {
            serde_norway::Value::String(rule) => out.push((name, rule)),
            other => return Err(err(rule_value_error(&name, yaml_type(&other)))),
        }
    }
    Ok(out)
}

fn json_overrides(json: Value) -> Result<Vec<(String, String)>, String> {
    let Value::Object(map) = json else {
        return Err("expected a mapping of rule names to rules".into());
    };
    map.into_iter()
        .map(|(name, v)| match v {
            Value::String(rule) => Ok((name, rule)),
            Value::Null => Err(rule_value_error(&name, "null")),
            Value::Array(_) => Err(rule_value_error(&name, "a sequence")),
            _ => Err(rule_value_error(&name, "a scalar that is not a string")),
        })
        .collect()
}

fn rule_value_error(name: &str, found: &str) -> String {
    match found {
        "a sequence" => format!(
            "rule {name:?}: the legacy list-of-lists form is not supported, write the rule as a string"
        ),
        _ => format!("rule {name:?}: expected a rule string, found {found} (write \"\" to always allow)"),
    }
}

fn yaml_type(v: &serde_norway::Value) -> &'static str {
    match v {
        serde_norway::Value::Null => "null",
        serde_norway::Value::Bool(_) => "a boolean",
        serde_norway::Value::Number(_) => "a number",
        serde_norway::Value::String(_) => "a string",
        serde_norway::Value::Sequence(_) => "a sequence",
        serde_norway::Value::Mapping(_) => "a mapping",
        serde_norway::Value::Tagged(_) => "a tagged value",
    }
}

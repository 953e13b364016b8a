//! Data-driven tests of the rule language and of policy loading.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

use policy::{Credentials, Denied, Policy, PolicyError};
use serde_json::{json, Value};

/// Named rules that the inline checks below may reference.
const BASE: &[(&str, &str)] = &[
    ("admin_required", "role:admin or is_admin:True"),
    ("owner", "user_id:%(user_id)s"),
    ("admin_or_owner", "rule:admin_required or rule:owner"),
    ("always", "@"),
    ("never", "!"),
    ("empty", ""),
];

fn base() -> Policy {
    Policy::from_defaults(BASE).expect("base policy builds")
}

fn creds(roles: &[&str]) -> Credentials {
    Credentials {
        user_id: Some("u1".into()),
        project_id: Some("p1".into()),
        domain_id: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..Default::default()
    }
}

/// Evaluates `rule` inline and compares with `expected`, naming the case on failure.
fn check(rule: &str, creds: &Credentials, target: &Value, expected: bool) {
    let got = base()
        .check(rule, target, creds)
        .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
    assert_eq!(
        got, expected,
        "rule {rule:?} creds {creds:?} target {target}"
    );
}

#[test]
fn constants_and_empty_rule() {
    let c = creds(&[]);
    let t = json!({});
    for (rule, expected) in [
        ("@", true),
        ("!", false),
        ("", true),
        ("(@)", true),
        ("not @", false),
        ("not !", true),
        ("rule:always", true),
        ("rule:never", false),
        ("rule:empty", true),
    ] {
        check(rule, &c, &t, expected);
    }
}

#[test]
fn role_checks_are_case_insensitive() {
    let t = json!({"role": {"name": "Reader"}, "target.role.name": "MEMBER"});
    for (roles, rule, expected) in [
        (&["admin"][..], "role:admin", true),
        (&["Admin"][..], "role:admin", true),
        (&["admin"][..], "role:ADMIN", true),
        (&["ÉDITEUR"][..], "role:éditeur", true),
        (&["member"][..], "role:admin", false),
        (&[][..], "role:admin", false),
        (&["admins"][..], "role:admin", false),
        (&["reader"][..], "role:%(role.name)s", true),
        (&["member"][..], "role:%(target.role.name)s", true),
        (&["member"][..], "role:%(missing)s", false),
        // Generic `roles:` checks compare exactly, as oslo's GenericCheck does.
        (&["admin"][..], "roles:admin", true),
        (&["Admin"][..], "roles:admin", false),
    ] {
        check(rule, &creds(roles), &t, expected);
    }
}

#[test]
fn credential_attributes() {
    let mut c = creds(&["member"]);
    c.domain_id = Some("d1".into());
    c.system_scope = Some("all".into());
    c.extra.insert("user_domain_id".into(), "ud".into());
    c.extra.insert("project_domain_id".into(), "pd".into());
    let t = json!({});
    for (rule, expected) in [
        ("user_id:u1", true),
        ("user_id:u2", false),
        ("project_id:p1", true),
        ("domain_id:d1", true),
        ("system_scope:all", true),
        ("system:all", true),
        ("system_scope:none", false),
        ("is_admin:True", false),
        ("is_admin:False", true),
        ("is_admin:false", false),
        ("user_domain_id:ud", true),
        ("project_domain_id:pd", true),
        ("project_domain_id:ud", false),
        ("unknown_attr:x", false),
        // rule names and `rule:` are case-sensitive kinds; `Role` is a (missing) attribute
        ("Role:member", false),
    ] {
        check(rule, &c, &t, expected);
    }

    let admin = Credentials {
        is_admin: true,
        ..Default::default()
    };
    check("is_admin:True", &admin, &t, true);
    check("rule:admin_required", &admin, &t, true);

    // Unset attributes never match, not even a target value of None/null.
    let unscoped = Credentials::default();
    check(
        "project_id:%(project_id)s",
        &unscoped,
        &json!({"project_id": null}),
        false,
    );
    check("system_scope:all", &unscoped, &t, false);
    check("system:all", &unscoped, &t, false);
    let empty_scope = Credentials {
        system_scope: Some(String::new()),
        ..Default::default()
    };
    check("system_scope:", &empty_scope, &t, true);
    check("system:", &empty_scope, &t, false);
}

#[test]
fn target_substitution() {
    let c = creds(&["member"]);
    let t = json!({
        "project_id": "p1",
        "user_id": "u1",
        "target.user.id": "u1",
        "target": {"project": {"domain_id": "d1", "id": "p1"}, "user": {"id": "nested"}},
        "owner": {"project.id": "p1"},
        "count": 20,
        "enabled": true,
        "disabled": false,
        "nothing": null,
        "ratio": 1.0,
        "list": ["p1"],
        "obj": {"a": 1},
        "tag": "x-p1",
    });
    let mut dc = c.clone();
    dc.domain_id = Some("d1".into());
    for (creds, rule, expected) in [
        (&c, "project_id:%(project_id)s", true),
        (&c, "user_id:%(user_id)s", true),
        // Flat dotted key wins over the nested object (oslo's behaviour).
        (&c, "user_id:%(target.user.id)s", true),
        (&c, "project_id:%(target.project.id)s", true),
        (&dc, "domain_id:%(target.project.domain_id)s", true),
        (&c, "domain_id:%(target.project.domain_id)s", false),
        (&c, "project_id:%(owner.project.id)s", true),
        (&c, "project_id:%(missing)s", false),
        (&c, "project_id:%(target.missing.id)s", false),
        (&c, "not project_id:%(missing)s", true),
        (&c, "project_id:%(list)s", false),
        (&c, "project_id:%(obj)s", false),
        (&c, "project_id:%(obj.a)s", false),
        (&c, "'x-p1':%(tag)s", true),
        (&c, "'x-p1':x-%(project_id)s", true),
        (&c, "'x-%(project_id)s':x-%(project_id)s", false),
        (&c, "'50%':50%%", true),
        // Python literals on the left, compared with str() of the target value.
        (&c, "True:%(enabled)s", true),
        (&c, "True:%(disabled)s", false),
        (&c, "False:%(disabled)s", true),
        (&c, "None:%(nothing)s", true),
        (&c, "20:%(count)s", true),
        (&c, "'20':%(count)s", true),
        (&c, "1.0:%(ratio)s", true),
        (&c, "'member':%(role.name)s", false),
        (&c, "\"p1\":%(project_id)s", true),
        (&c, "'p1':p1", true),
        (&c, "'p1':p2", false),
    ] {
        check(rule, creds, &t, expected);
    }
    let role_target = json!({"role": {"name": "member"}});
    check("'member':%(role.name)s", &c, &role_target, true);
    check("'Member':%(role.name)s", &c, &role_target, false);
    // A target that is not an object substitutes nothing.
    check("project_id:%(project_id)s", &c, &json!("p1"), false);
    check("project_id:p1", &c, &Value::Null, true);
}

/// The expected truth value of a rule over roles `a`, `b` and `c`.
type Truth = fn(bool, bool, bool) -> bool;

/// Truth tables over three role checks pin down precedence and grouping.
// The expectations transcribe each rule literally, redundancies included.
#[allow(clippy::nonminimal_bool, clippy::overly_complex_bool_expr)]
#[test]
fn operators_and_precedence() {
    let t = json!({});
    let cases: &[(&str, Truth)] = &[
        ("role:a and role:b", |a, b, _| a && b),
        ("role:a or role:b", |a, b, _| a || b),
        ("not role:a", |a, _, _| !a),
        ("not not role:a", |a, _, _| a),
        ("role:a or role:b and role:c", |a, b, c| a || (b && c)),
        ("role:a and role:b or role:c", |a, b, c| (a && b) || c),
        ("(role:a or role:b) and role:c", |a, b, c| (a || b) && c),
        ("role:a and (role:b or role:c)", |a, b, c| a && (b || c)),
        ("not role:a and role:b", |a, b, _| !a && b),
        ("not role:a or role:b", |a, b, _| !a || b),
        ("not (role:a or role:b)", |a, b, _| !(a || b)),
        ("role:a or not role:b and role:c", |a, b, c| a || (!b && c)),
        ("role:a or role:b and role:c and role:a", |a, b, c| {
            a || (b && c && a)
        }),
        ("role:a and role:b or role:c and role:a", |a, b, c| {
            (a && b) || (c && a)
        }),
        ("role:a or (role:b and role:c) and not role:a", |a, b, c| {
            a || (b && c && !a)
        }),
        ("role:a or (role:b or role:c) and role:a", |a, b, c| {
            a || ((b || c) && a)
        }),
        ("((role:a))", |a, _, _| a),
        ("( role:a or role:b ) and ( not role:c )", |a, b, c| {
            (a || b) && !c
        }),
        ("role:a AND role:b OR NOT role:c", |a, b, c| (a && b) || !c),
        ("role:a\tand\nrole:b", |a, b, _| a && b),
    ];
    for &(rule, expected) in cases {
        for bits in 0..8u8 {
            let (a, b, c) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
            let roles: Vec<&str> = [("a", a), ("b", b), ("c", c)]
                .iter()
                .filter(|(_, on)| *on)
                .map(|(r, _)| *r)
                .collect();
            check(rule, &creds(&roles), &t, expected(a, b, c));
        }
    }
}

#[test]
fn rule_references() {
    let t = json!({"user_id": "u1"});
    check("rule:admin_or_owner", &creds(&[]), &t, true);
    check(
        "rule:admin_or_owner",
        &creds(&[]),
        &json!({"user_id": "u2"}),
        false,
    );
    check(
        "rule:admin_or_owner",
        &creds(&["admin"]),
        &json!({"user_id": "u2"}),
        true,
    );
    check(
        "not rule:admin_required and rule:owner",
        &creds(&[]),
        &t,
        true,
    );
}

#[test]
fn enforce_and_authorize() {
    let p = Policy::from_defaults(&[
        ("admin_required", "role:admin"),
        (
            "identity:get_project",
            "rule:admin_required or project_id:%(target.project.id)s",
        ),
    ])
    .unwrap();
    let c = creds(&["reader"]);
    let own = json!({"target": {"project": {"id": "p1"}}});
    let other = json!({"target": {"project": {"id": "p2"}}});
    assert!(p.enforce("identity:get_project", &own, &c));
    assert!(!p.enforce("identity:get_project", &other, &c));
    assert!(!p.enforce("no_such_rule", &own, &c));
    assert_eq!(p.authorize("identity:get_project", &own, &c), Ok(()));
    let forbidden = p.authorize("identity:get_project", &other, &c).unwrap_err();
    assert_eq!(
        forbidden,
        Denied::Forbidden {
            rule: "identity:get_project".into()
        }
    );
    assert_eq!(
        forbidden.to_string(),
        "identity:get_project is disallowed by policy"
    );
    assert_eq!(
        p.authorize("no_such_rule", &own, &c),
        Err(Denied::UnknownRule {
            rule: "no_such_rule".into()
        })
    );
    assert!(p.contains("admin_required"));
    assert!(!p.contains("no_such_rule"));
    assert_eq!(p.rule_text("admin_required"), Some("role:admin"));
    assert_eq!(
        p.names().collect::<Vec<_>>(),
        ["admin_required", "identity:get_project"]
    );
}

/// Expected parse failures: rule text, 0-based character position, message fragment.
#[test]
fn parse_errors_name_rule_and_position() {
    let cases: &[(&str, usize, &str)] = &[
        ("role:a and", 10, "unexpected end"),
        ("and role:a", 0, "expected a check, found 'and'"),
        ("role:a role:b", 7, "expected 'and' or 'or'"),
        ("role:a or or role:b", 10, "found 'or'"),
        ("(role:a", 0, "never closed"),
        ("role:a)", 6, "unbalanced ')'"),
        ("()", 1, "found ')'"),
        ("admin", 0, "not of the form kind:value"),
        ("role:a and admin", 11, "not of the form kind:value"),
        (":x", 0, "empty kind"),
        ("rule:", 5, "without a rule name"),
        ("'quoted'", 0, "quoted string"),
        ("   ", 0, "blank"),
        ("http://example.com/check", 0, "not supported"),
        ("project_id:%(project_id)d", 24, "followed by 's'"),
        ("role:a and project_id:50%", 24, "stray '%'"),
        ("project_id:%(project_id", 11, "unterminated"),
        ("é and role:a or x", 0, "not of the form"),
        ("role:é or x", 10, "not of the form"),
        ("'abc:x", 0, "unterminated string literal"),
    ];
    for &(text, position, fragment) in cases {
        let err = Policy::from_defaults(&[("my_rule", text)]).unwrap_err();
        match &err {
            PolicyError::Parse {
                rule,
                text: t,
                position: p,
                message,
            } => {
                assert_eq!(rule, "my_rule", "{text:?}");
                assert_eq!(t, text);
                assert_eq!(*p, position, "{text:?}: {message}");
                assert!(
                    message.contains(fragment),
                    "{text:?}: {message:?} lacks {fragment:?}"
                );
            }
            other => panic!("{text:?}: expected a parse error, got {other:?}"),
        }
        let shown = err.to_string();
        assert!(
            shown.contains("my_rule") && shown.contains(&format!("position {position}")),
            "{shown}"
        );
    }
    // Nesting is bounded rather than overflowing the stack.
    let deep = format!("{}role:a{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(matches!(
        Policy::from_defaults(&[("deep", &deep)]),
        Err(PolicyError::Parse { .. })
    ));
    let nots = format!("{}role:a", "not ".repeat(10_000));
    assert!(matches!(
        Policy::from_defaults(&[("nots", &nots)]),
        Err(PolicyError::Parse { .. })
    ));
    // Within the limit is fine.
    let ok = format!("{}role:a{}", "(".repeat(50), ")".repeat(50));
    assert!(Policy::from_defaults(&[("ok", &ok)]).is_ok());
}

#[test]
fn undefined_references_and_duplicates() {
    let err = Policy::from_defaults(&[("a", "role:x or rule:nope")]).unwrap_err();
    assert!(
        matches!(&err, PolicyError::UndefinedRule { rule, missing } if rule == "a" && missing == "nope"),
        "{err:?}"
    );
    let err = Policy::from_defaults(&[("a", "@"), ("a", "!")]).unwrap_err();
    assert!(
        matches!(&err, PolicyError::DuplicateDefault(n) if n == "a"),
        "{err:?}"
    );
    // Inline checks are linked too.
    assert!(matches!(
        base().check("rule:nope", &json!({}), &creds(&[])),
        Err(PolicyError::UndefinedRule { .. })
    ));
}

#[test]
fn cycles_are_rejected_at_load() {
    let cycle_of = |rules: &[(&str, &str)]| match Policy::from_defaults(rules) {
        Err(PolicyError::Cycle { cycle }) => cycle,
        other => panic!("expected a cycle, got {other:?}"),
    };
    assert_eq!(cycle_of(&[("a", "rule:a")]), ["a", "a"]);
    assert_eq!(
        cycle_of(&[("a", "rule:b"), ("b", "not rule:a")]),
        ["a", "b", "a"]
    );
    assert_eq!(
        cycle_of(&[
            ("x", "@"),
            ("a", "rule:x and (rule:b or role:r)"),
            ("b", "rule:c"),
            ("c", "rule:x or rule:b")
        ]),
        ["b", "c", "b"]
    );
    // Shared references without a cycle (a diamond) are fine.
    assert!(Policy::from_defaults(&[
        ("base", "role:r"),
        ("l", "rule:base"),
        ("r", "rule:base"),
        ("top", "rule:l and rule:r"),
    ])
    .is_ok());
    // A cycle introduced by an override is caught too.
    let err = Policy::builder()
        .defaults(&[("a", "rule:b"), ("b", "@")])
        .rule("b", "rule:a")
        .build()
        .unwrap_err();
    assert!(matches!(err, PolicyError::Cycle { .. }), "{err:?}");
    assert!(err.to_string().contains("a -> b -> a"), "{err}");
}

/// A temporary file removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(ext: &str, contents: &str) -> TempFile {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "oxistack-policy-test-{}-{}.{ext}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, contents).expect("write temp policy file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const DEFAULTS: &[(&str, &str)] = &[
    ("admin_required", "role:admin"),
    (
        "identity:get_user",
        "rule:admin_required or user_id:%(target.user.id)s",
    ),
    ("identity:delete_user", "rule:admin_required"),
];

#[test]
fn yaml_file_overrides_defaults() {
    let file = TempFile::new(
        "yaml",
        "# operator overrides\n\
         \"identity:delete_user\": \"rule:admin_required or rule:cloud_manager\"\n\
         cloud_manager: role:manager and system_scope:all\n\
         'identity:get_user': ''\n",
    );
    let p = Policy::load(DEFAULTS, Some(&file.0)).unwrap();
    let manager = Credentials {
        roles: vec!["Manager".into()],
        system_scope: Some("all".into()),
        ..Default::default()
    };
    let t = json!({});
    assert!(p.enforce("identity:delete_user", &t, &manager));
    assert!(!p.enforce("identity:delete_user", &t, &creds(&["member"])));
    assert!(p.enforce("identity:get_user", &t, &creds(&[])));
    assert!(p.enforce("cloud_manager", &t, &manager));
    assert_eq!(p.rule_text("admin_required"), Some("role:admin"));
    assert_eq!(
        p.names().collect::<Vec<_>>(),
        [
            "admin_required",
            "identity:get_user",
            "identity:delete_user",
            "cloud_manager"
        ]
    );
    // Without a file: defaults only.
    let d = Policy::load(DEFAULTS, None).unwrap();
    assert!(!d.enforce("identity:get_user", &t, &creds(&[])));
}

#[test]
fn json_policy_files_load() {
    let file = TempFile::new(
        "json",
        "{\n\t\"identity:get_user\": \"!\",\n\t\"extra\": \"role:x\"\n}\n",
    );
    let p = Policy::load(DEFAULTS, Some(&file.0)).unwrap();
    assert!(!p.enforce("identity:get_user", &json!({}), &creds(&["admin"])));
    assert!(p.contains("extra"));
    let spaced = TempFile::new("json", r#"{"identity:get_user": "role:reader"}"#);
    let p = Policy::load(DEFAULTS, Some(&spaced.0)).unwrap();
    assert!(p.enforce("identity:get_user", &json!({}), &creds(&["READER"])));
}

#[test]
fn empty_and_missing_files() {
    for text in ["", "# nothing overridden\n", "---\n"] {
        let file = TempFile::new("yaml", text);
        let p = Policy::load(DEFAULTS, Some(&file.0)).unwrap();
        assert_eq!(
            p.rule_text("identity:delete_user"),
            Some("rule:admin_required")
        );
    }
    let missing = std::env::temp_dir().join("oxistack-policy-test-does-not-exist.yaml");
    assert!(matches!(
        Policy::load(DEFAULTS, Some(&missing)),
        Err(PolicyError::Io { .. })
    ));
    let p = Policy::builder()
        .defaults(DEFAULTS)
        .file_if_exists(&missing)
        .unwrap()
        .build()
        .unwrap();
    assert!(p.contains("identity:get_user"));
}

#[test]
fn bad_policy_files_are_errors() {
    for (text, fragment) in [
        ("- a\n- b\n", "expected a mapping"),
        ("a: [[\"role:x\"]]\n", "list-of-lists"),
        ("a:\n", "found null"),
        ("a: 3\n", "found a number"),
        ("a: true\n", "found a boolean"),
        ("1: role:x\n", "rule names must be strings"),
        ("a: role:x\na: role:y\n", "duplicate"),
        ("a: 'unterminated\n", ""),
        ("{\"a\": 1}", "found a number"),
        ("{\n\t\"a\": 1\n}", "a number"),
    ] {
        let err = Policy::builder()
            .overrides_str(text, "test.yaml")
            .map(|b| b.build());
        match err {
            Err(PolicyError::File {
                source_name,
                message,
            }) => {
                assert_eq!(source_name, "test.yaml");
                assert!(message.contains(fragment), "{text:?}: {message:?}");
            }
            other => panic!("{text:?}: expected a file error, got {other:?}"),
        }
    }
    // A file rule that doesn't parse names the rule.
    let file = TempFile::new("yaml", "identity:get_user: role:admin or\n");
    match Policy::load(DEFAULTS, Some(&file.0)) {
        Err(PolicyError::Parse { rule, position, .. }) => {
            assert_eq!(rule, "identity:get_user");
            assert_eq!(position, 13);
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn later_overrides_win() {
    let p = Policy::builder()
        .defaults(DEFAULTS)
        .overrides_str("admin_required: role:one\n", "first")
        .unwrap()
        .rule("admin_required", "role:two")
        .build()
        .unwrap();
    assert_eq!(p.rule_text("admin_required"), Some("role:two"));
    assert!(p.enforce("identity:delete_user", &json!({}), &creds(&["two"])));
}

#[test]
fn policy_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<Credentials>();
}

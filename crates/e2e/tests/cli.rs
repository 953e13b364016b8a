//! Identity flows driven by the unmodified `openstack` CLI against the real binary, on
//! SQLite and on PostgreSQL.

use e2e::{on_every_engine, Cloud, Engine, ADMIN, DEMO};
use serde_json::Value;

on_every_engine!(
    tokens_catalog_endpoints_regions,
    project_lifecycle,
    domains_users_groups_roles,
    application_credentials,
    member_is_refused_admin_operations,
    revoked_token_fails_validation,
    disabled_user_cannot_authenticate,
    user_changes_own_password,
    images_upload_download_delete,
);

/// The value of `key` in `v` as a string ("" when absent or not a string).
fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The `key` column of every row of a list output.
fn column(rows: &Value, key: &str) -> Vec<String> {
    rows.as_array()
        .unwrap_or_else(|| panic!("not a list: {rows}"))
        .iter()
        .map(|r| s(r, key).to_owned())
        .collect()
}

/// Fails unless the client reported this HTTP status.
#[track_caller]
fn assert_http_error(out: &e2e::CmdOutput, code: u16) {
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&format!("HTTP {code}"))
            || text.contains(&format!("{code}:"))
            || text.contains(&format!("({code})")),
        "expected HTTP {code}:\n{out}"
    );
}

fn tokens_catalog_endpoints_regions(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };

    // the version documents keystoneauth discovers
    let root = c.http("GET", "/", &[], None);
    assert_eq!(root.status, 300, "{root}");
    assert!(
        root.header("x-openstack-request-id")
            .is_some_and(|v| v.starts_with("req-")),
        "{root}"
    );
    let v3 = c.http("GET", "/v3", &[], None).json();
    assert_eq!(v3["version"]["status"], "stable", "{v3}");

    let admin = c.os_json(ADMIN, &["token", "issue"]);
    for k in ["id", "expires", "project_id", "user_id"] {
        assert!(
            !s(&admin, k).is_empty(),
            "token issue shows no {k}: {admin}"
        );
    }
    let demo = c.os_json(DEMO, &["token", "issue"]);
    assert_ne!(s(&demo, "user_id"), s(&admin, "user_id"));
    assert_ne!(s(&demo, "project_id"), s(&admin, "project_id"));
    // the admin token is valid, carries the admin role, and names the admin user
    let r = c.validate(s(&admin, "id"), s(&demo, "id"));
    assert_eq!(r.status, 200, "{r}");
    let tok = r.json();
    assert_eq!(tok["token"]["user"]["name"], "demo", "{tok}");
    assert_eq!(tok["token"]["project"]["name"], "demo", "{tok}");

    // domain- and system-scoped tokens
    let url = c.auth_url();
    // `=`: a generated password may begin with `-`, which argparse takes for an option
    let pw = format!("--os-password={}", c.password("admin"));
    let scoped = |scope: &[&str]| {
        let mut a = vec!["--os-auth-url", &url, "--os-username", "admin", &pw];
        a.extend_from_slice(&["--os-user-domain-name", "Default"]);
        a.extend_from_slice(scope);
        a.extend_from_slice(&["token", "issue", "-f", "json"]);
        let out = c.openstack(&a);
        assert!(out.success(), "{out}");
        out.json()
    };
    let d = scoped(&["--os-domain-name", "Default"]);
    assert_eq!(s(&d, "domain_id"), "default", "{d}");
    let sys = scoped(&["--os-system-scope", "all"]);
    assert_eq!(s(&sys, "system"), "all", "{sys}");

    // the openrc files work as well as clouds.yaml
    let rc = c.bash("source ./openrc-demo && openstack token issue -f value -c user_id");
    assert!(rc.success(), "{rc}");
    assert_eq!(rc.stdout.trim(), s(&demo, "user_id"), "{rc}");

    let catalog = c.os_json(ADMIN, &["catalog", "list"]);
    let identity = catalog
        .as_array()
        .and_then(|a| a.iter().find(|e| s(e, "Type") == "identity"))
        .unwrap_or_else(|| panic!("no identity service in the catalog: {catalog}"));
    assert_eq!(s(identity, "Name"), "keystone", "{catalog}");
    let eps = identity["Endpoints"]
        .as_array()
        .unwrap_or_else(|| panic!("{catalog}"));
    assert!(
        eps.iter()
            .any(|e| s(e, "interface") == "public" && s(e, "url") == c.auth_url()),
        "no public identity endpoint {} in {catalog}",
        c.auth_url()
    );

    // every service of the process is in the catalog, each with its three interfaces
    let image = c.os_json(ADMIN, &["catalog", "show", "image"]);
    assert_eq!(s(&image, "name"), "glance", "{image}");
    let image_url = format!("http://127.0.0.1:{}", c.image_port);
    assert!(
        image.to_string().contains(&image_url),
        "no image endpoint {image_url} in {image}"
    );

    let endpoints = c.os_json(ADMIN, &["endpoint", "list", "--service", "identity"]);
    let mut ifaces = column(&endpoints, "Interface");
    ifaces.sort();
    assert_eq!(ifaces, ["admin", "internal", "public"], "{endpoints}");
    for e in endpoints.as_array().unwrap() {
        assert_eq!(s(e, "Service Type"), "identity", "{endpoints}");
        assert_eq!(s(e, "URL"), c.auth_url(), "{endpoints}");
        assert_eq!(s(e, "Region"), "RegionOne", "{endpoints}");
    }
    let all = c.os_json(ADMIN, &["endpoint", "list"]);
    let mut seen: Vec<(String, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                s(e, "Service Type").to_owned(),
                s(e, "Interface").to_owned(),
            )
        })
        .collect();
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "duplicate endpoints: {all}");
    let public = c.os_json(
        ADMIN,
        &[
            "endpoint",
            "list",
            "--service",
            "identity",
            "--interface",
            "public",
        ],
    );
    assert_eq!(column(&public, "Interface"), ["public"], "{public}");

    let regions = c.os_json(ADMIN, &["region", "list"]);
    assert_eq!(column(&regions, "Region"), ["RegionOne"], "{regions}");
}

fn project_lifecycle(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };

    let p = c.os_json(
        ADMIN,
        &[
            "project",
            "create",
            "--description",
            "first words",
            "--property",
            "colour=blue",
            "e2e-p1",
        ],
    );
    let id = s(&p, "id").to_owned();
    assert_eq!(
        (s(&p, "name"), s(&p, "description")),
        ("e2e-p1", "first words"),
        "{p}"
    );
    assert_eq!(
        (p["enabled"].as_bool(), s(&p, "domain_id")),
        (Some(true), "default"),
        "{p}"
    );

    let list = c.os_json(ADMIN, &["project", "list"]);
    let names = column(&list, "Name");
    for want in ["admin", "demo", "e2e-p1"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {list}"
        );
    }
    // a second project with the same name in the same domain is a conflict
    let dup = c.os_err(ADMIN, &["project", "create", "e2e-p1"]);
    assert_http_error(&dup, 409);

    let shown = c.os_json(ADMIN, &["project", "show", "e2e-p1"]);
    assert_eq!(s(&shown, "id"), id, "{shown}");
    assert_eq!(s(&shown, "colour"), "blue", "extra property lost: {shown}");

    c.os(
        ADMIN,
        &[
            "project",
            "set",
            "--description",
            "second words",
            "--disable",
            "--name",
            "e2e-p1b",
            &id,
        ],
    );
    let shown = c.os_json(ADMIN, &["project", "show", &id]);
    assert_eq!(
        (s(&shown, "name"), s(&shown, "description")),
        ("e2e-p1b", "second words"),
        "{shown}"
    );
    assert_eq!(shown["enabled"].as_bool(), Some(false), "{shown}");
    let disabled = c.os_json(ADMIN, &["project", "list", "--disabled"]);
    assert_eq!(column(&disabled, "Name"), ["e2e-p1b"], "{disabled}");

    c.os(ADMIN, &["project", "delete", "e2e-p1b"]);
    let gone = c.os_err(ADMIN, &["project", "show", &id]);
    assert!(gone.stderr.contains(&id), "{gone}");
    let r = c.http(
        "GET",
        &format!("/v3/projects/{id}"),
        &[(
            "X-Auth-Token",
            &c.issue_token("admin", &c.password("admin"), "admin"),
        )],
        None,
    );
    assert_eq!(r.status, 404, "{r}");
    let list = c.os_json(ADMIN, &["project", "list"]);
    assert!(
        !column(&list, "ID").contains(&id),
        "deleted project still listed: {list}"
    );
}

fn domains_users_groups_roles(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };

    let d = c.os_json(
        ADMIN,
        &["domain", "create", "--description", "e2e domain", "e2e-dom"],
    );
    let dom_id = s(&d, "id").to_owned();
    assert_eq!(
        (s(&d, "name"), d["enabled"].as_bool()),
        ("e2e-dom", Some(true)),
        "{d}"
    );
    let domains = c.os_json(ADMIN, &["domain", "list"]);
    let names = column(&domains, "Name");
    assert!(
        names.contains(&"Default".to_owned()) && names.contains(&"e2e-dom".to_owned()),
        "{domains}"
    );

    let p = c.os_json(
        ADMIN,
        &["project", "create", "--domain", "e2e-dom", "e2e-proj"],
    );
    assert_eq!(s(&p, "domain_id"), dom_id, "{p}");
    let u = c.os_json(
        ADMIN,
        &[
            "user",
            "create",
            "--domain",
            "e2e-dom",
            "--password",
            "alice-pw-1",
            "--email",
            "alice@example.org",
            "alice",
        ],
    );
    let alice = s(&u, "id").to_owned();
    assert_eq!(
        (s(&u, "domain_id"), s(&u, "email")),
        (dom_id.as_str(), "alice@example.org"),
        "{u}"
    );
    assert!(u.get("password").is_none(), "the password is shown: {u}");

    // no role yet: a project-scoped token is refused
    let alice_auth = [
        "--os-username",
        "alice",
        "--os-password",
        "alice-pw-1",
        "--os-user-domain-name",
        "e2e-dom",
        "--os-project-name",
        "e2e-proj",
        "--os-project-domain-name",
        "e2e-dom",
    ];
    let mut cmd = alice_auth.to_vec();
    cmd.extend_from_slice(&["token", "issue"]);
    let refused = c.os_err(DEMO, &cmd);
    assert_http_error(&refused, 401);

    c.os(
        ADMIN,
        &[
            "role",
            "add",
            "--user",
            "alice",
            "--user-domain",
            "e2e-dom",
            "--project",
            "e2e-proj",
            "--project-domain",
            "e2e-dom",
            "member",
        ],
    );
    let a = c.os_json(
        ADMIN,
        &[
            "role",
            "assignment",
            "list",
            "--names",
            "--user",
            "alice",
            "--user-domain",
            "e2e-dom",
        ],
    );
    let rows = a.as_array().unwrap_or_else(|| panic!("{a}"));
    assert_eq!(rows.len(), 1, "{a}");
    assert_eq!(
        (
            s(&rows[0], "Role"),
            s(&rows[0], "User"),
            s(&rows[0], "Project")
        ),
        ("member", "alice@e2e-dom", "e2e-proj@e2e-dom"),
        "{a}"
    );

    // now alice gets a token scoped to her project
    cmd.extend_from_slice(&["-f", "json"]);
    let t = c.os_cmd(DEMO, &cmd);
    assert!(t.success(), "{t}");
    let t = t.json();
    assert_eq!(
        (s(&t, "user_id"), s(&t, "project_id")),
        (alice.as_str(), s(&p, "id")),
        "{t}"
    );

    // groups: a role through a group shows up in the effective assignments
    let g = c.os_json(
        ADMIN,
        &[
            "group",
            "create",
            "--domain",
            "e2e-dom",
            "--description",
            "readers",
            "e2e-group",
        ],
    );
    assert_eq!(s(&g, "domain_id"), dom_id, "{g}");
    c.os(
        ADMIN,
        &[
            "group",
            "add",
            "user",
            "--group-domain",
            "e2e-dom",
            "--user-domain",
            "e2e-dom",
            "e2e-group",
            "alice",
        ],
    );
    let contains = c.os(
        ADMIN,
        &[
            "group",
            "contains",
            "user",
            "--group-domain",
            "e2e-dom",
            "--user-domain",
            "e2e-dom",
            "e2e-group",
            "alice",
        ],
    );
    assert!(contains.contains("alice in group e2e-group"), "{contains}");
    // (osc passes --domain to the group lookup as a domain_id unresolved, so give the id)
    let members = c.os_json(
        ADMIN,
        &["user", "list", "--group", "e2e-group", "--domain", &dom_id],
    );
    assert_eq!(column(&members, "Name"), ["alice"], "{members}");
    c.os(
        ADMIN,
        &[
            "role",
            "add",
            "--group",
            "e2e-group",
            "--group-domain",
            "e2e-dom",
            "--project",
            "e2e-proj",
            "--project-domain",
            "e2e-dom",
            "reader",
        ],
    );
    let eff = c.os_json(
        ADMIN,
        &[
            "role",
            "assignment",
            "list",
            "--names",
            "--effective",
            "--user",
            "alice",
            "--user-domain",
            "e2e-dom",
        ],
    );
    let mut roles = column(&eff, "Role");
    roles.sort();
    assert_eq!(roles, ["member", "reader"], "{eff}");

    // a domain is deleted once disabled
    let busy = c.os_err(ADMIN, &["domain", "delete", "e2e-dom"]);
    assert_http_error(&busy, 403);
    c.os(ADMIN, &["domain", "set", "--disable", "e2e-dom"]);
    c.os(ADMIN, &["domain", "delete", "e2e-dom"]);
    let domains = c.os_json(ADMIN, &["domain", "list"]);
    assert!(
        !column(&domains, "Name").contains(&"e2e-dom".to_owned()),
        "{domains}"
    );
}

fn application_credentials(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };

    let ac = c.os_json(
        DEMO,
        &[
            "application",
            "credential",
            "create",
            "--description",
            "for ci",
            "e2e-ac",
        ],
    );
    let (id, secret) = (s(&ac, "ID").to_owned(), s(&ac, "Secret").to_owned());
    assert!(!id.is_empty() && !secret.is_empty(), "{ac}");
    let listed = c.os_json(DEMO, &["application", "credential", "list"]);
    assert_eq!(column(&listed, "Name"), ["e2e-ac"], "{listed}");
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is listed: {listed}"
    );

    let demo = c.os_json(DEMO, &["token", "issue"]);
    let url = c.auth_url();
    let with = |secret: &str| {
        // `=`: a secret may begin with `-`, which argparse would take for an option
        let secret = format!("--os-application-credential-secret={secret}");
        c.openstack(&[
            "--os-auth-url",
            &url,
            "--os-auth-type",
            "v3applicationcredential",
            "--os-application-credential-id",
            &id,
            &secret,
            "token",
            "issue",
            "-f",
            "json",
        ])
    };
    let t = with(&secret);
    assert!(
        t.success(),
        "authentication with the application credential failed:\n{t}"
    );
    let t = t.json();
    assert_eq!(s(&t, "user_id"), s(&demo, "user_id"), "{t}");
    assert_eq!(s(&t, "project_id"), s(&demo, "project_id"), "{t}");
    // the token is limited to the credential's roles and tells so
    let v = c.validate(s(&t, "id"), s(&t, "id"));
    assert_eq!(v.status, 200, "{v}");
    assert_eq!(
        v.json()["token"]["application_credential"]["id"],
        id.as_str(),
        "{v}"
    );

    let wrong = with("not-the-secret");
    assert!(!wrong.success(), "a wrong secret was accepted:\n{wrong}");
    assert_http_error(&wrong, 401);

    c.os(DEMO, &["application", "credential", "delete", "e2e-ac"]);
    let gone = with(&secret);
    assert!(
        !gone.success(),
        "a deleted application credential was accepted:\n{gone}"
    );
    assert_http_error(&gone, 401);
    // and its tokens died with it
    let v = c.validate(s(&demo, "id"), s(&t, "id"));
    assert_eq!(
        v.status, 404,
        "a token of a deleted application credential validates: {v}"
    );
}

fn member_is_refused_admin_operations(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };

    let out = c.os_err(DEMO, &["project", "create", "e2e-evil"]);
    assert_http_error(&out, 403);
    let out = c.os_err(
        DEMO,
        &["user", "create", "--password", "x-pw-1", "e2e-evil-user"],
    );
    assert_http_error(&out, 403);
    // (osc 10 exits 0 after a refused `role add`, so the server's answer is checked raw)
    let _ = c.os_cmd(
        DEMO,
        &[
            "role",
            "add",
            "--user",
            "demo",
            "--project",
            "demo",
            "admin",
        ],
    );
    let admin = c.issue_token("admin", &c.password("admin"), "admin");
    let demo_token = c.issue_token("demo", &c.password("demo"), "demo");
    let id_of = |path: &str, key: &str, name: &str| -> String {
        let r = c.http(
            "GET",
            &format!("{path}?name={name}"),
            &[("X-Auth-Token", &admin)],
            None,
        );
        r.json()[key][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {r}"))
            .to_owned()
    };
    let (project, user, role) = (
        id_of("/v3/projects", "projects", "demo"),
        id_of("/v3/users", "users", "demo"),
        id_of("/v3/roles", "roles", "admin"),
    );
    let r = c.http(
        "PUT",
        &format!("/v3/projects/{project}/users/{user}/roles/{role}"),
        &[("X-Auth-Token", &demo_token)],
        None,
    );
    assert_eq!(r.status, 403, "a member granted itself admin: {r}");
    let out = c.os_err(DEMO, &["domain", "create", "e2e-evil-domain"]);
    assert_http_error(&out, 403);

    // nothing was created, and demo still has only its own role
    let projects = c.os_json(ADMIN, &["project", "list"]);
    assert!(
        !column(&projects, "Name").contains(&"e2e-evil".to_owned()),
        "{projects}"
    );
    let users = c.os_json(ADMIN, &["user", "list"]);
    assert!(
        !column(&users, "Name").contains(&"e2e-evil-user".to_owned()),
        "{users}"
    );
    let roles = c.os_json(
        ADMIN,
        &["role", "assignment", "list", "--names", "--user", "demo"],
    );
    assert!(
        !column(&roles, "Role").contains(&"admin".to_owned()),
        "{roles}"
    );

    // what a member may do: see its own projects
    let mine = c.os_json(DEMO, &["project", "list", "--my-projects"]);
    assert_eq!(column(&mine, "Name"), ["demo"], "{mine}");
}

fn revoked_token_fails_validation(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };

    let admin = c.os_json(ADMIN, &["token", "issue"]);
    let victim = c.os_json(ADMIN, &["token", "issue"]);
    let (admin, victim) = (s(&admin, "id").to_owned(), s(&victim, "id").to_owned());
    assert_eq!(c.validate(&admin, &victim).status, 200);

    c.os(ADMIN, &["token", "revoke", &victim]);
    let r = c.validate(&admin, &victim);
    assert_eq!(r.status, 404, "a revoked token validates: {r}");
    assert_eq!(r.json()["error"]["code"], 404, "{r}");
    // the revoked token no longer authenticates anything
    let r = c.http("GET", "/v3/projects", &[("X-Auth-Token", &victim)], None);
    assert_eq!(r.status, 401, "a revoked token was accepted: {r}");
    let url = c.auth_url();
    let out = c.openstack(&[
        "--os-auth-url",
        &url,
        "--os-auth-type",
        "token",
        "--os-token",
        &victim,
        "--os-project-name",
        "admin",
        "--os-project-domain-name",
        "Default",
        "project",
        "list",
    ]);
    assert!(
        !out.success(),
        "a revoked token was accepted by the CLI:\n{out}"
    );
    // the token that revoked it is unharmed
    assert_eq!(c.validate(&admin, &admin).status, 200);

    // a member revokes its own token
    let demo = c.os_json(DEMO, &["token", "issue"]);
    let demo = s(&demo, "id").to_owned();
    let demo2 = c.os_json(DEMO, &["token", "issue"]);
    let r = c.http(
        "DELETE",
        "/v3/auth/tokens",
        &[
            ("X-Auth-Token", s(&demo2, "id")),
            ("X-Subject-Token", &demo),
        ],
        None,
    );
    assert_eq!(r.status, 204, "{r}");
    assert_eq!(c.validate(&admin, &demo).status, 404);
}

fn disabled_user_cannot_authenticate(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };

    c.os(
        ADMIN,
        &["user", "create", "--password", "bob-pw-1", "e2e-bob"],
    );
    c.os(
        ADMIN,
        &[
            "role",
            "add",
            "--user",
            "e2e-bob",
            "--project",
            "demo",
            "member",
        ],
    );
    let bob = [
        "--os-username",
        "e2e-bob",
        "--os-password",
        "bob-pw-1",
        "token",
        "issue",
    ];
    let before = c.os_json(DEMO, &bob);
    let admin = c.issue_token("admin", &c.password("admin"), "admin");
    assert_eq!(c.validate(&admin, s(&before, "id")).status, 200);

    c.os(ADMIN, &["user", "set", "--disable", "e2e-bob"]);
    let shown = c.os_json(ADMIN, &["user", "show", "e2e-bob"]);
    assert_eq!(shown["enabled"].as_bool(), Some(false), "{shown}");
    let out = c.os_err(DEMO, &bob);
    assert_http_error(&out, 401);
    let r = c.validate(&admin, s(&before, "id"));
    assert_eq!(r.status, 404, "a token of a disabled user validates: {r}");

    c.os(ADMIN, &["user", "set", "--enable", "e2e-bob"]);
    let after = c.os_json(DEMO, &bob);
    assert_eq!(s(&after, "user_id"), s(&before, "user_id"));
    // enabling again does not bring back the tokens of before
    assert_eq!(c.validate(&admin, s(&before, "id")).status, 404);
}

fn user_changes_own_password(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };

    c.os(
        ADMIN,
        &["user", "create", "--password", "carol-old-1", "e2e-carol"],
    );
    c.os(
        ADMIN,
        &[
            "role",
            "add",
            "--user",
            "e2e-carol",
            "--project",
            "demo",
            "member",
        ],
    );
    let as_carol = |pw: &str, rest: &[&str]| {
        let mut a = vec!["--os-username", "e2e-carol", "--os-password", pw];
        a.extend_from_slice(rest);
        c.os_cmd(DEMO, &a)
    };
    let old_token = as_carol(
        "carol-old-1",
        &["token", "issue", "-f", "value", "-c", "id"],
    );
    assert!(old_token.success(), "{old_token}");

    // a wrong original password is refused
    let wrong = as_carol(
        "carol-old-1",
        &[
            "user",
            "password",
            "set",
            "--original-password",
            "nope",
            "--password",
            "carol-new-2",
        ],
    );
    assert!(
        !wrong.success(),
        "a wrong original password was accepted:\n{wrong}"
    );
    assert_http_error(&wrong, 401);

    let set = as_carol(
        "carol-old-1",
        &[
            "user",
            "password",
            "set",
            "--original-password",
            "carol-old-1",
            "--password",
            "carol-new-2",
        ],
    );
    assert!(set.success(), "{set}");

    let old = as_carol("carol-old-1", &["token", "issue"]);
    assert!(!old.success(), "the old password still works:\n{old}");
    assert_http_error(&old, 401);
    let new = as_carol("carol-new-2", &["token", "issue", "-f", "json"]);
    assert!(new.success(), "the new password does not work:\n{new}");
    // Keystone revokes the user's tokens on a password change
    let admin = c.issue_token("admin", &c.password("admin"), "admin");
    let r = c.validate(&admin, old_token.stdout.trim());
    assert_eq!(
        r.status, 404,
        "a token from before the password change validates: {r}"
    );
}

fn images_upload_download_delete(engine: Engine) {
    let Some(mut c) = Cloud::new(engine) else {
        return;
    };
    c.with_test_image();
    c.up();

    // `up` registers the test image as the public image cirros (in the background)
    let admin = c.issue_token("admin", &c.password("admin"), "admin");
    let started = std::time::Instant::now();
    loop {
        let r = e2e::http(
            c.image_port,
            "GET",
            "/v2/images?name=cirros",
            &[("X-Auth-Token", &admin)],
            None,
        )
        .expect("GET /v2/images");
        if r.status == 200 && r.json()["images"][0]["status"] == "active" {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "cirros is not active after 5 minutes: {r}\n{}",
            c.server_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let list = c.os_json(DEMO, &["image", "list"]);
    let cirros = list
        .as_array()
        .and_then(|a| a.iter().find(|i| s(i, "Name") == "cirros"))
        .unwrap_or_else(|| panic!("demo does not see cirros: {list}"));
    assert_eq!(s(cirros, "Status"), "active", "{list}");
    let shown = c.os_json(DEMO, &["image", "show", "cirros"]);
    assert_eq!(
        (s(&shown, "disk_format"), s(&shown, "visibility")),
        ("qcow2", "public"),
        "{shown}"
    );

    // a member uploads, downloads and deletes its own image
    let blob: Vec<u8> = (0..300_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect();
    let file = c.dir().join("blob.raw");
    std::fs::write(&file, &blob).expect("write blob");
    let path = file.display().to_string();
    let img = c.os_json(
        DEMO,
        &[
            "image",
            "create",
            "--file",
            &path,
            "--disk-format",
            "raw",
            "--container-format",
            "bare",
            "--property",
            "e2e=yes",
            "e2e-img",
        ],
    );
    assert_eq!(
        (s(&img, "status"), img["size"].as_u64()),
        ("active", Some(blob.len() as u64)),
        "{img}"
    );
    c.os(DEMO, &["image", "set", "--tag", "e2e-tag", "e2e-img"]);
    let shown = c.os_json(DEMO, &["image", "show", "e2e-img"]);
    assert!(shown["tags"].to_string().contains("e2e-tag"), "{shown}");
    assert!(
        shown.to_string().contains("\"e2e\":\"yes\""),
        "property lost: {shown}"
    );
    let back = c.dir().join("back.raw");
    c.os(
        DEMO,
        &[
            "image",
            "save",
            "--file",
            &back.display().to_string(),
            "e2e-img",
        ],
    );
    assert!(
        std::fs::read(&back).expect("read back") == blob,
        "downloaded data differs from the upload"
    );

    // a member may not delete the public image of the admin project
    let out = c.os_err(DEMO, &["image", "delete", "cirros"]);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("cirros"),
        "{out}"
    );
    let still = c.os_json(ADMIN, &["image", "show", "cirros"]);
    assert_eq!(s(&still, "status"), "active", "{still}");

    c.os(DEMO, &["image", "delete", "e2e-img"]);
    let list = c.os_json(DEMO, &["image", "list"]);
    assert!(
        !column(&list, "Name").contains(&"e2e-img".to_owned()),
        "{list}"
    );
    c.stop();
}

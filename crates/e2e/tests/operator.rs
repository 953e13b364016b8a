//! What an operator does: restart the cloud on its data, run `oxistack manage ...`, and
//! drive it from openstacksdk. On SQLite and on PostgreSQL.

use e2e::{on_every_engine, Cloud, Engine, ADMIN, DEMO};
use serde_json::Value;

on_every_engine!(
    second_up_reuses_everything,
    manage_db_status_and_key_rotation,
    serve_after_manage_bootstrap,
    openstacksdk_works,
    image_node_validates_tokens_remotely,
);

/// `GET <path>` as `token`, which must answer 200; the body.
#[track_caller]
fn get(c: &Cloud, token: &str, path: &str) -> Value {
    let r = c.http("GET", path, &[("X-Auth-Token", token)], None);
    assert_eq!(r.status, 200, "GET {path}: {r}");
    r.json()
}

/// The sorted `name` (or `id`) of each entry of a collection.
fn names(v: &Value, key: &str) -> Vec<String> {
    let mut n: Vec<String> = v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .iter()
        .map(|e| {
            e.get("name")
                .or_else(|| e.get("id"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    n.sort();
    n
}

fn second_up_reuses_everything(engine: Engine) {
    let Some(mut c) = Cloud::start(engine) else {
        return;
    };

    let admin_pw = c.password("admin");
    let demo_pw = c.password("demo");
    let clouds = c.read_data_file("clouds.yaml");
    let openrc = c.read_data_file("openrc");
    assert!(
        clouds.contains(&admin_pw) && clouds.contains(&c.auth_url()),
        "{clouds}"
    );
    assert!(
        openrc.contains(&format!("OS_AUTH_URL={}", c.auth_url())),
        "{openrc}"
    );

    let token = c.os_json(ADMIN, &["token", "issue"])["id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let project = c.os_json(ADMIN, &["project", "create", "e2e-before-restart"]);
    let snapshot = |c: &Cloud, t: &str| {
        [
            names(&get(c, t, "/v3/projects"), "projects"),
            names(&get(c, t, "/v3/users"), "users"),
            names(&get(c, t, "/v3/roles"), "roles"),
            names(&get(c, t, "/v3/domains"), "domains"),
            names(&get(c, t, "/v3/regions"), "regions"),
            names(&get(c, t, "/v3/services"), "services"),
            names(&get(c, t, "/v3/endpoints"), "endpoints"),
            names(&get(c, t, "/v3/role_assignments"), "role_assignments"),
        ]
    };
    let before = snapshot(&c, &token);

    c.stop();
    c.up();

    // the same passwords and client files, nothing bootstrapped twice
    assert_eq!(c.password("admin"), admin_pw);
    assert_eq!(c.password("demo"), demo_pw);
    assert_eq!(c.read_data_file("clouds.yaml"), clouds);
    assert_eq!(c.read_data_file("openrc"), openrc);
    // a token from before the restart is still valid: the keys persisted
    let r = c.validate(&token, &token);
    assert_eq!(
        r.status, 200,
        "a token from before the restart does not validate: {r}"
    );
    assert_eq!(r.json()["token"]["user"]["name"], "admin", "{r}");
    let after = snapshot(&c, &token);
    assert_eq!(before, after, "the second `oxistack up` changed the data");

    let shown = c.os_json(ADMIN, &["project", "show", "e2e-before-restart"]);
    assert_eq!(shown["id"], project["id"], "{shown}");
    let demo = c.os_json(DEMO, &["token", "issue"]);
    assert!(demo["id"].as_str().is_some_and(|t| !t.is_empty()), "{demo}");
    c.stop();
}

fn manage_db_status_and_key_rotation(engine: Engine) {
    let Some(mut c) = Cloud::new(engine) else {
        return;
    };
    c.configure();

    // `db sync` on a new deployment, then again: nothing to do, same answer
    let first = c.manage(&["db", "sync"]);
    assert!(first.success(), "{first}");
    assert!(first.stdout.contains("identity: schema version"), "{first}");
    let second = c.manage(&["db", "sync"]);
    assert!(second.success(), "{second}");
    assert_eq!(first.stdout, second.stdout, "db sync is not idempotent");
    let version = c.manage(&["db", "version"]);
    assert!(
        version.success() && version.stdout == first.stdout,
        "{version}"
    );

    c.up();
    let check = c.manage(&["status", "upgrade-check"]);
    assert!(
        check.success(),
        "upgrade-check failed on a fresh cloud:\n{check}"
    );
    assert!(
        check.stdout.contains("Success") && !check.stdout.contains("Failure"),
        "{check}"
    );
    // db sync against a running cloud is harmless too
    let third = c.manage(&["db", "sync"]);
    assert!(third.success() && third.stdout == first.stdout, "{third}");

    let admin_pw = c.password("admin");
    let old = c.issue_token("admin", &admin_pw, "admin");
    let keys_before = std::fs::read_dir(c.data_dir.join("fernet-keys"))
        .map(|d| d.count())
        .unwrap_or(0);

    // rotate while running: tokens of before still validate
    let rot = c.manage(&["fernet", "rotate"]);
    assert!(rot.success(), "{rot}");
    let keys_after = std::fs::read_dir(c.data_dir.join("fernet-keys"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        keys_after,
        keys_before + 1,
        "rotation did not add a key:\n{rot}"
    );
    let r = c.validate(&old, &old);
    assert_eq!(
        r.status, 200,
        "a token from before the rotation does not validate: {r}"
    );

    // and after a restart, which loads the rotated keys
    c.stop();
    c.up();
    let r = c.validate(&old, &old);
    assert_eq!(
        r.status, 200,
        "a token from before the rotation does not validate after a restart: {r}"
    );
    let new = c.issue_token("admin", &admin_pw, "admin");
    assert_eq!(c.validate(&old, &new).status, 200);
    let check = c.manage(&["status", "upgrade-check"]);
    assert!(check.success(), "{check}");
    let t = c.os_json(ADMIN, &["token", "issue"]);
    assert!(t["id"].as_str().is_some_and(|t| !t.is_empty()), "{t}");
    c.stop();
}

/// The many-machines way: `manage db sync` + `manage bootstrap`, then `serve --role`.
fn serve_after_manage_bootstrap(engine: Engine) {
    let Some(mut c) = Cloud::new(engine) else {
        return;
    };
    c.configure();
    let sync = c.manage(&["db", "sync"]);
    assert!(sync.success(), "{sync}");
    let boot = c.manage(&["bootstrap"]);
    assert!(boot.success(), "{boot}");
    let admin_pw = c.password("admin");
    // bootstrap is idempotent
    let again = c.manage(&["bootstrap"]);
    assert!(again.success(), "{again}");
    assert_eq!(c.password("admin"), admin_pw);

    c.serve("identity");
    let t = c.os_json(ADMIN, &["token", "issue"]);
    assert!(t["id"].as_str().is_some_and(|t| !t.is_empty()), "{t}");
    let endpoints = c.os_json(ADMIN, &["endpoint", "list", "--service", "identity"]);
    assert_eq!(
        endpoints.as_array().map(Vec::len),
        Some(3),
        "bootstrap twice duplicated endpoints: {endpoints}"
    );
    let demo = c.os_json(DEMO, &["project", "list", "--my-projects"]);
    assert_eq!(demo[0]["Name"], "demo", "{demo}");
    c.stop();
}

const SDK_SCRIPT: &str = r#"
import sys
import openstack
from openstack import exceptions

conn = openstack.connect(cloud='oxistack-admin')
projects = sorted(p.name for p in conn.identity.projects())
assert 'admin' in projects and 'demo' in projects, projects
assert conn.identity.find_project('demo') is not None

user = conn.identity.create_user(name='e2e-sdk-user', password='sdk-pass-1', domain_id='default', description='from the sdk')
assert conn.identity.get_user(user.id).name == 'e2e-sdk-user'
member = conn.identity.find_role('member')
demo = conn.identity.find_project('demo')
conn.identity.assign_project_role_to_user(demo, user, member)
assert conn.identity.validate_user_has_project_role(demo, user, member)

# the new user logs in through the sdk too
as_user = openstack.connect(auth_url=conn.auth['auth_url'], username='e2e-sdk-user', password='sdk-pass-1',
                            user_domain_id='default', project_name='demo', project_domain_id='default')
assert as_user.current_project_id == demo.id, (as_user.current_project_id, demo.id)
assert as_user.current_user_id == user.id

conn.identity.delete_user(user)
assert conn.identity.find_user('e2e-sdk-user') is None

services = [s.type for s in conn.identity.services()]
assert 'identity' in services, services
identity_service = conn.identity.find_service('keystone')
endpoints = list(conn.identity.endpoints(service_id=identity_service.id))
assert len(endpoints) == 3, endpoints
assert [r.id for r in conn.identity.regions()] == ['RegionOne']

member_conn = openstack.connect(cloud='oxistack-demo')
try:
    member_conn.identity.create_project(name='e2e-sdk-evil')
    sys.exit('a member created a project')
except exceptions.ForbiddenException:
    pass
assert conn.identity.find_project('e2e-sdk-evil') is None
from openstack import version as sdk_version
print('openstacksdk ok:', sdk_version.__version__)
"#;

fn openstacksdk_works(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };
    let out = c.python(SDK_SCRIPT);
    assert!(
        out.success() && out.stdout.contains("openstacksdk ok"),
        "{out}"
    );
}

/// Two processes of one cloud over one PostgreSQL database (`up` plus `serve --role
/// identity` on the same data directory, so the same keys): what one does, the other
/// sees; a token revoked on one is refused by the other within seconds, even when the
/// other has it cached.
#[test]
fn postgres_two_nodes_share_one_database() {
    let Some(mut c) = Cloud::new(Engine::Postgres) else {
        return;
    };
    c.up();
    let node = c.add_node("identity");
    let admin_pw = c.password("admin");
    let admin = c.issue_token("admin", &admin_pw, "admin");

    // a token issued by one node is valid on the other
    let body = serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": admin_pw}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
    }});
    let r = node.http("POST", "/v3/auth/tokens", &[], Some(&body));
    assert_eq!(r.status, 201, "{r}");
    let victim = r
        .header("x-subject-token")
        .expect("X-Subject-Token")
        .to_owned();
    assert_eq!(c.validate(&admin, &victim).status, 200);
    let v = |t: &str| {
        node.http(
            "GET",
            "/v3/auth/tokens",
            &[("X-Auth-Token", &admin), ("X-Subject-Token", t)],
            None,
        )
    };
    assert_eq!(v(&victim).status, 200, "{}", v(&victim));

    // a write on one node is read on the other
    let p = c.http(
        "POST",
        "/v3/projects",
        &[("X-Auth-Token", &admin)],
        Some(&serde_json::json!({"project": {"name": "e2e-two-nodes"}})),
    );
    assert_eq!(p.status, 201, "{p}");
    let pid = p.json()["project"]["id"].as_str().unwrap_or("").to_owned();
    let r = node.http(
        "GET",
        &format!("/v3/projects/{pid}"),
        &[("X-Auth-Token", &admin)],
        None,
    );
    assert_eq!(r.status, 200, "{r}");

    // revoked on the first node, refused by the second (which validated it before)
    let r = c.http(
        "DELETE",
        "/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", &victim)],
        None,
    );
    assert_eq!(r.status, 204, "{r}");
    assert_eq!(c.validate(&admin, &victim).status, 404);
    let started = std::time::Instant::now();
    loop {
        let r = v(&victim);
        if r.status == 404 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(12),
            "the other node still accepts a token revoked {:?} ago: {r}",
            started.elapsed()
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let r = node.http("GET", "/v3/projects", &[("X-Auth-Token", &victim)], None);
    assert_eq!(r.status, 401, "{r}");
    drop(node);
    c.stop();
}

/// `serve --role image` without identity in its process validates user tokens by asking
/// the identity service as the `[service_auth]` user: a valid token is served, a bad or
/// revoked one is refused.
fn image_node_validates_tokens_remotely(engine: Engine) {
    let Some(c) = Cloud::start(engine) else {
        return;
    };
    let node = c.add_image_node();
    let demo = c.issue_token("demo", &c.password("demo"), "demo");
    let r = node.http("GET", "/v2/images", &[("X-Auth-Token", &demo)], None);
    assert_eq!(r.status, 200, "{r}");
    assert!(r.json()["images"].is_array(), "{r}");
    let r = node.http(
        "GET",
        "/v2/images",
        &[("X-Auth-Token", "not-a-token")],
        None,
    );
    assert_eq!(r.status, 401, "{r}");
    // A token revoked at identity is refused once the node's short cache (10 s) lapses.
    let admin = c.issue_token("admin", &c.password("admin"), "admin");
    let victim = c.issue_token("demo", &c.password("demo"), "demo");
    assert_eq!(
        node.http("GET", "/v2/images", &[("X-Auth-Token", &victim)], None)
            .status,
        200
    );
    let r = c.http(
        "DELETE",
        "/v3/auth/tokens",
        &[("X-Auth-Token", &admin), ("X-Subject-Token", &victim)],
        None,
    );
    assert_eq!(r.status, 204, "{r}");
    let started = std::time::Instant::now();
    while node
        .http("GET", "/v2/images", &[("X-Auth-Token", &victim)], None)
        .status
        != 401
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "revoked token still accepted"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    drop(node);
}

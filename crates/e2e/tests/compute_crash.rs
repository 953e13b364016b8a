//! `kill -9` of `oxistack up` in the middle of boots, resizes and deletes (the fake
//! driver), then `oxistack up` again: every server converges (no server stays in a
//! task, no BUILD left), and what Placement and the Networking service hold matches
//! the servers exactly: an allocation of its flavor and a port for each live server
//! (both flavors while a resize awaits its confirmation), nothing for a server in
//! ERROR or deleted. Each phase kills at several moments after the requests were
//! accepted, so the kill lands at different steps of the sagas; wherever it lands,
//! the checks are the same.

use std::{
    thread,
    time::{Duration, Instant},
};

use e2e::{http, on_every_engine, Cloud, Engine};
use serde_json::{json, Value};

on_every_engine!(kill_during_boots_resizes_and_deletes);

/// Servers per round; the kill comes this long after the last request was accepted.
const SERVERS: usize = 6;
const KILL_AFTER_MS: &[u64] = &[0, 60, 250];

struct Api<'a> {
    c: &'a Cloud,
    admin: String,
    demo: String,
}

impl Api<'_> {
    fn new(c: &Cloud) -> Api<'_> {
        Api {
            admin: c.issue_token("admin", &c.password("admin"), "admin"),
            demo: c.issue_token("demo", &c.password("demo"), "demo"),
            c,
        }
    }

    #[track_caller]
    fn call(
        &self,
        token: &str,
        port: u16,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let r = http(
            port,
            method,
            path,
            &[
                ("X-Auth-Token", token),
                ("OpenStack-API-Version", "compute 2.79, placement 1.28"),
            ],
            body,
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.c.server_log()));
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    }

    fn compute(&self, token: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call(
            token,
            self.c.compute_port,
            method,
            &format!("/v2.1{path}"),
            body,
        )
    }

    fn placement(&self, path: &str) -> Value {
        let (code, v) = self.call(&self.admin, self.c.placement_port, "GET", path, None);
        assert_eq!(code, 200, "GET {path}: {v}");
        v
    }

    fn network(&self, path: &str) -> Value {
        let (code, v) = self.call(&self.admin, self.c.network_port, "GET", path, None);
        assert_eq!(code, 200, "GET {path}: {v}");
        v
    }

    /// Every server of the demo project, in detail (deleted ones are not listed).
    fn servers(&self) -> Vec<Value> {
        let (code, v) = self.compute(&self.demo, "GET", "/servers/detail", None);
        assert_eq!(code, 200, "{v}");
        v["servers"].as_array().cloned().unwrap_or_default()
    }

    /// Boot `n` servers in one request (`min_count`), on `private`.
    fn boot(&self, name: &str, n: usize) {
        let (code, v) = self.compute(
            &self.demo,
            "POST",
            "/servers",
            Some(&json!({"server": {
                "name": name, "imageRef": image_id(self), "flavorRef": "1",
                "networks": [{"uuid": network_id(self, "private")}],
                "min_count": n, "max_count": n,
            }})),
        );
        assert_eq!(code, 202, "{v}");
    }
}

fn image_id(api: &Api) -> String {
    let (_, v) = api.call(
        &api.admin,
        api.c.image_port,
        "GET",
        "/v2/images?name=crash-img",
        None,
    );
    v["images"][0]["id"].as_str().expect("the image").to_owned()
}

fn network_id(api: &Api, name: &str) -> String {
    let v = api.network(&format!("/v2.0/networks?name={name}"));
    v["networks"][0]["id"]
        .as_str()
        .expect("the network")
        .to_owned()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// Wait until no server is in BUILD or has a task (the cloud converged).
fn converge(api: &Api, what: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = api.servers();
        let busy: Vec<String> = list
            .iter()
            .filter(|v| s(v, "status") == "BUILD" || !v["OS-EXT-STS:task_state"].is_null())
            .map(|v| {
                format!(
                    "{} {} {}",
                    s(v, "name"),
                    s(v, "status"),
                    v["OS-EXT-STS:task_state"]
                )
            })
            .collect();
        if busy.is_empty() {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still busy after the restart: {busy:?}\n{}",
            api.c.server_log()
        );
        thread::sleep(Duration::from_millis(250));
    }
}

/// What Placement and the Networking service hold matches the servers exactly.
fn consistent(api: &Api, what: &str) {
    let servers = converge(api, what);
    let mut want = (0, 0, 0);
    let ports = api.network("/v2.0/ports");
    let ports = ports["ports"].as_array().unwrap();
    for v in &servers {
        let id = s(v, "id");
        let status = s(v, "status");
        let allocs = api.placement(&format!("/allocations/{id}"));
        let held = allocs["allocations"]
            .as_object()
            .map(|m| m.len())
            .unwrap_or(0);
        let mine: Vec<&Value> = ports.iter().filter(|p| s(p, "device_id") == id).collect();
        match status {
            "ERROR" => {
                assert_eq!(
                    held, 0,
                    "{what}: an ERROR server holds an allocation: {v} {allocs}"
                );
                assert!(mine.is_empty(), "{what}: an ERROR server keeps ports: {v}");
            }
            "ACTIVE" | "SHUTOFF" | "VERIFY_RESIZE" => {
                assert_eq!(
                    held, 1,
                    "{what}: {status} server {id}'s allocation: {allocs}"
                );
                assert_eq!(
                    mine.len(),
                    1,
                    "{what}: {status} server {id}'s ports: {mine:?}"
                );
                // the flavor as the server shows it (2.47+: embedded)
                let f = &v["flavor"];
                want.0 += f["vcpus"].as_i64().unwrap_or_default();
                want.1 += f["ram"].as_i64().unwrap_or_default();
                want.2 += f["disk"].as_i64().unwrap_or_default();
            }
            other => panic!("{what}: server {id} ended {other}: {v}"),
        }
    }
    // no port of a server that is not there any more
    let live: Vec<&str> = servers.iter().map(|v| s(v, "id")).collect();
    let stray: Vec<&Value> = ports
        .iter()
        .filter(|p| {
            s(p, "device_owner").starts_with("compute:") && !live.contains(&s(p, "device_id"))
        })
        .collect();
    assert!(stray.is_empty(), "{what}: ports of no server: {stray:?}");
    // the usages on the providers: the live servers' flavors (and the migrations')
    let rps = api.placement("/resource_providers");
    let mut used = (0, 0, 0);
    for rp in rps["resource_providers"].as_array().unwrap() {
        let u = api.placement(&format!("/resource_providers/{}/usages", s(rp, "uuid")));
        let u = &u["usages"];
        used.0 += u["VCPU"].as_i64().unwrap_or(0);
        used.1 += u["MEMORY_MB"].as_i64().unwrap_or(0);
        used.2 += u["DISK_GB"].as_i64().unwrap_or(0);
    }
    // while a resize awaits its confirmation, the old flavor is held besides (by the
    // migration)
    let migrating = servers
        .iter()
        .filter(|v| s(v, "status") == "VERIFY_RESIZE")
        .count();
    if migrating == 0 {
        assert_eq!(
            used, want,
            "{what}: Placement's usages are not the servers' flavors"
        );
    } else {
        assert!(
            used.0 >= want.0 && used.1 >= want.1 && used.2 >= want.2,
            "{what}: usages {used:?} below the servers' {want:?}"
        );
    }
    eprintln!(
        "{what}: {} servers ({}), usages {used:?}",
        servers.len(),
        servers
            .iter()
            .map(|v| s(v, "status"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// What the servers were doing when the kill came.
fn snapshot(api: &Api) -> String {
    api.servers()
        .iter()
        .map(|v| {
            format!(
                "{}/{}",
                s(v, "status"),
                v["OS-EXT-STS:task_state"].as_str().unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn kill_during_boots_resizes_and_deletes(engine: Engine) {
    let Some(mut c) = Cloud::start(engine) else {
        return;
    };
    c.public_image("crash-img", &[0u8; 4096], &[]);
    for (round, wait) in KILL_AFTER_MS.iter().enumerate() {
        // boots
        {
            let api = Api::new(&c);
            api.boot(&format!("boot{round}"), SERVERS);
            thread::sleep(Duration::from_millis(*wait));
            eprintln!("killed {wait} ms into the boots: {}", snapshot(&api));
        }
        c.kill();
        c.up();
        let api = Api::new(&c);
        consistent(&api, &format!("round {round}, boots"));

        // resizes of what is ACTIVE
        let active: Vec<String> = api
            .servers()
            .iter()
            .filter(|v| s(v, "status") == "ACTIVE")
            .map(|v| s(v, "id").to_owned())
            .collect();
        for id in &active {
            let (code, v) = api.compute(
                &api.demo,
                "POST",
                &format!("/servers/{id}/action"),
                Some(&json!({"resize": {"flavorRef": "2"}})),
            );
            assert_eq!(code, 202, "{v}");
        }
        thread::sleep(Duration::from_millis(*wait));
        eprintln!("killed {wait} ms into the resizes: {}", snapshot(&api));
        drop(api);
        c.kill();
        c.up();
        let api = Api::new(&c);
        consistent(&api, &format!("round {round}, resizes"));
        for v in api.servers() {
            if s(&v, "status") == "VERIFY_RESIZE" {
                let (code, r) = api.compute(
                    &api.demo,
                    "POST",
                    &format!("/servers/{}/action", s(&v, "id")),
                    Some(&json!({"confirmResize": null})),
                );
                assert_eq!(code, 204, "{r}");
            }
        }
        consistent(&api, &format!("round {round}, confirmed"));

        // deletes of everything
        for v in api.servers() {
            let (code, r) = api.compute(
                &api.demo,
                "DELETE",
                &format!("/servers/{}", s(&v, "id")),
                None,
            );
            assert_eq!(code, 204, "{r}");
        }
        thread::sleep(Duration::from_millis(*wait));
        eprintln!("killed {wait} ms into the deletes: {}", snapshot(&api));
        drop(api);
        c.kill();
        c.up();
        let api = Api::new(&c);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !api.servers().is_empty() {
            assert!(
                Instant::now() < deadline,
                "deletes did not finish: {}",
                snapshot(&api)
            );
            thread::sleep(Duration::from_millis(250));
        }
        consistent(&api, &format!("round {round}, deletes"));
    }
    c.stop();
}

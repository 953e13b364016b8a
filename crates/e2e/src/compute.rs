//! What the tests of real guests share: waiting for a state, SSH into a guest from a
//! namespace, and the check that a deleted server left nothing on its host.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    netns::{self, Netns},
    network::s,
    Cloud, CmdOutput, ADMIN, DEMO,
};

/// Wait until `f` gives a value (or fail after `within`, with the last miss).
#[track_caller]
pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("{what}: not within {within:?}: {e}"),
            Err(_) => thread::sleep(Duration::from_secs(1)),
        }
    }
}

/// Run `cmd` on the guest at `ip` over SSH as root with `key`, the client started by
/// the command `enter` (which puts it in a network namespace that reaches the guest:
/// `ip netns exec <ns>` for one of the test's, `nsenter -t <pid> -n` for one a
/// process of an agent runs in).
pub fn ssh(enter: &str, key: &Path, ip: &str, cmd: &str) -> Result<String, String> {
    let out = netns::sh(&format!(
        "{enter} timeout 30 ssh -F /dev/null -i {} -o BatchMode=yes \
         -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=8 \
         -o LogLevel=ERROR root@{ip} {}",
        key.display(),
        netns::shell_quote(cmd)
    ));
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(out.to_string())
    }
}

/// The server's port ids.
pub fn port_ids(c: &Cloud, server: &str) -> Vec<String> {
    c.os_json(ADMIN, &["port", "list", "--device-id", server])
        .as_array()
        .unwrap_or_else(|| panic!("no port list for {server}"))
        .iter()
        .map(|p| s(p, "ID").to_owned())
        .collect()
}

/// Check that nothing of `server` is left (waiting up to `within`): no process in the
/// host namespace carrying its id (QEMU), no tap of its `ports`, no port, no guest
/// directory under `instances`, no allocation.
#[track_caller]
pub fn nothing_left(
    c: &Cloud,
    host: &Netns,
    instances: &Path,
    server: &str,
    ports: &[String],
    within: Duration,
) {
    wait_for(&format!("nothing of {server} is left"), within, || {
        let pids = host.sh(&format!(
            "for p in $(ip netns pids {}); do tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null; echo; done",
            host.name
        ));
        if let Some(l) = pids.stdout.lines().find(|l| l.contains(server)) {
            return Err(format!("a process of it runs: {l}"));
        }
        for p in ports {
            let tap = dataplane::names::tap(p);
            if host.sh(&format!("ip link show {tap}")).success() {
                return Err(format!("its tap {tap} is there"));
            }
        }
        let left = port_ids(c, server);
        if !left.is_empty() {
            return Err(format!("its ports {left:?} are there"));
        }
        let dir = instances.join(server);
        if dir.exists() {
            return Err(format!("{} is there", dir.display()));
        }
        let alloc = c.os_cmd(
            ADMIN,
            &[
                "--os-placement-api-version",
                "1.28",
                "resource",
                "provider",
                "allocation",
                "show",
                server,
                "-f",
                "json",
            ],
        );
        if !alloc.success() || alloc.json() != Value::Array(Vec::new()) {
            return Err(format!("its allocation: {alloc}"));
        }
        Ok(())
    });
}

/// The server's console (as `cloud` sees it), once it shows `marker` (waiting up to
/// `within`).
#[track_caller]
pub fn console_with(c: &Cloud, cloud: &str, id: &str, marker: &str, within: Duration) -> String {
    wait_for(
        &format!("the console of {id} shows {marker}"),
        within,
        || {
            let log = c.os(cloud, &["console", "log", "show", id]);
            if log.contains(marker) {
                Ok(log)
            } else {
                Err(log.lines().rev().take(5).collect::<Vec<_>>().join(" | "))
            }
        },
    )
}

/// `keypair create <name>` as `cloud`: the private key (printed once), kept in the
/// test's directory for `ssh -i`; its path.
#[track_caller]
pub fn keypair(c: &Cloud, cloud: &str, name: &str) -> PathBuf {
    let private = c.os(cloud, &["keypair", "create", name]);
    assert!(private.contains("PRIVATE KEY"), "{private}");
    let key = c.dir().join(format!("{name}.pem"));
    fs::write(&key, &private).unwrap_or_else(|e| panic!("{}: {e}", key.display()));
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
    key
}

/// Rules in `cloud`'s project's default security group letting in each of `allow`:
/// `"tcp <port>"` or `"icmp"`, from anywhere.
#[track_caller]
pub fn allow_in_default_group(c: &Cloud, cloud: &str, allow: &[&str]) {
    for rule in allow {
        let mut a = vec!["security", "group", "rule", "create"];
        match rule.split_once(' ') {
            Some(("tcp", port)) => a.extend_from_slice(&["--protocol", "tcp", "--dst-port", port]),
            None if *rule == "icmp" => a.extend_from_slice(&["--protocol", "icmp"]),
            _ => panic!("not a rule: {rule}"),
        }
        a.push("default");
        c.os(cloud, &a);
    }
}

/// `server create ... --wait` as the demo user of `image` on `private`, flavor m1.tiny,
/// with key `k` and `extra` options: the command's output.
pub fn create(c: &Cloud, name: &str, image: &str, extra: &[&str]) -> CmdOutput {
    let mut args = vec![
        "--os-cloud",
        DEMO,
        "server",
        "create",
        "--image",
        image,
        "--flavor",
        "m1.tiny",
        "--network",
        "private",
        "--key-name",
        "k",
        "--wait",
        "-f",
        "json",
    ];
    args.extend_from_slice(extra);
    args.push(name);
    c.openstack(&args)
}

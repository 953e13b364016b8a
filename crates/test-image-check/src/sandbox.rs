//! Sandboxes for boot tests: a temp dir, a network namespace with a bridge, DHCP
//! (dnsmasq) and an OpenStack metadata server (busybox httpd), and the processes a
//! test started, all removed when the [`Sandbox`] drops (also on failure). Shared by
//! this crate's boot tests and the hypervisor's QEMU tests.
//!
//! Nothing leaves the namespaces: they have no route out and dnsmasq serves no DNS.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// At most this many guests boot at once (TCG is CPU bound; 2 cores here).
pub const MAX_PARALLEL_BOOTS: usize = 2;

pub const GATEWAY: &str = "10.90.0.1";
pub const METADATA_IP: &str = "169.254.169.254";
pub const USERDATA_MARKER: &str = "OXI-USERDATA-MARKER";

pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

pub fn in_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

// ------------------------------------------------------------------ boot slots

static SLOTS: Mutex<usize> = Mutex::new(0);
static SLOT_FREED: Condvar = Condvar::new();

/// Limits how many guests boot at once, so that TCG timings stay sane.
pub struct BootSlot;

impl BootSlot {
    pub fn take() -> BootSlot {
        let mut used = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= MAX_PARALLEL_BOOTS {
            used = SLOT_FREED.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += 1;
        BootSlot
    }
}

impl Drop for BootSlot {
    fn drop(&mut self) {
        let mut used = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        *used -= 1;
        SLOT_FREED.notify_one();
    }
}

// ------------------------------------------------------------------ sandbox

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Everything one test creates: a temp dir, maybe a network namespace, and
/// the processes it started. Dropping it removes all of them.
pub struct Sandbox {
    pub dir: PathBuf,
    pub netns: Option<String>,
    children: Vec<(String, Child)>,
}

impl Sandbox {
    pub fn new(tag: &str) -> Sandbox {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("oxi-timg-{}-{n}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Sandbox {
            dir,
            netns: None,
            children: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates the namespace `oxi-timg-<pid>-<n>` holding a bridge `br0` (the
    /// gateway, and 169.254.169.254/32). No route leads out.
    pub fn create_netns(&mut self) {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("oxi-timg-{}-{n}", std::process::id());
        let _ = run_quiet(Command::new("ip").args(["netns", "del", &name]));
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        self.netns = Some(name.clone());
        let ip = |args: &[&str]| {
            run_ok(Command::new("ip").arg("-n").arg(&name).args(args));
        };
        ip(&["link", "set", "lo", "up"]);
        ip(&["link", "add", "br0", "type", "bridge"]);
        ip(&["addr", "add", &format!("{GATEWAY}/24"), "dev", "br0"]);
        ip(&["addr", "add", &format!("{METADATA_IP}/32"), "dev", "br0"]);
        ip(&["link", "set", "br0", "up"]);
        let routes = run_ok(Command::new("ip").args(["-n", &name, "route", "show", "default"]));
        assert!(
            routes.trim().is_empty(),
            "namespace {name} must have no default route, has: {routes}"
        );
    }

    /// Creates a tap in the bridge, for a QEMU started with `ifname=<name>`.
    pub fn add_tap(&self, name: &str) {
        let ns = self.netns.as_deref().expect("no network namespace");
        for args in [
            &["tuntap", "add", "dev", name, "mode", "tap"][..],
            &["link", "set", name, "master", "br0"],
            &["link", "set", name, "up"],
        ] {
            run_ok(Command::new("ip").arg("-n").arg(ns).args(args));
        }
    }

    /// Waits for a tap that QEMU creates (at most `timeout`) and plugs it into the
    /// bridge, as a network agent would.
    pub fn plug(&self, name: &str, timeout: Duration) -> Result<(), String> {
        let ns = self.netns.as_deref().expect("no network namespace");
        let deadline = Instant::now() + timeout;
        while run_quiet(Command::new("ip").args(["-n", ns, "link", "show", name])).is_err() {
            if Instant::now() > deadline {
                return Err(format!("no tap {name} in {ns} after {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
        run_quiet(Command::new("ip").args(["-n", ns, "link", "set", name, "master", "br0", "up"]))
            .map(drop)
    }

    /// Whether a link exists in the namespace.
    pub fn has_link(&self, name: &str) -> bool {
        let ns = self.netns.as_deref().expect("no network namespace");
        run_quiet(Command::new("ip").args(["-n", ns, "link", "show", name])).is_ok()
    }

    /// `ssh root@ip remote` from inside the namespace with `key`, no host key checks.
    pub fn ssh(&self, key: &Path, ip: &str, remote: &str) -> Command {
        let mut ssh = self.ns_command("ssh");
        ssh.args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "LogLevel=ERROR",
            "-i",
        ])
        .arg(key)
        .arg(format!("root@{ip}"))
        .arg(remote);
        ssh
    }

    /// A script in the sandbox that execs `program` inside the namespace (with its
    /// arguments; the process keeps the script's pid), for code that takes a binary's
    /// path, such as a hypervisor driver's QEMU.
    pub fn ns_wrapper(&self, program: &str) -> PathBuf {
        let ns = self.netns.as_deref().expect("no network namespace");
        let path = self.path(&format!("{program}-in-netns"));
        write(
            &path,
            &format!("#!/bin/sh\nexec ip netns exec {ns} {program} \"$@\"\n"),
        );
        run_ok(Command::new("chmod").arg("755").arg(&path));
        path
    }

    /// A command run inside the namespace (`ip netns exec`, which execs it:
    /// the child's pid is the program's own).
    pub fn ns_command(&self, program: &str) -> Command {
        let ns = self.netns.as_deref().expect("no network namespace");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]);
        cmd.env("HOME", &self.dir);
        cmd
    }

    /// Starts a long-running process with its output in `<dir>/<label>.out`.
    pub fn spawn(&mut self, label: &str, mut cmd: Command) {
        let out = fs::File::create(self.path(&format!("{label}.out"))).expect("create output file");
        let err = out.try_clone().expect("dup output file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label} ({cmd:?}): {e}"));
        self.children.push((label.to_string(), child));
    }

    /// Kills and reaps the process started as `label`.
    pub fn stop(&mut self, label: &str) {
        for (l, child) in &mut self.children {
            if l == label {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Err when the process has exited.
    pub fn check_alive(&mut self, label: &str) -> Result<(), String> {
        for (l, child) in &mut self.children {
            if l == label {
                return match child.try_wait() {
                    Ok(None) => Ok(()),
                    Ok(Some(status)) => Err(format!("{label} exited ({status})")),
                    Err(e) => Err(format!("{label}: {e}")),
                };
            }
        }
        Err(format!("{label} was never started"))
    }

    /// The tails of every log this sandbox holds, for failure messages.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        let mut entries: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !(name.ends_with(".out") || name.ends_with(".log")) {
                continue;
            }
            let text = String::from_utf8_lossy(&fs::read(&path).unwrap_or_default()).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            out.push_str(&format!(
                "\n----- {name} (last {} lines)\n{}\n",
                tail.len(),
                tail.join("\n")
            ));
        }
        out
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(ns) = &self.netns {
            // anything still running in our namespace was started by this test
            if let Ok(out) = run_quiet(Command::new("ip").args(["netns", "pids", ns])) {
                for pid in out.split_whitespace() {
                    let _ = run_quiet(Command::new("kill").args(["-9", pid]));
                }
            }
            let _ = run_quiet(Command::new("ip").args(["netns", "del", ns]));
        }
        if std::env::var_os("OXI_TIMG_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ------------------------------------------------------------------ helpers

pub fn run_quiet(cmd: &mut Command) -> Result<String, String> {
    let out = crate::run_with_timeout(cmd, Duration::from_secs(30))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

pub fn run_ok(cmd: &mut Command) -> String {
    run_quiet(cmd).unwrap_or_else(|e| panic!("{e}"))
}

pub fn write(path: &Path, contents: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The user data every test serves: proves it ran after the hostname was set.
pub fn user_data_script() -> String {
    format!("#!/bin/sh\necho \"{USERDATA_MARKER} host=$(hostname)\"\n")
}

/// A fresh ed25519 key pair in the sandbox; returns (private key path, public key).
pub fn ssh_keypair(sb: &Sandbox) -> (PathBuf, String) {
    let key = sb.path("id_ed25519");
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "oxi-timg-test", "-f"])
            .arg(&key),
    );
    let public = fs::read_to_string(key.with_extension("pub")).expect("read public key");
    (key, public.trim().to_string())
}

/// Nova-like `meta_data.json`.
pub fn openstack_meta_data(hostname: &str, public_key: &str) -> String {
    format!(
        "{{\"uuid\": \"9a5e8b56-0c53-4b7a-9f7e-{:012}\", \"meta\": {{\"role\": \"test\"}}, \
         \"public_keys\": {{\"oxi-timg\": {}}}, \
         \"keys\": [{{\"name\": \"oxi-timg\", \"type\": \"ssh\", \"data\": {}}}], \
         \"hostname\": {}, \"name\": {}, \"launch_index\": 0, \
         \"availability_zone\": \"nova\", \"project_id\": \"p\", \"devices\": []}}",
        std::process::id(),
        json_str(&format!("{public_key}\n")),
        json_str(&format!("{public_key}\n")),
        json_str(hostname),
        json_str(hostname),
    )
}

/// Starts dnsmasq (DHCP only, no DNS) and the metadata server (busybox httpd
/// serving `<dir>/metadata`) in the sandbox's namespace and waits until both listen.
pub fn start_network_services(sb: &mut Sandbox) {
    let mut dnsmasq = sb.ns_command("dnsmasq");
    dnsmasq
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            "--no-resolv",
            "--no-hosts",
            "--no-ping",
            "--dhcp-authoritative",
            "--bind-interfaces",
            "--interface=br0",
            "--except-interface=lo",
            "--dhcp-range=10.90.0.10,10.90.0.200,255.255.255.0,1h",
            // option 121: the metadata address via the gateway, and no default route
            &format!("--dhcp-option=121,{METADATA_IP}/32,{GATEWAY}"),
            "--log-dhcp",
        ])
        .arg(format!(
            "--dhcp-leasefile={}",
            sb.path("dnsmasq.leases").display()
        ))
        .arg(format!("--pid-file={}", sb.path("dnsmasq.pid").display()))
        .arg(format!(
            "--log-facility={}",
            sb.path("dnsmasq.log").display()
        ));
    sb.spawn("dnsmasq", dnsmasq);

    let mut httpd = sb.ns_command("busybox");
    httpd
        .args([
            "httpd",
            "-f",
            "-vv",
            "-p",
            &format!("{METADATA_IP}:80"),
            "-h",
        ])
        .arg(sb.path("metadata"));
    sb.spawn("metadata-httpd", httpd);

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listening = run_quiet(sb.ns_command("ss").arg("-Hlntu")).unwrap_or_default();
        let dhcp = listening.lines().any(|l| l.contains(":67 "));
        let http = listening.contains(&format!("{METADATA_IP}:80"));
        if dhcp && http {
            return;
        }
        for label in ["dnsmasq", "metadata-httpd"] {
            if let Err(e) = sb.check_alive(label) {
                panic!("{e}{}", sb.diagnostics());
            }
        }
        assert!(
            Instant::now() < deadline,
            "dnsmasq (listening: {dhcp}) or the metadata server (listening: {http}) did not start:\n{listening}{}",
            sb.diagnostics()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

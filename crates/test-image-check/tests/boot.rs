//! Boots oxistack's test guest image under QEMU (TCG) and checks what it does.
//!
//! * `qcow2_boots_with_dhcp_metadata_and_ssh`: the self-booting disk, in a
//!   network namespace this test creates (bridge + tap, dnsmasq for DHCP with
//!   an option 121 route to 169.254.169.254, a metadata HTTP server on
//!   169.254.169.254:80 in OpenStack format); checks the serial log and logs
//!   in over SSH with a key the test generated.
//! * `initramfs_boots_without_network`: kernel + initramfs, no NIC at all.
//! * `initramfs_reads_config_drive`: no NIC, a vfat config drive (config-2).
//! * `initramfs_falls_back_to_ec2_metadata`: a metadata server that only
//!   serves the EC2 layout.
//!
//! Needs root (namespaces, taps) and the packages that
//! `images/build-test-image.sh` installs. Nothing leaves the namespaces: they
//! have no route out and dnsmasq serves no DNS. Everything a test creates
//! (namespace, processes, files) is removed by a drop guard, even on failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use test_image_check::{self as timg, Artifacts};

/// Boot to READY under TCG on 2 busy cores (about 10 s when idle; minutes when the
/// machine is loaded).
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// SSH may be tried for this long after READY.
const SSH_TIMEOUT: Duration = Duration::from_secs(45);
/// At most this many guests boot at once (TCG is CPU bound; 2 cores here).
const MAX_PARALLEL_BOOTS: usize = 2;

const GATEWAY: &str = "10.90.0.1";
const METADATA_IP: &str = "169.254.169.254";
const USERDATA_MARKER: &str = "OXI-USERDATA-MARKER";

// ------------------------------------------------------------------ preflight

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn in_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// Fails (never skips) when the machine cannot run these tests.
fn preflight(tools: &[&str]) -> &'static Artifacts {
    assert!(
        is_root(),
        "the test image boot tests must run as root: they create network namespaces, \
         bridges and taps and install Debian packages (run `cargo test -p test-image-check` as root)"
    );
    let artifacts =
        timg::build_once().unwrap_or_else(|e| panic!("building the test image failed:\n{e}"));
    let missing: Vec<&str> = ["qemu-system-x86_64", "qemu-img"]
        .iter()
        .chain(tools)
        .copied()
        .filter(|t| !in_path(t))
        .collect();
    assert!(
        missing.is_empty(),
        "missing tools {missing:?}: install them with `apt-get install -y --no-install-recommends \
         qemu-system-x86 qemu-utils dnsmasq-base openssh-client iproute2 busybox-static mtools dosfstools` \
         (images/build-test-image.sh does this when run as root)"
    );
    artifacts
}

// ------------------------------------------------------------------ boot slots

static SLOTS: Mutex<usize> = Mutex::new(0);
static SLOT_FREED: Condvar = Condvar::new();

/// Limits how many guests boot at once, so that TCG timings stay sane.
struct BootSlot;

impl BootSlot {
    fn take() -> BootSlot {
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
struct Sandbox {
    dir: PathBuf,
    netns: Option<String>,
    children: Vec<(String, Child)>,
}

impl Sandbox {
    fn new(tag: &str) -> Sandbox {
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

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates the namespace `oxi-timg-<pid>-<n>` holding a bridge (the
    /// gateway, and 169.254.169.254/32) and a tap for QEMU. No route leads out.
    fn create_netns(&mut self) {
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
        ip(&["tuntap", "add", "dev", "tap0", "mode", "tap"]);
        ip(&["link", "set", "tap0", "master", "br0"]);
        ip(&["link", "set", "tap0", "up"]);
        ip(&["link", "set", "br0", "up"]);
        let routes = run_ok(Command::new("ip").args(["-n", &name, "route", "show", "default"]));
        assert!(
            routes.trim().is_empty(),
            "namespace {name} must have no default route, has: {routes}"
        );
    }

    /// A command run inside the namespace (`ip netns exec`, which execs it:
    /// the child's pid is the program's own).
    fn ns_command(&self, program: &str) -> Command {
        let ns = self.netns.as_deref().expect("no network namespace");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]);
        cmd.env("HOME", &self.dir);
        cmd
    }

    /// Starts a long-running process with its output in `<dir>/<label>.out`.
    fn spawn(&mut self, label: &str, mut cmd: Command) {
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

    /// Err when the process has exited.
    fn check_alive(&mut self, label: &str) -> Result<(), String> {
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
    fn diagnostics(&self) -> String {
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

fn run_quiet(cmd: &mut Command) -> Result<String, String> {
    let out = timg::run_with_timeout(cmd, Duration::from_secs(30))?;
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

fn run_ok(cmd: &mut Command) -> String {
    run_quiet(cmd).unwrap_or_else(|e| panic!("{e}"))
}

fn write(path: &Path, contents: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
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
fn user_data_script() -> String {
    format!("#!/bin/sh\necho \"{USERDATA_MARKER} host=$(hostname)\"\n")
}

/// A fresh ed25519 key pair in the sandbox; returns (private key path, public key).
fn ssh_keypair(sb: &Sandbox) -> (PathBuf, String) {
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
fn openstack_meta_data(hostname: &str, public_key: &str) -> String {
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
fn start_network_services(sb: &mut Sandbox) {
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

fn qemu_base_args(sb: &Sandbox) -> Vec<String> {
    [
        "-accel",
        "tcg",
        "-m",
        "256",
        "-smp",
        "1",
        "-nographic",
        "-monitor",
        "none",
        "-no-reboot",
        "-serial",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("file:{}", sb.path("serial.log").display())])
    .collect()
}

fn tap_nic_args(mac: &str) -> Vec<String> {
    vec![
        "-netdev".into(),
        "tap,id=net0,ifname=tap0,script=no,downscript=no,vhost=off".into(),
        "-device".into(),
        format!("virtio-net-pci,netdev=net0,mac={mac}"),
    ]
}

fn kernel_args(a: &Artifacts) -> Vec<String> {
    vec![
        "-kernel".into(),
        a.vmlinuz.display().to_string(),
        "-initrd".into(),
        a.initramfs.display().to_string(),
        "-append".into(),
        timg::KERNEL_CMDLINE.into(),
    ]
}

/// Starts QEMU (inside the namespace when the sandbox has one).
fn start_qemu(sb: &mut Sandbox, args: Vec<String>) -> Instant {
    let mut cmd = if sb.netns.is_some() {
        sb.ns_command("qemu-system-x86_64")
    } else {
        Command::new("qemu-system-x86_64")
    };
    cmd.args(&args);
    let started = Instant::now();
    sb.spawn("qemu", cmd);
    started
}

/// Waits for the READY marker; returns the serial log and the time it took.
fn wait_ready(sb: &mut Sandbox, started: Instant) -> (String, Duration) {
    let serial = sb.path("serial.log");
    loop {
        let log = String::from_utf8_lossy(&fs::read(&serial).unwrap_or_default()).into_owned();
        if timg::is_ready(&log) {
            return (log, started.elapsed());
        }
        if let Err(e) = sb.check_alive("qemu") {
            panic!(
                "the guest never printed {}: {e}{}",
                timg::READY_MARKER,
                sb.diagnostics()
            );
        }
        if started.elapsed() > BOOT_TIMEOUT {
            panic!(
                "the guest did not print {} within {BOOT_TIMEOUT:?}{}",
                timg::READY_MARKER,
                sb.diagnostics()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn assert_line(sb: &Sandbox, log: &str, line: &str) {
    assert!(
        log.lines().any(|l| l.trim_end_matches('\r').trim() == line),
        "serial log has no line {line:?}{}",
        sb.diagnostics()
    );
}

fn assert_value(sb: &Sandbox, log: &str, key: &str, want: &str) {
    let got = timg::serial_value(log, key);
    assert_eq!(
        got.as_deref(),
        Some(want),
        "serial line {}{key}=...{}",
        timg::LINE_PREFIX,
        sb.diagnostics()
    );
}

fn report(what: &str, log: &str, took: Duration) {
    let guest = timg::serial_value(log, "uptime").unwrap_or_default();
    eprintln!(
        "{what}: READY after {:.1} s from QEMU start (guest uptime {guest} s)",
        took.as_secs_f64()
    );
}

// ------------------------------------------------------------------ tests

#[test]
fn qcow2_boots_with_dhcp_metadata_and_ssh() {
    let artifacts = preflight(&["ip", "dnsmasq", "busybox", "ss", "ssh", "ssh-keygen"]);
    let mut sb = Sandbox::new("qcow2");
    sb.create_netns();

    let hostname = format!("timg-{}", std::process::id());
    let (key, public_key) = ssh_keypair(&sb);
    write(
        &sb.path("metadata/openstack/latest/meta_data.json"),
        &openstack_meta_data(&hostname, &public_key),
    );
    write(
        &sb.path("metadata/openstack/latest/user_data"),
        &user_data_script(),
    );
    start_network_services(&mut sb);

    // a copy-on-write overlay, as compute does: the built image stays untouched
    let overlay = sb.path("root.qcow2");
    run_ok(
        Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&artifacts.qcow2)
            .arg(&overlay),
    );
    let mut args = qemu_base_args(&sb);
    args.extend([
        "-blockdev".into(),
        format!(
            "driver=qcow2,node-name=root,file.driver=file,file.filename={}",
            overlay.display()
        ),
        "-device".into(),
        "virtio-blk-pci,drive=root,serial=root,bootindex=0".into(),
    ]);
    args.extend(tap_nic_args("52:54:00:0a:5a:01"));

    let slot = BootSlot::take();
    let started = start_qemu(&mut sb, args);
    let (log, took) = wait_ready(&mut sb, started);
    drop(slot);
    report("qcow2 with network", &log, took);

    let ip = timg::serial_value(&log, "ip").unwrap_or_default();
    assert!(
        ip.starts_with("10.90.0.") && ip != GATEWAY,
        "expected a DHCP address in 10.90.0.0/24, got ip={ip:?}{}",
        sb.diagnostics()
    );
    assert_value(&sb, &log, "metadata", "openstack");
    assert_value(&sb, &log, "hostname", &hostname);
    assert_value(&sb, &log, "ssh-keys", "1");
    assert_line(&sb, &log, &format!("{USERDATA_MARKER} host={hostname}"));
    assert_value(&sb, &log, "user-data exit", "0");

    // SSH with the key from metadata, from inside the namespace
    let deadline = Instant::now() + SSH_TIMEOUT;
    let mut last_error;
    loop {
        let mut ssh = sb.ns_command("ssh");
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
        .arg(&key)
        .arg(format!("root@{ip}"))
        .arg("hostname; ip route");
        match timg::run_with_timeout(&mut ssh, Duration::from_secs(30)) {
            Ok(out) if out.status.success() => {
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                let mut lines = stdout.lines();
                assert_eq!(
                    lines.next().map(str::trim),
                    Some(hostname.as_str()),
                    "`hostname` over SSH:\n{stdout}"
                );
                // the option 121 route to the metadata address
                assert!(
                    lines.any(|l| l.starts_with(&format!("{METADATA_IP} via {GATEWAY}"))),
                    "no {METADATA_IP} route from DHCP option 121 in the guest:\n{stdout}"
                );
                break;
            }
            Ok(out) => {
                last_error = format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr));
            }
            Err(e) => last_error = e,
        }
        assert!(
            Instant::now() < deadline,
            "ssh root@{ip} failed for {SSH_TIMEOUT:?}: {last_error}{}",
            sb.diagnostics()
        );
        thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn initramfs_boots_without_network() {
    let artifacts = preflight(&[]);
    let mut sb = Sandbox::new("nonet");
    let mut args = qemu_base_args(&sb);
    args.extend(["-nic".to_string(), "none".to_string()]);
    args.extend(kernel_args(artifacts));

    let slot = BootSlot::take();
    let started = start_qemu(&mut sb, args);
    let (log, took) = wait_ready(&mut sb, started);
    drop(slot);
    report("kernel+initramfs, no network", &log, took);
    assert_value(&sb, &log, "ip", "none");
}

#[test]
fn initramfs_reads_config_drive() {
    let artifacts = preflight(&["mkfs.vfat", "mcopy"]);
    let mut sb = Sandbox::new("cfgdrive");
    let hostname = format!("cfg-{}", std::process::id());
    let (_key, public_key) = ssh_keypair(&sb);
    write(
        &sb.path("cfg/openstack/latest/meta_data.json"),
        &openstack_meta_data(&hostname, &public_key),
    );
    write(
        &sb.path("cfg/openstack/latest/user_data"),
        &user_data_script(),
    );

    // a vfat config drive labelled config-2, made without mounting anything
    let image = sb.path("config-drive.img");
    run_ok(
        Command::new("mkfs.vfat")
            .args(["-n", "config-2", "-C"])
            .arg(&image)
            .arg("2048"),
    );
    run_ok(
        Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .env("HOME", &sb.dir)
            .arg("-s")
            .arg("-i")
            .arg(&image)
            .arg(sb.path("cfg/openstack"))
            .arg("::/"),
    );

    let mut args = qemu_base_args(&sb);
    args.extend(["-nic".to_string(), "none".to_string()]);
    args.extend(kernel_args(artifacts));
    args.extend([
        "-blockdev".into(),
        format!(
            "driver=raw,node-name=cfg,read-only=on,file.driver=file,file.filename={}",
            image.display()
        ),
        "-device".into(),
        "virtio-blk-pci,drive=cfg,serial=config-drive".into(),
    ]);

    let slot = BootSlot::take();
    let started = start_qemu(&mut sb, args);
    let (log, took) = wait_ready(&mut sb, started);
    drop(slot);
    report("kernel+initramfs, config drive", &log, took);
    assert_value(&sb, &log, "ip", "none");
    assert_value(&sb, &log, "metadata", "config-drive:/dev/vda");
    assert_value(&sb, &log, "hostname", &hostname);
    assert_value(&sb, &log, "ssh-keys", "1");
    assert_line(&sb, &log, &format!("{USERDATA_MARKER} host={hostname}"));
    assert_value(&sb, &log, "user-data exit", "0");
}

#[test]
fn initramfs_falls_back_to_ec2_metadata() {
    let artifacts = preflight(&["ip", "dnsmasq", "busybox", "ss", "ssh-keygen"]);
    let mut sb = Sandbox::new("ec2");
    sb.create_netns();
    let hostname = format!("ec2-{}", std::process::id());
    let (_key, public_key) = ssh_keypair(&sb);
    // only the EC2 layout: /openstack/... answers 404
    write(&sb.path("metadata/latest/meta-data/hostname"), &hostname);
    write(
        &sb.path("metadata/latest/meta-data/public-keys/0/openssh-key"),
        &format!("{public_key}\n"),
    );
    write(&sb.path("metadata/latest/user-data"), &user_data_script());
    start_network_services(&mut sb);

    let mut args = qemu_base_args(&sb);
    args.extend(kernel_args(artifacts));
    args.extend(tap_nic_args("52:54:00:0a:5a:02"));

    let slot = BootSlot::take();
    let started = start_qemu(&mut sb, args);
    let (log, took) = wait_ready(&mut sb, started);
    drop(slot);
    report("kernel+initramfs, EC2 metadata", &log, took);
    assert_value(&sb, &log, "metadata", "ec2");
    assert_value(&sb, &log, "hostname", &hostname);
    assert_value(&sb, &log, "ssh-keys", "1");
    assert_line(&sb, &log, &format!("{USERDATA_MARKER} host={hostname}"));
    assert_value(&sb, &log, "user-data exit", "0");
}

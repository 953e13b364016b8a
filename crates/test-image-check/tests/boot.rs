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
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use test_image_check::sandbox::*;
use test_image_check::{self as timg, Artifacts};

/// Boot to READY under TCG on 2 busy cores (about 10 s when idle; minutes when the
/// machine is loaded).
const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// SSH may be tried for this long after READY.
const SSH_TIMEOUT: Duration = Duration::from_secs(45);

// ------------------------------------------------------------------ preflight

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
    sb.add_tap("tap0");

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
        let mut ssh = sb.ssh(&key, &ip, "hostname; ip route");
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
    sb.add_tap("tap0");
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

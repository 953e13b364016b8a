//! A config drive this crate built, read by a real guest: oxistack's test image boots
//! under QEMU (TCG) with no NIC and the drive as a virtio disk, and must take its host
//! name, SSH key and user data from it (as the test image's own
//! `initramfs_reads_config_drive` does with a hand-written drive). Needs root's tools:
//! qemu-system-x86, dosfstools and mtools (scripts/test installs them).

use std::{
    collections::BTreeMap,
    fs,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use metadata::{config_drive, content::Guest, model::*, Settings};
use test_image_check as timg;

/// Boot to READY under TCG on 2 busy cores.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const MARKER: &str = "OXI-MD-CONFIG-DRIVE-USERDATA";

/// A directory and a QEMU, removed and killed when dropped.
struct Sandbox {
    dir: PathBuf,
    qemu: Option<Child>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(q) = &mut self.qemu {
            let _ = q.kill();
            let _ = q.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn instance(hostname: &str, key: &str) -> InstanceMetadata {
    InstanceMetadata {
        uuid: uuid::Uuid::new_v4(),
        name: "config drive test".into(),
        hostname: hostname.into(),
        project_id: "p1".into(),
        availability_zone: Some("nova".into()),
        launch_index: 0,
        reservation_id: "r-cfgdrive".into(),
        ec2: Ec2Ids::from_numbers(1, 1),
        key_pairs: vec![KeyPair {
            name: "cfg".into(),
            kind: "ssh".into(),
            public_key: key.into(),
        }],
        user_data: Some(format!("#!/bin/sh\necho \"{MARKER} host=$(hostname)\"\n").into_bytes()),
        metadata: BTreeMap::from([("role".into(), "test".into())]),
        security_groups: vec!["default".into()],
        ports: vec![],
        flavor_name: "m1.tiny".into(),
        root_device_name: Some("/dev/vda".into()),
        ..Default::default()
    }
}

#[test]
fn the_test_image_reads_its_config_drive() {
    let artifacts =
        timg::build_once().unwrap_or_else(|e| panic!("building the test image failed:\n{e}"));
    let dir = std::env::temp_dir().join(format!("oxi-md-cfgdrive-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let mut sb = Sandbox { dir, qemu: None };

    let hostname = format!("cfg-{}", std::process::id());
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2Uta2V5LWZvci10aGUtdGVzdA oxi-md-test";
    let md = instance(&hostname, key);
    let settings = Settings::default();
    let guest = Guest {
        instance: &md,
        settings: &settings,
        address: None,
        extra: config_drive::extra(Some("admin-secret")),
    };
    let image = sb.dir.join("disk.config");
    let started = Instant::now();
    config_drive::build(&guest, &image).unwrap();
    let built_in = started.elapsed();

    // what mtools sees: the label and the files
    let label = Command::new("mlabel")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-s", "-i"])
        .arg(&image)
        .arg("::")
        .output()
        .unwrap();
    let label = String::from_utf8_lossy(&label.stdout);
    assert!(label.to_lowercase().contains("config-2"), "{label}");
    let listing = Command::new("mdir")
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-/", "-b", "-i"])
        .arg(&image)
        .arg("::/")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for f in [
        "openstack/latest/meta_data.json",
        "openstack/latest/network_data.json",
        "openstack/latest/user_data",
        "openstack/latest/vendor_data.json",
        "openstack/latest/vendor_data2.json",
        "openstack/2025-04-04/meta_data.json",
        "openstack/2012-08-10/meta_data.json",
        "ec2/latest/meta-data.json",
        "ec2/2009-04-04/user-data",
    ] {
        assert!(
            listing.contains(&format!("::/{f}")),
            "{f} not in\n{listing}"
        );
    }
    let meta = Command::new("mtype")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(&image)
        .arg("::/openstack/latest/meta_data.json")
        .output()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    assert_eq!(meta["uuid"], md.uuid.to_string());
    assert_eq!(meta["admin_pass"], "admin-secret");

    let serial = sb.dir.join("serial.log");
    let args: Vec<String> = [
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
        "-nic",
        "none",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        // a loaded host makes TCG's timer look broken to the IO-APIC check
        "-append".into(),
        format!("{} no_timer_check", timg::KERNEL_CMDLINE),
        "-serial".into(),
        format!("file:{}", serial.display()),
        "-kernel".into(),
        artifacts.vmlinuz.display().to_string(),
        "-initrd".into(),
        artifacts.initramfs.display().to_string(),
        "-blockdev".into(),
        format!(
            "driver=raw,node-name=cfg,read-only=on,file.driver=file,file.filename={}",
            image.display()
        ),
        "-device".into(),
        "virtio-blk-pci,drive=cfg,serial=config-drive".into(),
    ])
    .collect();
    let booted = Instant::now();
    sb.qemu = Some(
        Command::new("qemu-system-x86_64")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64"),
    );
    let log = loop {
        let log = String::from_utf8_lossy(&fs::read(&serial).unwrap_or_default()).into_owned();
        if timg::is_ready(&log) {
            break log;
        }
        if let Some(status) = sb.qemu.as_mut().unwrap().try_wait().unwrap() {
            panic!("QEMU exited ({status}) before READY:\n{log}");
        }
        assert!(
            booted.elapsed() < BOOT_TIMEOUT,
            "no READY within {BOOT_TIMEOUT:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!(
        "config drive built in {built_in:?}; the guest read it and was ready in {:?}",
        booted.elapsed()
    );
    let value = |k: &str| timg::serial_value(&log, k);
    assert_eq!(value("ip").as_deref(), Some("none"), "{log}");
    assert_eq!(
        value("metadata").as_deref(),
        Some("config-drive:/dev/vda"),
        "{log}"
    );
    let full = format!("{hostname}.novalocal");
    assert_eq!(value("hostname").as_deref(), Some(full.as_str()), "{log}");
    assert_eq!(value("ssh-keys").as_deref(), Some("1"), "{log}");
    assert_eq!(value("user-data exit").as_deref(), Some("0"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.trim_end_matches('\r').trim() == format!("{MARKER} host={full}")),
        "{log}"
    );
}

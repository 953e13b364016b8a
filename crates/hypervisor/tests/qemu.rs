//! The QEMU driver with real QEMU (TCG) booting oxistack's test image
//! (images/, built by `test_image_check::build_once`).
//!
//! * `virtio_guest_lives_through_its_lifecycle`: in a network namespace this test makes
//!   (a bridge with dnsmasq and a metadata server; QEMU runs inside it and creates its
//!   tap, which the test plugs into the bridge as the network agent would): spawn ->
//!   READY with a DHCP lease; spawn again is a no-op; VNC; pause / unpause; suspend /
//!   resume (the guest runs on: no new boot, it answers ping); soft reboot (ACPI, then
//!   a fresh start: READY again, the same lease); graceful power_off; power_on; hard
//!   reboot (a new QEMU); destroy leaves no process, tap or file.
//! * `a_snapshot_boots_a_sata_e1000_guest_and_a_new_driver_adopts_them`: VNC answers;
//!   snapshot a running guest; a second guest boots from the snapshot with
//!   `hw_disk_bus=sata` + `hw_vif_model=e1000` (DHCP lease) and a vfat config drive on
//!   SATA; a NIC hot-plugged and unplugged; rescue and unrescue; resize of a stopped
//!   guest's root disk; then a driver made anew (as after `kill -9` of the compute
//!   service: QEMU lives on; `virt_type = auto` probes) finds both, reconnects and
//!   destroys them; a QEMU killed behind its back reads as shut down.
//! * `every_machine_shape_starts_and_a_refused_one_leaves_nothing`: QEMU accepts the
//!   command lines of Windows on q35 (SATA, e1000, UEFI when OVMF is installed, Hyper-V
//!   flags, guest agent), SCSI + rtl8139 and IDE + e1000e; a NIC hot-plugs on q35; a
//!   spawn QEMU or the driver refuses leaves nothing.
//!
//! Needs root (namespaces, taps). Guests boot one after the other within a test (at
//! most two at once with the test runner's two threads: 4 boots in all). Each test's
//! namespace, and every process in it, goes when its sandbox drops, also on failure.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use hypervisor::{
    qemu::{Config, Qemu, VirtType},
    DiskBus, Driver, InstanceSpec, MachineOptions, Nic, PowerState, RootDisk, VifModel,
};
use test_image_check::{self as timg, sandbox::*};

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

fn artifacts() -> &'static timg::Artifacts {
    assert!(
        is_root(),
        "the QEMU driver tests must run as root (namespaces, taps)"
    );
    timg::build_once().unwrap_or_else(|e| panic!("building the test image failed:\n{e}"))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn nic(mac_last: u8) -> Nic {
    let port_id = new_id();
    Nic {
        tap: format!("tap{}", &port_id[..11]),
        port_id,
        mac: format!("fa:16:3e:00:5a:{mac_last:02x}"),
        mtu: 1500,
    }
}

fn spec(base: &Path, nics: Vec<Nic>, machine: MachineOptions) -> InstanceSpec {
    let id = new_id();
    InstanceSpec {
        name: format!("instance-{}", &id[..8]),
        id,
        vcpus: 1,
        memory_mb: 256,
        root: RootDisk {
            base: base.to_owned(),
            base_format: "qcow2".into(),
            size_gb: 1,
        },
        ephemeral_gb: 0,
        swap_mb: 0,
        nics,
        config_drive: None,
        machine,
    }
}

async fn driver(sb: &Sandbox, qemu: PathBuf, virt_type: VirtType) -> Qemu {
    Qemu::new(Config {
        instances_dir: sb.path("instances"),
        virt_type,
        qemu_binary: qemu,
        ..Config::default()
    })
    .await
    .expect("the QEMU driver starts")
}

fn ready_count(log: &str) -> usize {
    log.lines()
        .filter(|l| l.trim_end_matches('\r').trim() == timg::READY_MARKER)
        .count()
}

/// Waits until the console shows the READY marker `n` times; the console.
async fn wait_ready(d: &Qemu, sb: &Sandbox, id: &str, n: usize) -> String {
    let started = Instant::now();
    loop {
        let log = d.console_log(id, 1 << 20).await.unwrap();
        if ready_count(&log) >= n {
            eprintln!(
                "{id}: READY #{n} after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            return log;
        }
        if started.elapsed() > BOOT_TIMEOUT {
            let qemu_log = std::fs::read_to_string(sb.path(&format!("instances/{id}/qemu.log")))
                .unwrap_or_default();
            panic!(
                "{id} did not print READY #{n} within {BOOT_TIMEOUT:?}; state {:?}\n--- console\n{}\n--- qemu.log\n{qemu_log}{}",
                d.power_state(id).await,
                &log[log.len().saturating_sub(3000)..],
                sb.diagnostics()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pid_of(sb: &Sandbox, id: &str) -> i32 {
    std::fs::read_to_string(sb.path(&format!("instances/{id}/pid")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The drive of the device QEMU boots from (`bootindex=0` on its command line).
fn boot_drive(sb: &Sandbox, id: &str) -> String {
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid_of(sb, id))).unwrap();
    String::from_utf8_lossy(&cmdline)
        .split('\0')
        .find(|a| a.contains("bootindex=0"))
        .and_then(|a| a.split(',').find_map(|p| p.strip_prefix("drive=")))
        .unwrap_or_default()
        .to_owned()
}

fn leased_ip(sb: &Sandbox, log: &str) -> String {
    let ip = timg::serial_value(log, "ip").unwrap_or_default();
    assert!(
        ip.starts_with("10.90.0.") && ip != GATEWAY,
        "expected a DHCP lease in 10.90.0.0/24, got ip={ip:?}{}",
        sb.diagnostics()
    );
    ip
}

fn pings(sb: &Sandbox, ip: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let mut ping = sb.ns_command("busybox");
        ping.args(["ping", "-c", "1", "-W", "2", ip]);
        if run_quiet(&mut ping).is_ok() {
            return true;
        }
    }
    false
}

/// Everything of a destroyed guest is gone: process, tap, directory.
fn assert_gone(sb: &Sandbox, pid: i32, id: &str, taps: &[&str]) {
    assert!(!process_alive(pid), "QEMU {pid} of {id} still runs");
    for tap in taps {
        // the kernel unregisters a tap closed by an exiting process a moment later
        let closed = Instant::now();
        while sb.has_link(tap) && closed.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!sb.has_link(tap), "tap {tap} of {id} is left");
        eprintln!("tap {tap} gone {:?} after QEMU", closed.elapsed());
    }
    assert!(
        !sb.path(&format!("instances/{id}")).exists(),
        "the directory of {id} is left"
    );
}

fn plug(sb: &Sandbox, tap: &str) {
    sb.plug(tap, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}{}", sb.diagnostics()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtio_guest_lives_through_its_lifecycle() {
    let a = artifacts();
    let mut sb = Sandbox::new("qemu-life");
    sb.create_netns();
    let (_key, public_key) = ssh_keypair(&sb);
    write(
        &sb.path("metadata/openstack/latest/meta_data.json"),
        &openstack_meta_data("life", &public_key),
    );
    start_network_services(&mut sb);
    let d = driver(&sb, sb.ns_wrapper("qemu-system-x86_64"), VirtType::Qemu).await;
    assert_eq!(d.host_info().virt_type, "qemu");
    assert!(d.host_info().hypervisor_version >= 7_000_000);

    let n = nic(1);
    let s = spec(&a.qcow2, vec![n.clone()], MachineOptions::default());
    let id = s.id.clone();
    d.spawn(&s).await.unwrap();
    plug(&sb, &n.tap);
    let log = wait_ready(&d, &sb, &id, 1).await;
    let ip = leased_ip(&sb, &log);
    assert_eq!(
        timg::serial_value(&log, "metadata").as_deref(),
        Some("openstack")
    );
    assert_eq!(d.power_state(&id).await.unwrap(), PowerState::Running);
    assert_eq!(d.list().await.unwrap(), vec![id.clone()]);

    // a second spawn leaves the running guest alone
    let pid = pid_of(&sb, &id);
    d.spawn(&s).await.unwrap();
    assert_eq!(pid_of(&sb, &id), pid);

    // VNC on a local port (of the namespace QEMU runs in), read back over QMP
    let vnc = d.vnc_address(&id).await.unwrap().expect("a VNC address");
    assert!(vnc.ip().is_loopback() && vnc.port() >= 5900, "{vnc}");

    d.pause(&id).await.unwrap();
    assert_eq!(d.power_state(&id).await.unwrap(), PowerState::Paused);
    assert!(d.pause(&id).await.is_err());
    d.unpause(&id).await.unwrap();
    assert_eq!(d.power_state(&id).await.unwrap(), PowerState::Running);

    // suspend: the memory goes to a file and QEMU away; resume: the same guest runs on
    d.suspend(&id).await.unwrap();
    assert_eq!(d.power_state(&id).await.unwrap(), PowerState::Suspended);
    assert!(!process_alive(pid));
    assert!(!sb.has_link(&n.tap));
    d.resume(&s).await.unwrap();
    plug(&sb, &n.tap);
    assert_eq!(d.power_state(&id).await.unwrap(), PowerState::Running);
    assert!(
        pings(&sb, &ip),
        "the resumed guest does not answer ping{}",
        sb.diagnostics()
    );
    let log = d.console_log(&id, 1 << 20).await.unwrap();
    assert_eq!(ready_count(&log), 1, "resume booted the guest again");
    assert!(!sb.path(&format!("instances/{id}/suspend.state")).exists());

    // soft reboot: an ACPI shutdown and a fresh start (READY again, the same lease)
    d.reboot(&s, false, Duration::from_secs(60)).await.unwrap();
    plug(&sb, &n.tap);
    let log = wait_ready(&d, &sb, &id, 2).await;
    assert_eq!(leased_ip(&sb, &log), ip, "the same lease after the reboot");

    // graceful power off: the guest's acpid powers it off long before the timeout
    let t = Instant::now();
    d.power_off(&id, Duration::from_secs(60)).await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(55),
        "ACPI shutdown took {:?}",
        t.elapsed()
    );
    assert_eq!(d.power_state(&id).await.unwrap(), PowerState::Shutdown);
    assert!(d
        .console_log(&id, 4096)
        .await
        .unwrap()
        .contains("reboot: Power down"));
    assert_eq!(d.vnc_address(&id).await.unwrap(), None);
    d.power_off(&id, Duration::from_secs(1)).await.unwrap();

    // power on (it boots as spawn did), then a hard reboot: a new QEMU at once
    d.power_on(&s).await.unwrap();
    plug(&sb, &n.tap);
    assert_eq!(d.power_state(&id).await.unwrap(), PowerState::Running);
    let before = pid_of(&sb, &id);
    d.reboot(&s, true, Duration::from_secs(60)).await.unwrap();
    let pid = pid_of(&sb, &id);
    assert!(
        pid != before && !process_alive(before),
        "hard reboot kept QEMU {before}"
    );
    assert_eq!(d.power_state(&id).await.unwrap(), PowerState::Running);
    plug(&sb, &n.tap);

    d.destroy(&id).await.unwrap();
    assert_gone(&sb, pid, &id, &[&n.tap]);
    d.destroy(&id).await.unwrap();
    assert_eq!(d.power_state(&id).await.unwrap(), PowerState::NoState);
    assert!(d.list().await.unwrap().is_empty());
}

/// A vfat config drive labelled config-2 holding `meta_data.json`, made without
/// mounting anything.
fn config_drive(sb: &Sandbox, hostname: &str) -> PathBuf {
    let (_key, public_key) = ssh_keypair(sb);
    write(
        &sb.path("cfg/openstack/latest/meta_data.json"),
        &openstack_meta_data(hostname, &public_key),
    );
    let drive = sb.path("config-drive.img");
    run_ok(
        Command::new("mkfs.vfat")
            .args(["-n", "config-2", "-C"])
            .arg(&drive)
            .arg("2048"),
    );
    run_ok(
        Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .env("HOME", &sb.dir)
            .args(["-s", "-i"])
            .arg(&drive)
            .arg(sb.path("cfg/openstack"))
            .arg("::/"),
    );
    drive
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_boots_a_sata_e1000_guest_and_a_new_driver_adopts_them() {
    let a = artifacts();
    let mut sb = Sandbox::new("qemu-snap");
    sb.create_netns();
    std::fs::create_dir_all(sb.path("metadata")).unwrap();
    start_network_services(&mut sb);
    let qemu = sb.ns_wrapper("qemu-system-x86_64");
    let d = driver(&sb, qemu.clone(), VirtType::Qemu).await;

    let first = spec(&a.qcow2, Vec::new(), MachineOptions::default());
    d.spawn(&first).await.unwrap();
    wait_ready(&d, &sb, &first.id, 1).await;
    // VNC on a local port (of the namespace QEMU runs in), read back over QMP
    let vnc = d
        .vnc_address(&first.id)
        .await
        .unwrap()
        .expect("a VNC address");
    assert!(vnc.ip().is_loopback() && vnc.port() >= 5900, "{vnc}");
    let mut nc = sb.ns_command("busybox");
    nc.args([
        "timeout",
        "3",
        "busybox",
        "nc",
        &vnc.ip().to_string(),
        &vnc.port().to_string(),
    ]);
    let banner = timg::run_with_timeout(&mut nc, Duration::from_secs(10)).unwrap();
    assert!(
        String::from_utf8_lossy(&banner.stdout).starts_with("RFB "),
        "VNC said {banner:?}"
    );

    let snap = sb.path("snapshot.qcow2");
    let taken = d.snapshot(&first.id, &snap).await.unwrap();
    assert_eq!(taken.disk_format, "qcow2");
    assert_eq!(taken.size, std::fs::metadata(&snap).unwrap().len());
    assert_eq!(d.power_state(&first.id).await.unwrap(), PowerState::Running);
    let info = run_ok(
        Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(&snap),
    );
    assert!(
        !info.contains("backing-filename"),
        "the snapshot has a backing file: {info}"
    );

    // the second guest boots from the snapshot, on SATA with an e1000 NIC and a config
    // drive (on SATA: an overlay, the drive itself stays as it was)
    let drive = config_drive(&sb, "sata-guest");
    let drive_before = std::fs::read(&drive).unwrap();
    let n = nic(2);
    let mut second = spec(
        &snap,
        vec![n.clone()],
        MachineOptions {
            disk_bus: DiskBus::Sata,
            vif_model: VifModel::E1000,
            ..MachineOptions::default()
        },
    );
    second.root.size_gb = 0;
    second.config_drive = Some(drive.clone());
    second.swap_mb = 64;
    d.spawn(&second).await.unwrap();
    plug(&sb, &n.tap);
    let log = wait_ready(&d, &sb, &second.id, 1).await;
    leased_ip(&sb, &log);
    let source = timg::serial_value(&log, "metadata").unwrap_or_default();
    assert!(
        source.starts_with("config-drive:/dev/sd"),
        "metadata={source}"
    );
    assert_eq!(
        timg::serial_value(&log, "hostname").as_deref(),
        Some("sata-guest")
    );
    assert_eq!(
        std::fs::read(&drive).unwrap(),
        drive_before,
        "the config drive changed"
    );

    // hot-plug a second NIC (its tap appears), then unplug it (its tap goes)
    let extra = nic(3);
    d.attach_interface(&second.id, &extra).await.unwrap();
    assert!(sb.has_link(&extra.tap), "no tap {} after attach", extra.tap);
    d.attach_interface(&second.id, &extra).await.unwrap();
    d.detach_interface(&second.id, &extra.port_id)
        .await
        .unwrap();
    assert!(
        !sb.has_link(&extra.tap),
        "tap {} left after detach",
        extra.tap
    );
    d.detach_interface(&second.id, &extra.port_id)
        .await
        .unwrap();

    // rescue: the rescue image boots first, its own disk second; unrescue: back
    let rescue = RootDisk {
        base: a.qcow2.clone(),
        base_format: "qcow2".into(),
        size_gb: 0,
    };
    d.rescue(&second, &rescue).await.unwrap();
    plug(&sb, &n.tap);
    let dir = sb.path(&format!("instances/{}", second.id));
    assert!(dir.join("disk.rescue").exists());
    assert_eq!(boot_drive(&sb, &second.id), "rescue");
    d.unrescue(&second).await.unwrap();
    plug(&sb, &n.tap);
    assert!(!dir.join("disk.rescue").exists());
    assert_eq!(boot_drive(&sb, &second.id), "root");
    assert_eq!(
        d.power_state(&second.id).await.unwrap(),
        PowerState::Running
    );

    // the first guest stopped, its disk grown
    d.power_off(&first.id, Duration::ZERO).await.unwrap();
    assert!(
        d.resize_root(&second.id, 2).await.is_err(),
        "resize of a running guest"
    );
    d.resize_root(&first.id, 2).await.unwrap();
    let info = run_ok(
        Command::new("qemu-img")
            .args(["info", "-U", "--output=json"])
            .arg(sb.path(&format!("instances/{}/disk", first.id))),
    );
    assert!(
        info.contains(&format!("\"virtual-size\": {}", 2u64 << 30)),
        "{info}"
    );
    assert!(d.resize_root(&first.id, 1).await.is_err(), "a shrink");

    // the compute service dies (no cleanup: QEMU lives on); a new one takes over
    let pid = pid_of(&sb, &second.id);
    drop(d);
    let d = Qemu::new(Config {
        instances_dir: sb.path("instances"),
        virt_type: VirtType::Auto,
        qemu_binary: qemu,
        kvm_probe_timeout_secs: 5,
        ..Config::default()
    })
    .await
    .unwrap();
    eprintln!("virt_type auto chose {}", d.host_info().virt_type);
    let mut ids = vec![first.id.clone(), second.id.clone()];
    ids.sort();
    assert_eq!(d.list().await.unwrap(), ids);
    assert_eq!(
        d.power_state(&second.id).await.unwrap(),
        PowerState::Running
    );
    assert_eq!(
        d.power_state(&first.id).await.unwrap(),
        PowerState::Shutdown
    );
    d.spawn(&second).await.unwrap();
    assert_eq!(
        pid_of(&sb, &second.id),
        pid,
        "spawn of an adopted guest restarted it"
    );
    d.pause(&second.id).await.unwrap();
    assert_eq!(d.power_state(&second.id).await.unwrap(), PowerState::Paused);
    assert!(d
        .console_log(&second.id, 1 << 20)
        .await
        .unwrap()
        .contains(timg::READY_MARKER));

    // a QEMU that dies behind the driver's back reads as shut down
    let first_pid = {
        d.power_on(&first).await.unwrap();
        pid_of(&sb, &first.id)
    };
    Command::new("kill")
        .args(["-9", &first_pid.to_string()])
        .status()
        .unwrap();
    let gone = Instant::now();
    while process_alive(first_pid) && gone.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        d.power_state(&first.id).await.unwrap(),
        PowerState::Shutdown
    );

    d.destroy(&first.id).await.unwrap();
    assert_gone(&sb, first_pid, &first.id, &[]);
    d.destroy(&second.id).await.unwrap();
    assert_gone(&sb, pid, &second.id, &[&n.tap]);
    assert!(d.list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_machine_shape_starts_and_a_refused_one_leaves_nothing() {
    let a = artifacts();
    let mut sb = Sandbox::new("qemu-shapes");
    sb.create_netns();
    let d = driver(&sb, sb.ns_wrapper("qemu-system-x86_64"), VirtType::Qemu).await;
    let drive = sb.path("config.img");
    run_ok(
        Command::new("mkfs.vfat")
            .args(["-n", "config-2", "-C"])
            .arg(&drive)
            .arg("1024"),
    );
    let ovmf = Path::new(&Config::default().ovmf_code).exists();
    let shapes = [
        MachineOptions {
            disk_bus: DiskBus::Sata,
            vif_model: VifModel::E1000,
            machine_type: Some("q35".into()),
            firmware: if ovmf {
                hypervisor::Firmware::Uefi
            } else {
                hypervisor::Firmware::Bios
            },
            windows: true,
            video_model: Some("virtio".into()),
            guest_agent: true,
        },
        MachineOptions {
            disk_bus: DiskBus::Scsi,
            vif_model: VifModel::Rtl8139,
            video_model: Some("cirrus".into()),
            ..MachineOptions::default()
        },
        MachineOptions {
            disk_bus: DiskBus::Ide,
            vif_model: VifModel::E1000e,
            machine_type: Some("q35".into()),
            video_model: Some("qxl".into()),
            ..MachineOptions::default()
        },
    ];
    for (i, machine) in shapes.into_iter().enumerate() {
        let n = nic(0x10 + u8::try_from(i).unwrap());
        let mut s = spec(&a.qcow2, vec![n.clone()], machine);
        s.config_drive = Some(drive.clone());
        s.ephemeral_gb = 1;
        d.spawn(&s)
            .await
            .unwrap_or_else(|e| panic!("shape {i}: {e}"));
        assert_eq!(
            d.power_state(&s.id).await.unwrap(),
            PowerState::Running,
            "shape {i}"
        );
        assert!(sb.has_link(&n.tap), "shape {i}: no tap");
        if i == 0 {
            // q35: a NIC hot-plugs into a free root port
            let extra = nic(0x20);
            d.attach_interface(&s.id, &extra).await.unwrap();
            assert!(sb.has_link(&extra.tap));
        }
        let pid = pid_of(&sb, &s.id);
        d.destroy(&s.id).await.unwrap();
        assert_gone(&sb, pid, &s.id, &[&n.tap]);
    }

    // QEMU cannot make a tap whose name a bridge has: its message, nothing left
    run_ok(
        sb.ns_command("ip")
            .args(["link", "add", "tapbusy", "type", "bridge"]),
    );
    let mut busy = nic(0x30);
    busy.tap = "tapbusy".into();
    let mut s = spec(&a.qcow2, vec![busy], MachineOptions::default());
    let e = d.spawn(&s).await.unwrap_err();
    assert!(matches!(e, hypervisor::Error::Failed(_)), "{e}");
    assert!(e.to_string().contains("tapbusy"), "{e}");
    assert!(!sb.path(&format!("instances/{}", s.id)).exists());
    s.nics.clear();
    s.machine.machine_type = Some("no-such-machine".into());
    let e = d.spawn(&s).await.unwrap_err();
    assert!(matches!(e, hypervisor::Error::Invalid(_)), "{e}");
    assert!(!sb.path(&format!("instances/{}", s.id)).exists());
    s.machine.machine_type = None;
    s.machine.video_model = Some("matrox".into());
    let e = d.spawn(&s).await.unwrap_err();
    assert!(matches!(e, hypervisor::Error::Invalid(_)), "{e}");
    assert!(d.list().await.unwrap().is_empty());
}

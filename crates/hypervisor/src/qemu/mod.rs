//! The QEMU driver: each guest is a QEMU process, a child of this one (not
//! `-daemonize`d) in its own process group, driven over QMP.
//!
//! Everything of a guest lives in `<instances_dir>/<id>/` (see `files.rs`): its disks
//! (`disk`, a qcow2 overlay on the cached base image grown to the flavor's size;
//! `disk.eph0`, `disk.swap`), `console.log` (the serial console, appended to across
//! restarts), `qmp.sock`, `pid` (written by QEMU), `spec.json` (the spec it was last
//! started with) and the marks of its modes (`rescue.json` + `disk.rescue` while
//! rescued, `suspend.state` while suspended). That directory is the whole truth: a
//! driver created anew, after the process before it was killed (QEMU survives it),
//! finds the guests from their pid files (a pid counts only while `/proc/<pid>` is a
//! live process whose command line carries the guest's UUID), reconnects QMP, and
//! restarts a stopped guest from `spec.json` in the mode its files say.
//!
//! KVM where it works, TCG otherwise: with `virt_type = "auto"`, `probe.rs` boots a
//! Linux kernel (the newest `/boot/vmlinuz-*`, or `kvm_probe_kernel`) under KVM once
//! per process with no disk and `panic=-1 -no-reboot`; a working KVM runs it to its
//! "cannot mount root" panic and QEMU exits within a second or two. No panic within
//! `kvm_probe_timeout_secs` (a nested PVM KVM hangs a stock kernel before its first
//! line, while firmware alone runs), a QEMU error, no `/dev/kvm` or no kernel to probe
//! with: TCG. The choice is logged and shown as `virt_type` in [`HostInfo`].
//!
//! Calls on one guest are serialized (one lifecycle operation at a time);
//! `power_state`, `console_log`, `vnc_address` and `list` do not wait for them.

mod disk;
mod files;
mod host;
mod machine;
mod memory;
mod nics;
mod probe;
mod process;
mod qmp;

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use self::machine::Accel;
use self::{
    disk::QemuImg,
    files::{log_since, remove_file, tail, write_json, InstanceDir},
    machine::Launch,
    qmp::Qmp,
};
use crate::{
    Driver, Error, Firmware, HostInfo, InstanceSpec, Nic, PowerState, Result, RootDisk, Snapshot,
};

/// `virt_type`, as Nova's `[libvirt] virt_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtType {
    /// KVM when a Linux kernel booted under KVM reaches its panic within
    /// `kvm_probe_timeout_secs` (once per process; see `probe.rs`), else TCG.
    #[default]
    Auto,
    Kvm,
    /// TCG.
    Qemu,
}

/// How the driver runs QEMU on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where each guest's directory goes.
    pub instances_dir: PathBuf,
    pub virt_type: VirtType,
    pub qemu_binary: PathBuf,
    pub qemu_img: PathBuf,
    /// The address guests' VNC servers listen on.
    pub vnc_listen: IpAddr,
    /// OVMF's code and variable-store template, for `hw_firmware_type=uefi`.
    pub ovmf_code: PathBuf,
    pub ovmf_vars: PathBuf,
    /// For images without `hw_machine_type`.
    pub machine_type: String,
    /// The kernel the KVM probe boots; none: the newest `/boot/vmlinuz-*`.
    pub kvm_probe_kernel: Option<PathBuf>,
    pub kvm_probe_timeout_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            instances_dir: "/var/lib/oxistack/instances".into(),
            virt_type: VirtType::Auto,
            qemu_binary: "qemu-system-x86_64".into(),
            qemu_img: "qemu-img".into(),
            vnc_listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ovmf_code: "/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
            ovmf_vars: "/usr/share/OVMF/OVMF_VARS_4M.fd".into(),
            machine_type: "pc".into(),
            kvm_probe_kernel: None,
            kvm_probe_timeout_secs: 10,
        }
    }
}

/// How long QEMU may take from exec to answering on its QMP socket.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// After `quit`, before SIGKILL.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);
/// For a guest to release a hot-unplugged NIC (ACPI eject; slow under TCG).
const UNPLUG_TIMEOUT: Duration = Duration::from_secs(30);
/// For the kernel to drop the taps of an exited QEMU.
const TAP_TIMEOUT: Duration = Duration::from_secs(5);
/// For saving or restoring a guest's memory.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(120);

/// The QEMU driver. Clones share their guests.
#[derive(Clone)]
pub struct Qemu {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: Config,
    accel: Accel,
    machine_types: Vec<String>,
    info: HostInfo,
    img: QemuImg,
    guests: Mutex<HashMap<String, Arc<Guest>>>,
}

/// What this process holds of one guest.
#[derive(Default)]
struct Guest {
    /// Held by every lifecycle operation.
    ops: tokio::sync::Mutex<()>,
    live: Mutex<Live>,
}

#[derive(Default)]
struct Live {
    /// The QEMU this process started (reaped here); none for an adopted one.
    child: Option<tokio::process::Child>,
    qmp: Option<Arc<Qmp>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_err(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

/// KVM probe results, once per (QEMU, kernel) and process.
type ProbeCache = Mutex<HashMap<(PathBuf, Option<PathBuf>), probe::KvmProbe>>;
static PROBES: std::sync::OnceLock<ProbeCache> = std::sync::OnceLock::new();

impl Qemu {
    /// Check QEMU, choose the accelerator, and adopt the guests an earlier process left.
    pub async fn new(cfg: Config) -> Result<Qemu> {
        std::fs::create_dir_all(&cfg.instances_dir).map_err(io_err(format!(
            "cannot create {}",
            cfg.instances_dir.display()
        )))?;
        let version = probe::version(&cfg.qemu_binary)
            .await
            .map_err(Error::Failed)?;
        let accel = match cfg.virt_type {
            VirtType::Kvm => Accel::Kvm,
            VirtType::Qemu => Accel::Tcg,
            VirtType::Auto => {
                let kernel = cfg.kvm_probe_kernel.clone().or_else(probe::host_kernel);
                let key = (cfg.qemu_binary.clone(), kernel.clone());
                let cache = PROBES.get_or_init(Default::default);
                let cached = lock(cache).get(&key).cloned();
                let found = match cached {
                    Some(found) => found,
                    None => {
                        let found = probe::kvm(
                            &cfg.qemu_binary,
                            kernel.as_deref(),
                            Duration::from_secs(cfg.kvm_probe_timeout_secs),
                        )
                        .await;
                        lock(cache).insert(key, found.clone());
                        found
                    }
                };
                match found {
                    probe::KvmProbe::Works(took) => {
                        tracing::info!(?took, "KVM works: guests run under KVM");
                        Accel::Kvm
                    }
                    probe::KvmProbe::Fails(why) => {
                        tracing::warn!(%why, "KVM does not work here: guests run under TCG");
                        Accel::Tcg
                    }
                }
            }
        };
        let info = HostInfo {
            hypervisor_type: "QEMU".into(),
            hypervisor_version: version,
            virt_type: accel.virt_type().into(),
            vcpus: host::vcpus(),
            memory_mb: host::memory_mb(),
            disk_gb: 0,
            cpu_model: host::cpu_model(),
        };
        let img = QemuImg {
            binary: cfg.qemu_img.clone(),
        };
        let machine_types = probe::machine_types(&cfg.qemu_binary)
            .await
            .map_err(Error::Failed)?;
        let q = Qemu {
            inner: Arc::new(Inner {
                cfg,
                accel,
                machine_types,
                info,
                img,
                guests: Mutex::default(),
            }),
        };
        for id in q.ids()? {
            if q.pid(&id).is_some() {
                match q.qmp(&id).await {
                    Ok(_) => tracing::info!(instance = %id, "adopted a running guest"),
                    Err(e) => {
                        tracing::warn!(instance = %id, error = %e, "a running guest's QMP does not answer")
                    }
                }
            }
        }
        Ok(q)
    }

    /// The accelerator guests run under.
    pub fn accel(&self) -> Accel {
        self.inner.accel
    }

    fn cfg(&self) -> &Config {
        &self.inner.cfg
    }

    fn guest(&self, id: &str) -> Arc<Guest> {
        lock(&self.inner.guests)
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    /// The directory of guest `id`, whether or not it exists; None for an id that
    /// cannot be a guest of this driver.
    fn files_of(&self, id: &str) -> Option<InstanceDir> {
        machine::is_uuid(id).then(|| InstanceDir::new(self.cfg().instances_dir.join(id)))
    }

    /// The directory of a guest that is on this host.
    fn existing(&self, id: &str) -> Result<InstanceDir> {
        self.files_of(id)
            .filter(|f| f.path().is_dir())
            .ok_or_else(|| Error::NotFound(id.to_owned()))
    }

    /// Every guest directory's id.
    fn ids(&self) -> Result<Vec<String>> {
        let dir = &self.cfg().instances_dir;
        let mut ids: Vec<String> = std::fs::read_dir(dir)
            .map_err(io_err(format!("cannot read {}", dir.display())))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| machine::is_uuid(n))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The live QEMU of guest `id` (reaping it first when it is our child and exited).
    fn pid(&self, id: &str) -> Option<i32> {
        let files = self.files_of(id)?;
        self.reap(id);
        let pid = process::find(&files.pid(), id);
        if pid.is_none() {
            lock(&self.guest(id).live).qmp = None;
        }
        pid
    }

    /// Collect our child's exit status once it exited (so it is no zombie).
    fn reap(&self, id: &str) {
        let guest = self.guest(id);
        let mut live = lock(&guest.live);
        if let Some(child) = &mut live.child {
            if !matches!(child.try_wait(), Ok(None)) {
                live.child = None;
            }
        }
    }

    /// Whether `pid`, once the QEMU of `id`, has not finished exiting yet.
    fn exiting(&self, id: &str, pid: i32) -> bool {
        self.reap(id);
        process::exists(pid)
    }

    /// The QMP connection to the running guest `id`, made when there is none.
    async fn qmp(&self, id: &str) -> Result<Arc<Qmp>> {
        let files = self.existing(id)?;
        let guest = self.guest(id);
        if let Some(q) = lock(&guest.live).qmp.clone().filter(|q| !q.is_closed()) {
            return Ok(q);
        }
        if self.pid(id).is_none() {
            return Err(Error::State(format!("instance {id} is not running")));
        }
        let q = Arc::new(Qmp::connect(&files.qmp_socket()).await?);
        lock(&guest.live).qmp = Some(q.clone());
        Ok(q)
    }

    /// `query-status`'s `status` of a running guest.
    async fn status(&self, id: &str) -> Result<String> {
        let r = self
            .qmp(id)
            .await?
            .execute("query-status", Value::Null)
            .await?;
        Ok(r.get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned())
    }

    async fn execute(&self, id: &str, command: &str, args: Value) -> Result<Value> {
        self.qmp(id).await?.execute(command, args).await
    }

    fn read_spec(&self, files: &InstanceDir) -> Result<InstanceSpec> {
        let path = files.spec();
        let text =
            std::fs::read(&path).map_err(io_err(format!("cannot read {}", path.display())))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::Failed(format!("{} is not a spec: {e}", path.display())))
    }

    fn write_spec(&self, files: &InstanceDir, spec: &InstanceSpec) -> Result<()> {
        write_json(&files.spec(), spec)
    }

    /// Create what the guest needs and is missing: its directory, disks, UEFI vars.
    async fn prepare(&self, files: &InstanceDir, spec: &InstanceSpec) -> Result<()> {
        let dir = files.path();
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
        let img = &self.inner.img;
        if !files.disk().exists() {
            img.overlay(
                &spec.root.base,
                &spec.root.base_format,
                &files.disk(),
                spec.root.size_gb,
            )
            .await?;
        }
        if spec.ephemeral_gb > 0 && !files.ephemeral().exists() {
            img.blank(&files.ephemeral(), "qcow2", spec.ephemeral_gb << 30)
                .await?;
        }
        if spec.swap_mb > 0 && !files.swap().exists() {
            disk::swap(&files.swap(), spec.swap_mb << 20).await?;
        }
        if let Some(cfg) = &spec.config_drive {
            if !machine::has_read_only_disks(spec.machine.disk_bus) {
                // a fresh overlay each start: the config drive is what the spec says
                let _ = std::fs::remove_file(files.config_overlay());
                img.overlay(cfg, "raw", &files.config_overlay(), 0).await?;
            }
        }
        if spec.machine.firmware == Firmware::Uefi && !files.nvram().exists() {
            let tmp = files.nvram().with_extension("part");
            std::fs::copy(&self.cfg().ovmf_vars, &tmp).map_err(io_err(format!(
                "cannot copy {}",
                self.cfg().ovmf_vars.display()
            )))?;
            std::fs::rename(&tmp, files.nvram())
                .map_err(io_err(format!("cannot create {}", files.nvram().display())))?;
        }
        Ok(())
    }

    /// The command line of `spec` as its files say (rescued? suspended?).
    fn command_line(&self, files: &InstanceDir, spec: &InstanceSpec) -> Result<Vec<String>> {
        let cfg = self.cfg();
        let ovmf = cfg.ovmf_code.exists() && cfg.ovmf_vars.exists();
        machine::command_line(&Launch {
            spec,
            files,
            accel: self.inner.accel,
            vnc_listen: cfg.vnc_listen,
            default_machine_type: &cfg.machine_type,
            machine_types: &self.inner.machine_types,
            ovmf_code: ovmf.then_some(cfg.ovmf_code.as_path()),
            rescue: files.rescue_spec().exists(),
            incoming: files.saved_state().exists(),
        })
    }

    /// Start QEMU for `spec` (not running: the caller checked) and wait until QMP
    /// answers; a suspended guest's memory is restored and it runs on.
    async fn start(&self, files: &InstanceDir, spec: &InstanceSpec) -> Result<()> {
        let args = self.command_line(files, spec)?;
        self.prepare(files, spec).await?;
        self.write_spec(files, spec)?;
        let _ = std::fs::remove_file(files.qmp_socket());
        let _ = std::fs::remove_file(files.pid());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(files.qemu_log())
            .map_err(io_err(format!(
                "cannot open {}",
                files.qemu_log().display()
            )))?;
        let log_size = log.metadata().map(|m| m.len()).unwrap_or(0);
        let stderr = log
            .try_clone()
            .map_err(io_err("cannot duplicate a file descriptor".into()))?;
        let child = tokio::process::Command::new(&self.cfg().qemu_binary)
            .args(&args)
            .current_dir(files.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            // its own process group: a signal to ours (Ctrl-C) does not stop guests
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .map_err(io_err(format!(
                "cannot run {}",
                self.cfg().qemu_binary.display()
            )))?;
        let guest = self.guest(&spec.id);
        lock(&guest.live).child = Some(child);
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let qmp = loop {
            let exited = {
                let mut live = lock(&guest.live);
                match live.child.as_mut().map(|c| c.try_wait()) {
                    Some(Ok(Some(status))) => Some(status.to_string()),
                    Some(Err(e)) => Some(e.to_string()),
                    _ => None,
                }
            };
            if let Some(status) = exited {
                lock(&guest.live).child = None;
                return Err(Error::Failed(format!(
                    "QEMU exited at start ({status}): {}",
                    log_since(&files.qemu_log(), log_size)
                )));
            }
            if files.qmp_socket().exists() {
                if let Ok(q) = Qmp::connect(&files.qmp_socket()).await {
                    break Arc::new(q);
                }
            }
            if tokio::time::Instant::now() > deadline {
                self.kill(&spec.id).await;
                return Err(Error::Failed(format!(
                    "QEMU did not answer on {} within {START_TIMEOUT:?}",
                    files.qmp_socket().display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        lock(&guest.live).qmp = Some(qmp.clone());
        if files.saved_state().exists() {
            if let Err(e) = self.finish_restore(files, &spec.id, &qmp).await {
                // keep the saved memory for another try; no half-restored QEMU
                self.stop(&spec.id, Duration::ZERO).await;
                return Err(e);
            }
        }
        tracing::info!(instance = %spec.id, pid = ?process::read_pid(&files.pid()), "QEMU started");
        Ok(())
    }

    /// Stop the guest: ACPI power button first when `graceful` is not zero, waiting
    /// that long for it to power off; then `quit`, then SIGKILL. Returns once the
    /// process has exited (its taps and sockets closed).
    async fn stop(&self, id: &str, graceful: Duration) {
        let Some(pid) = self.pid(id) else {
            return;
        };
        if !graceful.is_zero()
            && self
                .execute(id, "system_powerdown", Value::Null)
                .await
                .is_ok()
            && self.wait_exit(id, pid, graceful).await
        {
            return;
        }
        let _ = self.execute(id, "quit", Value::Null).await;
        if self.wait_exit(id, pid, QUIT_TIMEOUT).await {
            return;
        }
        self.kill(id).await;
    }

    /// Waits at most `timeout` for `pid` (the QEMU of `id`) to exit; whether it did.
    /// Then a moment more for the kernel to drop its taps (it unregisters a closed tap
    /// shortly after the process is gone), so that a restart can make them again and a
    /// destroyed guest leaves none.
    async fn wait_exit(&self, id: &str, pid: i32, timeout: Duration) -> bool {
        let gone = process::wait_until_gone(timeout, || self.exiting(id, pid)).await;
        if gone {
            lock(&self.guest(id).live).qmp = None;
            let taps: Vec<String> = self
                .files_of(id)
                .and_then(|f| self.read_spec(&f).ok())
                .map(|s| s.nics.into_iter().map(|n| n.tap).collect())
                .unwrap_or_default();
            let left = process::wait_until_gone(TAP_TIMEOUT, || {
                let links = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
                taps.iter().any(|t| process::has_link(&links, t))
            })
            .await;
            if !left {
                tracing::warn!(instance = %id, ?taps, "taps outlive their QEMU");
            }
        }
        gone
    }

    /// SIGKILL and wait for the process to be gone.
    async fn kill(&self, id: &str) {
        let Some(pid) = self.pid(id) else {
            return;
        };
        process::kill(pid);
        if !self.wait_exit(id, pid, Duration::from_secs(10)).await {
            tracing::error!(instance = %id, pid, "QEMU survives SIGKILL");
        }
    }

    /// Fails with [`Error::State`] unless the guest runs with `query-status` in `want`.
    async fn require_status(&self, id: &str, want: &[&str], what: &str) -> Result<String> {
        let status = if self.pid(id).is_some() {
            self.status(id).await?
        } else {
            "shut off".to_owned()
        };
        if want.contains(&status.as_str()) {
            Ok(status)
        } else {
            Err(Error::State(format!(
                "cannot {what} instance {id} while it is {status}"
            )))
        }
    }
}

#[async_trait::async_trait]
impl Driver for Qemu {
    fn host_info(&self) -> HostInfo {
        let mut info = self.inner.info.clone();
        info.disk_gb = rustix::fs::statvfs(&self.cfg().instances_dir)
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize) >> 30)
            .unwrap_or(0);
        info
    }

    async fn spawn(&self, spec: &InstanceSpec) -> Result<()> {
        machine::validate(spec)?;
        let files = self
            .files_of(&spec.id)
            .ok_or_else(|| Error::Invalid(format!("instance id {:?} is not a UUID", spec.id)))?;
        let guest = self.guest(&spec.id);
        let _op = guest.ops.lock().await;
        if self.pid(&spec.id).is_some() {
            return Ok(());
        }
        let fresh = !files.path().exists();
        let started = self.start(&files, spec).await;
        if started.is_err() && fresh {
            let _ = std::fs::remove_dir_all(files.path());
        }
        started
    }

    async fn destroy(&self, id: &str) -> Result<()> {
        let Some(files) = self.files_of(id) else {
            return Ok(());
        };
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        self.kill(id).await;
        lock(&guest.live).qmp = None;
        match std::fs::remove_dir_all(files.path()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(io_err(format!("cannot remove {}", files.path().display()))(
                    e,
                ))
            }
        }
        lock(&self.inner.guests).remove(id);
        Ok(())
    }

    async fn power_off(&self, id: &str, timeout: Duration) -> Result<()> {
        let files = self.existing(id)?;
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        self.stop(id, timeout).await;
        // a suspended guest that is powered off is simply off
        let _ = std::fs::remove_file(files.saved_state());
        Ok(())
    }

    async fn power_on(&self, spec: &InstanceSpec) -> Result<()> {
        machine::validate(spec)?;
        let files = self.existing(&spec.id)?;
        let guest = self.guest(&spec.id);
        let _op = guest.ops.lock().await;
        if self.pid(&spec.id).is_some() {
            return Ok(());
        }
        self.start(&files, spec).await
    }

    async fn reboot(&self, spec: &InstanceSpec, hard: bool, timeout: Duration) -> Result<()> {
        machine::validate(spec)?;
        let id = &spec.id;
        let files = self.existing(id)?;
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        if !hard {
            // as Nova: an ACPI shutdown, then a fresh start; hard when it did not stop
            self.require_status(id, &["running"], "soft reboot").await?;
            let pid = self.pid(id).unwrap_or_default();
            self.execute(id, "system_powerdown", Value::Null).await?;
            if !self.wait_exit(id, pid, timeout).await {
                tracing::info!(instance = %id, "no ACPI shutdown in time: hard reboot");
            }
        }
        self.stop(id, Duration::ZERO).await;
        let _ = std::fs::remove_file(files.saved_state());
        self.start(&files, spec).await
    }

    async fn pause(&self, id: &str) -> Result<()> {
        self.existing(id)?;
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        self.require_status(id, &["running"], "pause").await?;
        self.execute(id, "stop", Value::Null).await.map(drop)
    }

    async fn unpause(&self, id: &str) -> Result<()> {
        self.existing(id)?;
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        self.require_status(id, &["paused"], "unpause").await?;
        self.execute(id, "cont", Value::Null).await.map(drop)
    }

    async fn suspend(&self, id: &str) -> Result<()> {
        let files = self.existing(id)?;
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        self.save(&files, id).await
    }

    async fn resume(&self, spec: &InstanceSpec) -> Result<()> {
        machine::validate(spec)?;
        let files = self.existing(&spec.id)?;
        let guest = self.guest(&spec.id);
        let _op = guest.ops.lock().await;
        if !files.saved_state().exists() {
            return Err(Error::State(format!(
                "cannot resume instance {}: it is not suspended",
                spec.id
            )));
        }
        // saved, but stopped before QEMU quit (a crash between): the file is whole
        self.stop(&spec.id, Duration::ZERO).await;
        self.start(&files, spec).await
    }

    async fn rescue(&self, spec: &InstanceSpec, rescue: &RootDisk) -> Result<()> {
        machine::validate(spec)?;
        let files = self.existing(&spec.id)?;
        let guest = self.guest(&spec.id);
        let _op = guest.ops.lock().await;
        self.stop(&spec.id, Duration::ZERO).await;
        let _ = std::fs::remove_file(files.saved_state());
        let _ = std::fs::remove_file(files.rescue_disk());
        self.inner
            .img
            .overlay(
                &rescue.base,
                &rescue.base_format,
                &files.rescue_disk(),
                rescue.size_gb,
            )
            .await?;
        write_json(&files.rescue_spec(), rescue)?;
        self.start(&files, spec).await
    }

    async fn unrescue(&self, spec: &InstanceSpec) -> Result<()> {
        machine::validate(spec)?;
        let files = self.existing(&spec.id)?;
        let guest = self.guest(&spec.id);
        let _op = guest.ops.lock().await;
        self.stop(&spec.id, Duration::ZERO).await;
        remove_file(&files.rescue_spec())?;
        remove_file(&files.rescue_disk())?;
        self.start(&files, spec).await
    }

    async fn resize_root(&self, id: &str, size_gb: u64) -> Result<()> {
        let files = self.existing(id)?;
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        if self.pid(id).is_some() {
            return Err(Error::State(format!(
                "cannot resize the root disk of instance {id} while it runs"
            )));
        }
        self.inner.img.grow(&files.disk(), size_gb).await?;
        let mut spec = self.read_spec(&files)?;
        spec.root.size_gb = size_gb;
        self.write_spec(&files, &spec)
    }

    async fn snapshot(&self, id: &str, dest: &Path) -> Result<Snapshot> {
        let files = self.existing(id)?;
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        let paused_here = self.pid(id).is_some() && self.status(id).await? == "running";
        if paused_here {
            self.execute(id, "stop", Value::Null).await?;
        }
        let copied = self.inner.img.flatten(&files.disk(), dest).await;
        if paused_here {
            self.execute(id, "cont", Value::Null).await?;
        }
        copied?;
        let size = std::fs::metadata(dest)
            .map_err(io_err(format!("cannot stat {}", dest.display())))?
            .len();
        Ok(Snapshot {
            disk_format: "qcow2".into(),
            size,
        })
    }

    async fn attach_interface(&self, id: &str, nic: &Nic) -> Result<()> {
        machine::validate_nic(nic)?;
        let files = self.existing(id)?;
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        let mut spec = self.read_spec(&files)?;
        if spec.nics.iter().any(|n| n.port_id == nic.port_id) {
            return Ok(());
        }
        if self.pid(id).is_some() {
            self.hotplug(&spec, nic).await?;
        }
        spec.nics.push(nic.clone());
        self.write_spec(&files, &spec)
    }

    async fn detach_interface(&self, id: &str, port_id: &str) -> Result<()> {
        let files = self.existing(id)?;
        let guest = self.guest(id);
        let _op = guest.ops.lock().await;
        if self.pid(id).is_some() {
            self.unplug(id, port_id).await?;
        }
        let mut spec = self.read_spec(&files)?;
        spec.nics.retain(|n| n.port_id != port_id);
        self.write_spec(&files, &spec)
    }

    async fn power_state(&self, id: &str) -> Result<PowerState> {
        let Ok(files) = self.existing(id) else {
            return Ok(PowerState::NoState);
        };
        if self.pid(id).is_some() {
            return Ok(match self.status(id).await.as_deref() {
                Ok("shutdown") => PowerState::Shutdown,
                Ok("guest-panicked" | "internal-error") => PowerState::Crashed,
                Ok("suspended") => PowerState::Suspended,
                Ok(
                    "paused" | "prelaunch" | "inmigrate" | "postmigrate" | "finish-migrate"
                    | "save-vm" | "restore-vm" | "io-error" | "watchdog",
                ) => PowerState::Paused,
                // running, or alive while QMP is busy
                _ => PowerState::Running,
            });
        }
        Ok(if files.saved_state().exists() {
            PowerState::Suspended
        } else {
            PowerState::Shutdown
        })
    }

    async fn list(&self) -> Result<Vec<String>> {
        self.ids()
    }

    async fn console_log(&self, id: &str, max_bytes: usize) -> Result<String> {
        let files = self.existing(id)?;
        Ok(tail(&files.console_log(), max_bytes))
    }

    async fn vnc_address(&self, id: &str) -> Result<Option<SocketAddr>> {
        self.existing(id)?;
        if self.pid(id).is_none() {
            return Ok(None);
        }
        let vnc = self.execute(id, "query-vnc", Value::Null).await?;
        if vnc.get("enabled").and_then(Value::as_bool) != Some(true) {
            return Ok(None);
        }
        let host = vnc.get("host").and_then(Value::as_str).unwrap_or_default();
        let port = vnc
            .get("service")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ip: IpAddr = host
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| Error::Failed(format!("query-vnc: host {host:?}")))?;
        let port: u16 = port
            .parse()
            .map_err(|_| Error::Failed(format!("query-vnc: service {port:?}")))?;
        Ok(Some(SocketAddr::new(ip, port)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_config_reads_from_toml_like_json_with_defaults() {
        let c: Config =
            serde_json::from_value(json!({ "instances_dir": "/x", "virt_type": "qemu" })).unwrap();
        assert_eq!(c.virt_type, VirtType::Qemu);
        assert_eq!(c.instances_dir, PathBuf::from("/x"));
        assert_eq!(c.machine_type, "pc");
        assert!(serde_json::from_value::<Config>(json!({ "virt_typo": "kvm" })).is_err());
    }
}

//! The QEMU driver: each guest is a QEMU process, a child of this one (not
//! `-daemonize`d) in its own process group, driven over QMP.
//!
//! Everything of a guest lives in `<instances_dir>/<id>/` (see [`files`]): its disks
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
//! KVM where it works, TCG otherwise: with `virt_type = "auto"`, [`probe`] boots a
//! Linux kernel under KVM once per process and picks TCG when it does not reach its
//! panic in time (see there).
//!
//! Calls on one guest are serialized (one lifecycle operation at a time);
//! `power_state`, `console_log`, `vnc_address` and `list` do not wait for them.

mod disk;
pub mod files;
pub mod machine;
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
use serde_json::{json, Value};

use self::{
    disk::QemuImg,
    files::InstanceDir,
    machine::{Accel, Launch},
    qmp::Qmp,
};
use crate::{
    Driver, Error, Firmware, HostInfo, InstanceSpec, Nic, PowerState, Result, RootDisk, Snapshot,
};

/// `virt_type`, as Nova's `[libvirt] virt_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtType {
    /// KVM when the probe boots a guest with it, else TCG.
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
            vcpus: host_vcpus(),
            memory_mb: host_memory_mb(),
            disk_gb: 0,
            cpu_model: host_cpu_model(),
        };
        let img = QemuImg {
            binary: cfg.qemu_img.clone(),
        };
        let q = Qemu {
            inner: Arc::new(Inner {
                cfg,
                accel,
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
        let guest = self.guest(id);
        let mut live = lock(&guest.live);
        if let Some(child) = &mut live.child {
            if !matches!(child.try_wait(), Ok(None)) {
                live.child = None;
            }
        }
        let pid = process::find(&files.pid(), id);
        if pid.is_none() {
            live.qmp = None;
        }
        pid
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
            self.finish_restore(files, &spec.id, &qmp).await?;
        }
        tracing::info!(instance = %spec.id, pid = ?process::read_pid(&files.pid()), "QEMU started");
        Ok(())
    }

    /// After `-incoming`: wait for the memory to be loaded, run the guest, drop the file.
    async fn finish_restore(&self, files: &InstanceDir, id: &str, qmp: &Qmp) -> Result<()> {
        let deadline = tokio::time::Instant::now() + MIGRATE_TIMEOUT;
        loop {
            let status = qmp.execute("query-status", Value::Null).await?;
            match status.get("status").and_then(Value::as_str) {
                Some("inmigrate") if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Some("inmigrate") => {
                    return Err(Error::Failed(format!(
                        "instance {id}: restoring its memory took over {MIGRATE_TIMEOUT:?}"
                    )))
                }
                Some("running") => break,
                _ => {
                    qmp.execute("cont", Value::Null).await?;
                    break;
                }
            }
        }
        remove_file(&files.saved_state())
    }

    /// Stop the guest: ACPI power button first when `graceful` is not zero, waiting
    /// that long for it to power off; then `quit`, then SIGKILL.
    async fn stop(&self, id: &str, graceful: Duration) {
        if self.pid(id).is_none() {
            return;
        }
        if !graceful.is_zero()
            && self
                .execute(id, "system_powerdown", Value::Null)
                .await
                .is_ok()
            && process::wait_until_gone(graceful, || self.pid(id).is_some()).await
        {
            return;
        }
        let _ = self.execute(id, "quit", Value::Null).await;
        if process::wait_until_gone(QUIT_TIMEOUT, || self.pid(id).is_some()).await {
            return;
        }
        self.kill(id).await;
    }

    /// SIGKILL and wait for the process to be gone.
    async fn kill(&self, id: &str) {
        if let Some(pid) = self.pid(id) {
            process::kill(pid);
        }
        if !process::wait_until_gone(Duration::from_secs(10), || self.pid(id).is_some()).await {
            tracing::error!(instance = %id, "QEMU survives SIGKILL");
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

    /// Plug a NIC into the running guest.
    async fn hotplug(&self, spec: &InstanceSpec, nic: &Nic) -> Result<()> {
        let id = &spec.id;
        let mut netdev = serde_json::Map::new();
        netdev.insert("type".into(), json!("tap"));
        for (k, v) in machine::netdev_props(nic) {
            let v = if k == "vhost" {
                json!(v == "on")
            } else {
                json!(v)
            };
            netdev.insert(k.into(), v);
        }
        self.execute(id, "netdev_add", Value::Object(netdev))
            .await?;
        let model = spec.machine.vif_model;
        let mut device = serde_json::Map::new();
        device.insert("driver".into(), json!(machine::nic_driver(model)));
        for (k, v) in machine::nic_props(nic, model) {
            let v = match v.parse::<u64>() {
                Ok(n) if k == "host_mtu" => json!(n),
                _ => json!(v),
            };
            device.insert(k.into(), v);
        }
        let machine_type = spec
            .machine
            .machine_type
            .as_deref()
            .unwrap_or(&self.cfg().machine_type);
        // q35's root bus takes no hot-plug: try the free root ports in turn
        let buses: Vec<Option<String>> = if machine_type.contains("q35") {
            (0..machine::HOTPLUG_PORTS)
                .map(|n| Some(machine::hotplug_port(n)))
                .collect()
        } else {
            vec![None]
        };
        let mut last = None;
        for bus in buses {
            let mut d = device.clone();
            if let Some(bus) = bus {
                d.insert("bus".into(), json!(bus));
            }
            match self.execute(id, "device_add", Value::Object(d)).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        let _ = self
            .execute(
                id,
                "netdev_del",
                json!({ "id": machine::netdev_id(&nic.port_id) }),
            )
            .await;
        Err(last.unwrap_or_else(|| Error::Failed("device_add: no bus".into())))
    }

    /// Unplug a NIC from the running guest: `device_del`, wait for its
    /// DEVICE_DELETED (the guest's eject), then the backend.
    async fn unplug(&self, id: &str, port_id: &str) -> Result<()> {
        let dev = machine::nic_id(port_id);
        let qmp = self.qmp(id).await?;
        let mut events = qmp.events();
        match qmp.execute("device_del", json!({ "id": dev })).await {
            Ok(_) => {
                qmp::wait_event(&mut events, UNPLUG_TIMEOUT, |e| {
                    e.name == "DEVICE_DELETED"
                        && e.data.get("device").and_then(Value::as_str) == Some(dev.as_str())
                })
                .await
                .map_err(|e| {
                    Error::Failed(format!("instance {id} did not release NIC {port_id}: {e}"))
                })?;
            }
            Err(e) if e.to_string().contains("not found") => {}
            Err(e) => return Err(e),
        }
        match qmp
            .execute("netdev_del", json!({ "id": machine::netdev_id(port_id) }))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Save the memory of the running guest to `suspend.state` and stop it.
    async fn save(&self, files: &InstanceDir, id: &str) -> Result<()> {
        let status = self
            .require_status(id, &["running", "paused"], "suspend")
            .await?;
        if status == "running" {
            self.execute(id, "stop", Value::Null).await?;
        }
        let tmp = files.saved_state().with_extension("part");
        let saved = async {
            self.execute(
                id,
                "migrate-set-parameters",
                json!({ "max-bandwidth": 8u64 << 30 }),
            )
            .await?;
            let uri = format!(
                "exec:cat > {}",
                machine::shell_quote(&tmp.display().to_string())
            );
            self.execute(id, "migrate", json!({ "uri": uri })).await?;
            let deadline = tokio::time::Instant::now() + MIGRATE_TIMEOUT;
            loop {
                let m = self.execute(id, "query-migrate", Value::Null).await?;
                match m.get("status").and_then(Value::as_str) {
                    Some("completed") => break,
                    Some("failed" | "cancelled") => {
                        return Err(Error::Failed(format!(
                            "saving the memory of instance {id} failed: {}",
                            m.get("error-desc").and_then(Value::as_str).unwrap_or("?")
                        )))
                    }
                    _ if tokio::time::Instant::now() > deadline => {
                        let _ = self.execute(id, "migrate_cancel", Value::Null).await;
                        return Err(Error::Failed(format!(
                            "saving the memory of instance {id} took over {MIGRATE_TIMEOUT:?}"
                        )));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            std::fs::rename(&tmp, files.saved_state())
                .map_err(io_err(format!("cannot rename {}", tmp.display())))
        }
        .await;
        if let Err(e) = saved {
            let _ = std::fs::remove_file(&tmp);
            if status == "running" {
                let _ = self.execute(id, "cont", Value::Null).await;
            }
            return Err(e);
        }
        self.stop(id, Duration::ZERO).await;
        Ok(())
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
            self.execute(id, "system_powerdown", Value::Null).await?;
            if !process::wait_until_gone(timeout, || self.pid(id).is_some()).await {
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

/// Write `value` as JSON, atomically (a temporary file renamed over).
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.part");
    let text = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Failed(format!("cannot encode {}: {e}", path.display())))?;
    std::fs::write(&tmp, text).map_err(io_err(format!("cannot write {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("cannot write {}", path.display())))
}

fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(format!("cannot remove {}", path.display()))(e)),
    }
}

/// The last `max_bytes` of a file, as text (empty when there is none).
fn tail(path: &Path, max_bytes: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(u64::try_from(max_bytes).unwrap_or(u64::MAX));
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_ok() {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// What QEMU wrote to its log since `offset`, for an error message.
fn log_since(path: &Path, offset: u64) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(0).min(text.len());
    String::from_utf8_lossy(&text[start..]).trim().to_owned()
}

fn host_vcpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

fn host_memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib / 1024)
}

fn host_cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))?
                .split_once(':')
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_reads_from_toml_like_json_with_defaults() {
        let c: Config =
            serde_json::from_value(json!({ "instances_dir": "/x", "virt_type": "qemu" })).unwrap();
        assert_eq!(c.virt_type, VirtType::Qemu);
        assert_eq!(c.instances_dir, PathBuf::from("/x"));
        assert_eq!(c.machine_type, "pc");
        assert!(serde_json::from_value::<Config>(json!({ "virt_typo": "kvm" })).is_err());
    }

    #[test]
    fn tails_cut_at_the_end() {
        let p = std::env::temp_dir().join(format!("oxi-tail-{}", std::process::id()));
        std::fs::write(&p, "hello world").unwrap();
        assert_eq!(tail(&p, 5), "world");
        assert_eq!(tail(&p, 100), "hello world");
        std::fs::remove_file(&p).unwrap();
        assert_eq!(tail(&p, 5), "");
    }
}

//! A driver with no processes: guests are entries in a map that change state at once.
//! For API tests and for simulating many hosts in one process.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{Driver, Error, HostInfo, InstanceSpec, Nic, PowerState, Result, RootDisk, Snapshot};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Guest {
    spec: InstanceSpec,
    state: PowerState,
    rescued: bool,
}

/// The fake driver. Clones share their guests.
#[derive(Clone)]
pub struct Fake {
    info: HostInfo,
    guests: Arc<Mutex<BTreeMap<String, Guest>>>,
    /// This many of the next spawns fail (to test unwinding).
    failing_spawns: Arc<std::sync::atomic::AtomicUsize>,
    /// The VNC server every guest's console is at (none unless a test sets one).
    vnc: Arc<Mutex<Option<SocketAddr>>>,
    /// Where the guests are kept across restarts of the process, as QEMU guests outlive
    /// it (none: they live as long as the driver).
    file: Option<Arc<std::path::PathBuf>>,
}

impl Fake {
    /// A host with `vcpus`, `memory_mb` and `disk_gb`.
    pub fn new(vcpus: u32, memory_mb: u64, disk_gb: u64) -> Self {
        Self {
            info: HostInfo {
                hypervisor_type: "fake".into(),
                hypervisor_version: 1000,
                virt_type: "fake".into(),
                vcpus,
                memory_mb,
                disk_gb,
                cpu_model: "fake".into(),
            },
            guests: Arc::default(),
            failing_spawns: Arc::default(),
            vnc: Arc::default(),
            file: None,
        }
    }

    /// [`Fake::new`], its guests kept in `file` (JSON), read back when a process starts
    /// over it: a restarted host still runs what it ran, as QEMU's guests outlive it.
    pub fn persistent(vcpus: u32, memory_mb: u64, disk_gb: u64, file: &Path) -> Self {
        let mut f = Self::new(vcpus, memory_mb, disk_gb);
        if let Ok(text) = std::fs::read_to_string(file) {
            match serde_json::from_str(&text) {
                Ok(guests) => f.guests = Arc::new(Mutex::new(guests)),
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "the fake guests' file is unreadable; starting with none")
                }
            }
        }
        f.file = Some(Arc::new(file.to_owned()));
        f
    }

    /// Write the guests to the file, if kept (a new file renamed over the old one).
    fn save(&self, guests: &BTreeMap<String, Guest>) {
        let Some(file) = &self.file else { return };
        let tmp = file.with_extension("json.tmp");
        let written = serde_json::to_vec(guests)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, file.as_path()));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), error = %e, "cannot keep the fake guests");
        }
    }

    /// Give every guest its console at `addr` (a test's stand-in VNC server).
    pub fn set_vnc_address(&self, addr: Option<SocketAddr>) {
        *self.vnc.lock().unwrap_or_else(|e| e.into_inner()) = addr;
    }

    /// Make the next `n` spawns fail.
    pub fn fail_next_spawns(&self, n: usize) {
        self.failing_spawns
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// The spec a guest was last started with.
    pub fn spec(&self, id: &str) -> Option<InstanceSpec> {
        self.lock().get(id).map(|g| g.spec.clone())
    }

    /// Mark a guest as stopped behind the compute manager's back (its process died).
    pub fn crash(&self, id: &str) {
        let mut guests = self.lock();
        if let Some(g) = guests.get_mut(id) {
            g.state = PowerState::Shutdown;
        }
        self.save(&guests);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Guest>> {
        self.guests.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Guest) -> Result<T>) -> Result<T> {
        let mut guests = self.lock();
        let r = match guests.get_mut(id) {
            Some(g) => f(g),
            None => Err(Error::NotFound(id.to_owned())),
        };
        if r.is_ok() {
            self.save(&guests);
        }
        r
    }

    fn start(&self, spec: &InstanceSpec) -> Result<()> {
        self.with(&spec.id, |g| {
            g.spec = spec.clone();
            if g.state != PowerState::Paused {
                g.state = PowerState::Running;
            }
            Ok(())
        })
    }
}

fn require(g: &Guest, states: &[PowerState], what: &str) -> Result<()> {
    if states.contains(&g.state) {
        Ok(())
    } else {
        Err(Error::State(format!(
            "cannot {what} instance {} in power state {:?}",
            g.spec.id, g.state
        )))
    }
}

#[async_trait::async_trait]
impl Driver for Fake {
    fn reads_images(&self) -> bool {
        false
    }

    fn host_info(&self) -> HostInfo {
        self.info.clone()
    }

    async fn spawn(&self, spec: &InstanceSpec) -> Result<()> {
        let failing = self.failing_spawns.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        );
        if failing.is_ok() {
            return Err(Error::Failed(format!(
                "fake spawn failure for {}",
                spec.name
            )));
        }
        let mut guests = self.lock();
        guests.entry(spec.id.clone()).or_insert_with(|| Guest {
            spec: spec.clone(),
            state: PowerState::Running,
            rescued: false,
        });
        self.save(&guests);
        Ok(())
    }

    async fn destroy(&self, id: &str) -> Result<()> {
        let mut guests = self.lock();
        guests.remove(id);
        self.save(&guests);
        Ok(())
    }

    async fn power_off(&self, id: &str, _timeout: Duration) -> Result<()> {
        self.with(id, |g| {
            g.state = PowerState::Shutdown;
            Ok(())
        })
    }

    async fn power_on(&self, spec: &InstanceSpec) -> Result<()> {
        self.start(spec)
    }

    async fn reboot(&self, spec: &InstanceSpec, hard: bool, _timeout: Duration) -> Result<()> {
        self.with(&spec.id, |g| {
            if !hard {
                require(g, &[PowerState::Running], "soft reboot")?;
            }
            g.spec = spec.clone();
            g.state = PowerState::Running;
            Ok(())
        })
    }

    async fn pause(&self, id: &str) -> Result<()> {
        self.with(id, |g| {
            require(g, &[PowerState::Running], "pause")?;
            g.state = PowerState::Paused;
            Ok(())
        })
    }

    async fn unpause(&self, id: &str) -> Result<()> {
        self.with(id, |g| {
            require(g, &[PowerState::Paused], "unpause")?;
            g.state = PowerState::Running;
            Ok(())
        })
    }

    async fn suspend(&self, id: &str) -> Result<()> {
        self.with(id, |g| {
            require(g, &[PowerState::Running, PowerState::Paused], "suspend")?;
            g.state = PowerState::Suspended;
            Ok(())
        })
    }

    async fn resume(&self, spec: &InstanceSpec) -> Result<()> {
        self.with(&spec.id, |g| {
            require(g, &[PowerState::Suspended], "resume")?;
            g.state = PowerState::Running;
            Ok(())
        })
    }

    async fn rescue(&self, spec: &InstanceSpec, _rescue: &RootDisk) -> Result<()> {
        self.with(&spec.id, |g| {
            g.rescued = true;
            g.state = PowerState::Running;
            Ok(())
        })
    }

    async fn unrescue(&self, spec: &InstanceSpec) -> Result<()> {
        self.with(&spec.id, |g| {
            g.rescued = false;
            g.spec = spec.clone();
            g.state = PowerState::Running;
            Ok(())
        })
    }

    async fn resize_root(&self, id: &str, size_gb: u64) -> Result<()> {
        self.with(id, |g| {
            require(g, &[PowerState::Shutdown], "resize")?;
            g.spec.root.size_gb = size_gb;
            Ok(())
        })
    }

    async fn snapshot(&self, id: &str, dest: &Path) -> Result<Snapshot> {
        self.with(id, |_| Ok(()))?;
        let data = format!("fake snapshot of {id}\n");
        tokio::fs::write(dest, &data)
            .await
            .map_err(|source| Error::Io {
                context: format!("cannot write {}", dest.display()),
                source,
            })?;
        Ok(Snapshot {
            disk_format: "raw".into(),
            size: data.len() as u64,
        })
    }

    async fn attach_interface(&self, id: &str, nic: &Nic) -> Result<()> {
        self.with(id, |g| {
            g.spec.nics.retain(|n| n.port_id != nic.port_id);
            g.spec.nics.push(nic.clone());
            Ok(())
        })
    }

    async fn detach_interface(&self, id: &str, port_id: &str) -> Result<()> {
        self.with(id, |g| {
            g.spec.nics.retain(|n| n.port_id != port_id);
            Ok(())
        })
    }

    async fn power_state(&self, id: &str) -> Result<PowerState> {
        Ok(self.lock().get(id).map_or(PowerState::NoState, |g| g.state))
    }

    async fn list(&self) -> Result<Vec<String>> {
        Ok(self.lock().keys().cloned().collect())
    }

    async fn console_log(&self, id: &str, max_bytes: usize) -> Result<String> {
        self.with(id, |g| {
            let log = format!(
                "fake console of {}\nlogin: {}\n",
                g.spec.name,
                if g.rescued { "rescue" } else { "cirros" }
            );
            let start = log.len().saturating_sub(max_bytes);
            Ok(log[start..].to_owned())
        })
    }

    async fn vnc_address(&self, id: &str) -> Result<Option<SocketAddr>> {
        let vnc = *self.vnc.lock().unwrap_or_else(|e| e.into_inner());
        self.with(id, |_| Ok(vnc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MachineOptions;

    fn spec(id: &str) -> InstanceSpec {
        InstanceSpec {
            id: id.into(),
            name: format!("instance-{id}"),
            vcpus: 1,
            memory_mb: 512,
            root: RootDisk {
                base: "/nonexistent".into(),
                base_format: "qcow2".into(),
                size_gb: 1,
            },
            ephemeral_gb: 0,
            swap_mb: 0,
            nics: Vec::new(),
            config_drive: None,
            machine: MachineOptions::default(),
        }
    }

    #[tokio::test]
    async fn a_fake_guest_moves_through_its_states() {
        let d = Fake::new(4, 8192, 100);
        let s = spec("a");
        d.spawn(&s).await.unwrap();
        d.spawn(&s).await.unwrap();
        assert_eq!(d.power_state("a").await.unwrap(), PowerState::Running);
        d.pause("a").await.unwrap();
        assert!(matches!(d.pause("a").await, Err(Error::State(_))));
        d.unpause("a").await.unwrap();
        d.power_off("a", Duration::ZERO).await.unwrap();
        assert_eq!(d.power_state("a").await.unwrap(), PowerState::Shutdown);
        d.power_on(&s).await.unwrap();
        assert_eq!(d.list().await.unwrap(), ["a"]);
        d.destroy("a").await.unwrap();
        d.destroy("a").await.unwrap();
        assert_eq!(d.power_state("a").await.unwrap(), PowerState::NoState);
        assert!(matches!(d.pause("a").await, Err(Error::NotFound(_))));
    }
}

//! The compute manager of a host (`serve --role compute`, and inside `oxistack up`):
//! Nova's nova-compute.
//!
//! At start it creates its hypervisor driver (`qemu` or `fake`), reports the host to
//! Placement (its resource provider, the VCPU / MEMORY_MB / DISK_GB inventory with the
//! allocation ratios, its traits) and to the conductor (its service record and
//! hypervisor, every `report_interval`: hosts never write the database), and answers
//! `compute.<host>` ([`compute::rpc::ComputeHost`]): build a guest (the image cached
//! once under `_base/`, the taps named for the network agent to plug, the ports waited
//! for until ACTIVE), destroy it, and the actions. A periodic sync asks the conductor
//! which servers are the host's: a guest whose process died is reported (the server
//! becomes SHUTOFF), and guests no server owns are destroyed. A restarted manager
//! finds its running guests through the driver and carries on with them.
//!
//! `fake_hosts = N` runs N simulated hosts with the fake driver in this one process
//! (the control-plane benchmark, scale tests).

pub mod images;
pub mod manager;
mod report;

use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

use hypervisor::qemu::VirtType;
use serde::{Deserialize, Serialize};
use service::AgentContext;

pub use manager::Manager;

/// `driver` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriverName {
    Qemu,
    Fake,
}

/// The `[compute]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Whether `oxistack up` runs the compute manager of this host.
    pub enabled: bool,
    /// The host's name (`compute.<host>`, `OS-EXT-SRV-ATTR:host`); default: the machine's.
    pub host: Option<String>,
    pub driver: DriverName,
    /// Where guests' disks, consoles and the image cache (`_base/`) live (default
    /// `<data_dir>/instances`).
    pub instances_path: Option<PathBuf>,
    /// `auto` (KVM where a probe guest boots with it, else TCG), `kvm` or `qemu` (TCG).
    pub virt_type: VirtType,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    /// Memory kept for the host itself, in MiB.
    pub reserved_host_memory_mb: u64,
    /// Disk kept for the host itself, in MiB.
    pub reserved_host_disk_mb: u64,
    /// Seconds between reports to the conductor (the service's heartbeat).
    pub report_interval: u64,
    /// Seconds between syncs of the guests' power states (and orphan removal).
    pub sync_interval: u64,
    /// Seconds a build waits for its ports to be wired (ACTIVE); 0: it does not wait.
    /// The fake driver never waits (no agent wires its guests).
    pub vif_plugging_timeout: u64,
    /// Seconds a guest gets to shut down cleanly before it is stopped hard.
    pub shutdown_timeout: u64,
    /// Give every guest a config drive, asked for or not (Nova's `force_config_drive`).
    pub force_config_drive: bool,
    /// The resources of a fake host.
    pub fake_vcpus: u32,
    pub fake_memory_mb: u64,
    pub fake_disk_gb: u64,
    /// Simulated hosts (fake driver) run in this process besides, named
    /// `<host>-sim<n>`.
    pub fake_hosts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            host: None,
            driver: DriverName::Qemu,
            instances_path: None,
            virt_type: VirtType::Auto,
            cpu_allocation_ratio: 4.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            reserved_host_memory_mb: 512,
            reserved_host_disk_mb: 0,
            report_interval: 10,
            sync_interval: 10,
            vif_plugging_timeout: 300,
            shutdown_timeout: 60,
            force_config_drive: false,
            fake_vcpus: 16,
            fake_memory_mb: 32768,
            fake_disk_gb: 500,
            fake_hosts: 0,
        }
    }
}

pub const EXAMPLE: &str = r#"[compute]
# Run this host's compute manager inside `oxistack up`.
enabled = true
# The host's name (default: this machine's).
# host = "compute1"
# "qemu" (QEMU over QMP, KVM where it works, else TCG; needs root, qemu-system-x86 and
# qemu-utils: scripts/install) or "fake" (no processes; for API tests).
driver = "qemu"
# Guests' disks and consoles, and the image cache (_base/); default <data_dir>/instances.
# instances_path = "/var/lib/oxistack/instances"
# "auto" (KVM where it works, else TCG), "kvm" or "qemu" (TCG).
virt_type = "auto"
cpu_allocation_ratio = 4.0
ram_allocation_ratio = 1.0
disk_allocation_ratio = 1.0
reserved_host_memory_mb = 512
reserved_host_disk_mb = 0
# Seconds between the host's reports (its heartbeat) and between power-state syncs.
report_interval = 10
sync_interval = 10
# Seconds a build waits for the network agent to wire its ports (0: no wait).
vif_plugging_timeout = 300
# Seconds a guest gets to shut down before it is stopped hard.
shutdown_timeout = 60
# Give every guest a config drive (vfat, config-2), whether its server asked or not.
force_config_drive = false
# The resources of a fake host.
fake_vcpus = 16
fake_memory_mb = 32768
fake_disk_gb = 500
# Simulated hosts (fake driver) run in this process besides, named <host>-sim<n>.
fake_hosts = 0
"#;

/// The compute manager, as the kit registers it.
pub struct ComputeAgent;

impl service::Agent for ComputeAgent {
    type Config = Config;
    const NAME: &'static str = "compute";
    const CONFIG_EXAMPLE: &'static str = EXAMPLE;

    fn enabled(cfg: &Config) -> bool {
        cfg.enabled
    }

    async fn start(cfg: Config, ctx: AgentContext) -> anyhow::Result<()> {
        let host = cfg.host.clone().unwrap_or_else(hostname);
        let instances = cfg
            .instances_path
            .clone()
            .unwrap_or_else(|| ctx.data_dir.join("instances"));
        let services = Services::new(&ctx.service_token, &ctx.endpoints);
        let driver = make_driver(&cfg, &instances).await?;
        let mut managers = vec![Manager::new(
            cfg.clone(),
            host.clone(),
            instances.clone(),
            driver,
            ctx.bus.clone(),
            services.clone(),
        )];
        for n in 1..=cfg.fake_hosts {
            let name = format!("{host}-sim{n}");
            let mut sim = cfg.clone();
            sim.driver = DriverName::Fake;
            let dir = instances.join("sim").join(&name);
            let driver = make_driver(&sim, &dir).await?;
            managers.push(Manager::new(
                sim,
                name,
                dir,
                driver,
                ctx.bus.clone(),
                services.clone(),
            ));
        }
        for m in managers {
            m.start(&ctx.tasks).await?;
        }
        Ok(())
    }
}

/// The other services' APIs a host calls, as the service user.
#[derive(Clone)]
pub struct Services {
    pub placement: compute::clients::placement::Placement,
    pub clients: compute::clients::Clients,
}

impl Services {
    pub fn new(
        token: &service::ServiceToken,
        endpoints: &BTreeMap<&'static str, String>,
    ) -> Services {
        Services {
            placement: compute::clients::placement::Placement::new(token.clone(), endpoints),
            clients: compute::clients::Clients::new(token.clone(), endpoints),
        }
    }
}

/// The driver the configuration names, its guests under `instances`.
pub async fn make_driver(
    cfg: &Config,
    instances: &std::path::Path,
) -> anyhow::Result<Arc<dyn hypervisor::Driver>> {
    match cfg.driver {
        DriverName::Fake => {
            std::fs::create_dir_all(instances)?;
            Ok(Arc::new(hypervisor::fake::Fake::persistent(
                cfg.fake_vcpus,
                cfg.fake_memory_mb,
                cfg.fake_disk_gb,
                &instances.join("fake-guests.json"),
            )))
        }
        DriverName::Qemu => {
            let q = hypervisor::qemu::Qemu::new(hypervisor::qemu::Config {
                instances_dir: instances.to_owned(),
                virt_type: cfg.virt_type,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot start the QEMU driver: {e} (install qemu-system-x86 and qemu-utils, \
                     e.g. with scripts/install, or set [compute] driver = \"fake\")"
                )
            })?;
            Ok(Arc::new(q))
        }
    }
}

/// The machine's host name.
pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_is_the_defaults() {
        let v: toml::Value = toml::from_str(super::EXAMPLE).unwrap();
        let cfg: super::Config = v["compute"].clone().try_into().unwrap();
        assert_eq!(cfg, super::Config::default());
    }
}

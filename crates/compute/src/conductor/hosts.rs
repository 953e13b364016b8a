//! What hosts tell the conductor (their heartbeat, their guests' power states) and what
//! the scheduler reads of them.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use types::{Result, ServerId};

use super::Conductor;
use crate::{
    app::hosts::NodeReport,
    app::StateChange,
    clients::placement::provider_uuid,
    model::{Flavor, PowerState, VmState},
    rpc::{HostInstance, ServiceReport},
    scheduler::{HostState, Hosts},
    store::placed as store,
    Compute,
};

/// Nova's power state of the driver's.
pub(crate) fn power_state(p: hypervisor::PowerState) -> PowerState {
    match p {
        hypervisor::PowerState::NoState => PowerState::NoState,
        hypervisor::PowerState::Running => PowerState::Running,
        hypervisor::PowerState::Paused => PowerState::Paused,
        hypervisor::PowerState::Shutdown => PowerState::Shutdown,
        hypervisor::PowerState::Crashed => PowerState::Crashed,
        hypervisor::PowerState::Suspended => PowerState::Suspended,
    }
}

impl Conductor {
    /// A host's heartbeat: its service row and compute node, with what its servers use.
    pub(crate) async fn service_report(&self, r: &ServiceReport) -> Result<()> {
        let mut conn = self.compute.db.pool.acquire().await?;
        let placed = store::placed_on(&mut conn, &r.host).await?;
        drop(conn);
        let (mut vcpus, mut mem, mut disk) = (0i64, 0i64, 0i64);
        for p in &placed {
            if let Ok(f) = serde_json::from_str::<Flavor>(&p.flavor) {
                vcpus += f.vcpus;
                mem += f.memory_mb;
                disk += f.root_gb + f.ephemeral_gb;
            }
        }
        let h = &r.hypervisor;
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.compute.service_heartbeat(&r.host, &r.binary).await?;
        self.compute
            .node_report(NodeReport {
                host: r.host.clone(),
                hypervisor_hostname: r.host.clone(),
                hypervisor_type: h.hypervisor_type.clone(),
                hypervisor_version: i(h.hypervisor_version),
                host_ip: r.host_ip.clone(),
                vcpus: i64::from(h.vcpus),
                memory_mb: i(h.memory_mb),
                local_gb: i(h.disk_gb),
                vcpus_used: vcpus,
                memory_mb_used: mem,
                local_gb_used: disk,
                running_vms: i(r.running_vms),
                cpu_info: serde_json::json!({"model": h.cpu_model, "virt_type": h.virt_type})
                    .to_string(),
            })
            .await
    }

    pub(crate) async fn host_instances(&self, host: &str) -> Result<Vec<HostInstance>> {
        let mut conn = self.compute.db.pool.acquire().await?;
        Ok(store::placed_on(&mut conn, host)
            .await?
            .into_iter()
            .map(|p| HostInstance {
                id: p.id,
                vm_state: p.vm_state,
                task_state: p.task_state,
            })
            .collect())
    }

    /// The power states a host's driver sees: a running server whose guest stopped
    /// (its QEMU died, the guest powered itself off) becomes SHUTOFF, as Nova's power
    /// state sync stops it; other differences are recorded.
    pub(crate) async fn power_states(
        &self,
        host: &str,
        states: &[(String, hypervisor::PowerState)],
    ) -> Result<()> {
        for (id, p) in states {
            let Ok(id) = id.parse::<ServerId>() else {
                continue;
            };
            let Ok(s) = self.compute.server(&id).await else {
                continue;
            };
            if s.deleted || s.task_state.is_some() || s.host.as_deref() != Some(host) {
                continue;
            }
            let p = power_state(*p);
            let stopped = matches!(
                p,
                PowerState::Shutdown | PowerState::NoState | PowerState::Crashed
            );
            let change = if s.vm_state == VmState::Active && stopped {
                tracing::info!(server = %id, ?p, "the guest stopped: the server is SHUTOFF");
                StateChange::to(VmState::Stopped).power(PowerState::Shutdown)
            } else if p != s.power_state {
                StateChange::keep().power(p)
            } else {
                continue;
            };
            // only if nobody started an action meanwhile
            let _ = self
                .compute
                .set_states(&id, change.expecting(&[None]))
                .await;
        }
        Ok(())
    }
}

/// The scheduler's view of the hosts, from the database. It keeps what it read (the
/// hosts' services, nodes and aggregates: three reads of every row) and reads again
/// when a change to them was counted ([`crate::store::hosts::changes`]), when its copy is
/// older than [`HOSTS_FRESH`] (heartbeats, nodes), or when Placement offers a provider
/// it does not know (a new host).
pub struct DbHosts {
    compute: Arc<Compute>,
    cache: Mutex<Option<HostsRead>>,
}

/// How long the scheduler's copy of the hosts serves without a change counted: a
/// heartbeat or a new node is seen this late at most.
pub const HOSTS_FRESH: Duration = Duration::from_secs(1);

/// A provider Placement offers that no host has (a sharing provider) makes the hosts
/// read again at most this often.
const UNKNOWN_REREAD: Duration = Duration::from_millis(100);

struct HostsRead {
    counter: i64,
    at: Instant,
    /// Every nova-compute host, summaries empty.
    hosts: Arc<Vec<HostState>>,
}

impl DbHosts {
    pub fn new(compute: Arc<Compute>) -> DbHosts {
        DbHosts {
            compute,
            cache: Mutex::new(None),
        }
    }

    fn cached(&self, counter: i64, node_uuids: &[String]) -> Option<Arc<Vec<HostState>>> {
        let g = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let r = g.as_ref()?;
        if r.counter != counter || r.at.elapsed() >= HOSTS_FRESH {
            return None;
        }
        let known: HashSet<&str> = r.hosts.iter().map(|h| h.node_uuid.as_str()).collect();
        let all_known = node_uuids.iter().all(|u| known.contains(u.as_str()));
        (all_known || r.at.elapsed() < UNKNOWN_REREAD).then(|| r.hosts.clone())
    }

    /// Every nova-compute host, from the database.
    async fn read(&self, conn: &mut crate::store::Conn) -> Result<Vec<HostState>> {
        let services = crate::store::hosts::services(conn).await?;
        let nodes = crate::store::hosts::nodes(conn).await?;
        let aggregates = crate::store::hosts::aggregates(conn).await?;
        let cfg = &self.compute.cfg;
        let nodes: HashMap<&str, &crate::store::hosts::NodeRow> =
            nodes.iter().map(|n| (n.host.as_str(), n)).collect();
        let mut out = Vec::new();
        for s in services.iter().filter(|s| s.binary == "nova-compute") {
            let mut meta: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for a in aggregates.iter().filter(|a| a.hosts.contains(&s.host)) {
                for (k, v) in &a.metadata {
                    meta.entry(k.clone()).or_default().push(v.clone());
                }
            }
            let node = nodes.get(s.host.as_str());
            out.push(HostState {
                host: s.host.clone(),
                node: node.map_or_else(|| s.host.clone(), |n| n.hypervisor_hostname.clone()),
                node_uuid: provider_uuid(&s.host),
                enabled: !s.disabled,
                up: !s.forced_down && seen_within(s.last_seen_up.as_deref(), cfg.service_down_time),
                availability_zone: meta
                    .get("availability_zone")
                    .and_then(|v| v.first().cloned())
                    .unwrap_or_else(|| cfg.default_availability_zone.clone()),
                aggregate_metadata: meta,
                hypervisor_type: node.map(|n| n.hypervisor_type.clone()).unwrap_or_default(),
                summary: Default::default(),
            });
        }
        Ok(out)
    }
}

fn seen_within(last: Option<&str>, secs: u64) -> bool {
    let Some(t) = last.and_then(|l| chrono::DateTime::parse_from_rfc3339(l).ok()) else {
        return false;
    };
    let age = chrono::Utc::now().signed_duration_since(t.with_timezone(&chrono::Utc));
    age.num_seconds() <= i64::try_from(secs).unwrap_or(i64::MAX)
}

#[async_trait]
impl Hosts for DbHosts {
    /// The nova-compute hosts whose provider (named by the host, see
    /// [`provider_uuid`]) is among `node_uuids`.
    async fn hosts(&self, node_uuids: &[String]) -> Result<Vec<HostState>> {
        let mut conn = self.compute.db.pool.acquire().await?;
        // the counter first: a change after it is counted after it too
        let counter = crate::store::hosts::changes(&mut conn).await?;
        let all = match self.cached(counter, node_uuids) {
            Some(all) => all,
            None => {
                let all = Arc::new(self.read(&mut conn).await?);
                *self.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(HostsRead {
                    counter,
                    at: Instant::now(),
                    hosts: all.clone(),
                });
                all
            }
        };
        drop(conn);
        let wanted: HashSet<&str> = node_uuids.iter().map(String::as_str).collect();
        Ok(all
            .iter()
            .filter(|h| wanted.contains(h.node_uuid.as_str()))
            .cloned()
            .collect())
    }
}

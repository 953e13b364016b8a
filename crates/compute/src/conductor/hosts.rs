//! What hosts tell the conductor (their heartbeat, their guests' power states) and what
//! the scheduler reads of them.

use std::sync::Arc;

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

/// The scheduler's view of the hosts, from the database.
pub struct DbHosts {
    pub compute: Arc<Compute>,
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
        let services = crate::store::hosts::services(&mut conn).await?;
        let nodes = crate::store::hosts::nodes(&mut conn).await?;
        let aggregates = crate::store::hosts::aggregates(&mut conn).await?;
        let cfg = &self.compute.cfg;
        let mut out = Vec::new();
        for s in services.iter().filter(|s| s.binary == "nova-compute") {
            let uuid = provider_uuid(&s.host);
            if !node_uuids.contains(&uuid) {
                continue;
            }
            let mut meta: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for a in aggregates.iter().filter(|a| a.hosts.contains(&s.host)) {
                for (k, v) in &a.metadata {
                    meta.entry(k.clone()).or_default().push(v.clone());
                }
            }
            let node = nodes.iter().find(|n| n.host == s.host);
            out.push(HostState {
                host: s.host.clone(),
                node: node.map_or_else(|| s.host.clone(), |n| n.hypervisor_hostname.clone()),
                node_uuid: uuid,
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

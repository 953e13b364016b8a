//! The cloud's hosts as the API shows them: service records (os-services; the hosts'
//! agents and the conductor report heartbeats with [`Compute::service_heartbeat`]),
//! compute nodes (os-hypervisors; reported with [`Compute::node_report`]), aggregates
//! and the availability zones they define.

use api_common::{Error, Result};
use types::{ComputeServiceId, HypervisorId};

use super::{Caller, Compute};
use crate::{
    model::now,
    policies::Rule,
    store::{
        self,
        hosts::{AggregateRow, NodeRow, ServiceRow},
    },
};

/// What a host's manager reports about its node.
#[derive(Debug, Clone, Default)]
pub struct NodeReport {
    pub host: String,
    pub hypervisor_hostname: String,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub host_ip: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub vcpus_used: i64,
    pub memory_mb_used: i64,
    pub local_gb_used: i64,
    pub running_vms: i64,
    /// JSON text, as Nova's `cpu_info`.
    pub cpu_info: String,
}

/// A service with whether it is up.
#[derive(Debug, Clone)]
pub struct ServiceState {
    pub row: ServiceRow,
    pub up: bool,
    pub zone: String,
}

/// A change of a service (os-services PUT).
#[derive(Debug, Clone, Default)]
pub struct ServiceChange {
    pub disabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub forced_down: Option<bool>,
}

impl Compute {
    // ---- what hosts report

    /// `binary` (`nova-compute`, `nova-conductor`, `nova-scheduler`) on `host` is alive.
    pub async fn service_heartbeat(&self, host: &str, binary: &str) -> Result<()> {
        let topic = binary.strip_prefix("nova-").unwrap_or(binary);
        let mut c = self.conn().await?;
        store::hosts::heartbeat(
            &mut c,
            &ComputeServiceId::generate(),
            host,
            binary,
            topic,
            &now(),
        )
        .await
    }

    /// A host's node (resources and usage), recorded by its hypervisor hostname.
    pub async fn node_report(&self, r: NodeReport) -> Result<()> {
        let mut c = self.conn().await?;
        let id = store::hosts::nodes(&mut c)
            .await?
            .into_iter()
            .find(|n| n.hypervisor_hostname == r.hypervisor_hostname)
            .map(|n| n.id)
            .unwrap_or_else(HypervisorId::generate);
        store::hosts::upsert_node(
            &mut c,
            &NodeRow {
                id,
                host: r.host,
                hypervisor_hostname: r.hypervisor_hostname,
                hypervisor_type: r.hypervisor_type,
                hypervisor_version: r.hypervisor_version,
                host_ip: r.host_ip,
                vcpus: r.vcpus,
                memory_mb: r.memory_mb,
                local_gb: r.local_gb,
                vcpus_used: r.vcpus_used,
                memory_mb_used: r.memory_mb_used,
                local_gb_used: r.local_gb_used,
                running_vms: r.running_vms,
                cpu_info: if r.cpu_info.is_empty() {
                    "{}".into()
                } else {
                    r.cpu_info
                },
                updated_at: now(),
            },
        )
        .await
    }

    fn is_up(&self, s: &ServiceRow) -> bool {
        if s.forced_down {
            return false;
        }
        let Some(seen) = &s.last_seen_up else {
            return false;
        };
        let Ok(t) = chrono::DateTime::parse_from_rfc3339(seen) else {
            return false;
        };
        chrono::Utc::now().signed_duration_since(t).num_seconds()
            <= i64::try_from(self.cfg.service_down_time).unwrap_or(i64::MAX)
    }

    /// The hosts whose nova-compute may take servers (enabled and up), for the scheduler.
    pub async fn usable_hosts(&self) -> Result<Vec<String>> {
        let mut c = self.conn().await?;
        Ok(store::hosts::services(&mut c)
            .await?
            .into_iter()
            .filter(|s| s.binary == "nova-compute" && !s.disabled && self.is_up(s))
            .map(|s| s.host)
            .collect())
    }

    /// Whether nova-compute of `host` is up (None: no such service): a server's
    /// `host_status` (2.16).
    pub async fn host_status(&self, host: &str) -> Result<Option<&'static str>> {
        let mut c = self.conn().await?;
        let s = store::hosts::services(&mut c)
            .await?
            .into_iter()
            .find(|s| s.binary == "nova-compute" && s.host == host);
        Ok(s.map(|s| {
            if s.forced_down || !self.is_up(&s) {
                "DOWN"
            } else if s.disabled {
                "MAINTENANCE"
            } else {
                "UP"
            }
        }))
    }

    // ---- os-services

    pub async fn service_list(
        &self,
        caller: &Caller<'_>,
        host: Option<&str>,
        binary: Option<&str>,
    ) -> Result<Vec<ServiceState>> {
        self.authorize_own(caller, Rule::ServicesList)?;
        let mut c = self.conn().await?;
        let rows = store::hosts::services(&mut c).await?;
        let aggs = store::hosts::aggregates(&mut c).await?;
        Ok(rows
            .into_iter()
            .filter(|s| host.is_none_or(|h| s.host == h))
            .filter(|s| binary.is_none_or(|b| s.binary == b))
            .map(|row| {
                let zone = if row.binary == "nova-compute" {
                    zone_in(&aggs, &row.host)
                        .unwrap_or_else(|| self.cfg.default_availability_zone.clone())
                } else {
                    "internal".into()
                };
                ServiceState {
                    up: self.is_up(&row),
                    row,
                    zone,
                }
            })
            .collect())
    }

    /// Change the service named by id (2.53) or by host and binary.
    pub async fn service_update(
        &self,
        caller: &Caller<'_>,
        by: ServiceKey<'_>,
        change: ServiceChange,
    ) -> Result<ServiceState> {
        self.authorize_own(caller, Rule::ServicesUpdate)?;
        let mut tx = self.db.begin_write().await?;
        let rows = store::hosts::services(&mut tx).await?;
        let mut s = find_service(rows, &by)?;
        if let Some(d) = change.disabled {
            s.disabled = d;
            if !d {
                s.disabled_reason = None;
            }
        }
        if let Some(r) = change.disabled_reason {
            s.disabled_reason = r;
        }
        if let Some(f) = change.forced_down {
            s.forced_down = f;
        }
        s.updated_at = now();
        store::hosts::save_service(&mut tx, &s).await?;
        let aggs = store::hosts::aggregates(&mut tx).await?;
        tx.commit().await?;
        let zone =
            zone_in(&aggs, &s.host).unwrap_or_else(|| self.cfg.default_availability_zone.clone());
        Ok(ServiceState {
            up: self.is_up(&s),
            row: s,
            zone,
        })
    }

    pub async fn service_delete(&self, caller: &Caller<'_>, by: ServiceKey<'_>) -> Result<()> {
        self.authorize_own(caller, Rule::ServicesDelete)?;
        let mut tx = self.db.begin_write().await?;
        let s = find_service(store::hosts::services(&mut tx).await?, &by)?;
        if s.binary == "nova-compute" {
            let n = store::servers::list(
                &mut tx,
                &store::servers::Narrow {
                    host: Some(s.host.clone()),
                    ..Default::default()
                },
            )
            .await?
            .len();
            if n > 0 {
                return Err(Error::conflict(
                    "Unable to delete compute service that is hosting instances. Migrate or delete the instances first.",
                ));
            }
            store::hosts::delete_nodes_of(&mut tx, &s.host).await?;
        }
        store::hosts::delete_service(&mut tx, &s.id).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- os-hypervisors

    /// The compute nodes, each with its nova-compute service.
    pub async fn hypervisor_list(
        &self,
        caller: &Caller<'_>,
        rule: Rule,
    ) -> Result<Vec<(NodeRow, Option<ServiceState>)>> {
        self.authorize_own(caller, rule)?;
        let mut c = self.conn().await?;
        let nodes = store::hosts::nodes(&mut c).await?;
        drop(c);
        let services = self.service_list_unchecked().await?;
        Ok(nodes
            .into_iter()
            .map(|n| {
                let s = services
                    .iter()
                    .find(|s| s.row.binary == "nova-compute" && s.row.host == n.host)
                    .cloned();
                (n, s)
            })
            .collect())
    }

    async fn service_list_unchecked(&self) -> Result<Vec<ServiceState>> {
        let mut c = self.conn().await?;
        let aggs = store::hosts::aggregates(&mut c).await?;
        Ok(store::hosts::services(&mut c)
            .await?
            .into_iter()
            .map(|row| ServiceState {
                up: self.is_up(&row),
                zone: zone_in(&aggs, &row.host)
                    .unwrap_or_else(|| self.cfg.default_availability_zone.clone()),
                row,
            })
            .collect())
    }

    // ---- aggregates and zones

    /// The zone an aggregate gives `host`, if any.
    pub(crate) async fn host_zone(&self, host: &str) -> Result<Option<String>> {
        let mut c = self.conn().await?;
        Ok(zone_in(&store::hosts::aggregates(&mut c).await?, host))
    }

    /// The zones aggregates define.
    pub(crate) async fn aggregate_zones(&self) -> Result<Vec<String>> {
        let mut c = self.conn().await?;
        let mut zones: Vec<String> = store::hosts::aggregates(&mut c)
            .await?
            .into_iter()
            .filter_map(|a| a.metadata.get("availability_zone").cloned())
            .collect();
        zones.sort();
        zones.dedup();
        Ok(zones)
    }

    /// The zones with their hosts' services (os-availability-zone): (zone, available,
    /// hosts with (binary, enabled, up, updated_at)).
    pub async fn zone_list(&self, caller: &Caller<'_>, detail: bool) -> Result<Vec<Zone>> {
        self.authorize_own(caller, if detail { Rule::AzDetail } else { Rule::AzList })?;
        let services = self.service_list_unchecked().await?;
        let mut zones: Vec<Zone> = Vec::new();
        let mut add = |name: String, s: Option<&ServiceState>| {
            let z = match zones.iter_mut().find(|z| z.name == name) {
                Some(z) => z,
                None => {
                    zones.push(Zone {
                        name,
                        available: false,
                        services: Vec::new(),
                    });
                    zones.last_mut().expect("just pushed")
                }
            };
            if let Some(s) = s {
                if s.up && !s.row.disabled {
                    z.available = true;
                }
                z.services.push(s.clone());
            }
        };
        for s in &services {
            if s.row.binary == "nova-compute" {
                add(s.zone.clone(), Some(s));
            } else if detail {
                add("internal".into(), Some(s));
            }
        }
        if !detail {
            // a zone without hosts is shown unavailable, as Nova's default zone is
            add(self.cfg.default_availability_zone.clone(), None);
        }
        if let Some(z) = zones.iter_mut().find(|z| z.name == "internal") {
            z.available = true;
        }
        Ok(zones)
    }

    pub async fn aggregate_list(&self, caller: &Caller<'_>) -> Result<Vec<AggregateRow>> {
        self.authorize_own(caller, Rule::AggregatesIndex)?;
        let mut c = self.conn().await?;
        store::hosts::aggregates(&mut c).await
    }

    pub async fn aggregate_show(&self, caller: &Caller<'_>, id: &str) -> Result<AggregateRow> {
        self.authorize_own(caller, Rule::AggregatesShow)?;
        self.aggregate(id).await
    }

    async fn aggregate(&self, id: &str) -> Result<AggregateRow> {
        let n: i64 = id.parse().map_err(|_| aggregate_not_found(id))?;
        let mut c = self.conn().await?;
        store::hosts::aggregates(&mut c)
            .await?
            .into_iter()
            .find(|a| a.id == n)
            .ok_or_else(|| aggregate_not_found(id))
    }

    pub async fn aggregate_create(
        &self,
        caller: &Caller<'_>,
        name: &str,
        zone: Option<&str>,
    ) -> Result<AggregateRow> {
        self.authorize_own(caller, Rule::AggregatesCreate)?;
        let mut tx = self.db.begin_write().await?;
        if store::hosts::aggregates(&mut tx)
            .await?
            .iter()
            .any(|a| a.name == name)
        {
            return Err(Error::conflict(format!("Aggregate {name} already exists.")));
        }
        let id = store::hosts::insert_aggregate(
            &mut tx,
            &uuid::Uuid::new_v4().to_string(),
            name,
            &now(),
        )
        .await?;
        if let Some(z) = zone {
            store::hosts::set_metadata(&mut tx, id, "availability_zone", Some(z)).await?;
        }
        tx.commit().await?;
        self.aggregate(&id.to_string()).await
    }

    pub async fn aggregate_update(
        &self,
        caller: &Caller<'_>,
        id: &str,
        name: Option<&str>,
        zone: Option<Option<&str>>,
    ) -> Result<AggregateRow> {
        self.authorize_own(caller, Rule::AggregatesUpdate)?;
        let a = self.aggregate(id).await?;
        let mut tx = self.db.begin_write().await?;
        if let Some(n) = name {
            if store::hosts::aggregates(&mut tx)
                .await?
                .iter()
                .any(|o| o.name == n && o.id != a.id)
            {
                return Err(Error::conflict(format!("Aggregate {n} already exists.")));
            }
            store::hosts::rename_aggregate(&mut tx, a.id, n, &now()).await?;
        }
        if let Some(z) = zone {
            store::hosts::set_metadata(&mut tx, a.id, "availability_zone", z).await?;
        }
        tx.commit().await?;
        self.aggregate(id).await
    }

    pub async fn aggregate_delete(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        self.authorize_own(caller, Rule::AggregatesDelete)?;
        let a = self.aggregate(id).await?;
        if !a.hosts.is_empty() {
            return Err(Error::bad_request(format!(
                "Cannot remove host from aggregate {id}. Reason: Host aggregate is not empty."
            )));
        }
        let mut c = self.conn().await?;
        store::hosts::delete_aggregate(&mut c, a.id).await
    }

    pub async fn aggregate_host(
        &self,
        caller: &Caller<'_>,
        id: &str,
        host: &str,
        add: bool,
    ) -> Result<AggregateRow> {
        self.authorize_own(
            caller,
            if add {
                Rule::AggregatesAddHost
            } else {
                Rule::AggregatesRemoveHost
            },
        )?;
        let a = self.aggregate(id).await?;
        let mut tx = self.db.begin_write().await?;
        if add {
            let known = store::hosts::services(&mut tx)
                .await?
                .iter()
                .any(|s| s.host == host && s.binary == "nova-compute");
            if !known {
                return Err(Error::not_found(format!(
                    "Compute host {host} could not be found."
                )));
            }
            if a.hosts.iter().any(|h| h == host) {
                return Err(Error::conflict(format!(
                    "Aggregate {id} already has host {host}."
                )));
            }
            // a host is in one zone only
            if let Some(z) = a.metadata.get("availability_zone") {
                let aggs = store::hosts::aggregates(&mut tx).await?;
                if let Some(other) = zone_in(&aggs, host).filter(|o| o != z) {
                    return Err(Error::conflict(format!(
                        "Cannot add host to aggregate {id}. Reason: One or more hosts already in availability zone(s) ['{other}']."
                    )));
                }
            }
            store::hosts::add_host(&mut tx, a.id, host).await?;
        } else if !store::hosts::remove_host(&mut tx, a.id, host).await? {
            return Err(Error::not_found(format!(
                "Cannot remove host {host} in aggregate {id}"
            )));
        }
        tx.commit().await?;
        self.aggregate(id).await
    }

    /// Set (Some) or remove (None) metadata keys.
    pub async fn aggregate_set_metadata(
        &self,
        caller: &Caller<'_>,
        id: &str,
        meta: Vec<(String, Option<String>)>,
    ) -> Result<AggregateRow> {
        self.authorize_own(caller, Rule::AggregatesSetMetadata)?;
        let a = self.aggregate(id).await?;
        let mut tx = self.db.begin_write().await?;
        for (k, v) in &meta {
            store::hosts::set_metadata(&mut tx, a.id, k, v.as_deref()).await?;
        }
        tx.commit().await?;
        self.aggregate(id).await
    }
}

/// A service named in a request: by its id (2.53) or by host and binary.
pub enum ServiceKey<'a> {
    Id(&'a str),
    HostBinary(&'a str, &'a str),
}

fn find_service(rows: Vec<ServiceRow>, by: &ServiceKey) -> Result<ServiceRow> {
    match by {
        ServiceKey::Id(id) => rows
            .into_iter()
            .find(|s| s.id.as_str() == *id)
            .ok_or_else(|| Error::not_found(format!("Service {id} could not be found."))),
        ServiceKey::HostBinary(host, binary) => {
            let mut on_host = rows.into_iter().filter(|s| s.host == *host).peekable();
            if on_host.peek().is_none() {
                return Err(Error::not_found(format!(
                    "Host '{host}' is not mapped to any cell"
                )));
            }
            on_host.find(|s| s.binary == *binary).ok_or_else(|| {
                Error::not_found(format!(
                    "Service {binary} on host {host} could not be found."
                ))
            })
        }
    }
}

fn aggregate_not_found(id: &str) -> Error {
    Error::not_found(format!("Aggregate {id} could not be found."))
}

fn zone_in(aggs: &[AggregateRow], host: &str) -> Option<String> {
    aggs.iter()
        .filter(|a| a.hosts.iter().any(|h| h == host))
        .find_map(|a| a.metadata.get("availability_zone").cloned())
}

/// An availability zone and the services in it.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub available: bool,
    pub services: Vec<ServiceState>,
}

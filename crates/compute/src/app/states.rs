//! What the conductor and the hosts record about a server: its states, host, fault,
//! ports and times. Each function is one write transaction on the server's row; the
//! API's own changes go through the same [`Compute::update_server`].

use types::{Error, FlavorId, Result, ServerGroupId, ServerId};

use super::Compute;
use crate::{
    model::{now, Fault, PortInfo, PowerState, Server, TaskState, VmState},
    store,
};

/// A change of a server's states, applied only if its task_state is still what the
/// changer expects (Nova's `expected_task_state`), when it says so.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateChange {
    pub vm_state: Option<VmState>,
    /// `Some(None)` clears the task.
    pub task_state: Option<Option<TaskState>>,
    pub power_state: Option<PowerState>,
    /// Refuse (Conflict) unless the task_state is one of these.
    pub expected_task_state: Option<Vec<Option<TaskState>>>,
}

impl StateChange {
    /// Go to `vm`.
    pub fn to(vm: VmState) -> StateChange {
        StateChange {
            vm_state: Some(vm),
            ..Default::default()
        }
    }
    /// Keep the vm_state.
    pub fn keep() -> StateChange {
        StateChange::default()
    }
    pub fn task(mut self, t: Option<TaskState>) -> StateChange {
        self.task_state = Some(t);
        self
    }
    pub fn power(mut self, p: PowerState) -> StateChange {
        self.power_state = Some(p);
        self
    }
    pub fn expecting(mut self, t: &[Option<TaskState>]) -> StateChange {
        self.expected_task_state = Some(t.to_vec());
        self
    }

    /// Apply the change to `s` (Conflict when its task_state is not the expected one).
    pub fn apply(&self, s: &mut Server) -> Result<()> {
        if let Some(expected) = &self.expected_task_state {
            if !expected.contains(&s.task_state) {
                return Err(Error::conflict(format!(
                    "Conflict updating instance {}. Expected: {{'task_state': {expected:?}}}. Actual: {{'task_state': {:?}}}",
                    s.id, s.task_state
                )));
            }
        }
        if let Some(v) = self.vm_state {
            s.vm_state = v;
        }
        if let Some(t) = self.task_state {
            s.task_state = t;
        }
        if let Some(p) = self.power_state {
            s.power_state = p;
        }
        if s.vm_state != VmState::Error {
            s.fault = s.fault.take().filter(|_| s.vm_state == VmState::Error);
        }
        Ok(())
    }
}

impl Compute {
    /// Read, change and write back one server in one transaction (deleted servers
    /// included: the conductor may record the end of a delete).
    pub async fn update_server<T>(
        &self,
        id: &ServerId,
        change: impl FnOnce(&mut Server) -> Result<T>,
    ) -> Result<(Server, T)> {
        let mut tx = self.db.begin_write().await?;
        let r = Self::update_server_in(&mut tx, id, change).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// [`Compute::update_server`] in the caller's write transaction.
    async fn update_server_in<T>(
        tx: &mut store::Conn,
        id: &ServerId,
        change: impl FnOnce(&mut Server) -> Result<T>,
    ) -> Result<(Server, T)> {
        let mut s = store::servers::get(tx, id)
            .await?
            .ok_or_else(|| Error::not_found_id(id))?;
        let out = change(&mut s)?;
        s.updated_at = now();
        store::servers::save(tx, &s).await?;
        Ok((s, out))
    }

    /// The server, deleted or not (for the conductor).
    pub async fn server(&self, id: &ServerId) -> Result<Server> {
        let mut c = self.conn().await?;
        store::servers::get(&mut c, id)
            .await?
            .ok_or_else(|| Error::not_found_id(id))
    }

    /// Set vm_state / task_state / power_state.
    pub async fn set_states(&self, id: &ServerId, change: StateChange) -> Result<Server> {
        let (s, ()) = self.update_server(id, |s| change.apply(s)).await?;
        Ok(s)
    }

    /// A build's end, in one write: the server's ports, `launched_at`, and its states.
    pub async fn set_launched_with(
        &self,
        id: &ServerId,
        ports: Vec<PortInfo>,
        change: StateChange,
    ) -> Result<Server> {
        let (s, ()) = self
            .update_server(id, |s| {
                s.ports = ports;
                s.launched_at = Some(now());
                s.progress = 100;
                change.apply(s)
            })
            .await?;
        Ok(s)
    }

    /// The host and node the server is on (None: on none, e.g. after a failed build).
    /// The server's availability zone follows its host's.
    pub async fn set_host(
        &self,
        id: &ServerId,
        host: Option<&str>,
        node: Option<&str>,
    ) -> Result<()> {
        let zone = match host {
            Some(h) => Some(self.zone_of_host(h).await?),
            None => None,
        };
        self.update_server(id, |s| {
            place(s, host, node, zone);
            Ok(())
        })
        .await
        .map(drop)
    }

    /// Put a member of a server group on `host`, unless that breaks its group's
    /// (hard) policy given where the other members are: anti-affinity with
    /// `max_per_host` members there already, affinity with a member elsewhere (Nova's
    /// late check on the compute host). Checked in the write that records the host,
    /// under the group's lock, so conductors in several processes cannot both place a
    /// member against the policy. False (nothing written): pick another host.
    pub async fn set_member_host(
        &self,
        id: &ServerId,
        host: &str,
        node: &str,
        group: &ServerGroupId,
        policy: &str,
        max_per_host: u32,
    ) -> Result<bool> {
        let zone = self.zone_of_host(host).await?;
        let mut tx = self.db.begin_write().await?;
        let others = store::groups::lock_member_hosts(&mut tx, group, id).await?;
        let there = others.iter().filter(|h| *h == host).count();
        let breaks = match policy {
            "anti-affinity" => there >= max_per_host as usize,
            "affinity" => others.len() > there,
            _ => false,
        };
        if breaks {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::update_server_in(&mut tx, id, |s| {
            place(s, Some(host), Some(node), Some(zone));
            Ok(())
        })
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The server has a config drive (its host forced one).
    pub async fn set_config_drive(&self, id: &ServerId) -> Result<()> {
        let mut c = self.conn().await?;
        store::servers::set_config_drive(&mut c, id).await
    }

    /// Why the server failed (shown while it is in ERROR).
    pub async fn set_fault(&self, id: &ServerId, fault: Fault) -> Result<()> {
        self.update_server(id, |s| {
            s.fault = Some(fault);
            Ok(())
        })
        .await
        .map(drop)
    }

    /// The ports the server is attached to (its `addresses` are rendered from them).
    pub async fn set_ports(&self, id: &ServerId, ports: Vec<PortInfo>) -> Result<()> {
        self.update_server(id, |s| {
            s.ports = ports;
            Ok(())
        })
        .await
        .map(drop)
    }

    /// The server started for the first time (or again after a rebuild): `launched_at`.
    pub async fn set_launched(&self, id: &ServerId) -> Result<()> {
        self.update_server(id, |s| {
            s.launched_at = Some(now());
            s.progress = 100;
            Ok(())
        })
        .await
        .map(drop)
    }

    /// The build is over: forget the admin password the API kept for it.
    pub async fn clear_admin_pass(&self, id: &ServerId) -> Result<()> {
        self.update_server(id, |s| {
            s.admin_pass = None;
            Ok(())
        })
        .await
        .map(drop)
    }

    /// A resize reached VERIFY_RESIZE: the server runs with `flavor`, the old one kept
    /// for a revert.
    pub async fn resize_applied(&self, id: &ServerId, flavor: &FlavorId) -> Result<()> {
        let new = self.flavor_by_id(flavor).await?;
        self.update_server(id, |s| {
            s.old_flavor = Some(std::mem::replace(&mut s.flavor, new));
            s.new_flavor = None;
            Ok(())
        })
        .await
        .map(drop)
    }

    /// A resize was reverted: back to the old flavor.
    pub async fn resize_reverted(&self, id: &ServerId) -> Result<()> {
        self.update_server(id, |s| {
            if let Some(old) = s.old_flavor.take() {
                s.flavor = old;
            }
            Ok(())
        })
        .await
        .map(drop)
    }

    /// A resize was confirmed: the old flavor is forgotten.
    pub async fn resize_confirmed(&self, id: &ServerId) -> Result<()> {
        self.update_server(id, |s| {
            s.old_flavor = None;
            Ok(())
        })
        .await
        .map(drop)
    }

    /// The delete is finished: the server is gone from lists (admins still see it with
    /// `deleted=true`) and no longer counts against quotas.
    pub async fn server_deleted(&self, id: &ServerId) -> Result<()> {
        self.update_server(id, |s| {
            s.deleted = true;
            s.vm_state = VmState::Deleted;
            s.task_state = None;
            s.power_state = PowerState::NoState;
            s.terminated_at = Some(now());
            Ok(())
        })
        .await?;
        self.leave_groups(id).await
    }
}

/// The server on `host`/`node` (none: off any host), in the zone of the host.
fn place(s: &mut Server, host: Option<&str>, node: Option<&str>, zone: Option<String>) {
    s.host = host.map(str::to_owned);
    s.node = node.map(str::to_owned);
    if let Some(z) = zone {
        s.availability_zone = Some(z);
    }
}

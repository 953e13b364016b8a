//! Actions on a server (`POST /servers/{id}/action`): Nova's state checks, the
//! task_state the API sets, and the call to the lifecycle. Also lock/unlock, consoles,
//! interfaces, security groups and the admin's reset of states.

use api_common::{Error, ErrorKind, Result};
use types::{ImageId, PortId};

use super::{Caller, Compute, InterfaceRequest, ServerAction, StateChange};
use crate::{
    clients::{As, ImageClient},
    model::{now, PortInfo, Server, TaskState, VmState},
    policies::Rule,
    store,
};

/// What an action may start from: vm_states, and task_states (`None`: idle).
struct Allowed {
    vm: &'static [VmState],
    task: &'static [Option<TaskState>],
}

const IDLE: &[Option<TaskState>] = &[None];

fn allowed(action: &ServerAction) -> (Rule, Allowed, Option<TaskState>) {
    use TaskState as T;
    use VmState as V;
    let a = |vm, task| Allowed { vm, task };
    match action {
        ServerAction::Stop => (
            Rule::ServersStop,
            a(&[V::Active, V::Error], IDLE),
            Some(T::PoweringOff),
        ),
        ServerAction::Start => (
            Rule::ServersStart,
            a(&[V::Stopped], IDLE),
            Some(T::PoweringOn),
        ),
        ServerAction::Reboot { hard: false } => (
            Rule::ServersReboot,
            a(&[V::Active], IDLE),
            Some(T::Rebooting),
        ),
        ServerAction::Reboot { hard: true } => (
            Rule::ServersReboot,
            a(
                &[V::Active, V::Paused, V::Stopped, V::Suspended, V::Error],
                &[
                    None,
                    Some(T::Rebooting),
                    Some(T::RebootPending),
                    Some(T::RebootStarted),
                    Some(T::RebootingHard),
                    Some(T::RebootPendingHard),
                    Some(T::RebootStartedHard),
                ],
            ),
            Some(T::RebootingHard),
        ),
        ServerAction::Pause => (Rule::Pause, a(&[V::Active], IDLE), Some(T::Pausing)),
        ServerAction::Unpause => (Rule::Unpause, a(&[V::Paused], IDLE), Some(T::Unpausing)),
        ServerAction::Suspend => (Rule::Suspend, a(&[V::Active], IDLE), Some(T::Suspending)),
        ServerAction::Resume => (Rule::Resume, a(&[V::Suspended], IDLE), Some(T::Resuming)),
        ServerAction::Rescue { .. } => (
            Rule::Rescue,
            a(&[V::Active, V::Stopped, V::Error], IDLE),
            Some(T::Rescuing),
        ),
        ServerAction::Unrescue => (Rule::Unrescue, a(&[V::Rescued], IDLE), Some(T::Unrescuing)),
        ServerAction::Rebuild { .. } => (
            Rule::ServersRebuild,
            a(&[V::Active, V::Stopped, V::Error], IDLE),
            Some(T::Rebuilding),
        ),
        ServerAction::Resize { .. } => (
            Rule::ServersResize,
            a(&[V::Active, V::Stopped], IDLE),
            Some(T::ResizePrep),
        ),
        ServerAction::ConfirmResize => (
            Rule::ServersConfirmResize,
            a(&[V::Resized], IDLE),
            Some(T::ResizeConfirming),
        ),
        ServerAction::RevertResize => (
            Rule::ServersRevertResize,
            a(&[V::Resized], IDLE),
            Some(T::ResizeReverting),
        ),
        ServerAction::CreateImage { .. } => (
            Rule::ServersCreateImage,
            a(&[V::Active, V::Stopped, V::Paused, V::Suspended], IDLE),
            Some(T::ImageSnapshotPending),
        ),
    }
}

/// Nova's refusal of an action in the wrong state.
pub fn wrong_state(action: &str, s: &Server, attr: &str) -> Error {
    let state = match attr {
        "task_state" => s.task_state.map_or("None".to_owned(), |t| t.to_string()),
        _ => s.vm_state.to_string(),
    };
    Error::conflict(format!(
        "Cannot '{action}' instance {} while it is in {attr} {state}",
        s.id
    ))
}

fn check_states(action: &str, s: &Server, a: &Allowed) -> Result<()> {
    if !a.vm.contains(&s.vm_state) {
        return Err(wrong_state(action, s, "vm_state"));
    }
    if !a.task.contains(&s.task_state) {
        return Err(wrong_state(action, s, "task_state"));
    }
    Ok(())
}

impl Compute {
    /// Start `action` on the server: checked, its task_state set and the action
    /// recorded in one transaction, then handed to the lifecycle.
    pub async fn server_act(
        &self,
        caller: &Caller<'_>,
        id: &str,
        mut action: ServerAction,
        request_id: &str,
    ) -> Result<(Server, ServerAction)> {
        let (rule, allowed, task) = allowed(&action);
        let s = self.server_for(caller, id, rule).await?;
        self.check_lock(caller, &s)?;
        let name = action.action_name();
        check_states(name, &s, &allowed)?;
        // what the action needs checked against the cloud before it is recorded
        match &mut action {
            ServerAction::Resize { flavor } => {
                let f = self
                    .flavor_show(caller, flavor.as_str())
                    .await
                    .map_err(|e| match e.kind {
                        ErrorKind::NotFound => {
                            Error::bad_request(format!("Flavor {flavor} could not be found."))
                        }
                        _ => e,
                    })?;
                if f.id == s.flavor.id {
                    return Err(Error::bad_request(
                        "When resizing, instances must change flavor!",
                    ));
                }
                if f.root_gb < s.flavor.root_gb {
                    return Err(Error::bad_request(
                        "Resize error: Unable to resize disk down.",
                    ));
                }
                let limits = self.quota_limits(&s.project_id).await?;
                let mut c = self.conn().await?;
                let (_, cores, ram) = store::servers::usage(&mut c, &s.project_id).await?;
                for (res, used, delta) in [
                    ("cores", cores, f.vcpus - s.flavor.vcpus),
                    ("ram", ram, f.memory_mb - s.flavor.memory_mb),
                ] {
                    let limit = limits[res];
                    if delta > 0 && limit >= 0 && used + delta > limit {
                        return Err(Error::forbidden(format!(
                            "Quota exceeded for {res}: Requested {delta}, but already used {used} of {limit} {res}"
                        )));
                    }
                }
            }
            ServerAction::Rebuild { image, .. } => {
                let token = caller.ctx.token.clone();
                let img = self
                    .clients
                    .image
                    .show(As::User(&token), image)
                    .await
                    .map_err(|e| match e.kind {
                        ErrorKind::NotFound => Error::bad_request("Cannot find requested image"),
                        _ => e,
                    })?;
                if img.status != "active" {
                    return Err(Error::bad_request(format!("Image {image} is not active.")));
                }
                if img.min_ram > s.flavor.memory_mb {
                    return Err(Error::bad_request(
                        "Flavor's memory is too small for requested image.",
                    ));
                }
            }
            ServerAction::Rescue {
                image: Some(image), ..
            } => {
                let token = caller.ctx.token.clone();
                self.clients
                    .image
                    .show(As::User(&token), image)
                    .await
                    .map_err(|e| match e.kind {
                        ErrorKind::NotFound => Error::bad_request("Cannot find requested image"),
                        _ => e,
                    })?;
            }
            ServerAction::CreateImage {
                image_id,
                name,
                metadata,
            } => {
                let limit = self.quota_limit(&s.project_id, "metadata_items").await?;
                if limit >= 0 && crate::model::count(metadata.len()) > limit {
                    return Err(Error::forbidden(format!(
                        "Quota exceeded for metadata_items: Requested {}, but already used 0 of {limit} metadata_items",
                        metadata.len()
                    )));
                }
                let token = caller.ctx.token.clone();
                let base = match &s.image_id {
                    Some(i) => self.clients.image.show(As::User(&token), i).await.ok(),
                    None => None,
                };
                let extra = metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                    .collect();
                let body = ImageClient::snapshot_body(name, s.id.as_str(), base.as_ref(), &extra);
                let img = self.clients.image.create(As::User(&token), &body).await?;
                *image_id = img.id;
            }
            _ => {}
        }
        let mut tx = self.db.begin_write().await?;
        let mut cur = store::servers::get(&mut tx, &s.id)
            .await?
            .filter(|s| !s.deleted)
            .ok_or_else(|| Error::not_found(format!("Instance {id} could not be found.")))?;
        check_states(name, &cur, &allowed)?;
        cur.task_state = task;
        match &action {
            ServerAction::Rebuild {
                image,
                admin_pass,
                metadata,
                key_name,
                user_data,
                ..
            } => {
                cur.image_id = Some(image.clone());
                if let Some(m) = metadata {
                    cur.metadata = m.clone();
                }
                if let Some(p) = admin_pass {
                    cur.admin_pass = Some(p.clone());
                }
                if let Some(k) = key_name {
                    match k {
                        Some(k) => {
                            let kp = store::keypairs::get(&mut tx, caller.user(), k)
                                .await?
                                .ok_or_else(|| Error::bad_request("Invalid key_name provided."))?;
                            cur.key_name = Some(kp.name);
                            cur.key_data = Some(kp.public_key);
                        }
                        None => {
                            cur.key_name = None;
                            cur.key_data = None;
                        }
                    }
                }
                if let Some(u) = user_data {
                    cur.user_data = u.clone();
                }
            }
            ServerAction::Rescue { admin_pass, .. } => cur.admin_pass = Some(admin_pass.clone()),
            ServerAction::Resize { flavor } => {
                cur.new_flavor = store::flavors::get(&mut tx, flavor).await?;
            }
            _ => {}
        }
        cur.updated_at = now();
        store::servers::save(&mut tx, &cur).await?;
        Self::record_action(
            &mut tx,
            caller,
            &cur,
            &match &action {
                ServerAction::Reboot { .. } => "reboot".to_owned(),
                other => other.action_name().to_owned(),
            },
            request_id,
        )
        .await?;
        tx.commit().await?;
        let snapshot = match &action {
            ServerAction::CreateImage { image_id, .. } => Some(image_id.clone()),
            _ => None,
        };
        let done = action.clone();
        if let Err(e) = self.lifecycle()?.act(cur.id.clone(), action).await {
            if let Some(img) = snapshot {
                // nothing will upload it: leave no queued image behind
                let _ = self.clients.image.delete(As::Service, &img).await;
            }
            return Err(e);
        }
        Ok((cur, done))
    }

    /// Lock (with a reason, 2.73) or unlock a server.
    pub async fn server_lock(
        &self,
        caller: &Caller<'_>,
        id: &str,
        lock: Option<Option<String>>,
        request_id: &str,
    ) -> Result<()> {
        let rule = if lock.is_some() {
            Rule::Lock
        } else {
            Rule::Unlock
        };
        let s = self.server_for(caller, id, rule).await?;
        if lock.is_none() && s.locked_by.as_deref() == Some("admin") && !caller.admin {
            self.authorize(
                caller,
                Rule::UnlockOverride,
                &super::target(&s.project_id, &s.user_id),
            )?;
        }
        let by = if s.project_id == caller.project() {
            "owner"
        } else {
            "admin"
        };
        let mut tx = self.db.begin_write().await?;
        let mut cur = store::servers::get(&mut tx, &s.id)
            .await?
            .ok_or_else(|| Error::not_found_id(&s.id))?;
        match lock {
            Some(reason) => {
                cur.locked = true;
                cur.locked_by = Some(by.into());
                cur.locked_reason = reason;
            }
            None => {
                cur.locked = false;
                cur.locked_by = None;
                cur.locked_reason = None;
            }
        }
        cur.updated_at = now();
        store::servers::save(&mut tx, &cur).await?;
        Self::record_action(
            &mut tx,
            caller,
            &cur,
            if cur.locked { "lock" } else { "unlock" },
            request_id,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Admins: set the vm_state to `active` or `error` and clear the task.
    pub async fn server_reset_state(
        &self,
        caller: &Caller<'_>,
        id: &str,
        state: VmState,
        request_id: &str,
    ) -> Result<()> {
        let s = self.server_for(caller, id, Rule::ResetState).await?;
        self.set_states(&s.id, StateChange::to(state).task(None))
            .await?;
        let mut c = self.conn().await?;
        Self::record_action(&mut c, caller, &s, "resetState", request_id).await
    }

    fn ready(&self, s: &Server) -> Result<()> {
        if s.host.is_none()
            || !matches!(
                s.vm_state,
                VmState::Active
                    | VmState::Paused
                    | VmState::Suspended
                    | VmState::Rescued
                    | VmState::Resized
                    | VmState::Stopped
            )
        {
            return Err(Error::conflict(format!("Instance {} is not ready", s.id)));
        }
        Ok(())
    }

    pub async fn console_output(
        &self,
        caller: &Caller<'_>,
        id: &str,
        length: Option<u32>,
    ) -> Result<String> {
        let s = self.server_for(caller, id, Rule::ConsoleOutput).await?;
        self.ready(&s)?;
        self.lifecycle()?.console_output(s.id, length).await
    }

    pub async fn remote_console(
        &self,
        caller: &Caller<'_>,
        id: &str,
        protocol: &str,
        kind: &str,
    ) -> Result<String> {
        let s = self.server_for(caller, id, Rule::RemoteConsoles).await?;
        if s.vm_state != VmState::Active && s.vm_state != VmState::Rescued {
            return Err(Error::conflict(format!("Instance {} is not ready", s.id)));
        }
        self.ready(&s)?;
        self.lifecycle()?.remote_console(s.id, protocol, kind).await
    }

    /// The server's interfaces (its recorded ports).
    pub async fn interface_list(&self, caller: &Caller<'_>, id: &str) -> Result<Vec<PortInfo>> {
        Ok(self
            .server_for(caller, id, Rule::InterfacesList)
            .await?
            .ports)
    }

    pub async fn interface_show(
        &self,
        caller: &Caller<'_>,
        id: &str,
        port: &str,
    ) -> Result<PortInfo> {
        let s = self.server_for(caller, id, Rule::InterfacesShow).await?;
        s.ports
            .into_iter()
            .find(|p| p.port_id.as_str() == port)
            .ok_or_else(|| Error::not_found(format!("Port {port} is not attached")))
    }

    pub async fn interface_attach(
        &self,
        caller: &Caller<'_>,
        id: &str,
        req: InterfaceRequest,
        request_id: &str,
    ) -> Result<PortInfo> {
        let s = self.server_for(caller, id, Rule::InterfacesCreate).await?;
        self.check_lock(caller, &s)?;
        check_states(
            "attach_interface",
            &s,
            &Allowed {
                vm: &[VmState::Active, VmState::Paused, VmState::Stopped],
                task: IDLE,
            },
        )?;
        let token = caller.ctx.token.clone();
        match &req {
            InterfaceRequest::Port(p) => {
                let port = self
                    .clients
                    .network
                    .port(As::User(&token), p)
                    .await
                    .map_err(|e| match e.kind {
                        ErrorKind::NotFound => {
                            Error::not_found(format!("Port {p} could not be found."))
                        }
                        _ => e,
                    })?;
                if port["device_id"].as_str().is_some_and(|d| !d.is_empty()) {
                    return Err(Error::conflict(format!("Port {p} is still in use.")));
                }
            }
            InterfaceRequest::Network { network, .. } => {
                self.clients
                    .network
                    .network(As::User(&token), network)
                    .await
                    .map_err(|e| match e.kind {
                        ErrorKind::NotFound => {
                            Error::not_found(format!("Network {network} could not be found."))
                        }
                        _ => e,
                    })?;
            }
        }
        {
            let mut c = self.conn().await?;
            Self::record_action(&mut c, caller, &s, "attach_interface", request_id).await?;
        }
        let port = self
            .lifecycle()?
            .attach_interface(s.id.clone(), req)
            .await?;
        let s = self.server(&s.id).await?;
        s.ports
            .into_iter()
            .find(|p| p.port_id == port)
            .ok_or_else(|| Error::internal(format!("the attached port {port} is not recorded")))
    }

    pub async fn interface_detach(
        &self,
        caller: &Caller<'_>,
        id: &str,
        port: &str,
        request_id: &str,
    ) -> Result<()> {
        let s = self.server_for(caller, id, Rule::InterfacesDelete).await?;
        self.check_lock(caller, &s)?;
        let p = s
            .ports
            .iter()
            .find(|p| p.port_id.as_str() == port)
            .map(|p| p.port_id.clone())
            .ok_or_else(|| Error::not_found(format!("Port {port} is not attached")))?;
        check_states(
            "detach_interface",
            &s,
            &Allowed {
                vm: &[VmState::Active, VmState::Paused, VmState::Stopped],
                task: IDLE,
            },
        )?;
        {
            let mut c = self.conn().await?;
            Self::record_action(&mut c, caller, &s, "detach_interface", request_id).await?;
        }
        self.lifecycle()?.detach_interface(s.id, p).await
    }

    /// The security groups of a server (os-security-groups of a server): Neutron's
    /// groups of its ports, or by the names it was created with.
    pub async fn server_security_groups(
        &self,
        caller: &Caller<'_>,
        id: &str,
    ) -> Result<Vec<serde_json::Value>> {
        let s = self
            .server_for(caller, id, Rule::ListServerSecurityGroups)
            .await?;
        let token = caller.ctx.token.clone();
        let groups = self
            .clients
            .network
            .security_groups(As::User(&token), &[("project_id", s.project_id.as_str())])
            .await?;
        let mut ids: Vec<String> = Vec::new();
        for p in &s.ports {
            if let Ok(port) = self
                .clients
                .network
                .port(As::User(&token), &p.port_id)
                .await
            {
                for g in port["security_groups"].as_array().into_iter().flatten() {
                    if let Some(g) = g.as_str() {
                        ids.push(g.to_owned());
                    }
                }
            }
        }
        Ok(groups
            .into_iter()
            .filter(|g| {
                let id = g["id"].as_str().unwrap_or("");
                let name = g["name"].as_str().unwrap_or("");
                ids.iter().any(|i| i == id)
                    || (s.ports.is_empty() && s.security_groups.iter().any(|n| n == name))
            })
            .collect())
    }

    /// Add (or remove) a security group to every port of the server.
    pub async fn server_security_group(
        &self,
        caller: &Caller<'_>,
        id: &str,
        group: &str,
        add: bool,
    ) -> Result<()> {
        let s = self
            .server_for(
                caller,
                id,
                if add {
                    Rule::AddSecurityGroup
                } else {
                    Rule::RemoveSecurityGroup
                },
            )
            .await?;
        let token = caller.ctx.token.clone();
        let groups = self
            .clients
            .network
            .security_groups(As::User(&token), &[("project_id", s.project_id.as_str())])
            .await?;
        let matching: Vec<&serde_json::Value> = groups
            .iter()
            .filter(|g| g["name"].as_str() == Some(group) || g["id"].as_str() == Some(group))
            .collect();
        let g = match matching.as_slice() {
            [] => {
                return Err(Error::not_found(format!(
                    "Security group {group} not found for project {}.",
                    s.project_id
                )))
            }
            [g] => g["id"].as_str().unwrap_or("").to_owned(),
            _ => {
                return Err(Error::conflict(format!(
                "Multiple security groups found matching '{group}'. Use an ID to be more specific."
            )))
            }
        };
        let gname = matching[0]["name"].as_str().unwrap_or(group).to_owned();
        let mut seen = false;
        for p in &s.ports {
            let port = self
                .clients
                .network
                .port(As::User(&token), &p.port_id)
                .await?;
            let mut current: Vec<String> = port["security_groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let had = current.contains(&g);
            seen |= had;
            if add && had {
                return Err(Error::bad_request(format!(
                    "Security group {gname} is already associated with the instance {}",
                    s.id
                )));
            }
            if add {
                current.push(g.clone());
            } else {
                current.retain(|x| *x != g);
            }
            self.clients
                .network
                .update_port(
                    As::User(&token),
                    &p.port_id,
                    serde_json::json!({"security_groups": current}),
                )
                .await?;
        }
        if !add && !seen && !s.security_groups.contains(&gname) {
            return Err(Error::bad_request(format!(
                "Security group {gname} not associated with the instance {}",
                s.id
            )));
        }
        self.update_server(&s.id, |s| {
            if add {
                if !s.security_groups.contains(&gname) {
                    s.security_groups.push(gname);
                }
            } else {
                s.security_groups.retain(|n| *n != gname);
            }
            Ok(())
        })
        .await
        .map(drop)
    }

    /// A port id from a request (for os-interface).
    pub fn port_id(raw: &str) -> Result<PortId> {
        PortId::parse(raw).map_err(|_| Error::not_found(format!("Port {raw} could not be found.")))
    }

    /// An image id from a request (`imageRef` may be a URL).
    pub fn image_ref(raw: &str) -> Result<ImageId> {
        let id = raw.trim_end_matches('/').rsplit('/').next().unwrap_or(raw);
        ImageId::parse(id).map_err(|_| Error::bad_request("Invalid imageRef provided."))
    }
}

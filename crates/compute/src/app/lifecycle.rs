//! The seam between the API and what makes servers real: the API records a server in
//! BUILD (task_state `scheduling`), or sets the task_state of an action (`powering-off`,
//! `rebooting`...), and then calls [`Lifecycle`]. The implementation (the conductor)
//! schedules, talks to the hosts, and records what happened through the state
//! functions of [`crate::Compute`] (`set_states`, `set_host`, `set_fault`, `set_ports`,
//! `set_launched`, `server_deleted`, ...).
//!
//! [`NoLifecycle`] is a cloud without compute hosts: a build ends in ERROR (no valid
//! host), a delete finishes at once. [`Instant`] is a host that does everything at once
//! (for tests).

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use types::{Error, FlavorId, ImageId, NetworkId, PortId, Result, ServerId};

use crate::{
    app::states::StateChange,
    model::{Fault, PowerState, VmState},
    Compute,
};

/// An action on an existing server, as the API accepted it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerAction {
    Stop,
    Start,
    Reboot {
        hard: bool,
    },
    Pause,
    Unpause,
    Suspend,
    Resume,
    Rescue {
        image: Option<ImageId>,
        admin_pass: String,
    },
    Unrescue,
    Rebuild {
        image: ImageId,
        admin_pass: Option<String>,
        /// Replace the server's metadata with this, when given.
        metadata: Option<std::collections::BTreeMap<String, String>>,
        /// Replace (`Some(Some)`) or remove (`Some(None)`) the key (2.54).
        key_name: Option<Option<String>>,
        /// Replace or remove the user data (2.57).
        user_data: Option<Option<String>>,
        preserve_ephemeral: bool,
    },
    Resize {
        flavor: FlavorId,
    },
    ConfirmResize,
    RevertResize,
    CreateImage {
        /// The image the API created (queued) for the snapshot.
        image_id: ImageId,
        name: String,
        metadata: std::collections::BTreeMap<String, String>,
    },
}

impl ServerAction {
    /// The name Nova records in os-instance-actions.
    pub fn action_name(&self) -> &'static str {
        match self {
            ServerAction::Stop => "stop",
            ServerAction::Start => "start",
            ServerAction::Reboot { .. } => "reboot",
            ServerAction::Pause => "pause",
            ServerAction::Unpause => "unpause",
            ServerAction::Suspend => "suspend",
            ServerAction::Resume => "resume",
            ServerAction::Rescue { .. } => "rescue",
            ServerAction::Unrescue => "unrescue",
            ServerAction::Rebuild { .. } => "rebuild",
            ServerAction::Resize { .. } => "resize",
            ServerAction::ConfirmResize => "confirmResize",
            ServerAction::RevertResize => "revertResize",
            ServerAction::CreateImage { .. } => "createImage",
        }
    }
}

/// An interface to attach (os-interface).
#[derive(Debug, Clone, PartialEq)]
pub enum InterfaceRequest {
    /// An existing port.
    Port(PortId),
    /// A new port on the network (with this address, if given).
    Network {
        network: NetworkId,
        fixed_ip: Option<std::net::IpAddr>,
    },
}

/// What makes servers real (implemented by the conductor).
#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// Build these servers (recorded in BUILD / scheduling, one request).
    async fn build(&self, servers: Vec<ServerId>) -> Result<()>;
    /// Delete the server (its task_state is `deleting`); finished by
    /// [`Compute::server_deleted`].
    async fn delete(&self, server: ServerId) -> Result<()>;
    /// Carry out an action whose task_state the API set.
    async fn act(&self, server: ServerId, action: ServerAction) -> Result<()>;
    /// The last `length` lines of the console log (all of it when `None`).
    async fn console_output(&self, server: ServerId, length: Option<u32>) -> Result<String>;
    /// A URL for a remote console of `protocol` (`vnc`, `spice`, `serial`) and `kind`
    /// (`novnc`, `spice-html5`, ...).
    async fn remote_console(&self, server: ServerId, protocol: &str, kind: &str) -> Result<String>;
    /// Attach an interface; returns the port attached.
    async fn attach_interface(&self, server: ServerId, request: InterfaceRequest)
        -> Result<PortId>;
    async fn detach_interface(&self, server: ServerId, port: PortId) -> Result<()>;
}

fn no_host() -> Error {
    Error::conflict("The server is not on a compute host.")
}

/// A cloud without compute hosts.
pub struct NoLifecycle {
    compute: Weak<Compute>,
}

impl NoLifecycle {
    pub fn new(compute: &Arc<Compute>) -> NoLifecycle {
        NoLifecycle {
            compute: Arc::downgrade(compute),
        }
    }

    fn compute(&self) -> Result<Arc<Compute>> {
        self.compute
            .upgrade()
            .ok_or_else(|| Error::unavailable("The compute service is stopping."))
    }
}

#[async_trait]
impl Lifecycle for NoLifecycle {
    async fn build(&self, servers: Vec<ServerId>) -> Result<()> {
        let c = self.compute()?;
        for id in servers {
            c.set_fault(
                &id,
                Fault {
                    code: 500,
                    message: "No valid host was found. ".into(),
                    details: Some("There are no compute hosts in this cloud.".into()),
                    created: crate::model::now(),
                },
            )
            .await?;
            c.set_states(
                &id,
                StateChange::to(VmState::Error)
                    .task(None)
                    .power(PowerState::NoState),
            )
            .await?;
        }
        Ok(())
    }
    async fn delete(&self, server: ServerId) -> Result<()> {
        self.compute()?.server_deleted(&server).await
    }
    async fn act(&self, server: ServerId, _action: ServerAction) -> Result<()> {
        self.compute()?
            .set_states(&server, StateChange::keep().task(None))
            .await?;
        Err(no_host())
    }
    async fn console_output(&self, _: ServerId, _: Option<u32>) -> Result<String> {
        Err(no_host())
    }
    async fn remote_console(&self, _: ServerId, _: &str, _: &str) -> Result<String> {
        Err(no_host())
    }
    async fn attach_interface(&self, _: ServerId, _: InterfaceRequest) -> Result<PortId> {
        Err(no_host())
    }
    async fn detach_interface(&self, _: ServerId, _: PortId) -> Result<()> {
        Err(no_host())
    }
}

/// A host that does everything at once, for tests: builds become ACTIVE on `host`,
/// actions reach their end state.
pub struct Instant {
    compute: Weak<Compute>,
    pub host: String,
}

impl Instant {
    pub fn new(compute: &Arc<Compute>, host: &str) -> Instant {
        Instant {
            compute: Arc::downgrade(compute),
            host: host.into(),
        }
    }

    fn compute(&self) -> Result<Arc<Compute>> {
        self.compute
            .upgrade()
            .ok_or_else(|| Error::unavailable("The compute service is stopping."))
    }
}

#[async_trait]
impl Lifecycle for Instant {
    async fn build(&self, servers: Vec<ServerId>) -> Result<()> {
        let c = self.compute()?;
        for id in servers {
            c.set_host(&id, Some(&self.host), Some(&self.host)).await?;
            c.set_launched(&id).await?;
            c.set_states(
                &id,
                StateChange::to(VmState::Active)
                    .task(None)
                    .power(PowerState::Running),
            )
            .await?;
        }
        Ok(())
    }
    async fn delete(&self, server: ServerId) -> Result<()> {
        self.compute()?.server_deleted(&server).await
    }
    async fn act(&self, server: ServerId, action: ServerAction) -> Result<()> {
        use PowerState as P;
        use VmState as V;
        let c = self.compute()?;
        let (vm, power) = match &action {
            ServerAction::Stop => (V::Stopped, P::Shutdown),
            ServerAction::Start
            | ServerAction::Reboot { .. }
            | ServerAction::Unpause
            | ServerAction::Resume
            | ServerAction::Unrescue
            | ServerAction::Rebuild { .. }
            | ServerAction::ConfirmResize
            | ServerAction::RevertResize
            | ServerAction::CreateImage { .. } => (V::Active, P::Running),
            ServerAction::Pause => (V::Paused, P::Paused),
            ServerAction::Suspend => (V::Suspended, P::Suspended),
            ServerAction::Rescue { .. } => (V::Rescued, P::Running),
            ServerAction::Resize { .. } => (V::Resized, P::Running),
        };
        let keep_state = matches!(action, ServerAction::CreateImage { .. });
        let change = if keep_state {
            StateChange::keep()
        } else {
            StateChange::to(vm).power(power)
        };
        match &action {
            ServerAction::Resize { flavor } => c.resize_applied(&server, flavor).await?,
            ServerAction::RevertResize => c.resize_reverted(&server).await?,
            ServerAction::ConfirmResize => c.resize_confirmed(&server).await?,
            _ => {}
        }
        c.set_states(&server, change.task(None)).await.map(drop)
    }
    async fn console_output(&self, _: ServerId, length: Option<u32>) -> Result<String> {
        let lines = ["oxistack test console", "login: "];
        let n = length.map_or(lines.len(), |l| (l as usize).min(lines.len()));
        Ok(lines[lines.len() - n..].join("\n"))
    }
    async fn remote_console(&self, server: ServerId, _: &str, _: &str) -> Result<String> {
        Ok(format!(
            "http://127.0.0.1:6080/vnc_auto.html?path=%3Ftoken%3D{server}"
        ))
    }
    async fn attach_interface(&self, _: ServerId, request: InterfaceRequest) -> Result<PortId> {
        match request {
            InterfaceRequest::Port(p) => Ok(p),
            InterfaceRequest::Network { .. } => Err(Error::bad_request(
                "The test host attaches existing ports only.",
            )),
        }
    }
    async fn detach_interface(&self, _: ServerId, _: PortId) -> Result<()> {
        Ok(())
    }
}

//! The actions on a server that are one call to its host: the conductor asks the host,
//! then records the states the action ends in (or clears the task after a failure, the
//! server keeping its vm_state, as Nova's compute manager reverts a task). A resize is a
//! saga ([`crate::sagas::resize`]); its confirm and revert finish it here.

use types::{Error, ImageId, Result, ServerId};

use super::{Conductor, ACTION_TIMEOUT};
use crate::{
    app::StateChange,
    clients::placement::Claim,
    model::{Fault, PowerState, VmState},
    rpc::{ConductorAction, HostAction, HostReply, HostRequest},
};

/// The vm_state and power state an action ends in.
fn end_state(a: &ConductorAction) -> Option<(VmState, PowerState)> {
    use ConductorAction as A;
    Some(match a {
        A::Stop => (VmState::Stopped, PowerState::Shutdown),
        A::Start | A::Reboot { .. } | A::Unpause | A::Resume | A::Unrescue | A::Rebuild { .. } => {
            (VmState::Active, PowerState::Running)
        }
        A::Pause => (VmState::Paused, PowerState::Paused),
        A::Suspend => (VmState::Suspended, PowerState::Suspended),
        A::Rescue { .. } => (VmState::Rescued, PowerState::Running),
        A::Resize { .. } | A::ConfirmResize | A::RevertResize | A::CreateImage { .. } => {
            return None
        }
    })
}

impl Conductor {
    pub(crate) async fn act(
        self: &std::sync::Arc<Self>,
        id: &ServerId,
        action: ConductorAction,
    ) -> Result<()> {
        if let ConductorAction::Resize { flavor } = &action {
            let params = crate::sagas::resize::Params {
                server_id: id.to_string(),
                flavor_id: flavor.clone(),
            };
            self.executor
                .start(self, crate::sagas::resize::NAME, &params)
                .await?;
            return Ok(());
        }
        let result = self.act_on_host(id, &action).await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(server = %id, ?action, "action failed: {}", e.report());
                if matches!(action, ConductorAction::Rebuild { .. }) {
                    self.compute
                        .set_fault(
                            id,
                            Fault {
                                code: 500,
                                message: e.message.clone(),
                                details: None,
                                created: crate::model::now(),
                            },
                        )
                        .await?;
                    self.compute
                        .set_states(id, StateChange::to(VmState::Error).task(None))
                        .await?;
                } else {
                    self.compute
                        .set_states(id, StateChange::keep().task(None))
                        .await?;
                }
                Err(e)
            }
        }
    }

    async fn act_on_host(&self, id: &ServerId, action: &ConductorAction) -> Result<()> {
        let server = self.compute.server(id).await?;
        let host = server
            .host
            .clone()
            .ok_or_else(|| Error::conflict(format!("Instance {id} is not on a host.")))?;
        let mut spec = self.guest_spec(&server, None).await?;
        use ConductorAction as A;
        let host_action = match action {
            A::Stop => HostAction::Stop,
            A::Start => HostAction::Start,
            A::Reboot { hard } => HostAction::Reboot { hard: *hard },
            A::Pause => HostAction::Pause,
            A::Unpause => HostAction::Unpause,
            A::Suspend => HostAction::Suspend,
            A::Resume => HostAction::Resume,
            A::Rescue { image } => {
                let image = match image {
                    Some(i) => self.image_ref(&parse_image(i)?).await?,
                    None => spec.image.clone(),
                };
                HostAction::Rescue { image }
            }
            A::Unrescue => HostAction::Unrescue,
            A::Rebuild { image } => HostAction::Rebuild {
                image: self.image_ref(&parse_image(image)?).await?,
            },
            A::CreateImage { image_id } => HostAction::Snapshot {
                image_id: image_id.clone(),
            },
            A::ConfirmResize => return self.confirm_resize(id).await,
            A::RevertResize => {
                let old = server
                    .old_flavor
                    .clone()
                    .ok_or_else(|| Error::conflict(format!("Instance {id} is not resized.")))?;
                spec.flavor = super::flavor_spec(&old);
                self.call_host(
                    &host,
                    &HostRequest::Action {
                        spec,
                        action: HostAction::Resize,
                    },
                    ACTION_TIMEOUT,
                )
                .await?;
                return self.revert_resize(id).await;
            }
            A::Resize { .. } => unreachable!("resizes are sagas"),
        };
        let reply = self
            .call_host(
                &host,
                &HostRequest::Action {
                    spec,
                    action: host_action,
                },
                ACTION_TIMEOUT,
            )
            .await?;
        if matches!(action, A::Rebuild { .. }) {
            self.compute.set_launched(id).await?;
        }
        let change = match end_state(action) {
            Some((vm, power)) => {
                let power = match reply {
                    HostReply::PowerState(p) => super::hosts::power_state(p),
                    _ => power,
                };
                StateChange::to(vm).power(power)
            }
            None => StateChange::keep(),
        };
        self.compute
            .set_states(id, change.task(None))
            .await
            .map(drop)
    }

    async fn confirm_resize(&self, id: &ServerId) -> Result<()> {
        self.placement
            .delete_allocations(&crate::sagas::resize::migration_id(id.as_str()))
            .await?;
        self.compute.resize_confirmed(id).await?;
        self.compute
            .set_states(id, StateChange::to(VmState::Active).task(None))
            .await
            .map(drop)
    }

    /// Back to the old flavor's allocation (held by the migration) and flavor.
    async fn revert_resize(&self, id: &ServerId) -> Result<()> {
        let server = self.compute.server(id).await?;
        let migration = crate::sagas::resize::migration_id(id.as_str());
        let held = self.placement.allocations(&migration).await?;
        if !held.allocations.is_empty() {
            let mine = self.placement.allocations(id.as_str()).await?;
            let consumer = |c: &str| crate::clients::placement::Consumer {
                id: c.to_owned(),
                project_id: server.project_id.clone(),
                user_id: server.user_id.clone(),
            };
            let moved = self
                .placement
                .post_allocations(&[
                    (
                        consumer(id.as_str()),
                        held.allocations.clone(),
                        mine.generation,
                    ),
                    (consumer(&migration), Default::default(), held.generation),
                ])
                .await?;
            if let Claim::Conflict(why) = moved {
                return Err(Error::conflict(format!(
                    "Cannot move the allocation back: {why}"
                )));
            }
        }
        self.compute.resize_reverted(id).await?;
        self.compute
            .set_states(
                id,
                StateChange::to(VmState::Active)
                    .power(PowerState::Running)
                    .task(None),
            )
            .await
            .map(drop)
    }
}

fn parse_image(s: &str) -> Result<ImageId> {
    s.parse()
        .map_err(|_| Error::bad_request(format!("Image {s} could not be found.")))
}

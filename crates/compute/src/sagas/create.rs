//! A server's boot: gate -> schedule (the scheduler picks a host and claims the
//! flavor in Placement) -> ports (made on the networks asked for, bound to the host)
//! -> spawn (the host caches the image and starts the guest; a failed host is
//! replaced by an alternate, its claim moved, up to [`MAX_ATTEMPTS`] hosts) ->
//! activate (ACTIVE, running, addresses, `launched_at`).
//!
//! Unwinding destroys the guest on every host tried, deletes the ports, drops the
//! allocation and leaves the server in ERROR with its fault (the failed step's error,
//! recorded before the unwinding began).

use std::time::Duration;

use saga::{Saga, Step};
use serde::{Deserialize, Serialize};
use types::{Error, PortId, Result};

use super::{live_server, recorded, server_id, Ctx};
use crate::{
    app::StateChange,
    clients::placement::{Claim, Consumer},
    conductor::{from_bus, ports, Conductor, BUILD_TIMEOUT, MAX_ATTEMPTS},
    model::{now, Fault, PowerState, Server, VmState},
    rpc::{
        GroupSpec, HostReply, HostRequest, ImageRef, RequestSpec, SchedulerReply, SchedulerRequest,
        Selection,
    },
};

pub const NAME: &str = "server-create";

pub fn saga() -> Saga<std::sync::Arc<Conductor>> {
    Saga {
        name: NAME,
        steps: vec![
            Step::new("gate", gate, failed),
            Step::new("schedule", schedule, unclaim),
            Step::new("ports", make_ports, release_ports),
            Step::new("spawn", spawn, destroy),
            Step::new("activate", activate, nothing),
        ],
    }
}

/// Where the guest runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub host: String,
    pub node: String,
}

/// Check the server is to be built, and read its image once for the later steps (the
/// scheduler's image properties, the host's image cache).
async fn gate(cx: Ctx) -> Result<Option<ImageRef>> {
    let id = server_id(&cx)?;
    let s = live_server(&cx, &id).await?;
    if s.vm_state != VmState::Building {
        return Err(Error::conflict(format!(
            "Instance {id} is {} and cannot be built.",
            s.vm_state
        )));
    }
    cx.ctx().server_image(&s).await
}

/// The image the gate read (None: read it now, for a saga logged before the gate
/// recorded it).
async fn image(cx: &Ctx, s: &Server) -> Result<Option<ImageRef>> {
    if let Some(Some(i)) = cx.output::<Option<ImageRef>>("gate")? {
        return Ok(Some(i));
    }
    cx.ctx().server_image(s).await
}

/// The end of an unwound boot: ERROR, with the fault of the step that failed.
async fn failed(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let c = &cx.ctx().compute;
    let s = match c.server(&id).await {
        Ok(s) if !s.deleted => s,
        Ok(_) => return Ok(()),
        Err(e) if e.kind == types::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if s.fault.is_none() {
        c.set_fault(
            &id,
            Fault {
                code: 500,
                message: format!("Build of instance {id} aborted: the build could not finish."),
                details: None,
                created: now(),
            },
        )
        .await?;
    }
    c.set_states(
        &id,
        StateChange::to(VmState::Error)
            .task(None)
            .power(PowerState::NoState),
    )
    .await
    .map(drop)
}

/// What the server asks of a host, booting from `image` (as read from the Image
/// service).
pub(crate) async fn request_spec(
    c: &Conductor,
    s: &Server,
    image: Option<&ImageRef>,
) -> Result<RequestSpec> {
    let image_properties = image.map(|i| i.properties.clone()).unwrap_or_default();
    let group = match &s.server_group {
        None => None,
        Some(g) => {
            let mut conn = c.compute.db.pool.acquire().await?;
            let group = crate::store::groups::get(&mut conn, g).await?;
            drop(conn);
            match group {
                None => None,
                Some(group) => {
                    let mut member_hosts = Vec::new();
                    for m in group.members.iter().filter(|m| **m != s.id) {
                        if let Ok(other) = c.compute.server(m).await {
                            if let (false, Some(h)) = (other.deleted, other.host) {
                                member_hosts.push(h);
                            }
                        }
                    }
                    Some(GroupSpec {
                        id: g.to_string(),
                        policy: group.policy.clone(),
                        max_server_per_host: group
                            .rules
                            .get("max_server_per_host")
                            .and_then(serde_json::Value::as_u64)
                            .and_then(|n| u32::try_from(n).ok()),
                        member_hosts,
                    })
                }
            }
        }
    };
    Ok(RequestSpec {
        consumer_id: s.id.to_string(),
        project_id: s.project_id.clone(),
        user_id: s.user_id.clone(),
        flavor: crate::conductor::flavor_spec(&s.flavor),
        image_properties,
        availability_zone: s.availability_zone.clone(),
        group,
        alternates: MAX_ATTEMPTS - 1,
        ignore_hosts: Vec::new(),
        // `availability_zone: "zone:host"` (admins): the API keeps the host as a hint
        force_host: s
            .scheduler_hints
            .get("force_host")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    })
}

/// Choose a host and claim on it. A member of a server group is scheduled in its
/// group's turn and its host recorded at once, before the next member's turn: the
/// group filters count members by their host, and a member scheduled but not yet
/// spawned would be invisible to them (two anti-affine members booted at once landed
/// on one host). The turn is only this process's: a member's host is recorded under
/// its group's lock, checked against the policy (the late check), and a host another
/// conductor filled meanwhile is left for the next best.
async fn schedule(cx: Ctx) -> Result<Vec<Selection>> {
    let id = server_id(&cx)?;
    let r = async {
        let c = cx.ctx();
        let s = live_server(&cx, &id).await?;
        let _turn = match &s.server_group {
            Some(g) => Some(c.group_turn(g.as_str()).await),
            None => None,
        };
        let image = image(&cx, &s).await?;
        let mut spec = request_spec(c, &s, image.as_ref()).await?;
        for _ in 0..MAX_ATTEMPTS {
            let reply = c
                .scheduler
                .call(&SchedulerRequest::Select(spec.clone()))
                .await
                .map_err(from_bus)?;
            let SchedulerReply::Selected(selections) = reply;
            let Some(first) = selections.first() else {
                return Ok(selections);
            };
            let (Some(group), Some(g)) = (&s.server_group, &spec.group) else {
                c.compute
                    .set_host(&id, Some(first.host.as_str()), Some(first.node.as_str()))
                    .await?;
                return Ok(selections);
            };
            let max = g.max_server_per_host.unwrap_or(1);
            if c.compute
                .set_member_host(&id, &first.host, &first.node, group, &g.policy, max)
                .await?
            {
                return Ok(selections);
            }
            tracing::info!(server = %id, host = %first.host, policy = %g.policy, "another member of the group was placed meanwhile; scheduling again");
            c.placement.delete_allocations(id.as_str()).await?;
            if g.policy != "affinity" {
                spec.ignore_hosts.push(first.host.clone());
            }
            let again = request_spec(c, &s, image.as_ref()).await?;
            spec.group = again.group;
        }
        Err(Error::conflict(format!(
            "No valid host was found. The hosts offered for instance {id} broke its server group's policy."
        ))
        .with_code(crate::rpc::NO_VALID_HOST))
    }
    .await;
    recorded(&cx, &id, r).await
}

/// Drop the claim, and the host the server was given.
async fn unclaim(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let c = cx.ctx();
    c.placement.delete_allocations(id.as_str()).await?;
    match c.compute.server(&id).await {
        Ok(s) if !s.deleted && s.host.is_some() => c.compute.set_host(&id, None, None).await,
        Ok(_) => Ok(()),
        Err(e) if e.kind == types::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn selections(cx: &Ctx) -> Result<Vec<Selection>> {
    cx.output::<Vec<Selection>>("schedule")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::internal("the boot has no host"))
}

async fn make_ports(cx: Ctx) -> Result<Vec<PortId>> {
    let id = server_id(&cx)?;
    let r = async {
        let s = live_server(&cx, &id).await?;
        let host = selections(&cx)?[0].host.clone();
        let net = &cx.ctx().compute.clients.network;
        let ids = ports::ensure(net, &s, &host).await?;
        // a server without NICs has nothing to record (one write less per boot)
        if !(ids.is_empty() && s.ports.is_empty()) {
            let (infos, _) = ports::describe(net, &ids).await?;
            cx.ctx().compute.set_ports(&id, infos).await?;
        }
        Ok(ids)
    }
    .await;
    recorded(&cx, &id, r).await
}

async fn release_ports(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let c = &cx.ctx().compute;
    let s = match c.server(&id).await {
        Ok(s) => s,
        Err(e) if e.kind == types::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    ports::release(&c.clients.network, &s).await?;
    if !s.ports.is_empty() {
        c.set_ports(&id, Vec::new()).await?;
    }
    Ok(())
}

async fn spawn(cx: Ctx) -> Result<Placed> {
    let id = server_id(&cx)?;
    let r = spawn_somewhere(&cx).await;
    recorded(&cx, &id, r).await
}

async fn spawn_somewhere(cx: &Ctx) -> Result<Placed> {
    let id = server_id(cx)?;
    let c = cx.ctx();
    let s = live_server(cx, &id).await?;
    let mut order = selections(cx)?;
    // a re-run goes back to the host the last run chose
    if let Some(h) = &s.host {
        if let Some(i) = order.iter().position(|sel| sel.host == *h) {
            let sel = order.remove(i);
            order.insert(0, sel);
        }
    }
    let port_ids: Vec<PortId> = cx.output("ports")?.unwrap_or_default();
    let consumer = Consumer {
        id: id.to_string(),
        project_id: s.project_id.clone(),
        user_id: s.user_id.clone(),
    };
    let image = image(cx, &s).await?;
    let attempts = order.len().min(MAX_ATTEMPTS as usize);
    let mut last: Option<Error> = None;
    for (n, sel) in order.into_iter().take(attempts).enumerate() {
        if n > 0 || s.host.as_deref() != Some(sel.host.as_str()) {
            // the claim follows the host tried (the first one's is made already)
            if let Claim::Conflict(why) = c
                .placement
                .ensure_allocations(&consumer, &sel.allocations)
                .await?
            {
                tracing::info!(server = %id, host = %sel.host, "alternate has no room: {why}");
                continue;
            }
        }
        // the host the schedule step recorded needs no second write, nor a re-read
        let on = if s.host.as_deref() == Some(sel.host.as_str())
            && s.node.as_deref() == Some(sel.node.as_str())
        {
            s.clone()
        } else {
            c.compute
                .set_host(&id, Some(sel.host.as_str()), Some(sel.node.as_str()))
                .await?;
            live_server(cx, &id).await?
        };
        if n > 0 {
            ports::rebind(&c.compute.clients.network, &port_ids, &sel.host).await?;
        }
        let spec = c.guest_spec(&on, image.clone()).await?;
        let built = c
            .call_host(&sel.host, &HostRequest::Build { spec }, BUILD_TIMEOUT)
            .await;
        match built {
            Ok(reply) => {
                // a drive the host forced shows as the server's, as in Nova
                if let HostReply::Built {
                    config_drive: true, ..
                } = reply
                {
                    if !s.config_drive {
                        c.compute.set_config_drive(&id).await?;
                    }
                }
                return Ok(Placed {
                    host: sel.host,
                    node: sel.node,
                });
            }
            Err(e) => {
                tracing::warn!(server = %id, host = %sel.host, "build failed: {}", e.report());
                let _ = c
                    .call_host(
                        &sel.host,
                        &HostRequest::Destroy {
                            server_id: id.to_string(),
                        },
                        Duration::from_secs(60),
                    )
                    .await;
                last = Some(e);
            }
        }
    }
    Err(match last {
        Some(e) if attempts <= 1 => e,
        Some(e) => Error::new(
            e.kind,
            format!(
                "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance {id}."
            ),
        )
        .with_detail(e.message),
        None => Error::conflict("No valid host was found. There are not enough hosts available.")
            .with_code(crate::rpc::NO_VALID_HOST),
    })
}

/// Remove the guest from every host the boot may have tried.
async fn destroy(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let c = cx.ctx();
    let mut hosts: Vec<String> = cx
        .output::<Vec<Selection>>("schedule")?
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.host)
        .collect();
    let server = c.compute.server(&id).await.ok();
    if let Some(h) = server.as_ref().and_then(|s| s.host.clone()) {
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    for h in &hosts {
        match c
            .call_host(
                h,
                &HostRequest::Destroy {
                    server_id: id.to_string(),
                },
                Duration::from_secs(120),
            )
            .await
        {
            Ok(_) => {}
            // a host that is gone destroys what no server owns when it comes back
            Err(e) if e.kind == types::ErrorKind::Unavailable => {
                tracing::warn!(server = %id, host = %h, "cannot reach the host to destroy the guest: {}", e.report());
            }
            Err(e) => return Err(e),
        }
    }
    if server.is_some_and(|s| !s.deleted && s.host.is_some()) {
        c.compute.set_host(&id, None, None).await?;
    }
    Ok(())
}

async fn activate(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let r = async {
        let c = cx.ctx();
        live_server(&cx, &id).await?;
        let port_ids: Vec<PortId> = cx.output("ports")?.unwrap_or_default();
        let (infos, _) = ports::describe(&c.compute.clients.network, &port_ids).await?;
        c.compute
            .set_launched_with(
                &id,
                infos,
                StateChange::to(VmState::Active)
                    .task(None)
                    .power(PowerState::Running),
            )
            .await?;
        Ok(())
    }
    .await;
    recorded(&cx, &id, r).await
}

async fn nothing(_: Ctx) -> Result<()> {
    Ok(())
}

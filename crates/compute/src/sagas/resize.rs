//! A resize (on the server's own host, as `allow_resize_to_same_host`): claim -> resize
//! -> verify. The claim moves the old flavor's allocation to the migration's consumer
//! and claims the new flavor for the server in one `POST /allocations`, as Nova does;
//! the host stops the guest, grows its disk and starts it with the new flavor; the
//! server waits in VERIFY_RESIZE for a confirm (the migration's allocation dropped) or
//! a revert (moved back). Unwinding moves the allocation back and leaves the server
//! ACTIVE on its old flavor.

use saga::{Saga, Step};
use serde::{Deserialize, Serialize};
use types::{Error, FlavorId, Result, ServerId};

use super::{live_server, Ctx};
use crate::{
    app::StateChange,
    clients::placement::{Allocations, Claim, Consumer},
    conductor::{flavor_spec, Conductor, ACTION_TIMEOUT},
    model::{PowerState, VmState},
    rpc::{HostAction, HostRequest},
    scheduler,
};

pub const NAME: &str = "server-resize";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub server_id: String,
    pub flavor_id: String,
}

pub fn saga() -> Saga<std::sync::Arc<Conductor>> {
    Saga {
        name: NAME,
        steps: vec![
            Step::new("claim", claim, unclaim),
            Step::new("resize", resize, unresize),
            Step::new("verify", verify, unverify),
        ],
    }
}

/// The consumer holding the old flavor's allocation during a resize of `server`
/// (fixed by the server: one resize at a time).
pub fn migration_id(server: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("oxistack-migration:{server}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b)
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn ids(cx: &Ctx) -> Result<(ServerId, FlavorId)> {
    let p: Params = cx.params()?;
    let s = p
        .server_id
        .parse()
        .map_err(|_| Error::internal("bad server id"))?;
    let f = p
        .flavor_id
        .parse()
        .map_err(|_| Error::internal("bad flavor id"))?;
    Ok((s, f))
}

async fn claim(cx: Ctx) -> Result<()> {
    let (id, flavor) = ids(&cx)?;
    let c = cx.ctx();
    let s = live_server(&cx, &id).await?;
    let new = c.compute.flavor_by_id(&flavor).await?;
    let migration = migration_id(id.as_str());
    let mine = c.placement.allocations(id.as_str()).await?;
    let held = c.placement.allocations(&migration).await?;
    let image = c.server_image(&s).await?;
    let mut spec = crate::sagas::create::request_spec(c, &s, image.as_ref()).await?;
    spec.flavor = flavor_spec(&new);
    let wanted = scheduler::resources(&spec);
    let node = mine
        .allocations
        .keys()
        .chain(held.allocations.keys())
        .next()
        .cloned()
        .ok_or_else(|| Error::conflict(format!("Instance {id} holds no allocation.")))?;
    let new_alloc: Allocations = [(node, wanted)].into();
    if !held.allocations.is_empty() && mine.allocations == new_alloc {
        return Ok(());
    }
    let consumer = |c: &str| Consumer {
        id: c.to_owned(),
        project_id: s.project_id.clone(),
        user_id: s.user_id.clone(),
    };
    let old = if held.allocations.is_empty() {
        mine.allocations.clone()
    } else {
        held.allocations.clone()
    };
    match c
        .placement
        .post_allocations(&[
            (consumer(&migration), old, held.generation),
            (consumer(id.as_str()), new_alloc, mine.generation),
        ])
        .await?
    {
        Claim::Claimed => Ok(()),
        Claim::Conflict(why) => Err(Error::conflict(format!(
            "No valid host was found. There are not enough resources for the new flavor on host {}.",
            s.host.unwrap_or_default()
        ))
        .with_detail(why)
        .with_code(crate::rpc::NO_VALID_HOST)),
    }
}

/// Move the old flavor's allocation back to the server, and the server back to ACTIVE.
async fn unclaim(cx: Ctx) -> Result<()> {
    let (id, _) = ids(&cx)?;
    let c = cx.ctx();
    let s = c.compute.server(&id).await?;
    let migration = migration_id(id.as_str());
    let held = c.placement.allocations(&migration).await?;
    if !held.allocations.is_empty() {
        let mine = c.placement.allocations(id.as_str()).await?;
        let consumer = |c: &str| Consumer {
            id: c.to_owned(),
            project_id: s.project_id.clone(),
            user_id: s.user_id.clone(),
        };
        if let Claim::Conflict(why) = c
            .placement
            .post_allocations(&[
                (
                    consumer(id.as_str()),
                    held.allocations.clone(),
                    mine.generation,
                ),
                (consumer(&migration), Allocations::new(), held.generation),
            ])
            .await?
        {
            return Err(Error::unavailable("Cannot move the allocation back.").with_detail(why));
        }
    }
    if !s.deleted {
        c.compute
            .set_states(&id, StateChange::to(VmState::Active).task(None))
            .await?;
    }
    Ok(())
}

async fn resize_to(cx: &Ctx, flavor: Option<&FlavorId>) -> Result<()> {
    let (id, _) = ids(cx)?;
    let c = cx.ctx();
    let s = live_server(cx, &id).await?;
    let host = s
        .host
        .clone()
        .ok_or_else(|| Error::conflict(format!("Instance {id} is not on a host.")))?;
    let mut spec = c.guest_spec(&s, None).await?;
    if let Some(f) = flavor {
        spec.flavor = flavor_spec(&c.compute.flavor_by_id(f).await?);
    }
    c.call_host(
        &host,
        &HostRequest::Action {
            spec,
            action: HostAction::Resize,
        },
        ACTION_TIMEOUT,
    )
    .await
    .map(drop)
}

async fn resize(cx: Ctx) -> Result<()> {
    let (_, flavor) = ids(&cx)?;
    resize_to(&cx, Some(&flavor)).await
}

/// Back to the flavor the server has in the database (the old one: `verify`'s undo
/// ran first).
async fn unresize(cx: Ctx) -> Result<()> {
    match resize_to(&cx, None).await {
        // not on a host, or its guest is gone: nothing to take back
        Err(e)
            if matches!(
                e.kind,
                types::ErrorKind::Conflict | types::ErrorKind::NotFound
            ) =>
        {
            Ok(())
        }
        r => r,
    }
}

async fn verify(cx: Ctx) -> Result<()> {
    let (id, flavor) = ids(&cx)?;
    let c = &cx.ctx().compute;
    let s = live_server(&cx, &id).await?;
    if s.flavor.id != flavor {
        c.resize_applied(&id, &flavor).await?;
    }
    c.set_states(
        &id,
        StateChange::to(VmState::Resized)
            .task(None)
            .power(PowerState::Running),
    )
    .await
    .map(drop)
}

async fn unverify(cx: Ctx) -> Result<()> {
    let (id, flavor) = ids(&cx)?;
    let c = &cx.ctx().compute;
    let s = c.server(&id).await?;
    if s.flavor.id == flavor && s.old_flavor.is_some() {
        c.resize_reverted(&id).await?;
    }
    Ok(())
}

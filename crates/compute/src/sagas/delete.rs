//! A server's delete: forget its console tokens and destroy the guest on its host -> release its ports -> drop its
//! allocations (and a resize's) -> mark the row deleted. Every step only removes, so a
//! re-run finds its work done; if a step cannot be done the server goes to ERROR with
//! the fault, as Nova leaves a failed delete, and may be deleted again.

use std::time::Duration;

use saga::{Saga, Step};
use types::{ErrorKind, Result};

use super::{recorded, server_id, Ctx};
use crate::{
    app::StateChange,
    conductor::{ports, Conductor},
    model::{PowerState, VmState},
    rpc::HostRequest,
};

pub const NAME: &str = "server-delete";

pub fn saga() -> Saga<std::sync::Arc<Conductor>> {
    Saga {
        name: NAME,
        steps: vec![
            Step::new("destroy", destroy, failed),
            Step::new("ports", release_ports, nothing),
            Step::new("allocations", allocations, nothing),
            Step::new("row", row, nothing),
        ],
    }
}

async fn destroy(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let c = cx.ctx();
    // its consoles close to new connections first, as Nova cleans its console tokens
    c.guests.revoke_consoles(&id).await?;
    let s = c.compute.server(&id).await?;
    let Some(host) = s.host.clone() else {
        return Ok(());
    };
    let r = c
        .call_host(
            &host,
            &HostRequest::Destroy {
                server_id: id.to_string(),
            },
            Duration::from_secs(120),
        )
        .await;
    match r {
        Ok(_) => Ok(()),
        // a host that is down: the row goes (Nova's local delete); the host destroys
        // the guest no server owns when it is back
        Err(e) if e.kind == ErrorKind::Unavailable => {
            tracing::warn!(server = %id, host = %host, "deleting without the host: {}", e.report());
            Ok(())
        }
        Err(e) => recorded(&cx, &id, Err(e)).await,
    }
}

async fn failed(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let c = &cx.ctx().compute;
    match c.server(&id).await {
        Ok(s) if s.deleted => Ok(()),
        Ok(_) => c
            .set_states(
                &id,
                StateChange::to(VmState::Error)
                    .task(None)
                    .power(PowerState::NoState),
            )
            .await
            .map(drop),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

async fn release_ports(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let c = &cx.ctx().compute;
    let s = c.server(&id).await?;
    let r = ports::release(&c.clients.network, &s).await;
    recorded(&cx, &id, r).await
}

async fn allocations(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let p = &cx.ctx().placement;
    let r = async {
        p.delete_allocations(id.as_str()).await?;
        p.delete_allocations(&super::resize::migration_id(id.as_str()))
            .await
    }
    .await;
    recorded(&cx, &id, r).await
}

async fn row(cx: Ctx) -> Result<()> {
    let id = server_id(&cx)?;
    let c = &cx.ctx().compute;
    if c.server(&id).await?.deleted {
        return Ok(());
    }
    c.server_deleted(&id).await
}

async fn nothing(_: Ctx) -> Result<()> {
    Ok(())
}

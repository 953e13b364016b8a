//! The conductor's sagas (crates/saga): a server's boot ([`create`]), delete
//! ([`delete`]) and resize ([`resize`]). Each step is idempotent and its undo works from
//! the server's id alone (ports are found by `device_id` and their `nova-nic-<n>` tag,
//! allocations by consumer, guests by server id on the hosts tried), so a crash
//! anywhere is resumed or unwound by the next conductor.

pub mod create;
pub mod delete;
pub mod resize;

use std::sync::Arc;

use saga::{Cx, Saga};
use serde::{Deserialize, Serialize};
use types::{Error, Result, ServerId};

use crate::{
    conductor::Conductor,
    model::{now, Fault, Server},
};

/// The params of a saga about one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerParams {
    pub server_id: String,
}

pub(crate) type Ctx = Cx<Arc<Conductor>>;

/// Every saga of the conductor.
pub fn all() -> Vec<Saga<Arc<Conductor>>> {
    vec![create::saga(), delete::saga(), resize::saga()]
}

pub(crate) fn server_id(cx: &Ctx) -> Result<ServerId> {
    let p: ServerParams = cx.params()?;
    p.server_id
        .parse()
        .map_err(|_| Error::internal(format!("saga {}: bad server id", cx.saga_id())))
}

/// The server, which must not be deleted meanwhile.
pub(crate) async fn live_server(cx: &Ctx, id: &ServerId) -> Result<Server> {
    let s = cx.ctx().compute.server(id).await?;
    if s.deleted {
        return Err(Error::conflict(format!(
            "Instance {id} was deleted during the operation."
        )));
    }
    Ok(s)
}

/// Record why a step failed as the server's fault (what the API shows once the saga
/// has unwound to ERROR), and hand the error on.
pub(crate) async fn recorded<T>(cx: &Ctx, id: &ServerId, r: Result<T>) -> Result<T> {
    if let Err(e) = &r {
        let fault = Fault {
            code: if e.code == Some(crate::rpc::NO_VALID_HOST) {
                500
            } else {
                fault_code(e)
            },
            message: e.message.clone(),
            details: e.detail.clone(),
            created: now(),
        };
        if let Err(w) = cx.ctx().compute.set_fault(id, fault).await {
            tracing::warn!(server = %id, "cannot record the fault: {}", w.report());
        }
    }
    r
}

fn fault_code(e: &Error) -> i64 {
    use types::ErrorKind as K;
    match e.kind {
        K::BadRequest => 400,
        K::NotFound => 404,
        K::Conflict => 409,
        _ => 500,
    }
}

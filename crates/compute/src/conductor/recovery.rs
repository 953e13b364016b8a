//! What the previous `oxistack up` accepted but never began. The API records a
//! request on the server (its task, or BUILD) and then casts it to the conductor; the
//! in-process bus keeps no message across a crash, so a `kill -9` between the two
//! leaves a server waiting for work no one will do. `up` is the only process of its
//! cloud: at its start, a server that is busy with no unfinished saga of its own, and
//! was last changed before this process started, is taken up again as Nova's compute
//! manager does at its start (`init_host`): a delete or a build is started anew (both
//! sagas begin from any state), any other task is cleared (the periodic power sync
//! then reports what the guest does).

use std::{collections::HashSet, sync::Arc};

use types::Result;

use super::Conductor;
use crate::{
    app::states::StateChange,
    model::{TaskState, VmState},
    sagas::{self, ServerParams},
    store::servers,
};

impl Conductor {
    /// Take up the requests a previous process accepted and lost (see the module);
    /// `before`: when this process started. How many servers were taken up.
    pub(crate) async fn recover_lost_requests(self: &Arc<Self>, before: &str) -> Result<usize> {
        let busy: HashSet<String> = self
            .executor
            .unfinished()
            .await?
            .into_iter()
            .filter_map(|s| s.params["server_id"].as_str().map(str::to_owned))
            .collect();
        let list = {
            let mut c = self.compute.conn().await?;
            servers::busy(&mut c).await?
        };
        let mut n = 0;
        for s in list {
            if busy.contains(s.id.as_str()) || s.updated_at.as_str() >= before {
                continue;
            }
            let params = ServerParams {
                server_id: s.id.to_string(),
            };
            match (s.vm_state, s.task_state) {
                (_, Some(TaskState::Deleting)) => {
                    tracing::info!(server = %s.id, "a delete the last run accepted is started again");
                    self.executor
                        .start(self, sagas::delete::NAME, &params)
                        .await?;
                }
                (VmState::Building, _) => {
                    tracing::info!(server = %s.id, "a build the last run accepted is started again");
                    self.executor
                        .start(self, sagas::create::NAME, &params)
                        .await?;
                }
                (vm, Some(task)) => {
                    tracing::info!(server = %s.id, task = %task, "a task the last run left unfinished is cleared");
                    self.compute
                        .set_states(&s.id, StateChange::to(vm).task(None))
                        .await?;
                }
                (_, None) => continue,
            }
            n += 1;
        }
        Ok(n)
    }
}

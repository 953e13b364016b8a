//! os-instance-actions: what was asked of a server, by whom, and the events of its
//! doing (the conductor records events with [`Compute::action_event_start`] and
//! [`Compute::action_event_finish`]).

use api_common::{Error, Result};
use types::ServerId;

use super::{Caller, Compute};
use crate::{
    model::{now, ActionEvent, InstanceAction, Server},
    policies::Rule,
    store,
};

impl Compute {
    /// Record that `action` was asked of `server` by the caller in request `request_id`.
    pub(crate) async fn record_action(
        conn: &mut store::Conn,
        caller: &Caller<'_>,
        server: &Server,
        action: &str,
        request_id: &str,
    ) -> Result<()> {
        let t = now();
        store::actions::insert(
            conn,
            &InstanceAction {
                server_id: server.id.clone(),
                request_id: request_id.to_owned(),
                action: action.to_owned(),
                project_id: server.project_id.clone(),
                user_id: caller.user().to_owned(),
                start_time: t.clone(),
                updated_at: t,
                message: None,
                events: Vec::new(),
            },
        )
        .await
    }

    async fn change_action(
        &self,
        server: &ServerId,
        request_id: &str,
        change: impl FnOnce(&mut InstanceAction),
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let Some(mut a) = store::actions::get(&mut tx, server, request_id).await? else {
            return Ok(());
        };
        change(&mut a);
        a.updated_at = now();
        store::actions::save(&mut tx, &a).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An event of an action began (`compute__do_build_and_run_instance`...).
    pub async fn action_event_start(
        &self,
        server: &ServerId,
        request_id: &str,
        event: &str,
        host: Option<&str>,
    ) -> Result<()> {
        self.change_action(server, request_id, |a| {
            a.events.push(ActionEvent {
                event: event.to_owned(),
                start_time: now(),
                finish_time: None,
                result: None,
                traceback: None,
                host: host.map(str::to_owned),
            })
        })
        .await
    }

    /// An event of an action ended (`Err`: its error, shown to admins).
    pub async fn action_event_finish(
        &self,
        server: &ServerId,
        request_id: &str,
        event: &str,
        outcome: std::result::Result<(), String>,
    ) -> Result<()> {
        self.change_action(server, request_id, |a| {
            if let Some(e) = a.events.iter_mut().rev().find(|e| e.event == event) {
                e.finish_time = Some(now());
                match &outcome {
                    Ok(()) => e.result = Some("Success".into()),
                    Err(tb) => {
                        e.result = Some("Error".into());
                        e.traceback = Some(tb.clone());
                    }
                }
            }
            if outcome.is_err() {
                a.message = Some("Error".into());
            }
        })
        .await
    }

    /// The actions of a server the caller may see (newest first).
    pub async fn action_list(
        &self,
        caller: &Caller<'_>,
        server: &str,
    ) -> Result<Vec<InstanceAction>> {
        let s = self.server_visible(caller, server, true).await?;
        self.authorize(
            caller,
            Rule::ActionsList,
            &super::target(&s.project_id, &s.user_id),
        )?;
        let mut c = self.conn().await?;
        store::actions::list(&mut c, &s.id).await
    }

    /// One action, and whether its events may be shown (with tracebacks: the second).
    pub async fn action_show(
        &self,
        caller: &Caller<'_>,
        server: &str,
        request: &str,
    ) -> Result<(InstanceAction, bool, bool)> {
        let s = self.server_visible(caller, server, true).await?;
        let t = super::target(&s.project_id, &s.user_id);
        self.authorize(caller, Rule::ActionsShow, &t)?;
        let mut c = self.conn().await?;
        let a = store::actions::get(&mut c, &s.id, request)
            .await?
            .ok_or_else(|| Error::not_found(format!("Action {request} could not be found.")))?;
        let events = self.allowed(caller, Rule::ActionsEvents, &t);
        let details = self.allowed(caller, Rule::ActionsEventsDetails, &t);
        Ok((a, events, details))
    }
}

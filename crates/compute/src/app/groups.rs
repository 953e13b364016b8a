//! Server groups: a policy (affinity, anti-affinity, soft-*) the scheduler keeps for
//! the servers booted into the group (`scheduler_hints.group`).

use api_common::{Error, Result};
use serde_json::{Map, Value};
use types::{ServerGroupId, ServerId};

use super::{Caller, Compute};
use crate::{
    model::{now, ServerGroup},
    policies::Rule,
    store,
};

pub const POLICIES: &[&str] = &[
    "affinity",
    "anti-affinity",
    "soft-affinity",
    "soft-anti-affinity",
];

fn not_found(id: &str) -> Error {
    Error::not_found(format!("Instance group {id} could not be found."))
}

impl Compute {
    pub async fn group_create(
        &self,
        caller: &Caller<'_>,
        name: String,
        policy: String,
        rules: Map<String, Value>,
    ) -> Result<ServerGroup> {
        self.authorize_own(caller, Rule::GroupsCreate)?;
        let limit = self.quota_limit(caller.project(), "server_groups").await?;
        let g = ServerGroup {
            id: ServerGroupId::generate(),
            project_id: caller.project().to_owned(),
            user_id: caller.user().to_owned(),
            name,
            policy,
            rules,
            members: Vec::new(),
            created_at: now(),
        };
        let mut tx = self.db.begin_write().await?;
        if limit >= 0 && store::groups::count(&mut tx, caller.project()).await? >= limit {
            return Err(Error::forbidden("Quota exceeded, too many server groups."));
        }
        store::groups::insert(&mut tx, &g).await?;
        tx.commit().await?;
        Ok(g)
    }

    /// A group the caller may see (others' are not found).
    pub async fn group_show(&self, caller: &Caller<'_>, id: &str) -> Result<ServerGroup> {
        let gid = ServerGroupId::parse(id).map_err(|_| not_found(id))?;
        let mut c = self.conn().await?;
        let g = store::groups::get(&mut c, &gid)
            .await?
            .ok_or_else(|| not_found(id))?;
        let t = super::target(&g.project_id, &g.user_id);
        if !self.allowed(caller, Rule::GroupsShow, &t) {
            return Err(not_found(id));
        }
        Ok(g)
    }

    /// The caller's project's groups, or (admins, `all_projects`) every group.
    pub async fn group_list(
        &self,
        caller: &Caller<'_>,
        all_projects: bool,
    ) -> Result<Vec<ServerGroup>> {
        self.authorize_own(caller, Rule::GroupsIndex)?;
        let all = all_projects
            && self.allowed(
                caller,
                Rule::GroupsIndexAllProjects,
                &super::target(caller.project(), caller.user()),
            );
        let mut c = self.conn().await?;
        store::groups::list(&mut c, (!all).then(|| caller.project())).await
    }

    pub async fn group_delete(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        let g = self.group_show(caller, id).await?;
        self.authorize(
            caller,
            Rule::GroupsDelete,
            &super::target(&g.project_id, &g.user_id),
        )?;
        let mut c = self.conn().await?;
        store::groups::delete(&mut c, &g.id).await?;
        Ok(())
    }

    /// The group a new server joins (`scheduler_hints.group`), checked: the caller's,
    /// with room for `count` more members.
    pub(crate) async fn group_for_boot(
        &self,
        caller: &Caller<'_>,
        id: &str,
        count: usize,
    ) -> Result<ServerGroup> {
        let g = self
            .group_show(caller, id)
            .await
            .map_err(|e| match e.kind {
                api_common::ErrorKind::NotFound => {
                    Error::bad_request(format!("Invalid server group {id}"))
                }
                _ => e,
            })?;
        let limit = self
            .quota_limit(&g.project_id, "server_group_members")
            .await?;
        if limit >= 0 && crate::model::count(g.members.len() + count) > limit {
            return Err(Error::forbidden(
                "Quota exceeded, too many servers in group",
            ));
        }
        Ok(g)
    }

    /// Add the servers to the group (in the transaction that records them).
    pub(crate) async fn group_join(
        conn: &mut store::Conn,
        g: &ServerGroupId,
        servers: &[ServerId],
    ) -> Result<()> {
        for s in servers {
            store::groups::add_member(conn, g, s).await?;
        }
        Ok(())
    }

    /// The groups a server belongs to (2.71 shows them).
    pub async fn groups_of(&self, server: &ServerId) -> Result<Vec<ServerGroupId>> {
        let mut c = self.conn().await?;
        Ok(store::groups::list(&mut c, None)
            .await?
            .into_iter()
            .filter(|g| g.members.contains(server))
            .map(|g| g.id)
            .collect())
    }
}

//! RBAC policies: a network shared with (or made external for) chosen projects or all
//! (`*`), a QoS policy shared likewise. The object's owner makes and removes them.

use serde::Deserialize;
use types::RbacPolicyId;

use super::{target, Caller, Networking};
use crate::{
    ipam::invalid,
    model::{now, RbacPolicy},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// `POST /v2.0/rbac-policies`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RbacCreate {
    pub object_type: String,
    pub object_id: String,
    pub action: String,
    pub target_tenant: String,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
}

/// `PUT /v2.0/rbac-policies/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RbacUpdate {
    pub target_tenant: Option<String>,
}

pub(super) fn not_found(id: &str) -> Error {
    Error::not_found(format!("RBAC policy with id {id} could not be found."))
        .with_code("RbacPolicyNotFound")
}

impl Networking {
    /// The network as the caller sees it: shared or external also when an RBAC policy
    /// grants it so to the caller's project (or to all), as Neutron renders it.
    pub(super) fn rbac_view(
        &self,
        caller: &Caller<'_>,
        grants: &[RbacPolicy],
        n: &mut crate::model::Network,
    ) {
        for p in grants
            .iter()
            .filter(|p| p.object_type == "network" && p.object_id == n.id.as_str())
        {
            if p.target_project == "*" || p.target_project == caller.project() {
                match p.action.as_str() {
                    "access_as_shared" => n.shared = true,
                    "access_as_external" => n.external = true,
                    _ => {}
                }
            }
        }
    }

    /// Every RBAC policy (for views).
    pub(super) async fn grants(&self) -> Result<Vec<RbacPolicy>> {
        let mut conn = self.conn().await?;
        store::list_rbac(&mut conn).await
    }

    /// `object` is granted with `action` to the caller's project (or to all).
    pub(super) async fn granted(
        &self,
        caller: &Caller<'_>,
        object_type: &str,
        object: &str,
        action: &str,
    ) -> Result<bool> {
        let mut conn = self.conn().await?;
        let all = store::list_rbac(&mut conn).await?;
        Ok(all.iter().any(|p| {
            p.object_type == object_type
                && p.object_id == object
                && p.action == action
                && (p.target_project == "*" || p.target_project == caller.project())
        }))
    }

    /// The owner of an RBAC policy's object, if the caller may see the object.
    async fn object_owner(
        &self,
        caller: &Caller<'_>,
        object_type: &str,
        object_id: &str,
    ) -> Result<String> {
        match object_type {
            "network" => {
                let id = object_id
                    .parse()
                    .map_err(|_| super::networks::not_found(object_id))?;
                Ok(self.visible_network(caller, &id).await?.project_id)
            }
            "qos_policy" => {
                let id = object_id
                    .parse()
                    .map_err(|_| super::qos::not_found(object_id))?;
                Ok(self.visible_qos(caller, &id).await?.project_id)
            }
            other => Err(invalid(format_args!(
                "'{other}' is not in ['network', 'qos_policy']"
            ))),
        }
    }

    pub async fn rbac_list(&self, caller: &Caller<'_>) -> Result<Vec<RbacPolicy>> {
        let mut conn = self.conn().await?;
        let all = store::list_rbac(&mut conn).await?;
        Ok(all
            .into_iter()
            .filter(|p| self.allowed(caller, Rule::GetRbacPolicy, &target(&p.project_id, &[])))
            .collect())
    }

    pub async fn rbac_show(&self, caller: &Caller<'_>, id: &RbacPolicyId) -> Result<RbacPolicy> {
        let mut conn = self.conn().await?;
        let p = store::get_rbac(&mut conn, id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        if !self.allowed(caller, Rule::GetRbacPolicy, &target(&p.project_id, &[])) {
            return Err(not_found(id.as_str()));
        }
        Ok(p)
    }

    pub async fn rbac_create(&self, caller: &Caller<'_>, req: RbacCreate) -> Result<RbacPolicy> {
        let owner = self
            .object_owner(caller, &req.object_type, &req.object_id)
            .await?;
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        self.authorize(caller, Rule::CreateRbacPolicy, &target(&owner, &[]))?;
        let actions: &[&str] = match req.object_type.as_str() {
            "network" => &["access_as_shared", "access_as_external"],
            _ => &["access_as_shared"],
        };
        if !actions.contains(&req.action.as_str()) {
            return Err(invalid(format_args!(
                "'{}' is not in {actions:?}",
                req.action
            )));
        }
        if req.action == "access_as_external" {
            self.authorize(caller, Rule::CreateRbacExternal, &target(&owner, &[]))?;
        }
        if req.target_tenant == "*" {
            self.authorize(caller, Rule::CreateRbacWildcard, &target(&owner, &[]))?;
        }
        if req.target_tenant.is_empty() || req.target_tenant.len() > 255 {
            return Err(invalid("target_tenant must be a project id or '*'"));
        }
        let ts = now();
        let p = RbacPolicy {
            id: RbacPolicyId::generate(),
            project_id: project,
            object_type: req.object_type,
            object_id: req.object_id,
            action: req.action,
            target_project: req.target_tenant,
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
        };
        let mut tx = self.db.begin_write().await?;
        if !store::insert_rbac(&mut tx, &p).await? {
            return Err(Error::conflict(format!(
                "An RBAC policy with {} {} to {} already exists.",
                p.object_type, p.action, p.target_project
            ))
            .with_code("DuplicateRbacPolicy"));
        }
        tx.commit().await?;
        self.changed();
        Ok(p)
    }

    pub async fn rbac_update(
        &self,
        caller: &Caller<'_>,
        id: &RbacPolicyId,
        req: RbacUpdate,
    ) -> Result<RbacPolicy> {
        let mut p = self.rbac_show(caller, id).await?;
        self.authorize(caller, Rule::UpdateRbacPolicy, &target(&p.project_id, &[]))?;
        if let Some(t) = req.target_tenant {
            self.check_withdraw(&p).await?;
            let mut conn = self.conn().await?;
            store::update_rbac_target(&mut conn, id, &t).await?;
            p.target_project = t;
            p.revision += 1;
        }
        self.changed();
        Ok(p)
    }

    /// A network grant in use by the grantee's ports stays.
    async fn check_withdraw(&self, p: &RbacPolicy) -> Result<()> {
        if p.object_type != "network" || p.action != "access_as_shared" {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let Some(net) = store::get_network(
            &mut conn,
            &p.object_id.parse().map_err(|_| not_found(p.id.as_str()))?,
        )
        .await?
        else {
            return Ok(());
        };
        let users = store::foreign_ports(&mut conn, &p.object_id, &net.project_id).await?;
        if users
            .iter()
            .any(|u| p.target_project == "*" || *u == p.target_project)
        {
            return Err(Error::conflict(format!(
                "RBAC policy on object {} cannot be removed because other objects depend on it.",
                p.object_id
            ))
            .with_code("RbacPolicyInUse"));
        }
        Ok(())
    }

    pub async fn rbac_delete(&self, caller: &Caller<'_>, id: &RbacPolicyId) -> Result<()> {
        let p = self.rbac_show(caller, id).await?;
        self.authorize(caller, Rule::DeleteRbacPolicy, &target(&p.project_id, &[]))?;
        self.check_withdraw(&p).await?;
        let mut conn = self.conn().await?;
        store::delete_rbac(&mut conn, id).await?;
        self.changed();
        Ok(())
    }
}

//! QoS policies with bandwidth-limit rules, applied to ports (directly or through their
//! network's policy) by the agent with tc on the port's tap.

use serde::Deserialize;
use serde_json::json;
use types::QosPolicyId;

use super::{check_revision, target, Caller, Networking};
use crate::{
    ipam::invalid,
    model::{now, BandwidthLimitRule, QosPolicy},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// `POST /v2.0/qos/policies`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QosCreate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub shared: Option<bool>,
    pub is_default: Option<bool>,
    pub project_id: Option<String>,
    pub tenant_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// `PUT /v2.0/qos/policies/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QosUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub shared: Option<bool>,
    pub is_default: Option<bool>,
}

/// A bandwidth-limit rule in a request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandwidthRuleRequest {
    pub max_kbps: Option<u64>,
    pub max_burst_kbps: Option<u64>,
    pub direction: Option<String>,
}

pub(super) fn not_found(id: &str) -> Error {
    Error::not_found(format!("QoS policy {id} could not be found.")).with_code("QosPolicyNotFound")
}

fn rule_not_found(id: &str, policy: &QosPolicyId) -> Error {
    Error::not_found(format!(
        "QoS rule {id} for policy {policy} could not be found."
    ))
    .with_code("QosRuleNotFound")
}

fn direction(d: Option<String>) -> Result<String> {
    match d.as_deref() {
        None | Some("egress") => Ok("egress".into()),
        Some("ingress") => Ok("ingress".into()),
        Some(other) => Err(invalid(format_args!(
            "'{other}' is not in ['egress', 'ingress']"
        ))),
    }
}

impl Networking {
    /// A policy the caller may see: its own, shared, or shared with it by RBAC.
    pub(super) async fn visible_qos(
        &self,
        caller: &Caller<'_>,
        id: &QosPolicyId,
    ) -> Result<QosPolicy> {
        let mut conn = self.conn().await?;
        let p = store::get_qos(&mut conn, id)
            .await?
            .ok_or_else(|| not_found(id.as_str()))?;
        drop(conn);
        let shared = p.shared
            || self
                .granted(caller, "qos_policy", p.id.as_str(), "access_as_shared")
                .await?;
        if !self.allowed(
            caller,
            Rule::GetQosPolicy,
            &target(&p.project_id, &[("shared", json!(shared))]),
        ) {
            return Err(not_found(id.as_str()));
        }
        Ok(p)
    }

    pub async fn qos_show(&self, caller: &Caller<'_>, id: &QosPolicyId) -> Result<QosPolicy> {
        self.visible_qos(caller, id).await
    }

    pub async fn qos_list(&self, caller: &Caller<'_>) -> Result<Vec<QosPolicy>> {
        let mut conn = self.conn().await?;
        let all = store::list_qos(&mut conn).await?;
        drop(conn);
        let mut out = Vec::new();
        for p in all {
            let shared = p.shared
                || self
                    .granted(caller, "qos_policy", p.id.as_str(), "access_as_shared")
                    .await?;
            if self.allowed(
                caller,
                Rule::GetQosPolicy,
                &target(&p.project_id, &[("shared", json!(shared))]),
            ) {
                out.push(p);
            }
        }
        Ok(out)
    }

    pub async fn qos_create(&self, caller: &Caller<'_>, req: QosCreate) -> Result<QosPolicy> {
        let project = caller.owner(req.project_id.as_deref().or(req.tenant_id.as_deref()))?;
        self.authorize(caller, Rule::CreateQosPolicy, &target(&project, &[]))?;
        let ts = now();
        let p = QosPolicy {
            id: QosPolicyId::generate(),
            project_id: project,
            name: req.name.unwrap_or_default(),
            description: req.description.unwrap_or_default(),
            shared: req.shared.unwrap_or(false),
            is_default: req.is_default.unwrap_or(false),
            rules: Vec::new(),
            revision: 1,
            created_at: ts.clone(),
            updated_at: ts,
            tags: req.tags.unwrap_or_default(),
        };
        let mut tx = self.db.begin_write().await?;
        store::insert_qos(&mut tx, &p).await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn qos_update(
        &self,
        caller: &Caller<'_>,
        id: &QosPolicyId,
        req: QosUpdate,
        if_match: Option<i64>,
    ) -> Result<QosPolicy> {
        let mut p = self.visible_qos(caller, id).await?;
        check_revision(if_match, p.revision)?;
        self.authorize(caller, Rule::UpdateQosPolicy, &target(&p.project_id, &[]))?;
        let revision = p.revision;
        if let Some(v) = req.name {
            p.name = v;
        }
        if let Some(v) = req.description {
            p.description = v;
        }
        if let Some(v) = req.shared {
            p.shared = v;
        }
        if let Some(v) = req.is_default {
            p.is_default = v;
        }
        p.updated_at = now();
        let mut conn = self.conn().await?;
        if !store::update_qos(&mut conn, &p, revision).await? {
            return Err(super::revision_mismatch());
        }
        p.revision = revision + 1;
        Ok(p)
    }

    pub async fn qos_delete(&self, caller: &Caller<'_>, id: &QosPolicyId) -> Result<()> {
        let p = self.visible_qos(caller, id).await?;
        self.authorize(caller, Rule::DeleteQosPolicy, &target(&p.project_id, &[]))?;
        let mut tx = self.db.begin_write().await?;
        if store::qos_users(&mut tx, id).await? > 0 {
            return Err(
                Error::conflict(format!("QoS Policy {id} is used by ports or networks."))
                    .with_code("QosPolicyInUse"),
            );
        }
        store::delete_qos(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn qos_rule_create(
        &self,
        caller: &Caller<'_>,
        policy: &QosPolicyId,
        req: BandwidthRuleRequest,
    ) -> Result<BandwidthLimitRule> {
        let p = self.visible_qos(caller, policy).await?;
        self.authorize(caller, Rule::CreateQosRule, &target(&p.project_id, &[]))?;
        let Some(max_kbps) = req.max_kbps else {
            return Err(invalid("max_kbps is required"));
        };
        let rule = BandwidthLimitRule {
            id: uuid::Uuid::new_v4().to_string(),
            policy_id: p.id.clone(),
            max_kbps,
            max_burst_kbps: req.max_burst_kbps.unwrap_or(0),
            direction: direction(req.direction)?,
        };
        let mut tx = self.db.begin_write().await?;
        if !store::insert_qos_rule(&mut tx, &rule).await? {
            return Err(Error::conflict(format!(
                "A bandwidth_limit rule of direction {} already exists in policy {}.",
                rule.direction, p.id
            ))
            .with_code("QoSRulesConflict"));
        }
        store::touch(&mut tx, "qos_policies", p.id.as_str()).await?;
        tx.commit().await?;
        self.changed();
        Ok(rule)
    }

    pub async fn qos_rule_show(
        &self,
        caller: &Caller<'_>,
        policy: &QosPolicyId,
        id: &str,
    ) -> Result<BandwidthLimitRule> {
        let p = self.visible_qos(caller, policy).await?;
        p.rules
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| rule_not_found(id, policy))
    }

    pub async fn qos_rule_update(
        &self,
        caller: &Caller<'_>,
        policy: &QosPolicyId,
        id: &str,
        req: BandwidthRuleRequest,
    ) -> Result<BandwidthLimitRule> {
        let mut rule = self.qos_rule_show(caller, policy, id).await?;
        let p = self.visible_qos(caller, policy).await?;
        self.authorize(caller, Rule::CreateQosRule, &target(&p.project_id, &[]))?;
        if let Some(v) = req.max_kbps {
            rule.max_kbps = v;
        }
        if let Some(v) = req.max_burst_kbps {
            rule.max_burst_kbps = v;
        }
        if req.direction.is_some() {
            rule.direction = direction(req.direction)?;
        }
        let mut tx = self.db.begin_write().await?;
        store::update_qos_rule(&mut tx, &rule).await?;
        store::touch(&mut tx, "qos_policies", p.id.as_str()).await?;
        tx.commit().await?;
        self.changed();
        Ok(rule)
    }

    pub async fn qos_rule_delete(
        &self,
        caller: &Caller<'_>,
        policy: &QosPolicyId,
        id: &str,
    ) -> Result<()> {
        let p = self.visible_qos(caller, policy).await?;
        self.authorize(caller, Rule::CreateQosRule, &target(&p.project_id, &[]))?;
        let mut tx = self.db.begin_write().await?;
        if !store::delete_qos_rule(&mut tx, policy, id).await? {
            return Err(rule_not_found(id, policy));
        }
        store::touch(&mut tx, "qos_policies", p.id.as_str()).await?;
        tx.commit().await?;
        self.changed();
        Ok(())
    }

    /// Each network's QoS policy (what its ports inherit), by network id.
    pub async fn network_qos_policies(
        &self,
    ) -> Result<std::collections::HashMap<String, Option<QosPolicyId>>> {
        let mut conn = self.conn().await?;
        Ok(store::list_networks(&mut conn, None)
            .await?
            .into_iter()
            .map(|n| (n.id.to_string(), n.qos_policy_id))
            .collect())
    }

    /// A policy a port or network of `project` may use (`None` clears it).
    pub(super) async fn usable_qos(
        &self,
        caller: &Caller<'_>,
        id: Option<&str>,
    ) -> Result<Option<QosPolicyId>> {
        let Some(id) = id else { return Ok(None) };
        let id: QosPolicyId = id.parse().map_err(|_| not_found(id))?;
        self.visible_qos(caller, &id).await?;
        Ok(Some(id))
    }
}

//! The agents of the hosts: their heartbeats (`/v2.0/agents`), and the ports they
//! report wired.

use serde_json::Value;
use types::PortId;

use super::{target, Caller, Networking};
use crate::{
    model::{now, Agent},
    policies::Rule,
    store,
};
use api_common::{Error, Result};

/// What an agent tells the service at each heartbeat.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AgentReport {
    pub host: String,
    /// `Linux bridge agent`, as Neutron names its agent types.
    pub agent_type: String,
    pub binary: String,
    /// When this agent process started.
    pub started_at: String,
    pub availability_zone: String,
    /// The agent's settings (`tunnel_ip`, `bridge_mappings`, `devices`).
    pub configurations: Value,
}

fn agent_not_found(id: &str) -> Error {
    Error::not_found(format!("Agent {id} could not be found.")).with_code("AgentNotFound")
}

/// The settings of an agent that other hosts' plans depend on (not, e.g., its
/// device count, which changes with every port).
fn plan_settings(c: &Value) -> [&Value; 3] {
    [&c["tunnel_ip"], &c["bridge_mappings"], &c["dhcp"]]
}

impl Networking {
    fn down_after(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.cfg.agent_down_time).unwrap_or(75))
    }

    /// Record a heartbeat. An agent that appears, comes back after it was down, or
    /// reports other settings that the plans are made from changes other hosts' plans
    /// (VXLAN peers and forwarding entries, where DHCP runs), so the agents are told.
    pub async fn agent_heartbeat(&self, r: &AgentReport) -> Result<()> {
        let ts = now();
        let a = Agent {
            // Kept from the first heartbeat: the upsert never changes an agent's id.
            id: uuid::Uuid::new_v4().to_string(),
            host: r.host.clone(),
            agent_type: r.agent_type.clone(),
            binary: r.binary.clone(),
            topic: "N/A".into(),
            admin_state_up: true,
            availability_zone: r.availability_zone.clone(),
            configurations: r.configurations.clone(),
            description: String::new(),
            started_at: r.started_at.clone(),
            heartbeat_at: ts.clone(),
            created_at: ts,
            alive: true,
        };
        let mut conn = self.conn().await?;
        let before =
            store::find_agent(&mut conn, &r.host, &r.agent_type, self.down_after()).await?;
        store::heartbeat(&mut conn, &a).await?;
        let news = before.is_none_or(|b| {
            !b.alive || plan_settings(&b.configurations) != plan_settings(&r.configurations)
        });
        if news {
            self.changed();
        }
        Ok(())
    }

    /// Every agent, alive or not (for the plan builder; no policy).
    pub(crate) async fn agents(&self) -> Result<Vec<Agent>> {
        let mut conn = self.conn().await?;
        store::list_agents(&mut conn, self.down_after()).await
    }

    /// Ports the agent of `host` has wired: ACTIVE (and those it could not: DOWN).
    /// Only ports bound to that host change: a stale report of a host a port has left
    /// does not touch it.
    pub async fn ports_wired_on(&self, host: &str, up: &[PortId], down: &[PortId]) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let n = store::set_port_status_on(&mut tx, host, up, "ACTIVE").await?
            + store::set_port_status_on(&mut tx, host, down, "DOWN").await?;
        tx.commit().await?;
        if n > 0 {
            tracing::debug!(host, changed = n, "port status from the agent");
        }
        Ok(())
    }

    pub async fn agent_list(&self, caller: &Caller<'_>) -> Result<Vec<Agent>> {
        self.authorize(caller, Rule::GetAgent, &target(caller.project(), &[]))?;
        self.agents().await
    }

    pub async fn agent_show(&self, caller: &Caller<'_>, id: &str) -> Result<Agent> {
        self.agent_list(caller)
            .await
            .map_err(|_| agent_not_found(id))?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| agent_not_found(id))
    }

    pub async fn agent_update(
        &self,
        caller: &Caller<'_>,
        id: &str,
        admin_state_up: Option<bool>,
        description: Option<String>,
    ) -> Result<Agent> {
        let a = self.agent_show(caller, id).await?;
        self.authorize(caller, Rule::UpdateAgent, &target(caller.project(), &[]))?;
        let mut conn = self.conn().await?;
        store::update_agent(
            &mut conn,
            id,
            admin_state_up.unwrap_or(a.admin_state_up),
            &description.unwrap_or(a.description),
        )
        .await?;
        drop(conn);
        self.agent_show(caller, id).await
    }

    pub async fn agent_delete(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        self.agent_show(caller, id).await?;
        self.authorize(caller, Rule::DeleteAgent, &target(caller.project(), &[]))?;
        let mut conn = self.conn().await?;
        if !store::delete_agent(&mut conn, id).await? {
            return Err(agent_not_found(id));
        }
        Ok(())
    }

    pub fn availability_zones_allowed(&self, caller: &Caller<'_>) -> bool {
        self.allowed(
            caller,
            Rule::GetAvailabilityZone,
            &target(caller.project(), &[]),
        )
    }
}

//! The Linux dataplane a network agent drives.
//!
//! The agent turns API objects into a [`plan::HostPlan`], the desired state of its host,
//! and calls [`Dataplane::apply`]. Apply reconciles: it reads what exists, changes only
//! what differs and removes what it owns that the plan no longer names, so applying the
//! same plan twice changes nothing, and ports that are right are never touched.
//!
//! Two implementations: [`linux::Linux`] (netlink, nftables, dnsmasq, tc) and
//! [`fake::Fake`] (records plans, for API tests).

pub mod error;
pub mod fake;
pub mod linux;
pub mod names;
pub mod plan;

pub use error::Error;

/// What one apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// What was changed, readable: "created bridge brq6f2c1c33-0b", ... Empty when the
    /// host already matched the plan.
    pub changes: Vec<String>,
    /// The ids of the ports whose device exists and is fully wired (plugged, up,
    /// filtered and shaped as planned): the agent may set them ACTIVE.
    pub wired: Vec<String>,
}

/// Makes a host match a plan.
#[async_trait::async_trait]
pub trait Dataplane: Send + Sync {
    /// Reconcile the host with `plan` (see the crate docs).
    async fn apply(&self, plan: &plan::HostPlan) -> Result<Applied, Error>;

    /// Remove everything this dataplane owns: its bridges, VXLAN and DHCP devices, DHCP
    /// namespaces, dnsmasq processes and nftables tables. Errors are logged, not
    /// returned: teardown goes on with the rest.
    async fn teardown_all(&self);
}

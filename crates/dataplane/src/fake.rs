//! A dataplane that changes nothing: it records the plans it is given and reports every
//! port wired, so API and agent tests run without root.

use std::sync::Mutex;

use crate::{plan::HostPlan, Applied, Dataplane, Error};

/// Records every plan applied; [`Fake::last`] is the host's "current state".
#[derive(Debug, Default)]
pub struct Fake {
    applied: Mutex<Vec<HostPlan>>,
}

impl Fake {
    /// Every plan applied so far, oldest first (a teardown records an empty plan).
    pub fn plans(&self) -> Vec<HostPlan> {
        self.lock().clone()
    }

    /// The last plan applied, if any.
    pub fn last(&self) -> Option<HostPlan> {
        self.lock().last().cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<HostPlan>> {
        // a panic while holding this lock leaves the Vec intact: keep using it
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl Dataplane for Fake {
    async fn apply(&self, plan: &HostPlan) -> Result<Applied, Error> {
        let mut applied = self.lock();
        let changes = if applied.last() == Some(plan) {
            Vec::new()
        } else {
            vec!["recorded plan".to_owned()]
        };
        applied.push(plan.clone());
        Ok(Applied {
            changes,
            wired: plan.ports.iter().map(|p| p.id.clone()).collect(),
        })
    }

    async fn teardown_all(&self) {
        self.lock().push(HostPlan::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{NetworkKind, NetworkPlan, PortPlan};

    #[tokio::test]
    async fn the_last_plan_is_recorded() {
        let fake = Fake::default();
        fake.apply(&HostPlan::default()).await.unwrap();
        fake.teardown_all().await;
        assert_eq!(fake.last(), Some(HostPlan::default()));
        assert_eq!(fake.plans().len(), 2);
    }

    #[tokio::test]
    async fn records_plans_and_wires_every_port() {
        // the agent holds either implementation as a trait object
        let fake: Box<dyn Dataplane> = Box::new(Fake::default());
        let plan = HostPlan {
            networks: vec![NetworkPlan {
                id: "net".into(),
                kind: NetworkKind::Local,
                mtu: 1500,
                dhcp: None,
                host_address: None,
            }],
            ports: vec![PortPlan {
                id: "p1".into(),
                network_id: "net".into(),
                device: "tapp1".into(),
                mac: "fa:16:3e:00:00:01".into(),
                ips: vec![],
                security: None,
                qos: None,
            }],
            ..Default::default()
        };
        let first = fake.apply(&plan).await.unwrap();
        assert_eq!(first.wired, vec!["p1".to_owned()]);
        assert!(!first.changes.is_empty());
        assert!(fake.apply(&plan).await.unwrap().changes.is_empty());
        fake.teardown_all().await;
        // the plan travels over the bus as JSON
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<HostPlan>(&json).unwrap(), plan);
    }
}

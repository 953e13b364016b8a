//! The scheduler (the `scheduler` topic, [`crate::rpc::Scheduler`]), as Nova's filter
//! scheduler: ask Placement for allocation candidates for the flavor's resources (and
//! the traits its extra specs and the image require), keep the hosts the filters pass,
//! order them by the weighers, and claim on the best (`PUT /allocations/{consumer}`
//! with the consumer's generation; a conflict moves on to the next). The answer is the
//! claimed host and up to `alternates` others, for the conductor to retry a failed
//! build on.

pub mod filters;

use std::{collections::BTreeMap, sync::Arc};

use api_common::{Error, Result};
use async_trait::async_trait;
use bus::{RemoteError, Server};

use crate::{
    clients::placement::{CandidateQuery, Claim, Consumer, Placement, Resources},
    rpc::{RequestSpec, Scheduler, SchedulerReply, SchedulerRequest, Selection, NO_VALID_HOST},
};
pub use filters::HostState;

/// How many candidates Placement is asked for (Nova's `max_placement_results`).
pub const MAX_CANDIDATES: u32 = 1000;

/// Where the scheduler learns about hosts (the database, through the service).
#[async_trait]
pub trait Hosts: Send + Sync {
    /// The hosts whose compute nodes have these provider uuids (summaries left empty);
    /// providers that are no known compute node are left out.
    async fn hosts(&self, node_uuids: &[String]) -> Result<Vec<HostState>>;
}

/// The resources a flavor asks of Placement, with its `resources:` overrides.
pub fn resources(spec: &RequestSpec) -> Resources {
    let f = &spec.flavor;
    let mut r: Resources = [
        ("VCPU".to_owned(), u64::from(f.vcpus)),
        ("MEMORY_MB".to_owned(), f.memory_mb),
        (
            "DISK_GB".to_owned(),
            f.root_gb + f.ephemeral_gb + f.swap_mb.div_ceil(1024),
        ),
    ]
    .into();
    for (k, v) in &f.extra_specs {
        if let Some(class) = k.strip_prefix("resources:") {
            if let Ok(n) = v.trim().parse::<u64>() {
                r.insert(class.to_owned(), n);
            }
        }
    }
    r.retain(|_, n| *n > 0);
    r
}

/// The query for the request: resources, and `trait:X=required|forbidden` from the
/// flavor's extra specs and the image's properties.
pub fn candidate_query(spec: &RequestSpec) -> CandidateQuery {
    let mut q = CandidateQuery {
        resources: resources(spec),
        limit: Some(MAX_CANDIDATES),
        ..Default::default()
    };
    let traits = spec
        .flavor
        .extra_specs
        .iter()
        .chain(spec.image_properties.iter());
    for (k, v) in traits {
        if let Some(t) = k.strip_prefix("trait:") {
            match v.trim() {
                "required" if !q.required.iter().any(|x| x == t) => q.required.push(t.to_owned()),
                "forbidden" if !q.forbidden.iter().any(|x| x == t) => {
                    q.forbidden.push(t.to_owned())
                }
                _ => {}
            }
        }
    }
    q
}

fn no_valid_host(why: &str) -> Error {
    Error::conflict(format!("No valid host was found. {why}")).with_code(NO_VALID_HOST)
}

/// The scheduler.
pub struct SchedulerService {
    pub placement: Placement,
    pub hosts: Arc<dyn Hosts>,
}

impl SchedulerService {
    /// Choose and claim (see the module docs).
    pub async fn select(&self, spec: &RequestSpec) -> Result<Vec<Selection>> {
        let consumer = Consumer {
            id: spec.consumer_id.clone(),
            project_id: spec.project_id.clone(),
            user_id: spec.user_id.clone(),
        };
        let wanted = resources(spec);
        let existing = self.placement.allocations(&consumer.id).await?;
        let candidates = self
            .placement
            .allocation_candidates(&candidate_query(spec))
            .await?;
        let roots: BTreeMap<String, Resources> = candidates
            .requests
            .iter()
            .filter_map(|r| {
                let root = r.root(&candidates.summaries)?.to_owned();
                let res = r.allocations.get(&root).cloned().unwrap_or_default();
                Some((root, res))
            })
            .collect();
        let uuids: Vec<String> = roots.keys().cloned().collect();
        let mut known = self.hosts.hosts(&uuids).await?;
        // a consumer already holding what it asks for (this claim, made before a
        // crash) keeps its host: the first candidate, whatever the weighers say
        let held: Option<String> = existing
            .allocations
            .iter()
            .find(|(_, r)| **r == wanted)
            .map(|(rp, _)| rp.clone());
        for h in &mut known {
            if let Some(s) = candidates.summaries.get(&h.node_uuid) {
                h.summary = s.clone();
            }
        }
        let total = known.len();
        let mut passed = Vec::new();
        for h in known {
            match filters::filter(&h, spec) {
                None => passed.push(h),
                Some(why) => tracing::debug!(host = %h.host, filter = why, "host filtered out"),
            }
        }
        if passed.is_empty() {
            return Err(no_valid_host(&format!(
                "There are not enough hosts available. ({total} offered by placement, none passed the filters)"
            )));
        }
        let mut ordered = filters::weigh(passed, spec);
        if let Some(rp) = &held {
            if let Some(i) = ordered.iter().position(|h| h.node_uuid == *rp) {
                let h = ordered.remove(i);
                ordered.insert(0, h);
            }
        }
        let allocations_on = |h: &HostState| -> BTreeMap<String, Resources> {
            [(
                h.node_uuid.clone(),
                roots.get(&h.node_uuid).cloned().unwrap_or_default(),
            )]
            .into()
        };
        let mut chosen: Option<usize> = None;
        for (i, h) in ordered.iter().enumerate() {
            let alloc = allocations_on(h);
            if held.as_deref() == Some(h.node_uuid.as_str()) {
                chosen = Some(i);
                break;
            }
            // the consumer as read above: a refused claim leaves it as it was (a
            // changed consumer makes the compare-and-set fail and is read again)
            match self
                .placement
                .ensure_allocations_from(&consumer, &alloc, Some(existing.clone()))
                .await?
            {
                Claim::Claimed => {
                    chosen = Some(i);
                    break;
                }
                Claim::Conflict(why) => {
                    tracing::debug!(host = %h.host, "claim refused, trying the next host: {why}");
                }
            }
        }
        let Some(i) = chosen else {
            return Err(no_valid_host("There are not enough hosts available."));
        };
        let to_selection = |h: &HostState| Selection {
            host: h.host.clone(),
            node: h.node.clone(),
            node_uuid: h.node_uuid.clone(),
            allocations: allocations_on(h),
        };
        let mut out = vec![to_selection(&ordered[i])];
        out.extend(
            ordered
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .take(spec.alternates as usize)
                .map(|(_, h)| to_selection(h)),
        );
        Ok(out)
    }
}

fn remote(e: Error) -> RemoteError {
    let kind = e
        .code
        .map_or_else(|| format!("{:?}", e.kind), str::to_owned);
    RemoteError::new(kind, e.message)
}

/// Listen on `scheduler` (before the service reports itself started).
pub async fn listen(bus: &dyn bus::Transport) -> Result<Server<Scheduler>, bus::BusError> {
    Server::<Scheduler>::listen(bus, None).await
}

/// Serve the scheduler's topic until `shutdown`.
pub async fn serve(
    server: Server<Scheduler>,
    svc: Arc<SchedulerService>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let handler = move |req: SchedulerRequest| {
        let svc = svc.clone();
        async move {
            match req {
                SchedulerRequest::Select(spec) => svc
                    .select(&spec)
                    .await
                    .map(SchedulerReply::Selected)
                    .map_err(remote),
            }
        }
    };
    server.run(handler, shutdown.cancelled_owned()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::FlavorSpec;

    #[test]
    fn flavors_ask_for_resources_and_traits() {
        let spec = RequestSpec {
            flavor: FlavorSpec {
                vcpus: 2,
                memory_mb: 2048,
                root_gb: 20,
                ephemeral_gb: 5,
                swap_mb: 512,
                extra_specs: [
                    ("trait:HW_CPU_X86_AVX2".to_owned(), "required".to_owned()),
                    (
                        "trait:COMPUTE_STATUS_DISABLED".to_owned(),
                        "forbidden".to_owned(),
                    ),
                    ("resources:VCPU".to_owned(), "1".to_owned()),
                    ("hw:cpu_policy".to_owned(), "shared".to_owned()),
                ]
                .into(),
                ..Default::default()
            },
            image_properties: [(
                "trait:COMPUTE_NET_VIF_MODEL_VIRTIO".to_owned(),
                "required".to_owned(),
            )]
            .into(),
            ..Default::default()
        };
        let q = candidate_query(&spec);
        assert_eq!(
            q.resources,
            [
                ("VCPU".into(), 1),
                ("MEMORY_MB".into(), 2048),
                ("DISK_GB".into(), 26)
            ]
            .into()
        );
        assert_eq!(
            q.required,
            ["HW_CPU_X86_AVX2", "COMPUTE_NET_VIF_MODEL_VIRTIO"]
        );
        assert_eq!(q.forbidden, ["COMPUTE_STATUS_DISABLED"]);
    }
}

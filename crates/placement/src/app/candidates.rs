//! `GET /allocation_candidates`: the request checked, the snapshot read, the search
//! run ([`crate::candidates`]), and the provider summaries of what was found.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use api_common::{AuthContext, Error, Result};

use super::Placement;
use crate::{
    candidates::{self, Group, GroupPolicy},
    model::*,
    policies::Rule,
};

/// The query, parsed.
#[derive(Debug, Clone, Default)]
pub struct CandidateQuery {
    pub groups: Vec<Group>,
    pub group_policy: GroupPolicy,
    pub root_required: TraitFilter,
    pub limit: Option<usize>,
    /// 1.27: summaries show every class, not only the requested ones.
    pub all_classes: bool,
    /// 1.29: summaries show every provider of a candidate's tree.
    pub whole_trees: bool,
}

/// One provider of the summaries.
#[derive(Debug, Clone)]
pub struct Summary {
    pub uuid: ProviderId,
    pub parent: Option<ProviderId>,
    pub root: ProviderId,
    /// Capacity and usage by class.
    pub resources: BTreeMap<String, (i64, i64)>,
    pub traits: Vec<String>,
}

/// One allocation request: resources by provider, and the providers of each group (by
/// suffix).
pub type Found = (
    BTreeMap<ProviderId, Resources>,
    BTreeMap<String, Vec<ProviderId>>,
);

/// What the search found.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// Each: resources by provider, and which providers served each group (by suffix).
    pub requests: Vec<Found>,
    pub summaries: Vec<Summary>,
}

impl Placement {
    pub async fn allocation_candidates(
        &self,
        ctx: &AuthContext,
        q: CandidateQuery,
    ) -> Result<Candidates> {
        self.authorize(ctx, Rule::AllocationCandidateList)?;
        let world = self.world(&mut *self.conn().await?).await?;
        for g in &q.groups {
            if let Some(rc) = g.resources.keys().find(|rc| !world.class_exists(rc)) {
                return Err(Error::bad_request(format!(
                    "Invalid resource class in resources parameter: No such resource class {rc}."
                )));
            }
            world.check_traits(g.required.names())?;
        }
        world.check_traits(q.root_required.names())?;
        // a group's in_tree limits the search to that provider's tree (none when it does
        // not exist), which the search checks
        let snap = &world.snap;
        let found = candidates::search(
            snap,
            &candidates::Request {
                groups: q.groups.clone(),
                group_policy: q.group_policy,
                root_required: q.root_required.clone(),
                max: self.cfg.max_allocation_candidates,
            },
        );
        let kept: Vec<_> = match q.limit {
            Some(l) => found.into_iter().take(l).collect(),
            None => found,
        };
        let requested: HashSet<&String> =
            q.groups.iter().flat_map(|g| g.resources.keys()).collect();
        let mut in_requests: BTreeSet<usize> = BTreeSet::new();
        let mut trees: HashSet<&ProviderId> = HashSet::new();
        for c in &kept {
            for &i in c.allocations.keys() {
                in_requests.insert(i);
                trees.insert(&snap.nodes[i].root);
            }
        }
        let summaries = snap
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| in_requests.contains(i) || (q.whole_trees && trees.contains(&n.root)))
            .map(|(_, n)| {
                let mut traits: Vec<String> = n.traits.iter().cloned().collect();
                traits.sort();
                Summary {
                    uuid: n.uuid.clone(),
                    parent: n.parent.clone(),
                    root: n.root.clone(),
                    resources: n
                        .inventory
                        .iter()
                        .filter(|(rc, _)| q.all_classes || requested.contains(rc))
                        .map(|(rc, (inv, used))| (rc.clone(), (inv.capacity(), *used)))
                        .collect(),
                    traits,
                }
            })
            .collect();
        let requests = kept
            .into_iter()
            .map(|c| {
                let allocations = c
                    .allocations
                    .into_iter()
                    .map(|(i, r)| (snap.nodes[i].uuid.clone(), r))
                    .collect();
                let mappings = c
                    .mappings
                    .into_iter()
                    .map(|(s, ps)| {
                        (
                            s,
                            ps.into_iter().map(|i| snap.nodes[i].uuid.clone()).collect(),
                        )
                    })
                    .collect();
                (allocations, mappings)
            })
            .collect();
        Ok(Candidates {
            requests,
            summaries,
        })
    }
}

//! The search of allocation candidates: which providers (trees of them) can satisfy a
//! request's groups of resources, traits and aggregates. Pure: it works on a
//! [`Snapshot`] of the providers' inventories, usages, traits and aggregates, read in
//! one go by the app layer.
//!
//! As placement: the unsuffixed group's resource classes may each come from any provider
//! of one tree, and its required/forbidden traits hold for the union of the providers it
//! uses; each suffixed group comes from a single provider that has its traits; every
//! group of one candidate is in one tree; `group_policy=isolate` keeps suffixed groups on
//! different providers. A provider is in an aggregate when it or its root is.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::model::{AggregateFilter, Inventory, ProviderId, Resources, TraitFilter};

/// One way to serve a group: (class, provider index, amount) for each of its classes.
type Choice = Vec<(String, usize, i64)>;

/// One provider of a snapshot.
#[derive(Debug, Clone)]
pub struct Node {
    pub uuid: ProviderId,
    pub parent: Option<ProviderId>,
    pub root: ProviderId,
    pub generation: i64,
    /// Inventory and current usage by class.
    pub inventory: BTreeMap<String, (Inventory, i64)>,
    pub traits: HashSet<String>,
    pub aggregates: HashSet<String>,
}

/// Every provider the search may use.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nodes: Vec<Node>,
}

/// One request group: `resources[S]`, `required[S]`, `member_of[S]`, `in_tree[S]`.
#[derive(Debug, Clone, Default)]
pub struct Group {
    /// `""` for the unsuffixed group.
    pub suffix: String,
    pub resources: Resources,
    pub required: TraitFilter,
    pub member_of: AggregateFilter,
    pub in_tree: Option<ProviderId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupPolicy {
    #[default]
    None,
    Isolate,
}

/// The whole query.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub groups: Vec<Group>,
    pub group_policy: GroupPolicy,
    /// 1.35 `root_required`: traits of the root of every candidate's tree.
    pub root_required: TraitFilter,
    /// Stop after this many candidates.
    pub max: usize,
}

/// One candidate: resources by provider (indices into the snapshot), and which providers
/// served each group.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub allocations: BTreeMap<usize, Resources>,
    pub mappings: BTreeMap<String, Vec<usize>>,
}

impl Snapshot {
    fn free(&self, i: usize, rc: &str) -> Option<(Inventory, i64)> {
        self.nodes[i].inventory.get(rc).copied()
    }

    fn fits(&self, i: usize, rc: &str, amount: i64, already: i64) -> bool {
        match self.free(i, rc) {
            Some((inv, used)) => inv.unit_ok(amount) && used + already + amount <= inv.capacity(),
            None => false,
        }
    }

    fn in_aggregates(&self, i: usize, root: Option<usize>, f: &AggregateFilter) -> bool {
        f.matches(|a| {
            self.nodes[i].aggregates.contains(a)
                || root.is_some_and(|r| self.nodes[r].aggregates.contains(a))
        })
    }
}

/// Every candidate of `req` over `snap`, trees in snapshot order.
pub fn search(snap: &Snapshot, req: &Request) -> Vec<Candidate> {
    let mut trees: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut tree_of: HashMap<&ProviderId, usize> = HashMap::new();
    let index: HashMap<&ProviderId, usize> = snap
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (&n.uuid, i))
        .collect();
    for (i, n) in snap.nodes.iter().enumerate() {
        let t = *tree_of.entry(&n.root).or_insert_with(|| {
            trees.push((index.get(&n.root).copied().unwrap_or(i), Vec::new()));
            trees.len() - 1
        });
        trees[t].1.push(i);
    }
    let mut out = Vec::new();
    for (root, members) in &trees {
        if out.len() >= req.max {
            break;
        }
        if !req
            .root_required
            .matches(|t| snap.nodes[*root].traits.contains(t))
        {
            continue;
        }
        let in_tree_ok = req.groups.iter().all(|g| {
            g.in_tree.as_ref().is_none_or(|p| {
                index
                    .get(p)
                    .is_some_and(|&i| snap.nodes[i].root == snap.nodes[*root].uuid)
            })
        });
        if !in_tree_ok {
            continue;
        }
        tree_candidates(snap, req, *root, members, &mut out);
    }
    out
}

/// The options of one group within a tree: for each, the provider of each class.
fn group_options(snap: &Snapshot, g: &Group, root: usize, members: &[usize]) -> Vec<Choice> {
    let eligible = |i: usize| snap.in_aggregates(i, Some(root), &g.member_of);
    if g.suffix.is_empty() {
        // each class from any provider of the tree
        let mut per_rc: Vec<Choice> = Vec::new();
        for (rc, &amount) in &g.resources {
            let ps: Vec<_> = members
                .iter()
                .copied()
                .filter(|&i| eligible(i) && snap.fits(i, rc, amount, 0))
                .map(|i| (rc.clone(), i, amount))
                .collect();
            if ps.is_empty() {
                return Vec::new();
            }
            per_rc.push(ps);
        }
        let mut combos: Vec<Choice> = vec![Vec::new()];
        for choices in per_rc {
            let mut next = Vec::with_capacity(combos.len() * choices.len());
            for c in &combos {
                for ch in &choices {
                    let mut v = c.clone();
                    v.push(ch.clone());
                    next.push(v);
                }
            }
            combos = next;
        }
        combos
            .into_iter()
            .filter(|combo| {
                let used: HashSet<usize> = combo.iter().map(|(_, i, _)| *i).collect();
                g.required
                    .matches(|t| used.iter().any(|&i| snap.nodes[i].traits.contains(t)))
            })
            .collect()
    } else {
        members
            .iter()
            .copied()
            .filter(|&i| {
                eligible(i)
                    && g.required.matches(|t| snap.nodes[i].traits.contains(t))
                    && g.resources
                        .iter()
                        .all(|(rc, &amount)| snap.fits(i, rc, amount, 0))
            })
            .map(|i| {
                g.resources
                    .iter()
                    .map(|(rc, &a)| (rc.clone(), i, a))
                    .collect()
            })
            .collect()
    }
}

fn tree_candidates(
    snap: &Snapshot,
    req: &Request,
    root: usize,
    members: &[usize],
    out: &mut Vec<Candidate>,
) {
    let mut options = Vec::new();
    for g in &req.groups {
        let o = group_options(snap, g, root, members);
        if o.is_empty() {
            return;
        }
        options.push(o);
    }
    // depth-first over the groups' options
    let mut pick = vec![0usize; options.len()];
    let mut seen: HashSet<Vec<(usize, String, i64)>> = HashSet::new();
    loop {
        if out.len() >= req.max {
            return;
        }
        if let Some(c) = combine(snap, req, &options, &pick) {
            let key: Vec<(usize, String, i64)> = c
                .allocations
                .iter()
                .flat_map(|(p, rs)| rs.iter().map(move |(rc, a)| (*p, rc.clone(), *a)))
                .collect();
            if seen.insert(key) {
                out.push(c);
            }
        }
        // next combination
        let mut k = options.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            pick[k] += 1;
            if pick[k] < options[k].len() {
                break;
            }
            pick[k] = 0;
        }
    }
}

fn combine(
    snap: &Snapshot,
    req: &Request,
    options: &[Vec<Choice>],
    pick: &[usize],
) -> Option<Candidate> {
    let mut allocations: BTreeMap<usize, Resources> = BTreeMap::new();
    let mut mappings: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut isolated: HashSet<usize> = HashSet::new();
    for (g, (group, &p)) in req.groups.iter().zip(pick).enumerate() {
        let chosen = &options[g][p];
        let mut providers: Vec<usize> = chosen.iter().map(|(_, i, _)| *i).collect();
        providers.sort_unstable();
        providers.dedup();
        if req.group_policy == GroupPolicy::Isolate && !group.suffix.is_empty() {
            for i in &providers {
                if !isolated.insert(*i) {
                    return None;
                }
            }
        }
        for (rc, i, amount) in chosen {
            let already = allocations
                .get(i)
                .and_then(|r| r.get(rc))
                .copied()
                .unwrap_or(0);
            if already > 0 && !snap.fits(*i, rc, *amount, already) {
                return None;
            }
            *allocations
                .entry(*i)
                .or_default()
                .entry(rc.clone())
                .or_default() += amount;
        }
        mappings.insert(group.suffix.clone(), providers);
    }
    Some(Candidate {
        allocations,
        mappings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InventoryRequest;

    fn id(n: u8) -> ProviderId {
        format!("00000000-0000-0000-0000-0000000000{n:02}")
            .parse()
            .unwrap()
    }

    fn node(
        n: u8,
        parent: Option<u8>,
        root: u8,
        inv: &[(&str, i64, i64)],
        traits: &[&str],
    ) -> Node {
        Node {
            uuid: id(n),
            parent: parent.map(id),
            root: id(root),
            generation: 0,
            inventory: inv
                .iter()
                .map(|(rc, total, used)| {
                    let i = InventoryRequest {
                        total: *total,
                        ..Default::default()
                    }
                    .resolve();
                    (rc.to_string(), (i, *used))
                })
                .collect(),
            traits: traits.iter().map(|t| t.to_string()).collect(),
            aggregates: HashSet::new(),
        }
    }

    fn group(suffix: &str, res: &[(&str, i64)], required: &[&str]) -> Group {
        Group {
            suffix: suffix.into(),
            resources: res.iter().map(|(r, a)| (r.to_string(), *a)).collect(),
            required: TraitFilter {
                all_of_any: required.iter().map(|t| vec![t.to_string()]).collect(),
                forbidden: Vec::new(),
            },
            ..Default::default()
        }
    }

    fn check(snap: &Snapshot, req: Request, want: &[&[(usize, &str, i64)]]) {
        let got: Vec<Vec<(usize, String, i64)>> = search(snap, &req)
            .into_iter()
            .map(|c| {
                c.allocations
                    .into_iter()
                    .flat_map(|(p, rs)| rs.into_iter().map(move |(rc, a)| (p, rc, a)))
                    .collect()
            })
            .collect();
        let want: Vec<Vec<(usize, String, i64)>> = want
            .iter()
            .map(|c| {
                c.iter()
                    .map(|(p, rc, a)| (*p, rc.to_string(), *a))
                    .collect()
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn flat_and_nested() {
        // 0: a compute node with VCPU 4 (3 used) and memory; 1: one with VCPU 8;
        // 2: a root with disk only, 3: its child with VCPU and a trait.
        let snap = Snapshot {
            nodes: vec![
                node(0, None, 0, &[("VCPU", 4, 3), ("MEMORY_MB", 1024, 0)], &[]),
                node(
                    1,
                    None,
                    1,
                    &[("VCPU", 8, 0), ("MEMORY_MB", 2048, 0)],
                    &["HW_CPU_X86_AVX2"],
                ),
                node(2, None, 2, &[("DISK_GB", 100, 0)], &[]),
                node(3, Some(2), 2, &[("VCPU", 2, 0)], &["CUSTOM_X"]),
            ],
        };
        let req = |groups, policy| Request {
            groups,
            group_policy: policy,
            max: 100,
            ..Default::default()
        };
        check(
            &snap,
            req(vec![group("", &[("VCPU", 2)], &[])], GroupPolicy::None),
            &[&[(1, "VCPU", 2)], &[(3, "VCPU", 2)]],
        );
        check(
            &snap,
            req(
                vec![group(
                    "",
                    &[("VCPU", 1), ("MEMORY_MB", 512)],
                    &["HW_CPU_X86_AVX2"],
                )],
                GroupPolicy::None,
            ),
            &[&[(1, "MEMORY_MB", 512), (1, "VCPU", 1)]],
        );
        // the tree's union: disk from the root, VCPU from the child
        check(
            &snap,
            req(
                vec![group("", &[("VCPU", 1), ("DISK_GB", 10)], &["CUSTOM_X"])],
                GroupPolicy::None,
            ),
            &[&[(2, "DISK_GB", 10), (3, "VCPU", 1)]],
        );
        // two suffixed groups on one provider: only without isolation, and summed
        let two = || {
            vec![
                group("1", &[("VCPU", 4)], &[]),
                group("2", &[("VCPU", 4)], &[]),
            ]
        };
        check(&snap, req(two(), GroupPolicy::None), &[&[(1, "VCPU", 8)]]);
        check(&snap, req(two(), GroupPolicy::Isolate), &[]);
        let forbid = Group {
            required: TraitFilter {
                all_of_any: vec![],
                forbidden: vec!["HW_CPU_X86_AVX2".into()],
            },
            ..group("", &[("VCPU", 1)], &[])
        };
        check(
            &snap,
            req(vec![forbid], GroupPolicy::None),
            &[&[(0, "VCPU", 1)], &[(3, "VCPU", 1)]],
        );
    }
}

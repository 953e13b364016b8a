//! `GET /allocation_candidates`: the query of each microversion, and the answer written
//! straight from the app layer's [`Candidates`] (no intermediate JSON tree: a hundred
//! candidates and their summaries are some 40 kB).

use std::collections::BTreeMap;

use api_common::{microversion::Version, Ctx, Error, Result};
use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use serde::{ser::SerializeMap, Serialize, Serializer};

use super::{json_at, query, since, St};
use crate::{
    app::{CandidateQuery, Candidates, Found, Summary},
    candidates::{Group, GroupPolicy},
    model::*,
};

/// Split `resources1` into (`resources`, `1`) for the granular keys.
fn granular(key: &str, v: Version) -> Option<(&'static str, &str)> {
    for base in ["resources", "required", "member_of", "in_tree"] {
        if let Some(suffix) = key.strip_prefix(base) {
            if suffix.is_empty() {
                return Some((base, ""));
            }
            let ok = if v.at_least(1, 33) {
                suffix.len() <= 64
                    && suffix
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            } else {
                v.at_least(1, 25)
                    && !suffix.starts_with('0')
                    && suffix.bytes().all(|c| c.is_ascii_digit())
            };
            return ok.then_some((base, suffix));
        }
    }
    None
}

fn parse_candidates(q: &query::Query, v: Version) -> Result<CandidateQuery> {
    q.only(|k| match granular(k, v) {
        Some(("resources", _)) => true,
        Some(("required", _)) => v.at_least(1, 17),
        Some(("member_of", _)) => v.at_least(1, 21),
        Some(("in_tree", _)) => v.at_least(1, 31),
        _ => match k {
            "limit" => v.at_least(1, 16),
            "group_policy" => v.at_least(1, 25),
            "root_required" => v.at_least(1, 35),
            _ => false,
        },
    })?;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (k, _) in &q.0 {
        if let Some((_, suffix)) = granular(k, v) {
            groups.entry(suffix.to_owned()).or_insert_with(|| Group {
                suffix: suffix.to_owned(),
                ..Default::default()
            });
        }
    }
    for (suffix, g) in groups.iter_mut() {
        let key = |base: &str| format!("{base}{suffix}");
        if let Some(r) = q.one(&key("resources"))? {
            g.resources = query::resources(r)?;
        }
        let req: Vec<&str> = q.all(&key("required"));
        if req.len() > 1 && !v.at_least(1, 39) {
            q.one(&key("required"))?;
        }
        g.required = query::required(&req, v)?;
        let mo: Vec<&str> = q.all(&key("member_of"));
        g.member_of = query::member_of(&mo, v)?;
        g.in_tree = q.uuid(&key("in_tree"))?;
        if g.resources.is_empty() {
            return Err(Error::bad_request(if suffix.is_empty() {
                "Unable to process query: a 'resources' parameter is required when 'required', 'member_of' or 'in_tree' is given.".to_owned()
            } else {
                format!("All request groups must specify resources. Request group '{suffix}' does not.")
            })
            .with_code(crate::app::codes::MISSING_VALUE));
        }
    }
    if groups.is_empty() {
        return Err(Error::bad_request(
            "At least one of 'resources' or 'resources{N}' is required.",
        )
        .with_code(crate::app::codes::MISSING_VALUE));
    }
    let numbered = groups.keys().filter(|s| !s.is_empty()).count();
    let group_policy = match q.one("group_policy")? {
        None if numbered > 1 => {
            return Err(Error::bad_request(
                "The \"group_policy\" parameter is required when specifying more than one \"resources{N}\" parameter.",
            )
            .with_code(crate::app::codes::MISSING_VALUE))
        }
        None | Some("none") => GroupPolicy::None,
        Some("isolate") => GroupPolicy::Isolate,
        Some(other) => {
            return Err(query::bad(format_args!(
                "'{other}' is not one of ['none', 'isolate']"
            )))
        }
    };
    let limit = match q.one("limit")? {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(query::bad(format_args!(
                    "'{l}' does not match '^[1-9][0-9]*$'"
                )))
            }
        },
    };
    let root_required = match q.one("root_required")? {
        Some(r) => query::required(&[r], v)?,
        None => TraitFilter::default(),
    };
    Ok(CandidateQuery {
        groups: groups.into_values().collect(),
        group_policy,
        root_required,
        limit,
        all_classes: v.at_least(1, 27),
        whole_trees: v.at_least(1, 29),
    })
}

pub async fn candidate_list(
    State(st): State<St>,
    ctx: Ctx,
    v: Version,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    since(v, 1, 10)?;
    // placement's order: the policy, then the query
    st.authorize(&ctx, crate::policies::Rule::AllocationCandidateList)?;
    let q = query::Query::parse(raw.as_deref());
    let cq = parse_candidates(&q, v)?;
    let found = st.allocation_candidates(&ctx, cq).await?;
    Ok(json_at(v, StatusCode::OK, Answer { v, found: &found }))
}

/// The answer: `{"allocation_requests": [...], "provider_summaries": {...}}`.
struct Answer<'a> {
    v: Version,
    found: &'a Candidates,
}

impl Serialize for Answer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let v = self.v;
        let mut m = s.serialize_map(Some(2))?;
        let requests: Vec<_> = self
            .found
            .requests
            .iter()
            .map(|found| Request { v, found })
            .collect();
        m.serialize_entry("allocation_requests", &requests)?;
        // keyed by uuid, in uuid order (as a JSON object of serde_json's)
        let summaries: BTreeMap<&str, _> = self
            .found
            .summaries
            .iter()
            .map(|s| (s.uuid.as_str(), SummaryOut { v, s }))
            .collect();
        m.serialize_entry("provider_summaries", &summaries)?;
        m.end()
    }
}

/// One allocation request: from 1.12 `allocations` keyed by provider, before as a list;
/// from 1.34 with its `mappings`.
struct Request<'a> {
    v: Version,
    found: &'a Found,
}

#[derive(Serialize)]
struct WithResources<'a> {
    resources: &'a Resources,
}

#[derive(Serialize)]
struct ProviderRef<'a> {
    uuid: &'a str,
}

#[derive(Serialize)]
struct Listed<'a> {
    resource_provider: ProviderRef<'a>,
    resources: &'a Resources,
}

impl Serialize for Request<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (allocs, mappings) = self.found;
        let with_mappings = self.v.at_least(1, 34);
        let mut m = s.serialize_map(Some(1 + usize::from(with_mappings)))?;
        if self.v.at_least(1, 12) {
            let by_provider: BTreeMap<&str, WithResources> = allocs
                .iter()
                .map(|(p, resources)| (p.as_str(), WithResources { resources }))
                .collect();
            m.serialize_entry("allocations", &by_provider)?;
        } else {
            let listed: Vec<Listed> = allocs
                .iter()
                .map(|(p, resources)| Listed {
                    resource_provider: ProviderRef { uuid: p.as_str() },
                    resources,
                })
                .collect();
            m.serialize_entry("allocations", &listed)?;
        }
        if with_mappings {
            let mappings: BTreeMap<&str, Vec<&str>> = mappings
                .iter()
                .map(|(suffix, ps)| (suffix.as_str(), ps.iter().map(|p| p.as_str()).collect()))
                .collect();
            m.serialize_entry("mappings", &mappings)?;
        }
        m.end()
    }
}

/// One provider summary: capacity and usage by class; from 1.17 its traits, from 1.29
/// its parent and root.
struct SummaryOut<'a> {
    v: Version,
    s: &'a Summary,
}

#[derive(Serialize)]
struct Capacity {
    capacity: i64,
    used: i64,
}

impl Serialize for SummaryOut<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        let (v, s) = (self.v, self.s);
        let traits = v.at_least(1, 17);
        let tree = v.at_least(1, 29);
        let mut m = ser.serialize_map(None)?;
        // serde_json's object order: its keys sorted
        if tree {
            m.serialize_entry(
                "parent_provider_uuid",
                &s.parent.as_ref().map(|p| p.as_str()),
            )?;
        }
        let resources: BTreeMap<&str, Capacity> = s
            .resources
            .iter()
            .map(|(rc, &(capacity, used))| (rc.as_str(), Capacity { capacity, used }))
            .collect();
        m.serialize_entry("resources", &resources)?;
        if tree {
            m.serialize_entry("root_provider_uuid", s.root.as_str())?;
        }
        if traits {
            m.serialize_entry("traits", &s.traits)?;
        }
        m.end()
    }
}

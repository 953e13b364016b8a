//! A client of the Placement API, as Nova's scheduler report client uses it: the
//! scheduler asks for allocation candidates and claims one (`PUT /allocations/{server}`
//! with the consumer's generation), the compute hosts report their resource provider,
//! inventory and traits, and the conductor moves or drops allocations.
//!
//! Placement's REST API (the OpenStack reference) is the contract; requests carry
//! `OpenStack-API-Version: placement 1.36` (consumer generations, `mappings`, `in_tree`)
//! and a service token.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use service::ServiceToken;
use types::{Error, Result};

use super::{As, Http};

/// The microversion every request asks for.
pub const MICROVERSION: &str = "placement 1.36";

/// Resource class -> amount (`VCPU: 1, MEMORY_MB: 512, DISK_GB: 1`).
pub type Resources = BTreeMap<String, u64>;

/// Provider uuid -> what is allocated from it.
pub type Allocations = BTreeMap<String, Resources>;

/// What `GET /allocation_candidates` is asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateQuery {
    pub resources: Resources,
    /// Traits every candidate has.
    pub required: Vec<String>,
    /// Traits no candidate has.
    pub forbidden: Vec<String>,
    /// Each entry: the candidate is in one of these aggregates.
    pub member_of: Vec<Vec<String>>,
    /// Only this provider's tree (a forced host).
    pub in_tree: Option<String>,
    pub limit: Option<u32>,
}

impl CandidateQuery {
    /// The query string, as Placement reads it.
    pub fn to_query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        let resources: Vec<String> = self
            .resources
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k}:{n}"))
            .collect();
        q.append_pair("resources", &resources.join(","));
        let traits: Vec<String> = self
            .required
            .iter()
            .cloned()
            .chain(self.forbidden.iter().map(|t| format!("!{t}")))
            .collect();
        if !traits.is_empty() {
            q.append_pair("required", &traits.join(","));
        }
        for aggs in &self.member_of {
            q.append_pair("member_of", &format!("in:{}", aggs.join(",")));
        }
        if let Some(t) = &self.in_tree {
            q.append_pair("in_tree", t);
        }
        if let Some(l) = self.limit {
            q.append_pair("limit", &l.to_string());
        }
        q.finish()
    }
}

/// One resource class of a provider, as the candidates' summaries show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub capacity: u64,
    pub used: u64,
}

impl Capacity {
    pub fn free(&self) -> u64 {
        self.capacity.saturating_sub(self.used)
    }
}

/// A provider of the candidates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSummary {
    #[serde(default)]
    pub resources: BTreeMap<String, Capacity>,
    #[serde(default)]
    pub traits: Vec<String>,
    #[serde(default)]
    pub root_provider_uuid: Option<String>,
}

/// One way to satisfy the query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationRequest {
    pub allocations: Allocations,
}

impl AllocationRequest {
    /// The root provider (the compute node) of the request: the one of its providers
    /// that is its own root (here every host is a single provider).
    pub fn root<'a>(&'a self, summaries: &'a BTreeMap<String, ProviderSummary>) -> Option<&'a str> {
        let any = self.allocations.keys().next()?;
        Some(
            summaries
                .get(any)
                .and_then(|s| s.root_provider_uuid.as_deref())
                .unwrap_or(any),
        )
    }
}

/// The answer of `GET /allocation_candidates`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    pub requests: Vec<AllocationRequest>,
    pub summaries: BTreeMap<String, ProviderSummary>,
}

/// A consumer's allocations as Placement holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerAllocations {
    pub allocations: Allocations,
    /// `None`: Placement knows no such consumer.
    pub generation: Option<u64>,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
}

/// Whose allocations these are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
}

/// One inventory line of a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub total: u64,
    pub reserved: u64,
    pub min_unit: u64,
    pub max_unit: u64,
    pub step_size: u64,
    pub allocation_ratio: f64,
}

impl Inventory {
    /// `total` units, `reserved` of them kept for the host, at `ratio`.
    pub fn new(total: u64, reserved: u64, ratio: f64) -> Inventory {
        Inventory {
            total,
            reserved: reserved.min(total),
            min_unit: 1,
            max_unit: total.max(1),
            step_size: 1,
            allocation_ratio: ratio,
        }
    }
}

/// How a claim ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// Someone else took the capacity (or changed the consumer) meanwhile: try the next
    /// candidate, or read the consumer again.
    Conflict(String),
}

/// The Placement client. Cheap to clone.
#[derive(Clone)]
pub struct Placement {
    http: Http,
}

/// Placement's own error body: `{"errors": [{"status", "title", "detail", "code"}]}`.
fn error_detail(body: &Value) -> String {
    body["errors"][0]["detail"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| body.to_string())
}

impl Placement {
    /// A client of the catalog's `placement` endpoint, as the service user.
    pub fn new(token: ServiceToken, endpoints: &BTreeMap<&'static str, String>) -> Placement {
        Placement {
            http: Http::new(token, endpoints, "placement"),
        }
    }

    /// Send a request; `(status, body)` (body `Null` when empty). Placement's refusals
    /// are answers here (a 409 is how a claim loses); only an unreachable or failing
    /// service is an error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(As::Service, method.clone(), path)
            .await?
            .header("openstack-api-version", MICROVERSION)
            .header("accept", "application/json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let unavailable = |e: reqwest::Error| {
            Error::unavailable("The placement service is not available.")
                .with_detail(format!("{method} {path}: {e}"))
        };
        let resp = req.send().await.map_err(unavailable)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(unavailable)?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if status.is_server_error()
            || status == StatusCode::UNAUTHORIZED
            || status == StatusCode::FORBIDDEN
        {
            return Err(
                Error::unavailable("The placement service failed.").with_detail(format!(
                    "{method} {path}: {status}: {}",
                    error_detail(&value)
                )),
            );
        }
        Ok((status, value))
    }

    fn unexpected(what: &str, status: StatusCode, body: &Value) -> Error {
        Error::unavailable("The placement service refused a request.")
            .with_detail(format!("{what}: {status}: {}", error_detail(body)))
    }

    /// `GET /allocation_candidates`.
    pub async fn allocation_candidates(&self, q: &CandidateQuery) -> Result<Candidates> {
        let path = format!("/allocation_candidates?{}", q.to_query());
        let (status, body) = self.send(Method::GET, &path, None).await?;
        if status != StatusCode::OK {
            return Err(Self::unexpected("allocation candidates", status, &body));
        }
        #[derive(Deserialize)]
        struct Wire {
            allocation_requests: Vec<AllocationRequestWire>,
            provider_summaries: BTreeMap<String, ProviderSummary>,
        }
        #[derive(Deserialize)]
        struct AllocationRequestWire {
            allocations: BTreeMap<String, ResourcesWire>,
        }
        let w: Wire = serde_json::from_value(body)
            .map_err(|e| Error::internal(format!("allocation candidates: {e}")))?;
        Ok(Candidates {
            requests: w
                .allocation_requests
                .into_iter()
                .map(|r| AllocationRequest {
                    allocations: r
                        .allocations
                        .into_iter()
                        .map(|(k, v)| (k, v.resources))
                        .collect(),
                })
                .collect(),
            summaries: w.provider_summaries,
        })
    }

    /// `GET /allocations/{consumer}`.
    pub async fn allocations(&self, consumer: &str) -> Result<ConsumerAllocations> {
        let (status, body) = self
            .send(Method::GET, &format!("/allocations/{consumer}"), None)
            .await?;
        if status != StatusCode::OK {
            return Err(Self::unexpected("allocations", status, &body));
        }
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            allocations: BTreeMap<String, ResourcesWire>,
            consumer_generation: Option<u64>,
            project_id: Option<String>,
            user_id: Option<String>,
        }
        let w: Wire = serde_json::from_value(body)
            .map_err(|e| Error::internal(format!("allocations of {consumer}: {e}")))?;
        Ok(ConsumerAllocations {
            allocations: w
                .allocations
                .into_iter()
                .map(|(k, v)| (k, v.resources))
                .collect(),
            generation: w.consumer_generation,
            project_id: w.project_id,
            user_id: w.user_id,
        })
    }

    /// `PUT /allocations/{consumer}`: replace the consumer's allocations, if its
    /// generation is still `generation` (`None`: a consumer Placement does not know yet).
    pub async fn put_allocations(
        &self,
        consumer: &Consumer,
        allocations: &Allocations,
        generation: Option<u64>,
    ) -> Result<Claim> {
        let body = json!({
            "allocations": wire_allocations(allocations),
            "project_id": consumer.project_id,
            "user_id": consumer.user_id,
            "consumer_generation": generation,
        });
        let (status, resp) = self
            .send(
                Method::PUT,
                &format!("/allocations/{}", consumer.id),
                Some(body),
            )
            .await?;
        match status {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(Claim::Claimed),
            StatusCode::CONFLICT => Ok(Claim::Conflict(error_detail(&resp))),
            _ => Err(Self::unexpected("claim", status, &resp)),
        }
    }

    /// Make the consumer's allocations exactly `allocations`, whatever its generation:
    /// read, write, and read again on a conflict. Idempotent (a saga's claim).
    pub async fn ensure_allocations(
        &self,
        consumer: &Consumer,
        allocations: &Allocations,
    ) -> Result<Claim> {
        self.ensure_allocations_from(consumer, allocations, None)
            .await
    }

    /// [`Placement::ensure_allocations`], starting from the consumer's allocations as
    /// the caller just read them (one read less; the write is still a compare-and-set
    /// of the consumer's generation, and a conflict reads again).
    pub async fn ensure_allocations_from(
        &self,
        consumer: &Consumer,
        allocations: &Allocations,
        mut known: Option<ConsumerAllocations>,
    ) -> Result<Claim> {
        for _ in 0..5 {
            let current = match known.take() {
                Some(c) => c,
                None => self.allocations(&consumer.id).await?,
            };
            if current.allocations == *allocations {
                return Ok(Claim::Claimed);
            }
            match self
                .put_allocations(consumer, allocations, current.generation)
                .await?
            {
                Claim::Claimed => return Ok(Claim::Claimed),
                Claim::Conflict(why) => {
                    // capacity, or a concurrent writer of the consumer: read again to tell
                    let again = self.allocations(&consumer.id).await?;
                    if again.generation == current.generation {
                        return Ok(Claim::Conflict(why));
                    }
                }
            }
        }
        Ok(Claim::Conflict("the consumer kept changing".into()))
    }

    /// `POST /allocations`: several consumers' allocations in one transaction (a resize
    /// moving the old flavor's allocation to the migration, the new one to the server).
    /// An empty `Allocations` removes the consumer's.
    pub async fn post_allocations(
        &self,
        consumers: &[(Consumer, Allocations, Option<u64>)],
    ) -> Result<Claim> {
        let mut body = serde_json::Map::new();
        for (c, a, gen) in consumers {
            body.insert(
                c.id.clone(),
                json!({
                    "allocations": wire_allocations(a),
                    "project_id": c.project_id,
                    "user_id": c.user_id,
                    "consumer_generation": gen,
                }),
            );
        }
        let (status, resp) = self
            .send(Method::POST, "/allocations", Some(Value::Object(body)))
            .await?;
        match status {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(Claim::Claimed),
            StatusCode::CONFLICT => Ok(Claim::Conflict(error_detail(&resp))),
            _ => Err(Self::unexpected("allocations", status, &resp)),
        }
    }

    /// `DELETE /allocations/{consumer}`; none is success (an undo).
    pub async fn delete_allocations(&self, consumer: &str) -> Result<()> {
        let (status, body) = self
            .send(Method::DELETE, &format!("/allocations/{consumer}"), None)
            .await?;
        match status {
            StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(Self::unexpected("delete allocations", status, &body)),
        }
    }

    /// The provider's generation, creating it (`uuid`, `name`) when missing.
    pub async fn ensure_provider(&self, uuid: &str, name: &str) -> Result<u64> {
        for _ in 0..3 {
            let (status, body) = self
                .send(Method::GET, &format!("/resource_providers/{uuid}"), None)
                .await?;
            if status == StatusCode::OK {
                return generation(&body, "generation");
            }
            let (status, body) = self
                .send(
                    Method::POST,
                    "/resource_providers",
                    Some(json!({"uuid": uuid, "name": name})),
                )
                .await?;
            match status {
                StatusCode::OK | StatusCode::CREATED => {
                    if body.is_object() {
                        return generation(&body, "generation");
                    }
                }
                // created meanwhile (or a stale provider holds the name)
                StatusCode::CONFLICT => {
                    self.remove_stale_provider_named(name, uuid).await?;
                }
                _ => return Err(Self::unexpected("create provider", status, &body)),
            }
        }
        Err(Error::unavailable(
            "The placement service refused the host's provider.",
        ))
    }

    /// A provider named `name` but with another uuid (a host whose id changed) is
    /// removed, as Nova's resource tracker does for a rebuilt compute node.
    async fn remove_stale_provider_named(&self, name: &str, uuid: &str) -> Result<()> {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("name", name)
            .finish();
        let (status, body) = self
            .send(Method::GET, &format!("/resource_providers?{q}"), None)
            .await?;
        if status != StatusCode::OK {
            return Ok(());
        }
        for p in body["resource_providers"].as_array().into_iter().flatten() {
            if let Some(other) = p["uuid"].as_str().filter(|u| *u != uuid) {
                let _ = self
                    .send(
                        Method::DELETE,
                        &format!("/resource_providers/{other}"),
                        None,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Set the provider's inventory (retrying on generation conflicts); unchanged
    /// inventory is not written again.
    pub async fn set_inventory(
        &self,
        uuid: &str,
        inventory: &BTreeMap<String, Inventory>,
    ) -> Result<()> {
        for _ in 0..5 {
            let path = format!("/resource_providers/{uuid}/inventories");
            let (status, body) = self.send(Method::GET, &path, None).await?;
            if status != StatusCode::OK {
                return Err(Self::unexpected("inventory", status, &body));
            }
            let gen = generation(&body, "resource_provider_generation")?;
            let current: BTreeMap<String, Inventory> =
                serde_json::from_value(body["inventories"].clone()).unwrap_or_default();
            if current == *inventory {
                return Ok(());
            }
            let (status, body) = self
                .send(
                    Method::PUT,
                    &path,
                    Some(json!({"resource_provider_generation": gen, "inventories": inventory})),
                )
                .await?;
            match status {
                StatusCode::OK => return Ok(()),
                StatusCode::CONFLICT => continue,
                _ => return Err(Self::unexpected("set inventory", status, &body)),
            }
        }
        Err(Error::unavailable(
            "The host's inventory kept changing in placement.",
        ))
    }

    /// Set the provider's traits (retrying on generation conflicts).
    pub async fn set_traits(&self, uuid: &str, traits: &[String]) -> Result<()> {
        for t in traits.iter().filter(|t| t.starts_with("CUSTOM_")) {
            let (status, body) = self
                .send(Method::PUT, &format!("/traits/{t}"), None)
                .await?;
            if !matches!(status, StatusCode::CREATED | StatusCode::NO_CONTENT) {
                return Err(Self::unexpected("create trait", status, &body));
            }
        }
        for _ in 0..5 {
            let path = format!("/resource_providers/{uuid}/traits");
            let (status, body) = self.send(Method::GET, &path, None).await?;
            if status != StatusCode::OK {
                return Err(Self::unexpected("traits", status, &body));
            }
            let gen = generation(&body, "resource_provider_generation")?;
            let mut current: Vec<String> =
                serde_json::from_value(body["traits"].clone()).unwrap_or_default();
            current.sort();
            let mut wanted = traits.to_vec();
            wanted.sort();
            if current == wanted {
                return Ok(());
            }
            let (status, body) = self
                .send(
                    Method::PUT,
                    &path,
                    Some(json!({"resource_provider_generation": gen, "traits": wanted})),
                )
                .await?;
            match status {
                StatusCode::OK => return Ok(()),
                StatusCode::CONFLICT => continue,
                _ => return Err(Self::unexpected("set traits", status, &body)),
            }
        }
        Err(Error::unavailable(
            "The host's traits kept changing in placement.",
        ))
    }

    /// The aggregates of a provider.
    pub async fn aggregates(&self, uuid: &str) -> Result<Vec<String>> {
        let (status, body) = self
            .send(
                Method::GET,
                &format!("/resource_providers/{uuid}/aggregates"),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            return Err(Self::unexpected("aggregates", status, &body));
        }
        Ok(serde_json::from_value(body["aggregates"].clone()).unwrap_or_default())
    }

    /// What is used of each resource class of a provider.
    pub async fn usages(&self, uuid: &str) -> Result<Resources> {
        let (status, body) = self
            .send(
                Method::GET,
                &format!("/resource_providers/{uuid}/usages"),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            return Err(Self::unexpected("usages", status, &body));
        }
        Ok(serde_json::from_value(body["usages"].clone()).unwrap_or_default())
    }
}

#[derive(Deserialize)]
struct ResourcesWire {
    #[serde(default)]
    resources: Resources,
}

fn wire_allocations(a: &Allocations) -> Value {
    Value::Object(
        a.iter()
            .map(|(rp, r)| (rp.clone(), json!({ "resources": r })))
            .collect(),
    )
}

fn generation(body: &Value, field: &str) -> Result<u64> {
    body[field]
        .as_u64()
        .ok_or_else(|| Error::internal(format!("placement answered without {field}: {body}")))
}

/// The provider uuid of a compute host: fixed by its name, so every process (and every
/// restart) of the host reports the same provider.
pub fn provider_uuid(host: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("oxistack-compute-node:{host}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_queries_read_as_placement_expects() {
        let q = CandidateQuery {
            resources: [
                ("VCPU".into(), 1),
                ("MEMORY_MB".into(), 512),
                ("DISK_GB".into(), 0),
            ]
            .into(),
            required: vec!["HW_CPU_X86_AVX".into()],
            forbidden: vec!["COMPUTE_STATUS_DISABLED".into()],
            member_of: vec![vec!["a1".into(), "a2".into()]],
            in_tree: None,
            limit: Some(10),
        };
        assert_eq!(
            q.to_query(),
            "resources=MEMORY_MB%3A512%2CVCPU%3A1&required=HW_CPU_X86_AVX%2C%21COMPUTE_STATUS_DISABLED&member_of=in%3Aa1%2Ca2&limit=10"
        );
    }

    #[test]
    fn a_host_keeps_its_provider() {
        let a = provider_uuid("compute1");
        assert_eq!(a, provider_uuid("compute1"));
        assert_ne!(a, provider_uuid("compute2"));
        assert_eq!(a.len(), 36);
    }
}

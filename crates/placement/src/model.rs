//! Placement's plain types: what the app layer takes and returns (no HTTP, no JSON).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use types::ResourceProviderId;

pub type ProviderId = ResourceProviderId;

/// The largest integer placement stores (MySQL's signed INT).
pub const MAX_INT: i64 = 2_147_483_647;

/// A resource provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub uuid: ProviderId,
    pub name: String,
    pub generation: i64,
    pub parent: Option<ProviderId>,
    pub root: ProviderId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One resource class of a provider's inventory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inventory {
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
}

impl Inventory {
    /// What may be allocated in all: `(total - reserved) * allocation_ratio`.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    pub fn capacity(&self) -> i64 {
        // The product is truncated as placement's integer column takes it.
        ((self.total - self.reserved) as f64 * self.allocation_ratio) as i64
    }

    /// Whether one allocation of `amount` fits its unit constraints.
    pub fn unit_ok(&self, amount: i64) -> bool {
        amount >= self.min_unit
            && amount <= self.max_unit
            && self.step_size > 0
            && amount % self.step_size == 0
    }
}

/// An inventory as a request gives it: unset fields take placement's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InventoryRequest {
    pub total: i64,
    pub reserved: Option<i64>,
    pub min_unit: Option<i64>,
    pub max_unit: Option<i64>,
    pub step_size: Option<i64>,
    pub allocation_ratio: Option<f64>,
}

impl InventoryRequest {
    pub fn resolve(&self) -> Inventory {
        Inventory {
            total: self.total,
            reserved: self.reserved.unwrap_or(0),
            min_unit: self.min_unit.unwrap_or(1),
            max_unit: self.max_unit.unwrap_or(MAX_INT),
            step_size: self.step_size.unwrap_or(1),
            allocation_ratio: self.allocation_ratio.unwrap_or(1.0),
        }
    }
}

/// A provider's inventories by resource class.
pub type Inventories = BTreeMap<String, Inventory>;

/// Resources by class.
pub type Resources = BTreeMap<String, i64>;

/// A trait filter: every inner list is "any of these" (a single trait is a list of one),
/// and none of `forbidden` may be present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraitFilter {
    pub all_of_any: Vec<Vec<String>>,
    pub forbidden: Vec<String>,
}

impl TraitFilter {
    pub fn is_empty(&self) -> bool {
        self.all_of_any.is_empty() && self.forbidden.is_empty()
    }

    /// Every trait the filter names.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.all_of_any.iter().flatten().chain(&self.forbidden)
    }

    /// Whether a set of traits passes.
    pub fn matches<'a>(&self, has: impl Fn(&str) -> bool + 'a) -> bool {
        self.all_of_any.iter().all(|any| any.iter().any(|t| has(t)))
            && !self.forbidden.iter().any(|t| has(t))
    }
}

/// An aggregate filter: every inner list is "member of any of these", and of none of
/// `forbidden`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AggregateFilter {
    pub all_of_any: Vec<Vec<String>>,
    pub forbidden: Vec<String>,
}

impl AggregateFilter {
    pub fn is_empty(&self) -> bool {
        self.all_of_any.is_empty() && self.forbidden.is_empty()
    }

    pub fn matches(&self, member: impl Fn(&str) -> bool) -> bool {
        self.all_of_any
            .iter()
            .all(|any| any.iter().any(|a| member(a)))
            && !self.forbidden.iter().any(|a| member(a))
    }
}

/// `GET /resource_providers` filters.
#[derive(Debug, Clone, Default)]
pub struct ProviderFilter {
    pub name: Option<String>,
    pub uuid: Option<ProviderId>,
    pub member_of: AggregateFilter,
    pub in_tree: Option<ProviderId>,
    pub resources: Resources,
    pub required: TraitFilter,
}

/// What a consumer's write expects of its generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGeneration {
    /// Before 1.28: not checked by the client (still compare-and-set internally).
    Unchecked,
    /// `null`: the consumer must not exist yet.
    New,
    /// This generation.
    Is(i64),
}

/// The allocations of one consumer, as a write sets them.
#[derive(Debug, Clone)]
pub struct ConsumerAllocations {
    pub consumer: String,
    pub project_id: String,
    pub user_id: String,
    pub generation: ConsumerGeneration,
    /// `None` before 1.38 (an existing consumer keeps its type).
    pub consumer_type: Option<String>,
    /// By provider. Empty: remove every allocation of the consumer.
    pub allocations: BTreeMap<ProviderId, Resources>,
}

/// A consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    pub uuid: String,
    pub project_id: String,
    pub user_id: String,
    pub generation: i64,
    pub consumer_type: Option<String>,
}

/// One allocation row.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub consumer: String,
    pub provider: ProviderId,
    pub resource_class: String,
    pub used: i64,
}

/// A consumer's allocations, as `GET /allocations/{consumer}` shows them.
#[derive(Debug, Clone)]
pub struct ConsumerView {
    pub consumer: Option<Consumer>,
    /// By provider: its generation and the resources.
    pub allocations: BTreeMap<ProviderId, (i64, Resources)>,
}

/// Usage of one consumer type (`GET /usages` from 1.38).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypedUsage {
    pub consumer_count: i64,
    pub usages: Resources,
}

/// A custom or standard resource class.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceClass {
    pub name: String,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `GET /traits` filters.
#[derive(Debug, Clone, Default)]
pub enum TraitNames {
    #[default]
    All,
    In(Vec<String>),
    StartsWith(String),
}

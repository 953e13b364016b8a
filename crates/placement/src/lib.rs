//! The Placement service (OpenStack Placement, microversions 1.0 to 1.39) of oxistack.
//!
//! - [`app::Placement`] is the service: resource providers (trees of them), inventories,
//!   resource classes, traits, aggregates, consumers and their allocations, usages,
//!   allocation candidates and the reshaper, with policy.
//! - [`api`] is the HTTP API (microversioned; JSON only there); [`store`] holds every SQL
//!   statement; [`standard`] the standard resource classes and traits (os-resource-classes
//!   and os-traits); [`candidates`] the pure search of allocation candidates.
//!
//! Concurrency: every change of a provider's inventory, traits, aggregates or
//! allocations is a compare-and-set of its generation in the database, and every change
//! of a consumer's allocations one of the consumer's generation, so two writers (in one
//! process or several over one PostgreSQL) never both succeed on stale data: the loser
//! gets a 409 `placement.concurrent_update`. Every write transaction also bumps one
//! change counter as its last statement; allocation candidates are searched in a
//! snapshot of the providers kept in memory for as long as that counter stays put (one
//! query a request checks it), so what any process commits shows in the next request.

pub mod api;
pub mod app;
pub mod candidates;
pub mod config;
pub mod model;
pub mod policies;
mod service;
pub mod standard;
pub mod store;

pub use app::Placement;
pub use config::Config;
pub use service::PlacementService;

/// The schema of the placement tables.
pub const MIGRATIONS: &[db::Migration] = &[
    db::Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    db::Migration {
        version: 2,
        name: "changes",
        sql: include_str!("../migrations/0002_changes.sql"),
    },
];

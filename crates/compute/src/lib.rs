//! The Compute API service (Nova v2.1) of oxistack.
//!
//! - [`app::Compute`] is the service: flavors, keypairs, servers and their actions,
//!   server groups, quotas, services and hypervisors, and policy. It records what the
//!   API accepted and asks the [`app::Lifecycle`] (the conductor) to make it real; the
//!   conductor records what happened through the state functions of `app::states`.
//! - [`api`] is the HTTP API (microversions 2.1 to 2.96); [`store`] holds every SQL
//!   statement; [`clients`] calls the Image and Network APIs as the service user.

pub mod api;
pub mod app;
pub mod clients;
pub mod conductor;
pub mod config;
pub mod guests;
pub mod model;
pub mod policies;
pub mod rpc;
pub mod sagas;
pub mod scheduler;
mod service;
pub mod store;

pub use app::Compute;
pub use config::Config;
pub use service::ComputeApiService;

/// The schema of the compute tables.
pub const MIGRATIONS: &[db::Migration] = &[
    db::Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    db::Migration {
        version: 2,
        name: "guests",
        sql: include_str!("../migrations/0002_guests.sql"),
    },
    db::Migration {
        version: 3,
        name: "host_changes",
        sql: include_str!("../migrations/0003_host_changes.sql"),
    },
];

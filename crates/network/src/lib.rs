//! The Networking service (Neutron v2.0) of oxistack.
//!
//! - [`app::Networking`] is the service: networks, subnets, ports (with IPAM), security
//!   groups, quotas, tags, agents, and policy.
//! - [`api`] is the HTTP API; [`store`] holds every SQL statement; [`ipam`] is the pure
//!   address logic (pools, gateways, free addresses, MACs).
//! - [`plan`] turns the database into what one host must wire (a
//!   `dataplane::HostPlan`), and [`rpc`] is the bus protocol agents use to fetch it,
//!   report heartbeats and the ports they wired.

pub mod api;
pub mod app;
mod bootstrap;
pub mod compute_events;
pub mod config;
pub mod ipam;
pub mod model;
pub mod plan;
pub mod policies;
pub mod rpc;
mod service;
pub mod store;

pub use app::Networking;
pub use bootstrap::Projects;
pub use config::Config;
pub use service::NetworkService;

/// The schema of the networking tables.
pub const MIGRATIONS: &[db::Migration] = &[
    db::Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    db::Migration {
        version: 2,
        name: "routers",
        sql: include_str!("../migrations/0002_routers.sql"),
    },
    db::Migration {
        version: 3,
        name: "qos_rbac",
        sql: include_str!("../migrations/0003_qos_rbac.sql"),
    },
    db::Migration {
        version: 4,
        name: "subnet_pools",
        sql: include_str!("../migrations/0004_subnet_pools.sql"),
    },
];

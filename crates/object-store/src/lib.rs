//! The Object Storage service (Swift v1) of oxistack.
//!
//! - [`ring`]: which devices hold each partition's replicas (`oxistack manage ring`).
//! - [`disk`]: the object server's on-disk format on one device (a replica is a file
//!   with its metadata, written to a temporary file, fsynced and renamed).
//! - [`store`]: the listing databases (a small SQLite file per account per replica).
//! - [`app::ObjectStore`]: the proxy: replicas written on a quorum, read from the
//!   newest good one; keystoneauth's ownership rules and container ACLs.
//! - [`api`]: the Swift v1 HTTP API.

pub mod api;
pub mod app;
pub mod config;
pub mod disk;
pub mod model;
pub mod policies;
pub mod ring;
mod service;
pub mod store;

pub use app::ObjectStore;
pub use config::Config;
pub use service::ObjectStoreService;

//! The Compute metadata service (nova-api-metadata) and config drives: what a guest
//! reads about itself.
//!
//! The crate knows nothing of Compute's database. Whoever owns the instances (Compute)
//! implements [`Instances`], the service asks it for an instance's [`InstanceMetadata`]
//! and renders Nova's metadata tree from it ([`content`]). Requests come from the
//! Networking service's metadata proxy (crates/network-agent/src/metadata.rs), which
//! names the instance in `X-Instance-ID` and signs it with the shared secret; [`api`]
//! refuses anything else as Nova does. [`config_drive`] writes the same content to a
//! vfat image labelled `config-2`. [`service::MetadataService`] runs it as a service of
//! oxistack (no catalog entry), given a [`service::Source`] of instances.

pub mod api;
pub mod config;
pub mod config_drive;
pub mod content;
pub mod memory;
pub mod model;
pub mod service;

use async_trait::async_trait;
use types::Error;
use uuid::Uuid;

pub use config::Config;
pub use content::Settings;
pub use model::InstanceMetadata;

/// Where the metadata service finds instances (Compute implements it over its database).
#[async_trait]
pub trait Instances: Send + Sync + 'static {
    /// The instance `id` as its guest sees it; `None` when there is none.
    async fn metadata(&self, id: Uuid) -> Result<Option<InstanceMetadata>, Error>;

    /// Store the password the guest posted, unless one is set: `false` when one was
    /// (the guest gets 409). An instance that vanished meanwhile: a not-found error.
    async fn set_password(&self, id: Uuid, password: &str) -> Result<bool, Error>;
}

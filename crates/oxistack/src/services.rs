//! The services of the cloud, in start order. Adding a service is adding its crate and
//! one line here: `up`, `serve --role`, `manage db sync`, the catalog, `manage status
//! upgrade-check` and `oxistack config` all go through this list.

use std::marker::PhantomData;

use service::{AnyAgent, AnyService};

/// Identity comes first: the services after it validate tokens with it when they run in
/// the same process.
pub const SERVICES: &[&dyn AnyService] = &[
    &identity::IdentityService,
    &image::ImageService,
    &network::NetworkService,
    &placement::PlacementService,
    &compute::ComputeApiService,
    &object_store::ObjectStoreService,
    &metadata::service::MetadataService::<compute::guests::ComputeSource>(PhantomData),
    &console_proxy::service::ConsoleProxyService::<compute::guests::ComputeSource>(PhantomData),
    &volume::VolumeService,
];

/// The registered service called `name` (`compute_api` or `compute-api`).
pub fn by_name(name: &str) -> Option<&'static dyn AnyService> {
    SERVICES
        .iter()
        .copied()
        .find(|s| s.name() == name || s.name().replace('_', "-") == name)
}

/// The schemas of the shared components services are built on, migrated with theirs.
pub const COMPONENTS: &[(&str, &[db::Migration])] = &[(saga::SERVICE, saga::MIGRATIONS)];

/// The agents of a host (roles without an HTTP API): `up` starts the enabled ones after
/// the services; `serve --role network-agent` runs one alone.
pub const AGENTS: &[&dyn AnyAgent] = &[&network_agent::NetworkAgent, &compute_host::ComputeAgent];

/// The registered agent whose role is `name` (`network-agent` or `network_agent`).
pub fn agent_by_name(name: &str) -> Option<&'static dyn AnyAgent> {
    AGENTS
        .iter()
        .copied()
        .find(|a| a.name() == name || a.name().replace('_', "-") == name)
}

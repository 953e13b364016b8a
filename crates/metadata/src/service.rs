//! The metadata API as a service of the kit: `[metadata]`, port 8775, no catalog entry
//! (guests reach it through the metadata proxies, never through the catalog), no
//! schema and no policy (the proxy's signature is the only credential). It is generic
//! over where its instances come from: Compute registers
//! `&metadata::service::MetadataService::<ItsSource>(PhantomData)` in the binary's
//! service list.

use std::{future::Future, marker::PhantomData, sync::Arc};

use api_common::FaultStyle;
use service::{CatalogInfo, Context, Service, Started};

use crate::{api, Config, Instances};

/// Where a started metadata service gets its instances.
pub trait Source: Send + Sync + 'static {
    fn instances(ctx: &Context) -> impl Future<Output = anyhow::Result<Arc<dyn Instances>>> + Send;
}

/// The metadata service over the instances of `S`.
pub struct MetadataService<S>(pub PhantomData<fn() -> S>);

impl<S: Source> Service for MetadataService<S> {
    type Config = Config;
    const NAME: &'static str = "metadata";
    const CATALOG: Option<CatalogInfo> = None;
    const MIGRATIONS: &'static [db::Migration] = &[];
    const POLICY: &'static [(&'static str, &'static str)] = &[];
    const FAULT_STYLE: FaultStyle = FaultStyle::Glance;
    const CONFIG_EXAMPLE: &'static str = crate::config::EXAMPLE;

    fn port(cfg: &Config) -> u16 {
        cfg.port
    }

    async fn start(cfg: Config, ctx: Context) -> anyhow::Result<Started> {
        if cfg.metadata_proxy_shared_secret.is_empty() {
            tracing::warn!(
                "metadata_proxy_shared_secret is not configured: anyone who can reach the \
                 metadata service can sign a request"
            );
        }
        let options = api::Options {
            secret: cfg.metadata_proxy_shared_secret.clone(),
            settings: cfg.settings()?,
        };
        let instances = S::instances(&ctx).await?;
        let api = api::api(instances, options);
        Ok(Started {
            router: api.router,
            routes: api.routes,
            validator: None,
            handle: Arc::new(()),
        })
    }
}

#[cfg(test)]
mod tests {
    use service::AnyService;

    use super::*;
    use crate::memory::MemoryInstances;

    struct Memory;

    impl Source for Memory {
        async fn instances(_: &Context) -> anyhow::Result<Arc<dyn Instances>> {
            Ok(Arc::new(MemoryInstances::default()))
        }
    }

    /// As Compute lists it in the binary's registry.
    const REGISTRY: &[&dyn AnyService] = &[&MetadataService::<Memory>(PhantomData)];

    #[test]
    fn it_registers_as_a_service_outside_the_catalog() {
        let s = REGISTRY[0];
        assert_eq!(s.name(), "metadata");
        assert_eq!(s.catalog(), None);
        assert!(s.migrations().is_empty() && s.policy_defaults().is_empty());
        assert_eq!(s.port(None).unwrap(), 8775);
        s.check_config(None).unwrap();
        let example: toml::Value = toml::from_str(s.config_example()).unwrap();
        assert_eq!(example["metadata"], s.default_config());
        let bad: toml::Value = toml::from_str("vendordata_providers = 3").unwrap();
        assert!(s.check_config(Some(&bad)).is_err());
    }
}

//! The console proxy as a service of the kit: `[novncproxy]`, port 6080, no catalog
//! entry (clients get its URL from `console url show`), no schema, no policy (the
//! token is the credential). Generic over where tokens resolve: Compute registers
//! `&console_proxy::service::ConsoleProxyService::<ItsSource>(PhantomData)`.

use std::{future::Future, marker::PhantomData, sync::Arc};

use api_common::FaultStyle;
use service::{CatalogInfo, Context, Service, Started};

use crate::{api, Config, Consoles};

/// Where a started proxy resolves tokens.
pub trait Source: Send + Sync + 'static {
    fn consoles(ctx: &Context) -> impl Future<Output = anyhow::Result<Arc<dyn Consoles>>> + Send;
}

/// The console proxy over the tokens of `S`.
pub struct ConsoleProxyService<S>(pub PhantomData<fn() -> S>);

impl<S: Source> Service for ConsoleProxyService<S> {
    type Config = Config;
    const NAME: &'static str = "novncproxy";
    const CATALOG: Option<CatalogInfo> = None;
    const MIGRATIONS: &'static [db::Migration] = &[];
    const POLICY: &'static [(&'static str, &'static str)] = &[];
    const FAULT_STYLE: FaultStyle = FaultStyle::Glance;
    const CONFIG_EXAMPLE: &'static str = crate::config::EXAMPLE;

    fn port(cfg: &Config) -> u16 {
        cfg.port
    }

    async fn start(cfg: Config, ctx: Context) -> anyhow::Result<Started> {
        let consoles = S::consoles(&ctx).await?;
        let api = api::api(
            consoles,
            api::Options {
                web: cfg.web.into(),
                allowed_origins: cfg.allowed_origins,
                shutdown: ctx.shutdown(),
            },
        );
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
    use crate::tokens::MemoryTokens;

    struct Memory;

    impl Source for Memory {
        async fn consoles(_: &Context) -> anyhow::Result<Arc<dyn Consoles>> {
            Ok(Arc::new(MemoryTokens::default()))
        }
    }

    /// As Compute lists it in the binary's registry.
    const REGISTRY: &[&dyn AnyService] = &[&ConsoleProxyService::<Memory>(PhantomData)];

    #[test]
    fn it_registers_as_a_service_outside_the_catalog() {
        let s = REGISTRY[0];
        assert_eq!(s.name(), "novncproxy");
        assert_eq!(s.catalog(), None);
        assert_eq!(s.port(None).unwrap(), 6080);
        let example: toml::Value = toml::from_str(s.config_example()).unwrap();
        assert_eq!(example["novncproxy"], s.default_config());
    }
}

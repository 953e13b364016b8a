//! The conductor (written by the "flow" work): it builds the [`Lifecycle`] the API
//! calls. Until it lands, a cloud without compute hosts ([`NoLifecycle`]).

use std::sync::Arc;

use service::Context;

use crate::{
    app::{Lifecycle, NoLifecycle},
    Compute,
};

/// Start the conductor's work on `ctx.tasks` and return what the API calls.
pub async fn start(compute: &Arc<Compute>, _ctx: &Context) -> anyhow::Result<Arc<dyn Lifecycle>> {
    Ok(Arc::new(NoLifecycle::new(compute)))
}

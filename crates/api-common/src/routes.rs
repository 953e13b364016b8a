//! The route table of a service: the one way a service builds its router.
//!
//! [`Routes`] wraps axum's `Router` and records every path registered on it, so the
//! finished service hands out both its router and the list of its paths ([`Api`]). The
//! authorization test walks that list: a route added through the builder is in the list,
//! and so cannot escape the test that checks every route refuses strangers.

use axum::{routing::MethodRouter, Router};

use axum::extract::DefaultBodyLimit;
use tower::Layer;

use crate::{
    auth::{AuthLayerState, RequireTokenLayer},
    fault,
    layers::SharedLayers,
    FaultStyle,
};

/// A router under construction, with the paths registered so far.
pub struct Routes<S = ()> {
    router: Router<S>,
    paths: Vec<String>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            paths: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `path` (axum's syntax: `/v2/images/{id}`) with its methods.
    #[track_caller]
    pub fn route(mut self, path: &str, methods: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, methods);
        self.paths.push(path.to_owned());
        self
    }

    /// Add every route of `other`.
    #[track_caller]
    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    /// Every route registered so far answers only requests with a valid token (see
    /// [`RequireToken`](crate::auth::RequireToken)); routes added afterwards are not
    /// covered.
    pub fn require_token(mut self, auth: AuthLayerState) -> Self {
        self.router = self.router.route_layer(RequireTokenLayer::new(auth));
        self
    }

    /// Every route registered so far negotiates its microversion (see
    /// [`crate::microversion`]) and echoes it in its answer.
    pub fn microversions(mut self, versions: &'static crate::microversion::Versions) -> Self {
        self.router = self
            .router
            .layer(axum::middleware::from_fn(move |req, next| {
                crate::microversion::negotiate(versions, req, next)
            }));
        self
    }

    /// Give the handlers their state.
    pub fn with_state<S2: Clone + Send + Sync + 'static>(self, state: S) -> Routes<S2> {
        Routes {
            router: self.router.with_state(state),
            paths: self.paths,
        }
    }

    /// The paths registered so far, in registration order.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }
}

impl Routes<()> {
    /// The finished service: the shared layers of [`service_layers`] applied.
    pub fn finish(self, style: FaultStyle, body_limit: usize) -> Api {
        Api {
            router: service_layers(self.router, style, body_limit),
            routes: self.paths,
        }
    }
}

/// A service's HTTP API: its router and the paths it serves.
pub struct Api {
    pub router: Router,
    /// Every path of `router`, as registered (`/v3/users/{id}`).
    pub routes: Vec<String>,
}

/// Wrap a service's router with the shared layers: fault rendering in the service's style,
/// unknown-path and wrong-method faults, a request body limit, request ids and logs. They
/// wrap the router as a whole (see [`crate::layers`]), as the fallback service of an
/// outer router that has no routes of its own.
pub fn service_layers(router: Router, style: FaultStyle, body_limit: usize) -> Router {
    let router = router
        .fallback(fault::not_found)
        .method_not_allowed_fallback(fault::method_not_allowed);
    Router::new().fallback_service(SharedLayers {
        inner: DefaultBodyLimit::max(body_limit).layer(router),
        style,
    })
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    #[test]
    fn every_path_is_recorded() {
        let inner = Routes::<()>::new().route("/b/{id}", get(|| async { "b" }));
        let api = Routes::new()
            .route("/a", get(|| async { "a" }))
            .merge(inner)
            .finish(FaultStyle::Glance, 1024);
        assert_eq!(api.routes, ["/a", "/b/{id}"]);
    }
}

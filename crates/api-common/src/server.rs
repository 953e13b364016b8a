//! Serving a service router: the layers every service gets, and graceful shutdown.

use std::{future::Future, net::SocketAddr};

use axum::{extract::DefaultBodyLimit, middleware, Router};
use tokio::net::TcpListener;

use crate::{fault, request_id, FaultStyle};

/// Wrap a service's router with the shared layers: fault rendering in the service's style,
/// unknown-path and wrong-method faults, a request body limit, request ids and logs.
pub fn service_layers(router: Router, style: FaultStyle, body_limit: usize) -> Router {
    router
        .fallback(fault::not_found)
        .method_not_allowed_fallback(fault::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(style, fault::fault_layer))
        .layer(middleware::from_fn(request_id::request_id_layer))
}

/// Bind a listener, reporting the address in the error.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serve `router` on `listener` until `shutdown` resolves, then drain in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

//! The layers every service router gets, as one service around the router: a request
//! id and a request log, fault rendering in the service's style, and the request body
//! limit (see [`crate::routes::service_layers`]).
//!
//! One hand-written service rather than three `middleware::from_fn` layers applied with
//! `Router::layer`: axum applies such a layer to every route separately, so each request
//! went through three boxed middlewares, each cloning the boxed route below it (and that
//! route the one below, and so on). Wrapped once around the whole router, a request costs
//! one boxed future here and a clone of the router (a reference count).

use std::{
    convert::Infallible,
    task::{Context, Poll},
    time::Instant,
};

use axum::{extract::Request, response::Response};
use futures::future::BoxFuture;
use http::header;
use tower::Service;

use crate::{
    fault::{render_fault, FaultStyle},
    request_id::{self, RequestId},
};

/// Where request log lines go (one per request, at `info`).
const LOG_TARGET: &str = "oxistack::request";

/// The shared layers around `inner` (the router with its body limit).
#[derive(Clone)]
pub(crate) struct SharedLayers<S> {
    pub inner: S,
    pub style: FaultStyle,
}

impl<S> Service<Request> for SharedLayers<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = request_id::new_id();
        let id_header = request_id::header_value(&id);
        // Only Glance's faults depend on what the client accepts.
        let accept = match self.style {
            FaultStyle::Glance => req.headers().get(header::ACCEPT).cloned(),
            _ => None,
        };
        // What the log line shows, read only when the line is written.
        let logged = tracing::enabled!(target: LOG_TARGET, tracing::Level::INFO).then(|| {
            (
                id.clone(),
                req.method().clone(),
                req.uri().path().to_owned(),
                Instant::now(),
            )
        });
        req.extensions_mut().insert(RequestId(id.clone()));
        let style = self.style;
        // The clone takes the place of the service made ready by `poll_ready`.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let resp = match ready.call(req).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            };
            let mut resp = render_fault(style, accept.as_ref(), &id, resp);
            if let Some((id, method, path, start)) = logged {
                tracing::info!(
                    target: LOG_TARGET,
                    request_id = %id,
                    %method,
                    path,
                    status = resp.status().as_u16(),
                    micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
                );
            }
            if let Some(v) = id_header {
                resp.headers_mut().insert(request_id::HEADER, v);
            }
            Ok(resp)
        })
    }
}

//! `impl IntoResponse for Error`, behind the `axum` feature that only api-common turns on.
//!
//! Handlers return `Result<_, Error>`, and axum needs that error to be `IntoResponse`. The
//! orphan rule allows the impl only here (where `Error` is) or in axum, so this crate
//! carries the one impl, and nothing else of HTTP: the response it makes is a placeholder
//! (500, empty) holding the error in its extensions. `api_common::fault::fault_layer`,
//! which every service router has, replaces it with the status and fault body of the
//! service's style. A 500 is what a router without that layer would show, rightly: a
//! router that cannot render errors is a bug.

use std::sync::Arc;

use axum_core::response::{IntoResponse, Response};

use super::Error;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut resp = Response::default();
        *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        resp.extensions_mut().insert(Arc::new(self));
        resp
    }
}

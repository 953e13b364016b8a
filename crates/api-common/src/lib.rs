//! HTTP plumbing shared by every oxistack service.
//!
//! Only this crate (and each service's `api` module) knows about HTTP. Services build an
//! axum `Router` whose handlers return `Result<_, Error>`; [`service_layers`] wraps it
//! with request ids, request logs, body limits and the service's own fault format.

pub mod auth;
mod connection;
pub mod error;
pub mod fault;
pub mod fixed_tokens;
pub mod json;
mod layers;
pub mod microversion;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod version;
pub mod visibility;

pub use auth::{AuthContext, Ctx, TokenValidator};
pub use error::{Error, ErrorKind, Result};
pub use fault::status;
pub use fault::FaultStyle;
pub use json::ApiJson;
pub use microversion::Microversion;

//! The error type of every service: [`types::Error`], re-exported so that
//! `api_common::Error` names it as before. It knows nothing of HTTP; [`crate::fault`]
//! maps its kinds to statuses and renders it in each service's fault style.

pub use types::error::{Error, ErrorKind, Report, Resource, Result};

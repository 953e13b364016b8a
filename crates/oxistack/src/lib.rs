//! The oxistack binary as a library: the registry of services, the configuration, and
//! the wiring that `up` and `serve` share, so tests can run the whole cloud in-process
//! exactly as the binary does.

pub mod cloud;
pub mod config;
pub mod files;
pub mod manage;
pub mod service_auth;
pub mod services;
pub mod status;
pub mod test_image;
pub mod up;

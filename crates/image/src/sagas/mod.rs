//! The image service's sagas (see the `saga` crate): multi-step work that must end
//! done or undone, whatever crashes on the way.
//!
//! - [`import`]: interoperable import (`glance-direct`, `web-download`).

pub mod import;

use std::sync::Arc;

use crate::Image;

/// Every saga of the service, for its executor.
pub fn all() -> Vec<saga::Saga<Arc<Image>>> {
    vec![import::glance_direct(), import::web_download()]
}

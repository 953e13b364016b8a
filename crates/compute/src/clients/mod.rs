//! The other services' public APIs, as Nova calls them: Image (Glance v2) and Network
//! (Neutron v2.0), over HTTP at the endpoints of the catalog, with the service user's
//! token (and the user's, where the user's view matters: an image the user may not see
//! is not found).

pub mod image;
pub mod network;
pub mod placement;

use std::collections::BTreeMap;

use service::ServiceToken;

pub use service::client::{As, Http};

pub use image::ImageClient;
pub use network::NetworkClient;

/// The other services' clients.
#[derive(Clone)]
pub struct Clients {
    pub image: ImageClient,
    pub network: NetworkClient,
}

impl Clients {
    pub fn new(token: ServiceToken, endpoints: &BTreeMap<&'static str, String>) -> Clients {
        Clients {
            image: ImageClient {
                http: Http::new(token.clone(), endpoints, "image"),
            },
            network: NetworkClient {
                http: Http::new(token, endpoints, "network"),
            },
        }
    }
}

/// A query string from pairs (values escaped).
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    format!("?{}", s.finish())
}

//! `x-openstack-request-id` on every response, and one structured log line per request
//! (both done by the shared layers, [`crate::routes::service_layers`]).

use http::HeaderValue;

pub const HEADER: &str = "x-openstack-request-id";

/// The id of the request being served, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// `req-` and a random UUID, as OpenStack's request ids are.
pub fn new_id() -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let uuid = uuid::Uuid::new_v4();
    let mut id = String::with_capacity(4 + buf.len());
    id.push_str("req-");
    id.push_str(uuid.hyphenated().encode_lower(&mut buf));
    id
}

/// A request id as a header value.
pub fn header_value(id: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_openstack_request_ids() {
        let id = new_id();
        assert_eq!(id.len(), 40, "{id}");
        assert!(id.starts_with("req-"), "{id}");
        assert!(uuid::Uuid::parse_str(&id[4..]).is_ok(), "{id}");
        assert_ne!(new_id(), id);
        assert!(header_value(&id).is_some());
    }
}

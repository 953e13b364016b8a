//! Version discovery documents, which keystoneauth and openstacksdk read first.

use serde_json::{json, Value};

/// One API version of a service.
#[derive(Debug, Clone)]
pub struct ApiVersion {
    /// e.g. `v3.14`, `v2.1`, `v2.0`
    pub id: &'static str,
    pub status: &'static str,
    pub updated: &'static str,
    /// Path below the service root, e.g. `/v3/`
    pub path: &'static str,
    pub media_type: &'static str,
    /// Microversion range, when the service has microversions.
    pub min_version: Option<&'static str>,
    pub max_version: Option<&'static str>,
}

impl ApiVersion {
    /// The version entry, with links relative to `base` (the service's public root URL).
    pub fn document(&self, base: &str) -> Value {
        let mut v = json!({
            "id": self.id,
            "status": self.status,
            "updated": self.updated,
            "links": [{"rel": "self", "href": format!("{}{}", base.trim_end_matches('/'), self.path)}],
            "media-types": [{"base": "application/json", "type": self.media_type}],
        });
        if let (Some(min), Some(max)) = (self.min_version, self.max_version) {
            v["min_version"] = json!(min);
            v["version"] = json!(max);
        }
        v
    }
}

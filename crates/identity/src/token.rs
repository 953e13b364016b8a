//! The token format: a Fernet token (encrypted and authenticated) around a compact JSON
//! payload. Tokens are not stored: validation decrypts the payload and re-checks the
//! user, the scope, the roles and the revocation events.

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "u")]
    Unscoped,
    #[serde(rename = "p")]
    Project(String),
    #[serde(rename = "d")]
    Domain(String),
    #[serde(rename = "s")]
    System,
}

/// The authentication methods a token was obtained with, as a bit set.
pub const METHODS: &[&str] = &["password", "token", "application_credential"];

/// The decrypted content of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "m")]
    pub methods: u8,
    #[serde(rename = "s")]
    pub scope: Scope,
    /// Issued at, microseconds since the epoch.
    #[serde(rename = "i")]
    pub issued_at: i64,
    /// Expires at, microseconds since the epoch.
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// This token's audit id, then the audit id of the chain it was rescoped from.
    #[serde(rename = "a")]
    pub audit_ids: Vec<String>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub app_cred_id: Option<String>,
}

impl Payload {
    pub fn method_names(&self) -> Vec<String> {
        METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.methods & (1 << i) != 0)
            .map(|(_, m)| (*m).to_owned())
            .collect()
    }

    pub fn issued(&self) -> DateTime<Utc> {
        micros_to_time(self.issued_at)
    }

    pub fn expires(&self) -> DateTime<Utc> {
        micros_to_time(self.expires_at)
    }

    /// The first audit id of the chain (the original token's).
    pub fn audit_chain_id(&self) -> &str {
        self.audit_ids.last().map(String::as_str).unwrap_or("")
    }
}

pub fn method_bits(names: &[String]) -> u8 {
    names
        .iter()
        .filter_map(|n| METHODS.iter().position(|m| m == n))
        .fold(0, |acc, i| acc | (1 << i))
}

pub fn micros_to_time(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

/// A random audit id: 16 bytes, URL-safe base64 without padding (as Keystone's).
pub fn new_audit_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Keystone's timestamp format: `2026-11-23T21:00:00.000000Z`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip_and_methods() {
        let p = Payload {
            user_id: "u1".into(),
            methods: method_bits(&["password".into(), "token".into()]),
            scope: Scope::Project("p1".into()),
            issued_at: 1_700_000_000_000_000,
            expires_at: 1_700_003_600_000_000,
            audit_ids: vec![new_audit_id()],
            app_cred_id: None,
        };
        let json = serde_json::to_vec(&p).unwrap();
        assert_eq!(serde_json::from_slice::<Payload>(&json).unwrap(), p);
        assert_eq!(p.method_names(), vec!["password", "token"]);
        assert_eq!(p.audit_ids[0].len(), 22);
        assert_eq!(iso(p.issued()), "2023-11-14T22:13:20.000000Z");
    }
}

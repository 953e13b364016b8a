//! User-token validation for services that run without identity in the same process:
//! they ask Keystone, as keystonemiddleware does, with the service user's token (the
//! kit's [`service::ServiceToken`], configured by `[service_auth]`).

use std::time::Duration;

use api_common::auth::RemoteValidator;
pub use service::{ServiceAuthConfig, ServiceToken};

/// A validator that asks the identity service at `token`'s auth URL about user tokens.
pub fn remote_validator(cfg: &ServiceAuthConfig, token: &ServiceToken) -> RemoteValidator {
    RemoteValidator::new(
        token.auth_url().to_owned(),
        token.as_fn(),
        Duration::from_secs(cfg.cache_seconds),
    )
}

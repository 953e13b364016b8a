//! The VNC console proxy (nova-novncproxy): a browser's noVNC opens a websocket to
//! `/?token=...` (or `/websockify?token=...`); the proxy asks [`Consoles`] which VNC
//! server the token opens (a guest's, on its compute host), refuses a token that is
//! unknown or expired, and relays bytes both ways, binary frames on the websocket side.
//! The token is the only credential, as in Nova: whoever holds a valid one sees that
//! console until it expires.
//!
//! Compute issues tokens (`openstack console url show`) and implements [`Consoles`];
//! [`tokens::MemoryTokens`] keeps them in memory with Nova's expiry, for one process.
//! [`service::ConsoleProxyService`] runs the proxy as a service of oxistack (no catalog
//! entry, port 6080).

pub mod api;
pub mod config;
pub mod service;
pub mod tokens;

use std::net::SocketAddr;

use async_trait::async_trait;
use types::Error;

pub use config::Config;

/// Which VNC server a console token opens.
#[async_trait]
pub trait Consoles: Send + Sync + 'static {
    /// The VNC server of a valid token; `None` when the token is unknown or expired.
    async fn resolve(&self, token: &str) -> Result<Option<SocketAddr>, Error>;
}

/// The URL `console url show` gives for a token: noVNC's page at `base`
/// (`http://host:6080/vnc_auto.html`, Nova's `novncproxy_base_url`), told to open the
/// websocket at `?token=<token>`.
pub fn console_url(base: &str, token: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}path=%3Ftoken%3D{token}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_console_url_is_novas() {
        assert_eq!(
            super::console_url("http://127.0.0.1:6080/vnc_auto.html", "t0k"),
            "http://127.0.0.1:6080/vnc_auto.html?path=%3Ftoken%3Dt0k"
        );
    }
}

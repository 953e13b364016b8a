//! The `[bus]` section of the configuration.

use serde::{Deserialize, Serialize};

/// Which transport the services talk over, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// The message broker, as `amqp://user:password@host:port/vhost` (the default vhost
    /// `/` is written `%2f`). Unset: the in-process transport, which reaches only the
    /// services of this process (what `oxistack up` runs).
    pub url: Option<String>,
    /// The AMQP topic exchange that carries every topic, like oslo.messaging's
    /// `control_exchange`; clouds sharing a broker keep apart by naming theirs.
    pub control_exchange: String,
    /// Seconds between AMQP heartbeats, so a dead broker or peer is noticed without
    /// TCP timeouts (unless the URL sets `?heartbeat=`). 0 turns heartbeats off.
    pub heartbeat_secs: u16,
    /// Seconds to wait for the broker at start and, while it is away, for a `cast` or
    /// `fanout` to be sent, before failing.
    pub connect_timeout_secs: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            url: None,
            control_exchange: "oxistack".into(),
            heartbeat_secs: 10,
            connect_timeout_secs: 10,
        }
    }
}

//! What the bus tests share: the transports to run against, and a private broker.
use std::{path::PathBuf, process::Command, sync::Arc};

use bus::{BusConfig, Transport};

pub const AMQP_URL_ENV: &str = "OXISTACK_TEST_AMQP_URL";

/// The broker of `OXISTACK_TEST_AMQP_URL`, or `None` after saying by name that `test`
/// is skipped. Under CI (`CI` set) a missing broker fails the test; scripts/test
/// always sets the variable (it starts a broker, or fails).
pub fn amqp_url(test: &str) -> Option<String> {
    match std::env::var(AMQP_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        // a failure under scripts/test and CI, a named skip in a bare `cargo test`
        _ => {
            db::testing::missing(&format!("{test} over AMQP: {AMQP_URL_ENV} is not set"));
            None
        }
    }
}

/// A bus on `url` with a control exchange of its own, so tests do not meet.
pub async fn amqp(url: &str) -> Arc<dyn Transport> {
    bus::connect(&amqp_config(url))
        .await
        .expect("connect to the test broker")
}

pub fn amqp_config(url: &str) -> BusConfig {
    BusConfig {
        url: Some(url.into()),
        control_exchange: format!("test-{}", uuid::Uuid::new_v4().simple()),
        ..BusConfig::default()
    }
}

pub async fn in_process() -> Arc<dyn Transport> {
    bus::connect(&BusConfig::default())
        .await
        .expect("in-process bus")
}

/// A RabbitMQ broker of the test's own (scripts/rabbitmq-private), removed when dropped.
pub struct Broker {
    dir: PathBuf,
    pub url: String,
}

fn script(args: &[&str]) -> String {
    // The checkout whose tests run (see e2e::workspace_root for why at run time).
    let dir =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let path = format!("{dir}/../../scripts/rabbitmq-private");
    let out = Command::new(&path)
        .args(args)
        .output()
        .expect("run scripts/rabbitmq-private");
    assert!(
        out.status.success(),
        "scripts/rabbitmq-private {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

impl Broker {
    pub fn start() -> Broker {
        let dir = std::env::temp_dir().join(format!(
            "oxistack-bus-broker-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let url = script(&["start", dir.to_str().expect("utf-8 path")]);
        Broker { dir, url }
    }
    pub fn stop(&self) {
        script(&["stop", self.dir.to_str().expect("utf-8 path")]);
    }
    pub fn restart(&self) {
        script(&["start", self.dir.to_str().expect("utf-8 path")]);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        script(&["remove", self.dir.to_str().expect("utf-8 path")]);
    }
}

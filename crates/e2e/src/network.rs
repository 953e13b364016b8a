//! What the tests of the Networking service with real packets share: the cloud inside
//! a host namespace, VMs plugged on ports of the demo project, waiting for a state.

use std::net::IpAddr;

use serde_json::Value;

pub use crate::eventually;
use crate::{
    netns::{self, Netns, Vm},
    Cloud, Engine, ADMIN,
};

/// `v[key]` as a string (the test fails without it).
#[track_caller]
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The cloud inside a fresh host namespace (`None`: this machine cannot run it).
pub fn host_cloud(engine: Engine) -> Option<(Netns, Cloud)> {
    host_cloud_with(engine, |_, _| {})
}

/// [`host_cloud`], with `configure` called before the cloud starts (given the host
/// namespace: what the agent reaches must run in it).
pub fn host_cloud_with(
    engine: Engine,
    configure: impl FnOnce(&Netns, &mut Cloud),
) -> Option<(Netns, Cloud)> {
    if !netns::available() {
        return None;
    }
    let host = Netns::new("oxi-host");
    let mut c = Cloud::new(engine)?;
    c.in_netns(&host);
    configure(&host, &mut c);
    c.up();
    Some((host, c))
}

/// A port of the demo project on `net`, bound to the agent's host (as Compute binds a
/// server's port), and a VM plugged on it.
pub fn vm(c: &Cloud, host: &Netns, net: &str, name: &str, extra: &[&str]) -> (Value, Vm) {
    let mut args = vec![
        "port",
        "create",
        "--network",
        net,
        "--project",
        "demo",
        "--host",
        "h1",
    ];
    args.extend_from_slice(extra);
    args.push(name);
    let port = c.os_json(ADMIN, &args);
    let v = Vm::plug(host, s(&port, "id"), s(&port, "mac_address"));
    (port, v)
}

/// The port's first fixed IP.
pub fn fixed_ip(port: &Value) -> IpAddr {
    s(&port["fixed_ips"][0], "ip_address").parse().unwrap()
}

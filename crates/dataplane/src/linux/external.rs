//! The external network in routed mode ([`ExternalMode::Routed`]), for hosts whose
//! uplink drops frames from MACs it did not assign (a cloud VM). The external
//! network's bridge keeps no uplink (the plan's flat interface is ignored), and in the
//! host namespace:
//! - `net.ipv4.ip_forward=1` (the host routes between the uplink and the bridge);
//! - a `/32` route (`proto 77 scope link dev brq<ext>`) for every floating IP, port
//!   forwarding IP and router gateway address of this host's routers, so they are
//!   reached through the bridge even when the external subnet is also the uplink's;
//! - a proxy neighbour entry on the uplink for each of them (`ip neigh show proxy`)
//!   and `net.ipv4.neigh.<uplink>.proxy_delay=0`: the host answers ARP for them on the
//!   uplink with the uplink's own MAC, at once, so a neighbour on the uplink's link
//!   sends their traffic to the host;
//! - an inet nat chain `ext_snat` in the host's table:
//!   `oifname "<uplink>" ip saddr { <external subnets> } masquerade`: what routers
//!   (SNAT and floating IPs) send out leaves with the uplink's address. Connections
//!   opened *to* a floating IP from outside are not masqueraded (NAT is decided on a
//!   connection's first packet), so their replies come from the floating IP.
//!
//! The uplink named is kept in `<state dir>/external-uplink`, so that leaving routed
//! mode (or changing the uplink) removes the proxy entries. Forwarding stays enabled.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::netlink::Netlink;
use super::nft::{Chain, Family};
use super::route::Route;
use super::router::{ensure_sysctl, floating_addresses};
use super::{Links, Linux};
use crate::names;
use crate::plan::{ExternalMode, HostPlan};
use crate::Error;

/// What routed mode needs of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed {
    /// The external network.
    pub network_id: String,
    /// The host's real interface.
    pub uplink: String,
    /// The addresses routed to the bridge and proxied on the uplink.
    pub addresses: BTreeSet<IpAddr>,
    /// The external subnets masqueraded on the way out (IPv4).
    pub subnets: Vec<IpNet>,
}

/// The routed-mode part of a plan, if its external network is routed.
pub fn routed(plan: &HostPlan) -> Option<Routed> {
    let ext = plan.external.as_ref()?;
    let ExternalMode::Routed { uplink } = &ext.mode else {
        return None;
    };
    let mut addresses = BTreeSet::new();
    let mut subnets = BTreeSet::new();
    for r in &plan.routers {
        let Some(g) = r
            .gateway
            .as_ref()
            .filter(|g| g.network_id == ext.network_id)
        else {
            continue;
        };
        addresses.extend(g.addresses.iter().map(IpNet::addr));
        addresses.extend(floating_addresses(r));
        subnets.extend(g.addresses.iter().map(IpNet::trunc));
    }
    let host_address = plan
        .networks
        .iter()
        .find(|n| n.id == ext.network_id)
        .and_then(|n| n.host_address);
    subnets.extend(host_address.map(|a| a.trunc()));
    Some(Routed {
        network_id: ext.network_id.clone(),
        uplink: uplink.clone(),
        addresses: addresses.into_iter().filter(IpAddr::is_ipv4).collect(),
        subnets: super::sg::disjoint(
            subnets
                .into_iter()
                .filter(|n| matches!(n, IpNet::V4(_)))
                .collect(),
        ),
    })
}

/// The host's masquerade chain in routed mode.
pub fn chains(routed: Option<&Routed>) -> Vec<Chain> {
    let Some(r) = routed.filter(|r| !r.subnets.is_empty()) else {
        return Vec::new();
    };
    let subnets: Vec<String> = r.subnets.iter().map(|s| s.to_string()).collect();
    vec![Chain {
        family: Family::Inet,
        name: "ext_snat".into(),
        base: Some("type nat hook postrouting priority srcnat; policy accept;".into()),
        rules: vec![format!(
            "oifname \"{}\" ip saddr {{ {} }} masquerade",
            r.uplink,
            subnets.join(", ")
        )],
    }]
}

impl Linux {
    fn uplink_file(&self) -> std::path::PathBuf {
        self.config.state_dir.join("external-uplink")
    }

    /// Routes, proxy entries and sysctls of routed mode (the chains go with the host's
    /// other chains); with `None`, what a previous routed mode left is removed.
    pub(super) async fn ensure_external(
        &self,
        nl: &Netlink,
        links: &Links,
        routed: Option<&Routed>,
        changes: &mut Vec<String>,
    ) -> Result<(), Error> {
        let mut want = BTreeSet::new();
        if let Some(r) = routed {
            let bridge = links.require(&names::bridge(&r.network_id))?;
            want.extend(r.addresses.iter().map(|a| Route {
                dst: IpNet::from(*a),
                via: None,
                dev: Some(bridge.index),
            }));
        }
        changes.extend(nl.reconcile_routes(&want, "the external network").await?);

        let file = self.uplink_file();
        let saved = match std::fs::read_to_string(&file) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(format!("reading {}", file.display()))(e)),
        };
        let previous = saved
            .as_deref()
            .filter(|old| routed.is_none_or(|r| r.uplink != *old));
        if let Some(link) = previous.and_then(|old| links.get(old)) {
            changes.extend(
                nl.reconcile_proxies(link.index, &link.name, &BTreeSet::new())
                    .await?,
            );
        }
        let Some(r) = routed else {
            if saved.is_some() {
                std::fs::remove_file(&file)
                    .map_err(Error::io(format!("removing {}", file.display())))?;
            }
            return Ok(());
        };
        if saved.as_deref() != Some(r.uplink.as_str()) {
            std::fs::write(&file, &r.uplink)
                .map_err(Error::io(format!("writing {}", file.display())))?;
        }
        let uplink = links.get(&r.uplink).ok_or_else(|| {
            Error::Plan(format!(
                "uplink {} of the external network does not exist",
                r.uplink
            ))
        })?;
        if ensure_sysctl(None, "net/ipv4/ip_forward", "1")? {
            changes.push("enabled forwarding in the host".into());
        }
        let delay = format!("net/ipv4/neigh/{}/proxy_delay", r.uplink);
        if ensure_sysctl(None, &delay, "0")? {
            changes.push(format!("set proxy_delay 0 on {}", r.uplink));
        }
        changes.extend(
            nl.reconcile_proxies(uplink.index, &uplink.name, &r.addresses)
                .await?,
        );
        Ok(())
    }
}

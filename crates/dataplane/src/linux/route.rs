//! Routes and proxy neighbour entries through rtnetlink, reconciled as sets.
//!
//! The routes the dataplane adds carry their own protocol number ([`PROTOCOL`]), so a
//! read finds exactly its own among the namespace's routes: kernel routes (connected
//! subnets) and routes someone else added are never touched.

use std::collections::BTreeSet;
use std::net::IpAddr;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::AddressFamily;

use super::netlink::Netlink;
use crate::Error;

/// The protocol of the routes the dataplane owns (`ip route` shows `proto 77`); not
/// among the numbers iproute2 or routing daemons use.
pub const PROTOCOL: u8 = 77;

/// One route: a destination, through a next hop or straight out of a device.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// The destination prefix.
    pub dst: IpNet,
    /// The next hop (the kernel picks the device).
    pub via: Option<IpAddr>,
    /// The device, for routes without a next hop (`scope link`).
    pub dev: Option<u32>,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.dst)?;
        if let Some(via) = self.via {
            write!(f, " via {via}")?;
        }
        if let Some(dev) = self.dev {
            write!(f, " dev #{dev}")?;
        }
        Ok(())
    }
}

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn message(route: &Route) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family(route.dst.addr());
    m.header.destination_prefix_length = route.dst.prefix_len();
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::Other(PROTOCOL);
    m.header.kind = RouteType::Unicast;
    m.header.scope = if route.via.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(
            route.dst.network(),
        )));
    if let Some(via) = route.via {
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(via)));
    }
    if let Some(dev) = route.dev {
        m.attributes.push(RouteAttribute::Oif(dev));
    }
    m
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn route_of(m: &RouteMessage) -> Option<Route> {
    let mut dst = None;
    let mut via = None;
    let mut dev = None;
    for attr in &m.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = ip_of(a),
            RouteAttribute::Gateway(a) => via = ip_of(a),
            RouteAttribute::Oif(i) => dev = Some(*i),
            _ => {}
        }
    }
    let dst = match (dst, m.header.address_family) {
        (Some(d), _) => d,
        (None, AddressFamily::Inet6) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        (None, _) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    };
    Some(Route {
        dst: IpNet::new(dst, m.header.destination_prefix_length).ok()?,
        // a route through a next hop is compared without its device
        dev: if via.is_some() { None } else { dev },
        via,
    })
}

impl Netlink {
    /// The dataplane's routes in the main table (both families).
    async fn own_routes(&self) -> Result<Vec<(Route, RouteMessage)>, Error> {
        let mut out = Vec::new();
        for af in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut query = RouteMessage::default();
            query.header.address_family = af;
            let messages: Vec<RouteMessage> = self
                .handle
                .route()
                .get(query)
                .execute()
                .try_collect()
                .await
                .map_err(Error::netlink("listing routes"))?;
            out.extend(
                messages
                    .into_iter()
                    .filter(|m| {
                        m.header.protocol == RouteProtocol::Other(PROTOCOL)
                            && m.header.table == RouteHeader::RT_TABLE_MAIN
                    })
                    .filter_map(|m| Some((route_of(&m)?, m))),
            );
        }
        Ok(out)
    }

    /// Make the dataplane's routes exactly `want`; returns what changed, readable
    /// (`what` says whose routes they are).
    pub async fn reconcile_routes(
        &self,
        want: &BTreeSet<Route>,
        what: &str,
    ) -> Result<Vec<String>, Error> {
        let mut changes = Vec::new();
        let have = self.own_routes().await?;
        let present: BTreeSet<&Route> = have.iter().map(|(r, _)| r).collect();
        for (route, msg) in &have {
            if !want.contains(route) {
                self.handle
                    .route()
                    .del(msg.clone())
                    .execute()
                    .await
                    .map_err(Error::netlink(format!("deleting route {route} of {what}")))?;
                changes.push(format!("deleted route {route} of {what}"));
            }
        }
        for route in want.iter().filter(|r| !present.contains(r)) {
            self.handle
                .route()
                .add(message(route))
                .execute()
                .await
                .map_err(Error::netlink(format!("adding route {route} of {what}")))?;
            changes.push(format!("added route {route} of {what}"));
        }
        Ok(changes)
    }

    /// Make the proxy neighbour entries of device `dev` (ifindex) exactly `want`: the
    /// kernel answers ARP (or NDP) for those addresses on `dev` when it forwards them
    /// elsewhere. Returns what changed.
    pub async fn reconcile_proxies(
        &self,
        dev: u32,
        name: &str,
        want: &BTreeSet<IpAddr>,
    ) -> Result<Vec<String>, Error> {
        let messages: Vec<NeighbourMessage> = self
            .handle
            .neighbours()
            .get()
            .proxies()
            .execute()
            .try_collect()
            .await
            .map_err(Error::netlink("listing proxy neighbours"))?;
        let mut have = BTreeSet::new();
        let mut changes = Vec::new();
        for m in messages.into_iter().filter(|m| m.header.ifindex == dev) {
            let ip = m.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                    Some(IpAddr::V4(*v4))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                    Some(IpAddr::V6(*v6))
                }
                _ => None,
            });
            let Some(ip) = ip else { continue };
            if want.contains(&ip) {
                have.insert(ip);
                continue;
            }
            self.handle
                .neighbours()
                .del(m)
                .execute()
                .await
                .map_err(Error::netlink(format!("deleting proxy {ip} on {name}")))?;
            changes.push(format!("deleted proxy neighbour {ip} on {name}"));
        }
        for ip in want.difference(&have) {
            self.handle
                .neighbours()
                .add(dev, *ip)
                .flags(NeighbourFlags::Proxy)
                .execute()
                .await
                .map_err(Error::netlink(format!("adding proxy {ip} on {name}")))?;
            changes.push(format!("added proxy neighbour {ip} on {name}"));
        }
        Ok(changes)
    }
}

//! Routers, as Neutron's L3 agent builds them: a `qrouter-<id>` namespace per router with
//! `net.ipv4.ip_forward=1` (in it only), one veth per router port (`qr-`/`qg-` inside,
//! `tr-`/`tg-` plugged into the network's bridge), the routes, and one nft table
//! (`ip <owner>`) doing the NAT:
//! - `prerouting` (dstnat): port forwardings (`ip daddr F tcp dport P dnat to I:Q`),
//!   then floating IPs 1:1 (`dnat to ip daddr map { F : X }`);
//! - `postrouting` (srcnat): connections DNATed from inside back inside (a VM reaching
//!   another's floating IP) are masqueraded to the router's `qr-` address, so the
//!   answer comes back through the router; then, only on packets leaving `qg-`:
//!   floating IPs 1:1 (`snat to ip saddr map { X : F }`), then, with `enable_snat`,
//!   everything from the internal subnets (and the destinations of extra routes) to
//!   the first gateway address.
//!
//! - radvd advertising the IPv6 subnets with a RA mode ([`super::ra`]), with
//!   `net.ipv6.conf.all.forwarding=1` in the namespace;
//! - with [`RouterPlan::metadata`]: first in `prerouting`, guests' TCP to
//!   169.254.169.254:80 arriving on a `qr-` device is redirected to the metadata proxy's
//!   port in the namespace (REDIRECT keeps the source: it names the instance), and an
//!   `input` chain drops connections to that port that were not redirected.
//!
//! NAT is decided on a connection's first packet, so replies to forwarded connections
//! are never rewritten by the general SNAT. The floating IPs (and port forwarding
//! IPs) are /32 addresses on `qg-`: the namespace answers ARP for them. A router's
//! namespace is owned when `<state dir>/routers/<id>` exists.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::daemon::{write_if_changed, Supervisor};
use super::netlink::{self, Netlink};
use super::nft::{self, Chain, Family};
use super::route::Route;
use super::{cmd, ra, Links, Linux};
use crate::names;
use crate::plan::{NetworkPlan, RouterGateway, RouterPlan, METADATA_ADDRESS, METADATA_PROXY_PORT};
use crate::Error;

/// One router port: the veth pair and what the namespace end carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The end inside the namespace (`qr-`/`qg-`).
    pub inner: String,
    /// The end plugged into the bridge (`tr-`/`tg-`).
    pub peer: String,
    /// Its network.
    pub network_id: String,
    /// The port's MAC.
    pub mac: String,
    /// The addresses of the inner end (floating IPs as /32 included on `qg-`).
    pub addresses: BTreeSet<IpNet>,
}

/// The floating addresses held on `qg-`: the floating IPs and the port forwardings' IPs.
pub fn floating_addresses(r: &RouterPlan) -> BTreeSet<IpAddr> {
    r.floating_ips
        .iter()
        .map(|f| f.floating_ip)
        .chain(r.port_forwardings.iter().map(|p| p.external_ip))
        .collect()
}

/// The router's ports (the gateway first). Floating IPs need a gateway: without one
/// they are not held anywhere.
pub fn devices(r: &RouterPlan) -> Vec<Device> {
    let mut out = Vec::new();
    if let Some(g) = &r.gateway {
        let mut addresses: BTreeSet<IpNet> = g.addresses.iter().copied().collect();
        addresses.extend(floating_addresses(r).into_iter().map(IpNet::from));
        out.push(Device {
            inner: names::router_gateway(&g.port_id),
            peer: names::router_gateway_peer(&g.port_id),
            network_id: g.network_id.clone(),
            mac: g.mac.to_lowercase(),
            addresses,
        });
    }
    for i in &r.interfaces {
        out.push(Device {
            inner: names::router_internal(&i.port_id),
            peer: names::router_internal_peer(&i.port_id),
            network_id: i.network_id.clone(),
            mac: i.mac.to_lowercase(),
            addresses: i.addresses.iter().copied().collect(),
        });
    }
    out
}

/// The router's routes: the default route through the gateway, and its extra routes.
pub fn routes(r: &RouterPlan) -> BTreeSet<Route> {
    let default = r
        .gateway
        .as_ref()
        .and_then(|g| g.gateway_ip)
        .map(|via| Route {
            dst: match via {
                IpAddr::V4(_) => "0.0.0.0/0".parse().expect("a prefix"),
                IpAddr::V6(_) => "::/0".parse().expect("a prefix"),
            },
            via: Some(via),
            dev: None,
        });
    default
        .into_iter()
        .chain(r.routes.iter().map(|h| Route {
            dst: h.destination.trunc(),
            via: Some(h.nexthop),
            dev: None,
        }))
        .collect()
}

fn v4_set<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    format!("{{ {} }}", items.join(", "))
}

/// The metadata redirect of a router (first in `prerouting`) and the `input` rules
/// that keep its proxy's port closed to what was not redirected (from `qg-`, or to the
/// router's own address directly); none unless [`RouterPlan::metadata`].
pub fn metadata_rules(r: &RouterPlan) -> (Vec<String>, Vec<String>) {
    if !r.metadata {
        return (Vec::new(), Vec::new());
    }
    let port = METADATA_PROXY_PORT;
    let pre = vec![format!(
        "iifname \"qr-*\" ip daddr {METADATA_ADDRESS} tcp dport 80 redirect to :{port}"
    )];
    let input = vec![
        format!("tcp dport {port} ct status dnat accept"),
        format!("tcp dport {port} drop"),
    ];
    (pre, input)
}

/// The router's chains (see the module docs): metadata, and NAT with a gateway.
pub fn chains(r: &RouterPlan) -> Result<Vec<Chain>, Error> {
    let (mut pre, input) = metadata_rules(r);
    let (nat_pre, post) = match &r.gateway {
        Some(g) => nat_rules(r, g)?,
        None => (Vec::new(), Vec::new()),
    };
    pre.extend(nat_pre);
    let hooks = [
        (
            "prerouting",
            "type nat hook prerouting priority dstnat",
            pre,
        ),
        (
            "postrouting",
            "type nat hook postrouting priority srcnat",
            post,
        ),
        ("input", "type filter hook input priority filter", input),
    ];
    Ok(hooks
        .into_iter()
        .filter(|(_, _, rules)| !rules.is_empty())
        .map(|(name, hook, rules)| Chain {
            family: Family::Ip,
            name: name.into(),
            base: Some(format!("{hook}; policy accept;")),
            rules,
        })
        .collect())
}

/// The NAT rules of a router with a gateway: (prerouting, postrouting).
fn nat_rules(r: &RouterPlan, g: &RouterGateway) -> Result<(Vec<String>, Vec<String>), Error> {
    let qg = names::router_gateway(&g.port_id);
    let mut pre = Vec::new();
    for pf in &r.port_forwardings {
        let proto = match pf.protocol {
            6 => "tcp",
            17 => "udp",
            other => {
                return Err(Error::Plan(format!(
                    "router {}: port forwarding protocol {other} (only 6 and 17)",
                    r.id
                )))
            }
        };
        let (IpAddr::V4(ext), IpAddr::V4(int)) = (pf.external_ip, pf.internal_ip) else {
            return Err(Error::Plan(format!(
                "router {}: port forwardings are IPv4 only",
                r.id
            )));
        };
        pre.push(format!(
            "ip daddr {ext} {proto} dport {} dnat to {int}:{}",
            pf.external_port, pf.internal_port
        ));
    }
    let fips: Vec<_> = r
        .floating_ips
        .iter()
        .filter(|f| f.floating_ip.is_ipv4() && f.fixed_ip.is_ipv4())
        .collect();
    if fips.len() != r.floating_ips.len() {
        return Err(Error::Plan(format!(
            "router {}: floating IPs are IPv4 only",
            r.id
        )));
    }
    let mut post = Vec::new();
    if !pre.is_empty() || !fips.is_empty() {
        // hairpin: a VM reaching a floating IP (or port forwarding) from inside; its
        // peer behind the router must answer through the router, not straight back
        post.push(format!(
            "iifname != \"{qg}\" oifname != \"{qg}\" ct status dnat masquerade"
        ));
    }
    if !fips.is_empty() {
        let dnat = fips
            .iter()
            .map(|f| format!("{} : {}", f.floating_ip, f.fixed_ip));
        pre.push(format!("dnat to ip daddr map {}", v4_set(dnat)));
        let snat = fips
            .iter()
            .map(|f| format!("{} : {}", f.fixed_ip, f.floating_ip));
        post.push(format!(
            "oifname \"{qg}\" snat to ip saddr map {}",
            v4_set(snat)
        ));
    }
    let source = g.addresses.iter().find_map(|a| match a {
        IpNet::V4(a) => Some(a.addr()),
        IpNet::V6(_) => None,
    });
    if let (true, Some(source)) = (g.enable_snat, source) {
        let inside: BTreeSet<IpNet> = r
            .interfaces
            .iter()
            .flat_map(|i| i.addresses.iter().map(IpNet::trunc))
            .chain(r.routes.iter().map(|h| h.destination.trunc()))
            .filter(|n| matches!(n, IpNet::V4(_)))
            .collect();
        if !inside.is_empty() {
            post.push(format!(
                "oifname \"{qg}\" ip saddr {} snat to {source}",
                v4_set(super::sg::disjoint(inside.into_iter().collect()))
            ));
        }
    }
    Ok((pre, post))
}

/// Read `/proc/sys/<key>` in the namespace `ns` and set it to `value` when it differs;
/// returns whether it changed. IPv6 keys of a kernel without IPv6 are skipped.
pub fn ensure_sysctl(ns: Option<&str>, key: &str, value: &str) -> Result<bool, Error> {
    let path = format!("/proc/sys/{key}");
    let set = || -> Result<bool, Error> {
        let now = match std::fs::read_to_string(&path) {
            Ok(now) => now,
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && key.starts_with("net/ipv6/")
                    && !std::path::Path::new("/proc/sys/net/ipv6").exists() =>
            {
                return Ok(false)
            }
            Err(e) => return Err(Error::io(format!("reading {path}"))(e)),
        };
        if now.trim() == value {
            return Ok(false);
        }
        std::fs::write(&path, value).map_err(Error::io(format!("writing {path}")))?;
        Ok(true)
    };
    match ns {
        None => set(),
        Some(ns) => netlink::in_namespace_thread(ns, set),
    }
}

/// [`ensure_sysctl`] for several keys of the namespace `ns` at once; returns what
/// changed.
pub fn ensure_sysctls(ns: &str, settings: &[(String, &str)]) -> Result<Vec<String>, Error> {
    netlink::in_namespace_thread(ns, || {
        let mut changed = Vec::new();
        for (key, value) in settings {
            if ensure_sysctl(None, key, value)? {
                changed.push(format!("set {key}={value} in {ns}"));
            }
        }
        Ok(changed)
    })
}

/// Whether `arping` (iputils) is on the PATH: gratuitous ARP is skipped without it.
fn have_arping() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("arping").is_file()))
}

/// Announce new floating IPs (gratuitous ARP from `qg-`) so that neighbours forget a
/// previous owner's MAC; best effort, all at once.
async fn announce(ns: &str, dev: &str, ips: &[IpAddr]) {
    if ips.is_empty() || !have_arping() {
        return;
    }
    let runs = ips.iter().map(|ip| async move {
        let ip = ip.to_string();
        let args = [
            "netns", "exec", ns, "arping", "-U", "-c", "1", "-I", dev, &ip,
        ];
        if let Err(e) = cmd::run("ip", &args, None).await {
            tracing::debug!(error = ?e, "gratuitous ARP not sent");
        }
    });
    futures::future::join_all(runs).await;
}

impl Linux {
    fn router_dir(&self, router_id: &str) -> std::path::PathBuf {
        self.config.state_dir.join("routers").join(router_id)
    }

    /// Router ids with a state directory (owned router namespaces).
    pub(super) fn router_dirs(&self) -> Result<Vec<String>, Error> {
        super::list_dir(&self.config.state_dir.join("routers"))
    }

    /// Make one router's namespace match its plan (see the module docs).
    pub(super) async fn ensure_router(
        &self,
        sup: &mut Supervisor,
        nl: &Netlink,
        links: &mut Links,
        networks: &BTreeMap<&str, &NetworkPlan>,
        r: &RouterPlan,
        changes: &mut Vec<String>,
    ) -> Result<(), Error> {
        let devices = devices(r);
        for d in &devices {
            if !networks.contains_key(d.network_id.as_str()) {
                return Err(Error::Plan(format!(
                    "router {} has a port on network {}, not in the plan",
                    r.id, d.network_id
                )));
            }
        }
        let chains = chains(r)?;
        let ns = names::router_namespace(&r.id);
        let dir = self.router_dir(&r.id);
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let ns_path = format!("/run/netns/{ns}");
        if !super::namespace_present(&ns)? {
            cmd::run("ip", &["netns", "add", &ns], None).await?;
            changes.push(format!("created namespace {ns}"));
        }
        // IPv6 too, as Neutron's L3 agent: it routes the IPv6 subnets (and radvd
        // advertises only as a router)
        changes.extend(ensure_sysctls(
            &ns,
            &[
                ("net/ipv4/ip_forward".into(), "1"),
                ("net/ipv6/conf/all/forwarding".into(), "1"),
            ],
        )?);
        let inside = Netlink::in_namespace(&ns)?;
        let mut ns_links = Links::read(&inside).await?;
        if let Some(lo) = ns_links.get("lo").filter(|l| !l.up) {
            inside.set_up(lo).await?;
            changes.push(format!("set lo up in {ns}"));
        }
        // router ports the plan no longer has (the bridge end goes with each)
        let inner: BTreeSet<&str> = devices.iter().map(|d| d.inner.as_str()).collect();
        let stale: Vec<_> = ns_links
            .by_name
            .values()
            .filter(|l| {
                (l.name.starts_with("qr-") || l.name.starts_with("qg-"))
                    && !inner.contains(l.name.as_str())
            })
            .cloned()
            .collect();
        for link in &stale {
            inside.delete(link).await?;
            changes.push(format!("deleted {} of router {}", link.name, r.id));
        }
        if !stale.is_empty() {
            ns_links = Links::read(&inside).await?;
        }
        let ns_file =
            std::fs::File::open(&ns_path).map_err(Error::io(format!("opening {ns_path}")))?;
        let mut announced = Vec::new();
        for d in &devices {
            let net = networks[d.network_id.as_str()];
            if links.get(&d.peer).is_none() || ns_links.get(&d.inner).is_none() {
                // one half left (its namespace deleted by hand, or its peer): afresh
                if let Some(half) = links.get(&d.peer) {
                    nl.delete(half).await?;
                }
                if let Some(half) = ns_links.get(&d.inner) {
                    inside.delete(half).await?;
                }
                nl.create_veth(&d.peer, &d.inner, net.mtu, &self.alias(&d.network_id))
                    .await?;
                *links = Links::read(nl).await?;
                nl.move_to(links.require(&d.inner)?, &ns_file).await?;
                changes.push(format!("created router port {} ({})", d.inner, d.peer));
                *links = Links::read(nl).await?;
                ns_links = Links::read(&inside).await?;
            }
            let br = links.require(&names::bridge(&d.network_id))?.clone();
            Self::wire(
                nl,
                links.require(&d.peer)?,
                Some(&br),
                Some(net.mtu),
                changes,
            )
            .await?;
            let dev = ns_links.require(&d.inner)?;
            let mac = netlink::parse_mac(&d.mac)?;
            if dev.mac != Some(mac) {
                inside.set_mac(dev, mac).await?;
                changes.push(format!("set mac {} on {}", d.mac, d.inner));
            }
            Self::wire(&inside, dev, None, Some(net.mtu), changes).await?;
            let have: BTreeSet<IpNet> = inside.addresses(dev).await?.into_iter().collect();
            for a in d.addresses.difference(&have) {
                inside.add_address(dev, *a).await?;
                changes.push(format!("added {a} to {} in {ns}", d.inner));
                if a.prefix_len() == a.max_prefix_len() {
                    announced.push(a.addr());
                }
            }
            for a in have.difference(&d.addresses) {
                inside.del_address(dev, *a).await?;
                changes.push(format!("removed {a} from {} in {ns}", d.inner));
            }
        }
        changes.extend(
            inside
                .reconcile_routes(&routes(r), &format!("router {}", r.id))
                .await?,
        );
        drop(inside);
        changes.extend(
            nft::reconcile_in(Some(&ns), &self.config.owner, &[Family::Ip], &chains)
                .await?
                .into_iter()
                .map(|c| format!("{c} in {ns}")),
        );
        if let Some(g) = &r.gateway {
            let fips = floating_addresses(r);
            announced.retain(|a| fips.contains(a));
            announce(&ns, &names::router_gateway(&g.port_id), &announced).await;
        }
        self.ensure_radvd(sup, networks, r, &ns, &dir, changes)
            .await
    }

    /// The router's radvd: running with its configuration when it advertises
    /// something, stopped (and its configuration removed) when not.
    async fn ensure_radvd(
        &self,
        sup: &mut Supervisor,
        networks: &BTreeMap<&str, &NetworkPlan>,
        r: &RouterPlan,
        ns: &str,
        dir: &std::path::Path,
        changes: &mut Vec<String>,
    ) -> Result<(), Error> {
        let radvd = ra::daemon(dir, ns);
        let Some(conf) = ra::render_conf(r, networks) else {
            if sup.running(&radvd).is_some() {
                sup.stop(&radvd).await?;
                changes.push(format!("stopped radvd in {ns}"));
            }
            match std::fs::remove_file(&radvd.conf) {
                Ok(()) => changes.push(format!("removed radvd.conf of router {}", r.id)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("removing {}", radvd.conf.display()))(e)),
            }
            return Ok(());
        };
        let changed = write_if_changed(&radvd.conf, &conf)?;
        match sup.running(&radvd) {
            Some(pid) if changed => {
                Supervisor::reload(pid)?;
                changes.push(format!("reloaded radvd in {ns}"));
            }
            Some(_) => {}
            None => {
                sup.start(&radvd)?;
                changes.push(format!("started radvd in {ns}"));
            }
        }
        Ok(())
    }

    /// Remove a router: its radvd, its namespace (its veths go with it) and its
    /// directory.
    pub(super) async fn remove_router(
        &self,
        sup: &mut Supervisor,
        router_id: &str,
    ) -> Result<(), Error> {
        let ns = names::router_namespace(router_id);
        sup.stop(&ra::daemon(&self.router_dir(router_id), &ns))
            .await?;
        if super::namespace_present(&ns)? {
            cmd::run("ip", &["netns", "del", &ns], None).await?;
        }
        let dir = self.router_dir(router_id);
        std::fs::remove_dir_all(&dir).map_err(Error::io(format!("removing {}", dir.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{
        FloatingIpPlan, HostRoute, PortForwardingPlan, RouterGateway, RouterInterface,
    };

    fn router() -> RouterPlan {
        RouterPlan {
            id: "r1".into(),
            gateway: Some(RouterGateway {
                network_id: "ext".into(),
                port_id: "11111111-aaaa".into(),
                mac: "FA:16:3E:00:00:01".into(),
                addresses: vec!["172.24.4.10/24".parse().unwrap()],
                gateway_ip: Some("172.24.4.1".parse().unwrap()),
                enable_snat: true,
            }),
            interfaces: vec![RouterInterface {
                port_id: "22222222-bbbb".into(),
                network_id: "int".into(),
                mac: "fa:16:3e:00:00:02".into(),
                addresses: vec!["10.0.0.1/24".parse().unwrap()],
                ipv6_subnets: vec![],
            }],
            routes: vec![HostRoute {
                destination: "192.168.5.0/24".parse().unwrap(),
                nexthop: "10.0.0.5".parse().unwrap(),
            }],
            floating_ips: vec![FloatingIpPlan {
                floating_ip: "172.24.4.20".parse().unwrap(),
                fixed_ip: "10.0.0.10".parse().unwrap(),
            }],
            port_forwardings: vec![PortForwardingPlan {
                external_ip: "172.24.4.21".parse().unwrap(),
                protocol: 6,
                external_port: 2222,
                internal_ip: "10.0.0.11".parse().unwrap(),
                internal_port: 22,
            }],
            metadata: false,
        }
    }

    #[test]
    fn a_router_renders_devices_routes_and_nat() {
        let r = router();
        let d = devices(&r);
        assert_eq!(d[0].inner, "qg-11111111-aa");
        assert_eq!(d[0].peer, "tg-11111111-aa");
        assert_eq!(d[0].mac, "fa:16:3e:00:00:01");
        let qg: Vec<String> = d[0].addresses.iter().map(|a| a.to_string()).collect();
        assert_eq!(qg, ["172.24.4.10/24", "172.24.4.20/32", "172.24.4.21/32"]);
        assert_eq!(d[1].inner, "qr-22222222-bb");
        let routes: Vec<String> = routes(&r).iter().map(|r| r.to_string()).collect();
        assert_eq!(
            routes,
            ["0.0.0.0/0 via 172.24.4.1", "192.168.5.0/24 via 10.0.0.5"]
        );
        let chains = chains(&r).unwrap();
        assert_eq!(
            chains[0].rules,
            [
                "ip daddr 172.24.4.21 tcp dport 2222 dnat to 10.0.0.11:22",
                "dnat to ip daddr map { 172.24.4.20 : 10.0.0.10 }"
            ]
        );
        assert_eq!(
            chains[1].rules,
            [
                "iifname != \"qg-11111111-aa\" oifname != \"qg-11111111-aa\" ct status dnat masquerade",
                "oifname \"qg-11111111-aa\" snat to ip saddr map { 10.0.0.10 : 172.24.4.20 }",
                "oifname \"qg-11111111-aa\" ip saddr { 10.0.0.0/24, 192.168.5.0/24 } snat to 172.24.4.10"
            ]
        );
    }

    #[test]
    fn metadata_is_redirected_to_the_proxy_with_or_without_a_gateway() {
        let mut r = router();
        r.metadata = true;
        let rendered = chains(&r).unwrap();
        assert_eq!(rendered[0].name, "prerouting");
        assert_eq!(
            rendered[0].rules[0],
            "iifname \"qr-*\" ip daddr 169.254.169.254 tcp dport 80 redirect to :9697"
        );
        assert_eq!(rendered[0].rules.len(), 3, "the NAT rules follow");
        let input = rendered.iter().find(|c| c.name == "input").unwrap();
        assert_eq!(
            input.rules,
            [
                "tcp dport 9697 ct status dnat accept",
                "tcp dport 9697 drop"
            ]
        );
        r.gateway = None;
        let names = |r: &RouterPlan| -> Vec<String> {
            chains(r).unwrap().into_iter().map(|c| c.name).collect()
        };
        assert_eq!(names(&r), ["prerouting", "input"]);
        r.metadata = false;
        assert!(names(&r).is_empty());
    }

    #[test]
    fn without_snat_or_gateway_less_is_rendered() {
        let mut r = router();
        r.floating_ips.clear();
        r.port_forwardings.clear();
        if let Some(g) = r.gateway.as_mut() {
            g.enable_snat = false;
        }
        assert_eq!(chains(&r).unwrap(), Vec::<Chain>::new());
        r.gateway = None;
        assert_eq!(devices(&r).len(), 1);
        assert_eq!(routes(&r).len(), 1);
        let mut bad = router();
        bad.port_forwardings[0].protocol = 1;
        assert!(chains(&bad).is_err());
    }
}

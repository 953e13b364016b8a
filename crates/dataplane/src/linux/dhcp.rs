//! DHCP: dnsmasq in `qdhcp-<network>`, static leases only, no DNS.
//!
//! Files live in `<state dir>/dhcp/<network id>/`: `dnsmasq.conf` (everything but the
//! leases: a change restarts dnsmasq), `hosts` (MAC, IP, hostname per line: a change is
//! picked up by SIGHUP, no restart per port), `leases`, `pid`, `log`.
//! dnsmasq is supervised as a [`super::daemon::Daemon`].
//!
//! IPv6 subnets are served by DHCPv6 as Neutron's DHCP agent does: a `static` range
//! (only the ports' own addresses, matched by MAC) for `dhcpv6-stateful` subnets and for
//! subnets without any mode; the same range serves the options (DNS servers) of
//! `dhcpv6-stateless` subnets, which get no static leases; `slaac` subnets (and those
//! with a RA mode but no address mode) get nothing. dnsmasq sends no router
//! advertisements: the router does ([`super::ra`]).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ipnet::IpNet;

use super::daemon::Daemon;
use crate::plan::{DhcpPlan, DhcpSubnet, Dhcpv6, NetworkPlan};

/// The metadata address held by DHCP namespaces of networks without a router.
pub const METADATA: Ipv4Addr = crate::plan::METADATA_ADDRESS;

/// The files of one network's dnsmasq.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Files {
    /// The directory.
    pub dir: PathBuf,
}

impl Files {
    /// `dnsmasq.conf`.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("dnsmasq.conf")
    }
    /// The static hosts file.
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }
    /// The pid file.
    pub fn pid(&self) -> PathBuf {
        self.dir.join("pid")
    }

    /// The network's dnsmasq, run in `namespace`.
    pub fn daemon(&self, namespace: &str) -> Daemon {
        Daemon {
            program: "dnsmasq",
            namespace: namespace.to_owned(),
            args: vec![format!("--conf-file={}", self.conf().display())],
            conf: self.conf(),
            pid: self.pid(),
            log: self.dir.join("log"),
        }
    }
}

/// What DHCPv6 serves on `subnet` (`None` for IPv4 subnets, and IPv6 subnets it does
/// not serve: see the module docs). Prefixes shorter than /64 are not served (Neutron
/// skips them too).
pub fn dhcpv6(subnet: &DhcpSubnet) -> Option<Dhcpv6> {
    if !matches!(subnet.cidr, IpNet::V6(_)) || subnet.cidr.prefix_len() < 64 {
        return None;
    }
    Dhcpv6::of(subnet.ipv6_ra_mode, subnet.ipv6_address_mode)
}

/// The configuration of dnsmasq for `net` (pure).
pub fn render_conf(net: &NetworkPlan, dhcp: &DhcpPlan, files: &Files, device: &str) -> String {
    let mut c = String::new();
    let dir = files.dir.display();
    // no DNS, nothing from the host's files, only our interface
    for line in [
        "port=0",
        "no-resolv",
        "no-hosts",
        "bind-interfaces",
        "dhcp-authoritative",
        "keep-in-foreground",
        "user=root",
    ] {
        let _ = writeln!(c, "{line}");
    }
    let _ = writeln!(c, "interface={device}");
    let _ = writeln!(c, "except-interface=lo");
    let _ = writeln!(c, "pid-file={dir}/pid");
    let _ = writeln!(c, "dhcp-leasefile={dir}/leases");
    let _ = writeln!(c, "dhcp-hostsfile={dir}/hosts");
    for (i, subnet) in dhcp.subnets.iter().enumerate() {
        let tag = format!("subnet{i}");
        let IpNet::V4(cidr) = subnet.cidr else {
            render_v6(&mut c, subnet, &tag);
            continue;
        };
        let _ = writeln!(
            c,
            "dhcp-range=set:{tag},{},static,{},{}s",
            cidr.network(),
            cidr.netmask(),
            subnet.lease_seconds
        );
        let _ = writeln!(c, "dhcp-option=tag:{tag},option:mtu,{}", net.mtu);
        if let Some(gw) = subnet.gateway {
            let _ = writeln!(c, "dhcp-option=tag:{tag},option:router,{gw}");
        } else {
            // no gateway: push none (dnsmasq would offer its own address)
            let _ = writeln!(c, "dhcp-option=tag:{tag},option:router");
        }
        let dns: Vec<String> = subnet
            .dns_nameservers
            .iter()
            .filter(|a| a.is_ipv4())
            .map(|a| a.to_string())
            .collect();
        if dns.is_empty() {
            let _ = writeln!(c, "dhcp-option=tag:{tag},option:dns-server");
        } else {
            let _ = writeln!(
                c,
                "dhcp-option=tag:{tag},option:dns-server,{}",
                dns.join(",")
            );
        }
        // option 121 replaces option 3 in clients that take it: the default route goes in too
        let mut routes: Vec<String> = Vec::new();
        if dhcp.metadata {
            let own = dhcp
                .addresses
                .iter()
                .find(|a| subnet.cidr.contains(&a.addr()))
                .map(|a| a.addr());
            if let Some(IpAddr::V4(own)) = own {
                routes.push(format!("{METADATA}/32,{own}"));
            }
        }
        for r in &subnet.host_routes {
            if r.destination.addr().is_ipv4() {
                routes.push(format!("{},{}", r.destination.trunc(), r.nexthop));
            }
        }
        if !routes.is_empty() {
            if let Some(gw) = subnet.gateway {
                routes.push(format!("0.0.0.0/0,{gw}"));
            }
            let _ = writeln!(
                c,
                "dhcp-option=tag:{tag},option:classless-static-route,{}",
                routes.join(",")
            );
        }
    }
    c
}

/// The DHCPv6 range and options of an IPv6 subnet, if it is served.
fn render_v6(c: &mut String, subnet: &DhcpSubnet, tag: &str) {
    if dhcpv6(subnet).is_none() {
        return;
    }
    // `static` serves only the hosts file's addresses, and options to anyone asking
    let _ = writeln!(
        c,
        "dhcp-range=set:{tag},{},static,{},{}s",
        subnet.cidr.network(),
        subnet.cidr.prefix_len(),
        subnet.lease_seconds
    );
    let dns: Vec<String> = subnet
        .dns_nameservers
        .iter()
        .filter(|a| a.is_ipv6())
        .map(|a| format!("[{a}]"))
        .collect();
    if dns.is_empty() {
        // none: dnsmasq would offer its own address
        let _ = writeln!(c, "dhcp-option=tag:{tag},option6:dns-server");
    } else {
        let _ = writeln!(
            c,
            "dhcp-option=tag:{tag},option6:dns-server,{}",
            dns.join(",")
        );
    }
}

/// The static hosts file (pure): IPv4 leases, and the IPv6 addresses of the subnets
/// served statefully.
pub fn render_hosts(dhcp: &DhcpPlan) -> String {
    let stateful = |ip: &IpAddr| {
        dhcp.subnets
            .iter()
            .any(|s| s.cidr.contains(ip) && dhcpv6(s) == Some(Dhcpv6::Stateful))
    };
    let mut lines: Vec<String> = dhcp
        .hosts
        .iter()
        .filter_map(|h| {
            let mac = h.mac.to_lowercase();
            match h.ip {
                IpAddr::V4(ip) => Some(format!("{mac},{ip},{}\n", h.hostname)),
                IpAddr::V6(ip) if stateful(&h.ip) => Some(format!("{mac},[{ip}],{}\n", h.hostname)),
                IpAddr::V6(_) => None,
            }
        })
        .collect();
    lines.sort();
    lines.concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{DhcpHost, DhcpSubnet, HostRoute, NetworkKind};

    #[test]
    fn conf_and_hosts_render() {
        let dhcp = DhcpPlan {
            port_mac: "fa:16:3e:00:00:02".into(),
            addresses: vec!["10.0.0.2/24".parse().unwrap()],
            subnets: vec![DhcpSubnet {
                cidr: "10.0.0.0/24".parse().unwrap(),
                gateway: Some("10.0.0.1".parse().unwrap()),
                dns_nameservers: vec![],
                host_routes: vec![HostRoute {
                    destination: "192.168.0.0/16".parse().unwrap(),
                    nexthop: "10.0.0.254".parse().unwrap(),
                }],
                lease_seconds: 86400,
                ipv6_address_mode: None,
                ipv6_ra_mode: None,
            }],
            hosts: vec![
                DhcpHost {
                    mac: "FA:16:3E:00:00:04".into(),
                    ip: "10.0.0.4".parse().unwrap(),
                    hostname: "b".into(),
                },
                DhcpHost {
                    mac: "fa:16:3e:00:00:03".into(),
                    ip: "10.0.0.3".parse().unwrap(),
                    hostname: "a".into(),
                },
            ],
            metadata: true,
        };
        let net = NetworkPlan {
            id: "n".into(),
            kind: NetworkKind::Local,
            mtu: 1450,
            dhcp: Some(dhcp.clone()),
            host_address: None,
        };
        let files = Files { dir: "/s/n".into() };
        let conf = render_conf(&net, &dhcp, &files, "ns-x");
        for line in [
            "port=0",
            "interface=ns-x",
            "dhcp-hostsfile=/s/n/hosts",
            "dhcp-range=set:subnet0,10.0.0.0,static,255.255.255.0,86400s",
            "dhcp-option=tag:subnet0,option:mtu,1450",
            "dhcp-option=tag:subnet0,option:router,10.0.0.1",
            "dhcp-option=tag:subnet0,option:classless-static-route,169.254.169.254/32,10.0.0.2,192.168.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1",
        ] {
            assert!(conf.lines().any(|l| l == line), "{line} missing from\n{conf}");
        }
        assert_eq!(
            render_hosts(&dhcp),
            "fa:16:3e:00:00:03,10.0.0.3,a\nfa:16:3e:00:00:04,10.0.0.4,b\n"
        );
    }

    #[test]
    fn ipv6_subnets_are_served_per_mode() {
        use crate::plan::Ipv6Mode::{Dhcpv6Stateful, Dhcpv6Stateless, Slaac};
        let v6 = |cidr: &str, mode| DhcpSubnet {
            cidr: cidr.parse().unwrap(),
            gateway: None,
            dns_nameservers: vec!["2001:db8::53".parse().unwrap()],
            host_routes: vec![],
            lease_seconds: 600,
            ipv6_address_mode: mode,
            ipv6_ra_mode: mode,
        };
        let host = |ip: &str| DhcpHost {
            mac: "fa:16:3e:00:00:05".into(),
            ip: ip.parse().unwrap(),
            hostname: "h".into(),
        };
        let dhcp = DhcpPlan {
            port_mac: "fa:16:3e:00:00:02".into(),
            addresses: vec![],
            subnets: vec![
                v6("2001:db8:1::/64", Some(Dhcpv6Stateful)),
                v6("2001:db8:2::/64", Some(Dhcpv6Stateless)),
                v6("2001:db8:3::/64", Some(Slaac)),
                v6("2001:db8:4::/64", None),
                v6("2001:db8::/48", Some(Dhcpv6Stateful)),
            ],
            hosts: vec![
                host("2001:db8:1::5"),
                host("2001:db8:2::5"),
                host("2001:db8:3::5"),
            ],
            metadata: false,
        };
        let net = NetworkPlan {
            id: "n".into(),
            kind: crate::plan::NetworkKind::Local,
            mtu: 1450,
            dhcp: Some(dhcp.clone()),
            host_address: None,
        };
        let conf = render_conf(&net, &dhcp, &Files { dir: "/s/n".into() }, "ns-x");
        let ranges: Vec<&str> = conf
            .lines()
            .filter(|l| l.starts_with("dhcp-range"))
            .collect();
        assert_eq!(
            ranges,
            [
                "dhcp-range=set:subnet0,2001:db8:1::,static,64,600s",
                "dhcp-range=set:subnet1,2001:db8:2::,static,64,600s",
                // no mode at all: served statefully (Neutron's pre-Juno behaviour)
                "dhcp-range=set:subnet3,2001:db8:4::,static,64,600s",
            ]
        );
        assert!(conf
            .lines()
            .any(|l| l == "dhcp-option=tag:subnet1,option6:dns-server,[2001:db8::53]"));
        // only the stateful subnet's address is leased
        assert_eq!(render_hosts(&dhcp), "fa:16:3e:00:00:05,[2001:db8:1::5],h\n");
    }
}

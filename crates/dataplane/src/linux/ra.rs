//! Router advertisements: radvd in the router's namespace, as Neutron's L3 agent runs
//! it. A router advertises on each `qr-` device whose IPv6 subnets have an
//! `ipv6_ra_mode`; the flags follow the modes (Neutron's table): `slaac` prefixes are
//! autonomous (A), `dhcpv6-stateless` ones too with the O flag (options by DHCPv6), and
//! `dhcpv6-stateful` ones are on-link only with the M flag (addresses by DHCPv6).
//! Subnets with only an address mode are left to a router outside the cloud: nothing is
//! advertised for them.
//!
//! radvd rather than dnsmasq's RA: the advertisement must come from the router's
//! port, whose link-local address becomes the guests' default route, and dnsmasq runs
//! in the DHCP namespace, on another port. Files: `<state dir>/routers/<id>/radvd.conf`
//! (a change is picked up by SIGHUP), `radvd.pid`, `radvd.log`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::daemon::Daemon;
use crate::names;
use crate::plan::{Ipv6Mode, NetworkPlan, RouterPlan};

/// Neutron's `min_rtr_adv_interval` and `max_rtr_adv_interval` defaults, in seconds.
const MIN_INTERVAL: u32 = 30;
const MAX_INTERVAL: u32 = 100;
/// radvd takes at most 3 RDNSS addresses in one option.
const MAX_RDNSS: usize = 3;
/// The smallest IPv6 link MTU: a smaller network MTU is not advertised.
const IPV6_MIN_MTU: u32 = 1280;

/// The radvd configuration of a router (pure), `None` when it advertises nothing.
pub fn render_conf(r: &RouterPlan, networks: &BTreeMap<&str, &NetworkPlan>) -> Option<String> {
    let mut c = String::new();
    for i in &r.interfaces {
        let advertised: Vec<_> = i
            .ipv6_subnets
            .iter()
            .filter_map(|s| Some((s, s.ra_mode?)))
            .collect();
        if advertised.is_empty() {
            continue;
        }
        let has = |mode: Ipv6Mode| advertised.iter().any(|(_, m)| *m == mode);
        let _ = writeln!(c, "interface {}\n{{", names::router_internal(&i.port_id));
        let _ = writeln!(c, "    AdvSendAdvert on;");
        let _ = writeln!(c, "    MinRtrAdvInterval {MIN_INTERVAL};");
        let _ = writeln!(c, "    MaxRtrAdvInterval {MAX_INTERVAL};");
        if let Some(mtu) = networks
            .get(i.network_id.as_str())
            .map(|n| n.mtu)
            .filter(|m| *m >= IPV6_MIN_MTU)
        {
            let _ = writeln!(c, "    AdvLinkMTU {mtu};");
        }
        if has(Ipv6Mode::Dhcpv6Stateless) {
            let _ = writeln!(c, "    AdvOtherConfigFlag on;");
        }
        if has(Ipv6Mode::Dhcpv6Stateful) {
            let _ = writeln!(c, "    AdvManagedFlag on;");
        }
        // DNS servers of SLAAC subnets (the others get them by DHCPv6)
        let dns: Vec<String> = advertised
            .iter()
            .filter(|(_, m)| *m == Ipv6Mode::Slaac)
            .flat_map(|(s, _)| s.dns_nameservers.iter().filter(|a| a.is_ipv6()))
            .take(MAX_RDNSS)
            .map(|a| a.to_string())
            .collect();
        if !dns.is_empty() {
            let _ = writeln!(c, "    RDNSS {} {{}};", dns.join(" "));
        }
        for (s, mode) in &advertised {
            let autonomous = if *mode == Ipv6Mode::Dhcpv6Stateful {
                "off"
            } else {
                "on"
            };
            let _ = writeln!(
                c,
                "    prefix {}\n    {{\n        AdvOnLink on;\n        AdvAutonomous {autonomous};\n    }};",
                s.cidr.trunc()
            );
        }
        let _ = writeln!(c, "}};");
    }
    (!c.is_empty()).then_some(c)
}

/// The router's radvd, run in `namespace` with its files in `dir`.
pub fn daemon(dir: &Path, namespace: &str) -> Daemon {
    let conf = dir.join("radvd.conf");
    let pid = dir.join("radvd.pid");
    Daemon {
        program: "radvd",
        namespace: namespace.to_owned(),
        args: vec![
            "--nodaemon".into(),
            "--logmethod=stderr".into(),
            format!("--config={}", conf.display()),
            format!("--pidfile={}", pid.display()),
        ],
        conf,
        pid,
        log: dir.join("radvd.log"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Ipv6Subnet, NetworkKind, RouterInterface};

    fn subnet(cidr: &str, mode: Option<Ipv6Mode>, dns: &[&str]) -> Ipv6Subnet {
        Ipv6Subnet {
            cidr: cidr.parse().unwrap(),
            ra_mode: mode,
            address_mode: mode,
            dns_nameservers: dns.iter().map(|d| d.parse().unwrap()).collect(),
        }
    }

    fn interface(port: &str, net: &str, subnets: Vec<Ipv6Subnet>) -> RouterInterface {
        RouterInterface {
            port_id: port.into(),
            network_id: net.into(),
            mac: "fa:16:3e:00:00:01".into(),
            addresses: vec![],
            ipv6_subnets: subnets,
        }
    }

    #[test]
    fn flags_follow_the_modes() {
        let net = NetworkPlan {
            id: "n1".into(),
            kind: NetworkKind::Local,
            mtu: 1450,
            dhcp: None,
            host_address: None,
        };
        let networks: BTreeMap<&str, &NetworkPlan> = [("n1", &net)].into_iter().collect();
        let mut r = RouterPlan {
            id: "r".into(),
            gateway: None,
            interfaces: vec![
                interface(
                    "11111111-aaaa",
                    "n1",
                    vec![
                        subnet("2001:db8:1::/64", Some(Ipv6Mode::Slaac), &["2001:db8::53"]),
                        subnet("2001:db8:2::/64", Some(Ipv6Mode::Dhcpv6Stateful), &[]),
                    ],
                ),
                interface(
                    "22222222-bbbb",
                    "n2",
                    vec![subnet(
                        "2001:db8:3::/64",
                        Some(Ipv6Mode::Dhcpv6Stateless),
                        &[],
                    )],
                ),
                // an external router advertises this one
                interface(
                    "33333333-cccc",
                    "n3",
                    vec![Ipv6Subnet {
                        ra_mode: None,
                        ..subnet("2001:db8:4::/64", Some(Ipv6Mode::Slaac), &[])
                    }],
                ),
            ],
            routes: vec![],
            floating_ips: vec![],
            port_forwardings: vec![],
            metadata: false,
        };
        let conf = render_conf(&r, &networks).unwrap();
        let expect = "\
interface qr-11111111-aa
{
    AdvSendAdvert on;
    MinRtrAdvInterval 30;
    MaxRtrAdvInterval 100;
    AdvLinkMTU 1450;
    AdvManagedFlag on;
    RDNSS 2001:db8::53 {};
    prefix 2001:db8:1::/64
    {
        AdvOnLink on;
        AdvAutonomous on;
    };
    prefix 2001:db8:2::/64
    {
        AdvOnLink on;
        AdvAutonomous off;
    };
};
interface qr-22222222-bb
{
    AdvSendAdvert on;
    MinRtrAdvInterval 30;
    MaxRtrAdvInterval 100;
    AdvOtherConfigFlag on;
    prefix 2001:db8:3::/64
    {
        AdvOnLink on;
        AdvAutonomous on;
    };
};
";
        assert_eq!(conf, expect);
        r.interfaces.truncate(0);
        assert_eq!(render_conf(&r, &networks), None);
    }
}

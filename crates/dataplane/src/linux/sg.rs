//! Security groups and anti-spoofing as nft chains (pure: plan in, chains out).
//!
//! The bridge family has no connection tracking here, so the work is split:
//! - `bridge` table, `prerouting` (priority -200): frames *from* a secured tap jump to
//!   its `as_<tap>` chain: its own MAC and IPs or an allowed pair only (ARP too), DHCP
//!   requests allowed, DHCP/DHCPv6 replies and router advertisements dropped.
//! - `bridge` table, `forward` (priority -200, before br_netfilter hands the frame to the
//!   inet hooks at -1): the frame's skb mark is set to the source port's index in the
//!   high 16 bits (`sm_<tap>`) and the destination port's in the low 16 (`dm_<tap>`).
//!   Frames from or to a secured port have their mark overwritten: on such frames the
//!   whole mark belongs to the dataplane; other bridged frames keep theirs.
//! - `inet` table, `forward`: bridged IP packets (br_netfilter) dispatch on the mark to
//!   `egr_<tap>` (returns when allowed, so the destination's chain still runs) and then
//!   `ing_<tap>` (default deny, established/related and DHCP replies allowed).
//!   As in Neutron, IPv6 ports may always send ICMPv6 and DHCPv6 requests, and receive
//!   neighbour discovery, MLD queries, router advertisements (with an IPv6 address)
//!   and DHCPv6 replies to their own or link-local addresses.
//!
//! A port's index is kept stable across applies by the caller ([`super::marks`]) so
//! adding a port rewrites only the dispatch chains, never other ports' chains.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::nft::{Chain, Family};
use crate::plan::{Direction, Ethertype, PortPlan, Remote, SecurityPlan, SgRule};

/// A secured port with its mark index (1..=65535).
pub struct Secured<'a> {
    /// The port.
    pub port: &'a PortPlan,
    /// Its security (the port's `security`, unwrapped).
    pub security: &'a SecurityPlan,
    /// Its index.
    pub index: u16,
}

/// The chains of every secured port, dispatch chains included.
pub fn chains(ports: &[Secured<'_>]) -> Vec<Chain> {
    let mut out = Vec::new();
    let mut spoof = BTreeMap::new();
    let mut src = BTreeMap::new();
    let mut dst = BTreeMap::new();
    let mut egr = BTreeMap::new();
    let mut ing = BTreeMap::new();
    for s in ports {
        let tap = &s.port.device;
        let high = u32::from(s.index) << 16;
        let low = u32::from(s.index);
        spoof.insert(format!("\"{tap}\""), format!("jump as_{tap}"));
        src.insert(format!("\"{tap}\""), format!("jump sm_{tap}"));
        dst.insert(format!("\"{tap}\""), format!("jump dm_{tap}"));
        egr.insert(format!("{high:#010x}"), format!("jump egr_{tap}"));
        ing.insert(format!("{low:#010x}"), format!("jump ing_{tap}"));
        out.push(bridge(format!("as_{tap}"), anti_spoof(s.port, s.security)));
        out.push(bridge(
            format!("sm_{tap}"),
            vec![format!("meta mark set meta mark or {high:#010x}")],
        ));
        out.push(bridge(
            format!("dm_{tap}"),
            vec![format!("meta mark set meta mark or {low:#010x}")],
        ));
        out.push(inet(
            format!("egr_{tap}"),
            direction_chain(s.port, s.security, Direction::Egress),
        ));
        out.push(inet(
            format!("ing_{tap}"),
            direction_chain(s.port, s.security, Direction::Ingress),
        ));
    }
    if ports.is_empty() {
        return out;
    }
    let taps = set(src.keys());
    out.push(Chain {
        family: Family::Bridge,
        name: "prerouting".into(),
        base: Some("type filter hook prerouting priority -200; policy accept;".into()),
        rules: vec![format!("iifname vmap {}", vmap(&spoof))],
    });
    out.push(Chain {
        family: Family::Bridge,
        name: "forward".into(),
        base: Some("type filter hook forward priority -200; policy accept;".into()),
        rules: vec![
            // frames between devices that are not secured ports keep their mark
            format!("iifname != {taps} oifname != {taps} return"),
            "meta mark set 0x0".into(),
            format!("iifname vmap {}", vmap(&src)),
            format!("oifname vmap {}", vmap(&dst)),
        ],
    });
    out.push(Chain {
        family: Family::Inet,
        name: "forward".into(),
        base: Some("type filter hook forward priority 0; policy accept;".into()),
        rules: vec![
            format!("meta mark and 0xffff0000 vmap {}", vmap(&egr)),
            format!("meta mark and 0x0000ffff vmap {}", vmap(&ing)),
        ],
    });
    out
}

fn bridge(name: String, rules: Vec<String>) -> Chain {
    Chain {
        family: Family::Bridge,
        name,
        base: None,
        rules,
    }
}

fn inet(name: String, rules: Vec<String>) -> Chain {
    Chain {
        family: Family::Inet,
        name,
        base: None,
        rules,
    }
}

fn vmap(entries: &BTreeMap<String, String>) -> String {
    let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k} : {v}")).collect();
    format!("{{ {} }}", body.join(", "))
}

fn set<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    format!("{{ {} }}", items.join(", "))
}

/// Drop prefixes contained in another one of the list (nft refuses overlapping
/// intervals in one set), and duplicates.
pub(super) fn disjoint(mut nets: Vec<IpNet>) -> Vec<IpNet> {
    nets.sort_by_key(|n| (n.prefix_len(), n.network()));
    let mut out: Vec<IpNet> = Vec::new();
    for n in nets {
        if !out.iter().any(|o| o.contains(&n)) {
            out.push(n);
        }
    }
    out.sort_by_key(|n| (n.network(), n.prefix_len()));
    out
}

/// The port's (MAC, prefix) pairs: its own MAC with its own IPs, and its allowed pairs.
fn pairs(port: &PortPlan, security: &SecurityPlan) -> Vec<(String, IpNet)> {
    let mut out: Vec<(String, IpNet)> = port
        .ips
        .iter()
        .map(|ip| (port.mac.to_lowercase(), IpNet::from(*ip)))
        .collect();
    out.extend(
        security
            .allowed_pairs
            .iter()
            .map(|p| (p.mac.to_lowercase(), p.ip.trunc())),
    );
    out.sort_by_key(|(m, n)| (m.clone(), n.to_string()));
    out.dedup();
    out
}

fn anti_spoof(port: &PortPlan, security: &SecurityPlan) -> Vec<String> {
    let pairs = pairs(port, security);
    let mut macs: Vec<String> = pairs.iter().map(|(m, _)| m.clone()).collect();
    macs.push(port.mac.to_lowercase());
    macs.sort();
    macs.dedup();
    let mut arp_ips: Vec<IpNet> = pairs
        .iter()
        .map(|(_, n)| *n)
        .filter(|n| matches!(n, IpNet::V4(_)))
        .collect();
    arp_ips.push(IpNet::from(IpAddr::from([0, 0, 0, 0])));
    let mut rules = vec![
        format!("ether saddr != {} drop", set(&macs)),
        format!("ether type arp arp saddr ether != {} drop", set(&macs)),
        format!(
            "ether type arp arp saddr ip != {} drop",
            set(disjoint(arp_ips))
        ),
        "ether type arp return".into(),
        // a port can never answer DHCP
        "ether type ip udp sport 67 drop".into(),
        "ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return"
            .into(),
        "ether type ip6 icmpv6 type nd-router-advert drop".into(),
        "ether type ip6 udp sport 547 drop".into(),
        // duplicate address detection and link-local addresses (the MAC is checked above)
        "ether type ip6 ip6 saddr :: return".into(),
        "ether type ip6 ip6 saddr fe80::/10 return".into(),
    ];
    let mut by_mac: BTreeMap<&str, Vec<IpNet>> = BTreeMap::new();
    for (mac, net) in &pairs {
        by_mac.entry(mac).or_default().push(*net);
    }
    for (mac, nets) in by_mac {
        let (v4, v6): (Vec<IpNet>, Vec<IpNet>) =
            nets.into_iter().partition(|n| matches!(n, IpNet::V4(_)));
        if !v4.is_empty() {
            rules.push(format!(
                "ether saddr {mac} ip saddr {} return",
                set(disjoint(v4))
            ));
        }
        if !v6.is_empty() {
            rules.push(format!(
                "ether saddr {mac} ip6 saddr {} return",
                set(disjoint(v6))
            ));
        }
    }
    rules.push("drop".into());
    rules
}

fn direction_chain(port: &PortPlan, security: &SecurityPlan, direction: Direction) -> Vec<String> {
    let verdict = match direction {
        // the destination port's ingress chain must still run: egress only returns
        Direction::Egress => "return",
        Direction::Ingress => "accept",
    };
    let mut rules = Vec::new();
    if security.stateful {
        rules.push("ct state invalid drop".into());
        rules.push(format!("ct state established,related {verdict}"));
    }
    // Neutron's base rules for IPv6 (what a port may send was checked by its
    // anti-spoofing chain, which drops router advertisements and DHCPv6 replies: only
    // the router's and the DHCP server's ports send those)
    let v6: Vec<IpNet> = port
        .ips
        .iter()
        .filter(|ip| ip.is_ipv6())
        .map(|ip| IpNet::from(*ip))
        .collect();
    match direction {
        Direction::Egress => {
            rules.push("meta nfproto ipv4 udp sport 68 udp dport 67 return".into());
            rules.push("meta nfproto ipv6 udp sport 546 udp dport 547 return".into());
            // any ICMPv6 (neighbour discovery, MLD, router solicitations, errors)
            rules.push("meta nfproto ipv6 meta l4proto ipv6-icmp return".into());
        }
        Direction::Ingress => {
            rules.push("meta nfproto ipv4 udp sport 67 udp dport 68 accept".into());
            // DHCPv6 replies to the port's own addresses or its link-local one
            let dests = disjoint(
                v6.iter()
                    .copied()
                    .chain(["fe80::/64".parse().expect("a prefix")])
                    .collect(),
            );
            rules.push(format!(
                "meta nfproto ipv6 ip6 daddr {} udp sport 547 udp dport 546 accept",
                set(dests)
            ));
            let mut icmp = vec![
                "mld-listener-query",
                "nd-neighbor-solicit",
                "nd-neighbor-advert",
            ];
            if !v6.is_empty() {
                icmp.push("nd-router-advert");
            }
            rules.push(format!(
                "meta nfproto ipv6 icmpv6 type {} accept",
                set(icmp)
            ));
        }
    }
    for rule in security.rules.iter().filter(|r| r.direction == direction) {
        if let Some(m) = rule_match(rule) {
            rules.push(format!("{m} {verdict}"));
        }
    }
    rules.push("drop".into());
    rules
}

/// The match of one rule, `None` when it can match nothing (a remote group without
/// members, a prefix of the other family).
pub fn rule_match(rule: &SgRule) -> Option<String> {
    let (nfproto, fam, icmp_proto, icmp) = match rule.ethertype {
        Ethertype::V4 => ("ipv4", "ip", 1, "icmp"),
        Ethertype::V6 => ("ipv6", "ip6", 58, "icmpv6"),
    };
    let v4 = rule.ethertype == Ethertype::V4;
    let mut m = vec![format!("meta nfproto {nfproto}")];
    let field = match rule.direction {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    };
    match &rule.remote {
        Remote::Any => {}
        Remote::Prefix(net) => {
            if matches!(net, IpNet::V4(_)) != v4 {
                return None;
            }
            if net.prefix_len() > 0 {
                m.push(format!("{fam} {field} {}", net.trunc()));
            }
        }
        Remote::Addresses(list) => {
            let nets: Vec<IpNet> = list
                .iter()
                .filter(|a| a.is_ipv4() == v4)
                .map(|a| IpNet::from(*a))
                .collect();
            if nets.is_empty() {
                return None;
            }
            m.push(format!("{fam} {field} {}", set(disjoint(nets))));
        }
    }
    if let Some(proto) = rule.protocol {
        m.push(format!("meta l4proto {proto}"));
        if proto == icmp_proto {
            if let Some(t) = rule.port_min {
                m.push(format!("{icmp} type {t}"));
                if let Some(c) = rule.port_max {
                    m.push(format!("{icmp} code {c}"));
                }
            }
        } else if matches!(proto, 6 | 17 | 33 | 132 | 136) {
            match (rule.port_min, rule.port_max) {
                (Some(a), Some(b)) if a == b => m.push(format!("th dport {a}")),
                (Some(a), Some(b)) => m.push(format!("th dport {a}-{b}")),
                (Some(a), None) | (None, Some(a)) => m.push(format!("th dport {a}")),
                (None, None) => {}
            }
        }
    }
    Some(m.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::AllowedPair;

    fn rule(
        direction: Direction,
        protocol: Option<u8>,
        ports: (Option<u16>, Option<u16>),
        remote: Remote,
    ) -> SgRule {
        SgRule {
            direction,
            ethertype: Ethertype::V4,
            protocol,
            port_min: ports.0,
            port_max: ports.1,
            remote,
        }
    }

    #[test]
    fn rules_render() {
        let cases = [
            (
                rule(Direction::Ingress, None, (None, None), Remote::Any),
                Some("meta nfproto ipv4"),
            ),
            (
                rule(
                    Direction::Ingress,
                    Some(6),
                    (Some(22), Some(22)),
                    Remote::Prefix("10.0.0.0/8".parse().unwrap()),
                ),
                Some("meta nfproto ipv4 ip saddr 10.0.0.0/8 meta l4proto 6 th dport 22"),
            ),
            (
                rule(
                    Direction::Egress,
                    Some(17),
                    (Some(1000), Some(2000)),
                    Remote::Any,
                ),
                Some("meta nfproto ipv4 meta l4proto 17 th dport 1000-2000"),
            ),
            (
                rule(
                    Direction::Ingress,
                    Some(1),
                    (Some(8), None),
                    Remote::Addresses(vec!["10.0.0.3".parse().unwrap()]),
                ),
                Some("meta nfproto ipv4 ip saddr { 10.0.0.3/32 } meta l4proto 1 icmp type 8"),
            ),
            (
                rule(
                    Direction::Ingress,
                    Some(1),
                    (None, None),
                    Remote::Addresses(vec![]),
                ),
                None,
            ),
            (
                rule(
                    Direction::Ingress,
                    None,
                    (None, None),
                    Remote::Prefix("::/0".parse().unwrap()),
                ),
                None,
            ),
            (
                rule(
                    Direction::Ingress,
                    None,
                    (None, None),
                    Remote::Prefix("0.0.0.0/0".parse().unwrap()),
                ),
                Some("meta nfproto ipv4"),
            ),
        ];
        for (rule, expect) in cases {
            assert_eq!(rule_match(&rule).as_deref(), expect, "{rule:?}");
        }
    }

    #[test]
    fn port_chains_render() {
        let port = PortPlan {
            id: "p1".into(),
            network_id: "n".into(),
            device: "tapp1".into(),
            mac: "FA:16:3E:00:00:01".into(),
            ips: vec!["10.0.0.5".parse().unwrap()],
            security: None,
            qos: None,
        };
        let security = SecurityPlan {
            allowed_pairs: vec![AllowedPair {
                mac: "fa:16:3e:00:00:01".into(),
                ip: "10.0.0.0/24".parse().unwrap(),
            }],
            rules: vec![rule(Direction::Ingress, Some(1), (None, None), Remote::Any)],
            stateful: true,
        };
        let chains = chains(&[Secured {
            port: &port,
            security: &security,
            index: 3,
        }]);
        let get = |f, n: &str| {
            chains
                .iter()
                .find(|c| c.family == f && c.name == n)
                .unwrap()
                .rules
                .clone()
        };
        let spoof = get(Family::Bridge, "as_tapp1");
        assert!(
            spoof.contains(&"ether saddr != { fa:16:3e:00:00:01 } drop".to_owned()),
            "{spoof:?}"
        );
        // the /32 inside the allowed /24 is merged away
        assert!(
            spoof.contains(
                &"ether saddr fa:16:3e:00:00:01 ip saddr { 10.0.0.0/24 } return".to_owned()
            ),
            "{spoof:?}"
        );
        assert!(
            spoof.contains(
                &"ether type arp arp saddr ip != { 0.0.0.0/32, 10.0.0.0/24 } drop".to_owned()
            ),
            "{spoof:?}"
        );
        assert_eq!(spoof.last().unwrap(), "drop");
        let ing = get(Family::Inet, "ing_tapp1");
        assert_eq!(
            &ing[..2],
            [
                "ct state invalid drop",
                "ct state established,related accept"
            ]
        );
        assert_eq!(
            ing[ing.len() - 2],
            "meta nfproto ipv4 meta l4proto 1 accept"
        );
        let egr = get(Family::Inet, "egr_tapp1");
        assert_eq!(egr.last().unwrap(), "drop");
        assert!(
            egr.iter().all(|r| !r.ends_with("accept")),
            "egress must return: {egr:?}"
        );
        assert_eq!(
            get(Family::Bridge, "sm_tapp1"),
            ["meta mark set meta mark or 0x00030000"]
        );
        assert_eq!(
            get(Family::Inet, "forward"),
            [
                "meta mark and 0xffff0000 vmap { 0x00030000 : jump egr_tapp1 }",
                "meta mark and 0x0000ffff vmap { 0x00000003 : jump ing_tapp1 }"
            ]
        );
        assert!(super::chains(&[]).is_empty());

        // stateless: no connection tracking, every packet needs a rule of its direction
        let stateless = SecurityPlan {
            stateful: false,
            ..security
        };
        let ing = direction_chain(&port, &stateless, Direction::Ingress);
        assert!(ing.iter().all(|r| !r.starts_with("ct ")), "{ing:?}");
        assert_eq!(
            ing[ing.len() - 2],
            "meta nfproto ipv4 meta l4proto 1 accept"
        );
    }
}

//! Address management, pure: subnet CIDRs, gateways, allocation pools, picking free
//! addresses, SLAAC addresses and MACs. The store makes a choice stick (one row per
//! subnet and address, a primary key), so two API processes that pick the same address
//! at once cannot both get it: the loser picks again.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use ipnet::IpNet;
use rand::Rng;
use types::Error;

use crate::model::Pool;

/// `InvalidInput`'s words, as Neutron writes them.
pub fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Invalid input for operation: {msg}.")).with_code("InvalidInput")
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v: u128, like: IpAddr) -> IpAddr {
    match like {
        // Callers stay inside a v4 subnet, so the value fits.
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX))),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// A subnet's CIDR as the client wrote it: a network address of `ip_version`.
pub fn parse_cidr(text: &str, ip_version: Option<u8>) -> Result<IpNet, Error> {
    let net: IpNet = text
        .parse()
        .map_err(|_| invalid(format_args!("'{text}' is not a valid IP subnet")))?;
    if net.trunc() != net {
        return Err(invalid(format_args!(
            "'{text}' isn't a recognized IP subnet cidr, '{}' is recommended",
            net.trunc()
        )));
    }
    let version = if net.addr().is_ipv4() { 4 } else { 6 };
    if let Some(v) = ip_version {
        if v != version {
            return Err(invalid(format_args!(
                "Cidr {text} does not match the ip_version {v}"
            )));
        }
    }
    if net.prefix_len() == 0 {
        return Err(invalid(format_args!("'{text}' is too large a subnet")));
    }
    Ok(net)
}

/// The first address after the network address (Neutron's default gateway).
pub fn first_host(cidr: &IpNet) -> IpAddr {
    from_u128(to_u128(cidr.network()) + 1, cidr.addr())
}

/// The last address that may be given to a port.
fn last_host(cidr: &IpNet) -> IpAddr {
    let last = to_u128(cidr.broadcast());
    match cidr {
        // IPv4 keeps its broadcast address (except /31 and /32, which have none).
        IpNet::V4(n) if n.prefix_len() < 31 => from_u128(last - 1, cidr.addr()),
        _ => cidr.broadcast(),
    }
}

/// The pools of a subnet nobody gave pools to: every usable address but the gateway.
pub fn default_pools(cidr: &IpNet, gateway: Option<IpAddr>) -> Vec<Pool> {
    let first = to_u128(first_host(cidr));
    let last = to_u128(last_host(cidr));
    if first > last {
        return Vec::new();
    }
    let mut pools = Vec::new();
    let mut push = |a: u128, b: u128| {
        if a <= b {
            pools.push(Pool {
                start: from_u128(a, cidr.addr()),
                end: from_u128(b, cidr.addr()),
            })
        }
    };
    match gateway.map(to_u128).filter(|g| (first..=last).contains(g)) {
        Some(g) => {
            if g > first {
                push(first, g - 1);
            }
            if g < last {
                push(g + 1, last);
            }
        }
        None => push(first, last),
    }
    pools
}

/// A gateway must be a host address inside its subnet.
pub fn check_gateway(cidr: &IpNet, gateway: IpAddr) -> Result<(), Error> {
    if !cidr.contains(&gateway) || gateway.is_ipv4() != cidr.addr().is_ipv4() {
        return Err(
            invalid(format_args!("Gateway IP {gateway} is not in subnet {cidr}"))
                .with_code("InvalidInput"),
        );
    }
    if cidr.addr().is_ipv4()
        && cidr.prefix_len() < 31
        && (gateway == cidr.network() || gateway == cidr.broadcast())
    {
        return Err(invalid(format_args!(
            "Gateway is not valid on subnet {cidr}: {gateway} is its network or broadcast address"
        )));
    }
    Ok(())
}

/// Pools must be inside the subnet, ordered, disjoint, and leave the gateway out.
pub fn check_pools(cidr: &IpNet, pools: &[Pool], gateway: Option<IpAddr>) -> Result<(), Error> {
    let first = to_u128(first_host(cidr));
    let last = to_u128(last_host(cidr));
    let mut ranges = Vec::new();
    for p in pools {
        if p.start.is_ipv4() != cidr.addr().is_ipv4() || p.end.is_ipv4() != cidr.addr().is_ipv4() {
            return Err(invalid(format_args!(
                "The allocation pool {}-{} is not of the subnet's IP version",
                p.start, p.end
            )));
        }
        let (a, b) = (to_u128(p.start), to_u128(p.end));
        if a > b {
            return Err(invalid(format_args!(
                "The allocation pool {}-{} spans beyond the subnet cidr {cidr}: its start is after its end",
                p.start, p.end
            ))
            .with_code("InvalidAllocationPool"));
        }
        if a < first || b > last {
            return Err(Error::bad_request(format!(
                "The allocation pool {}-{} spans beyond the subnet cidr {cidr}.",
                p.start, p.end
            ))
            .with_code("OutOfBoundsAllocationPool"));
        }
        if let Some(g) = gateway {
            let g = to_u128(g);
            if (a..=b).contains(&g) {
                return Err(Error::conflict(format!(
                    "Gateway ip {} conflicts with allocation pool {}-{}.",
                    from_u128(g, cidr.addr()),
                    p.start,
                    p.end
                ))
                .with_code("GatewayConflictWithAllocationPools"));
            }
        }
        ranges.push((a, b, p));
    }
    ranges.sort_by_key(|r| r.0);
    for w in ranges.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err(Error::bad_request(format!(
                "Found overlapping allocation pools: {}-{} and {}-{}.",
                w[0].2.start, w[0].2.end, w[1].2.start, w[1].2.end
            ))
            .with_code("OverlappingAllocationPools"));
        }
    }
    Ok(())
}

/// Two CIDRs share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// `address` is one a port may be given in the subnet (inside it, not its network or
/// broadcast address).
pub fn check_address(cidr: &IpNet, address: IpAddr) -> Result<(), Error> {
    let v = to_u128(address);
    if !cidr.contains(&address) || v < to_u128(first_host(cidr)) || v > to_u128(last_host(cidr)) {
        return Err(invalid(format_args!(
            "IP address {address} is not a valid IP for the specified subnet"
        )));
    }
    Ok(())
}

/// Up to `n` free addresses of the pools, from the start (so a network fills from its
/// low addresses, as people expect), skipping `taken`.
pub fn free_addresses(pools: &[Pool], taken: &HashSet<IpAddr>, n: usize) -> Vec<IpAddr> {
    let mut out = Vec::with_capacity(n);
    for p in pools {
        let (mut a, b) = (to_u128(p.start), to_u128(p.end));
        while a <= b && out.len() < n {
            let ip = from_u128(a, p.start);
            if !taken.contains(&ip) {
                out.push(ip);
            }
            a += 1;
        }
        if out.len() >= n {
            break;
        }
    }
    out
}

/// The SLAAC address of `mac` in a /64 (modified EUI-64).
pub fn eui64(cidr: &IpNet, mac: &str) -> Result<IpAddr, Error> {
    let IpNet::V6(net) = cidr else {
        return Err(Error::internal("EUI-64 of an IPv4 subnet"));
    };
    let b = parse_mac(mac).ok_or_else(|| Error::internal(format!("bad MAC {mac}")))?;
    let iid = [b[0] ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
    let mut octets = net.network().octets();
    octets[8..].copy_from_slice(&iid);
    Ok(IpAddr::V6(Ipv6Addr::from(octets)))
}

/// The six bytes of `aa:bb:cc:dd:ee:ff` (any case).
pub fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = mac.split([':', '-']);
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// A MAC address that may be given to a port: unicast, not all zeros; lower case.
pub fn normalize_mac(mac: &str) -> Result<String, Error> {
    match parse_mac(mac) {
        Some(b) if b[0] & 1 == 0 && b != [0; 6] => Ok(format_mac(b)),
        _ => Err(invalid(format_args!("'{mac}' is not a valid MAC address"))),
    }
}

fn format_mac(b: [u8; 6]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A random MAC under `base` (three bytes, `fa:16:3e`).
pub fn random_mac(base: &str) -> String {
    let mut b = [0xfa, 0x16, 0x3e, 0, 0, 0];
    for (i, p) in base.split(':').take(3).enumerate() {
        if let Ok(v) = u8::from_str_radix(p, 16) {
            b[i] = v;
        }
    }
    let mut rng = rand::thread_rng();
    for x in &mut b[3..] {
        *x = rng.gen();
    }
    format_mac(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_gateways_and_pools() {
        let c = parse_cidr("10.0.0.0/24", Some(4)).unwrap();
        assert!(parse_cidr("10.0.0.5/24", None).is_err());
        assert!(parse_cidr("10.0.0.0/24", Some(6)).is_err());
        assert!(parse_cidr("nonsense", None).is_err());
        assert_eq!(first_host(&c), ip("10.0.0.1"));
        let pools = default_pools(&c, Some(ip("10.0.0.1")));
        assert_eq!(
            pools,
            vec![Pool {
                start: ip("10.0.0.2"),
                end: ip("10.0.0.254")
            }]
        );
        let mid = default_pools(&c, Some(ip("10.0.0.100")));
        assert_eq!(mid.len(), 2);
        check_pools(&c, &pools, Some(ip("10.0.0.1"))).unwrap();
        assert!(check_pools(&c, &pools, Some(ip("10.0.0.9"))).is_err());
        let outside = [Pool {
            start: ip("10.0.0.10"),
            end: ip("10.0.1.10"),
        }];
        assert!(check_pools(&c, &outside, None).is_err());
        let overlapping = [
            Pool {
                start: ip("10.0.0.10"),
                end: ip("10.0.0.20"),
            },
            Pool {
                start: ip("10.0.0.20"),
                end: ip("10.0.0.30"),
            },
        ];
        assert!(check_pools(&c, &overlapping, None).is_err());
        assert!(check_gateway(&c, ip("10.0.1.1")).is_err());
        assert!(check_gateway(&c, ip("10.0.0.255")).is_err());
        check_gateway(&c, ip("10.0.0.254")).unwrap();
        assert!(overlaps(&c, &parse_cidr("10.0.0.128/25", None).unwrap()));
        assert!(!overlaps(&c, &parse_cidr("10.0.1.0/24", None).unwrap()));
    }

    #[test]
    fn free_addresses_skip_taken() {
        let pools = [Pool {
            start: ip("10.0.0.2"),
            end: ip("10.0.0.5"),
        }];
        let taken: HashSet<IpAddr> = [ip("10.0.0.2"), ip("10.0.0.4")].into();
        assert_eq!(
            free_addresses(&pools, &taken, 5),
            vec![ip("10.0.0.3"), ip("10.0.0.5")]
        );
    }

    #[test]
    fn macs_and_slaac() {
        assert_eq!(
            normalize_mac("FA:16:3E:00:00:01").unwrap(),
            "fa:16:3e:00:00:01"
        );
        assert!(normalize_mac("01:00:00:00:00:01").is_err());
        assert!(normalize_mac("fa:16:3e:00:00").is_err());
        let m = random_mac("fa:16:3e");
        assert!(m.starts_with("fa:16:3e:") && m.len() == 17, "{m}");
        let c = parse_cidr("2001:db8::/64", Some(6)).unwrap();
        assert_eq!(
            eui64(&c, "fa:16:3e:12:34:56").unwrap(),
            ip("2001:db8::f816:3eff:fe12:3456")
        );
    }
}

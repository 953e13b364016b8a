//! DHCP: dnsmasq in `qdhcp-<network>`, static leases only, no DNS.
//!
//! Files live in `<state dir>/dhcp/<network id>/`: `dnsmasq.conf` (everything but the
//! leases: a change restarts dnsmasq), `hosts` (MAC, IP, hostname per line: a change is
//! picked up by SIGHUP, no restart per port), `leases`, `pid`, `log`.
//! dnsmasq runs in the foreground as a child of the dataplane (`ip netns exec`); after an
//! agent restart it is found again by its pid file and command line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use tokio::process::{Child, Command};

use crate::plan::{DhcpPlan, NetworkPlan};
use crate::Error;

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
        let IpNet::V4(cidr) = subnet.cidr else {
            continue;
        };
        let tag = format!("subnet{i}");
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

/// The static hosts file (pure).
pub fn render_hosts(dhcp: &DhcpPlan) -> String {
    let mut lines: Vec<String> = dhcp
        .hosts
        .iter()
        .filter(|h| h.ip.is_ipv4())
        .map(|h| format!("{},{},{}\n", h.mac.to_lowercase(), h.ip, h.hostname))
        .collect();
    lines.sort();
    lines.concat()
}

/// Write `content` to `path` unless it already holds it; true when written.
pub fn write_if_changed(path: &Path, content: &str) -> Result<bool, Error> {
    match std::fs::read_to_string(path) {
        Ok(old) if old == content => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
    }
    std::fs::write(path, content).map_err(Error::io(format!("writing {}", path.display())))?;
    Ok(true)
}

/// The dnsmasq processes the dataplane started, by network id.
#[derive(Default)]
pub struct Supervisor {
    children: BTreeMap<String, Child>,
}

fn pid_alive_with(pid: i32, needle: &str) -> bool {
    // no such process: not running
    let (Ok(stat), Ok(cmdline)) = (
        std::fs::read_to_string(format!("/proc/{pid}/stat")),
        std::fs::read(format!("/proc/{pid}/cmdline")),
    ) else {
        return false;
    };
    // the state follows the parenthesized command name; a zombie is not running
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    !zombie && String::from_utf8_lossy(&cmdline).contains(needle)
}

impl Supervisor {
    /// The pid of the network's running dnsmasq, if one runs.
    pub fn running(&mut self, network_id: &str, files: &Files) -> Option<i32> {
        if let Some(child) = self.children.get_mut(network_id) {
            match child.try_wait() {
                Ok(None) => return child.id().and_then(|p| i32::try_from(p).ok()),
                _ => {
                    self.children.remove(network_id);
                }
            }
        }
        // started by an earlier agent: its pid file and command line tell
        let pid: i32 = std::fs::read_to_string(files.pid())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        pid_alive_with(pid, &files.conf().display().to_string()).then_some(pid)
    }

    /// Start dnsmasq for a network in its namespace.
    pub fn start(&mut self, network_id: &str, namespace: &str, files: &Files) -> Result<(), Error> {
        let log = std::fs::File::create(files.dir.join("log"))
            .map_err(Error::io(format!("creating {}/log", files.dir.display())))?;
        let conf = format!("--conf-file={}", files.conf().display());
        let child = Command::new("ip")
            .args(["netns", "exec", namespace, "dnsmasq", &conf])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(Error::io(format!("starting dnsmasq in {namespace}")))?;
        self.children.insert(network_id.to_owned(), child);
        Ok(())
    }

    /// Make a running dnsmasq re-read its hosts file.
    pub fn reload(pid: i32) -> Result<(), Error> {
        signal(pid, rustix::process::Signal::HUP)
    }

    /// Stop a network's dnsmasq, waiting for it to exit.
    pub async fn stop(&mut self, network_id: &str, files: &Files) -> Result<(), Error> {
        let Some(pid) = self.running(network_id, files) else {
            return Ok(());
        };
        signal(pid, rustix::process::Signal::TERM)?;
        if let Some(mut child) = self.children.remove(network_id) {
            child
                .wait()
                .await
                .map_err(Error::io("waiting for dnsmasq"))?;
        } else {
            let needle = files.conf().display().to_string();
            for _ in 0..100 {
                if !pid_alive_with(pid, &needle) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }
}

fn signal(pid: i32, sig: rustix::process::Signal) -> Result<(), Error> {
    let pid =
        rustix::process::Pid::from_raw(pid).ok_or_else(|| Error::Plan(format!("bad pid {pid}")))?;
    rustix::process::kill_process(pid, sig).map_err(|e| Error::Io {
        what: format!("signalling dnsmasq {pid:?}"),
        source: e.into(),
    })
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
}

//! The real dataplane: the *current* network namespace is the host (the agent runs
//! inside it, e.g. `ip netns exec host1 oxistack serve --role network-agent` in tests);
//! DHCP namespaces are created by name.
//!
//! What it owns, and so may change or delete: links whose alias starts with
//! `<owner>:` (bridges, VXLAN and VLAN devices, DHCP veths; the alias is set when they
//! are created), the nft tables named `<owner>` in the bridge and inet families, and
//! the DHCP namespaces and dnsmasq processes whose directory exists under
//! `<state dir>/dhcp/`. Port taps belong to the VM side: they are only plugged,
//! set up, given the network's MTU and shaped, and released from the bridge when their
//! port leaves the plan. A physical interface of a flat network is only enslaved.
//!
//! VLAN networks: `<interface>.<vlan id>` is created and enslaved, but this machine's
//! kernel has no 802.1Q, so only the plan -> operations part ([`plan_network`]) is
//! tested here.

mod cmd;
mod daemon;
mod dhcp;
mod external;
mod fdb;
mod marks;
mod netlink;
mod nft;
mod qos;
mod ra;
mod route;
mod router;
mod sg;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use tokio::sync::Mutex;

use self::netlink::{Link, Netlink};
use crate::names;
use crate::plan::{HostPlan, NetworkKind, NetworkPlan, PortPlan};

/// A TCP listener on `addr` opened inside the namespace `ns` (non-blocking, for tokio):
/// a socket keeps the namespace it was made in, so it accepts there while its owner's
/// threads stay in theirs (the agent's metadata proxies).
pub fn tcp_listener_in(
    ns: &str,
    addr: std::net::SocketAddr,
) -> Result<std::net::TcpListener, Error> {
    netlink::in_namespace_thread(ns, || {
        let l = std::net::TcpListener::bind(addr)
            .map_err(Error::io(format!("listening on {addr} in {ns}")))?;
        l.set_nonblocking(true)
            .map_err(Error::io(format!("listening on {addr} in {ns}")))?;
        Ok(l)
    })
}

/// The identity of the namespace `ns` (its nsfs inode), `None` when it does not exist:
/// it changes when the namespace is deleted and made again, so a listener opened in the
/// old one can be told stale.
pub fn namespace_identity(ns: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(format!("/run/netns/{ns}"))
        .ok()
        .map(|m| m.ino())
}

/// The names in a state subdirectory (none when it does not exist).
fn list_dir(dir: &std::path::Path) -> Result<Vec<String>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()))(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("listing {}", dir.display())))?;
        out.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(out)
}
use crate::{Applied, Dataplane, Error};

/// Whether the named network namespace `/run/netns/<ns>` is there. A file there that is
/// not a mounted namespace is stale: it outlived the mount namespace that held the
/// mount (a process run by `ip netns exec`, which gets a private one, made it and
/// died). It is removed, so the caller makes the namespace afresh.
pub(crate) fn namespace_present(ns: &str) -> Result<bool, Error> {
    /// `NSFS_MAGIC` of linux/magic.h.
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    let path = format!("/run/netns/{ns}");
    match rustix::fs::statfs(path.as_str()) {
        Ok(st) if st.f_type == NSFS_MAGIC => Ok(true),
        Ok(_) => {
            tracing::warn!(namespace = ns, "removing a stale namespace file");
            std::fs::remove_file(&path).map_err(Error::io(format!("removing stale {path}")))?;
            Ok(false)
        }
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::Io {
            what: format!("checking {path}"),
            source: e.into(),
        }),
    }
}

/// How the Linux dataplane is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where dnsmasq files, port mark indices and QoS records live (created if missing).
    pub state_dir: PathBuf,
    /// The owner tag: the prefix of the alias of every link it creates, and the name of
    /// its nft tables. Letters, digits and `_` only. Two dataplanes in one namespace
    /// must have different tags (and distinct network ids).
    pub owner: String,
    /// Appended to the names of its DHCP namespaces (`qdhcp-<network>-<tag>`), which
    /// live in the machine's `/run/netns` whatever network namespace the agent runs in:
    /// when several hosts' agents run on one machine (a multi-host simulation), each
    /// needs its own tag, or the host that takes over a network's DHCP from a dead one
    /// finds the dead one's namespace under its name. `None`: Neutron's `qdhcp-<network>`.
    /// Letters, digits, `_` and `-` only.
    pub namespace_tag: Option<String>,
}

/// The Linux dataplane (see the module docs).
pub struct Linux {
    config: Config,
    /// Held for a whole apply or teardown: they never interleave.
    state: Mutex<daemon::Supervisor>,
}

/// The uplink device a network's bridge needs (pure: the plan -> operations step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uplink {
    /// No uplink (local network, or flat without an interface).
    None,
    /// An existing interface to enslave (flat).
    Existing(String),
    /// A VLAN subinterface to create on `parent` and enslave.
    Vlan {
        /// `<parent>.<vlan id>`.
        name: String,
        /// The physnet interface.
        parent: String,
        /// The tag.
        vlan_id: u16,
    },
    /// A VXLAN device to create and enslave.
    Vxlan {
        /// `vxlan-<vni>`.
        name: String,
        /// The VNI.
        vni: u32,
        /// The local VTEP address.
        local: IpAddr,
        /// The (MAC, VTEP) forwarding entries.
        fdb: BTreeSet<(String, IpAddr)>,
    },
}

/// The bridge and uplink of a network.
pub fn plan_network(net: &NetworkPlan) -> (String, Uplink) {
    let uplink = match &net.kind {
        NetworkKind::Local | NetworkKind::Flat { interface: None } => Uplink::None,
        NetworkKind::Flat { interface: Some(i) } => Uplink::Existing(i.clone()),
        NetworkKind::Vlan { interface, vlan_id } => Uplink::Vlan {
            name: names::vlan(interface, *vlan_id),
            parent: interface.clone(),
            vlan_id: *vlan_id,
        },
        NetworkKind::Vxlan {
            vni,
            local_ip,
            peers,
            fdb,
        } => Uplink::Vxlan {
            name: names::vxlan(*vni),
            vni: *vni,
            local: *local_ip,
            fdb: peers
                .iter()
                .map(|p| (fdb::FLOOD.to_owned(), *p))
                .chain(fdb.iter().map(|e| (e.mac.to_lowercase(), e.peer)))
                .collect(),
        },
    };
    (names::bridge(&net.id), uplink)
}

/// The links of the host by name, re-read after changes.
struct Links {
    by_name: BTreeMap<String, Link>,
}

impl Links {
    async fn read(nl: &Netlink) -> Result<Links, Error> {
        Ok(Links {
            by_name: nl
                .links()
                .await?
                .into_iter()
                .map(|l| (l.name.clone(), l))
                .collect(),
        })
    }

    fn get(&self, name: &str) -> Option<&Link> {
        self.by_name.get(name)
    }

    fn require(&self, name: &str) -> Result<&Link, Error> {
        self.get(name)
            .ok_or_else(|| Error::Plan(format!("device {name} vanished while being configured")))
    }
}

impl Linux {
    /// A dataplane with this config; checks the owner tag and creates the state directory.
    pub fn new(config: Config) -> Result<Linux, Error> {
        if config.owner.is_empty()
            || !config
                .owner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::Plan(format!(
                "bad owner tag {:?}: letters, digits and _ only",
                config.owner
            )));
        }
        if let Some(tag) = config.namespace_tag.as_deref().filter(|t| {
            t.is_empty()
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }) {
            return Err(Error::Plan(format!(
                "bad namespace tag {tag:?}: letters, digits, _ and - only"
            )));
        }
        for dir in [config.state_dir.clone(), config.state_dir.join("dhcp")] {
            std::fs::create_dir_all(&dir)
                .map_err(Error::io(format!("creating {}", dir.display())))?;
        }
        Ok(Linux {
            config,
            state: Mutex::new(daemon::Supervisor::default()),
        })
    }

    fn alias(&self, network_id: &str) -> String {
        format!("{}:{network_id}", self.config.owner)
    }

    /// The network id an owned link belongs to, from its alias.
    fn owned_network<'a>(&self, link: &'a Link) -> Option<&'a str> {
        link.alias
            .as_deref()?
            .strip_prefix(self.config.owner.as_str())?
            .strip_prefix(':')
    }

    /// The DHCP namespace of a network (see [`Config::namespace_tag`]).
    fn dhcp_namespace(&self, network_id: &str) -> String {
        names::tagged_dhcp_namespace(network_id, self.config.namespace_tag.as_deref())
    }

    fn dhcp_files(&self, network_id: &str) -> dhcp::Files {
        dhcp::Files {
            dir: self.config.state_dir.join("dhcp").join(network_id),
        }
    }

    /// Bring an existing link to up, in `master` (if given) and with `mtu` (if given).
    async fn wire(
        nl: &Netlink,
        link: &Link,
        master: Option<&Link>,
        mtu: Option<u32>,
        changes: &mut Vec<String>,
    ) -> Result<(), Error> {
        if let Some(mtu) = mtu.filter(|m| *m != link.mtu) {
            nl.set_mtu(link, mtu).await?;
            changes.push(format!("set mtu {mtu} on {}", link.name));
        }
        if let Some(master) = master.filter(|m| link.master != Some(m.index)) {
            nl.set_master(link, master).await?;
            changes.push(format!("plugged {} into {}", link.name, master.name));
        }
        if !link.up {
            nl.set_up(link).await?;
            changes.push(format!("set {} up", link.name));
        }
        Ok(())
    }

    async fn ensure_network(
        &self,
        nl: &Netlink,
        links: &mut Links,
        net: &NetworkPlan,
        changes: &mut Vec<String>,
    ) -> Result<(), Error> {
        let (bridge, uplink) = plan_network(net);
        let alias = self.alias(&net.id);
        if links.get(&bridge).is_none() {
            nl.create_bridge(&bridge, net.mtu, &alias).await?;
            changes.push(format!("created bridge {bridge}"));
            *links = Links::read(nl).await?;
        }
        let br = links.require(&bridge)?.clone();
        // the host takes no address from the routers advertising on its bridges
        if router::ensure_sysctl(None, &format!("net/ipv6/conf/{bridge}/accept_ra"), "0")? {
            changes.push(format!("set accept_ra 0 on {bridge}"));
        }
        Self::wire(nl, &br, None, Some(net.mtu), changes).await?;
        match &uplink {
            Uplink::None => {}
            Uplink::Existing(name) => {
                let dev = links.get(name).ok_or_else(|| {
                    Error::Plan(format!(
                        "interface {name} of network {} does not exist",
                        net.id
                    ))
                })?;
                Self::wire(nl, dev, Some(&br), None, changes).await?;
            }
            Uplink::Vlan {
                name,
                parent,
                vlan_id,
            } => {
                if links.get(name).is_none() {
                    let p = links.get(parent).ok_or_else(|| {
                        Error::Plan(format!(
                            "interface {parent} of network {} does not exist",
                            net.id
                        ))
                    })?;
                    nl.create_vlan(name, p.index, *vlan_id, net.mtu, &alias)
                        .await?;
                    changes.push(format!("created vlan {name}"));
                    *links = Links::read(nl).await?;
                }
                Self::wire(nl, links.require(name)?, Some(&br), Some(net.mtu), changes).await?;
            }
            Uplink::Vxlan {
                name,
                vni,
                local,
                fdb,
            } => {
                let wrong = links
                    .get(name)
                    .is_some_and(|l| l.vxlan != Some((*vni, Some(*local), false)));
                if wrong {
                    nl.delete(links.require(name)?).await?;
                    changes.push(format!("deleted mismatched vxlan {name}"));
                }
                if wrong || links.get(name).is_none() {
                    nl.create_vxlan(name, *vni, *local, net.mtu, &alias).await?;
                    changes.push(format!("created vxlan {name}"));
                    *links = Links::read(nl).await?;
                }
                Self::wire(nl, links.require(name)?, Some(&br), Some(net.mtu), changes).await?;
                changes.extend(fdb::reconcile(name, fdb).await?);
            }
        }
        Ok(())
    }

    /// The DHCP namespace, its port and dnsmasq of one network.
    async fn ensure_dhcp(
        &self,
        sup: &mut daemon::Supervisor,
        nl: &Netlink,
        links: &mut Links,
        net: &NetworkPlan,
        changes: &mut Vec<String>,
    ) -> Result<(), Error> {
        let Some(plan) = &net.dhcp else { return Ok(()) };
        let ns = self.dhcp_namespace(&net.id);
        let tap = names::dhcp_tap(&net.id);
        let inner = names::dhcp_ns_device(&net.id);
        let files = self.dhcp_files(&net.id);
        std::fs::create_dir_all(&files.dir)
            .map_err(Error::io(format!("creating {}", files.dir.display())))?;
        let ns_path = format!("/run/netns/{ns}");
        if !namespace_present(&ns)? {
            cmd::run("ip", &["netns", "add", &ns], None).await?;
            changes.push(format!("created namespace {ns}"));
            // the namespace was deleted by hand while dnsmasq kept the old one alive
            // (with the veth's inner end): start both afresh
            sup.stop(&files.daemon(&ns)).await?;
            if let Some(stale) = links.get(&tap) {
                nl.delete(stale).await?;
                changes.push(format!("deleted stale dhcp port {tap}"));
                *links = Links::read(nl).await?;
            }
        }
        if links.get(&tap).is_none() {
            // a leftover inner end (its host end deleted by hand) is gone with the pair
            nl.create_veth(&tap, &inner, net.mtu, &self.alias(&net.id))
                .await?;
            *links = Links::read(nl).await?;
            let ns_file =
                std::fs::File::open(&ns_path).map_err(Error::io(format!("opening {ns_path}")))?;
            nl.move_to(links.require(&inner)?, &ns_file).await?;
            changes.push(format!("created dhcp port {tap}"));
            *links = Links::read(nl).await?;
        }
        let br = links.require(&names::bridge(&net.id))?.clone();
        Self::wire(nl, links.require(&tap)?, Some(&br), Some(net.mtu), changes).await?;

        let inside = Netlink::in_namespace(&ns)?;
        let ns_links = Links::read(&inside).await?;
        if let Some(lo) = ns_links.get("lo").filter(|l| !l.up) {
            inside.set_up(lo).await?;
        }
        let dev = ns_links.require(&inner)?;
        let mac = netlink::parse_mac(&plan.port_mac)?;
        if dev.mac != Some(mac) {
            inside.set_mac(dev, mac).await?;
            changes.push(format!("set mac {} on {inner}", plan.port_mac));
        }
        if plan.addresses.iter().any(|a| a.addr().is_ipv6()) {
            // the port's addresses are the plan's: none from the router's RAs, and
            // no duplicate address detection holding them back from dnsmasq
            let dev_conf = format!("net/ipv6/conf/{inner}");
            changes.extend(router::ensure_sysctls(
                &ns,
                &[
                    (format!("{dev_conf}/accept_ra"), "0"),
                    (format!("{dev_conf}/accept_dad"), "0"),
                ],
            )?);
        }
        Self::wire(&inside, dev, None, Some(net.mtu), changes).await?;
        let mut want: BTreeSet<IpNet> = plan.addresses.iter().copied().collect();
        if plan.metadata {
            want.insert(IpNet::from(IpAddr::V4(dhcp::METADATA)));
        }
        let have: BTreeSet<IpNet> = inside.addresses(dev).await?.into_iter().collect();
        for a in want.difference(&have) {
            inside.add_address(dev, *a).await?;
            changes.push(format!("added {a} to {inner}"));
        }
        for a in have.difference(&want) {
            inside.del_address(dev, *a).await?;
            changes.push(format!("removed {a} from {inner}"));
        }
        drop(inside);

        let conf_changed =
            daemon::write_if_changed(&files.conf(), &dhcp::render_conf(net, plan, &files, &inner))?;
        let hosts_changed = daemon::write_if_changed(&files.hosts(), &dhcp::render_hosts(plan))?;
        let dnsmasq = files.daemon(&ns);
        match sup.running(&dnsmasq) {
            Some(_) if conf_changed => {
                sup.stop(&dnsmasq).await?;
                sup.start(&dnsmasq)?;
                changes.push(format!("restarted dnsmasq for {}", net.id));
            }
            Some(pid) if hosts_changed => {
                daemon::Supervisor::reload(pid)?;
                changes.push(format!("reloaded dnsmasq hosts for {}", net.id));
            }
            Some(_) => {}
            None => {
                sup.start(&dnsmasq)?;
                changes.push(format!("started dnsmasq for {}", net.id));
            }
        }
        Ok(())
    }

    /// Stop and remove the DHCP of a network: dnsmasq, namespace (its veth goes with it),
    /// files.
    async fn remove_dhcp(
        &self,
        sup: &mut daemon::Supervisor,
        network_id: &str,
    ) -> Result<(), Error> {
        let files = self.dhcp_files(network_id);
        let ns = self.dhcp_namespace(network_id);
        sup.stop(&files.daemon(&ns)).await?;
        if namespace_present(&ns)? {
            cmd::run("ip", &["netns", "del", &ns], None).await?;
        }
        std::fs::remove_dir_all(&files.dir)
            .map_err(Error::io(format!("removing {}", files.dir.display())))
    }

    /// Network ids with a DHCP directory (owned DHCP namespaces).
    fn dhcp_dirs(&self) -> Result<Vec<String>, Error> {
        list_dir(&self.config.state_dir.join("dhcp"))
    }

    /// The host's own address on a network's bridge: exactly `host_address` (the
    /// bridge is the dataplane's, so any other address on it is removed).
    async fn ensure_host_address(
        nl: &Netlink,
        links: &Links,
        net: &NetworkPlan,
        changes: &mut Vec<String>,
    ) -> Result<(), Error> {
        let bridge = links.require(&names::bridge(&net.id))?;
        let want: BTreeSet<IpNet> = net.host_address.into_iter().collect();
        let have: BTreeSet<IpNet> = nl.addresses(bridge).await?.into_iter().collect();
        for a in want.difference(&have) {
            nl.add_address(bridge, *a).await?;
            changes.push(format!("added {a} to {}", bridge.name));
        }
        for a in have.difference(&want) {
            nl.del_address(bridge, *a).await?;
            changes.push(format!("removed {a} from {}", bridge.name));
        }
        Ok(())
    }

    async fn ensure_port(
        &self,
        nl: &Netlink,
        links: &Links,
        port: &PortPlan,
        net: &NetworkPlan,
        changes: &mut Vec<String>,
    ) -> Result<bool, Error> {
        let Some(tap) = links.get(&port.device) else {
            return Ok(false);
        };
        let br = links.require(&names::bridge(&net.id))?;
        Self::wire(nl, tap, Some(br), Some(net.mtu), changes).await?;
        let ifb = names::ifb(&port.device);
        if port.qos.is_some() {
            match links.get(&ifb) {
                None => {
                    nl.create_ifb(&ifb, &self.alias(&net.id)).await?;
                    changes.push(format!("created ifb {ifb}"));
                }
                Some(link) => Self::wire(nl, link, None, None, changes).await?,
            }
        }
        changes.extend(
            qos::reconcile(
                &self.config.state_dir,
                &port.device,
                &ifb,
                port.qos.as_ref(),
            )
            .await?,
        );
        Ok(true)
    }

    async fn apply_locked(
        &self,
        sup: &mut daemon::Supervisor,
        plan: &HostPlan,
    ) -> Result<Applied, Error> {
        let routed = external::routed(plan);
        let effective = effective_networks(plan, routed.as_ref());
        let plan = &effective;
        let networks: BTreeMap<&str, &NetworkPlan> =
            plan.networks.iter().map(|n| (n.id.as_str(), n)).collect();
        for port in &plan.ports {
            if !networks.contains_key(port.network_id.as_str()) {
                return Err(Error::Plan(format!(
                    "port {} is on network {}, not in the plan",
                    port.id, port.network_id
                )));
            }
        }
        let nl = Netlink::current()?;
        let mut links = Links::read(&nl).await?;
        let mut changes = Vec::new();

        // filtering first: a tap is never plugged before its chains exist
        let secured: Vec<&PortPlan> = plan.ports.iter().filter(|p| p.security.is_some()).collect();
        let devices: Vec<&str> = secured.iter().map(|p| p.device.as_str()).collect();
        let saved = marks::load(&self.config.state_dir)?;
        let marks = marks::assign(&saved, &devices)?;
        if marks != saved {
            marks::save(&self.config.state_dir, &marks)?;
        }
        let secured: Vec<sg::Secured<'_>> = secured
            .iter()
            .filter_map(|p| {
                Some(sg::Secured {
                    port: p,
                    security: p.security.as_ref()?,
                    index: *marks.get(&p.device)?,
                })
            })
            .collect();
        let mut chains = sg::chains(&secured);
        chains.extend(external::chains(routed.as_ref()));
        changes.extend(nft::reconcile(&self.config.owner, &chains).await?);

        for net in &plan.networks {
            self.ensure_network(&nl, &mut links, net, &mut changes)
                .await?;
            Self::ensure_host_address(&nl, &links, net, &mut changes).await?;
            self.ensure_dhcp(sup, &nl, &mut links, net, &mut changes)
                .await?;
        }
        for r in &plan.routers {
            self.ensure_router(sup, &nl, &mut links, &networks, r, &mut changes)
                .await?;
        }
        self.ensure_external(&nl, &links, routed.as_ref(), &mut changes)
            .await?;
        let mut wired = Vec::new();
        for port in &plan.ports {
            if self
                .ensure_port(
                    &nl,
                    &links,
                    port,
                    networks[port.network_id.as_str()],
                    &mut changes,
                )
                .await?
            {
                wired.push(port.id.clone());
            }
        }

        // what the plan no longer has
        let routers: BTreeSet<&str> = plan.routers.iter().map(|r| r.id.as_str()).collect();
        for id in self.router_dirs()? {
            if !routers.contains(id.as_str()) {
                self.remove_router(sup, &id).await?;
                changes.push(format!("removed router {id}"));
            }
        }
        for id in self.dhcp_dirs()? {
            if networks.get(id.as_str()).is_none_or(|n| n.dhcp.is_none()) {
                self.remove_dhcp(sup, &id).await?;
                changes.push(format!("removed dhcp of {id}"));
            }
        }
        let links = Links::read(&nl).await?;
        let keep_devices = self.kept_devices(plan);
        for link in links.by_name.values() {
            let owned = self.owned_network(link).map(str::to_owned);
            if let Some(id) = owned {
                if !keep_devices.contains(&link.name) {
                    nl.delete(link).await?;
                    changes.push(format!("deleted {} of network {id}", link.name));
                }
                continue;
            }
            // a foreign device (a port's tap) in one of our bridges that the plan no longer puts there
            let in_owned_bridge = link
                .master
                .and_then(|m| links.by_name.values().find(|b| b.index == m));
            if let Some(bridge) = in_owned_bridge.filter(|b| self.owned_network(b).is_some()) {
                if !keep_devices.contains(&link.name) {
                    nl.set_nomaster(link).await?;
                    changes.push(format!("unplugged {} from {}", link.name, bridge.name));
                }
            }
        }
        Ok(Applied { changes, wired })
    }

    /// Every device the plan puts on a bridge, and the bridges.
    fn kept_devices(&self, plan: &HostPlan) -> BTreeSet<String> {
        let mut keep = BTreeSet::new();
        for net in &plan.networks {
            let (bridge, uplink) = plan_network(net);
            keep.insert(bridge);
            match uplink {
                Uplink::None => {}
                Uplink::Existing(name) | Uplink::Vlan { name, .. } | Uplink::Vxlan { name, .. } => {
                    keep.insert(name);
                }
            }
            if net.dhcp.is_some() {
                keep.insert(names::dhcp_tap(&net.id));
            }
        }
        keep.extend(plan.ports.iter().map(|p| p.device.clone()));
        keep.extend(
            plan.routers
                .iter()
                .flat_map(router::devices)
                .map(|d| d.peer),
        );
        keep.extend(
            plan.ports
                .iter()
                .filter(|p| p.qos.is_some())
                .map(|p| names::ifb(&p.device)),
        );
        keep
    }

    /// Remove everything owned; every step is tried, the errors are returned together.
    async fn teardown_locked(&self, sup: &mut daemon::Supervisor) -> Vec<Error> {
        let mut errors = Vec::new();
        match self.router_dirs() {
            Ok(ids) => {
                for id in ids {
                    if let Err(e) = self.remove_router(sup, &id).await {
                        errors.push(e);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        match self.dhcp_dirs() {
            Ok(ids) => {
                for id in ids {
                    if let Err(e) = self.remove_dhcp(sup, &id).await {
                        errors.push(e);
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        let links = match Netlink::current() {
            Ok(nl) => match nl.links().await {
                Ok(links) => Some((nl, links)),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            Err(e) => {
                errors.push(e);
                None
            }
        };
        if let Some((nl, links)) = links {
            let by_name = Links {
                by_name: links.iter().map(|l| (l.name.clone(), l.clone())).collect(),
            };
            if let Err(e) = self
                .ensure_external(&nl, &by_name, None, &mut Vec::new())
                .await
            {
                errors.push(e);
            }
            for link in links.iter().filter(|l| self.owned_network(l).is_some()) {
                if let Err(e) = nl.delete(link).await {
                    errors.push(e);
                }
            }
        }
        if let Err(e) = nft::delete_tables(&self.config.owner).await {
            errors.push(e);
        }
        for path in [
            self.config.state_dir.join("marks.json"),
            self.config.state_dir.join("qos"),
        ] {
            let result = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => errors.push(Error::io(format!("removing {}", path.display()))(e)),
            }
        }
        errors
    }
}

/// The plan as wired: in routed mode the external network's bridge gets no uplink.
fn effective_networks(plan: &HostPlan, routed: Option<&external::Routed>) -> HostPlan {
    let mut out = plan.clone();
    if let Some(r) = routed {
        for net in out.networks.iter_mut().filter(|n| n.id == r.network_id) {
            net.kind = NetworkKind::Flat { interface: None };
        }
    }
    out
}

#[async_trait::async_trait]
impl Dataplane for Linux {
    async fn apply(&self, plan: &HostPlan) -> Result<Applied, Error> {
        let mut sup = self.state.lock().await;
        self.apply_locked(&mut sup, plan).await
    }

    async fn teardown_all(&self) {
        let mut sup = self.state.lock().await;
        for e in self.teardown_locked(&mut sup).await {
            tracing::error!(error = ?e, "dataplane teardown incomplete");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FdbEntry;

    fn net(kind: NetworkKind) -> NetworkPlan {
        NetworkPlan {
            id: "6f2c1c33-0b5e-4a6e-9d51-1e0c7a3bb0a2".into(),
            kind,
            mtu: 1500,
            dhcp: None,
            host_address: None,
        }
    }

    #[test]
    fn networks_plan_their_uplinks() {
        let bridge = "brq6f2c1c33-0b".to_owned();
        let cases = [
            (NetworkKind::Local, Uplink::None),
            (NetworkKind::Flat { interface: None }, Uplink::None),
            (
                NetworkKind::Flat {
                    interface: Some("eth1".into()),
                },
                Uplink::Existing("eth1".into()),
            ),
            // untestable on this kernel (no 802.1Q): the operations are checked here
            (
                NetworkKind::Vlan {
                    interface: "eth1".into(),
                    vlan_id: 101,
                },
                Uplink::Vlan {
                    name: "eth1.101".into(),
                    parent: "eth1".into(),
                    vlan_id: 101,
                },
            ),
            (
                NetworkKind::Vxlan {
                    vni: 70,
                    local_ip: "192.0.2.1".parse().unwrap(),
                    peers: vec!["192.0.2.2".parse().unwrap()],
                    fdb: vec![FdbEntry {
                        mac: "FA:16:3E:00:00:01".into(),
                        peer: "192.0.2.2".parse().unwrap(),
                    }],
                },
                Uplink::Vxlan {
                    name: "vxlan-70".into(),
                    vni: 70,
                    local: "192.0.2.1".parse().unwrap(),
                    fdb: [
                        ("00:00:00:00:00:00".to_owned(), "192.0.2.2".parse().unwrap()),
                        ("fa:16:3e:00:00:01".to_owned(), "192.0.2.2".parse().unwrap()),
                    ]
                    .into_iter()
                    .collect(),
                },
            ),
        ];
        for (kind, uplink) in cases {
            assert_eq!(plan_network(&net(kind)), (bridge.clone(), uplink));
        }
    }

    #[test]
    fn owner_tags_are_checked() {
        let dir = std::env::temp_dir().join(format!("dataplane-owner-{}", std::process::id()));
        for bad in ["", "a-b", "a b", "a:b"] {
            let config = Config {
                state_dir: dir.clone(),
                owner: bad.into(),
                namespace_tag: None,
            };
            assert!(Linux::new(config).is_err(), "{bad:?}");
        }
        for bad in ["", "a b", "a/b", "a:b"] {
            let config = Config {
                state_dir: dir.clone(),
                owner: "oxi".into(),
                namespace_tag: Some(bad.into()),
            };
            assert!(Linux::new(config).is_err(), "tag {bad:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

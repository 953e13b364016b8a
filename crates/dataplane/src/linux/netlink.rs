//! Links and addresses through rtnetlink.
//!
//! A netlink socket talks to the network namespace it was *created* in. [`Netlink::current`]
//! opens one in the calling thread's namespace (the host: the agent runs inside it).
//! [`Netlink::in_namespace`] opens one inside a named namespace (a DHCP namespace) by
//! creating the socket on a short-lived thread that first `setns`'d into it: the socket
//! keeps that namespace after the thread is gone, and the process's other threads never
//! change namespace.

use std::net::IpAddr;
use std::os::fd::AsFd;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::{Handle, LinkBridge, LinkIfb, LinkUnspec, LinkVeth, LinkVlan, LinkVxlan};

use crate::Error;

/// UDP port of VXLAN (IANA).
pub const VXLAN_PORT: u16 = 4789;

/// A netlink connection; its driver task ends when this is dropped.
pub struct Netlink {
    pub(super) handle: Handle,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// What apply needs to know of one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// ifindex.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// `bridge`, `vxlan`, `veth`, ... (`None` for plain devices).
    pub kind: Option<String>,
    /// The bridge it is enslaved to.
    pub master: Option<u32>,
    /// Its MTU.
    pub mtu: u32,
    /// Administratively up.
    pub up: bool,
    /// Its alias (the dataplane marks what it owns there).
    pub alias: Option<String>,
    /// For a VXLAN device: (vni, local address, learning).
    pub vxlan: Option<(u32, Option<IpAddr>, bool)>,
    /// Its MAC.
    pub mac: Option<[u8; 6]>,
}

impl Netlink {
    /// A connection in the calling thread's network namespace.
    pub fn current() -> Result<Netlink, Error> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(Error::io("opening a netlink socket"))?;
        Ok(Netlink {
            handle,
            driver: tokio::spawn(connection),
        })
    }

    /// A connection inside the named namespace (`/run/netns/<name>`), see the module docs.
    pub fn in_namespace(name: &str) -> Result<Netlink, Error> {
        let runtime = tokio::runtime::Handle::current();
        let (connection, handle) = in_namespace_thread(name, || {
            // the socket registers with the caller's runtime
            let _guard = runtime.enter();
            let (connection, handle, _) = rtnetlink::new_connection()
                .map_err(Error::io(format!("opening a netlink socket in {name}")))?;
            Ok((connection, handle))
        })?;
        Ok(Netlink {
            handle,
            driver: tokio::spawn(connection),
        })
    }

    /// Every link of the namespace.
    pub async fn links(&self) -> Result<Vec<Link>, Error> {
        let messages: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(Error::netlink("listing links"))?;
        Ok(messages.iter().map(link_of).collect())
    }

    /// Create a bridge, up, with this MTU and alias.
    pub async fn create_bridge(&self, name: &str, mtu: u32, alias: &str) -> Result<(), Error> {
        let msg = LinkBridge::new(name).mtu(mtu).up().build();
        self.add(msg, name, alias, format!("creating bridge {name}"))
            .await
    }

    /// Create a VXLAN device without learning on the standard port, up.
    pub async fn create_vxlan(
        &self,
        name: &str,
        vni: u32,
        local: IpAddr,
        mtu: u32,
        alias: &str,
    ) -> Result<(), Error> {
        let builder = LinkVxlan::new(name, vni).port(VXLAN_PORT).learning(false);
        let builder = match local {
            IpAddr::V4(a) => builder.local(a),
            IpAddr::V6(a) => builder.local6(a),
        };
        let msg = builder.mtu(mtu).up().build();
        self.add(msg, name, alias, format!("creating vxlan {name}"))
            .await
    }

    /// Create an 802.1Q subinterface of `parent`, up.
    pub async fn create_vlan(
        &self,
        name: &str,
        parent: u32,
        vlan_id: u16,
        mtu: u32,
        alias: &str,
    ) -> Result<(), Error> {
        let msg = LinkVlan::new(name, parent, vlan_id).mtu(mtu).up().build();
        self.add(msg, name, alias, format!("creating vlan {name}"))
            .await
    }

    /// Create an ifb device, up.
    pub async fn create_ifb(&self, name: &str, alias: &str) -> Result<(), Error> {
        let msg = LinkIfb::new(name).up().build();
        self.add(msg, name, alias, format!("creating ifb {name}"))
            .await
    }

    /// Create a veth pair (both ends down, `name` with this alias).
    pub async fn create_veth(
        &self,
        name: &str,
        peer: &str,
        mtu: u32,
        alias: &str,
    ) -> Result<(), Error> {
        let msg = LinkVeth::new(name, peer).mtu(mtu).build();
        self.add(msg, name, alias, format!("creating veth {name}"))
            .await
    }

    /// Create a link, then set its alias: the kernel ignores `IFLA_IFALIAS` when
    /// creating a link, only a set request takes it.
    async fn add(
        &self,
        msg: LinkMessage,
        name: &str,
        alias: &str,
        op: String,
    ) -> Result<(), Error> {
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(Error::netlink(op.clone()))?;
        let created: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_collect()
            .await
            .map_err(Error::netlink(op.clone()))?;
        for link in created {
            let msg = LinkUnspec::new_with_index(link.header.index)
                .alias(alias)
                .build();
            self.set(msg, format!("{op}: setting its alias")).await?;
        }
        Ok(())
    }

    async fn set(&self, msg: LinkMessage, op: String) -> Result<(), Error> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(Error::netlink(op))
    }

    /// Enslave a link to a bridge.
    pub async fn set_master(&self, link: &Link, master: &Link) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(link.index)
            .controller(master.index)
            .build();
        self.set(msg, format!("plugging {} into {}", link.name, master.name))
            .await
    }

    /// Release a link from its bridge.
    pub async fn set_nomaster(&self, link: &Link) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(link.index)
            .nocontroller()
            .build();
        self.set(msg, format!("unplugging {}", link.name)).await
    }

    /// Set a link up.
    pub async fn set_up(&self, link: &Link) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(link.index).up().build();
        self.set(msg, format!("setting {} up", link.name)).await
    }

    /// Set a link's MTU.
    pub async fn set_mtu(&self, link: &Link, mtu: u32) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(link.index).mtu(mtu).build();
        self.set(msg, format!("setting the mtu of {}", link.name))
            .await
    }

    /// Set a link's MAC.
    pub async fn set_mac(&self, link: &Link, mac: [u8; 6]) -> Result<(), Error> {
        let msg = LinkUnspec::new_with_index(link.index)
            .address(mac.to_vec())
            .build();
        self.set(msg, format!("setting the mac of {}", link.name))
            .await
    }

    /// Move a link into the namespace whose file is `ns`.
    pub async fn move_to(&self, link: &Link, ns: &std::fs::File) -> Result<(), Error> {
        use std::os::fd::AsRawFd;
        let msg = LinkUnspec::new_with_index(link.index)
            .setns_by_fd(ns.as_raw_fd())
            .build();
        self.set(msg, format!("moving {} to its namespace", link.name))
            .await
    }

    /// Delete a link; one already gone (a veth whose peer's namespace was just
    /// deleted, which the kernel does asynchronously) is not an error.
    pub async fn delete(&self, link: &Link) -> Result<(), Error> {
        match self.handle.link().del(link.index).execute().await {
            Err(rtnetlink::Error::NetlinkError(e)) if e.code.map(|c| c.get()) == Some(-19) => {
                Ok(())
            }
            other => other.map_err(Error::netlink(format!("deleting {}", link.name))),
        }
    }

    /// The addresses of a link (IPv6 link-local ones left out).
    pub async fn addresses(&self, link: &Link) -> Result<Vec<IpNet>, Error> {
        let messages: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .execute()
            .try_collect()
            .await
            .map_err(Error::netlink(format!(
                "listing addresses of {}",
                link.name
            )))?;
        Ok(messages
            .iter()
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => IpNet::new(*ip, m.header.prefix_len).ok(),
                    _ => None,
                })
            })
            .filter(|net| !matches!(net.addr(), IpAddr::V6(a) if a.is_unicast_link_local()))
            .collect())
    }

    /// Add an address to a link.
    pub async fn add_address(&self, link: &Link, net: IpNet) -> Result<(), Error> {
        self.handle
            .address()
            .add(link.index, net.addr(), net.prefix_len())
            .execute()
            .await
            .map_err(Error::netlink(format!("adding {net} to {}", link.name)))
    }

    /// Remove an address from a link.
    pub async fn del_address(&self, link: &Link, net: IpNet) -> Result<(), Error> {
        let messages: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .set_address_filter(net.addr())
            .execute()
            .try_collect()
            .await
            .map_err(Error::netlink(format!("finding {net} on {}", link.name)))?;
        for m in messages {
            self.handle
                .address()
                .del(m)
                .execute()
                .await
                .map_err(Error::netlink(format!("removing {net} from {}", link.name)))?;
        }
        Ok(())
    }
}

/// Run `f` on a short-lived thread that first entered the named namespace
/// (`/run/netns/<name>`): what it opens (sockets, `/proc/sys/net` files) belongs to that
/// namespace; the caller's threads never change namespace.
pub fn in_namespace_thread<T: Send>(
    name: &str,
    f: impl FnOnce() -> Result<T, Error> + Send,
) -> Result<T, Error> {
    let path = format!("/run/netns/{name}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(&path).map_err(Error::io(format!("opening {path}")))?;
            rustix::thread::move_into_link_name_space(
                ns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(|e| Error::Io {
                what: format!("entering namespace {name}"),
                source: e.into(),
            })?;
            f()
        })
        .join()
        .map_err(|_| Error::Plan(format!("thread in namespace {name} panicked")))?
    })
}

fn link_of(m: &LinkMessage) -> Link {
    let mut link = Link {
        index: m.header.index,
        name: String::new(),
        kind: None,
        master: None,
        mtu: 0,
        up: m.header.flags.contains(LinkFlags::Up),
        alias: None,
        vxlan: None,
        mac: None,
    };
    for attr in &m.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Controller(c) => link.master = Some(*c),
            LinkAttribute::Mtu(v) => link.mtu = *v,
            LinkAttribute::IfAlias(a) => link.alias = Some(a.clone()),
            LinkAttribute::Address(a) => link.mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => link.kind = Some(kind_name(kind)),
                        LinkInfo::Data(InfoData::Vxlan(v)) => link.vxlan = Some(vxlan_of(v)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Vxlan => "vxlan".into(),
        InfoKind::Veth => "veth".into(),
        InfoKind::Vlan => "vlan".into(),
        InfoKind::Tun => "tun".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn vxlan_of(infos: &[InfoVxlan]) -> (u32, Option<IpAddr>, bool) {
    let mut out = (0, None, true);
    for info in infos {
        match info {
            InfoVxlan::Id(id) => out.0 = *id,
            InfoVxlan::Local(a) => out.1 = Some(IpAddr::V4(*a)),
            InfoVxlan::Local6(a) => out.1 = Some(IpAddr::V6(*a)),
            InfoVxlan::Learning(l) => out.2 = *l,
            _ => {}
        }
    }
    out
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(mac: &str) -> Result<[u8; 6], Error> {
    let bad = || Error::Plan(format!("bad MAC address {mac:?}"));
    let mut out = [0u8; 6];
    let mut parts = mac.split(':');
    for byte in &mut out {
        *byte = u8::from_str_radix(parts.next().ok_or_else(bad)?, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

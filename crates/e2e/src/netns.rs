//! Network namespaces for the tests that wire real networks: a "host" namespace the
//! cloud (and its network agent) runs in, and "VM" namespaces plugged into it by a veth
//! whose host end is named as the port's tap, where a hypervisor would put its tap.
//! Nothing here touches the machine's own interfaces, and every namespace is removed
//! when its guard drops, also when the test fails.

use std::{
    fs::{self, File},
    io,
    net::{IpAddr, Shutdown, TcpListener, TcpStream},
    os::fd::AsFd,
    path::Path,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
    time::Duration,
};

use crate::{run, unique, CmdOutput};

/// A network namespace of the test's own, removed on drop with what runs in it.
pub struct Netns {
    pub name: String,
}

/// Run `sh -c cmd`; its output.
pub fn sh(cmd: &str) -> CmdOutput {
    run(
        Command::new("sh").args(["-c", cmd]),
        Duration::from_secs(60),
    )
}

#[track_caller]
fn must(cmd: &str) -> String {
    let out = sh(cmd);
    assert!(out.success(), "{out}");
    out.stdout
}

/// Whether this machine can run the namespace tests (root and the tools); when it
/// cannot, the test fails under scripts/test and CI, and says why it skipped elsewhere.
pub fn available() -> bool {
    let mut missing = Vec::new();
    if !rustix::process::geteuid().is_root() {
        missing.push("root".to_owned());
    }
    for tool in ["ip", "nft", "dnsmasq", "busybox", "bridge", "tc"] {
        if !sh(&format!("command -v {tool}")).success() {
            missing.push(tool.to_owned());
        }
    }
    if missing.is_empty() {
        return true;
    }
    db::testing::missing(&format!("the network tests need {}", missing.join(", ")));
    false
}

impl Netns {
    /// A new namespace `<prefix>-<unique>` with its loopback up.
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        must(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        Netns { name }
    }

    /// `cmd` run inside the namespace by `sh`.
    pub fn sh(&self, cmd: &str) -> CmdOutput {
        sh(&format!(
            "ip netns exec {} sh -c {}",
            self.name,
            shell_quote(cmd)
        ))
    }

    /// A command for `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&format!(
            "for p in $(ip netns pids {n}); do kill -9 $p; done; ip netns del {n}",
            n = self.name
        ));
    }
}

/// Connect `a` and `b` by a veth pair whose ends are both named `dev`, with addresses
/// `a_cidr` and `b_cidr` (an underlay between two hosts: a link of theirs only, no
/// route anywhere else).
pub fn veth_between(a: &Netns, a_cidr: &str, b: &Netns, b_cidr: &str, dev: &str) {
    let tmp = unique("v");
    let tmp = &tmp[tmp.len() - 12..];
    must(&format!(
        "ip -n {a} link add {dev} type veth peer name x{tmp} netns {b} && \
         ip -n {b} link set x{tmp} name {dev} && \
         ip -n {a} addr add {a_cidr} dev {dev} && ip -n {b} addr add {b_cidr} dev {dev} && \
         ip -n {a} link set {dev} up && ip -n {b} link set {dev} up",
        a = a.name,
        b = b.name
    ));
}

/// A TCP relay from `127.0.0.1:<port>` inside a namespace to the same port on the
/// loopback of this process's namespace, so a process in the namespace reaches a server
/// of the machine (RabbitMQ) that listens on 127.0.0.1 only, with no interface, address
/// or route added anywhere: the listening socket is made by a thread that entered the
/// namespace (a socket stays in the namespace it was made in), and the relay's threads
/// connect from the machine's. The server sees a loopback peer (so RabbitMQ's `guest`,
/// allowed from loopback only, works). Stopped, with its connections cut, on drop.
pub struct LoopbackRelay {
    pub port: u16,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<thread::JoinHandle<()>>,
}

impl LoopbackRelay {
    /// Relay `127.0.0.1:port` of `ns` to `127.0.0.1:port` here.
    pub fn new(ns: &Netns, port: u16) -> LoopbackRelay {
        let path = format!("/var/run/netns/{}", ns.name);
        let listener = thread::spawn(move || -> io::Result<TcpListener> {
            let f = File::open(&path)?;
            rustix::thread::move_into_link_name_space(
                f.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            let l = TcpListener::bind(("127.0.0.1", port))?;
            l.set_nonblocking(true)?;
            Ok(l)
        })
        .join()
        .expect("the relay's namespace thread panicked")
        .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port} in {}: {e}", ns.name));
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (stop2, conns2) = (stop.clone(), conns.clone());
        // spawned from this thread, so in this process's namespace
        let accept = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((inside, _)) => {
                        if let Err(e) = relay_one(inside, port, &conns2) {
                            eprintln!("e2e relay: cannot relay to 127.0.0.1:{port}: {e}");
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        eprintln!("e2e relay: accept on port {port}: {e}");
                        break;
                    }
                }
            }
        });
        LoopbackRelay {
            port,
            stop,
            conns,
            accept: Some(accept),
        }
    }
}

/// Connect `inside` to `127.0.0.1:port` here, copying both ways on two threads.
fn relay_one(inside: TcpStream, port: u16, conns: &Mutex<Vec<TcpStream>>) -> io::Result<()> {
    inside.set_nonblocking(false)?;
    let outside = TcpStream::connect(("127.0.0.1", port))?;
    for s in [&inside, &outside] {
        s.set_nodelay(true)?;
    }
    {
        let mut c = conns.lock().expect("relay connections");
        c.push(inside.try_clone()?);
        c.push(outside.try_clone()?);
    }
    for (mut from, mut to) in [
        (inside.try_clone()?, outside.try_clone()?),
        (outside, inside),
    ] {
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        });
    }
    Ok(())
}

impl Drop for LoopbackRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        if let Ok(conns) = self.conns.lock() {
            for c in conns.iter() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

/// `s` as one shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The udhcpc event script of [`Vm::dhcp`]: option 121 routes replace the router
/// option when given (RFC 3442), as in a guest.
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
bound|renew)
    ip addr flush dev $interface
    ip addr add $ip/${mask:-24} dev $interface
    if [ -n "$staticroutes" ]; then
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            ip route replace $1 via $2 dev $interface
            shift 2
        done
    elif [ -n "$router" ]; then
        ip route replace default via ${router%% *}
    fi
    echo "BOUND $ip";;
esac
exit 0
"#;

/// A "VM": a namespace whose `eth0` (with the port's MAC) is the peer of the port's tap
/// in the host namespace.
pub struct Vm {
    pub ns: Netns,
    pub mac: String,
}

impl Vm {
    /// Plug a VM for port `port_id` (MAC `mac`) into `host`.
    pub fn plug(host: &Netns, port_id: &str, mac: &str) -> Vm {
        let ns = Netns::new("oxi-vm");
        let tap = format!("tap{}", &port_id[..11]);
        must(&format!(
            "ip -n {h} link add {tap} type veth peer name eth0 netns {v} && \
             ip -n {v} link set eth0 address {mac} && ip -n {v} link set eth0 up && \
             ip -n {h} link set {tap} up",
            h = host.name,
            v = ns.name
        ));
        Vm {
            ns,
            mac: mac.to_owned(),
        }
    }

    /// Ask for an address by DHCP (busybox udhcpc) and configure it, with the option
    /// 121 routes (or else the default route); the address got.
    pub fn dhcp(&self) -> Option<IpAddr> {
        let script = "/tmp/oxistack-e2e-udhcpc2.sh";
        if !Path::new(script).exists() {
            // written whole, then renamed: a test running meanwhile never sees half
            let tmp = format!("{script}.{}", std::process::id());
            let _ = fs::write(&tmp, UDHCPC_SCRIPT);
            let _ = sh(&format!("chmod 755 {tmp} && mv -f {tmp} {script}"));
        }
        for _ in 0..3 {
            let out = self.ns.sh(&format!(
                "timeout 15 busybox udhcpc -i eth0 -n -q -t 5 -T 1 -O staticroutes -s {script}"
            ));
            if let Some(ip) = out.stdout.lines().find_map(|l| l.strip_prefix("BOUND ")) {
                return ip.trim().parse().ok();
            }
        }
        None
    }

    /// Take router advertisements on `eth0` (`accept_ra=2`, `autoconf=1`) and solicit
    /// them (the link goes down and up); true once its link-local address is usable.
    pub fn accept_ra(&self) -> bool {
        self.ns.sh(
            "sysctl -qw net.ipv6.conf.eth0.accept_ra=2 net.ipv6.conf.eth0.autoconf=1 && \
             ip link set eth0 down && ip link set eth0 up && \
             for i in $(seq 40); do ip -6 -o addr show dev eth0 scope link | grep -v tentative | grep -q fe80 && exit 0; sleep 0.25; done; exit 1",
        )
        .success()
    }

    /// The global IPv6 addresses of `eth0`.
    pub fn ipv6_addresses(&self) -> Vec<IpAddr> {
        let out = self.ns.sh("ip -6 -o addr show dev eth0 scope global");
        out.stdout
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3)?.split('/').next()?.parse().ok())
            .collect()
    }

    /// Ask for an address by DHCPv6 (`dhclient -6`, one try) and configure it; the
    /// address got.
    pub fn dhcp6(&self) -> Option<IpAddr> {
        let dir = format!("/tmp/oxistack-e2e-dhclient6-{}", self.ns.name);
        let script = format!("{dir}/script");
        fs::create_dir_all(&dir).ok()?;
        fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ \"$reason\" = BOUND6 ] && [ -n \"$new_ip6_address\" ] && \
                 ip -6 addr add $new_ip6_address/$new_ip6_prefixlen dev $interface && \
                 echo $new_ip6_address > {dir}/bound\nexit 0\n"
            ),
        )
        .ok()?;
        let _ = self.ns.sh(&format!(
            "chmod 755 {script} && timeout 25 dhclient -6 -1 -sf {script} -lf {dir}/lease -pf {dir}/pid eth0; \
             kill $(cat {dir}/pid) 2>/dev/null; true"
        ));
        let bound = fs::read_to_string(format!("{dir}/bound")).ok();
        let _ = fs::remove_dir_all(&dir);
        bound?.trim().parse().ok()
    }

    /// One ping answered within two seconds (three tries).
    pub fn ping(&self, ip: IpAddr) -> bool {
        self.ns
            .sh(&format!(
                "busybox ping -c 3 -W 2 {ip} | grep -q ' 0% packet loss\\|[12] packets received'"
            ))
            .success()
    }

    /// Give `eth0` another address than its port's (spoofing).
    pub fn readdress(&self, cidr: &str) {
        must(&format!(
            "ip -n {v} addr flush dev eth0 && ip -n {v} addr add {cidr} dev eth0",
            v = self.ns.name
        ));
    }
}

/// Remove the DHCP and router namespaces and the dnsmasq processes an agent with
/// `state_dir` left (namespaces are named machine-wide: they outlive the host
/// namespace the agent ran in).
pub fn remove_agent_leftovers(state_dir: &Path) {
    remove_tagged_agent_leftovers(state_dir, None);
}

/// [`remove_agent_leftovers`] of an agent whose DHCP namespaces carry `namespace_tag`
/// (`qdhcp-<network>-<tag>`: several hosts' agents on one machine).
pub fn remove_tagged_agent_leftovers(state_dir: &Path, namespace_tag: Option<&str>) {
    for (kind, prefix) in [("dhcp", "qdhcp"), ("routers", "qrouter")] {
        let Ok(dirs) = fs::read_dir(state_dir.join(kind)) else {
            continue;
        };
        for d in dirs.flatten() {
            let id = d.file_name().to_string_lossy().into_owned();
            // dnsmasq's, or a router's radvd
            for file in ["pid", "radvd.pid"] {
                if let Ok(pid) = fs::read_to_string(d.path().join(file)) {
                    let _ = sh(&format!("kill -9 {}", pid.trim()));
                }
            }
            let ns = match namespace_tag {
                Some(tag) if kind == "dhcp" => format!("{prefix}-{id}-{tag}"),
                _ => format!("{prefix}-{id}"),
            };
            let _ = sh(&format!("ip netns del {ns}"));
        }
    }
}

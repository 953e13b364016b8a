//! Network namespaces for the tests that wire real networks: a "host" namespace the
//! cloud (and its network agent) runs in, and "VM" namespaces plugged into it by a veth
//! whose host end is named as the port's tap, where a hypervisor would put its tap.
//! Nothing here touches the machine's own interfaces, and every namespace is removed
//! when its guard drops, also when the test fails.

use std::{fs, net::IpAddr, path::Path, process::Command, time::Duration};

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
    for (kind, prefix) in [("dhcp", "qdhcp"), ("routers", "qrouter")] {
        let Ok(dirs) = fs::read_dir(state_dir.join(kind)) else {
            continue;
        };
        for d in dirs.flatten() {
            let id = d.file_name().to_string_lossy().into_owned();
            if let Ok(pid) = fs::read_to_string(d.path().join("pid")) {
                let _ = sh(&format!("kill -9 {}", pid.trim()));
            }
            let _ = sh(&format!("ip netns del {prefix}-{id}"));
        }
    }
}

//! Namespaces for the dataplane tests: "hosts" running the Linux dataplane and "VMs"
//! plugged into them by a veth whose host end is named like a tap. Every namespace is
//! removed when its guard drops, also when the test fails.

#![allow(dead_code)] // each test binary uses a part

use std::future::Future;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::process::Command;
use std::sync::mpsc;
use std::sync::Arc;

use dataplane::linux::{Config, Linux};
use dataplane::plan::{Direction, Ethertype, HostPlan, PortPlan, Remote, SgRule};
use dataplane::{Applied, Dataplane};

/// Whether the test can run (root, tools present); when it cannot, fails under
/// scripts/test and CI (OXISTACK_TEST_REQUIRE / CI set), else says so and skips.
pub fn can_run() -> bool {
    let required = ["CI", "OXISTACK_TEST_REQUIRE"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    let mut missing = Vec::new();
    if !rustix::process::geteuid().is_root() {
        missing.push("root".to_owned());
    }
    for tool in [
        "nft", "dnsmasq", "busybox", "ip", "bridge", "tc", "bash", "python3",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output();
        if !found.is_ok_and(|o| o.status.success()) {
            missing.push(tool.to_owned());
        }
    }
    if missing.is_empty() {
        return true;
    }
    let what = format!("needs {}", missing.join(", "));
    if required {
        panic!("{what} (scripts/test provides it)");
    }
    eprintln!("SKIPPED: {what} (scripts/test provides it)");
    false
}

/// Run a command, panicking with its stderr when it fails; returns stdout.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("running sh");
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a command succeeds.
pub fn ok(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A short unique tag for names.
pub fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..6].to_owned()
}

/// A uuid-like id (for networks and ports).
pub fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A named namespace, deleted (its processes killed first) on drop.
pub struct Ns {
    pub name: String,
}

impl Ns {
    pub fn new(name: String) -> Ns {
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip -n {name} link set lo up"));
        Ns { name }
    }

    /// `ip netns exec <ns> <cmd>` through sh.
    pub fn exec(&self, cmd: &str) -> String {
        sh(&format!("ip netns exec {} {cmd}", self.name))
    }

    pub fn ok(&self, cmd: &str) -> bool {
        ok(&format!("ip netns exec {} {cmd}", self.name))
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        remove_namespace(&self.name);
    }
}

/// Kill what runs in a namespace and delete it (no error when it is already gone).
pub fn remove_namespace(name: &str) {
    let _ = Command::new("sh")
        .args(["-c", &format!("ip netns pids {name} 2>/dev/null | xargs -r kill -9; ip netns del {name} 2>/dev/null")])
        .status();
}

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A host: a namespace with a thread inside it running a current-thread runtime, where
/// the Linux dataplane runs as the agent would (its netlink sockets, nft, tc, ip and
/// dnsmasq all start in the host namespace).
pub struct Host {
    pub ns: Ns,
    pub dataplane: Arc<Linux>,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    state_dir: std::path::PathBuf,
    /// DHCP namespaces removed on drop if the test failed before teardown.
    pub dhcp_namespaces: Vec<String>,
}

impl Host {
    pub fn new(name: String) -> Host {
        let ns = Ns::new(name);
        let state_dir = std::env::temp_dir().join(format!("dataplane-test-{}", ns.name));
        let dataplane = Arc::new(
            Linux::new(Config {
                state_dir: state_dir.clone(),
                owner: "oxitest".into(),
                namespace_tag: None,
            })
            .expect("dataplane"),
        );
        let (tx, rx) = mpsc::channel::<Job>();
        let path = format!("/run/netns/{}", ns.name);
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                while let Ok(job) = rx.recv() {
                    job().await;
                }
            });
        });
        Host {
            ns,
            dataplane,
            jobs: Some(tx),
            thread: Some(thread),
            state_dir,
            dhcp_namespaces: Vec::new(),
        }
    }

    /// Run `f(dataplane)` inside the host, waiting for its result.
    pub fn run<T, F, Fut>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(Arc<Linux>) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let dp = self.dataplane.clone();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                let _ = tx.send(f(dp).await);
            })
        });
        self.jobs
            .as_ref()
            .expect("host running")
            .send(job)
            .expect("host thread alive");
        rx.recv().expect("host job finished")
    }

    pub fn apply(&self, plan: &HostPlan) -> Applied {
        let plan = plan.clone();
        self.run(move |dp| async move { dp.apply(&plan).await })
            .expect("apply")
    }

    pub fn teardown(&self) {
        self.run(|dp| async move { dp.teardown_all().await });
    }

    pub fn state_dir(&self) -> &std::path::Path {
        &self.state_dir
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // stop the dataplane's dnsmasq and namespaces, also when the test failed
        let (tx, rx) = mpsc::channel();
        let dp = self.dataplane.clone();
        let job: Job = Box::new(move || {
            Box::pin(async move {
                dp.teardown_all().await;
                let _ = tx.send(());
            })
        });
        if let Some(jobs) = self.jobs.take() {
            if jobs.send(job).is_ok() {
                let _ = rx.recv();
            }
        }
        for ns in &self.dhcp_namespaces {
            remove_namespace(ns);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// A VM: a namespace whose `eth0` is the peer of a tap in `host`.
pub struct Vm {
    pub ns: Ns,
    pub mac: String,
    pub tap: String,
}

impl Vm {
    pub fn new(name: String, host: &Host, port_id: &str, mac: &str) -> Vm {
        let ns = Ns::new(name);
        let tap = dataplane::names::tap(port_id);
        sh(&format!(
            "ip -n {h} link add {tap} type veth peer name eth0 netns {v} && ip -n {v} link set eth0 address {mac} up",
            h = host.ns.name,
            v = ns.name
        ));
        Vm {
            ns,
            mac: mac.to_owned(),
            tap,
        }
    }

    pub fn set_ip(&self, cidr: &str) {
        self.ns.exec(&format!(
            "ip addr flush dev eth0 && ip netns exec {} ip addr add {cidr} dev eth0",
            self.ns.name
        ));
    }

    pub fn ping(&self, ip: &str) -> bool {
        self.ns.ok(&format!("busybox ping -c 1 -W 1 {ip}"))
    }

    /// Ping until it answers (up to `tries` seconds).
    pub fn ping_soon(&self, ip: &str, tries: u32) -> bool {
        (0..tries).any(|_| self.ping(ip))
    }

    /// Get an address by DHCP (busybox udhcpc, one attempt of a few seconds); returns
    /// the environment the udhcpc script saw.
    pub fn dhcp(&self) -> Option<String> {
        let dir = std::env::temp_dir().join(format!("udhcpc-{}", self.ns.name));
        std::fs::create_dir_all(&dir).ok()?;
        let script = dir.join("script");
        let env = dir.join("env");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ncase \"$1\" in bound|renew) /usr/sbin/ip addr flush dev $interface; /usr/sbin/ip addr add $ip/$subnet dev $interface; env > {};; esac\n",
                env.display()
            ),
        )
        .ok()?;
        sh(&format!("chmod +x {}", script.display()));
        let got = self.ns.ok(&format!(
            "busybox udhcpc -i eth0 -n -q -t 4 -T 1 -O staticroutes -O mtu -s {}",
            script.display()
        ));
        let out = got.then(|| std::fs::read_to_string(&env).ok()).flatten();
        let _ = std::fs::remove_dir_all(&dir);
        out
    }
}

/// A port of `network_id` plugged as `vm`.
pub fn port(id: &str, network_id: &str, vm: &Vm, ip: &str) -> PortPlan {
    PortPlan {
        id: id.to_owned(),
        network_id: network_id.to_owned(),
        device: vm.tap.clone(),
        mac: vm.mac.clone(),
        ips: vec![ip.parse().expect("ip")],
        security: None,
        qos: None,
    }
}

/// One host with two VMs `a` and `b` on one local network without DHCP, at
/// `<prefix>.10/24` and `<prefix>.11/24`, and the plan wiring them (not applied yet).
pub struct Lan {
    pub host: Host,
    pub a: Vm,
    pub b: Vm,
    pub net: String,
    pub plan: HostPlan,
}

impl Lan {
    pub fn new(prefix: &str, mac_byte: u8) -> Lan {
        let t = tag();
        let net = id();
        let (pa, pb) = (id(), id());
        let host = Host::new(format!("dpt-h-{t}"));
        let a = Vm::new(
            format!("dpt-a-{t}"),
            &host,
            &pa,
            &format!("fa:16:3e:00:{mac_byte:02x}:0a"),
        );
        let b = Vm::new(
            format!("dpt-b-{t}"),
            &host,
            &pb,
            &format!("fa:16:3e:00:{mac_byte:02x}:0b"),
        );
        a.set_ip(&format!("{prefix}.10/24"));
        b.set_ip(&format!("{prefix}.11/24"));
        let plan = HostPlan {
            networks: vec![dataplane::plan::NetworkPlan {
                id: net.clone(),
                kind: dataplane::plan::NetworkKind::Local,
                mtu: 1500,
                dhcp: None,
                host_address: None,
            }],
            ports: vec![
                port(&pa, &net, &a, &format!("{prefix}.10")),
                port(&pb, &net, &b, &format!("{prefix}.11")),
            ],
            ..Default::default()
        };
        Lan {
            host,
            a,
            b,
            net,
            plan,
        }
    }
}

/// Start `cmd` (through sh) inside a namespace, in the background.
pub fn spawn_in(ns: &Ns, cmd: &str) -> std::process::Child {
    Command::new("ip")
        .args(["netns", "exec", &ns.name, "sh", "-c", cmd])
        .spawn()
        .expect("spawn in namespace")
}

/// One TCP connection: a listener in `server` on `port` (python3) accepting once, a
/// client in `client` connecting to `to_ip:to_port` (retried while the listener
/// starts). Returns the peer address the listener saw, `None` when no connection was
/// made within a few seconds.
pub fn tcp_peer(server: &Ns, port: u16, client: &Ns, to_ip: &str, to_port: u16) -> Option<String> {
    tcp_peer_tries(server, port, client, to_ip, to_port, 30)
}

/// [`tcp_peer`] with `tries` connection attempts of up to 1 s each.
pub fn tcp_peer_tries(
    server: &Ns,
    port: u16,
    client: &Ns,
    to_ip: &str,
    to_port: u16,
    tries: u32,
) -> Option<String> {
    let listener = format!(
        "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',{port}))\ns.listen()\ns.settimeout(8)\nc,a=s.accept()\nprint(a[0],flush=True)\nc.sendall(b'hi')\nc.close()\n"
    );
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &server.name,
            "timeout",
            "9",
            "python3",
            "-c",
            &listener,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn listener");
    let connect = format!(
        "import socket,sys,time\nfor i in range({tries}):\n  try:\n    s=socket.create_connection(('{to_ip}',{to_port}),timeout=1)\n    sys.exit(0 if s.recv(2)==b'hi' else 1)\n  except OSError:\n    time.sleep(0.2)\nsys.exit(1)\n"
    );
    let connected = Command::new("ip")
        .args(["netns", "exec", &client.name, "python3", "-c", &connect])
        .status()
        .is_ok_and(|s| s.success());
    if !connected {
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let out = child.wait_with_output().expect("listener output");
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// An IPv4 security group rule from anywhere (`port` = its only port, or ICMP type).
pub fn rule(direction: Direction, protocol: Option<u8>, port: Option<u16>) -> SgRule {
    SgRule {
        direction,
        ethertype: Ethertype::V4,
        protocol,
        port_min: port,
        port_max: port,
        remote: Remote::Any,
    }
}

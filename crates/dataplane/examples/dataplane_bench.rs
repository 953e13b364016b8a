//! Figures of the Linux dataplane (needs root; creates and removes its own namespaces):
//! - a port plugged -> its first packet answered,
//! - a security group of 1,000 rules applied to one port (target < 500 ms),
//! - apply with 200 ports where nothing changed (target < 2 s, zero changes),
//! - a router with 50 floating IPs applied, re-applied unchanged, one floating IP
//!   added and removed.
//!
//! `cargo run -p dataplane --example dataplane_bench`

use std::os::fd::AsFd;
use std::process::Command;
use std::time::{Duration, Instant};

use dataplane::linux::{Config, Linux};
use dataplane::names;
use dataplane::plan::{
    Direction, Ethertype, FloatingIpPlan, HostPlan, NetworkKind, NetworkPlan, PortPlan, Remote,
    RouterGateway, RouterInterface, RouterPlan, SecurityPlan, SgRule,
};
use dataplane::Dataplane;

fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .status()
        .is_ok_and(|s| s.success())
}

fn must(cmd: &str) {
    assert!(sh(cmd), "failed: {cmd}");
}

/// The bench's namespaces, removed on drop.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            // no process is left in them (teardown stopped dnsmasq), and this one is in
            // the host namespace itself: delete only
            sh(&format!("ip netns del {ns} 2>/dev/null"));
        }
    }
}

fn port_id(n: usize) -> String {
    format!("{n:08x}-0000-4000-8000-000000000000")
}

fn port(n: usize, net: &str, security: Option<SecurityPlan>) -> PortPlan {
    let id = port_id(n);
    PortPlan {
        device: names::tap(&id),
        id,
        network_id: net.to_owned(),
        mac: format!("fa:16:3e:00:{:02x}:{:02x}", n / 256, n % 256),
        ips: vec![format!("10.5.{}.{}", n / 250, n % 250 + 2).parse().unwrap()],
        security,
        qos: None,
    }
}

fn security(rules: usize) -> SecurityPlan {
    let mut r = vec![SgRule {
        direction: Direction::Egress,
        ethertype: Ethertype::V4,
        protocol: None,
        port_min: None,
        port_max: None,
        remote: Remote::Any,
    }];
    for i in 0..rules {
        let dport = 1000 + u16::try_from(i).expect("fewer than 64k rules");
        r.push(SgRule {
            direction: Direction::Ingress,
            ethertype: Ethertype::V4,
            protocol: Some(if i % 2 == 0 { 6 } else { 17 }),
            port_min: Some(dport),
            port_max: Some(dport),
            remote: Remote::Prefix(format!("172.16.{}.0/24", i % 256).parse().unwrap()),
        });
    }
    SecurityPlan {
        allowed_pairs: vec![],
        rules: r,
        stateful: true,
    }
}

fn main() {
    let tag = std::process::id();
    let host = format!("dpb-h-{tag}");
    let (vm_a, vm_b) = (format!("dpb-a-{tag}"), format!("dpb-b-{tag}"));
    let net = format!("{tag:08x}-1111-4000-8000-000000000000");
    let _guard = Namespaces(vec![
        host.clone(),
        vm_a.clone(),
        vm_b.clone(),
        names::dhcp_namespace(&net),
        names::router_namespace(&router_id(tag)),
    ]);
    for ns in [&host, &vm_a, &vm_b] {
        must(&format!("ip netns add {ns} && ip -n {ns} link set lo up"));
    }
    // this process becomes the agent of the host namespace
    let file = std::fs::File::open(format!("/run/netns/{host}")).unwrap();
    rustix::thread::move_into_link_name_space(
        file.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .unwrap();
    let state = std::env::temp_dir().join(format!("dataplane-bench-{tag}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dp = Linux::new(Config { state_dir: state.clone(), owner: "oxibench".into(), namespace_tag: None }).unwrap();
        let networks = vec![NetworkPlan { id: net.clone(), kind: NetworkKind::Local, mtu: 1500, dhcp: None, host_address: None }];

        // port plugged -> first packet: b is wired; a's tap appears (as QEMU creates it)
        let mut icmp = security(0);
        icmp.rules.push(SgRule {
            direction: Direction::Ingress,
            ethertype: Ethertype::V4,
            protocol: Some(1),
            port_min: None,
            port_max: None,
            remote: Remote::Any,
        });
        let (a, b) = (port(0, &net, Some(icmp.clone())), port(1, &net, Some(icmp)));
        let veth = |p: &PortPlan, vm: &str, ip: &str| {
            must(&format!(
                "ip link add {} type veth peer name eth0 netns {vm} && ip -n {vm} link set eth0 address {} up && ip -n {vm} addr add {ip} dev eth0",
                p.device, p.mac
            ))
        };
        veth(&b, &vm_b, "10.5.0.3/24");
        let mut plan = HostPlan { networks: networks.clone(), ports: vec![b.clone(), a.clone()], ..Default::default() };
        dp.apply(&plan).await.unwrap();
        veth(&a, &vm_a, "10.5.0.2/24");
        // The veth's carrier comes up with its host end; the kernel activates the VM
        // end's qdisc in linkwatch, up to ~1 s later, and drops what is sent before.
        // A QEMU tap has no such delay inside the guest: set the host end up and wait
        // it out, so that the figure is the dataplane's.
        must(&format!("ip link set {} up", a.device));
        std::thread::sleep(Duration::from_millis(1500));
        let t0 = Instant::now();
        let applied = dp.apply(&plan).await.unwrap();
        let plugged = t0.elapsed();
        assert!(applied.wired.contains(&a.id), "{applied:?}");
        let first_reply = loop {
            if sh(&format!("ip netns exec {vm_a} busybox ping -c 1 -W 1 -w 1 -q 10.5.0.3 >/dev/null 2>&1")) {
                break t0.elapsed();
            }
            if t0.elapsed() > Duration::from_secs(10) {
                panic!("no reply within 10 s");
            }
        };
        let rtt = Instant::now();
        must(&format!("ip netns exec {vm_a} busybox ping -c 1 -W 1 -q 10.5.0.3 >/dev/null 2>&1"));
        println!("port plugged (the apply wiring its new tap): {:.1} ms", ms(plugged));
        println!("port plugged -> first ping answered: {:.1} ms (next ping, process start included: {:.1} ms)", ms(first_reply), ms(rtt.elapsed()));

        // 1,000 rules on one port
        plan.ports[1].security = Some(security(1000));
        let t0 = Instant::now();
        let applied = dp.apply(&plan).await.unwrap();
        println!("security group of 1,000 rules applied to a port: {:.1} ms ({} changes; target < 500 ms)", ms(t0.elapsed()), applied.changes.len());
        let t0 = Instant::now();
        let applied = dp.apply(&plan).await.unwrap();
        println!("  re-apply, unchanged: {:.1} ms, {} changes", ms(t0.elapsed()), applied.changes.len());

        // 200 ports
        let mut ports = Vec::new();
        for n in 10..210 {
            let p = port(n, &net, Some(security(5)));
            must(&format!("ip link add {} type veth peer name v{n}", p.device));
            ports.push(p);
        }
        let plan = HostPlan { networks, ports, ..Default::default() };
        let t0 = Instant::now();
        let first = dp.apply(&plan).await.unwrap();
        println!("200 ports, first apply: {:.1} ms ({} changes, {} wired)", ms(t0.elapsed()), first.changes.len(), first.wired.len());
        let t0 = Instant::now();
        let again = dp.apply(&plan).await.unwrap();
        println!("200 ports, nothing changed: {:.1} ms, {} changes (target < 2 s, 0 changes)", ms(t0.elapsed()), again.changes.len());
        // the router alone, so that its figures are its own
        dp.teardown_all().await;
        routers(&dp, HostPlan { networks: plan.networks, ..Default::default() }, tag).await;
        dp.teardown_all().await;
    });
    let _ = std::fs::remove_dir_all(&state);
}

fn router_id(tag: u32) -> String {
    format!("{tag:08x}-3333-4000-8000-000000000000")
}

/// A router on the 200 ports' network, gatewayed to an external network, with 50
/// floating IPs: first apply, unchanged re-apply, one floating IP added, one removed.
async fn routers(dp: &Linux, mut plan: HostPlan, tag: u32) {
    let public = format!("{tag:08x}-2222-4000-8000-000000000000");
    plan.networks.push(NetworkPlan {
        id: public.clone(),
        kind: NetworkKind::Flat { interface: None },
        mtu: 1500,
        dhcp: None,
        host_address: Some("172.24.0.1/16".parse().unwrap()),
    });
    let fip = |n: usize| FloatingIpPlan {
        floating_ip: format!("172.24.1.{n}").parse().unwrap(),
        fixed_ip: format!("10.5.0.{n}").parse().unwrap(),
    };
    plan.routers.push(RouterPlan {
        id: router_id(tag),
        gateway: Some(RouterGateway {
            network_id: public,
            port_id: format!("{tag:08x}-4444-4000-8000-000000000000"),
            mac: "fa:16:3e:ff:00:01".into(),
            addresses: vec!["172.24.0.10/16".parse().unwrap()],
            gateway_ip: Some("172.24.0.1".parse().unwrap()),
            enable_snat: true,
        }),
        interfaces: vec![RouterInterface {
            port_id: format!("{tag:08x}-5555-4000-8000-000000000000"),
            network_id: plan.networks[0].id.clone(),
            mac: "fa:16:3e:ff:00:02".into(),
            addresses: vec!["10.5.255.1/16".parse().unwrap()],
            ipv6_subnets: vec![],
        }],
        routes: vec![],
        floating_ips: (2..52).map(fip).collect(),
        port_forwardings: vec![],
        metadata: false,
    });
    timed(dp, &plan, "router with 50 floating IPs, first apply").await;
    timed(dp, &plan, "  re-apply, unchanged").await;
    plan.routers[0].floating_ips.push(fip(52));
    timed(dp, &plan, "  one floating IP added").await;
    plan.routers[0].floating_ips.remove(0);
    timed(dp, &plan, "  one floating IP removed").await;
}

/// Apply `plan` and print how long it took and how many changes it made.
async fn timed(dp: &Linux, plan: &HostPlan, what: &str) {
    let t0 = Instant::now();
    let applied = dp.apply(plan).await.unwrap();
    println!(
        "{what}: {:.1} ms ({} changes)",
        ms(t0.elapsed()),
        applied.changes.len()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

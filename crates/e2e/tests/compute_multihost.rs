//! Compute across two hosts, driven by the unmodified `openstack` CLI: a control plane
//! (`oxistack serve --role api` over PostgreSQL and RabbitMQ) and two hosts, `hostA`
//! and `hostB`, each a network namespace running `oxistack serve --role network-agent`
//! and `oxistack serve --role compute` (the QEMU driver: KVM where it works, TCG here),
//! as on three machines (see `e2e::multihost`).
//!
//! Two servers of an anti-affinity server group, booted at once (two parallel `server
//! create --wait`), land one on each host: their `OS-EXT-SRV-ATTR:host` differ and
//! each host's Placement usage is one m1.tiny. They reach each other over VXLAN: SSH
//! (from hostA's DHCP namespace, the one place of the cloud on the tenant network)
//! into each guest, which pings the other's fixed address. Deleted, they leave nothing
//! on either host: no QEMU process, tap, port, guest directory or allocation. The
//! guests get their key from the metadata service, through the proxy of hostA's DHCP
//! namespace (hostB's guest over VXLAN).
//!
//! Network safety: everything runs in namespaces the test makes (the hosts, and the
//! DHCP namespace hostA's agent makes), removed at the end, also on failure; the hosts'
//! only link is their underlay veth pair, and they reach the control plane on the
//! machine's 127.0.0.1 through relays (no interface, address or route leads out).

use std::{
    collections::BTreeMap,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use e2e::{
    compute::{self, port_ids, ssh, wait_for},
    multihost::{control_plane, hosts},
    network::s,
    test_image_dir, Cloud, ADMIN, DEMO,
};
use serde_json::Value;

/// Generous: the machine is a loaded 2-core one and guests run under TCG.
const BOOT: Duration = Duration::from_secs(300);

/// m1.tiny, as DevStack's (and `oxistack up`'s): what each guest uses of its host.
const TINY: [(&str, u64); 3] = [("DISK_GB", 1), ("MEMORY_MB", 512), ("VCPU", 1)];

/// What `oxistack up` would have made, made by hand as an operator of a `serve` cloud
/// does: the flavor m1.tiny, the test image as `cirros`, and the demo project's
/// network `private` with a subnet. The network's id.
fn cloud_contents(c: &Cloud) -> String {
    c.os(
        ADMIN,
        &[
            "flavor", "create", "--id", "1", "--ram", "512", "--disk", "1", "--vcpus", "1",
            "m1.tiny",
        ],
    );
    let image = test_image_dir().join("test-image.qcow2");
    let mut args = vec![
        "image",
        "create",
        "--public",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        image.to_str().expect("a UTF-8 path"),
    ];
    for p in [
        "hw_disk_bus=virtio",
        "hw_vif_model=virtio",
        "os_type=linux",
        "hw_rng_model=virtio",
    ] {
        args.extend_from_slice(&["--property", p]);
    }
    args.push("cirros");
    c.os(ADMIN, &args);
    let net = c.os_json(DEMO, &["network", "create", "private"]);
    assert_eq!(net["mtu"], 1450, "a VXLAN project network: {net}");
    c.os(
        DEMO,
        &[
            "subnet",
            "create",
            "--network",
            "private",
            "--subnet-range",
            "10.0.0.0/26",
            "private-subnet",
        ],
    );
    s(&net, "id").to_owned()
}

/// `server create ... --hint group=<group> --wait` of cirros on `private` with key
/// `k` (which the guest reads from the metadata service): the server, which must be
/// ACTIVE.
fn create(c: &Cloud, name: &str, group: &str) -> Value {
    let hint = format!("group={group}");
    let out = compute::create(c, name, "cirros", &["--hint", &hint]);
    assert!(out.success(), "{out}");
    let v = out.json();
    assert_eq!(s(&v, "status"), "ACTIVE", "{v}");
    v
}

/// The usage of the host's resource provider, by resource class (nonzero ones).
fn usage(c: &Cloud, host: &str) -> BTreeMap<String, u64> {
    let rps = c.os_json(ADMIN, &["resource", "provider", "list", "--name", host]);
    let rp = rps
        .as_array()
        .and_then(|l| l.first())
        .unwrap_or_else(|| panic!("no provider {host}: {rps}"));
    let list = c.os_json(
        ADMIN,
        &["resource", "provider", "usage", "show", s(rp, "uuid")],
    );
    list.as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter_map(|u| {
            let n = u["usage"].as_u64()?;
            (n > 0).then(|| (s(u, "resource_class").to_owned(), n))
        })
        .collect()
}

fn tiny() -> BTreeMap<String, u64> {
    TINY.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// SSH (started by `enter`) into the guest at `ip` until it answers; then it pings
/// `other`: whether a reply came.
fn pings(enter: &str, key: &Path, ip: &str, other: &str) -> bool {
    let name = wait_for(&format!("SSH into {ip}"), BOOT, || {
        ssh(enter, key, ip, "hostname")
    });
    eprintln!("compute_multihost: {ip} answers SSH as {}", name.trim());
    ssh(enter, key, ip, &format!("ping -c 3 -W 2 {other}"))
        .is_ok_and(|out| !out.contains(" 0 packets received"))
}

#[test]
fn anti_affine_servers_land_on_both_hosts_and_reach_each_other_over_vxlan() {
    let started = Instant::now();
    let Some((bus, c)) = control_plane(&[]) else {
        return;
    };
    // DHCP on hostA only, so where its namespace is is known.
    let (mut a, mut b) = hosts(&c, &bus, [&["dhcp = true"], &["dhcp = false"]]);
    // Both compute hosts start (and probe KVM) while the cloud is filled.
    let compute = ["sync_interval = 3", "report_interval = 5"];
    for h in [&mut a, &mut b] {
        h.add_compute(&c, &bus, &compute);
    }
    let net_id = cloud_contents(&c);
    let key = compute::keypair(&c, DEMO, "k");
    // SSH from the DHCP namespace; the guests ping each other as members of the group
    compute::allow_in_default_group(&c, DEMO, &["tcp 22"]);
    let group: Vec<&str> = "server group create --policy anti-affinity g1"
        .split(' ')
        .collect();
    let group = c.os_json(DEMO, &group);
    let group_id = s(&group, "id").to_owned();
    for h in [&mut a, &mut b] {
        h.wait_compute(Duration::from_secs(60));
    }
    let services = c.os_json(ADMIN, &["compute", "service", "list"]);
    for h in [&a, &b] {
        assert!(
            services.as_array().unwrap().iter().any(|sv| {
                sv["Binary"] == "nova-compute" && sv["Host"] == h.name() && sv["State"] == "up"
            }),
            "{services}"
        );
    }
    eprintln!("compute_multihost: hosts up in {:.1?}", started.elapsed());

    // Two boots at once, in one anti-affinity group.
    let booted = Instant::now();
    let (vm1, vm2) = thread::scope(|sc| {
        let one = sc.spawn(|| create(&c, "vm1", &group_id));
        let two = sc.spawn(|| create(&c, "vm2", &group_id));
        (one.join().unwrap(), two.join().unwrap())
    });
    eprintln!("compute_multihost: both ACTIVE in {:.1?}", booted.elapsed());
    let ids = [s(&vm1, "id").to_owned(), s(&vm2, "id").to_owned()];
    // One on each host (the admin's view), each host using one m1.tiny.
    let host_of = |id: &str| {
        let v = c.os_json(ADMIN, &["server", "show", id]);
        s(&v, "OS-EXT-SRV-ATTR:host").to_owned()
    };
    let on: Vec<String> = ids.iter().map(|id| host_of(id)).collect();
    assert_ne!(
        on[0], on[1],
        "both servers of an anti-affinity group on one host"
    );
    let mut sorted = on.clone();
    sorted.sort();
    assert_eq!(sorted, ["hostA", "hostB"]);
    for h in [&a, &b] {
        assert_eq!(usage(&c, h.name()), tiny(), "{}'s usage", h.name());
    }
    let members = c.os_json(DEMO, &["server", "group", "show", &group_id]);
    for id in &ids {
        assert!(members.to_string().contains(id.as_str()), "{members}");
    }

    // Each guest, reached over SSH, pings the other: over VXLAN between the hosts.
    let fixed = |id: &str| {
        let ports = port_ids(&c, id);
        assert_eq!(ports.len(), 1, "{ports:?}");
        let port = c.os_json(ADMIN, &["port", "show", &ports[0]]);
        assert_eq!(s(&port, "status"), "ACTIVE", "{port}");
        assert_eq!(s(&port, "binding_host_id"), host_of(id), "{port}");
        s(&port["fixed_ips"][0], "ip_address").to_owned()
    };
    let ips = [fixed(&ids[0]), fixed(&ids[1])];
    // hostA's DHCP namespace, entered as its dnsmasq's (the agent made it in the mount
    // namespace of `ip netns exec`: its name is not usable from outside)
    let pid = a.agent.state_dir().join("dhcp").join(&net_id).join("pid");
    let pid = std::fs::read_to_string(&pid).unwrap_or_else(|e| panic!("{}: {e}", pid.display()));
    let dhcp = format!("nsenter -t {} -n", pid.trim());
    for (from, to) in [(0, 1), (1, 0)] {
        assert!(
            pings(&dhcp, &key, &ips[from], &ips[to]),
            "{} ({}) cannot ping {} ({})",
            ips[from],
            on[from],
            ips[to],
            on[to]
        );
    }

    // Each read its key from the metadata service (through hostA's DHCP namespace).
    for id in &ids {
        let log = compute::console_with(&c, DEMO, id, "OXISTACK-TEST-IMAGE-READY", BOOT);
        assert!(log.contains("metadata=openstack"), "{log}");
    }
    eprintln!("compute_multihost: pinged in {:.1?}", started.elapsed());

    // Deleted: nothing of either is left on either host.
    let ports: Vec<Vec<String>> = ids.iter().map(|id| port_ids(&c, id)).collect();
    c.os(DEMO, &["server", "delete", "--wait", &ids[0], &ids[1]]);
    for h in [&a, &b] {
        let compute = h.compute.as_ref().expect("a compute host");
        let instances = compute.data_dir().join("instances");
        for (id, ports) in ids.iter().zip(&ports) {
            compute::nothing_left(&c, &h.ns, &instances, id, ports, BOOT);
        }
    }
    for h in [&a, &b] {
        assert!(usage(&c, h.name()).is_empty(), "{} still used", h.name());
    }
    eprintln!("compute_multihost: {:.1?}", started.elapsed());
}

//! Heartbeats as the other hosts need them: an agent that appears, or reports another
//! tunnel address, bridge mappings or DHCP setting, changes other hosts' plans (VXLAN
//! peers and forwarding entries, where DHCP runs), so the agents are told to sync; a
//! heartbeat that changes nothing of that tells nobody.

use network::app::{AgentReport, Networking};
use serde_json::json;
use test_support::TestCloud;

fn report(host: &str, tunnel_ip: &str, dhcp: bool, devices: u32) -> AgentReport {
    AgentReport {
        host: host.into(),
        agent_type: "Linux bridge agent".into(),
        binary: "oxistack-network-agent".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        availability_zone: "nova".into(),
        configurations: json!({
            "tunnel_ip": tunnel_ip, "bridge_mappings": {}, "dhcp": dhcp,
            "devices": devices, "tunnel_types": ["vxlan"],
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_that_change_plans_notify_the_agents() {
    let tc = TestCloud::start().await;
    let svc = tc.cloud.handle::<Networking>("network").expect("network");
    let mut changes = svc.watch_changes();
    changes.borrow_and_update();
    // (what, host, tunnel address, DHCP, device count, whether the agents are told)
    let cases = [
        ("a new agent", "hostA", "192.0.2.1", true, 0, true),
        ("the same heartbeat", "hostA", "192.0.2.1", true, 0, false),
        ("more devices only", "hostA", "192.0.2.1", true, 3, false),
        ("new tunnel address", "hostA", "192.0.2.9", true, 3, true),
        ("DHCP turned off", "hostA", "192.0.2.9", false, 3, true),
        ("a second host", "hostB", "192.0.2.2", true, 0, true),
        ("hostB again", "hostB", "192.0.2.2", true, 0, false),
    ];
    for (what, host, tunnel_ip, dhcp, devices, notified) in cases {
        svc.agent_heartbeat(&report(host, tunnel_ip, dhcp, devices))
            .await
            .unwrap();
        assert_eq!(changes.has_changed().unwrap(), notified, "{what}");
        changes.borrow_and_update();
    }
}

//! The boot flow in one process: the whole cloud (Compute, Placement, Network, Image,
//! Identity) with a compute host on the fake driver, driven through the Compute API.
//! A server boots to ACTIVE on the host with its allocation and port, a delete leaves
//! nothing, and boots that cannot succeed (no host big enough, an image without data)
//! end in ERROR with a fault and leave nothing either. The sagas pass
//! `saga::testing::check` against the same cloud.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::Flow;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_boots_is_deleted_and_failed_boots_leave_nothing() {
    let f = Flow::start().await;
    let demo = f.tc.demo_token().await;
    let (net, _) = f.network(&demo, "flow-net", "10.20.0.0/24").await;

    // boot
    let id = f
        .create_server(&demo, "vm1", &f.image, &f.flavor, json!([{"uuid": net}]))
        .await;
    let s = f.wait_status(&demo, &id, "ACTIVE").await;
    assert_eq!(s["OS-EXT-STS:power_state"], 1, "{s}");
    assert_eq!(s["OS-EXT-STS:vm_state"], "active");
    assert!(s["OS-SRV-USG:launched_at"].is_string(), "{s}");
    let addresses = &s["addresses"]["flow-net"];
    assert_eq!(addresses.as_array().map(Vec::len), Some(1), "{s}");
    let admin_view = f.server(&f.admin, &id).await;
    assert_eq!(admin_view["OS-EXT-SRV-ATTR:host"], f.host.as_str());
    // the guest runs on the host, with a tap named for the network agent
    let guest = f.fake.spec(&id).expect("the guest is on the fake host");
    assert_eq!(guest.nics.len(), 1);
    assert!(guest.nics[0].tap.starts_with("tap"));
    assert_eq!(guest.memory_mb, 64);
    // placement holds the flavor for the server
    let alloc = f.allocations(&id).await;
    assert_eq!(
        alloc,
        json!({"VCPU": 1, "MEMORY_MB": 64, "DISK_GB": 1}),
        "{alloc}"
    );
    // the port is the server's, bound to the host
    let ports = f.ports_of(&id).await;
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["binding:host_id"], f.host.as_str());
    assert_eq!(ports[0]["device_owner"], "compute:nova");

    // delete
    let r =
        f.tc.call(
            "compute_api",
            Method::DELETE,
            &format!("/v2.1/servers/{id}"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    f.wait_gone(&demo, &id).await;
    f.assert_nothing_left(&id).await;

    // no host big enough
    let huge = f.flavor_of(1, 10_000_000, 1).await;
    let id = f
        .create_server(&demo, "too-big", &f.image, &huge, json!([{"uuid": net}]))
        .await;
    let s = f.wait_status(&demo, &id, "ERROR").await;
    let msg = s["fault"]["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("No valid host was found."), "{s}");
    assert_eq!(s["fault"]["code"], 500);
    f.assert_nothing_left(&id).await;

    // an image that has no data is refused by the API, and nothing is recorded
    let empty = f.empty_image(&demo).await;
    let body = json!({"server": {"name": "no-data", "imageRef": empty, "flavorRef": f.flavor, "networks": [{"uuid": net}]}});
    let r =
        f.tc.call(
            "compute_api",
            Method::POST,
            "/v2.1/servers",
            Some(&demo),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("is not active"), "{}", r.text());

    // a host whose spawn fails: ERROR with a fault, nothing left
    f.fake.fail_next_spawns(1);
    let id = f
        .create_server(&demo, "doomed", &f.image, &f.flavor, json!("none"))
        .await;
    let s = f.wait_status(&demo, &id, "ERROR").await;
    assert!(s["fault"]["message"].is_string(), "{s}");
    f.assert_nothing_left(&id).await;

    // a server in ERROR can be deleted
    let r =
        f.tc.call(
            "compute_api",
            Method::DELETE,
            &format!("/v2.1/servers/{id}"),
            Some(&demo),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    f.wait_gone(&demo, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_guest_becomes_shutoff_and_orphans_are_destroyed() {
    let f = Flow::start().await;
    let demo = f.tc.demo_token().await;
    let id = f
        .create_server(&demo, "vm", &f.image, &f.flavor, json!("none"))
        .await;
    f.wait_status(&demo, &id, "ACTIVE").await;
    f.fake.crash(&id);
    let s = f.wait_status(&demo, &id, "SHUTOFF").await;
    assert_eq!(s["OS-EXT-STS:power_state"], 4);
    // a guest no server owns goes at the next sync
    let mut orphan = f.fake.spec(&id).unwrap();
    orphan.id = "00000000-0000-4000-8000-000000000001".into();
    hypervisor::Driver::spawn(&f.fake, &orphan).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while f.fake.spec(&orphan.id).is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the orphan stayed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(f.fake.spec(&id).is_some(), "the server's own guest stays");
}

/// Members of an anti-affinity group booted at once (one request for four) land on
/// four hosts of one size: each member is scheduled in its group's turn, and the host
/// of the one before is known by then (not only once it has spawned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affine_servers_booted_at_once_land_on_distinct_hosts() {
    let f = Flow::start().await;
    let mut hosts = vec![f.host.clone()];
    for _ in 0..3 {
        hosts.push(f.add_host().await.0);
    }
    let demo = f.tc.demo_token().await;
    let group = f.server_group(&demo, "spread", "anti-affinity").await;
    let body = json!({
        "server": {"name": "spread", "imageRef": f.image, "flavorRef": f.flavor,
                   "networks": "none", "min_count": 4, "max_count": 4},
        "os:scheduler_hints": {"group": group},
    });
    f.post_server(&demo, body).await;
    let r =
        f.tc.call(
            "compute_api",
            Method::GET,
            &format!("/v2.1/os-server-groups/{group}"),
            Some(&demo),
            None,
        )
        .await;
    let members: Vec<String> = r.json()["server_group"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(members.len(), 4, "{}", r.text());
    let mut on = Vec::new();
    for id in &members {
        f.wait_status(&demo, id, "ACTIVE").await;
        let s = f.server(&f.admin, id).await;
        on.push(s["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_owned());
    }
    on.sort();
    hosts.sort();
    assert_eq!(on, hosts, "one member on each host");
}

/// The late check: a member's host is recorded only as its group's policy allows
/// given where the other members are now, as a second conductor (another process,
/// whose scheduler read the group before this one placed its member) would find it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_host_is_recorded_only_as_its_group_allows() {
    let f = Flow::start().await;
    let (other, _) = f.add_host().await;
    let demo = f.tc.demo_token().await;
    let group: types::ServerGroupId = f
        .server_group(&demo, "late", "anti-affinity")
        .await
        .parse()
        .unwrap();
    let mut placed = Vec::new();
    for name in ["a", "b"] {
        let body = json!({
            "server": {"name": name, "imageRef": f.image, "flavorRef": f.flavor, "networks": "none"},
            "os:scheduler_hints": {"group": group.to_string()},
        });
        let id = f.post_server(&demo, body).await["server"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        f.wait_status(&demo, &id, "ACTIVE").await;
        let host = f.server(&f.admin, &id).await["OS-EXT-SRV-ATTR:host"]
            .as_str()
            .unwrap()
            .to_owned();
        placed.push((id.parse::<types::ServerId>().unwrap(), host));
    }
    let [(a, on_a), (b, on_b)] = [placed[0].clone(), placed[1].clone()];
    assert_ne!(on_a, on_b, "the filters kept them apart");
    assert!([&f.host, &other].contains(&&on_a));
    // a second conductor's view of the cloud: the same database
    let policy = policy::Policy::load_if_exists(compute::policies::DEFAULTS, None).unwrap();
    let token = service::ServiceToken::new(&Default::default(), "http://127.0.0.1:9/v3");
    let clients = compute::clients::Clients::new(token, &Default::default());
    let second = compute::app::Compute::new(f.tc.db.clone(), Default::default(), policy, clients);
    let on = |id| {
        let second = &second;
        async move { second.server(id).await.unwrap().host.unwrap() }
    };
    assert!(
        !second
            .set_member_host(&b, &on_a, &on_a, &group, "anti-affinity", 1)
            .await
            .unwrap(),
        "anti-affinity: not beside a"
    );
    assert_eq!(on(&b).await, on_b, "a refused placement writes nothing");
    assert!(
        second
            .set_member_host(&b, &on_a, &on_a, &group, "anti-affinity", 2)
            .await
            .unwrap(),
        "two per host allowed"
    );
    assert_eq!(on(&b).await, on_a);
    assert!(
        !second
            .set_member_host(&a, &on_b, &on_b, &group, "affinity", 1)
            .await
            .unwrap(),
        "affinity: not away from b"
    );
    assert!(second
        .set_member_host(&a, &on_a, &on_a, &group, "affinity", 1)
        .await
        .unwrap());
}

/// A host that forces config drives (`force_config_drive`) gives the guest one, and
/// the server shows it (`config_drive: "True"`), as Nova records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_drive_the_host_forces_shows_in_the_server() {
    let f = Flow::start().await;
    let (forcing, fake) = f.add_host_with(|c| c.force_config_drive = true).await;
    let body = json!({"server": {"name": "forced", "imageRef": f.image, "flavorRef": f.flavor,
                                 "networks": "none", "availability_zone": format!("nova:{forcing}")}});
    let id = f.post_server(&f.admin, body).await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = f.wait_status(&f.admin, &id, "ACTIVE").await;
    assert_eq!(s["OS-EXT-SRV-ATTR:host"], forcing.as_str(), "{s}");
    assert_eq!(s["config_drive"], "True", "{s}");
    assert!(fake.spec(&id).and_then(|g| g.config_drive).is_some());
}

//! Many boots at once over many hosts (a correctness test, not a timed one): 50 servers
//! created concurrently over 10 small fake hosts all become ACTIVE, each on exactly one
//! host (its guest on that host's driver, its allocation on that host's provider and
//! nowhere else), no provider beyond its capacity, and Placement's usage the sum of the
//! flavors. Then every delete leaves nothing.

mod common;

use std::collections::{BTreeMap, HashMap};

use axum::http::{Method, StatusCode};
use common::Flow;
use serde_json::{json, Value};

const HOSTS: usize = 10;
const SERVERS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_servers_boot_at_once_over_ten_hosts() {
    // 2 vCPUs at the default ratio of 4: 8 servers of 1 vCPU per host, 80 in all, so
    // the 50 need at least 7 hosts and the claims race for the roomiest ones
    let f = Flow::start_with(&[(2, 4096, 100); HOSTS]).await;
    let demo = f.tc.demo_token().await;

    let creates = (0..SERVERS).map(|i| {
        let (f, demo) = (&f, &demo);
        async move {
            f.create_server(
                demo,
                &format!("many{i}"),
                &f.image,
                &f.flavor,
                json!("none"),
            )
            .await
        }
    });
    let ids: Vec<String> = futures::future::join_all(creates).await;
    let mut waits = Vec::new();
    for id in &ids {
        waits.push(f.wait_status(&demo, id, "ACTIVE"));
    }
    futures::future::join_all(waits).await;

    // each server on exactly one host: its guest there only, its allocation on that
    // host's provider only
    let providers = f.placement("/resource_providers").await;
    let name_of: HashMap<String, String> = providers["resource_providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["uuid"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        let s = f.server(&f.admin, id).await;
        let host = s["OS-EXT-SRV-ATTR:host"].as_str().unwrap_or_default();
        let guests_on: Vec<&str> = f
            .hosts
            .iter()
            .filter(|(_, fake)| fake.spec(id).is_some())
            .map(|(h, _)| h.as_str())
            .collect();
        assert_eq!(guests_on, [host], "server {id}: guests on {guests_on:?}");
        let a = f.placement(&format!("/allocations/{id}")).await;
        let on: Vec<&String> = a["allocations"].as_object().unwrap().keys().collect();
        assert_eq!(on.len(), 1, "server {id}: allocations {a}");
        assert_eq!(name_of.get(on[0]).map(String::as_str), Some(host), "{a}");
        assert_eq!(
            f.allocations(id).await,
            json!({"VCPU": 1, "MEMORY_MB": 64, "DISK_GB": 1})
        );
        *per_host.entry(host.to_owned()).or_default() += 1;
    }
    assert!(per_host.len() > 1, "every server on one host: {per_host:?}");

    // no provider beyond (total - reserved) x allocation ratio
    for (uuid, name) in &name_of {
        let inv = f
            .placement(&format!("/resource_providers/{uuid}/inventories"))
            .await;
        let used = f
            .placement(&format!("/resource_providers/{uuid}/usages"))
            .await;
        for (class, u) in used["usages"].as_object().unwrap() {
            let i = &inv["inventories"][class];
            let cap = (i["total"].as_f64().unwrap() - i["reserved"].as_f64().unwrap())
                * i["allocation_ratio"].as_f64().unwrap();
            assert!(
                u.as_f64().unwrap() <= cap,
                "{name}: {class} used {u} of {cap}"
            );
        }
    }

    // the project's usage is the flavors' sum
    let project = f.server(&f.admin, &ids[0]).await["tenant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let n = SERVERS as u64;
    let usage = f.placement(&format!("/usages?project_id={project}")).await;
    assert_eq!(
        usage["usages"],
        json!({"VCPU": n, "MEMORY_MB": n * 64, "DISK_GB": n}),
        "{per_host:?}"
    );

    // and the deletes, at once too, leave nothing
    let deletes = ids.iter().map(|id| {
        let (f, demo) = (&f, &demo);
        async move {
            let r =
                f.tc.call(
                    "compute_api",
                    Method::DELETE,
                    &format!("/v2.1/servers/{id}"),
                    Some(demo),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        }
    });
    futures::future::join_all(deletes).await;
    for id in &ids {
        f.wait_gone(&demo, id).await;
        for (_, fake) in &f.hosts {
            assert!(fake.spec(id).is_none(), "a guest of {id} is left");
        }
        assert_eq!(
            f.allocations(id).await,
            json!({}),
            "an allocation of {id} is left"
        );
    }
    let usage: Value = f.placement(&format!("/usages?project_id={project}")).await;
    let left: u64 = usage["usages"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(left, 0, "{usage}");
}

//! The Networking API in-process, on SQLite and PostgreSQL: what a client may do, the
//! errors bad input gets (Neutron's type and status, nothing half-created), and IPAM
//! under concurrent creators.

use std::collections::HashSet;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use test_support::{Engine, TestCloud};

/// Run `f` on every engine the machine has.
macro_rules! on_engines {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(TestCloud::start_on(Engine::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !Engine::available().contains(&Engine::Postgres) {
                    db::testing::missing("no PostgreSQL for the network API tests");
                    return;
                }
                ($body)(TestCloud::start_on(Engine::Postgres).await).await;
            }
        }
    };
}

async fn call(
    tc: &TestCloud,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = tc.call("network", method, path, Some(token), body).await;
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.status, v)
}

async fn create(tc: &TestCloud, token: &str, path: &str, body: Value) -> Value {
    let (s, v) = call(tc, token, Method::POST, path, Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "POST {path}: {v}");
    v.as_object()
        .and_then(|o| o.values().next().cloned())
        .unwrap()
}

/// The status and `NeutronError.type` of a refused request.
async fn refused(
    tc: &TestCloud,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let (s, v) = call(tc, token, method, path, body).await;
    let t = v["NeutronError"]["type"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: {s} without a NeutronError: {v}"));
    assert!(
        !v["NeutronError"]["message"]
            .as_str()
            .unwrap_or("")
            .is_empty(),
        "{v}"
    );
    (s.as_u16(), t.to_owned())
}

async fn count(tc: &TestCloud, token: &str, collection: &str) -> usize {
    let (_, v) = call(tc, token, Method::GET, &format!("/v2.0/{collection}"), None).await;
    v[collection.replace('-', "_")].as_array().unwrap().len()
}

async fn network_with_subnet(tc: &TestCloud, token: &str, cidr: &str) -> (String, String) {
    let net = create(
        tc,
        token,
        "/v2.0/networks",
        json!({"network": {"name": "n"}}),
    )
    .await;
    let id = net["id"].as_str().unwrap().to_owned();
    let sub = create(
        tc,
        token,
        "/v2.0/subnets",
        json!({"subnet": {"network_id": id, "cidr": cidr, "ip_version": 4}}),
    )
    .await;
    (id, sub["id"].as_str().unwrap().to_owned())
}

on_engines!(
    bad_input_gets_neutron_errors_and_leaves_nothing,
    |tc: TestCloud| async move {
        let t = tc.demo_token().await;
        let (net, subnet) = network_with_subnet(&tc, &t, "10.1.0.0/24").await;
        let sub = |body: Value| json!({"subnet": body});
        let cases: Vec<(&str, Value, u16, &str)> = vec![
            (
                "overlapping cidr",
                sub(json!({"network_id": net, "cidr": "10.1.0.128/25", "ip_version": 4})),
                400,
                "InvalidInput",
            ),
            (
                "not a network address",
                sub(json!({"network_id": net, "cidr": "10.2.0.5/24", "ip_version": 4})),
                400,
                "InvalidInput",
            ),
            (
                "garbage cidr",
                sub(json!({"network_id": net, "cidr": "10.2.0/33", "ip_version": 4})),
                400,
                "InvalidInput",
            ),
            (
                "gateway outside",
                sub(json!({"network_id": net, "cidr": "10.3.0.0/24", "gateway_ip": "10.4.0.1"})),
                400,
                "InvalidInput",
            ),
            (
                "pool outside",
                sub(
                    json!({"network_id": net, "cidr": "10.3.0.0/24", "allocation_pools": [{"start": "10.3.0.10", "end": "10.3.1.10"}]}),
                ),
                400,
                "OutOfBoundsAllocationPool",
            ),
            (
                "pool over the gateway",
                sub(
                    json!({"network_id": net, "cidr": "10.3.0.0/24", "allocation_pools": [{"start": "10.3.0.1", "end": "10.3.0.10"}]}),
                ),
                409,
                "GatewayConflictWithAllocationPools",
            ),
            (
                "version mismatch",
                sub(json!({"network_id": net, "cidr": "10.3.0.0/24", "ip_version": 6})),
                400,
                "InvalidInput",
            ),
            (
                "unknown attribute",
                sub(json!({"network_id": net, "cidr": "10.3.0.0/24", "colour": "red"})),
                400,
                "HTTPBadRequest",
            ),
            (
                "no such network",
                sub(
                    json!({"network_id": "6b2a0b4e-0d7c-4b0e-9a57-2f4e8d7c1a11", "cidr": "10.3.0.0/24"}),
                ),
                404,
                "NetworkNotFound",
            ),
        ];
        for (what, body, status, kind) in cases {
            let got = refused(&tc, &t, Method::POST, "/v2.0/subnets", Some(body)).await;
            assert_eq!(got, (status, kind.to_owned()), "{what}");
        }
        assert_eq!(
            count(&tc, &t, "subnets").await,
            1,
            "a refused subnet left something"
        );
        // An address in use; an address outside the subnet.
        let p = create(&tc, &t, "/v2.0/ports", json!({"port": {"network_id": net}})).await;
        let ip = p["fixed_ips"][0]["ip_address"].as_str().unwrap().to_owned();
        let ports_before = count(&tc, &t, "ports").await;
        let taken = json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": subnet, "ip_address": ip}]}});
        assert_eq!(
            refused(&tc, &t, Method::POST, "/v2.0/ports", Some(taken)).await,
            (409, "IpAddressAlreadyAllocated".into())
        );
        let outside = json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": subnet, "ip_address": "10.9.9.9"}]}});
        assert_eq!(
            refused(&tc, &t, Method::POST, "/v2.0/ports", Some(outside)).await,
            (400, "InvalidInput".into())
        );
        let bad_mac = json!({"port": {"network_id": net, "mac_address": "01:00:5e:00:00:01"}});
        assert_eq!(
            refused(&tc, &t, Method::POST, "/v2.0/ports", Some(bad_mac))
                .await
                .0,
            400
        );
        assert_eq!(
            count(&tc, &t, "ports").await,
            ports_before,
            "a refused port left something"
        );
        // A port on another project's network: that network does not exist for it.
        let stranger = tc.new_member().await;
        let theirs = json!({"port": {"network_id": net}});
        assert_eq!(
            refused(
                &tc,
                &stranger.token,
                Method::POST,
                "/v2.0/ports",
                Some(theirs)
            )
            .await,
            (404, "NetworkNotFound".into())
        );
        // Deleting a network with ports, a subnet with addresses in use.
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::DELETE,
                &format!("/v2.0/networks/{net}"),
                None
            )
            .await,
            (409, "NetworkInUse".into())
        );
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::DELETE,
                &format!("/v2.0/subnets/{subnet}"),
                None
            )
            .await,
            (409, "SubnetInUse".into())
        );
        // Rules: a port range on ICMP beyond a type and code, on a protocol without ports,
        // an ethertype that contradicts the prefix.
        let (_, groups) = call(&tc, &t, Method::GET, "/v2.0/security-groups", None).await;
        let sg = groups["security_groups"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let rule = |extra: Value| {
            let mut r = json!({"security_group_id": sg, "direction": "ingress"});
            r.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"security_group_rule": r})
        };
        let rules_before = count(&tc, &t, "security-group-rules").await;
        for (what, body, kind) in [
            (
                "icmp port range",
                rule(json!({"protocol": "icmp", "port_range_min": 1000, "port_range_max": 2000})),
                "SecurityGroupInvalidIcmpValue",
            ),
            (
                "ports on gre",
                rule(json!({"protocol": "gre", "port_range_min": 1, "port_range_max": 2})),
                "SecurityGroupInvalidProtocolForPortRange",
            ),
            (
                "min above max",
                rule(json!({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80})),
                "SecurityGroupInvalidPortRange",
            ),
            (
                "v6 prefix on v4",
                rule(json!({"protocol": "tcp", "remote_ip_prefix": "2001:db8::/64"})),
                "SecurityGroupRuleParameterConflict",
            ),
            (
                "unknown protocol",
                rule(json!({"protocol": "carrier-pigeon"})),
                "SecurityGroupRuleInvalidProtocol",
            ),
        ] {
            assert_eq!(
                refused(
                    &tc,
                    &t,
                    Method::POST,
                    "/v2.0/security-group-rules",
                    Some(body)
                )
                .await,
                (400, kind.to_owned()),
                "{what}"
            );
        }
        assert_eq!(count(&tc, &t, "security-group-rules").await, rules_before);
        // A duplicate rule is a conflict.
        create(
            &tc,
            &t,
            "/v2.0/security-group-rules",
            rule(json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22})),
        )
        .await;
        let dup = refused(
            &tc,
            &t,
            Method::POST,
            "/v2.0/security-group-rules",
            Some(rule(
                json!({"protocol": "6", "port_range_min": 22, "port_range_max": 22}),
            )),
        )
        .await;
        assert_eq!(dup, (409, "SecurityGroupRuleExists".into()));
    }
);

on_engines!(
    concurrent_creators_never_share_an_address,
    |tc: TestCloud| async move {
        let t = tc.demo_token().await;
        // A /27: 29 addresses for 20 ports and the DHCP port, so creators collide.
        let (net, _) = network_with_subnet(&tc, &t, "10.5.0.0/27").await;
        let creators = (0..20).map(|_| {
            let (tc, t, net) = (&tc, &t, &net);
            async move { create(tc, t, "/v2.0/ports", json!({"port": {"network_id": net}})).await }
        });
        let ports = futures::future::join_all(creators).await;
        let mut seen = HashSet::new();
        for p in &ports {
            let ip = p["fixed_ips"][0]["ip_address"].as_str().unwrap().to_owned();
            assert!(seen.insert(ip.clone()), "{ip} given twice");
        }
        let (_, all) = call(
            &tc,
            &t,
            Method::GET,
            &format!("/v2.0/ports?network_id={net}"),
            None,
        )
        .await;
        let all: Vec<&str> = all["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["fixed_ips"][0]["ip_address"].as_str().unwrap())
            .collect();
        assert_eq!(all.len(), 21);
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 21, "{all:?}");
        // The pool runs out: a clear 409, nothing left behind.
        let mut last = None;
        for _ in 0..10 {
            let (s, v) = call(
                &tc,
                &t,
                Method::POST,
                "/v2.0/ports",
                Some(json!({"port": {"network_id": net}})),
            )
            .await;
            if s != StatusCode::CREATED {
                last = Some((s, v));
                break;
            }
        }
        let (s, v) = last.expect("a /27 ran out of addresses");
        assert_eq!(
            (s.as_u16(), v["NeutronError"]["type"].as_str()),
            (409, Some("IpAddressGenerationFailure")),
            "{v}"
        );
    }
);

on_engines!(
    lists_revisions_quotas_and_tags,
    |tc: TestCloud| async move {
        let t = tc.demo_token().await;
        for i in 0..5 {
            create(&tc, &t, "/v2.0/networks", json!({"network": {"name": format!("page-{i}"), "tags": if i % 2 == 0 { vec!["even"] } else { vec!["odd"] }}})).await;
        }
        let (_, page) = call(
            &tc,
            &t,
            Method::GET,
            "/v2.0/networks?limit=2&sort_key=name&sort_dir=asc&fields=id&fields=name",
            None,
        )
        .await;
        let names: Vec<&str> = page["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["page-0", "page-1"]);
        assert!(
            page["networks"][0].get("mtu").is_none(),
            "fields= was ignored: {page}"
        );
        let next = page["networks_links"][0]["href"].as_str().unwrap();
        let path = &next[next.find("/v2.0").unwrap()..];
        let (_, page2) = call(&tc, &t, Method::GET, path, None).await;
        assert_eq!(page2["networks"][0]["name"], "page-2", "{page2}");
        let (_, odd) = call(&tc, &t, Method::GET, "/v2.0/networks?tags=odd", None).await;
        assert_eq!(odd["networks"].as_array().unwrap().len(), 2);
        let (s, v) = call(&tc, &t, Method::GET, "/v2.0/networks?colour=red", None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        // If-Match on the revision.
        let n = create(
            &tc,
            &t,
            "/v2.0/networks",
            json!({"network": {"name": "rev"}}),
        )
        .await;
        let id = n["id"].as_str().unwrap();
        let rev = n["revision_number"].as_i64().unwrap();
        let put = |rev: i64| {
            let req = axum::http::Request::builder()
                .method(Method::PUT)
                .uri(format!("/v2.0/networks/{id}"))
                .header("x-auth-token", &t)
                .header("content-type", "application/json")
                .header("if-match", format!("revision_number={rev}"))
                .body(axum::body::Body::from(
                    json!({"network": {"name": "rev2"}}).to_string(),
                ))
                .unwrap();
            tc.send("network", req)
        };
        assert_eq!(put(rev + 5).await.status, StatusCode::PRECONDITION_FAILED);
        let ok = put(rev).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
        assert_eq!(ok.json()["network"]["revision_number"], rev + 1);
        // Tags through the tag API.
        let (s, _) = call(
            &tc,
            &t,
            Method::PUT,
            &format!("/v2.0/networks/{id}/tags/blue"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let (_, tags) = call(
            &tc,
            &t,
            Method::GET,
            &format!("/v2.0/networks/{id}/tags"),
            None,
        )
        .await;
        assert_eq!(tags["tags"], json!(["blue"]));
        // Quotas: an admin lowers the project's limit; the next create is refused.
        let admin = tc.admin_token().await;
        let (_, me) = call(&tc, &t, Method::GET, &format!("/v2.0/networks/{id}"), None).await;
        let project = me["network"]["project_id"].as_str().unwrap().to_owned();
        let used = count(&tc, &t, "networks").await;
        let (s, v) = call(
            &tc,
            &admin,
            Method::PUT,
            &format!("/v2.0/quotas/{project}"),
            Some(json!({"quota": {"network": used}})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::POST,
                "/v2.0/networks",
                Some(json!({"network": {}}))
            )
            .await,
            (409, "OverQuota".into())
        );
        let (_, d) = call(
            &tc,
            &t,
            Method::GET,
            &format!("/v2.0/quotas/{project}/details"),
            None,
        )
        .await;
        assert_eq!(
            d["quota"]["network"]["used"].as_u64(),
            Some(used as u64),
            "{d}"
        );
        // Members cannot make shared or external networks.
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::POST,
                "/v2.0/networks",
                Some(json!({"network": {"shared": true}}))
            )
            .await
            .0,
            403
        );
        // Admins see provider attributes, members do not.
        let (_, mine) = call(&tc, &t, Method::GET, &format!("/v2.0/networks/{id}"), None).await;
        assert!(mine["network"].get("provider:network_type").is_none());
        let (_, theirs) = call(
            &tc,
            &admin,
            Method::GET,
            &format!("/v2.0/networks/{id}"),
            None,
        )
        .await;
        assert_eq!(theirs["network"]["provider:network_type"], "vxlan");
        assert!(theirs["network"]["provider:segmentation_id"]
            .as_u64()
            .is_some());
    }
);

on_engines!(
    routers_floating_ips_and_port_forwardings,
    |tc: TestCloud| async move {
        let admin = tc.admin_token().await;
        let t = tc.demo_token().await;
        let public = create(
            &tc,
            &admin,
            "/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true,
        "provider:network_type": "flat", "provider:physical_network": "public"}}),
        )
        .await;
        let public_id = public["id"].as_str().unwrap().to_owned();
        create(
            &tc,
            &admin,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": public_id, "cidr": "203.0.113.0/24", "ip_version": 4}}),
        )
        .await;
        let (net, subnet) = network_with_subnet(&tc, &t, "10.20.0.0/24").await;
        // A router gatewayed to public gets an external address.
        let r = create(
            &tc,
            &t,
            "/v2.0/routers",
            json!({"router": {"name": "r1", "external_gateway_info": {"network_id": public_id}}}),
        )
        .await;
        let rid = r["id"].as_str().unwrap().to_owned();
        let gw = &r["external_gateway_info"];
        assert_eq!(gw["enable_snat"], true, "{r}");
        assert!(
            gw["external_fixed_ips"][0]["ip_address"]
                .as_str()
                .unwrap()
                .starts_with("203.0.113."),
            "{r}"
        );
        // A member may not choose SNAT off, nor a gateway on a network that is not external.
        let (s, _) = call(&tc, &t, Method::POST, "/v2.0/routers", Some(json!({"router": {"external_gateway_info": {"network_id": public_id, "enable_snat": false}}}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::POST,
                "/v2.0/routers",
                Some(json!({"router": {"external_gateway_info": {"network_id": net}}}))
            )
            .await
            .0,
            400
        );
        // An interface by subnet takes the subnet's gateway address; twice is refused.
        let add = format!("/v2.0/routers/{rid}/add_router_interface");
        let (s, i) = call(
            &tc,
            &t,
            Method::PUT,
            &add,
            Some(json!({"subnet_id": subnet})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{i}");
        let (_, ip) = call(
            &tc,
            &t,
            Method::GET,
            &format!("/v2.0/ports/{}", i["port_id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(ip["port"]["fixed_ips"][0]["ip_address"], "10.20.0.1");
        assert_eq!(ip["port"]["device_owner"], "network:router_interface");
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::PUT,
                &add,
                Some(json!({"subnet_id": subnet}))
            )
            .await
            .0,
            400
        );
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::DELETE,
                &format!("/v2.0/subnets/{subnet}"),
                None
            )
            .await,
            (409, "SubnetInUse".into())
        );
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::DELETE,
                &format!("/v2.0/ports/{}", i["port_id"].as_str().unwrap()),
                None
            )
            .await,
            (409, "ServicePortInUse".into())
        );
        // A floating IP on a port behind the router.
        let port = create(&tc, &t, "/v2.0/ports", json!({"port": {"network_id": net}})).await;
        let pid = port["id"].as_str().unwrap();
        let fip = create(
            &tc,
            &t,
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": public_id, "port_id": pid}}),
        )
        .await;
        assert_eq!(fip["router_id"], rid.as_str(), "{fip}");
        assert_eq!(fip["fixed_ip_address"], port["fixed_ips"][0]["ip_address"]);
        assert_eq!(fip["status"], "ACTIVE");
        let fid = fip["id"].as_str().unwrap().to_owned();
        // A port on a network no router joins to public cannot have one.
        let (lonely, _) = network_with_subnet(&tc, &t, "10.21.0.0/24").await;
        let lp = create(
            &tc,
            &t,
            "/v2.0/ports",
            json!({"port": {"network_id": lonely}}),
        )
        .await;
        let body = json!({"floatingip": {"floating_network_id": public_id, "port_id": lp["id"]}});
        assert_eq!(
            refused(&tc, &t, Method::POST, "/v2.0/floatingips", Some(body)).await,
            (404, "ExternalGatewayForFloatingIPNotFound".into())
        );
        // The interface and the router are in use while the floating IP needs them.
        let remove = format!("/v2.0/routers/{rid}/remove_router_interface");
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::PUT,
                &remove,
                Some(json!({"subnet_id": subnet}))
            )
            .await
            .0,
            409
        );
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::DELETE,
                &format!("/v2.0/routers/{rid}"),
                None
            )
            .await,
            (409, "RouterInUse".into())
        );
        // Port forwardings need the floating IP free of a port.
        let pf = json!({"port_forwarding": {"protocol": "tcp", "internal_port_id": pid, "internal_ip_address": port["fixed_ips"][0]["ip_address"], "internal_port": 22, "external_port": 2222}});
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::POST,
                &format!("/v2.0/floatingips/{fid}/port_forwardings"),
                Some(pf.clone())
            )
            .await
            .0,
            409
        );
        let (s, v) = call(
            &tc,
            &t,
            Method::PUT,
            &format!("/v2.0/floatingips/{fid}"),
            Some(json!({"floatingip": {"port_id": null}})),
        )
        .await;
        assert_eq!(
            (s, &v["floatingip"]["port_id"]),
            (StatusCode::OK, &Value::Null),
            "{v}"
        );
        let made = create(
            &tc,
            &t,
            &format!("/v2.0/floatingips/{fid}/port_forwardings"),
            pf.clone(),
        )
        .await;
        assert_eq!(made["external_port"], 2222);
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::POST,
                &format!("/v2.0/floatingips/{fid}/port_forwardings"),
                Some(pf)
            )
            .await,
            (409, "PortForwardingExists".into())
        );
        // A stranger sees none of it.
        let stranger = tc.new_member().await;
        for path in [
            format!("/v2.0/routers/{rid}"),
            format!("/v2.0/floatingips/{fid}"),
        ] {
            let (s, _) = call(&tc, &stranger.token, Method::GET, &path, None).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        }
        // Taking it all down leaves nothing of the router's or the floating IP's.
        let (s, _) = call(
            &tc,
            &t,
            Method::DELETE,
            &format!("/v2.0/floatingips/{fid}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = call(
            &tc,
            &t,
            Method::PUT,
            &remove,
            Some(json!({"subnet_id": subnet})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, _) = call(
            &tc,
            &t,
            Method::DELETE,
            &format!("/v2.0/routers/{rid}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (_, ports) = call(
            &tc,
            &admin,
            Method::GET,
            &format!("/v2.0/ports?network_id={public_id}"),
            None,
        )
        .await;
        let left: Vec<&Value> = ports["ports"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["device_owner"] != "network:dhcp")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
);

on_engines!(qos_policies_and_rbac_sharing, |tc: TestCloud| async move {
    let admin = tc.admin_token().await;
    let t = tc.demo_token().await;
    // QoS: the admin makes a shared policy; members put it on their ports.
    let (s, _) = call(
        &tc,
        &t,
        Method::POST,
        "/v2.0/qos/policies",
        Some(json!({"policy": {"name": "mine"}})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "members cannot make QoS policies");
    let pol = create(
        &tc,
        &admin,
        "/v2.0/qos/policies",
        json!({"policy": {"name": "slow", "shared": true}}),
    )
    .await;
    let pid = pol["id"].as_str().unwrap().to_owned();
    let rule = create(
        &tc,
        &admin,
        &format!("/v2.0/qos/policies/{pid}/bandwidth_limit_rules"),
        json!({"bandwidth_limit_rule": {"max_kbps": 8000, "max_burst_kbps": 800}}),
    )
    .await;
    assert_eq!(
        (rule["direction"].as_str(), rule["max_kbps"].as_u64()),
        (Some("egress"), Some(8000))
    );
    let dup = json!({"bandwidth_limit_rule": {"max_kbps": 1}});
    assert_eq!(
        refused(
            &tc,
            &admin,
            Method::POST,
            &format!("/v2.0/qos/policies/{pid}/bandwidth_limit_rules"),
            Some(dup)
        )
        .await
        .0,
        409
    );
    let (net, _) = network_with_subnet(&tc, &t, "10.30.0.0/24").await;
    let port = create(
        &tc,
        &t,
        "/v2.0/ports",
        json!({"port": {"network_id": net, "qos_policy_id": pid}}),
    )
    .await;
    assert_eq!(port["qos_policy_id"], pid.as_str());
    let (s, v) = call(
        &tc,
        &t,
        Method::PUT,
        &format!("/v2.0/networks/{net}"),
        Some(json!({"network": {"qos_policy_id": pid}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, shown) = call(
        &tc,
        &t,
        Method::GET,
        &format!("/v2.0/ports/{}", port["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(shown["port"]["qos_network_policy_id"], pid.as_str());
    assert_eq!(
        refused(
            &tc,
            &admin,
            Method::DELETE,
            &format!("/v2.0/qos/policies/{pid}"),
            None
        )
        .await,
        (409, "QosPolicyInUse".into())
    );
    // RBAC: the owner shares its network with one other project, which then sees it as
    // shared and may put a port on it; a third project sees nothing.
    let friend = tc.new_member().await;
    let stranger = tc.new_member().await;
    let (s, _) = call(
        &tc,
        &friend.token,
        Method::GET,
        &format!("/v2.0/networks/{net}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let grant = create(
        &tc,
        &t,
        "/v2.0/rbac-policies",
        json!({"rbac_policy": {"object_type": "network", "object_id": net,
        "action": "access_as_shared", "target_tenant": friend.project_id}}),
    )
    .await;
    let (s, v) = call(
        &tc,
        &friend.token,
        Method::GET,
        &format!("/v2.0/networks/{net}"),
        None,
    )
    .await;
    assert_eq!(
        (s, &v["network"]["shared"]),
        (StatusCode::OK, &json!(true)),
        "{v}"
    );
    let theirs = create(
        &tc,
        &friend.token,
        "/v2.0/ports",
        json!({"port": {"network_id": net}}),
    )
    .await;
    let (s, _) = call(
        &tc,
        &stranger.token,
        Method::GET,
        &format!("/v2.0/networks/{net}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A member may not share with everyone; the grant in use cannot be withdrawn.
    let all = json!({"rbac_policy": {"object_type": "network", "object_id": net, "action": "access_as_shared", "target_tenant": "*"}});
    assert_eq!(
        call(&tc, &t, Method::POST, "/v2.0/rbac-policies", Some(all))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let gid = grant["id"].as_str().unwrap();
    assert_eq!(
        refused(
            &tc,
            &t,
            Method::DELETE,
            &format!("/v2.0/rbac-policies/{gid}"),
            None
        )
        .await,
        (409, "RbacPolicyInUse".into())
    );
    let (s, _) = call(
        &tc,
        &friend.token,
        Method::DELETE,
        &format!("/v2.0/ports/{}", theirs["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &tc,
        &t,
        Method::DELETE,
        &format!("/v2.0/rbac-policies/{gid}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &tc,
        &friend.token,
        Method::GET,
        &format!("/v2.0/networks/{net}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
});

on_engines!(
    subnet_pools_and_address_scopes,
    |tc: TestCloud| async move {
        let t = tc.demo_token().await;
        let scope = create(
            &tc,
            &t,
            "/v2.0/address-scopes",
            json!({"address_scope": {"name": "s", "ip_version": 4}}),
        )
        .await;
        let bad =
            json!({"subnetpool": {"prefixes": ["2001:db8::/48"], "address_scope_id": scope["id"]}});
        assert_eq!(
            refused(&tc, &t, Method::POST, "/v2.0/subnetpools", Some(bad))
                .await
                .0,
            400,
            "a v6 pool in a v4 scope"
        );
        let pool = create(
            &tc,
            &t,
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "p", "prefixes": ["10.40.0.0/22"],
        "default_prefixlen": 24, "address_scope_id": scope["id"]}}),
        )
        .await;
        let pid = pool["id"].as_str().unwrap().to_owned();
        let net = create(
            &tc,
            &t,
            "/v2.0/networks",
            json!({"network": {"name": "pooled"}}),
        )
        .await;
        let nid = net["id"].as_str().unwrap().to_owned();
        // Carved by the default length, by an explicit one, and by a CIDR inside the pool.
        let sub = |extra: Value| {
            let mut b = json!({"network_id": nid, "ip_version": 4, "subnetpool_id": pid});
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({"subnet": b})
        };
        let a = create(&tc, &t, "/v2.0/subnets", sub(json!({}))).await;
        assert_eq!(a["cidr"], "10.40.0.0/24");
        assert_eq!(a["subnetpool_id"], pid.as_str());
        let b = create(&tc, &t, "/v2.0/subnets", sub(json!({"prefixlen": 25}))).await;
        assert_eq!(b["cidr"], "10.40.1.0/25");
        let c = create(
            &tc,
            &t,
            "/v2.0/subnets",
            sub(json!({"cidr": "10.40.2.0/24"})),
        )
        .await;
        assert_eq!(c["cidr"], "10.40.2.0/24");
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::POST,
                "/v2.0/subnets",
                Some(sub(json!({"cidr": "10.50.0.0/24"})))
            )
            .await
            .0,
            400
        );
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::POST,
                "/v2.0/subnets",
                Some(sub(json!({"prefixlen": 23})))
            )
            .await
            .0,
            409,
            "no /23 left"
        );
        // In use: neither the pool nor the scope goes.
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::DELETE,
                &format!("/v2.0/subnetpools/{pid}"),
                None
            )
            .await,
            (409, "SubnetPoolInUse".into())
        );
        let sid = scope["id"].as_str().unwrap();
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::DELETE,
                &format!("/v2.0/address-scopes/{sid}"),
                None
            )
            .await,
            (409, "AddressScopeInUse".into())
        );
        // Prefixes only grow.
        let shrink = json!({"subnetpool": {"prefixes": ["10.40.0.0/23"]}});
        assert_eq!(
            refused(
                &tc,
                &t,
                Method::PUT,
                &format!("/v2.0/subnetpools/{pid}"),
                Some(shrink)
            )
            .await
            .0,
            400
        );
        let (s, v) = call(
            &tc,
            &t,
            Method::PUT,
            &format!("/v2.0/subnetpools/{pid}"),
            Some(json!({"subnetpool": {"prefixes": ["10.40.0.0/22", "10.41.0.0/24"]}})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Concurrent carvers never get the same prefix.
        let carvers = (0..4).map(|_| {
            let (tc, t, body) = (&tc, &t, sub(json!({"prefixlen": 28})));
            async move { call(tc, t, Method::POST, "/v2.0/subnets", Some(body)).await }
        });
        let made: Vec<String> = futures::future::join_all(carvers)
            .await
            .into_iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .map(|(_, v)| v["subnet"]["cidr"].as_str().unwrap().to_owned())
            .collect();
        assert!(!made.is_empty());
        assert_eq!(
            made.iter().collect::<HashSet<_>>().len(),
            made.len(),
            "{made:?}"
        );
    }
);

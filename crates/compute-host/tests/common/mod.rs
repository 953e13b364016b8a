//! A cloud in-process with one compute host on the fake driver, and what the flow
//! tests ask of it.

#![allow(dead_code)]

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use compute_host::{Config, DriverName, Manager, Services};
use hypervisor::fake::Fake;
use serde_json::{json, Value};
use service::Mode;
use test_support::{unique, TestCloud};

pub struct Flow {
    pub tc: TestCloud,
    pub admin: String,
    pub host: String,
    pub fake: Fake,
    /// Every host (the first is `host`) and its driver.
    pub hosts: Vec<(String, Fake)>,
    /// A public raw image with data.
    pub image: String,
    /// 1 vCPU, 64 MiB, 1 GiB.
    pub flavor: String,
}

/// A fake host's resources: vCPUs, MiB of memory, GiB of disk.
pub type HostSize = (u32, u64, u64);

impl Flow {
    pub async fn start() -> Flow {
        // big enough for every run of the saga harness, which leaves its servers
        Flow::start_with(&[(64, 65536, 1000)]).await
    }

    /// A cloud with one fake compute host of each size (`self.host` and `self.fake` are
    /// the first one's; `self.hosts` all of them), every one reported before this
    /// returns.
    pub async fn start_with(sizes: &[HostSize]) -> Flow {
        let tc = TestCloud::start().await;
        let admin = tc.admin_token().await;
        let mut hosts = Vec::new();
        for size in sizes {
            let host = unique("fakehost");
            let fake = start_host(&tc, &host, *size).await;
            hosts.push((host, fake));
        }
        let (host, fake) = hosts.first().cloned().expect("at least one host");
        let mut f = Flow {
            tc,
            admin,
            host,
            fake,
            hosts,
            image: String::new(),
            flavor: String::new(),
        };
        f.flavor = f.flavor_of(1, 64, 1).await;
        f.image = f
            .upload_image(b"not really a disk, but raw bytes".to_vec())
            .await;
        let names: Vec<String> = f.hosts.iter().map(|(h, _)| h.clone()).collect();
        for h in &names {
            f.wait_for_host(h).await;
        }
        f.unlimited_demo().await;
        f
    }

    /// One more fake compute host, of the default size, reported to the scheduler: its
    /// name and driver.
    pub async fn add_host(&self) -> (String, Fake) {
        self.add_host_with(|_| {}).await
    }

    /// [`Flow::add_host`] with its configuration changed by `tweak`.
    pub async fn add_host_with(&self, tweak: impl FnOnce(&mut Config)) -> (String, Fake) {
        let host = unique("fakehost");
        let fake = start_host_with(&self.tc, &host, (64, 65536, 1000), tweak).await;
        self.wait_for_host(&host).await;
        (host, fake)
    }

    pub async fn flavor_of(&self, vcpus: u32, ram: u64, disk: u64) -> String {
        let r = self
            .tc
            .call(
                "compute_api",
                Method::POST,
                "/v2.1/flavors",
                Some(&self.admin),
                Some(json!({"flavor": {"name": unique("flavor"), "vcpus": vcpus, "ram": ram, "disk": disk}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["flavor"]["id"].as_str().unwrap().to_owned()
    }

    async fn new_image(&self, token: &str, visibility: &str) -> String {
        let r = self
            .tc
            .call(
                "image",
                Method::POST,
                "/v2/images",
                Some(token),
                Some(json!({"name": unique("img"), "disk_format": "raw", "container_format": "bare", "visibility": visibility})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    pub async fn upload_image(&self, data: Vec<u8>) -> String {
        let id = self.new_image(&self.admin, "public").await;
        let req = Request::builder()
            .method(Method::PUT)
            .uri(format!("/v2/images/{id}/file"))
            .header("x-auth-token", &self.admin)
            .header("content-type", "application/octet-stream")
            .body(Body::from(data))
            .unwrap();
        let r = self.tc.send("image", req).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        id
    }

    /// An image of the project without data (queued).
    pub async fn empty_image(&self, token: &str) -> String {
        self.new_image(token, "private").await
    }

    /// A network with a subnet of `cidr`, of the token's project: (network, subnet).
    pub async fn network(&self, token: &str, name: &str, cidr: &str) -> (String, String) {
        let r = self
            .tc
            .call(
                "network",
                Method::POST,
                "/v2.0/networks",
                Some(token),
                Some(json!({"network": {"name": name}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let net = r.json()["network"]["id"].as_str().unwrap().to_owned();
        let r = self
            .tc
            .call(
                "network",
                Method::POST,
                "/v2.0/subnets",
                Some(token),
                Some(json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let subnet = r.json()["subnet"]["id"].as_str().unwrap().to_owned();
        (net, subnet)
    }

    /// Wait until the scheduler can see `host` (its report reached the conductor and
    /// placement).
    async fn wait_for_host(&self, host: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r = self
                .tc
                .call(
                    "compute_api",
                    Method::GET,
                    "/v2.1/os-hypervisors/detail",
                    Some(&self.admin),
                    None,
                )
                .await;
            let up = r.status == StatusCode::OK
                && r.json()["hypervisors"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|h| h["hypervisor_hostname"] == host));
            let rp = self
                .placement(&format!("/resource_providers?name={host}"))
                .await;
            let placed = rp["resource_providers"]
                .as_array()
                .is_some_and(|l| !l.is_empty());
            if up && placed {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the host never reported: {}",
                r.text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Lift the compute quotas of the demo project (the tests boot more, and bigger,
    /// servers than its defaults allow).
    pub async fn unlimited_demo(&self) {
        let r = self
            .tc
            .call(
                "identity",
                Method::GET,
                "/v3/projects?name=demo",
                Some(&self.admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let project = r.json()["projects"][0]["id"].as_str().unwrap().to_owned();
        let r = self
            .tc
            .call(
                "compute_api",
                Method::PUT,
                &format!("/v2.1/os-quota-sets/{project}"),
                Some(&self.admin),
                Some(json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }

    pub async fn placement(&self, path: &str) -> Value {
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("x-auth-token", &self.admin)
            .header("openstack-api-version", "placement 1.36")
            .body(Body::empty())
            .unwrap();
        let r = self.tc.send("placement", req).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        r.json()
    }

    /// The resources allocated to `consumer`, over every provider.
    pub async fn allocations(&self, consumer: &str) -> Value {
        let a = self.placement(&format!("/allocations/{consumer}")).await;
        let mut total = serde_json::Map::new();
        for (_, rp) in a["allocations"].as_object().cloned().unwrap_or_default() {
            for (k, v) in rp["resources"].as_object().cloned().unwrap_or_default() {
                let n =
                    total.get(&k).and_then(Value::as_u64).unwrap_or(0) + v.as_u64().unwrap_or(0);
                total.insert(k, json!(n));
            }
        }
        Value::Object(total)
    }

    pub async fn ports_of(&self, server: &str) -> Vec<Value> {
        let r = self
            .tc
            .call(
                "network",
                Method::GET,
                &format!("/v2.0/ports?device_id={server}"),
                Some(&self.admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["ports"].as_array().cloned().unwrap_or_default()
    }

    pub async fn create_server(
        &self,
        token: &str,
        name: &str,
        image: &str,
        flavor: &str,
        networks: Value,
    ) -> String {
        let body = json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": networks}});
        self.post_server(token, body).await["server"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `POST /servers` of `body` at 2.37 (where `networks` may be "none" or "auto"),
    /// accepted: the answer.
    pub async fn post_server(&self, token: &str, body: Value) -> Value {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v2.1/servers")
            .header("x-auth-token", token)
            .header("content-type", "application/json")
            .header("openstack-api-version", "compute 2.37")
            .body(Body::from(body.to_string()))
            .unwrap();
        let r = self.tc.send("compute_api", req).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        r.json()
    }

    /// A server group of `policy`: its id.
    pub async fn server_group(&self, token: &str, name: &str, policy: &str) -> String {
        let r = self
            .tc
            .call(
                "compute_api",
                Method::POST,
                "/v2.1/os-server-groups",
                Some(token),
                Some(json!({"server_group": {"name": name, "policies": [policy]}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["server_group"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn server(&self, token: &str, id: &str) -> Value {
        let r = self
            .tc
            .call(
                "compute_api",
                Method::GET,
                &format!("/v2.1/servers/{id}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["server"].clone()
    }

    pub async fn wait_status(&self, token: &str, id: &str, status: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.server(token, id).await;
            if s["status"] == status {
                return s;
            }
            assert!(
                s["status"] != "ERROR" || status == "ERROR",
                "server {id} went to ERROR: {s}"
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "server {id} never {status}: {s}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_gone(&self, token: &str, id: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = self
                .tc
                .call(
                    "compute_api",
                    Method::GET,
                    &format!("/v2.1/servers/{id}"),
                    Some(token),
                    None,
                )
                .await;
            if r.status == StatusCode::NOT_FOUND {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server {id} never went: {}",
                r.text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// No guest, port or allocation of the server is left.
    pub async fn assert_nothing_left(&self, id: &str) {
        assert!(self.fake.spec(id).is_none(), "a guest of {id} is left");
        assert!(self.ports_of(id).await.is_empty(), "ports of {id} are left");
        assert_eq!(
            self.allocations(id).await,
            json!({}),
            "an allocation of {id} is left"
        );
    }
}

/// A fake compute host `host` of `size` in the cloud, started.
async fn start_host(tc: &TestCloud, host: &str, size: HostSize) -> Fake {
    start_host_with(tc, host, size, |_| {}).await
}

async fn start_host_with(
    tc: &TestCloud,
    host: &str,
    (vcpus, memory_mb, disk_gb): HostSize,
    tweak: impl FnOnce(&mut Config),
) -> Fake {
    let fake = Fake::new(vcpus, memory_mb, disk_gb);
    let ctx = tc.cloud.agent_context(&tc.cfg, Mode::AllInOne);
    let mut cfg = Config {
        host: Some(host.to_owned()),
        driver: DriverName::Fake,
        report_interval: 1,
        sync_interval: 1,
        ..Config::default()
    };
    tweak(&mut cfg);
    let m = Manager::new(
        cfg,
        host.to_owned(),
        tc.data_dir().join("instances").join(host),
        Arc::new(fake.clone()),
        ctx.bus.clone(),
        Services::new(&ctx.service_token, &ctx.endpoints),
    );
    m.start(&ctx.tasks).await.expect("the compute host starts");
    fake
}

//! The conductor's sagas under `saga::testing::check`: every action twice, a failure at
//! every step, a crash at every step and in every undo, against the whole cloud with a
//! fake compute host. The API's own conductor is set aside (servers are recorded in
//! BUILD and left there) so the harness alone runs the sagas.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::Method;
use common::Flow;
use compute::{
    app::{InterfaceRequest, Lifecycle, ServerAction},
    conductor::Conductor,
    sagas::{self, ServerParams},
    Compute,
};
use saga::{testing::Scenario, Saga};
use serde_json::{json, Value};
use types::{PortId, Result, ServerId};

/// A lifecycle that leaves everything to the test.
struct Idle;

#[async_trait]
impl Lifecycle for Idle {
    async fn build(&self, _: Vec<ServerId>) -> Result<()> {
        Ok(())
    }
    async fn delete(&self, _: ServerId) -> Result<()> {
        Ok(())
    }
    async fn act(&self, _: ServerId, _: ServerAction) -> Result<()> {
        Ok(())
    }
    async fn console_output(&self, _: ServerId, _: Option<u32>) -> Result<String> {
        Ok(String::new())
    }
    async fn remote_console(&self, _: ServerId, _: &str, _: &str) -> Result<String> {
        Ok(String::new())
    }
    async fn attach_interface(&self, _: ServerId, r: InterfaceRequest) -> Result<PortId> {
        match r {
            InterfaceRequest::Port(p) => Ok(p),
            InterfaceRequest::Network { .. } => Err(types::Error::bad_request("no")),
        }
    }
    async fn detach_interface(&self, _: ServerId, _: PortId) -> Result<()> {
        Ok(())
    }
}

struct World {
    f: Flow,
    conductor: Arc<Conductor>,
    demo: String,
    net: String,
}

impl World {
    async fn new() -> World {
        let f = Flow::start().await;
        let compute =
            f.tc.cloud
                .handle::<Compute>("compute_api")
                .expect("compute runs");
        compute.set_lifecycle(Arc::new(Idle));
        let ctx = f.tc.cloud.agent_context(&f.tc.cfg, service::Mode::AllInOne);
        let conductor = Conductor::new(
            compute,
            ctx.bus.clone(),
            &ctx.service_token,
            &ctx.endpoints,
            f.tc.db.clone(),
            "saga-test",
        );
        let demo = f.tc.demo_token().await;
        let (net, _) = f.network(&demo, "saga-net", "10.30.0.0/24").await;
        World {
            f,
            conductor,
            demo,
            net,
        }
    }

    async fn new_server(&self) -> String {
        self.f
            .create_server(
                &self.demo,
                "saga",
                &self.f.image,
                &self.f.flavor,
                json!([{"uuid": self.net}]),
            )
            .await
    }

    /// A server the create saga booted (run here, to its end).
    async fn booted(&self) -> String {
        let id = self.new_server().await;
        let exec = saga::Executor::new(
            self.f.tc.db.clone(),
            saga::ExecutorConfig::new("saga-test-boot", "t"),
            vec![sagas::create::saga()],
        );
        let sid = exec
            .create(
                sagas::create::NAME,
                &ServerParams {
                    server_id: id.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            exec.execute(&self.conductor, &sid).await,
            saga::Outcome::Done
        );
        id
    }

    async fn status(&self, id: &str) -> Value {
        let r = self
            .f
            .tc
            .call(
                "compute_api",
                Method::GET,
                &format!("/v2.1/servers/{id}?all_tenants=1"),
                Some(&self.f.admin),
                None,
            )
            .await;
        if r.status == axum::http::StatusCode::NOT_FOUND {
            return json!({"status": "DELETED"});
        }
        r.json()["server"].clone()
    }

    async fn assert_active(&self, id: &str) {
        let s = self.status(id).await;
        assert_eq!(s["status"], "ACTIVE", "{s}");
        assert!(self.f.fake.spec(id).is_some(), "no guest for {id}");
        assert_eq!(
            self.f.allocations(id).await,
            json!({"VCPU": 1, "MEMORY_MB": 64, "DISK_GB": 1})
        );
        assert_eq!(self.f.ports_of(id).await.len(), 1);
    }
}

fn sid(params: &Value) -> String {
    params["server_id"].as_str().unwrap().to_owned()
}

struct Create(World);

#[async_trait]
impl Scenario for Create {
    type Ctx = Arc<Conductor>;
    fn saga(&self) -> Saga<Arc<Conductor>> {
        sagas::create::saga()
    }
    fn ctx(&self) -> Arc<Conductor> {
        self.0.conductor.clone()
    }
    async fn setup(&self) -> Value {
        json!({"server_id": self.0.new_server().await})
    }
    async fn check_done(&self, params: &Value) {
        self.0.assert_active(&sid(params)).await;
    }
    async fn check_undone(&self, params: &Value) {
        let id = sid(params);
        let s = self.0.status(&id).await;
        assert_eq!(s["status"], "ERROR", "{s}");
        assert!(s["fault"]["message"].is_string(), "{s}");
        self.0.f.assert_nothing_left(&id).await;
    }
}

struct Delete(World);

#[async_trait]
impl Scenario for Delete {
    type Ctx = Arc<Conductor>;
    fn saga(&self) -> Saga<Arc<Conductor>> {
        sagas::delete::saga()
    }
    fn ctx(&self) -> Arc<Conductor> {
        self.0.conductor.clone()
    }
    async fn setup(&self) -> Value {
        json!({"server_id": self.0.booted().await})
    }
    async fn check_done(&self, params: &Value) {
        let id = sid(params);
        assert_eq!(self.0.status(&id).await["status"], "DELETED");
        self.0.f.assert_nothing_left(&id).await;
    }
    async fn check_undone(&self, params: &Value) {
        // a delete only removes: unwound, the server is in ERROR (delete it again) or
        // already gone
        let id = sid(params);
        let s = self.0.status(&id).await;
        assert!(
            matches!(s["status"].as_str(), Some("ERROR" | "DELETED")),
            "{s}"
        );
    }
}

struct Resize(World, String);

#[async_trait]
impl Scenario for Resize {
    type Ctx = Arc<Conductor>;
    fn saga(&self) -> Saga<Arc<Conductor>> {
        sagas::resize::saga()
    }
    fn ctx(&self) -> Arc<Conductor> {
        self.0.conductor.clone()
    }
    async fn setup(&self) -> Value {
        json!({"server_id": self.0.booted().await, "flavor_id": self.1})
    }
    async fn check_done(&self, params: &Value) {
        let id = sid(params);
        let s = self.0.status(&id).await;
        assert_eq!(s["status"], "VERIFY_RESIZE", "{s}");
        assert_eq!(
            self.0.f.allocations(&id).await,
            json!({"VCPU": 2, "MEMORY_MB": 128, "DISK_GB": 2})
        );
        let migration = sagas::resize::migration_id(&id);
        assert_eq!(
            self.0.f.allocations(&migration).await,
            json!({"VCPU": 1, "MEMORY_MB": 64, "DISK_GB": 1})
        );
        assert_eq!(self.0.f.fake.spec(&id).unwrap().memory_mb, 128);
    }
    async fn check_undone(&self, params: &Value) {
        let id = sid(params);
        self.0.assert_active(&id).await;
        let migration = sagas::resize::migration_id(&id);
        assert_eq!(self.0.f.allocations(&migration).await, json!({}));
        assert_eq!(self.0.f.fake.spec(&id).unwrap().memory_mb, 64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_create_saga_passes_the_harness() {
    let w = World::new().await;
    let db = w.f.tc.db.clone();
    let report = saga::testing::check(&db, &Create(w)).await;
    assert!(report.runs > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delete_saga_passes_the_harness() {
    let w = World::new().await;
    let db = w.f.tc.db.clone();
    saga::testing::check(&db, &Delete(w)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resize_saga_passes_the_harness() {
    let w = World::new().await;
    let bigger = w.f.flavor_of(2, 128, 2).await;
    let db = w.f.tc.db.clone();
    saga::testing::check(&db, &Resize(w, bigger)).await;
}

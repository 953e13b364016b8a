//! The saga executor and its harness over real databases (SQLite, and PostgreSQL when
//! the test command provides one).

use std::{sync::Arc, time::Duration};

use api_common::{Error, ErrorKind, Result};
use async_trait::async_trait;
use saga::{testing, Cx, Executor, ExecutorConfig, Outcome, Saga, Step};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The toy world: rows in a table of the test database.
#[derive(Clone)]
struct World {
    db: db::Db,
    /// Makes the `slow` step wait, so a test can hold a saga mid-step.
    slow: Arc<tokio::sync::Semaphore>,
}

#[derive(Serialize, Deserialize)]
struct Params {
    id: String,
}

#[derive(Serialize, Deserialize)]
struct Reserved {
    a: String,
}

impl World {
    async fn new(db: db::Db) -> World {
        db.migrate(saga::SERVICE, saga::MIGRATIONS).await.unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS toy (id TEXT PRIMARY KEY, state TEXT NOT NULL)")
            .execute(&db.pool)
            .await
            .unwrap();
        World {
            db,
            slow: Arc::new(tokio::sync::Semaphore::new(1000)),
        }
    }

    async fn row(&self, id: &str) -> Option<String> {
        sqlx::query_scalar::<_, String>("SELECT state FROM toy WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await
            .unwrap()
    }
}

async fn upsert(w: &World, id: &str, state: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO toy (id, state) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET state = excluded.state",
    )
    .bind(id)
    .bind(state)
    .execute(&w.db.pool)
    .await?;
    Ok(())
}

async fn remove(w: &World, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM toy WHERE id = $1")
        .bind(id)
        .execute(&w.db.pool)
        .await?;
    Ok(())
}

async fn reserve(cx: Cx<World>) -> Result<Reserved> {
    let p: Params = cx.params()?;
    let a = format!("{}-a", p.id);
    upsert(cx.ctx(), &a, "reserved").await?;
    Ok(Reserved { a })
}

async fn unreserve(cx: Cx<World>) -> Result<()> {
    let p: Params = cx.params()?;
    remove(cx.ctx(), &format!("{}-a", p.id)).await
}

async fn attach(cx: Cx<World>) -> Result<String> {
    let r: Reserved = cx
        .output("reserve")?
        .ok_or_else(|| Error::internal("reserve has no output"))?;
    let b = format!("{}-b", r.a);
    upsert(cx.ctx(), &b, "attached").await?;
    Ok(b)
}

async fn detach(cx: Cx<World>) -> Result<()> {
    let p: Params = cx.params()?;
    remove(cx.ctx(), &format!("{}-a-b", p.id)).await
}

async fn slow(cx: Cx<World>) -> Result<()> {
    let _permit = cx.ctx().slow.acquire().await.map_err(Error::internal)?;
    Ok(())
}

async fn nothing(_: Cx<World>) -> Result<()> {
    Ok(())
}

async fn activate(cx: Cx<World>) -> Result<()> {
    let p: Params = cx.params()?;
    let n = sqlx::query("UPDATE toy SET state = 'active' WHERE id = $1")
        .bind(format!("{}-a", p.id))
        .execute(&cx.ctx().db.pool)
        .await?
        .rows_affected();
    if n == 1 {
        Ok(())
    } else {
        Err(Error::conflict("nothing to activate"))
    }
}

async fn deactivate(cx: Cx<World>) -> Result<()> {
    let p: Params = cx.params()?;
    sqlx::query("UPDATE toy SET state = 'reserved' WHERE id = $1 AND state = 'active'")
        .bind(format!("{}-a", p.id))
        .execute(&cx.ctx().db.pool)
        .await?;
    Ok(())
}

fn toy() -> Saga<World> {
    Saga {
        name: "toy",
        steps: vec![
            Step::new("reserve", reserve, unreserve),
            Step::new("attach", attach, detach),
            Step::new("slow", slow, nothing),
            Step::new("activate", activate, deactivate),
        ],
    }
}

/// A saga whose first step refuses.
fn gated() -> Saga<World> {
    async fn refuse(_: Cx<World>) -> Result<()> {
        Err(Error::conflict("not now"))
    }
    Saga {
        name: "gated",
        steps: vec![
            Step::new("gate", refuse, nothing),
            Step::new("reserve", reserve, unreserve),
        ],
    }
}

struct Toy(World);

#[async_trait]
impl testing::Scenario for Toy {
    type Ctx = World;
    fn saga(&self) -> Saga<World> {
        toy()
    }
    fn ctx(&self) -> World {
        self.0.clone()
    }
    async fn setup(&self) -> Value {
        json!({"id": uuid::Uuid::new_v4().to_string()})
    }
    async fn check_done(&self, p: &Value) {
        let id = p["id"].as_str().unwrap();
        assert_eq!(
            self.0.row(&format!("{id}-a")).await.as_deref(),
            Some("active")
        );
        assert_eq!(
            self.0.row(&format!("{id}-a-b")).await.as_deref(),
            Some("attached")
        );
    }
    async fn check_undone(&self, p: &Value) {
        let id = p["id"].as_str().unwrap();
        assert_eq!(self.0.row(&format!("{id}-a")).await, None);
        assert_eq!(self.0.row(&format!("{id}-a-b")).await, None);
    }
}

#[tokio::test]
async fn harness_checks_the_toy_saga() {
    for db in db::testing::engines().await {
        let engine = db.engine;
        let world = World::new(db.clone()).await;
        let report = testing::check(&db, &Toy(world)).await;
        // 1 + 2 failures, 2 crashes and 1 crash-in-undo per step
        assert_eq!(report.runs, 1 + 5 * 4, "{engine:?}");
    }
}

/// A harness must catch a saga that is not idempotent or leaves things behind.
#[tokio::test]
#[should_panic(expected = "attach row left behind")]
async fn harness_catches_a_leaky_undo() {
    struct Leaky(World);
    #[async_trait]
    impl testing::Scenario for Leaky {
        type Ctx = World;
        fn saga(&self) -> Saga<World> {
            let mut s = toy();
            // an undo that forgets its row
            s.steps[1] = Step::new("attach", attach, nothing);
            s
        }
        fn ctx(&self) -> World {
            self.0.clone()
        }
        async fn setup(&self) -> Value {
            Toy(self.0.clone()).setup().await
        }
        async fn check_done(&self, p: &Value) {
            Toy(self.0.clone()).check_done(p).await
        }
        async fn check_undone(&self, p: &Value) {
            let id = p["id"].as_str().unwrap();
            assert!(
                self.0.row(&format!("{id}-a-b")).await.is_none(),
                "attach row left behind"
            );
        }
    }
    let db = db::testing::sqlite().await;
    let world = World::new(db.clone()).await;
    testing::check(&db, &Leaky(world)).await;
}

fn config(service: &str, owner: &str, lease_ms: u64) -> ExecutorConfig {
    let mut c = ExecutorConfig::new(service, owner);
    c.lease = Duration::from_millis(lease_ms);
    c.scan_every = Duration::from_millis(100);
    c
}

async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Two processes over one database: while one holds a saga, the other cannot run it;
/// when the first dies, the second takes it over once the lease has run out.
#[tokio::test]
async fn a_claimed_saga_runs_in_one_process_only() {
    for db in db::testing::engines().await {
        let world = World::new(db.clone()).await;
        let service = format!("svc-{}", uuid::Uuid::new_v4().simple());
        let a = Executor::new(db.clone(), config(&service, "a", 600), vec![toy()]);
        let b = Executor::new(db.clone(), config(&service, "b", 600), vec![toy()]);
        let hold = world.slow.acquire_many(1000).await.unwrap();
        let id = a.create("toy", &json!({"id": "x"})).await.unwrap();
        let task = {
            let (a, w, id) = (a.clone(), world.clone(), id.clone());
            tokio::spawn(async move { a.execute(&w, &id).await })
        };
        wait_for("a to reach the slow step", || async {
            world.row("x-a-b").await.is_some()
        })
        .await;
        // a renews its lease while it waits: b cannot take the saga, however long
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(matches!(
            b.execute(&world, &id).await,
            Outcome::Interrupted { .. }
        ));
        assert!(b.recover(&world).await.unwrap().is_empty());
        // a dies
        task.abort();
        let _ = task.await;
        drop(hold);
        wait_for("b to take over", || async {
            !b.recover(&world).await.unwrap().is_empty()
        })
        .await;
        assert_eq!(world.row("x-a").await.as_deref(), Some("active"));
        assert!(b.unfinished().await.unwrap().is_empty());
    }
}

/// Many claims at once on an unowned saga: exactly one wins.
#[tokio::test]
async fn claims_are_compare_and_set() {
    for db in db::testing::engines().await {
        let world = World::new(db.clone()).await;
        let service = format!("svc-{}", uuid::Uuid::new_v4().simple());
        let hold = world.slow.acquire_many(1000).await.unwrap();
        let execs: Vec<_> = (0..6)
            .map(|i| {
                Executor::new(
                    db.clone(),
                    config(&service, &format!("p{i}"), 5000),
                    vec![toy()],
                )
            })
            .collect();
        // recorded by a process that died at once, and released (as at shutdown)
        let id = execs[0].create("toy", &json!({"id": "y"})).await.unwrap();
        sqlx::query("UPDATE sagas SET owner = NULL, lease_until = 0 WHERE id = $1")
            .bind(&id)
            .execute(&db.pool)
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for e in &execs[1..] {
            let (e, w, id) = (e.clone(), world.clone(), id.clone());
            tasks.spawn(async move { e.execute(&w, &id).await });
        }
        // let every contender try while the winner waits in the slow step
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(hold);
        let mut done = 0;
        while let Some(r) = tasks.join_next().await {
            if r.unwrap() == Outcome::Done {
                done += 1;
            }
        }
        assert_eq!(done, 1, "{:?}", db.engine);
        let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM sagas WHERE id = $1")
            .bind(&id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(attempts, 2, "one creation, one claim");
    }
}

/// `start` runs the first step in the caller's task and reports its refusal; the
/// background task finishes the rest, resumes what a previous process left, and stops
/// on shutdown, releasing its claims.
#[tokio::test]
async fn start_then_background_then_shutdown() {
    for db in db::testing::engines().await {
        let world = World::new(db.clone()).await;
        let service = format!("svc-{}", uuid::Uuid::new_v4().simple());
        let exec = Executor::new(
            db.clone(),
            config(&service, "up", 5000),
            vec![toy(), gated()],
        );

        let e = exec
            .start(&world, "gated", &json!({"id": "g"}))
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Conflict, "not now")
        );
        assert_eq!(world.row("g-a").await, None);

        // left by a previous run of this process (same owner), mid-way
        let left = exec.create("toy", &json!({"id": "old"})).await.unwrap();

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runner = tokio::spawn(exec.clone().run(world.clone(), async move {
            let _ = stopped.await;
        }));
        exec.start(&world, "toy", &json!({"id": "new"}))
            .await
            .unwrap();
        assert_eq!(world.row("new-a").await.as_deref(), Some("reserved"));
        wait_for("the background task to finish both", || async {
            world.row("new-a").await.as_deref() == Some("active")
                && world.row("old-a").await.as_deref() == Some("active")
        })
        .await;
        assert!(exec.unfinished().await.unwrap().is_empty());

        // a saga in flight at shutdown stays unfinished, unclaimed
        let hold = world.slow.acquire_many(1000).await.unwrap();
        let id = exec
            .start(&world, "toy", &json!({"id": "cut"}))
            .await
            .unwrap();
        let slow_started = Some(("slow".to_owned(), "started".to_owned()));
        wait_for("the slow step", || async {
            exec.unfinished()
                .await
                .unwrap()
                .first()
                .map(|s| s.step.clone())
                == Some(slow_started.clone())
        })
        .await;
        stop.send(()).unwrap();
        runner.await.unwrap();
        drop(hold);
        let open = exec.unfinished().await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].id, id);
        assert_eq!(open[0].step, slow_started);
        let owner: Option<String> = sqlx::query_scalar("SELECT owner FROM sagas WHERE id = $1")
            .bind(&id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(owner, None);
        let _ = left;
    }
}

/// An undo that fails leaves the saga unwinding; it is retried (here by the next
/// recovery) until it succeeds, and the saga then ends unwound.
#[tokio::test]
async fn a_failed_undo_is_retried() {
    static FAILURES_LEFT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(2);
    async fn flaky_unreserve(cx: Cx<World>) -> Result<()> {
        if FAILURES_LEFT
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
        {
            return Err(Error::unavailable("the world is down"));
        }
        unreserve(cx).await
    }
    async fn refuse(_: Cx<World>) -> Result<()> {
        Err(Error::conflict("no"))
    }
    let flaky = || Saga {
        name: "flaky",
        steps: vec![
            Step::new("reserve", reserve, flaky_unreserve),
            Step::new("refuse", refuse, nothing),
        ],
    };
    let db = db::testing::sqlite().await;
    let world = World::new(db.clone()).await;
    let exec = Executor::new(db.clone(), config("svc", "up", 5000), vec![flaky()]);
    let id = exec.create("flaky", &json!({"id": "f"})).await.unwrap();
    assert!(matches!(
        exec.execute(&world, &id).await,
        Outcome::Interrupted { .. }
    ));
    assert_eq!(world.row("f-a").await.as_deref(), Some("reserved"));
    assert_eq!(exec.unfinished().await.unwrap()[0].state, "unwinding");
    // the restarted process retries (the first retry fails again)
    let again = Executor::new(db.clone(), config("svc", "up", 5000), vec![flaky()]);
    let r = again.recover(&world).await.unwrap();
    assert!(matches!(r[0].1, Outcome::Interrupted { .. }), "{r:?}");
    let r = again.recover(&world).await.unwrap();
    assert!(
        matches!(&r[0].1, Outcome::Unwound { error } if error.contains("no")),
        "{r:?}"
    );
    assert_eq!(world.row("f-a").await, None);
    assert!(again.unfinished().await.unwrap().is_empty());
}

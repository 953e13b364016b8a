//! A test harness for a service's sagas.
//!
//! Give [`check`] a [`Scenario`]: the saga, the context its actions get, how to make a
//! fresh world (returning the saga's params), and two checks: "the work is done" and
//! "nothing is left behind". It then runs the saga, each run in a fresh world:
//!
//! 1. with every action and every undo run twice in a row (idempotency): it must end
//!    done;
//! 2. for every step, failing there, before its action runs and after it ran: it must
//!    unwind and leave nothing behind (and undos also run twice);
//! 3. for every step, crashing there (the executor's task is dropped mid-step, before
//!    the action ran and after it ran but before it was recorded), then resuming with a
//!    new executor: it must end done;
//! 4. failing at the last step, then crashing in the middle of every undo, then
//!    resuming: it must end unwound, with nothing left behind.

use std::{future::Future, sync::Arc, time::Duration};

use api_common::Error;
use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Notify;

use crate::{Cx, Executor, ExecutorConfig, Outcome, Saga, Step};

/// What [`check`] needs to know about a saga.
#[async_trait]
pub trait Scenario: Send + Sync {
    type Ctx: Clone + Send + Sync + 'static;
    /// The saga under test.
    fn saga(&self) -> Saga<Self::Ctx>;
    /// The context the actions get.
    fn ctx(&self) -> Self::Ctx;
    /// Make a fresh world for one run; returns the saga's params.
    async fn setup(&self) -> Value;
    /// Panic unless the world shows the saga's work done.
    async fn check_done(&self, params: &Value);
    /// Panic unless nothing the saga did is left behind (the world is as before, or in
    /// the saga's documented failed state).
    async fn check_undone(&self, params: &Value);
}

/// How many runs [`check`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub runs: usize,
}

/// Where a run is made to fail or crash.
#[derive(Clone)]
enum Fault {
    None,
    FailBefore(usize),
    FailAfter(usize),
    /// Stop forever (signalling) when step k's action begins / after it ran.
    CrashBefore(usize, Arc<Notify>),
    CrashAfter(usize, Arc<Notify>),
    /// Fail at the last step; stop forever after step k's undo ran.
    CrashInUndo(usize, Arc<Notify>),
}

fn injected() -> Error {
    Error::internal("failure injected by saga::testing")
}

/// The saga with every action and undo run twice, and `fault` applied.
fn rig<C: Clone + Send + Sync + 'static>(saga: &Saga<C>, fault: &Fault) -> Saga<C> {
    let last = saga.steps.len().saturating_sub(1);
    let steps = saga
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (action, undo) = (s.action.clone(), s.undo.clone());
            let (fault_a, fault_u) = (fault.clone(), fault.clone());
            let rigged_action = move |cx: Cx<C>| {
                let (action, fault) = (action.clone(), fault_a.clone());
                async move {
                    match &fault {
                        Fault::FailBefore(k) if *k == i => return Err(injected()),
                        Fault::CrashBefore(k, n) if *k == i => {
                            n.notify_one();
                            std::future::pending::<()>().await;
                        }
                        _ => {}
                    }
                    action(cx.clone()).await?;
                    let out = action(cx).await?;
                    match fault {
                        Fault::FailAfter(k) if k == i => Err(injected()),
                        Fault::CrashInUndo(..) if i == last => Err(injected()),
                        Fault::CrashAfter(k, n) if k == i => {
                            n.notify_one();
                            std::future::pending().await
                        }
                        _ => Ok(out),
                    }
                }
            };
            let rigged_undo = move |cx: Cx<C>| {
                let (undo, fault) = (undo.clone(), fault_u.clone());
                async move {
                    undo(cx.clone()).await?;
                    undo(cx).await?;
                    if let Fault::CrashInUndo(k, n) = fault {
                        if k == i {
                            n.notify_one();
                            std::future::pending::<()>().await;
                        }
                    }
                    Ok(())
                }
            };
            Step::new(s.name, rigged_action, rigged_undo)
        })
        .collect();
    Saga {
        name: saga.name,
        steps,
    }
}

struct Harness<'a, S: Scenario> {
    db: &'a db::Db,
    scenario: &'a S,
    service: String,
    runs: usize,
}

impl<S: Scenario> Harness<'_, S> {
    fn executor(&self, owner: &str, saga: Saga<S::Ctx>) -> Executor<S::Ctx> {
        let mut cfg = ExecutorConfig::new(self.service.clone(), owner);
        cfg.lease = Duration::from_secs(10);
        Executor::new(self.db.clone(), cfg, vec![saga])
    }

    /// One run in a fresh world: its params and outcome.
    async fn run(&mut self, fault: Fault) -> (Value, Outcome) {
        self.runs += 1;
        let params = self.scenario.setup().await;
        let owner = ExecutorConfig::unique_owner();
        let rigged = rig(&self.scenario.saga(), &fault);
        let exec = self.executor(&owner, rigged);
        let ctx = self.scenario.ctx();
        let id = exec
            .create(self.scenario.saga().name, &params)
            .await
            .expect("record the saga");
        let crash = match &fault {
            Fault::CrashBefore(_, n) | Fault::CrashAfter(_, n) | Fault::CrashInUndo(_, n) => {
                Some(n.clone())
            }
            _ => None,
        };
        let Some(crash) = crash else {
            return (params, exec.execute(&ctx, &id).await);
        };
        // The crash: the executor's task is dropped where it stands, as kill -9 would.
        let mut task = {
            let (exec, ctx, id) = (exec.clone(), ctx.clone(), id.clone());
            tokio::spawn(async move { exec.execute(&ctx, &id).await })
        };
        within("the crash point", async {
            tokio::select! {
                () = crash.notified() => {}
                ended = &mut task => panic!(
                    "saga harness: the run ended before its crash point: {ended:?}"
                ),
            }
        })
        .await;
        task.abort();
        assert!(task.await.is_err(), "the crashed run ended by itself");
        drop(exec);
        // The restarted process: same owner (as `up` after a crash), the real saga.
        let exec = self.executor(&owner, self.scenario.saga());
        let resumed = within("recovery", exec.recover(&ctx))
            .await
            .expect("recover");
        let outcome = resumed
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, o)| o)
            .expect("the crashed saga was resumed");
        (params, outcome)
    }
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("saga harness: timed out waiting for {what}"))
}

fn assert_done(saga: &str, what: &str, o: &Outcome) {
    assert_eq!(*o, Outcome::Done, "saga {saga}, {what}: not done");
}

fn assert_unwound(saga: &str, what: &str, o: &Outcome) {
    assert!(
        matches!(o, Outcome::Unwound { .. }),
        "saga {saga}, {what}: not unwound: {o:?}"
    );
}

/// Check a saga as the module documentation says; panics on the first problem.
/// `db` must have the saga migrations applied (this applies them if not).
pub async fn check<S: Scenario>(db: &db::Db, scenario: &S) -> Report {
    db.migrate(crate::SERVICE, crate::MIGRATIONS)
        .await
        .expect("saga migrations");
    let saga = scenario.saga();
    let name = saga.name;
    let n = saga.steps.len();
    let mut h = Harness {
        db,
        scenario,
        service: format!("saga-test-{}", uuid::Uuid::new_v4().simple()),
        runs: 0,
    };

    let (params, o) = h.run(Fault::None).await;
    assert_done(name, "every action twice", &o);
    scenario.check_done(&params).await;

    for k in 0..n {
        let step = saga.steps[k].name;
        for (when, fault) in [
            ("before", Fault::FailBefore(k)),
            ("after", Fault::FailAfter(k)),
        ] {
            let (params, o) = h.run(fault).await;
            let what = format!("failing {when} step {step}");
            assert_unwound(name, &what, &o);
            scenario.check_undone(&params).await;
        }
    }

    for k in 0..n {
        let step = saga.steps[k].name;
        for (when, fault) in [
            ("before", Fault::CrashBefore(k, Arc::new(Notify::new()))),
            ("after", Fault::CrashAfter(k, Arc::new(Notify::new()))),
        ] {
            let (params, o) = h.run(fault).await;
            let what = format!("crashing {when} step {step}, then resuming");
            assert_done(name, &what, &o);
            scenario.check_done(&params).await;
        }
    }

    for k in 0..n {
        let step = saga.steps[k].name;
        let (params, o) = h.run(Fault::CrashInUndo(k, Arc::new(Notify::new()))).await;
        let what = format!("crashing in the undo of step {step}, then resuming");
        assert_unwound(name, &what, &o);
        scenario.check_undone(&params).await;
    }

    let exec = h.executor("harness", scenario.saga());
    assert!(
        exec.unfinished().await.expect("saga log").is_empty(),
        "saga {name}: the harness left unfinished sagas"
    );
    Report { runs: h.runs }
}

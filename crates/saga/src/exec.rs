//! The executor: runs sagas step by step, recording each step in the log, unwinds
//! after a failure, and resumes what a previous process left unfinished.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use api_common::{Error, ErrorKind, Result};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::{
    log::{now_ms, Log, SagaState, StepState, StepWrite},
    Cx, Saga,
};

/// How an executor takes part in the log.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// The service whose sagas this executor runs: at start it resumes that service's
    /// unfinished sagas.
    pub service: String,
    /// Who holds the claims this executor takes. It must be unique among the processes
    /// alive at one time. A process that is known to be the only one of its kind (the
    /// all-in-one `up`, which locks its data directory) may use the same owner across
    /// restarts: it then resumes its own sagas at once instead of after the lease.
    pub owner: String,
    /// How long a claim lasts without renewal. A running saga renews it every third of
    /// this; another process takes a saga over once its lease has run out.
    pub lease: Duration,
    /// How often the background task looks for sagas whose owner went away.
    pub scan_every: Duration,
    /// How long a step that fails because a service it needs is unavailable (a
    /// restarting process not listening yet, a database failing over) is tried again,
    /// with growing pauses, before the saga unwinds.
    pub transient_retry: Duration,
}

impl ExecutorConfig {
    /// An executor with the default lease (15 s) and scan interval (5 s).
    pub fn new(service: impl Into<String>, owner: impl Into<String>) -> ExecutorConfig {
        ExecutorConfig {
            service: service.into(),
            owner: owner.into(),
            lease: Duration::from_secs(15),
            scan_every: Duration::from_secs(5),
            transient_retry: Duration::from_secs(60),
        }
    }

    /// An owner name unique to this process (process id + random).
    pub fn unique_owner() -> String {
        let r = uuid::Uuid::new_v4().simple().to_string();
        format!("pid{}-{}", std::process::id(), &r[..12])
    }
}

/// How a saga ended, as far as this executor is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every step done.
    Done,
    /// A step failed and every started step was undone.
    Unwound { error: String },
    /// Not finished here: the claim is held elsewhere or was lost, the log could not be
    /// written, or an undo failed. The saga stays unfinished in the log and is taken up
    /// again (by this process's background task, or the next one to start).
    Interrupted { reason: String },
}

/// An unfinished saga, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaSummary {
    pub id: String,
    pub name: String,
    /// `running` or `unwinding`.
    pub state: String,
    /// The latest step touched and its state (`started`, `done`, ...).
    pub step: Option<(String, String)>,
    /// What it was started with.
    pub params: Value,
}

/// How a drive of a saga ended.
enum Ended {
    Done,
    /// Stopped before the step limit given, with where it stood.
    Paused(Box<Paused>),
    Unwound(Error),
    Interrupted(String),
}

impl Ended {
    fn outcome(self) -> Outcome {
        match self {
            Ended::Done => Outcome::Done,
            Ended::Paused(_) => Outcome::Interrupted {
                reason: "paused".into(),
            },
            Ended::Unwound(e) => Outcome::Unwound {
                error: e.to_string(),
            },
            Ended::Interrupted(reason) => Outcome::Interrupted { reason },
        }
    }
}

fn lost() -> Ended {
    Ended::Interrupted("this process lost its claim on the saga".into())
}

/// Runs the sagas of one service. Cheap to clone; every clone is the same executor.
///
/// `C` is what actions get as their context (typically the service's `Arc`). The
/// executor does not keep one: each call that runs steps is given it, so a service may
/// hold its own executor without a reference cycle.
pub struct Executor<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for Executor<C> {
    fn clone(&self) -> Self {
        Executor {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<C> {
    log: Log,
    cfg: ExecutorConfig,
    sagas: HashMap<&'static str, Saga<C>>,
    /// Sagas being driven in this process (a claim held by this owner says nothing
    /// about which task of the process drives it).
    running: Mutex<HashSet<String>>,
    /// Sagas started by [`Executor::start`], for the background task to finish.
    handoff: mpsc::UnboundedSender<Handoff>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Handoff>>>,
}

/// A saga [`Executor::start`] passes to the background task.
enum Handoff {
    /// Take it up from the log (claim it, read where it is).
    Resume(String),
    /// Carry on from where `start` stopped, under the claim it holds, without reading
    /// the log again.
    Continue(Box<Paused>),
}

/// A saga stopped between two steps, as its driver knew it.
struct Paused {
    id: String,
    name: &'static str,
    params: Arc<Value>,
    states: Vec<Option<StepState>>,
    outputs: HashMap<String, Value>,
    /// The step whose action ended last, not logged as done yet.
    pending: Option<(usize, &'static str, Value)>,
}

/// Where a saga is: what the log says (or its driver knows), with the definition it
/// runs under.
struct Progress<'a, C> {
    saga: &'a Saga<C>,
    params: Arc<Value>,
    states: Vec<Option<StepState>>,
    outputs: HashMap<String, Value>,
}

/// Marks a saga as driven here for as long as it lives.
struct Driving<C> {
    inner: Arc<Inner<C>>,
    id: String,
}

impl<C> Drop for Driving<C> {
    fn drop(&mut self) {
        self.inner
            .running
            .lock()
            .expect("running set poisoned")
            .remove(&self.id);
    }
}

/// The "done" record of the step whose action ended last and is not logged as done yet
/// (see [`Executor`]'s run: it is written together with the next write).
fn done_write<'a>(pending: &'a Option<(usize, &'static str, Value)>) -> Option<StepWrite<'a>> {
    pending.as_ref().map(|(i, name, out)| StepWrite {
        step: *i,
        name,
        state: StepState::Done,
        output: Some(out),
        error: None,
    })
}

impl<C: Clone + Send + Sync + 'static> Executor<C> {
    /// An executor over `db` (with the saga migrations applied) for these sagas.
    pub fn new(db: db::Db, cfg: ExecutorConfig, sagas: Vec<Saga<C>>) -> Executor<C> {
        let (handoff, inbox) = mpsc::unbounded_channel();
        Executor {
            inner: Arc::new(Inner {
                log: Log {
                    db,
                    service: cfg.service.clone(),
                    owner: cfg.owner.clone(),
                },
                cfg,
                sagas: sagas.into_iter().map(|s| (s.name, s)).collect(),
                running: Mutex::new(HashSet::new()),
                handoff,
                inbox: Mutex::new(Some(inbox)),
            }),
        }
    }

    pub fn config(&self) -> &ExecutorConfig {
        &self.inner.cfg
    }

    fn lease_until(&self) -> i64 {
        let ms = i64::try_from(self.inner.cfg.lease.as_millis()).unwrap_or(i64::MAX / 2);
        now_ms().saturating_add(ms)
    }

    fn driving(&self, id: &str) -> Option<Driving<C>> {
        let fresh = self
            .inner
            .running
            .lock()
            .expect("running set poisoned")
            .insert(id.to_owned());
        fresh.then(|| Driving {
            inner: self.inner.clone(),
            id: id.to_owned(),
        })
    }

    fn saga(&self, name: &str) -> Result<&Saga<C>> {
        self.inner
            .sagas
            .get(name)
            .ok_or_else(|| Error::internal(format!("no saga named {name}")))
    }

    /// Record a new saga, claimed by this executor, without running anything. Its id is
    /// returned; [`Executor::execute`] runs it.
    pub async fn create(&self, name: &str, params: &impl Serialize) -> Result<String> {
        self.saga(name)?;
        let params = serde_json::to_value(params).map_err(Error::internal)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.inner
            .log
            .create(&id, name, &params, self.lease_until(), None)
            .await?;
        Ok(id)
    }

    /// Start a saga: record it and run its first step now, in the caller's task, so that
    /// the first step can be the gate (a state check, a lock) whose refusal reaches the
    /// caller: if it fails, the saga is unwound and its error returned. The other steps
    /// are left to the background task ([`Executor::run`]), which carries on from
    /// where this left off (the saga recorded with its first step started in one
    /// write, and that step's end logged with the next one's start).
    pub async fn start(&self, ctx: &C, name: &str, params: &impl Serialize) -> Result<String> {
        let saga = self.saga(name)?;
        let params = serde_json::to_value(params).map_err(Error::internal)?;
        let id = uuid::Uuid::new_v4().to_string();
        let first = saga.steps.first().map(|s| s.name);
        self.inner
            .log
            .create(&id, saga.name, &params, self.lease_until(), first)
            .await?;
        let mut states = vec![None; saga.steps.len()];
        if let Some(s) = states.first_mut() {
            *s = Some(StepState::Started);
        }
        let p = Progress {
            saga,
            params: Arc::new(params),
            states,
            outputs: HashMap::new(),
        };
        let driving = self.driving(&id);
        let ended = self
            .logged(&id, self.forward(ctx, &id, p, None, Some(1)))
            .await;
        drop(driving);
        match ended {
            Ended::Done => {}
            Ended::Unwound(e) => return Err(e),
            Ended::Paused(p) => {
                // The receiver is gone only when the background task has stopped (a
                // shutdown): the next start resumes the saga from the log.
                let _ = self.inner.handoff.send(Handoff::Continue(p));
            }
            Ended::Interrupted(reason) => {
                tracing::warn!(saga = %id, name, reason, "saga interrupted in its first step; it will be resumed");
                let _ = self.inner.handoff.send(Handoff::Resume(id.clone()));
            }
        }
        Ok(id)
    }

    /// Run a saga to its end here: claim it (also when this owner already holds it) and
    /// drive it forward or backward from where the log says it is.
    pub async fn execute(&self, ctx: &C, id: &str) -> Outcome {
        let Some(_driving) = self.driving(id) else {
            return Outcome::Interrupted {
                reason: "the saga is already being run by this process".into(),
            };
        };
        match self.inner.log.claim(id, self.lease_until(), true).await {
            Ok(true) => {}
            Ok(false) => {
                return Outcome::Interrupted {
                    reason: "the saga is finished or claimed by another process".into(),
                }
            }
            Err(e) => {
                return Outcome::Interrupted {
                    reason: format!("saga log: {e}"),
                }
            }
        }
        self.drive(ctx, id).await.outcome()
    }

    /// Run, here and one after the other, every unfinished saga of the service this
    /// executor may claim (including those its owner held before a restart).
    pub async fn recover(&self, ctx: &C) -> Result<Vec<(String, Outcome)>> {
        let mut out = Vec::new();
        for id in self.inner.log.claimable(true).await? {
            let o = self.execute(ctx, &id).await;
            out.push((id, o));
        }
        Ok(out)
    }

    /// The unfinished sagas of this service, whoever runs them.
    pub async fn unfinished(&self) -> Result<Vec<SagaSummary>> {
        let mut out = Vec::new();
        for id in self.inner.log.unfinished().await? {
            if let Some(row) = self.inner.log.load(&id).await? {
                out.push(SagaSummary {
                    id: row.id,
                    name: row.name,
                    state: row.state.as_str().into(),
                    step: row
                        .steps
                        .last()
                        .map(|s| (s.name.clone(), s.state.as_str().into())),
                    params: row.params,
                });
            }
        }
        Ok(out)
    }

    /// The background task: resumes the service's unfinished sagas at once (those this
    /// owner held before a restart too), finishes the sagas [`Executor::start`] began,
    /// and every `scan_every` takes over sagas whose owner's lease ran out. Returns
    /// when `shutdown` resolves: the sagas in flight are stopped where they are (as a
    /// crash would) and their claims released, so the next process resumes them
    /// without waiting for the lease. Call it once per executor; the caller owns the
    /// task it runs in.
    pub async fn run(self, ctx: C, shutdown: impl Future<Output = ()> + Send) {
        let Some(mut inbox) = self.inner.inbox.lock().expect("inbox poisoned").take() else {
            tracing::error!(service = %self.inner.cfg.service, "saga executor run twice");
            return;
        };
        let mut tasks = tokio::task::JoinSet::new();
        let mut scan = tokio::time::interval(self.inner.cfg.scan_every);
        let mut first_scan = true;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(h) = inbox.recv() => match h {
                    Handoff::Resume(id) => self.spawn(&mut tasks, &ctx, id),
                    Handoff::Continue(p) => self.spawn_paused(&mut tasks, &ctx, p),
                },
                _ = scan.tick() => {
                    match self.inner.log.claimable(first_scan).await {
                        Ok(ids) => {
                            first_scan = false;
                            for id in ids {
                                self.spawn(&mut tasks, &ctx, id);
                            }
                        }
                        Err(e) => tracing::warn!(service = %self.inner.cfg.service, error = %e, "cannot read the saga log"),
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        let in_flight: Vec<String> = self
            .inner
            .running
            .lock()
            .expect("running set poisoned")
            .iter()
            .cloned()
            .collect();
        tasks.shutdown().await;
        for id in in_flight {
            if let Err(e) = self.inner.log.release(&id, 0).await {
                tracing::warn!(saga = %id, error = %e, "could not release a saga's claim at shutdown");
            }
        }
    }

    fn spawn(&self, tasks: &mut tokio::task::JoinSet<()>, ctx: &C, id: String) {
        if self
            .inner
            .running
            .lock()
            .expect("running set poisoned")
            .contains(&id)
        {
            return;
        }
        let (exec, ctx) = (self.clone(), ctx.clone());
        tasks.spawn(async move {
            let outcome = exec.execute(&ctx, &id).await;
            exec.report(&id, outcome);
        });
    }

    /// Carry on with a saga [`Executor::start`] paused, in a task of the background's.
    fn spawn_paused(&self, tasks: &mut tokio::task::JoinSet<()>, ctx: &C, p: Box<Paused>) {
        let (exec, ctx) = (self.clone(), ctx.clone());
        tasks.spawn(async move {
            let id = p.id.clone();
            let Some(_driving) = exec.driving(&id) else {
                return;
            };
            let Ok(saga) = exec.saga(p.name) else {
                return;
            };
            let Paused {
                params,
                states,
                outputs,
                pending,
                ..
            } = *p;
            let progress = Progress {
                saga,
                params,
                states,
                outputs,
            };
            let ended = exec
                .logged(&id, exec.forward(&ctx, &id, progress, pending, None))
                .await;
            exec.report(&id, ended.outcome());
        });
    }

    fn report(&self, id: &str, outcome: Outcome) {
        match outcome {
            Outcome::Done => tracing::info!(saga = %id, "saga done"),
            Outcome::Unwound { error } => {
                tracing::warn!(saga = %id, error, "saga unwound")
            }
            Outcome::Interrupted { reason } => {
                tracing::info!(saga = %id, reason, "saga not finished here")
            }
        }
    }

    /// Drive a claimed saga from where the log says it is.
    async fn drive(&self, ctx: &C, id: &str) -> Ended {
        self.logged(id, self.drive_logged(ctx, id)).await
    }

    /// The end of a drive whose log could not be used: the saga is left for a later
    /// scan.
    async fn logged(&self, id: &str, drive: impl Future<Output = Result<Ended>>) -> Ended {
        match drive.await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(saga = %id, error = %e, "saga stopped: its log could not be used");
                // Let a later scan retry it after a lease, rather than at once.
                let _ = self.inner.log.release(id, self.lease_until()).await;
                Ended::Interrupted(format!("saga log: {e}"))
            }
        }
    }

    /// Record progress under the claim: false when the claim was lost.
    async fn write(
        &self,
        id: &str,
        step: Option<StepWrite<'_>>,
        state: Option<(SagaState, Option<&str>)>,
    ) -> Result<bool> {
        let steps: Vec<StepWrite<'_>> = step.into_iter().collect();
        self.write_steps(id, &steps, state).await
    }

    /// [`Executor::write`] of several steps in one transaction.
    async fn write_steps(
        &self,
        id: &str,
        steps: &[StepWrite<'_>],
        state: Option<(SagaState, Option<&str>)>,
    ) -> Result<bool> {
        self.inner
            .log
            .record(id, self.lease_until(), steps, state)
            .await
    }

    fn cx(
        &self,
        ctx: &C,
        id: &str,
        params: &Arc<Value>,
        outputs: &HashMap<String, Value>,
    ) -> Cx<C> {
        Cx {
            ctx: ctx.clone(),
            id: id.into(),
            params: params.clone(),
            outputs: Arc::new(outputs.clone()),
        }
    }

    async fn drive_logged(&self, ctx: &C, id: &str) -> Result<Ended> {
        let row = self
            .inner
            .log
            .load(id)
            .await?
            .ok_or_else(|| Error::internal(format!("saga {id} is not in the log")))?;
        let saga = self
            .inner
            .sagas
            .get(row.name.as_str())
            .ok_or_else(|| Error::internal(format!("saga {id}: unknown saga {}", row.name)))?;
        let mut p = Progress {
            saga,
            params: Arc::new(row.params.clone()),
            states: vec![None; saga.steps.len()],
            outputs: HashMap::new(),
        };
        for s in &row.steps {
            if saga.steps.get(s.step).map(|d| d.name) != Some(s.name.as_str()) {
                return Err(Error::internal(format!(
                    "saga {id}: logged step {} ({}) is not step {} of {}",
                    s.step, s.name, s.step, row.name
                )));
            }
            p.states[s.step] = Some(s.state);
            if let Some(o) = &s.output {
                p.outputs.insert(s.name.clone(), o.clone());
            }
        }
        match row.state {
            SagaState::Running => {}
            SagaState::Unwinding => {
                let cause =
                    Error::internal(row.error.clone().unwrap_or_else(|| "a step failed".into()));
                return self.unwind(ctx, id, &p, cause).await;
            }
            SagaState::Done => return Ok(Ended::Done),
            SagaState::Unwound => {
                return Ok(Ended::Unwound(Error::internal(
                    row.error.clone().unwrap_or_else(|| "a step failed".into()),
                )))
            }
        }
        self.forward(ctx, id, p, None, None).await
    }

    /// Run the steps not done yet; with `limit`, stop before step `limit`. `pending` is
    /// the step that ended last and is not logged done yet.
    async fn forward(
        &self,
        ctx: &C,
        id: &str,
        mut p: Progress<'_, C>,
        mut pending: Option<(usize, &'static str, Value)>,
        limit: Option<usize>,
    ) -> Result<Ended> {
        let saga = p.saga;
        // A step's "done" is recorded together with the next step's "started" (or the
        // saga's end), in one transaction: the log still holds every step as started
        // before its action runs and as done (with its output) before a later step
        // reads it, with one write per step instead of two.
        for (i, step) in saga.steps.iter().enumerate() {
            if p.states[i] == Some(StepState::Done) {
                continue;
            }
            if limit.is_some_and(|l| i >= l) {
                return Ok(Ended::Paused(Box::new(Paused {
                    id: id.to_owned(),
                    name: saga.name,
                    params: p.params,
                    states: p.states,
                    outputs: p.outputs,
                    pending,
                })));
            }
            let started = StepWrite {
                step: i,
                name: step.name,
                state: StepState::Started,
                output: None,
                error: None,
            };
            let t0 = Instant::now();
            // a step logged as started (with the saga's record, or before a restart
            // whose claim renewed the lease) needs no write unless one is pending
            if pending.is_some() || p.states[i] != Some(StepState::Started) {
                let writes: Vec<StepWrite<'_>> =
                    done_write(&pending).into_iter().chain([started]).collect();
                if !self.write_steps(id, &writes, None).await? {
                    return Ok(lost());
                }
            }
            let logged = t0.elapsed();
            p.states[i] = Some(StepState::Started);
            let t1 = Instant::now();
            let action = async {
                let mut pause = Duration::from_millis(200);
                let give_up = Instant::now() + self.inner.cfg.transient_retry;
                loop {
                    let cx = self.cx(ctx, id, &p.params, &p.outputs);
                    match (step.action)(cx).await {
                        Err(e)
                            if e.kind == ErrorKind::Unavailable
                                && Instant::now() + pause <= give_up =>
                        {
                            tracing::info!(saga = %id, name = saga.name, step = step.name, error = %e, "a service the step needs is unavailable; trying again in {pause:?}");
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_secs(5));
                        }
                        r => return r,
                    }
                }
            };
            match self.keep_lease(id, action).await {
                None => return Ok(lost()),
                Some(Ok(out)) => {
                    // where a saga's time goes (`bench -- compute --profile` reads it)
                    tracing::debug!(
                        saga = %id,
                        name = saga.name,
                        step = step.name,
                        micros = u64::try_from(t1.elapsed().as_micros()).unwrap_or(u64::MAX),
                        log_micros = u64::try_from(logged.as_micros()).unwrap_or(u64::MAX),
                        "saga step done"
                    );
                    p.states[i] = Some(StepState::Done);
                    p.outputs.insert(step.name.to_owned(), out.clone());
                    pending = Some((i, step.name, out));
                }
                Some(Err(e)) => {
                    tracing::warn!(saga = %id, name = saga.name, step = step.name, error = %e, "saga step failed; unwinding");
                    let text = e.to_string();
                    let failed = StepWrite {
                        step: i,
                        name: step.name,
                        state: StepState::Failed,
                        output: None,
                        error: Some(&text),
                    };
                    // the step before is logged done with its output (its undo reads it)
                    let writes: Vec<StepWrite<'_>> =
                        done_write(&pending).into_iter().chain([failed]).collect();
                    if !self
                        .write_steps(id, &writes, Some((SagaState::Unwinding, Some(&text))))
                        .await?
                    {
                        return Ok(lost());
                    }
                    p.states[i] = Some(StepState::Failed);
                    return self.unwind(ctx, id, &p, e).await;
                }
            }
        }
        let last: Vec<StepWrite<'_>> = done_write(&pending).into_iter().collect();
        if !self
            .write_steps(id, &last, Some((SagaState::Done, None)))
            .await?
        {
            return Ok(lost());
        }
        Ok(Ended::Done)
    }

    /// Undo every step that started, newest first, then mark the saga unwound.
    async fn unwind(&self, ctx: &C, id: &str, p: &Progress<'_, C>, cause: Error) -> Result<Ended> {
        let saga = p.saga;
        for (i, step) in saga.steps.iter().enumerate().rev() {
            let Some(state) = p.states[i] else { continue };
            if state == StepState::Undone {
                continue;
            }
            let cx = self.cx(ctx, id, &p.params, &p.outputs);
            match self.keep_lease(id, (step.undo)(cx)).await {
                None => return Ok(lost()),
                Some(Ok(())) => {
                    let undone = StepWrite {
                        step: i,
                        name: step.name,
                        state: StepState::Undone,
                        output: None,
                        error: None,
                    };
                    if !self.write(id, Some(undone), None).await? {
                        return Ok(lost());
                    }
                }
                Some(Err(e)) => {
                    tracing::error!(saga = %id, name = saga.name, step = step.name, error = %e, "saga undo failed; it will be retried");
                    let text = format!("undo failed: {e}");
                    let failed = StepWrite {
                        step: i,
                        name: step.name,
                        state,
                        output: None,
                        error: Some(&text),
                    };
                    self.write(id, Some(failed), None).await?;
                    self.inner.log.release(id, self.lease_until()).await?;
                    return Ok(Ended::Interrupted(format!(
                        "the undo of step {} failed: {e}",
                        step.name
                    )));
                }
            }
        }
        if !self
            .write(id, None, Some((SagaState::Unwound, None)))
            .await?
        {
            return Ok(lost());
        }
        Ok(Ended::Unwound(cause))
    }

    /// Run `fut` while renewing the saga's lease; `None` (and `fut` dropped) if the
    /// claim was lost, or could not be renewed for a whole lease.
    async fn keep_lease<T>(&self, id: &str, fut: impl Future<Output = T>) -> Option<T> {
        let every = self.inner.cfg.lease / 3;
        let renew = async {
            let mut last_ok = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                match self.inner.log.renew(id, self.lease_until()).await {
                    Ok(true) => last_ok = Instant::now(),
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(saga = %id, error = %e, "could not renew a saga's lease");
                        if last_ok.elapsed() >= self.inner.cfg.lease {
                            return;
                        }
                    }
                }
            }
        };
        tokio::select! {
            biased;
            r = fut => Some(r),
            () = renew => None,
        }
    }
}

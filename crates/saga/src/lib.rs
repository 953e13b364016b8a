//! Sagas: durable multi-step operations with undo.
//!
//! A [`Saga`] is a named list of [`Step`]s. Each step has an action and an undo, and
//! both must be idempotent: an action works on ids fixed in advance (the saga's params
//! or an earlier step's output), so running it again finds its own work done; an undo
//! treats "not found" as success. That is what lets a crash land anywhere.
//!
//! The [`Executor`] keeps the saga log in the database (tables `sagas` and
//! `saga_steps`, migrations [`MIGRATIONS`] under the service name `saga`): the params,
//! each step's state and its output (JSON), so later steps and the undos can use it.
//! When an action fails, the executor unwinds: it runs the undo of that step and of
//! every earlier one, newest first. A restarted executor finds the unfinished sagas of
//! its service and carries on: forward if it was going forward (the interrupted step
//! runs again), backward if it was unwinding.
//!
//! Many processes may share one database: a saga is run by the executor that holds its
//! claim (`owner` + `lease_until`, taken by compare-and-set and renewed while it runs);
//! every write to the log checks the claim, so a process that lost it stops.
//!
//! [`testing`] is a harness any service can use to check its sagas: every action
//! twice, a failure at every step, a crash at every step.

mod exec;
mod log;
pub mod testing;

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc};

use api_common::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

pub use exec::{Executor, ExecutorConfig, Outcome, SagaSummary};

/// The schema of the saga log.
pub const MIGRATIONS: &[db::Migration] = &[db::Migration {
    version: 1,
    name: "initial",
    sql: include_str!("../migrations/0001_initial.sql"),
}];

/// The service name the saga log's migrations are registered under.
pub const SERVICE: &str = "saga";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type ActionFn<C> = Arc<dyn Fn(Cx<C>) -> BoxFuture<Result<Value>> + Send + Sync>;
type UndoFn<C> = Arc<dyn Fn(Cx<C>) -> BoxFuture<Result<()>> + Send + Sync>;

/// One step of a saga: what to do, and how to take it back.
pub struct Step<C> {
    pub name: &'static str,
    action: ActionFn<C>,
    undo: UndoFn<C>,
}

impl<C> Clone for Step<C> {
    fn clone(&self) -> Self {
        Step {
            name: self.name,
            action: self.action.clone(),
            undo: self.undo.clone(),
        }
    }
}

impl<C: Clone + Send + Sync + 'static> Step<C> {
    /// A step whose action returns `T` (recorded as JSON, read back by later steps
    /// with [`Cx::output`]).
    ///
    /// The undo runs for every step whose action started, finished or not (a crash can
    /// fall between an action's effect and its record), so it must not rely on the
    /// step's own output being there.
    pub fn new<T, A, AF, U, UF>(name: &'static str, action: A, undo: U) -> Step<C>
    where
        T: Serialize,
        A: Fn(Cx<C>) -> AF + Send + Sync + 'static,
        AF: Future<Output = Result<T>> + Send + 'static,
        U: Fn(Cx<C>) -> UF + Send + Sync + 'static,
        UF: Future<Output = Result<()>> + Send + 'static,
    {
        let action = Arc::new(action);
        let undo = Arc::new(undo);
        Step {
            name,
            action: Arc::new(move |cx| {
                let fut = action(cx);
                Box::pin(async move {
                    let out = fut.await?;
                    serde_json::to_value(out).map_err(Error::internal)
                })
            }),
            undo: Arc::new(move |cx| Box::pin(undo(cx))),
        }
    }
}

/// A saga definition: a name (how the log refers to it, so keep it stable) and steps.
pub struct Saga<C> {
    pub name: &'static str,
    pub steps: Vec<Step<C>>,
}

impl<C> Clone for Saga<C> {
    fn clone(&self) -> Self {
        Saga {
            name: self.name,
            steps: self.steps.clone(),
        }
    }
}

/// What an action or undo gets: the service's context, the saga's id and params, and
/// the outputs of the steps recorded so far.
pub struct Cx<C> {
    ctx: C,
    id: Arc<str>,
    params: Arc<Value>,
    outputs: Arc<HashMap<String, Value>>,
}

impl<C: Clone> Clone for Cx<C> {
    fn clone(&self) -> Self {
        Cx {
            ctx: self.ctx.clone(),
            id: self.id.clone(),
            params: self.params.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

impl<C> Cx<C> {
    /// The service's context (e.g. its `Arc<Service>`).
    pub fn ctx(&self) -> &C {
        &self.ctx
    }

    /// The saga's id: unique, fixed before the first step, usable as an idempotency key
    /// or a lock owner.
    pub fn saga_id(&self) -> &str {
        &self.id
    }

    /// The saga's params.
    pub fn params<P: DeserializeOwned>(&self) -> Result<P> {
        P::deserialize(&*self.params)
            .map_err(|e| Error::internal(format!("saga {}: bad params: {e}", self.id)))
    }

    /// The recorded output of an earlier step (or, in an undo, of this step), if it
    /// finished.
    pub fn output<T: DeserializeOwned>(&self, step: &str) -> Result<Option<T>> {
        self.outputs
            .get(step)
            .map(|v| {
                T::deserialize(v).map_err(|e| {
                    Error::internal(format!("saga {}: bad output of {step}: {e}", self.id))
                })
            })
            .transpose()
    }
}

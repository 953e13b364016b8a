//! Background work, owned: every task is spawned on [`Tasks`], has a name and a progress
//! line a person can read, and is joined when the process shuts down. Nothing is
//! detached.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Instant,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Where a task is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Running,
    Done,
    Failed,
}

/// What a task is doing, as `oxistack status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    pub name: String,
    pub state: TaskState,
    /// The latest progress line (or the outcome once finished).
    pub message: String,
    pub started_at: DateTime<Utc>,
    /// Seconds since it started, or that it took.
    pub seconds: u64,
}

struct Entry {
    name: String,
    state: TaskState,
    message: String,
    started_at: DateTime<Utc>,
    started: Instant,
    finished: Option<Instant>,
}

impl Entry {
    fn snapshot(&self) -> TaskSnapshot {
        TaskSnapshot {
            name: self.name.clone(),
            state: self.state.clone(),
            message: self.message.clone(),
            started_at: self.started_at,
            seconds: self
                .finished
                .unwrap_or_else(Instant::now)
                .duration_since(self.started)
                .as_secs(),
        }
    }
}

/// Called on every change of a task, with its new state.
pub type Reporter = Arc<dyn Fn(&TaskSnapshot) + Send + Sync>;

struct Inner {
    set: Mutex<JoinSet<()>>,
    entries: Mutex<Vec<Entry>>,
    shutdown: CancellationToken,
    reporter: Option<Reporter>,
}

/// The background tasks of a process. Cheap to clone; every clone spawns into the same
/// set.
#[derive(Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks::new(None)
    }
}

/// A task's handle on its own progress line.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
    index: usize,
}

impl Progress {
    /// Say what the task is doing now.
    pub fn set(&self, message: impl Into<String>) {
        self.update(|e| e.message = message.into());
    }

    /// Cancelled when the process shuts down: long work should stop at the next step.
    pub fn shutdown(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    fn update(&self, f: impl FnOnce(&mut Entry)) {
        let snap = {
            let mut entries = self.inner.entries.lock().expect("tasks poisoned");
            let e = &mut entries[self.index];
            f(e);
            e.snapshot()
        };
        if let Some(r) = &self.inner.reporter {
            r(&snap);
        }
    }
}

impl Tasks {
    /// `reporter` hears of every change (the binary prints progress and keeps the status
    /// file current with it).
    pub fn new(reporter: Option<Reporter>) -> Tasks {
        Tasks {
            inner: Arc::new(Inner {
                set: Mutex::new(JoinSet::new()),
                entries: Mutex::new(Vec::new()),
                shutdown: CancellationToken::new(),
                reporter,
            }),
        }
    }

    /// Cancelled when [`Tasks::join`] begins.
    pub fn shutdown(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Run `work` in the background under `name`. Its error (if any) is logged and shown
    /// as the task's outcome; it does not stop the process. `work` gets the task's
    /// [`Progress`] and should watch its shutdown token.
    pub fn spawn<F, Fut>(&self, name: &str, work: F)
    where
        F: FnOnce(Progress) -> Fut,
        Fut: Future<Output = anyhow::Result<String>> + Send + 'static,
    {
        let index = {
            let mut entries = self.inner.entries.lock().expect("tasks poisoned");
            entries.push(Entry {
                name: name.to_owned(),
                state: TaskState::Running,
                message: "starting".into(),
                started_at: Utc::now(),
                started: Instant::now(),
                finished: None,
            });
            entries.len() - 1
        };
        let progress = Progress {
            inner: self.inner.clone(),
            index,
        };
        let fut = work(progress.clone());
        let name = name.to_owned();
        self.inner
            .set
            .lock()
            .expect("tasks poisoned")
            .spawn(async move {
                let outcome = fut.await;
                progress.update(|e| {
                    e.finished = Some(Instant::now());
                    match outcome {
                        Ok(done) => {
                            e.state = TaskState::Done;
                            e.message = done;
                        }
                        Err(err) => {
                            tracing::error!(task = %name, "background task failed: {err:#}");
                            e.state = TaskState::Failed;
                            e.message = format!("{err:#}");
                        }
                    }
                });
            });
    }

    /// Every task, finished ones included, in the order they were spawned.
    pub fn snapshot(&self) -> Vec<TaskSnapshot> {
        let entries = self.inner.entries.lock().expect("tasks poisoned");
        entries.iter().map(Entry::snapshot).collect()
    }

    /// Cancel the shutdown token and wait for every task to end.
    pub async fn join(&self) {
        self.inner.shutdown.cancel();
        let mut set = std::mem::take(&mut *self.inner.set.lock().expect("tasks poisoned"));
        while let Some(r) = set.join_next().await {
            if let Err(e) = r {
                if e.is_panic() {
                    tracing::error!("a background task panicked: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn tasks_report_progress_and_are_joined() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let tasks = Tasks::new(Some(Arc::new(move |t: &TaskSnapshot| {
            s.lock().unwrap().push((t.name.clone(), t.message.clone()));
        })));
        tasks.spawn("quick", |p| async move {
            p.set("halfway");
            Ok("finished".into())
        });
        tasks.spawn("waits", |p| async move {
            p.shutdown().cancelled().await;
            Ok("stopped".into())
        });
        tasks.spawn("fails", |_| async move { anyhow::bail!("no luck") });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let snap = tasks.snapshot();
        assert_eq!(snap[0].state, TaskState::Done);
        assert_eq!(snap[1].state, TaskState::Running);
        assert_eq!(snap[2].state, TaskState::Failed);
        assert_eq!(snap[2].message, "no luck");
        tokio::time::timeout(Duration::from_secs(5), tasks.join())
            .await
            .expect("join waits for tasks that watch the shutdown token");
        assert_eq!(tasks.snapshot()[1].message, "stopped");
        let seen = seen.lock().unwrap();
        assert!(
            seen.contains(&("quick".into(), "halfway".into())),
            "{seen:?}"
        );
    }
}

//! The saga log: every SQL statement of the saga crate. Written once for SQLite and
//! PostgreSQL (`$n` placeholders, `BIGINT`, `TEXT`).
//!
//! Every write made on behalf of a running saga is a compare-and-set on its claim
//! (`owner = me`), and renews the lease in the same statement: a process whose claim
//! was taken over writes nothing more.

use api_common::{Error, Result};
use db::{AnyRow, Db, Row};

/// A saga's state in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaState {
    /// Going forward.
    Running,
    /// An action failed: undoing.
    Unwinding,
    /// Every step done.
    Done,
    /// Every started step undone.
    Unwound,
}

impl SagaState {
    pub fn as_str(self) -> &'static str {
        match self {
            SagaState::Running => "running",
            SagaState::Unwinding => "unwinding",
            SagaState::Done => "done",
            SagaState::Unwound => "unwound",
        }
    }

    fn parse(s: &str) -> Result<SagaState> {
        [
            SagaState::Running,
            SagaState::Unwinding,
            SagaState::Done,
            SagaState::Unwound,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| Error::internal(format!("unknown saga state {s:?}")))
    }

    fn terminal(self) -> bool {
        matches!(self, SagaState::Done | SagaState::Unwound)
    }
}

/// A step's state in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    /// The action began (it may have had effects).
    Started,
    /// The action finished; its output is recorded.
    Done,
    /// The action returned an error.
    Failed,
    /// The undo finished.
    Undone,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Started => "started",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Undone => "undone",
        }
    }

    fn parse(s: &str) -> Result<StepState> {
        [
            StepState::Started,
            StepState::Done,
            StepState::Failed,
            StepState::Undone,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| Error::internal(format!("unknown saga step state {s:?}")))
    }
}

/// A saga as the log has it.
#[derive(Debug, Clone)]
pub struct SagaRow {
    pub id: String,
    pub name: String,
    pub params: serde_json::Value,
    pub state: SagaState,
    pub error: Option<String>,
    pub steps: Vec<StepRow>,
}

#[derive(Debug, Clone)]
pub struct StepRow {
    pub step: usize,
    pub name: String,
    pub state: StepState,
    pub output: Option<serde_json::Value>,
}

/// A write to one step's record.
pub struct StepWrite<'a> {
    pub step: usize,
    pub name: &'a str,
    pub state: StepState,
    pub output: Option<&'a serde_json::Value>,
    pub error: Option<&'a str>,
}

/// The log of one service's sagas, as seen by one owner.
#[derive(Clone, Debug)]
pub struct Log {
    pub db: Db,
    pub service: String,
    pub owner: String,
}

fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Wall-clock milliseconds: leases compare across processes (and machines, whose
/// clocks must agree to well within a lease).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn text(r: &AnyRow, col: &str) -> Result<String> {
    r.try_get::<String, _>(col)
        .map_err(|e| Error::internal(format!("saga log column {col}: {e}")))
}

fn opt_text(r: &AnyRow, col: &str) -> Result<Option<String>> {
    r.try_get::<Option<String>, _>(col)
        .map_err(|e| Error::internal(format!("saga log column {col}: {e}")))
}

fn json(s: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| Error::internal(format!("saga log JSON: {e}")))
}

fn index(i: i64) -> Result<usize> {
    usize::try_from(i).map_err(|_| Error::internal(format!("bad saga step index {i}")))
}

fn step_number(step: usize) -> Result<i64> {
    i64::try_from(step).map_err(Error::internal)
}

impl Log {
    /// Record a new saga, claimed by this owner until `lease_until`, with its first
    /// step (`first`, when given) logged as started in the same write.
    pub async fn create(
        &self,
        id: &str,
        name: &str,
        params: &serde_json::Value,
        lease_until: i64,
        first: Option<&str>,
    ) -> Result<()> {
        let t = now_text();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO sagas (id, service, name, params, state, error, owner, lease_until, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, 1, $8, $8)",
        )
        .bind(id)
        .bind(&self.service)
        .bind(name)
        .bind(params.to_string())
        .bind(SagaState::Running.as_str())
        .bind(&self.owner)
        .bind(lease_until)
        .bind(&t)
        .execute(&mut *tx)
        .await?;
        if let Some(step) = first {
            sqlx::query(
                "INSERT INTO saga_steps (saga_id, step, name, state, output, error, updated_at) VALUES ($1, 0, $2, $3, NULL, NULL, $4)",
            )
            .bind(id)
            .bind(step)
            .bind(StepState::Started.as_str())
            .bind(&t)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Take the claim on an unfinished saga: when nobody holds it, its lease ran out,
    /// or (`own`) this owner holds it (a previous run of this process). Compare-and-set:
    /// of two processes trying at once, one wins.
    pub async fn claim(&self, id: &str, lease_until: i64, own: bool) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE sagas SET owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id = $4 AND state IN ('running', 'unwinding') \
             AND (owner IS NULL OR lease_until < $5 OR ($6 = 1 AND owner = $1))",
        )
        .bind(&self.owner)
        .bind(lease_until)
        .bind(now_text())
        .bind(id)
        .bind(now_ms())
        .bind(i64::from(own))
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The unfinished sagas of this service this owner could claim now, oldest first.
    pub async fn claimable(&self, own: bool) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM sagas WHERE service = $1 AND state IN ('running', 'unwinding') \
             AND (owner IS NULL OR lease_until < $2 OR ($3 = 1 AND owner = $4)) \
             ORDER BY created_at, id",
        )
        .bind(&self.service)
        .bind(now_ms())
        .bind(i64::from(own))
        .bind(&self.owner)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(|r| text(r, "id")).collect()
    }

    /// Renew the lease; false if this owner no longer holds the claim.
    pub async fn renew(&self, id: &str, lease_until: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE sagas SET lease_until = $1 WHERE id = $2 AND owner = $3 AND state IN ('running', 'unwinding')",
        )
        .bind(lease_until)
        .bind(id)
        .bind(&self.owner)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Give the claim up (at shutdown, or to retry later): another process may take the
    /// saga when `lease_until` has passed (0: at once).
    pub async fn release(&self, id: &str, lease_until: i64) -> Result<()> {
        let owner = if lease_until == 0 {
            None
        } else {
            Some(self.owner.as_str())
        };
        sqlx::query(
            "UPDATE sagas SET owner = $1, lease_until = $2, updated_at = $3 WHERE id = $4 AND owner = $5 AND state IN ('running', 'unwinding')",
        )
        .bind(owner)
        .bind(lease_until)
        .bind(now_text())
        .bind(id)
        .bind(&self.owner)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Record steps' progress (several steps at once: one done and the next started)
    /// and/or a new saga state, in one transaction, if this owner still holds the claim
    /// (false if not: nothing was written). A terminal state drops the claim.
    pub async fn record(
        &self,
        id: &str,
        lease_until: i64,
        steps: &[StepWrite<'_>],
        state: Option<(SagaState, Option<&str>)>,
    ) -> Result<bool> {
        let t = now_text();
        let mut tx = self.db.begin_write().await?;
        // The claim check comes first: it also locks the saga's row (PostgreSQL) or the
        // database (SQLite) until commit, so a competing claim waits and then fails.
        let held = match state {
            Some((s, error)) => {
                let (owner, lease) = if s.terminal() {
                    (None, 0)
                } else {
                    (Some(self.owner.as_str()), lease_until)
                };
                sqlx::query(
                    "UPDATE sagas SET state = $1, error = COALESCE($2, error), owner = $3, lease_until = $4, updated_at = $5 \
                     WHERE id = $6 AND owner = $7 AND state IN ('running', 'unwinding')",
                )
                .bind(s.as_str())
                .bind(error)
                .bind(owner)
                .bind(lease)
                .bind(&t)
                .bind(id)
                .bind(&self.owner)
                .execute(&mut *tx)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE sagas SET lease_until = $1, updated_at = $2 WHERE id = $3 AND owner = $4 AND state IN ('running', 'unwinding')",
                )
                .bind(lease_until)
                .bind(&t)
                .bind(id)
                .bind(&self.owner)
                .execute(&mut *tx)
                .await?
            }
        }
        .rows_affected()
            == 1;
        if !held {
            tx.rollback().await?;
            return Ok(false);
        }
        for w in steps {
            sqlx::query(
                "INSERT INTO saga_steps (saga_id, step, name, state, output, error, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (saga_id, step) DO UPDATE SET state = excluded.state, \
                 output = COALESCE(excluded.output, saga_steps.output), error = excluded.error, updated_at = excluded.updated_at",
            )
            .bind(id)
            .bind(step_number(w.step)?)
            .bind(w.name)
            .bind(w.state.as_str())
            .bind(w.output.map(|v| v.to_string()))
            .bind(w.error)
            .bind(&t)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A saga and its steps.
    pub async fn load(&self, id: &str) -> Result<Option<SagaRow>> {
        let Some(r) = sqlx::query("SELECT id, name, params, state, error FROM sagas WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?
        else {
            return Ok(None);
        };
        let steps = sqlx::query(
            "SELECT step, name, state, output FROM saga_steps WHERE saga_id = $1 ORDER BY step",
        )
        .bind(id)
        .fetch_all(&self.db.pool)
        .await?
        .iter()
        .map(|s| {
            Ok(StepRow {
                step: index(s.try_get::<i64, _>("step").map_err(Error::internal)?)?,
                name: text(s, "name")?,
                state: StepState::parse(&text(s, "state")?)?,
                output: opt_text(s, "output")?.as_deref().map(json).transpose()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(Some(SagaRow {
            id: text(&r, "id")?,
            name: text(&r, "name")?,
            params: json(&text(&r, "params")?)?,
            state: SagaState::parse(&text(&r, "state")?)?,
            error: opt_text(&r, "error")?,
            steps,
        }))
    }

    /// The unfinished sagas of this service (whoever runs them), oldest first.
    pub async fn unfinished(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM sagas WHERE service = $1 AND state IN ('running', 'unwinding') ORDER BY created_at, id",
        )
        .bind(&self.service)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(|r| text(r, "id")).collect()
    }
}

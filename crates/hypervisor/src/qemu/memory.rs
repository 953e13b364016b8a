//! Suspend and resume: the guest's memory saved to `suspend.state` (QMP `migrate` to
//! `exec:cat > file`, then QEMU quits) and loaded back by a QEMU started with
//! `-incoming`.

use std::time::Duration;

use serde_json::{json, Value};

use super::{files::InstanceDir, io_err, machine, qmp::Qmp, remove_file, Qemu, MIGRATE_TIMEOUT};
use crate::{Error, Result};

impl Qemu {
    /// After `-incoming`: wait for the memory to be loaded, run the guest, drop the file.
    pub(super) async fn finish_restore(
        &self,
        files: &InstanceDir,
        id: &str,
        qmp: &Qmp,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + MIGRATE_TIMEOUT;
        loop {
            let status = qmp.execute("query-status", Value::Null).await?;
            match status.get("status").and_then(Value::as_str) {
                Some("inmigrate") if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Some("inmigrate") => {
                    return Err(Error::Failed(format!(
                        "instance {id}: restoring its memory took over {MIGRATE_TIMEOUT:?}"
                    )))
                }
                Some("running") => break,
                _ => {
                    qmp.execute("cont", Value::Null).await?;
                    break;
                }
            }
        }
        remove_file(&files.saved_state())
    }

    /// Save the memory of the running guest to `suspend.state` and stop it.
    pub(super) async fn save(&self, files: &InstanceDir, id: &str) -> Result<()> {
        let status = self
            .require_status(id, &["running", "paused"], "suspend")
            .await?;
        if status == "running" {
            self.execute(id, "stop", Value::Null).await?;
        }
        let tmp = files.saved_state().with_extension("part");
        let saved = async {
            self.execute(
                id,
                "migrate-set-parameters",
                json!({ "max-bandwidth": 8u64 << 30 }),
            )
            .await?;
            let uri = format!(
                "exec:cat > {}",
                machine::shell_quote(&tmp.display().to_string())
            );
            self.execute(id, "migrate", json!({ "uri": uri })).await?;
            let deadline = tokio::time::Instant::now() + MIGRATE_TIMEOUT;
            loop {
                let m = self.execute(id, "query-migrate", Value::Null).await?;
                match m.get("status").and_then(Value::as_str) {
                    Some("completed") => break,
                    Some("failed" | "cancelled") => {
                        return Err(Error::Failed(format!(
                            "saving the memory of instance {id} failed: {}",
                            m.get("error-desc").and_then(Value::as_str).unwrap_or("?")
                        )))
                    }
                    _ if tokio::time::Instant::now() > deadline => {
                        let _ = self.execute(id, "migrate_cancel", Value::Null).await;
                        return Err(Error::Failed(format!(
                            "saving the memory of instance {id} took over {MIGRATE_TIMEOUT:?}"
                        )));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            std::fs::rename(&tmp, files.saved_state())
                .map_err(io_err(format!("cannot rename {}", tmp.display())))
        }
        .await;
        if let Err(e) = saved {
            let _ = std::fs::remove_file(&tmp);
            if status == "running" {
                let _ = self.execute(id, "cont", Value::Null).await;
            }
            return Err(e);
        }
        self.stop(id, Duration::ZERO).await;
        Ok(())
    }
}

//! What a running cloud is doing. Every `up` or `serve` process keeps a small status file
//! in `<data_dir>/run/<pid>.json` (its services, their endpoints and its background
//! work, rewritten on every change, removed at exit); `oxistack status` reads them, skips
//! processes that are gone, and asks each endpoint whether it answers.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use service::{TaskSnapshot, TaskState};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    /// Catalog type.
    pub kind: String,
    /// The public endpoint, as in the catalog.
    pub endpoint: String,
    /// The address it is bound to.
    pub listen: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusDoc {
    pub pid: u32,
    /// `up` or `serve`.
    pub mode: String,
    pub started_at: DateTime<Utc>,
    pub services: Vec<ServiceStatus>,
    pub tasks: Vec<TaskSnapshot>,
}

/// This process's status file.
pub struct StatusFile {
    path: PathBuf,
    doc: Mutex<StatusDoc>,
}

fn run_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("run")
}

impl StatusFile {
    pub fn new(data_dir: &Path, mode: &str) -> Arc<StatusFile> {
        let pid = std::process::id();
        Arc::new(StatusFile {
            path: run_dir(data_dir).join(format!("{pid}.json")),
            doc: Mutex::new(StatusDoc {
                pid,
                mode: mode.into(),
                started_at: Utc::now(),
                services: Vec::new(),
                tasks: Vec::new(),
            }),
        })
    }

    pub fn set_services(&self, services: Vec<ServiceStatus>) {
        self.update(|d| d.services = services);
    }

    /// Record a task's new state.
    pub fn task(&self, t: &TaskSnapshot) {
        self.update(|d| match d.tasks.iter_mut().find(|x| x.name == t.name) {
            Some(x) => *x = t.clone(),
            None => d.tasks.push(t.clone()),
        });
    }

    fn update(&self, f: impl FnOnce(&mut StatusDoc)) {
        let mut doc = self.doc.lock().expect("status poisoned");
        f(&mut doc);
        if let Err(e) = self.write(&doc) {
            tracing::warn!("cannot write the status file {}: {e}", self.path.display());
        }
    }

    fn write(&self, doc: &StatusDoc) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(doc).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, &self.path)
    }
}

impl Drop for StatusFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The status documents of the processes that still run on `data_dir`.
pub fn running(data_dir: &Path) -> Vec<StatusDoc> {
    let Ok(entries) = std::fs::read_dir(run_dir(data_dir)) else {
        return Vec::new();
    };
    let mut docs: Vec<StatusDoc> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            if path.extension()? != "json" {
                return None;
            }
            let doc: StatusDoc = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
            // a process that died without cleaning up leaves its file behind
            Path::new(&format!("/proc/{}", doc.pid))
                .exists()
                .then_some(doc)
        })
        .collect();
    docs.sort_by_key(|d| d.started_at);
    docs
}

fn human(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Whether an endpoint answers, and how fast: any answer below 500 counts as up.
async fn probe(http: &reqwest::Client, url: &str) -> (bool, String) {
    let t = Instant::now();
    match http.get(url).send().await {
        Ok(r) if r.status().as_u16() < 500 => (
            true,
            format!("up ({:.1} ms)", t.elapsed().as_secs_f64() * 1e3),
        ),
        Ok(r) => (false, format!("DOWN: it answers {}", r.status())),
        Err(e) => (false, format!("DOWN: {e}")),
    }
}

/// `oxistack status`: print every process of the cloud on `data_dir`, its services and
/// their health, and its background work. Returns whether everything is up.
pub async fn show(data_dir: &Path) -> anyhow::Result<bool> {
    let docs = running(data_dir);
    if docs.is_empty() {
        println!(
            "No oxistack is running on {}. Start one with `oxistack up`{}.",
            data_dir.display(),
            if data_dir == crate::config::default_data_dir() {
                String::new()
            } else {
                format!(" --data-dir {}", data_dir.display())
            }
        );
        return Ok(false);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?;
    let mut all_up = true;
    for doc in docs {
        let age = (Utc::now() - doc.started_at)
            .num_seconds()
            .max(0)
            .unsigned_abs();
        println!(
            "oxistack {} (pid {}), running for {}",
            doc.mode,
            doc.pid,
            human(age)
        );
        println!(
            "  {:<10} {:<10} {:<32} health",
            "service", "type", "endpoint"
        );
        for s in &doc.services {
            let (up, health) = probe(&http, &s.endpoint).await;
            all_up &= up;
            println!(
                "  {:<10} {:<10} {:<32} {health}",
                s.name, s.kind, s.endpoint
            );
        }
        if doc.tasks.is_empty() {
            println!("  no background work");
        } else {
            println!("  background work:");
            for t in &doc.tasks {
                let state = match t.state {
                    // the file changes only with the task: its age is now's business
                    TaskState::Running => format!(
                        "running for {}",
                        human(
                            (Utc::now() - t.started_at)
                                .num_seconds()
                                .max(0)
                                .unsigned_abs()
                        )
                    ),
                    TaskState::Done => format!("done in {}", human(t.seconds)),
                    TaskState::Failed => format!("FAILED after {}", human(t.seconds)),
                };
                println!("    {:<12} {state}: {}", t.name, t.message);
            }
        }
    }
    Ok(all_up)
}

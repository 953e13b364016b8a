//! The daemons the dataplane runs inside namespaces (dnsmasq per DHCP namespace, radvd
//! per router namespace): each runs in the foreground as a child of the dataplane (`ip
//! netns exec`); after an agent restart it is found again by its pid file and command
//! line, which names its configuration file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokio::process::{Child, Command};

use crate::Error;

/// One daemon: what starts it and the files that tell it is running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Daemon {
    /// The program, e.g. `dnsmasq`.
    pub program: &'static str,
    /// The namespace it runs in.
    pub namespace: String,
    /// Its arguments; they name [`Daemon::conf`].
    pub args: Vec<String>,
    /// Its configuration file (it also identifies the daemon).
    pub conf: PathBuf,
    /// The pid file it writes.
    pub pid: PathBuf,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Daemon {
    fn key(&self) -> String {
        self.conf.display().to_string()
    }
}

/// Write `content` to `path` unless it already holds it; true when written.
pub fn write_if_changed(path: &Path, content: &str) -> Result<bool, Error> {
    match std::fs::read_to_string(path) {
        Ok(old) if old == content => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
    }
    std::fs::write(path, content).map_err(Error::io(format!("writing {}", path.display())))?;
    Ok(true)
}

/// The daemons the dataplane started, by configuration file.
#[derive(Default)]
pub struct Supervisor {
    children: BTreeMap<String, Child>,
}

fn pid_alive_with(pid: i32, needle: &str) -> bool {
    // no such process: not running
    let (Ok(stat), Ok(cmdline)) = (
        std::fs::read_to_string(format!("/proc/{pid}/stat")),
        std::fs::read(format!("/proc/{pid}/cmdline")),
    ) else {
        return false;
    };
    // the state follows the parenthesized command name; a zombie is not running
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    !zombie && String::from_utf8_lossy(&cmdline).contains(needle)
}

impl Supervisor {
    /// The pid of the daemon, if it runs.
    pub fn running(&mut self, d: &Daemon) -> Option<i32> {
        let key = d.key();
        if let Some(child) = self.children.get_mut(&key) {
            match child.try_wait() {
                Ok(None) => return child.id().and_then(|p| i32::try_from(p).ok()),
                _ => {
                    self.children.remove(&key);
                }
            }
        }
        // started by an earlier agent: its pid file and command line tell
        let pid: i32 = std::fs::read_to_string(&d.pid).ok()?.trim().parse().ok()?;
        pid_alive_with(pid, &key).then_some(pid)
    }

    /// Start the daemon in its namespace.
    pub fn start(&mut self, d: &Daemon) -> Result<(), Error> {
        let log = std::fs::File::create(&d.log)
            .map_err(Error::io(format!("creating {}", d.log.display())))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &d.namespace, d.program])
            .args(&d.args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(Error::io(format!(
                "starting {} in {}",
                d.program, d.namespace
            )))?;
        self.children.insert(d.key(), child);
        Ok(())
    }

    /// Make a running daemon re-read its files (SIGHUP).
    pub fn reload(pid: i32) -> Result<(), Error> {
        signal(pid, rustix::process::Signal::HUP)
    }

    /// Stop the daemon, waiting for it to exit.
    pub async fn stop(&mut self, d: &Daemon) -> Result<(), Error> {
        let Some(pid) = self.running(d) else {
            return Ok(());
        };
        signal(pid, rustix::process::Signal::TERM)?;
        if let Some(mut child) = self.children.remove(&d.key()) {
            child
                .wait()
                .await
                .map_err(Error::io(format!("waiting for {}", d.program)))?;
        } else {
            let needle = d.key();
            for _ in 0..100 {
                if !pid_alive_with(pid, &needle) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }
}

fn signal(pid: i32, sig: rustix::process::Signal) -> Result<(), Error> {
    let pid =
        rustix::process::Pid::from_raw(pid).ok_or_else(|| Error::Plan(format!("bad pid {pid}")))?;
    rustix::process::kill_process(pid, sig).map_err(|e| Error::Io {
        what: format!("signalling {pid:?}"),
        source: e.into(),
    })
}

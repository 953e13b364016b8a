//! A guest's QEMU process as seen from `/proc`: found again from its pid file by a
//! process that did not start it, and told apart from an unrelated process that got
//! the same pid (its command line must carry the guest's UUID).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use rustix::process::{kill_process, Pid, Signal};

/// The pid in a pid file, if there is one that parses.
pub(crate) fn read_pid(pid_file: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// Whether `pid` is a live (not zombie) QEMU of the guest `uuid`.
pub(crate) fn is_guest(pid: i32, uuid: &str) -> bool {
    let proc = Path::new("/proc").join(pid.to_string());
    let Ok(stat) = std::fs::read_to_string(proc.join("stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    if matches!(state, Some("Z" | "X" | "x") | None) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(proc.join("cmdline")) else {
        return false;
    };
    cmdline.split(|b| *b == 0).any(|arg| arg == uuid.as_bytes())
}

/// The live QEMU of guest `uuid` according to its pid file.
pub(crate) fn find(pid_file: &Path, uuid: &str) -> Option<i32> {
    read_pid(pid_file).filter(|pid| is_guest(*pid, uuid))
}

/// Send SIGKILL (nothing when the process is gone).
pub(crate) fn kill(pid: i32) {
    if let Some(p) = Pid::from_raw(pid) {
        let _ = kill_process(p, Signal::KILL);
    }
}

/// Waits until `alive` turns false, at most `timeout`; whether it did.
pub(crate) async fn wait_until_gone(timeout: Duration, alive: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !alive() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_is_a_guest_only_with_its_uuid_on_the_command_line() {
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(!is_guest(me, "0f6a4c9e-2b7d-4d8e-9a51-3c0d2e7f8a10"));
        assert!(!is_guest(i32::MAX, "x"));
        let own = std::env::args().next().unwrap();
        assert!(is_guest(me, &own));
    }

    #[test]
    fn pid_files() {
        let p = std::env::temp_dir().join(format!("oxi-pid-{}", std::process::id()));
        std::fs::write(&p, "1234\n").unwrap();
        assert_eq!(read_pid(&p), Some(1234));
        std::fs::write(&p, "junk").unwrap();
        assert_eq!(read_pid(&p), None);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(read_pid(&p), None);
    }
}

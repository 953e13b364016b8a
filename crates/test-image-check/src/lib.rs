//! oxistack's test guest image (what CirrOS is for OpenStack): build it with
//! `images/build-test-image.sh` and find its files.
//!
//! The boot tests live in `tests/boot.rs`. Other end-to-end tests may use
//! [`build_once`] to get the image and [`serial_value`] to read what the guest
//! printed on its serial console.

pub mod sandbox;
pub mod timing;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The line the guest prints on its serial console when it has finished booting.
pub const READY_MARKER: &str = "OXISTACK-TEST-IMAGE-READY";

/// The prefix of the guest's `key=value` status lines on the serial console.
pub const LINE_PREFIX: &str = "oxistack-test-image: ";

/// The kernel command line that puts the console on the first serial port.
pub const KERNEL_CMDLINE: &str = "console=ttyS0,115200";

/// Environment variable that overrides where the image is built.
pub const OUT_DIR_ENV: &str = "OXISTACK_TEST_IMAGE_DIR";

/// How long the builder may take (a first run may install Debian packages).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// The files the builder produces.
#[derive(Debug, Clone)]
pub struct Artifacts {
    pub dir: PathBuf,
    pub vmlinuz: PathBuf,
    pub initramfs: PathBuf,
    pub qcow2: PathBuf,
    pub manifest: PathBuf,
}

impl Artifacts {
    fn in_dir(dir: &Path) -> Artifacts {
        Artifacts {
            dir: dir.to_path_buf(),
            vmlinuz: dir.join("vmlinuz"),
            initramfs: dir.join("initramfs"),
            qcow2: dir.join("test-image.qcow2"),
            manifest: dir.join("manifest.json"),
        }
    }
}

/// The root of the oxistack workspace: that of the crate whose tests run (cargo and
/// nextest set `CARGO_MANIFEST_DIR` for them), else of this crate's build. At run time
/// first: a test binary a shared target directory kept from another checkout must not
/// reach into that checkout.
pub fn workspace_root() -> PathBuf {
    let here = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or(here)
}

/// `$OXISTACK_TEST_IMAGE_DIR`, else `<workspace>/images/out`.
pub fn default_out_dir() -> PathBuf {
    match std::env::var_os(OUT_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("images").join("out"),
    }
}

/// Runs the builder into `out_dir` (instant when nothing changed).
pub fn build(out_dir: &Path) -> Result<Artifacts, String> {
    let script = workspace_root().join("images").join("build-test-image.sh");
    let out = run_with_timeout(
        Command::new("bash").arg(&script).arg(out_dir),
        BUILD_TIMEOUT,
    )
    .map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed ({}):\n{}{}",
            script.display(),
            out_dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let artifacts = Artifacts::in_dir(out_dir);
    for f in [
        &artifacts.vmlinuz,
        &artifacts.initramfs,
        &artifacts.qcow2,
        &artifacts.manifest,
    ] {
        match std::fs::metadata(f) {
            Ok(m) if m.len() > 0 => {}
            _ => return Err(format!("the builder did not produce {}", f.display())),
        }
    }
    Ok(artifacts)
}

/// Builds into [`default_out_dir`] once per process; later calls share the result.
pub fn build_once() -> Result<&'static Artifacts, String> {
    static BUILT: OnceLock<Result<Artifacts, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build(&default_out_dir()))
        .as_ref()
        .map_err(Clone::clone)
}

/// The value of the last `oxistack-test-image: KEY=VALUE` line in a serial log.
pub fn serial_value(log: &str, key: &str) -> Option<String> {
    log.lines()
        .filter_map(|line| {
            let line = line.trim_end_matches('\r');
            let rest = &line[line.find(LINE_PREFIX)? + LINE_PREFIX.len()..];
            let value = rest.strip_prefix(key)?.strip_prefix('=')?;
            Some(value.trim().to_string())
        })
        .next_back()
}

/// Whether the serial log holds the READY marker on a line of its own.
pub fn is_ready(log: &str) -> bool {
    log.lines()
        .any(|line| line.trim_end_matches('\r').trim() == READY_MARKER)
}

/// Runs a command to completion, killing it after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_with_deadline(&mut child, timeout);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(format!(
            "{cmd:?} did not finish within {timeout:?}; output so far:\n{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )),
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

/// Waits for `child` at most `timeout`; kills it (and returns None) past that.
fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "[    2.1] Run /init as init process\r\n\
        oxistack-test-image: booting (kernel 6.1.0-48-amd64)\r\n\
        oxistack-test-image: ip=10.90.0.23\r\n\
        oxistack-test-image: hostname=vm-1\r\n\
        OXISTACK-TEST-IMAGE-READY\r\n";

    #[test]
    fn reads_status_lines() {
        assert_eq!(serial_value(LOG, "ip").as_deref(), Some("10.90.0.23"));
        assert_eq!(serial_value(LOG, "hostname").as_deref(), Some("vm-1"));
        assert_eq!(serial_value(LOG, "host"), None);
        assert_eq!(serial_value(LOG, "metadata"), None);
    }

    #[test]
    fn ready_needs_the_whole_line() {
        assert!(is_ready(LOG));
        assert!(!is_ready("echo OXISTACK-TEST-IMAGE-READY\n"));
        assert!(!is_ready("oxistack-test-image: ip=none\n"));
    }

    #[test]
    fn timeout_kills() {
        let err = run_with_timeout(Command::new("sleep").arg("5"), Duration::from_millis(200))
            .unwrap_err();
        assert!(err.contains("did not finish"), "{err}");
        let out = run_with_timeout(Command::new("echo").arg("hi"), Duration::from_secs(5)).unwrap();
        assert_eq!(out.stdout, b"hi\n");
    }
}

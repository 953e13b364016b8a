//! Whether KVM works here, and what QEMU this is.
//!
//! `/dev/kvm` being there is not enough: under a nested PVM KVM a stock Linux guest
//! hangs before it prints a line (while SeaBIOS runs fine, so a firmware-only boot
//! proves nothing). The probe therefore boots a real Linux kernel under KVM with the
//! CPU the guests get (`-cpu host`), no disk and `panic=-1` with `-no-reboot`: a
//! working KVM runs it to its "VFS: Unable to mount root fs" panic, after which QEMU
//! exits by itself, in about a second. KVM counts as working when that happens
//! within the timeout and the console shows the kernel's panic; a hang, a QEMU error
//! or an abort (`-cpu host` on an MSR) means TCG.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::process::Command;

/// What the probe found, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KvmProbe {
    Works(Duration),
    Fails(String),
}

/// The newest `/boot/vmlinuz-*`, the default probe kernel.
pub(crate) fn host_kernel() -> Option<PathBuf> {
    let mut kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    kernels.sort();
    kernels.pop()
}

/// Boot `kernel` under KVM once (see the module's doc).
pub(crate) async fn kvm(qemu: &Path, kernel: Option<&Path>, timeout: Duration) -> KvmProbe {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return KvmProbe::Fails(format!("cannot open /dev/kvm: {e}"));
    }
    let Some(kernel) = kernel else {
        return KvmProbe::Fails("no kernel to probe KVM with (no /boot/vmlinuz-*)".into());
    };
    let log = std::env::temp_dir().join(format!(
        "oxistack-kvm-probe-{}-{}.log",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let started = Instant::now();
    let child = Command::new(qemu)
        .args(["-accel", "kvm", "-cpu", "host", "-m", "128", "-smp", "1"])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .args(["-no-reboot", "-kernel"])
        .arg(kernel)
        .args(["-append", "console=ttyS0 panic=-1 quiet loglevel=3"])
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return KvmProbe::Fails(format!("cannot run {}: {e}", qemu.display())),
    };
    let status = tokio::time::timeout(timeout, child.wait()).await;
    let console = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    match status {
        Err(_) => {
            let _ = child.kill().await;
            KvmProbe::Fails(format!(
                "a Linux guest under KVM did not reach its panic within {timeout:?}"
            ))
        }
        Ok(Err(e)) => KvmProbe::Fails(format!("waiting for the probe: {e}")),
        Ok(Ok(_)) if console.contains("Kernel panic") => KvmProbe::Works(started.elapsed()),
        Ok(Ok(status)) => {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = e.read_to_string(&mut stderr).await;
            }
            KvmProbe::Fails(format!(
                "the probe guest exited ({status}) without its panic: {}",
                stderr.trim()
            ))
        }
    }
}

/// `QEMU emulator version 7.2.22 (Debian ...)` -> 7_002_022, as Nova encodes versions.
pub(crate) fn parse_version(out: &str) -> Option<u64> {
    let v = out.split("version ").nth(1)?.split_whitespace().next()?;
    let mut parts = v.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u64>()
    });
    let major = parts.next()?.ok()?;
    let minor = parts.next().and_then(|p| p.ok()).unwrap_or(0);
    let micro = parts.next().and_then(|p| p.ok()).unwrap_or(0);
    Some(major * 1_000_000 + minor * 1000 + micro)
}

/// `qemu-system-x86_64 --version`, encoded.
pub(crate) async fn version(qemu: &Path) -> Result<u64, String> {
    let out = Command::new(qemu)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", qemu.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| format!("{} --version said {text:?}", qemu.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_encode_as_nova_does() {
        assert_eq!(
            parse_version(
                "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright"
            ),
            Some(7_002_022)
        );
        assert_eq!(
            parse_version("QEMU emulator version 9.1.0\n"),
            Some(9_001_000)
        );
        assert_eq!(
            parse_version("QEMU emulator version 8.2.50rc1"),
            Some(8_002_050)
        );
        assert_eq!(parse_version("nonsense"), None);
    }
}

//! The cloud's own test image (see `images/README.md`): its builder is compiled into the
//! binary, so `oxistack up` can make the image on any machine and register it as
//! `cirros`.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context;

const SCRIPT: &str = include_str!("../../../images/build-test-image.sh");
const GUEST: &[(&str, &str)] = &[
    ("rcS", include_str!("../../../images/guest/rcS")),
    (
        "udhcpc.script",
        include_str!("../../../images/guest/udhcpc.script"),
    ),
    ("json.awk", include_str!("../../../images/guest/json.awk")),
];

/// Build the image into `out` (instant when it is already there and current) and return
/// the path of its qcow2 disk.
pub async fn build(src: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(src.join("guest"))
        .with_context(|| format!("cannot create {}", src.display()))?;
    std::fs::write(src.join("build-test-image.sh"), SCRIPT)?;
    for (name, text) in GUEST {
        std::fs::write(src.join("guest").join(name), text)?;
    }
    let run = tokio::process::Command::new("bash")
        .arg(src.join("build-test-image.sh"))
        .arg(out)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(900), run)
        .await
        .context("the test image builder took more than 15 minutes")??;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        anyhow::bail!(
            "the test image builder failed ({}):\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(out.join("test-image.qcow2"))
}

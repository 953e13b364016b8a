//! The cloud's own test image (see `images/README.md`): its builder is compiled into the
//! binary, so `oxistack up` can make the image on any machine and register it as
//! `cirros`.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context;
use service::Progress;
use tokio::io::{AsyncBufReadExt, BufReader};

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
/// the path of its qcow2 disk. The builder's own log lines become the task's progress.
pub async fn build(src: &Path, out: &Path, progress: &Progress) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(src.join("guest"))
        .with_context(|| format!("cannot create {}", src.display()))?;
    std::fs::write(src.join("build-test-image.sh"), SCRIPT)?;
    for (name, text) in GUEST {
        std::fs::write(src.join("guest").join(name), text)?;
    }
    progress.set("building the test image (the first time, Debian packages are installed)");
    let mut child = tokio::process::Command::new("bash")
        .arg(src.join("build-test-image.sh"))
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run the test image builder")?;
    let stderr = child.stderr.take().context("the builder's stderr")?;
    let run = async {
        let mut lines = BufReader::new(stderr).lines();
        let mut tail = std::collections::VecDeque::new();
        while let Some(line) = lines.next_line().await? {
            if let Some(msg) = line.strip_prefix("build-test-image: ") {
                progress.set(format!("test image: {msg}"));
            }
            if tail.len() == 15 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        let status = child.wait().await?;
        anyhow::Ok((status, tail))
    };
    let (status, tail) = tokio::time::timeout(Duration::from_secs(900), run)
        .await
        .context("the test image builder took more than 15 minutes")??;
    if !status.success() {
        anyhow::bail!(
            "the test image builder failed ({status}):\n{}",
            Vec::from(tail).join("\n")
        );
    }
    Ok(out.join("test-image.qcow2"))
}

//! Running the tools that have no netlink API here (nft, tc, bridge fdb with `dst`,
//! `ip netns`): one place that turns a non-zero exit into [`Error::Command`].

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::Error;

/// Run `program args...`, feeding `stdin` when given; returns its standard output.
pub async fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, Error> {
    let command = || format!("{program} {}", args.join(" "));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(Error::io(format!("starting {}", command())))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .map_err(Error::io(format!("writing to {}", command())))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(Error::io(format!("waiting for {}", command())))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: command(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

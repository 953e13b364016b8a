//! The host programs the Linux dataplane runs (dnsmasq, radvd, nft, ip, bridge, tc), installed
//! from Debian's packages when missing, so `oxistack up` on a fresh machine wires its
//! networks without a manual step.

use std::process::Stdio;

use anyhow::Context as _;
use tokio::process::Command;

/// Each program and the Debian package that brings it.
const TOOLS: &[(&str, &str)] = &[
    ("dnsmasq", "dnsmasq-base"),
    ("radvd", "radvd"),
    ("nft", "nftables"),
    ("ip", "iproute2"),
    ("bridge", "iproute2"),
    ("tc", "iproute2"),
];

async fn found(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn apt(args: &[&str]) -> anyhow::Result<bool> {
    Ok(Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .context("cannot run apt-get")?
        .success())
}

/// Install the packages of the programs that are missing; `Ok(())` when all are there.
pub async fn ensure(say: impl Fn(String)) -> anyhow::Result<()> {
    let mut packages = Vec::new();
    for (program, package) in TOOLS {
        if !found(program).await && !packages.contains(package) {
            packages.push(*package);
        }
    }
    if packages.is_empty() {
        return Ok(());
    }
    if !rustix::process::geteuid().is_root() {
        anyhow::bail!(
            "the network agent needs {} (as root: apt-get install {})",
            packages.join(", "),
            packages.join(" ")
        );
    }
    say(format!(
        "installing {} (Debian packages)",
        packages.join(" ")
    ));
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(&packages);
    if !apt(&args).await? {
        apt(&["update"]).await?;
        if !apt(&args).await? {
            anyhow::bail!("apt-get install {} failed", packages.join(" "));
        }
    }
    Ok(())
}

//! VXLAN forwarding entries (l2population): one all-zero entry per peer VTEP (flooding
//! of broadcast and unknown unicast) and one per remote port MAC.
//!
//! rtnetlink's neighbour API cannot append a second entry for the same MAC (it sends
//! `NLM_F_EXCL` or `NLM_F_REPLACE`, never `NLM_F_APPEND`), which the all-zero flood
//! entries need, so this shells out to `bridge fdb append/del` and reads entries back
//! with `bridge -j fdb show`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Deserialize;

use super::cmd;
use crate::Error;

/// The flooding MAC.
pub const FLOOD: &str = "00:00:00:00:00:00";

#[derive(Deserialize)]
struct Entry {
    mac: String,
    dst: Option<IpAddr>,
}

/// The (MAC, VTEP) entries of a VXLAN device.
pub async fn read(device: &str) -> Result<BTreeSet<(String, IpAddr)>, Error> {
    let json = cmd::run("bridge", &["-j", "fdb", "show", "dev", device], None).await?;
    let entries: Vec<Entry> = serde_json::from_str(&json).map_err(|source| Error::Parse {
        what: format!("bridge -j fdb show dev {device}"),
        source,
    })?;
    Ok(entries
        .into_iter()
        .filter_map(|e| e.dst.map(|d| (e.mac.to_lowercase(), d)))
        .collect())
}

/// Make the device's entries exactly `desired`; returns what changed.
pub async fn reconcile(
    device: &str,
    desired: &BTreeSet<(String, IpAddr)>,
) -> Result<Vec<String>, Error> {
    let present = read(device).await?;
    let mut changes = Vec::new();
    for (mac, dst) in desired.difference(&present) {
        let dst_s = dst.to_string();
        cmd::run(
            "bridge",
            &["fdb", "append", mac, "dev", device, "dst", &dst_s],
            None,
        )
        .await?;
        changes.push(format!("added fdb {mac} dst {dst} on {device}"));
    }
    for (mac, dst) in present.difference(desired) {
        let dst_s = dst.to_string();
        cmd::run(
            "bridge",
            &["fdb", "del", mac, "dev", device, "dst", &dst_s],
            None,
        )
        .await?;
        changes.push(format!("removed fdb {mac} dst {dst} on {device}"));
    }
    Ok(changes)
}

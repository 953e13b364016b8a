//! Bandwidth limits with tc (rtnetlink's tc API has no tbf or mirred, so this uses
//! `tc`). The VM's ingress is the tap's egress: a root tbf on the tap. The VM's egress
//! is the tap's ingress: this kernel has no police action, so an ingress qdisc with a
//! match-all u32 filter redirects (mirred) to the port's ifb device
//! ([`crate::names::ifb`], created by the caller), whose root tbf shapes it. Reads back with `tc -j`; what was applied is kept in
//! `<state dir>/qos/<tap>.json`, so a changed limit or a recreated tap is reapplied and
//! an unchanged one is left alone.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::cmd;
use crate::plan::QosPlan;
use crate::Error;

#[derive(Deserialize)]
struct Qdisc {
    kind: String,
    #[serde(default)]
    root: bool,
}

#[derive(Deserialize)]
struct Filter {
    options: Option<FilterOptions>,
}

#[derive(Deserialize)]
struct FilterOptions {
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Deserialize)]
struct Action {
    kind: String,
    to_dev: Option<String>,
}

fn state(dir: &Path, tap: &str) -> PathBuf {
    dir.join("qos").join(format!("{tap}.json"))
}

/// The burst in bytes: the plan's, or 80% of one second at the rate.
pub fn burst_bytes(q: &QosPlan) -> u64 {
    let kbit = if q.max_burst_kbps == 0 {
        q.max_kbps * 8 / 10
    } else {
        q.max_burst_kbps
    };
    (kbit * 1000 / 8).max(2000)
}

/// Whether `dev` has a root tbf.
async fn has_tbf(dev: &str) -> Result<bool, Error> {
    let json = cmd::run("tc", &["-j", "qdisc", "show", "dev", dev], None).await?;
    let qdiscs: Vec<Qdisc> = serde_json::from_str(&json).map_err(|source| Error::Parse {
        what: "tc -j qdisc show".into(),
        source,
    })?;
    Ok(qdiscs.iter().any(|q| q.root && q.kind == "tbf"))
}

/// (root tbf on the tap, ingress qdisc on the tap, redirect of its ingress to `ifb`)
async fn read(tap: &str, ifb: &str) -> Result<(bool, bool, bool), Error> {
    let parse = |what: &str| {
        let what = what.to_owned();
        move |source| Error::Parse { what, source }
    };
    let json = cmd::run("tc", &["-j", "qdisc", "show", "dev", tap], None).await?;
    let qdiscs: Vec<Qdisc> = serde_json::from_str(&json).map_err(parse("tc -j qdisc show"))?;
    let tbf = qdiscs.iter().any(|q| q.root && q.kind == "tbf");
    let ingress = qdiscs.iter().any(|q| q.kind == "ingress");
    let redirect = if ingress {
        let json = cmd::run("tc", &["-j", "filter", "show", "dev", tap, "ingress"], None).await?;
        let filters: Vec<Filter> =
            serde_json::from_str(&json).map_err(parse("tc -j filter show"))?;
        filters
            .iter()
            .flat_map(|f| f.options.iter().flat_map(|o| o.actions.iter()))
            .any(|a| a.kind == "mirred" && a.to_dev.as_deref() == Some(ifb))
    } else {
        false
    };
    Ok((tbf, ingress, redirect))
}

/// The tc commands (arguments) setting `q` on `tap` and its ifb device (pure).
pub fn commands(tap: &str, ifb: &str, q: &QosPlan) -> Vec<Vec<String>> {
    let rate = format!("{}kbit", q.max_kbps);
    let burst = burst_bytes(q).to_string();
    let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    vec![
        words(&format!("qdisc replace dev {tap} root tbf rate {rate} burst {burst} latency 50ms")),
        words(&format!("qdisc replace dev {ifb} root tbf rate {rate} burst {burst} latency 50ms")),
        words(&format!("qdisc replace dev {tap} handle ffff: ingress")),
        words(&format!(
            "filter replace dev {tap} parent ffff: protocol all prio 49 handle 800::800 u32 match u32 0 0 action mirred egress redirect dev {ifb}"
        )),
    ]
}

/// Make the tap's shaping match `qos`; returns what changed.
pub async fn reconcile(
    state_dir: &Path,
    tap: &str,
    ifb: &str,
    qos: Option<&QosPlan>,
) -> Result<Vec<String>, Error> {
    let path = state(state_dir, tap);
    // no record, or an unreadable one: the limit is (re)applied
    let saved: Option<QosPlan> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).ok(),
        Err(_) => None,
    };
    if qos.is_none() && saved.is_none() {
        // never shaped by us: nothing to read or remove
        return Ok(Vec::new());
    }
    let (tbf, ingress, redirect) = read(tap, ifb).await?;
    match qos {
        Some(q) => {
            if tbf && redirect && saved.as_ref() == Some(q) && has_tbf(ifb).await? {
                return Ok(Vec::new());
            }
            for args in commands(tap, ifb, q) {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                cmd::run("tc", &args, None).await?;
            }
            let dir = state_dir.join("qos");
            std::fs::create_dir_all(&dir)
                .map_err(Error::io(format!("creating {}", dir.display())))?;
            let text = serde_json::to_string(q).map_err(|source| Error::Parse {
                what: "qos state".into(),
                source,
            })?;
            std::fs::write(&path, text)
                .map_err(Error::io(format!("writing {}", path.display())))?;
            Ok(vec![format!("set qos {} kbit/s on {tap}", q.max_kbps)])
        }
        None => {
            let mut changes = Vec::new();
            if tbf && saved.is_some() {
                cmd::run("tc", &["qdisc", "del", "dev", tap, "root"], None).await?;
                changes.push(format!("removed qos from {tap}"));
            }
            if ingress && saved.is_some() {
                cmd::run("tc", &["qdisc", "del", "dev", tap, "ingress"], None).await?;
            }
            if saved.is_some() {
                std::fs::remove_file(&path)
                    .map_err(Error::io(format!("removing {}", path.display())))?;
            }
            Ok(changes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_render() {
        let q = QosPlan {
            max_kbps: 8000,
            max_burst_kbps: 0,
        };
        assert_eq!(burst_bytes(&q), 800_000);
        let c = commands("tapx", "ifbx", &q);
        assert_eq!(
            c[0].join(" "),
            "qdisc replace dev tapx root tbf rate 8000kbit burst 800000 latency 50ms"
        );
        assert_eq!(
            c[1].join(" "),
            "qdisc replace dev ifbx root tbf rate 8000kbit burst 800000 latency 50ms"
        );
        assert!(c[3]
            .join(" ")
            .ends_with("action mirred egress redirect dev ifbx"));
    }
}

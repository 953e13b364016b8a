//! nftables as a set of chains, reconciled chain by chain in one atomic transaction.
//!
//! The desired ruleset is a list of [`Chain`]s. Every chain's first rule is a counter
//! carrying `comment "h:<hash of the chain>"`; reading the tables back
//! (`nft -j list table`) gives each chain's first comment and rule count, so a chain is
//! rewritten only when its content changed or someone edited it by hand (a rule
//! deleted: the count differs). All rewrites, creations and deletions go to one
//! `nft -f -` run: the kernel applies it as one transaction, so a port's traffic never
//! sees a half-written chain, and chains that did not change are not touched at all
//! (connection tracking state lives outside the rules, so established flows survive a
//! rewrite too).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::cmd;
use crate::Error;

/// The address family of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// `bridge`: sees frames on bridge ports (anti-spoofing, marking by tap).
    Bridge,
    /// `inet`: IPv4 and IPv6, with connection tracking (the security groups proper).
    Inet,
    /// `ip`: IPv4 only (a router's NAT).
    Ip,
}

/// The families of the host's tables.
pub const HOST: &[Family] = &[Family::Bridge, Family::Inet];

impl Family {
    /// The word nft uses.
    pub fn word(self) -> &'static str {
        match self {
            Family::Bridge => "bridge",
            Family::Inet => "inet",
            Family::Ip => "ip",
        }
    }

    fn of(word: &str) -> Option<Family> {
        match word {
            "bridge" => Some(Family::Bridge),
            "inet" => Some(Family::Inet),
            "ip" => Some(Family::Ip),
            _ => None,
        }
    }
}

/// One desired chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Its table's family (the table is named by the dataplane's owner tag).
    pub family: Family,
    /// Its name.
    pub name: String,
    /// For a base chain, its spec: `type filter hook forward priority 0; policy accept;`.
    pub base: Option<String>,
    /// Its rules in order, without the leading hash counter.
    pub rules: Vec<String>,
}

impl Chain {
    /// The hash put in the chain's first rule.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.base.as_deref().unwrap_or("").as_bytes());
        for rule in &self.rules {
            h.update(b"\n");
            h.update(rule.as_bytes());
        }
        hex::encode(h.finalize())[..16].to_owned()
    }
}

/// What a chain in the kernel looks like, as far as reconciling needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Present {
    /// Number of rules.
    pub rules: usize,
    /// The first rule's comment.
    pub first_comment: Option<String>,
}

/// The chains of the dataplane's tables now in the kernel, by (family, name).
pub type Existing = BTreeMap<(Family, String), Present>;

/// The transaction turning `existing` into `desired` (`None` when nothing differs), and
/// the changes it makes, readable.
pub fn transaction(
    table: &str,
    desired: &[Chain],
    existing: &Existing,
) -> Option<(String, Vec<String>)> {
    let mut script = String::new();
    let mut changes = Vec::new();
    let mut fill = String::new();
    for family in desired.iter().map(|c| c.family).collect::<BTreeSet<_>>() {
        script.push_str(&format!("add table {} {table}\n", family.word()));
    }
    for chain in desired {
        let hash = format!("h:{}", chain.hash());
        let key = (chain.family, chain.name.clone());
        let f = chain.family.word();
        let name = &chain.name;
        match existing.get(&key) {
            Some(p)
                if p.rules == chain.rules.len() + 1
                    && p.first_comment.as_deref() == Some(hash.as_str()) =>
            {
                continue
            }
            Some(_) => changes.push(format!("rewrote nft chain {f} {name}")),
            None => changes.push(format!("created nft chain {f} {name}")),
        }
        match &chain.base {
            Some(spec) => script.push_str(&format!("add chain {f} {table} {name} {{ {spec} }}\n")),
            None => script.push_str(&format!("add chain {f} {table} {name}\n")),
        }
        fill.push_str(&format!("flush chain {f} {table} {name}\n"));
        fill.push_str(&format!(
            "add rule {f} {table} {name} counter comment \"{hash}\"\n"
        ));
        for rule in &chain.rules {
            fill.push_str(&format!("add rule {f} {table} {name} {rule}\n"));
        }
    }
    script.push_str(&fill);
    let wanted: BTreeSet<_> = desired.iter().map(|c| (c.family, c.name.clone())).collect();
    let obsolete: Vec<_> = existing.keys().filter(|k| !wanted.contains(*k)).collect();
    // first empty them all (they may jump to each other), then delete
    for (family, name) in &obsolete {
        script.push_str(&format!("flush chain {} {table} {name}\n", family.word()));
    }
    for (family, name) in &obsolete {
        script.push_str(&format!("delete chain {} {table} {name}\n", family.word()));
        changes.push(format!("deleted nft chain {} {name}", family.word()));
    }
    if changes.is_empty() {
        None
    } else {
        Some((script, changes))
    }
}

#[derive(Deserialize)]
struct Listing {
    nftables: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct JsonChain {
    family: String,
    name: String,
}

#[derive(Deserialize)]
struct JsonRule {
    family: String,
    chain: String,
    comment: Option<String>,
}

/// Parse `nft -j list table ...` output into `into`.
pub fn parse_listing(json: &str, into: &mut Existing) -> Result<(), Error> {
    let parse = |source| Error::Parse {
        what: "nft -j list table".into(),
        source,
    };
    let listing: Listing = serde_json::from_str(json).map_err(parse)?;
    for item in listing.nftables {
        if let Some(chain) = item.get("chain") {
            let c: JsonChain = serde_json::from_value(chain.clone()).map_err(parse)?;
            if let Some(f) = Family::of(&c.family) {
                into.entry((f, c.name)).or_default();
            }
        } else if let Some(rule) = item.get("rule") {
            let r: JsonRule = serde_json::from_value(rule.clone()).map_err(parse)?;
            if let Some(f) = Family::of(&r.family) {
                let p = into.entry((f, r.chain)).or_default();
                if p.rules == 0 {
                    p.first_comment = r.comment;
                }
                p.rules += 1;
            }
        }
    }
    Ok(())
}

/// Run nft in the namespace `ns` (`None` = the current one).
async fn nft(ns: Option<&str>, args: &[&str], stdin: Option<&str>) -> Result<String, Error> {
    match ns {
        None => cmd::run("nft", args, stdin).await,
        Some(ns) => {
            let mut all = vec!["netns", "exec", ns, "nft"];
            all.extend_from_slice(args);
            cmd::run("ip", &all, stdin).await
        }
    }
}

fn missing(e: &Error) -> bool {
    matches!(e, Error::Command { stderr, .. } if stderr.contains("No such file or directory"))
}

/// Read the dataplane's tables of `families` in `ns` (a table that does not exist has
/// no chains).
pub async fn read(ns: Option<&str>, table: &str, families: &[Family]) -> Result<Existing, Error> {
    let mut existing = Existing::new();
    for family in families {
        match nft(ns, &["-j", "list", "table", family.word(), table], None).await {
            Ok(json) => parse_listing(&json, &mut existing)?,
            Err(e) if missing(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(existing)
}

/// Make the host's tables match `desired`; returns what changed.
pub async fn reconcile(table: &str, desired: &[Chain]) -> Result<Vec<String>, Error> {
    reconcile_in(None, table, HOST, desired).await
}

/// Make the tables of `families` in namespace `ns` match `desired` (chains of those
/// families only); returns what changed.
pub async fn reconcile_in(
    ns: Option<&str>,
    table: &str,
    families: &[Family],
    desired: &[Chain],
) -> Result<Vec<String>, Error> {
    let existing = read(ns, table, families).await?;
    match transaction(table, desired, &existing) {
        None => Ok(Vec::new()),
        Some((script, changes)) => {
            nft(ns, &["-f", "-"], Some(&script)).await?;
            Ok(changes)
        }
    }
}

/// Delete the host's tables.
pub async fn delete_tables(table: &str) -> Result<(), Error> {
    for family in HOST {
        match nft(None, &["delete", "table", family.word(), table], None).await {
            Ok(_) => {}
            Err(e) if missing(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(name: &str, rules: &[&str]) -> Chain {
        Chain {
            family: Family::Inet,
            name: name.into(),
            base: None,
            rules: rules.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn unchanged_chains_are_left_alone_and_obsolete_ones_deleted() {
        let a = chain("a", &["drop"]);
        let b = chain("b", &["accept"]);
        let mut existing = Existing::new();
        existing.insert(
            (Family::Inet, "a".into()),
            Present {
                rules: 2,
                first_comment: Some(format!("h:{}", a.hash())),
            },
        );
        existing.insert((Family::Inet, "old".into()), Present::default());
        let (script, changes) = transaction("t", &[a.clone(), b], &existing).unwrap();
        assert_eq!(
            changes,
            vec!["created nft chain inet b", "deleted nft chain inet old"]
        );
        assert!(!script.contains("flush chain inet t a\n"), "{script}");
        assert!(script.contains("add rule inet t b accept\n"));
        assert!(
            script.find("add rule inet t b").unwrap()
                < script.find("delete chain inet t old").unwrap()
        );

        existing.remove(&(Family::Inet, "old".into()));
        assert_eq!(transaction("t", std::slice::from_ref(&a), &existing), None);
        // a rule deleted by hand: the count no longer matches
        existing.get_mut(&(Family::Inet, "a".into())).unwrap().rules = 1;
        let (_, changes) = transaction("t", &[a], &existing).unwrap();
        assert_eq!(changes, vec!["rewrote nft chain inet a"]);
    }

    #[test]
    fn listing_is_parsed() {
        let json = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
          {"table": {"family": "inet", "name": "t", "handle": 1}},
          {"chain": {"family": "inet", "table": "t", "name": "a", "handle": 1}},
          {"chain": {"family": "inet", "table": "t", "name": "e", "handle": 2}},
          {"rule": {"family": "inet", "table": "t", "chain": "a", "handle": 3, "comment": "h:1", "expr": []}},
          {"rule": {"family": "inet", "table": "t", "chain": "a", "handle": 4, "expr": []}}]}"#;
        let mut existing = Existing::new();
        parse_listing(json, &mut existing).unwrap();
        assert_eq!(
            existing[&(Family::Inet, "a".into())],
            Present {
                rules: 2,
                first_comment: Some("h:1".into())
            }
        );
        assert_eq!(existing[&(Family::Inet, "e".into())], Present::default());
    }
}

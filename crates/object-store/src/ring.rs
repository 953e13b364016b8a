//! The ring: which devices hold the replicas of each partition, as swift-ring-builder
//! makes it.
//!
//! A name (`/account[/container[/object]]`) hashes (MD5 with the ring's secret prefix
//! and suffix) to a partition: the top `part_power` bits of the hash. The ring assigns
//! each partition `replicas` distinct devices, in distinct zones while there are enough
//! zones, each device holding a share of the partitions proportional to its weight.
//! A rebalance keeps every assignment that is still valid and moves only what must move
//! (a removed or zero-weight device, a device over its share), so adding a device moves
//! about its share of partitions and no more.
//!
//! One file holds the builder and the ring (`ring.json`): devices and assignments. One
//! ring serves accounts, containers and objects (Swift keeps three of the same shape).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// A device of the ring: a directory that holds replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub id: u32,
    pub region: u32,
    pub zone: u32,
    pub weight: f64,
    /// Where its data lives (a directory; on a real host a mounted disk).
    pub path: PathBuf,
}

/// The ring and its builder's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ring {
    pub part_power: u8,
    pub replicas: usize,
    /// Hours a partition's replica stays put after a move (recorded; a later part
    /// enforces it together with the replicator).
    pub min_part_hours: u32,
    /// The secret mixed into every name's hash (Swift's `swift_hash_path_prefix` and
    /// `_suffix`), random per ring so that partitions cannot be aimed at.
    pub hash_prefix: String,
    pub hash_suffix: String,
    pub devices: Vec<Device>,
    /// For each partition, its devices' ids (primary first); empty before the first
    /// rebalance.
    #[serde(default)]
    pub assignments: Vec<Vec<u32>>,
}

/// A mistake in building a ring, in words for the operator.
#[derive(Debug)]
pub enum RingError {
    Invalid(String),
    Io(PathBuf, std::io::Error),
    Format(PathBuf, serde_json::Error),
}

impl std::fmt::Display for RingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RingError::Invalid(m) => f.write_str(m),
            RingError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            RingError::Format(p, e) => write!(f, "{} is not a ring file: {e}", p.display()),
        }
    }
}

impl std::error::Error for RingError {}

/// A device's whole number of replica slots: its fair share, rounded up.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn share(slots: f64) -> usize {
    // finite and between 0 and the ring's slot count (at most 16 << 24)
    slots.ceil().max(0.0) as usize
}

fn invalid(m: impl Into<String>) -> RingError {
    RingError::Invalid(m.into())
}

impl Ring {
    /// An empty ring (`swift-ring-builder create <part_power> <replicas> <min_part_hours>`).
    pub fn create(part_power: u8, replicas: usize, min_part_hours: u32) -> Result<Ring, RingError> {
        if !(1..=24).contains(&part_power) {
            return Err(invalid("the partition power must be between 1 and 24"));
        }
        if !(1..=16).contains(&replicas) {
            return Err(invalid("the replica count must be between 1 and 16"));
        }
        let secret = || hex::encode(rand::random::<[u8; 16]>());
        Ok(Ring {
            part_power,
            replicas,
            min_part_hours,
            hash_prefix: secret(),
            hash_suffix: secret(),
            devices: Vec::new(),
            assignments: Vec::new(),
        })
    }

    pub fn partitions(&self) -> usize {
        1 << self.part_power
    }

    /// Add a device; returns its id. Takes effect at the next rebalance.
    pub fn add_device(
        &mut self,
        region: u32,
        zone: u32,
        weight: f64,
        path: PathBuf,
    ) -> Result<u32, RingError> {
        if !(weight >= 0.0 && weight.is_finite()) {
            return Err(invalid("a device's weight must be a number >= 0"));
        }
        if self.devices.iter().any(|d| d.path == path) {
            return Err(invalid(format!(
                "a device at {} is already in the ring",
                path.display()
            )));
        }
        let id = self.devices.iter().map(|d| d.id + 1).max().unwrap_or(0);
        self.devices.push(Device {
            id,
            region,
            zone,
            weight,
            path,
        });
        Ok(id)
    }

    /// Set a device's weight (0 drains it at the next rebalance).
    pub fn set_weight(&mut self, id: u32, weight: f64) -> Result<(), RingError> {
        if !(weight >= 0.0 && weight.is_finite()) {
            return Err(invalid("a device's weight must be a number >= 0"));
        }
        let d = self
            .devices
            .iter_mut()
            .find(|d| d.id == id)
            .ok_or_else(|| invalid(format!("no device {id} in the ring")))?;
        d.weight = weight;
        Ok(())
    }

    /// Remove a device; its partitions move at the next rebalance.
    pub fn remove_device(&mut self, id: u32) -> Result<(), RingError> {
        let before = self.devices.len();
        self.devices.retain(|d| d.id != id);
        if self.devices.len() == before {
            return Err(invalid(format!("no device {id} in the ring")));
        }
        Ok(())
    }

    /// Assign every partition's replicas; returns how many replica assignments moved.
    pub fn rebalance(&mut self) -> Result<usize, RingError> {
        let live: Vec<&Device> = self.devices.iter().filter(|d| d.weight > 0.0).collect();
        if live.is_empty() {
            return Err(invalid("the ring has no device with a weight above 0"));
        }
        let replicas = self.replicas.min(live.len());
        let parts = self.partitions();
        let total_weight: f64 = live.iter().map(|d| d.weight).sum();
        let slots = (parts * replicas) as f64;
        // each device's share, rounded up so that the shares cover every slot
        let want: BTreeMap<u32, usize> = live
            .iter()
            .map(|d| (d.id, share(slots * d.weight / total_weight)))
            .collect();
        let zone_of: BTreeMap<u32, (u32, u32)> =
            live.iter().map(|d| (d.id, (d.region, d.zone))).collect();
        let zones: BTreeSet<(u32, u32)> = zone_of.values().copied().collect();

        // keep what is still valid: a live device, once per partition, and a second
        // replica in a zone only while no other zone is free
        let mut next: Vec<Vec<u32>> = Vec::with_capacity(parts);
        let old = std::mem::take(&mut self.assignments);
        for p in 0..parts {
            let mut keep = Vec::with_capacity(replicas);
            let mut used_zones = BTreeSet::new();
            for &dev in old.get(p).map(Vec::as_slice).unwrap_or(&[]) {
                let Some(&zone) = zone_of.get(&dev) else {
                    continue;
                };
                let crowded = used_zones.contains(&zone) && used_zones.len() < zones.len();
                if keep.len() < replicas && !keep.contains(&dev) && !crowded {
                    keep.push(dev);
                    used_zones.insert(zone);
                }
            }
            next.push(keep);
        }
        let mut have: BTreeMap<u32, usize> = want.keys().map(|&id| (id, 0)).collect();
        for devs in &next {
            for d in devs {
                *have.get_mut(d).expect("a live device") += 1;
            }
        }
        // a device over its share gives replicas up, from whole partitions first so
        // that no partition loses more than one replica while another could instead
        let mut cursor = 0;
        for (&dev, &share) in &want {
            for whole_only in [true, false] {
                let mut scanned = 0;
                while have[&dev] > share && scanned < parts {
                    let p = cursor % parts;
                    cursor += 1;
                    scanned += 1;
                    let devs = &mut next[p];
                    if devs.contains(&dev) && (!whole_only || devs.len() == replicas) {
                        devs.retain(|d| *d != dev);
                        *have.get_mut(&dev).expect("a live device") -= 1;
                    }
                }
            }
        }
        // fill the gaps: a free zone first, then the device furthest below its share
        let mut moved = 0;
        for (p, devs) in next.iter_mut().enumerate() {
            while devs.len() < replicas {
                let used: BTreeSet<(u32, u32)> = devs.iter().map(|d| zone_of[d]).collect();
                let pick = want
                    .keys()
                    .filter(|id| !devs.contains(id))
                    .max_by(|a, b| {
                        let score = |id: &u32| {
                            let free_zone = !used.contains(&zone_of[id]);
                            let room = i128::try_from(want[id]).unwrap_or(i128::MAX)
                                - i128::try_from(have[id]).unwrap_or(i128::MAX);
                            (free_zone, room)
                        };
                        // ties go to the lower id, for a stable ring
                        score(a).cmp(&score(b)).then(b.cmp(a))
                    })
                    .copied()
                    .ok_or_else(|| invalid(format!("no device left for partition {p}")))?;
                devs.push(pick);
                *have.get_mut(&pick).expect("a live device") += 1;
                moved += 1;
            }
        }
        self.assignments = next;
        Ok(moved)
    }

    /// The partition of a name (`account`, `account/container` or
    /// `account/container/object`).
    pub fn partition(&self, account: &str, container: Option<&str>, object: Option<&str>) -> usize {
        let hash = self.hash(account, container, object);
        let top = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
        (top >> (32 - u32::from(self.part_power))) as usize
    }

    /// The MD5 of a name with the ring's secrets, as Swift's `hash_path`.
    pub fn hash(&self, account: &str, container: Option<&str>, object: Option<&str>) -> [u8; 16] {
        let mut h = Md5::new();
        h.update(self.hash_prefix.as_bytes());
        h.update(b"/");
        h.update(account.as_bytes());
        if let Some(c) = container {
            h.update(b"/");
            h.update(c.as_bytes());
        }
        if let Some(o) = object {
            h.update(b"/");
            h.update(o.as_bytes());
        }
        h.update(self.hash_suffix.as_bytes());
        h.finalize().into()
    }

    /// The devices of a partition, primary first.
    pub fn nodes(&self, part: usize) -> Vec<&Device> {
        self.assignments
            .get(part)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| self.devices.iter().find(|d| d.id == *id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many partitions' replicas each device holds.
    pub fn counts(&self) -> BTreeMap<u32, usize> {
        let mut c: BTreeMap<u32, usize> = self.devices.iter().map(|d| (d.id, 0)).collect();
        for devs in &self.assignments {
            for d in devs {
                *c.entry(*d).or_default() += 1;
            }
        }
        c
    }

    /// What `oxistack manage ring show` prints.
    pub fn describe(&self) -> String {
        let counts = self.counts();
        let mut s = format!(
            "{} partitions, {} replicas, {} devices, min_part_hours {}{}\n",
            self.partitions(),
            self.replicas,
            self.devices.len(),
            self.min_part_hours,
            if self.assignments.is_empty() {
                " (not balanced yet: run `oxistack manage ring rebalance`)"
            } else {
                ""
            }
        );
        s.push_str("  id region zone  weight partitions path\n");
        for d in &self.devices {
            s.push_str(&format!(
                "{:>4} {:>6} {:>4} {:>7.2} {:>10} {}\n",
                d.id,
                d.region,
                d.zone,
                d.weight,
                counts.get(&d.id).copied().unwrap_or(0),
                d.path.display()
            ));
        }
        s
    }

    pub fn load(path: &Path) -> Result<Ring, RingError> {
        let text = std::fs::read(path).map_err(|e| RingError::Io(path.to_owned(), e))?;
        serde_json::from_slice(&text).map_err(|e| RingError::Format(path.to_owned(), e))
    }

    /// Write the ring atomically (a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), RingError> {
        let io = |e| RingError::Io(path.to_owned(), e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec(self).map_err(|e| RingError::Format(path.to_owned(), e))?;
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(zones: &[u32]) -> Ring {
        let mut r = Ring::create(8, 3, 1).unwrap();
        for (i, z) in zones.iter().enumerate() {
            r.add_device(1, *z, 100.0, format!("/d{i}").into()).unwrap();
        }
        r.rebalance().unwrap();
        r
    }

    #[test]
    fn three_devices_in_three_zones_hold_every_partition_once_each() {
        let r = ring(&[1, 2, 3]);
        for p in 0..r.partitions() {
            let zones: BTreeSet<u32> = r.nodes(p).iter().map(|d| d.zone).collect();
            assert_eq!(zones.len(), 3, "partition {p}");
        }
        assert!(r.counts().values().all(|&c| c == 256));
    }

    #[test]
    fn replicas_spread_over_zones_first() {
        // two zones, four devices: every partition has both zones
        let r = ring(&[1, 1, 2, 2]);
        for p in 0..r.partitions() {
            let zones: BTreeSet<u32> = r.nodes(p).iter().map(|d| d.zone).collect();
            assert_eq!(zones.len(), 2, "partition {p}");
            let ids: BTreeSet<u32> = r.nodes(p).iter().map(|d| d.id).collect();
            assert_eq!(ids.len(), 3, "partition {p}: distinct devices");
        }
    }

    #[test]
    fn adding_a_device_moves_about_its_share() {
        let mut r = ring(&[1, 2, 3]);
        let before = r.assignments.clone();
        r.add_device(1, 4, 100.0, "/d3".into()).unwrap();
        let moved = r.rebalance().unwrap();
        // its share: a quarter of 768 replicas
        assert!((150..=250).contains(&moved), "moved {moved}");
        let changed: usize = before
            .iter()
            .zip(&r.assignments)
            .map(|(a, b)| a.iter().filter(|d| !b.contains(d)).count())
            .sum();
        assert_eq!(changed, moved);
        let counts = r.counts();
        assert!(
            counts.values().all(|&c| (180..=200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn removing_a_device_moves_only_its_partitions() {
        let mut r = ring(&[1, 2, 3, 4]);
        let before = r.assignments.clone();
        r.remove_device(0).unwrap();
        r.rebalance().unwrap();
        for (a, b) in before.iter().zip(&r.assignments) {
            for d in a.iter().filter(|d| **d != 0) {
                assert!(b.contains(d), "{a:?} -> {b:?}");
            }
            assert!(!b.contains(&0));
        }
    }

    #[test]
    fn names_hash_to_stable_partitions() {
        let r = ring(&[1, 2, 3]);
        let p = r.partition("AUTH_a", Some("c"), Some("o"));
        assert_eq!(p, r.partition("AUTH_a", Some("c"), Some("o")));
        assert!(p < r.partitions());
        let mut other = r.clone();
        other.hash_suffix = "x".into();
        // a different secret spreads names differently (at least one of these moves)
        assert!((0..20).any(|i| {
            let o = i.to_string();
            r.partition("AUTH_a", Some("c"), Some(&o))
                != other.partition("AUTH_a", Some("c"), Some(&o))
        }));
    }

    #[test]
    fn refusals() {
        assert!(Ring::create(0, 3, 1).is_err());
        assert!(Ring::create(8, 0, 1).is_err());
        let mut r = Ring::create(8, 3, 1).unwrap();
        assert!(r.rebalance().is_err());
        r.add_device(1, 1, 1.0, "/a".into()).unwrap();
        assert!(r.add_device(1, 1, 1.0, "/a".into()).is_err());
        assert!(r.add_device(1, 1, -1.0, "/b".into()).is_err());
        // fewer devices than replicas: each partition on every device
        r.rebalance().unwrap();
        assert_eq!(r.nodes(0).len(), 1);
    }
}

//! The proxy: every request's replicas, over the ring, the devices and the listing
//! databases. Takes and returns plain types ([`crate::model`]); no HTTP here.
//!
//! Writes go to every replica of the name's partition and succeed on a quorum (a
//! majority: 2 of 3); reads ask every replica and serve the newest state (a tombstone
//! newer than a copy hides it), from any replica that has it intact.

pub mod access;
pub mod accounts;
pub mod containers;
pub mod objects;
pub mod tempurl;

use std::path::{Path, PathBuf};

use api_common::Error;
use futures::future::BoxFuture;

use crate::{
    config::Config,
    model::{limits, Meta},
    ring::Ring,
    store::Tables,
};

pub use access::{Caller, Need};

/// The Object Storage service.
pub struct ObjectStore {
    pub cfg: Config,
    pub ring: Ring,
    pub(crate) tables: Tables,
    pub(crate) policy: policy::Policy,
}

impl ObjectStore {
    pub fn new(cfg: Config, ring: Ring, policy: policy::Policy) -> ObjectStore {
        ObjectStore {
            cfg,
            ring,
            tables: Tables::default(),
            policy,
        }
    }

    /// How many replicas a write must reach: a majority of the partition's.
    pub fn quorum(&self, replicas: usize) -> usize {
        replicas / 2 + 1
    }

    /// The listing database of `account` on each of its devices.
    fn account_dbs(&self, account: &str) -> Vec<PathBuf> {
        let part = self.ring.partition(account, None, None);
        let hash = hex::encode(self.ring.hash(account, None, None));
        self.ring
            .nodes(part)
            .into_iter()
            .map(|d| {
                d.path
                    .join("accounts")
                    .join(part.to_string())
                    .join(&hash)
                    .join("account.db")
            })
            .collect()
    }

    /// Apply a write to every replica's database; enough must have taken it.
    /// `f` answers `None` for a replica without a database, else its result.
    async fn on_quorum<'s, T, F>(&self, account: &str, f: F) -> Result<T, Error>
    where
        F: Fn(PathBuf) -> BoxFuture<'s, Result<Option<T>, Error>>,
    {
        let dbs = self.account_dbs(account);
        let need = self.quorum(dbs.len());
        let results = futures::future::join_all(dbs.into_iter().map(&f)).await;
        let mut answer = None;
        let mut ok = 0;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(Some(v)) => {
                    ok += 1;
                    answer.get_or_insert(v);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e.report(), "a listing replica failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        match answer {
            Some(v) if ok >= need => Ok(v),
            // a refusal every replica agrees on (a container not empty) is the answer
            _ => match first_err {
                Some(e) if e.kind != api_common::ErrorKind::Internal => Err(e),
                _ => Err(unavailable()),
            },
        }
    }

    /// The first replica's answer to a read.
    async fn read_any<'s, T, F>(&self, account: &str, f: F) -> Result<Option<T>, Error>
    where
        F: Fn(PathBuf) -> BoxFuture<'s, Result<Option<T>, Error>>,
    {
        let mut last_err = None;
        for db in self.account_dbs(account) {
            match f(db).await {
                Ok(Some(v)) => return Ok(Some(v)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e.report(), "a listing replica failed");
                    last_err = Some(e);
                }
            }
        }
        match last_err {
            Some(_) => Err(unavailable()),
            None => Ok(None),
        }
    }
}

/// Swift's 503 when too few replicas answered.
pub fn unavailable() -> Error {
    Error::unavailable("")
}

/// Check an account name.
pub fn check_account(name: &str) -> Result<(), Error> {
    if name.len() > limits::MAX_ACCOUNT_NAME_LENGTH {
        return Err(Error::bad_request(format!(
            "Account name length of {} longer than {}",
            name.len(),
            limits::MAX_ACCOUNT_NAME_LENGTH
        )));
    }
    Ok(())
}

/// Check a container name: not empty, no `/`, at most 256 bytes.
pub fn check_container(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('/') {
        return Err(Error::bad_request("Invalid container name"));
    }
    if name.len() > limits::MAX_CONTAINER_NAME_LENGTH {
        return Err(Error::bad_request(format!(
            "Container name length of {} longer than {}",
            name.len(),
            limits::MAX_CONTAINER_NAME_LENGTH
        )));
    }
    Ok(())
}

/// Check an object name: not empty, at most 1024 bytes.
pub fn check_object(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::bad_request("Invalid object name"));
    }
    if name.len() > limits::MAX_OBJECT_NAME_LENGTH {
        return Err(Error::bad_request(format!(
            "Object name length of {} longer than {}",
            name.len(),
            limits::MAX_OBJECT_NAME_LENGTH
        )));
    }
    Ok(())
}

/// Check user metadata against Swift's limits.
pub fn check_meta(meta: &Meta) -> Result<(), Error> {
    let mut total = 0;
    for (k, v) in meta {
        if k.is_empty() {
            return Err(Error::bad_request("Metadata name cannot be empty"));
        }
        if k.len() > limits::MAX_META_NAME_LENGTH {
            return Err(Error::bad_request(format!(
                "Metadata name too long; max {}",
                limits::MAX_META_NAME_LENGTH
            )));
        }
        if v.len() > limits::MAX_META_VALUE_LENGTH {
            return Err(Error::bad_request(format!(
                "Metadata value longer than {}",
                limits::MAX_META_VALUE_LENGTH
            )));
        }
        total += k.len() + v.len();
    }
    if meta.len() > limits::MAX_META_COUNT {
        return Err(Error::bad_request(format!(
            "Too many metadata items; max {}",
            limits::MAX_META_COUNT
        )));
    }
    if total > limits::MAX_META_OVERALL_SIZE {
        return Err(Error::bad_request(format!(
            "Total metadata too large; max {}",
            limits::MAX_META_OVERALL_SIZE
        )));
    }
    Ok(())
}

/// Make the ring `up` runs with when there is none: three devices (directories), each
/// its own zone, three replicas.
pub fn default_ring(part_power: u8, devices: &Path) -> Result<Ring, crate::ring::RingError> {
    let mut ring = Ring::create(part_power, 3, 1)?;
    for zone in 1..=3 {
        ring.add_device(1, zone, 100.0, devices.join(format!("d{zone}")))?;
    }
    ring.rebalance()?;
    Ok(ring)
}

//! Every SQL statement of the Compute service, written once for SQLite and PostgreSQL
//! (see the db crate), one file per resource. Functions take a connection, so the app
//! layer groups them in one transaction ([`db::Db::begin_write`]) where a change spans
//! tables or must read what it changes.

pub mod actions;
pub mod flavors;
pub mod groups;
pub mod guests;
pub mod hosts;
pub mod keypairs;
pub mod placed;
pub mod servers;

use db::Columns;
use serde::{de::DeserializeOwned, Serialize};
use types::{Error, Result};

pub type Conn = sqlx::AnyConnection;

fn json_col<T: DeserializeOwned>(c: &Columns, column: &str) -> Result<T> {
    let text: String = c.get(column)?;
    serde_json::from_str(&text).map_err(|e| {
        Error::internal_from(e).with_detail(format!("reading the JSON column {column}"))
    })
}

fn json_opt<T: DeserializeOwned>(c: &Columns, column: &str) -> Result<Option<T>> {
    let Some(text) = c.get::<Option<String>>(column)? else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::internal_from(e).with_detail(format!("reading the JSON column {column}"))
    })
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain values serialize")
}

fn placeholders(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per-project quota limits that differ from the defaults.
pub const QUOTAS: db::quotas::QuotaTable = db::quotas::QuotaTable("compute_quotas");

//! Cinder's list parameters: filters (`name`, `status`, `metadata`, `volume_id`),
//! `all_tenants`, and paging (`limit`, `marker`, `sort` or `sort_key` + `sort_dir`).

use api_common::Error;

use crate::{
    app::{Caller, Volumes},
    model::{ListQuery, Metadata, SortKey},
};

/// The pairs of a query string.
pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// A query parameter's value.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A true-ish query value (`all_tenants=1`, `cascade=True`).
pub fn flag(pairs: &[(String, String)], key: &str) -> Result<bool, Error> {
    match param(pairs, key) {
        None => Ok(false),
        Some(v) => {
            super::boolish(&serde_json::Value::String(v.into()), key).or_else(|_| Ok(v.is_empty()))
        }
    }
}

/// `metadata={'k': 'v'}` (the Python form openstackclient sends) or JSON.
fn metadata(v: &str) -> Result<Metadata, Error> {
    let bad = || {
        Error::bad_request(format!(
            "Invalid input received: metadata filter {v:?} is not a dictionary."
        ))
    };
    let json: serde_json::Value = serde_json::from_str(v)
        .or_else(|_| serde_json::from_str(&v.replace('\'', "\"")))
        .map_err(|_| bad())?;
    let obj = json.as_object().ok_or_else(bad)?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect())
}

fn sort_keys(pairs: &[(String, String)]) -> Result<Vec<(SortKey, bool)>, Error> {
    let mut out = Vec::new();
    let dir = |d: &str| match d {
        "asc" => Ok(false),
        "desc" => Ok(true),
        _ => Err(Error::bad_request(format!(
            "Invalid input received: Unknown sort direction {d:?}, must be 'desc' or 'asc'."
        ))),
    };
    let key = |k: &str| {
        SortKey::parse(k).ok_or_else(|| {
            Error::bad_request(format!("Invalid input received: Invalid sort key {k:?}."))
        })
    };
    if let Some(s) = param(pairs, "sort") {
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
            out.push((key(k.trim())?, dir(d.trim())?));
        }
    } else if let Some(k) = param(pairs, "sort_key") {
        let d = param(pairs, "sort_dir").unwrap_or("desc");
        out.push((key(k)?, dir(d)?));
    }
    Ok(out)
}

/// The list query of a request.
pub fn list_query(svc: &Volumes, caller: &Caller, raw: Option<&str>) -> Result<ListQuery, Error> {
    let p = pairs(raw);
    let all = flag(&p, "all_tenants")?;
    let mut project = svc.list_scope(caller, all);
    if project.is_none() {
        project = param(&p, "project_id").map(str::to_owned);
    }
    let limit = match param(&p, "limit") {
        None => None,
        Some(l) => Some(l.parse::<usize>().map_err(|_| {
            Error::bad_request(format!(
                "Invalid input received: limit must be a non-negative integer, not {l:?}."
            ))
        })?),
    };
    Ok(ListQuery {
        project,
        name: param(&p, "name")
            .or(param(&p, "display_name"))
            .map(str::to_owned),
        status: param(&p, "status").map(str::to_owned),
        metadata: param(&p, "metadata")
            .map(metadata)
            .transpose()?
            .unwrap_or_default(),
        limit,
        marker: param(&p, "marker").map(str::to_owned),
        sort: sort_keys(&p)?,
        volume_id: param(&p, "volume_id").map(str::to_owned),
    })
}

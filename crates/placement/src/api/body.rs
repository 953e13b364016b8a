//! Request bodies checked as placement's JSON schemas check them, with its words
//! (`JSON does not validate: 'name' is a required property`).

use api_common::{Error, Result};
use serde_json::{Map, Value};

use crate::{
    model::{InventoryRequest, ProviderId, Resources, MAX_INT},
    standard,
};

/// The document of a request body.
pub fn parse(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::bad_request(format!("Malformed JSON: {e}")))
}

pub fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("JSON does not validate: {msg}"))
}

/// An object with only `allowed` keys, and every one of `required`.
pub fn object<'a>(
    v: &'a Value,
    allowed: &[&str],
    required: &[&str],
) -> Result<&'a Map<String, Value>> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid(format_args!("{v} is not of type 'object'")))?;
    for k in required {
        if !m.contains_key(*k) {
            return Err(invalid(format_args!("'{k}' is a required property")));
        }
    }
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(invalid(format_args!(
                "Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
    }
    Ok(m)
}

pub fn int(v: &Value, min: i64, max: i64) -> Result<i64> {
    let n = v
        .as_i64()
        .filter(|_| v.is_i64() || v.is_u64())
        .ok_or_else(|| invalid(format_args!("{v} is not of type 'integer'")))?;
    if n < min {
        return Err(invalid(format_args!(
            "{n} is less than the minimum of {min}"
        )));
    }
    if n > max {
        return Err(invalid(format_args!(
            "{n} is greater than the maximum of {max}"
        )));
    }
    Ok(n)
}

pub fn string(v: &Value) -> Result<&str> {
    v.as_str()
        .ok_or_else(|| invalid(format_args!("{v} is not of type 'string'")))
}

pub fn uuid(v: &Value) -> Result<String> {
    let s = string(v)?;
    match uuid::Uuid::parse_str(s) {
        Ok(u) if s.len() == 36 || s.len() == 32 => Ok(u.hyphenated().to_string()),
        _ => Err(invalid(format_args!("'{s}' is not a 'uuid'"))),
    }
}

pub fn provider_id(v: &Value) -> Result<ProviderId> {
    uuid(v)?
        .parse()
        .map_err(|_| invalid(format_args!("{v} is not a 'uuid'")))
}

/// `^[A-Z0-9_]+$`
pub fn class_name(s: &str) -> Result<()> {
    if standard::is_name(s) {
        Ok(())
    } else {
        Err(invalid(format_args!("'{s}' does not match '^[A-Z0-9_]+$'")))
    }
}

/// `{"VCPU": 1, ...}`: known-form class names, amounts from 1.
pub fn resources(v: &Value, min: i64) -> Result<Resources> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid(format_args!("{v} is not of type 'object'")))?;
    if m.is_empty() {
        return Err(invalid("{} does not have enough properties"));
    }
    let mut out = Resources::new();
    for (rc, amount) in m {
        class_name(rc)?;
        out.insert(rc.clone(), int(amount, min, MAX_INT)?);
    }
    Ok(out)
}

/// One inventory record (`total` required; `resource_provider_generation` tolerated).
pub fn inventory(v: &Value, extra: &[&str]) -> Result<(InventoryRequest, Option<i64>)> {
    let mut allowed = vec![
        "resource_provider_generation",
        "total",
        "reserved",
        "min_unit",
        "max_unit",
        "step_size",
        "allocation_ratio",
    ];
    allowed.extend_from_slice(extra);
    let m = object(v, &allowed, &["total"])?;
    let opt = |k: &str, min: i64| m.get(k).map(|v| int(v, min, MAX_INT)).transpose();
    let ratio = match m.get("allocation_ratio") {
        None => None,
        Some(r) => {
            let f = r
                .as_f64()
                .ok_or_else(|| invalid(format_args!("{r} is not of type 'number'")))?;
            if f > 3.40282e38 {
                return Err(invalid(format_args!(
                    "{f} is greater than the maximum of 3.40282e+38"
                )));
            }
            Some(f)
        }
    };
    let generation = m
        .get("resource_provider_generation")
        .map(|g| int(g, i64::MIN, i64::MAX))
        .transpose()?;
    Ok((
        InventoryRequest {
            total: int(&m["total"], 1, MAX_INT)?,
            reserved: opt("reserved", 0)?,
            min_unit: opt("min_unit", 1)?,
            max_unit: opt("max_unit", 1)?,
            step_size: opt("step_size", 1)?,
            allocation_ratio: ratio,
        },
        generation,
    ))
}

/// A list of strings.
pub fn strings(v: &Value) -> Result<Vec<String>> {
    v.as_array()
        .ok_or_else(|| invalid(format_args!("{v} is not of type 'array'")))?
        .iter()
        .map(|s| string(s).map(str::to_owned))
        .collect()
}

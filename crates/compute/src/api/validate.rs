//! Request bodies checked as Nova's JSON schemas check them, with Nova's messages
//! ("Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1",
//! "Additional properties are not allowed ('foo' was unexpected)").

use api_common::Error;
use serde_json::{Map, Value};

/// A JSON object of a request body, at `path` (for messages).
pub struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    path: String,
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

pub fn invalid(field: &str, value: &Value, reason: impl std::fmt::Display) -> Error {
    Error::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {}. {reason}",
        shown(value)
    ))
}

/// Parse a body: JSON, an object.
pub fn parse(bytes: &[u8]) -> Result<Value, Error> {
    if bytes.is_empty() {
        return Err(Error::bad_request("The request body is empty or not JSON."));
    }
    let v: Value =
        serde_json::from_slice(bytes).map_err(|_| Error::bad_request("Malformed request body"))?;
    if !v.is_object() {
        return Err(Error::bad_request(format!(
            "Invalid input for field/attribute request body. Value: {}. {} is not of type 'object'",
            shown(&v),
            quoted(&v)
        )));
    }
    Ok(v)
}

/// The object under `key` of a body (`{"flavor": {...}}`).
pub fn root<'a>(v: &'a Value, key: &str) -> Result<Obj<'a>, Error> {
    match v.get(key) {
        Some(Value::Object(m)) => Ok(Obj {
            map: m,
            path: key.to_owned(),
        }),
        Some(other) => Err(invalid(
            key,
            other,
            format!("{} is not of type 'object'", quoted(other)),
        )),
        None => Err(Error::bad_request(format!(
            "'{key}' is a required property"
        ))),
    }
}

impl<'a> Obj<'a> {
    /// The object itself (a body whose root has no key).
    pub fn top(v: &'a Value) -> Result<Obj<'a>, Error> {
        match v {
            Value::Object(m) => Ok(Obj {
                map: m,
                path: String::new(),
            }),
            other => Err(invalid("request body", other, "is not of type 'object'")),
        }
    }

    /// Nova names the last key of the path only (`ram`, not `flavor/ram`).
    fn field(&self, k: &str) -> String {
        k.to_owned()
    }

    /// Refuse keys not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), Error> {
        let extra: Vec<String> = self
            .map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| format!("'{k}'"))
            .collect();
        if extra.is_empty() {
            return Ok(());
        }
        let verb = if extra.len() == 1 { "was" } else { "were" };
        Err(Error::bad_request(format!(
            "Invalid input for field/attribute {}. Value: {}. Additional properties are not allowed ({} {verb} unexpected)",
            if self.path.is_empty() { "request body" } else { &self.path },
            Value::Object(self.map.clone()),
            extra.join(", ")
        )))
    }

    pub fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    pub fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k)
    }

    pub fn required(&self, k: &str) -> Result<&'a Value, Error> {
        self.map
            .get(k)
            .ok_or_else(|| Error::bad_request(format!("'{k}' is a required property")))
    }

    /// A string of `min..=max` characters (`None` when absent; `null` refused unless
    /// `nullable`).
    pub fn string(
        &self,
        k: &str,
        min: usize,
        max: usize,
        nullable: bool,
    ) -> Result<Option<String>, Error> {
        let Some(v) = self.map.get(k) else {
            return Ok(None);
        };
        let f = self.field(k);
        match v {
            Value::Null if nullable => Ok(None),
            Value::String(s) => {
                let n = s.chars().count();
                if n < min {
                    Err(invalid(&f, v, format!("{} is too short", quoted(v))))
                } else if n > max {
                    Err(invalid(&f, v, format!("{} is too long", quoted(v))))
                } else {
                    Ok(Some(s.clone()))
                }
            }
            other => Err(invalid(
                &f,
                other,
                format!("{} is not of type 'string'", quoted(other)),
            )),
        }
    }

    /// A name: 1..=255 characters, no leading or trailing whitespace.
    pub fn name(&self, k: &str) -> Result<Option<String>, Error> {
        let s = self.string(k, 1, 255, false)?;
        if let Some(n) = &s {
            if n.trim() != n {
                return Err(invalid(
                    &self.field(k),
                    &Value::String(n.clone()),
                    "Leading/trailing whitespace are not allowed",
                ));
            }
        }
        Ok(s)
    }

    /// An integer in `min..=max`, given as a number or a string of digits (Nova's
    /// `['integer', 'string']` parameters).
    pub fn int(&self, k: &str, min: i64, max: i64) -> Result<Option<i64>, Error> {
        let Some(v) = self.map.get(k) else {
            return Ok(None);
        };
        let f = self.field(k);
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s)
                if !s.is_empty() && s.trim().bytes().all(|c| c.is_ascii_digit() || c == b'-') =>
            {
                s.trim().parse().ok()
            }
            _ => None,
        };
        let Some(n) = n else {
            return Err(invalid(
                &f,
                v,
                format!("{} is not of type 'integer', 'string'", quoted(v)),
            ));
        };
        if n < min {
            return Err(invalid(
                &f,
                v,
                format!("{n} is less than the minimum of {min}"),
            ));
        }
        if n > max {
            return Err(invalid(
                &f,
                v,
                format!("{n} is greater than the maximum of {max}"),
            ));
        }
        Ok(Some(n))
    }

    /// A boolean (Nova's `boolean` parameter type takes `true`, `"true"`, `"1"`, `"yes"`...).
    pub fn boolean(&self, k: &str) -> Result<Option<bool>, Error> {
        let Some(v) = self.map.get(k) else {
            return Ok(None);
        };
        match v {
            Value::Bool(b) => Ok(Some(*b)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "y" | "t" => Ok(Some(true)),
                "false" | "0" | "no" | "off" | "n" | "f" => Ok(Some(false)),
                _ => Err(invalid(
                    &self.field(k),
                    v,
                    format!("{} is not of type 'boolean'", quoted(v)),
                )),
            },
            other => Err(invalid(
                &self.field(k),
                other,
                format!("{} is not of type 'boolean'", quoted(other)),
            )),
        }
    }

    /// A nested object.
    pub fn object(&self, k: &str) -> Result<Option<Obj<'a>>, Error> {
        match self.map.get(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Obj {
                map: m,
                path: self.field(k),
            })),
            Some(other) => Err(invalid(
                &self.field(k),
                other,
                format!("{} is not of type 'object'", quoted(other)),
            )),
        }
    }

    /// An array.
    pub fn array(&self, k: &str) -> Result<Option<&'a Vec<Value>>, Error> {
        match self.map.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(invalid(
                &self.field(k),
                other,
                format!("{} is not of type 'array'", quoted(other)),
            )),
        }
    }

    /// A `{key: value}` map of strings (metadata, extra specs): keys `1..=255`, values
    /// `0..=255` characters.
    pub fn string_map(
        &self,
        k: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, Error> {
        let Some(o) = self.object(k)? else {
            return Ok(None);
        };
        string_map(&o).map(Some)
    }
}

/// The object as a map of short strings (metadata, extra specs).
pub fn string_map(o: &Obj) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let mut out = std::collections::BTreeMap::new();
    for (key, v) in o.map {
        let f = o.field(key);
        if key.is_empty() || key.chars().count() > 255 {
            return Err(invalid(
                &f,
                v,
                format!("'{key}' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{{1,255}}$'"),
            ));
        }
        match v {
            Value::String(s) if s.chars().count() <= 255 => {
                out.insert(key.clone(), s.clone());
            }
            Value::String(_) => return Err(invalid(&f, v, format!("{} is too long", quoted(v)))),
            other => {
                return Err(invalid(
                    &f,
                    other,
                    format!("{} is not of type 'string'", quoted(other)),
                ))
            }
        }
    }
    Ok(out)
}

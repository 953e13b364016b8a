//! Image updates: Glance's JSON-patch dialects (`application/openstack-images-v2.1-json-patch`,
//! RFC 6902 operations limited to add/remove/replace of top-level members, and the older
//! v2.0 form `{"replace": "/name", "value": ...}`), parsed and validated as Glance does.

use api_common::{Error, ErrorKind};
use serde_json::{Map, Value};

pub const PATCH_V20: &str = "application/openstack-images-v2.0-json-patch";
pub const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";

/// Attributes clients may never write.
pub const READ_ONLY: &[&str] = &[
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
];
/// Attributes Glance keeps for itself.
pub const RESERVED: &[&str] = &["location", "deleted", "deleted_at"];
/// Custom properties in this namespace are Glance's own.
pub const RESERVED_NAMESPACE: &str = "os_glance";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

/// One validated change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub op: Op,
    /// The decoded JSON pointer; one member except for `locations`.
    pub path: Vec<String>,
    /// Absent for `remove`.
    pub value: Option<Value>,
}

impl Change {
    pub fn root(&self) -> &str {
        &self.path[0]
    }
}

/// Parse a PATCH body sent with `content_type`, checking each change against the image
/// schema. Errors are Glance's: 415 for another media type, 403 for read-only or
/// reserved attributes, 400 for everything malformed.
pub fn parse(
    content_type: Option<&str>,
    body: &[u8],
    schema: &Value,
) -> Result<Vec<Change>, Error> {
    let media = content_type.map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    let draft = match media.as_deref() {
        Some(PATCH_V20) => 4,
        Some(PATCH_V21) => 10,
        _ => {
            return Err(Error::new(
                ErrorKind::UnsupportedMediaType,
                format!("Image PATCH expects Content-Type one of: {PATCH_V20}, {PATCH_V21}"),
            ))
        }
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request("Body expected in request."));
    }
    let doc: Value = serde_json::from_slice(body)
        .map_err(|_| Error::bad_request("Malformed JSON in request body."))?;
    let Value::Array(items) = doc else {
        if doc.is_object() {
            return Err(Error::bad_request(
                "Request body must be a JSON array of operation objects.",
            ));
        }
        return Err(Error::bad_request(
            "Unexpected body type. Expected list/dict.",
        ));
    };
    let mut changes = Vec::with_capacity(items.len());
    for raw in items {
        let Value::Object(raw) = raw else {
            return Err(Error::bad_request("Operations must be JSON objects."));
        };
        let (op, pointer) = if draft == 10 {
            op_d10(&raw)?
        } else {
            op_d4(&raw)?
        };
        let path = decode_pointer(&pointer)?;
        let depth = match (path[0].as_str(), op) {
            ("locations", Op::Add | Op::Remove) => 2,
            _ => 1,
        };
        if path.len() != depth {
            return Err(Error::bad_request(format!(
                "Invalid JSON pointer for this resource: '/{}'",
                path.join("/")
            )));
        }
        let value = match op {
            Op::Remove => None,
            _ => Some(raw.get("value").cloned().ok_or_else(|| {
                let name = match op {
                    Op::Add => "add",
                    _ => "replace",
                };
                Error::bad_request(format!(
                    "Operation \"{name}\" requires a member named \"value\"."
                ))
            })?),
        };
        let change = Change { op, path, value };
        validate(&change, schema)?;
        changes.push(change);
    }
    Ok(changes)
}

fn op_d10(raw: &Map<String, Value>) -> Result<(Op, String), Error> {
    let op = match raw.get("op").and_then(Value::as_str) {
        None => {
            return Err(Error::bad_request(
                "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.",
            ))
        }
        Some("add") => Op::Add,
        Some("remove") => Op::Remove,
        Some("replace") => Op::Replace,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid operation: `{other}`. It must be one of the following: add, remove, replace."
            )))
        }
    };
    let path = raw
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_request("Unable to find 'path' in JSON Schema change"))?;
    Ok((op, path.to_owned()))
}

fn op_d4(raw: &Map<String, Value>) -> Result<(Op, String), Error> {
    let mut found = None;
    for (name, op) in [
        ("add", Op::Add),
        ("remove", Op::Remove),
        ("replace", Op::Replace),
    ] {
        if let Some(p) = raw.get(name) {
            if found.is_some() {
                return Err(Error::bad_request(
                    "Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".",
                ));
            }
            found = Some((op, p.as_str().unwrap_or_default().to_owned()));
        }
    }
    found.ok_or_else(|| {
        Error::bad_request("Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".")
    })
}

/// Glance's restricted JSON pointers: `/a`, `/a/b`; `~1` is `/`, `~0` is `~`.
pub fn decode_pointer(pointer: &str) -> Result<Vec<String>, Error> {
    if !pointer.starts_with('/') {
        return Err(Error::bad_request(format!(
            "Pointer `{pointer}` does not start with \"/\"."
        )));
    }
    let inner = &pointer[1..];
    let adjacent = inner
        .match_indices('/')
        .any(|(i, _)| inner[i + 1..].trim_start().starts_with('/'));
    if adjacent {
        return Err(Error::bad_request(format!(
            "Pointer `{pointer}` contains adjacent \"/\"."
        )));
    }
    if pointer.len() > 1 && pointer.ends_with('/') {
        return Err(Error::bad_request(format!(
            "Pointer `{pointer}` end with \"/\"."
        )));
    }
    if inner.trim().is_empty() || inner.trim() == "/" {
        return Err(Error::bad_request(format!(
            "Pointer `{pointer}` does not contains valid token."
        )));
    }
    let bad_escape = pointer.ends_with('~')
        || pointer
            .match_indices('~')
            .any(|(i, _)| !matches!(pointer.as_bytes().get(i + 1), Some(b'0' | b'1')));
    if bad_escape {
        return Err(Error::bad_request(format!(
            "Pointer `{pointer}` contains \"~\" not part of a recognized escape sequence."
        )));
    }
    Ok(inner
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~").trim().to_owned())
        .collect())
}

/// Refuse writes to read-only or reserved attributes (403) and values the schema
/// rejects (400).
fn validate(change: &Change, schema: &Value) -> Result<(), Error> {
    let root = change.root();
    if READ_ONLY.contains(&root) {
        return Err(Error::forbidden(format!(
            "Attribute '{root}' is read-only."
        )));
    }
    if RESERVED.contains(&root) || root.starts_with(RESERVED_NAMESPACE) {
        return Err(Error::forbidden(format!("Attribute '{root}' is reserved.")));
    }
    let Some(value) = &change.value else {
        return Ok(());
    };
    let partial = if change.path.len() == 1 {
        Some(value.clone())
    } else if schema["properties"][root]["type"] == "array" {
        Some(Value::Array(vec![value.clone()]))
    } else {
        None
    };
    if let Some(v) = partial {
        let mut obj = Map::new();
        obj.insert(root.to_owned(), v);
        crate::schemas::validate_image(schema, &obj).map_err(|r| {
            Error::bad_request(format!(
                "Provided object does not match schema 'image': {r}"
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn run(ct: &str, body: Value) -> Result<Vec<Change>, Error> {
        parse(
            Some(ct),
            body.to_string().as_bytes(),
            &crate::schemas::image(&Config::default()),
        )
    }

    fn fails(ct: &str, body: Value, kind: ErrorKind, want: &str) {
        let e = run(ct, body.clone()).unwrap_err();
        assert_eq!(e.kind, kind, "{body}: {}", e.message);
        assert!(
            e.message.contains(want),
            "{body}: {:?} lacks {want:?}",
            e.message
        );
    }

    #[test]
    fn parses_both_dialects() {
        let got = run(
            PATCH_V21,
            json!([
                {"op": "replace", "path": "/name", "value": "n"},
                {"op": "add", "path": "/a~1b", "value": "x"},
                {"op": "remove", "path": "/c"},
                {"op": "add", "path": "/locations/-", "value": {"url": "u", "metadata": {}}},
            ]),
        )
        .unwrap();
        assert_eq!(
            got[0],
            Change {
                op: Op::Replace,
                path: vec!["name".into()],
                value: Some(json!("n"))
            }
        );
        assert_eq!(got[1].path, ["a/b"]);
        assert_eq!(
            got[2],
            Change {
                op: Op::Remove,
                path: vec!["c".into()],
                value: None
            }
        );
        assert_eq!(got[3].path, ["locations", "-"]);
        let old = run(
            &format!("{PATCH_V20}; charset=UTF-8"),
            json!([{"replace": "/name", "value": "m"}]),
        )
        .unwrap();
        assert_eq!(old[0].value, Some(json!("m")));
    }

    #[test]
    fn refuses_like_glance() {
        use ErrorKind::*;
        let e = parse(Some("application/json"), b"[]", &json!({})).unwrap_err();
        assert_eq!(e.kind, UnsupportedMediaType);
        fails(PATCH_V21, json!({"op": "add"}), BadRequest, "JSON array");
        fails(PATCH_V21, json!(["x"]), BadRequest, "must be JSON objects");
        fails(
            PATCH_V21,
            json!([{"path": "/a", "value": "1"}]),
            BadRequest,
            "Unable to find `op`",
        );
        fails(
            PATCH_V21,
            json!([{"op": "move", "path": "/a"}]),
            BadRequest,
            "Invalid operation: `move`",
        );
        fails(
            PATCH_V21,
            json!([{"op": "add", "value": "1"}]),
            BadRequest,
            "Unable to find 'path'",
        );
        fails(
            PATCH_V21,
            json!([{"op": "add", "path": "/a"}]),
            BadRequest,
            "requires a member named \"value\"",
        );
        fails(
            PATCH_V21,
            json!([{"op": "add", "path": "a", "value": "1"}]),
            BadRequest,
            "does not start with",
        );
        fails(
            PATCH_V21,
            json!([{"op": "add", "path": "/a/b", "value": "1"}]),
            BadRequest,
            "Invalid JSON pointer",
        );
        fails(
            PATCH_V21,
            json!([{"op": "add", "path": "/a//b", "value": "1"}]),
            BadRequest,
            "adjacent",
        );
        fails(
            PATCH_V21,
            json!([{"op": "add", "path": "/a~2", "value": "1"}]),
            BadRequest,
            "escape sequence",
        );
        fails(
            PATCH_V21,
            json!([{"op": "replace", "path": "/status", "value": "active"}]),
            Forbidden,
            "'status' is read-only",
        );
        fails(
            PATCH_V21,
            json!([{"op": "remove", "path": "/checksum"}]),
            Forbidden,
            "read-only",
        );
        fails(
            PATCH_V21,
            json!([{"op": "add", "path": "/deleted", "value": "1"}]),
            Forbidden,
            "reserved",
        );
        fails(
            PATCH_V21,
            json!([{"op": "add", "path": "/os_glance_x", "value": "1"}]),
            Forbidden,
            "reserved",
        );
        fails(
            PATCH_V21,
            json!([{"op": "replace", "path": "/min_ram", "value": "big"}]),
            BadRequest,
            "is not of type 'integer'",
        );
        fails(
            PATCH_V21,
            json!([{"op": "add", "path": "/custom", "value": 5}]),
            BadRequest,
            "is not of type 'string'",
        );
        fails(
            PATCH_V21,
            json!([{"op": "replace", "path": "/visibility", "value": "all"}]),
            BadRequest,
            "is not one of",
        );
        fails(
            PATCH_V20,
            json!([{"add": "/a", "replace": "/b", "value": "1"}]),
            BadRequest,
            "only one member",
        );
    }
}

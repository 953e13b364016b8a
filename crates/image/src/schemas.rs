//! The JSON schemas Glance publishes at `/v2/schemas/*`, and the validation of image
//! documents against them. python-glanceclient fetches the image schema and validates
//! what it sends with it (warlock), so its content matters: the base properties, the
//! operator's custom properties (Glance ships `schema-image.json`, marked
//! `is_base: false`), and `additionalProperties: {"type": "string"}`.

use serde_json::{json, Map, Value};

use crate::config::Config;

const UUID_PATTERN: &str =
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$";

fn base_properties(cfg: &Config) -> Map<String, Value> {
    let with_null = |v: &[String]| {
        let mut e = vec![Value::Null];
        e.extend(v.iter().map(|s| json!(s)));
        Value::Array(e)
    };
    let props = json!({
        "id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
        "name": {"type": ["null", "string"], "description": "Descriptive name for the image", "maxLength": 255},
        "status": {
            "type": "string", "readOnly": true, "description": "Status of the image",
            "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"],
        },
        "visibility": {"type": "string", "description": "Scope of image accessibility", "enum": ["community", "public", "private", "shared"]},
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list response."},
        "checksum": {"type": ["null", "string"], "readOnly": true, "description": "md5 hash of image contents.", "maxLength": 32},
        "os_hash_algo": {"type": ["null", "string"], "readOnly": true, "description": "Algorithm to calculate the os_hash_value", "maxLength": 64},
        "os_hash_value": {
            "type": ["null", "string"], "readOnly": true,
            "description": "Hexdigest of the image contents using the algorithm specified by the os_hash_algo", "maxLength": 128,
        },
        "owner": {"type": ["null", "string"], "description": "Owner of the image", "maxLength": 255},
        "size": {"type": ["null", "integer"], "readOnly": true, "description": "Size of image file in bytes"},
        "virtual_size": {"type": ["null", "integer"], "readOnly": true, "description": "Virtual size of image in bytes"},
        "container_format": {"type": ["null", "string"], "description": "Format of the container", "enum": with_null(&cfg.container_formats)},
        "disk_format": {"type": ["null", "string"], "description": "Format of the disk", "enum": with_null(&cfg.disk_formats)},
        "created_at": {"type": "string", "readOnly": true, "description": "Date and time of image registration"},
        "updated_at": {"type": "string", "readOnly": true, "description": "Date and time of the last image modification"},
        "tags": {
            "type": "array", "description": "List of strings related to the image",
            "items": {"type": "string", "maxLength": 255},
        },
        "direct_url": {"type": "string", "readOnly": true, "description": "URL to access the image file kept in external store"},
        "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
        "self": {"type": "string", "readOnly": true, "description": "An image self url"},
        "file": {"type": "string", "readOnly": true, "description": "An image file url"},
        "stores": {
            "type": "string", "readOnly": true,
            "description": "Store in which image data resides.  Only present when the operator has enabled multiple stores.  May be a comma-separated list of store identifiers.",
        },
        "schema": {"type": "string", "readOnly": true, "description": "An image schema url"},
        "locations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "maxLength": 255},
                    "metadata": {"type": "object"},
                    "validation_data": {
                        "description": "Values to be used to populate the corresponding image properties. If the image status is not 'queued', values must exactly match those already contained in the image properties.",
                        "type": "object",
                        "writeOnly": true,
                        "additionalProperties": false,
                        "properties": {
                            "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                            "os_hash_algo": {"type": "string", "maxLength": 64},
                            "os_hash_value": {"type": "string", "maxLength": 128},
                        },
                        "required": ["os_hash_algo", "os_hash_value"],
                    },
                },
                "required": ["url", "metadata"],
            },
            "description": "A set of URLs to access the image file kept in external store",
        },
    });
    match props {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The custom properties Glance ships in `etc/schema-image.json`.
fn custom_properties() -> Map<String, Value> {
    let see = "Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html";
    let props = json!({
        "kernel_id": {
            "type": ["null", "string"], "pattern": UUID_PATTERN, "is_base": false,
            "description": "ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.",
        },
        "ramdisk_id": {
            "type": ["null", "string"], "pattern": UUID_PATTERN, "is_base": false,
            "description": "ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.",
        },
        "instance_uuid": {
            "type": "string", "is_base": false,
            "description": "Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)",
        },
        "architecture": {"description": see, "type": "string", "is_base": false},
        "os_distro": {
            "description": "Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html",
            "type": "string", "is_base": false,
        },
        "os_version": {"description": "Operating system version as specified by the distributor.", "type": "string", "is_base": false},
        "description": {"description": "A human-readable string describing this image.", "type": "string", "is_base": false},
        "cinder_encryption_key_id": {
            "description": "Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image",
            "type": "string", "is_base": false,
        },
        "cinder_encryption_key_deletion_policy": {
            "description": "States the condition under which the Image Service will delete the object associated with the 'cinder_encryption_key_id' image property.  If this property is missing, the Image Service will take no action",
            "type": "string", "enum": ["on_image_deletion", "do_not_delete"], "is_base": false,
        },
    });
    match props {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `GET /v2/schemas/image`
pub fn image(cfg: &Config) -> Value {
    let mut props = base_properties(cfg);
    props.extend(custom_properties());
    json!({
        "name": "image",
        "properties": props,
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

fn collection(name: &str, item: Value) -> Value {
    json!({
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    })
}

/// `GET /v2/schemas/images`
pub fn images(cfg: &Config) -> Value {
    collection("images", image(cfg))
}

/// `GET /v2/schemas/member`
pub fn member() -> Value {
    json!({
        "name": "member",
        "properties": {
            "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
            "image_id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
            "created_at": {"type": "string", "description": "Date and time of image member creation"},
            "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
            "status": {"type": "string", "description": "The status of this image member", "enum": ["pending", "accepted", "rejected"]},
            "schema": {"readOnly": true, "type": "string"},
        },
        "additionalProperties": false,
    })
}

/// `GET /v2/schemas/members`
pub fn members() -> Value {
    collection("members", member())
}

/// Validate image attributes against the image schema (as Glance's jsonschema does):
/// `Err` is the reason, for "Provided object does not match schema 'image': ...".
pub fn validate_image(schema: &Value, obj: &Map<String, Value>) -> Result<(), String> {
    let props = schema.get("properties").and_then(Value::as_object);
    for (k, v) in obj {
        match props.and_then(|p| p.get(k)) {
            Some(s) => validate(s, v)?,
            None => validate(&json!({"type": "string"}), v)?,
        }
    }
    Ok(())
}

/// Python's `repr` of a JSON value, as jsonschema's messages show it.
fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!("[{}]", a.iter().map(repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("'{k}': {}", repr(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Value::Number(n) => n.to_string(),
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The subset of JSON Schema the image and member schemas use.
fn validate(schema: &Value, v: &Value) -> Result<(), String> {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_ok(t, v)) {
            let names = types
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!("{} is not of type {names}", repr(v)));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!(
                "{} is not one of {}",
                repr(v),
                repr(&Value::Array(e.clone()))
            ));
        }
    }
    if let Value::String(s) = v {
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if s.chars().count() as u64 > max {
                return Err(format!("{} is too long", repr(v)));
            }
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if (s.chars().count() as u64) < min {
                return Err(format!("{} is too short", repr(v)));
            }
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
            if p == UUID_PATTERN && !is_uuid(s) {
                return Err(format!("{} does not match '{p}'", repr(v)));
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (v, schema.get("items")) {
        for i in items {
            validate(item_schema, i)?;
        }
    }
    if let (Value::Object(m), Some(props)) =
        (v, schema.get("properties").and_then(Value::as_object))
    {
        for (k, x) in m {
            match props.get(k) {
                Some(s) => validate(s, x)?,
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return Err(format!(
                        "Additional properties are not allowed ('{k}' was unexpected)"
                    ))
                }
                None => {}
            }
        }
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = r.as_str() {
                if !m.contains_key(r) {
                    return Err(format!("'{r}' is a required property"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(doc: Value, want: Result<(), &str>) {
        let schema = image(&Config::default());
        let got = validate_image(&schema, doc.as_object().unwrap());
        match (got, want) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(w)) => assert!(e.contains(w), "{e:?} lacks {w:?}"),
            (got, want) => panic!("{doc}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn image_documents() {
        check(
            json!({"name": "x", "disk_format": "qcow2", "container_format": "bare", "min_ram": 1, "tags": ["a"]}),
            Ok(()),
        );
        check(
            json!({"name": null, "disk_format": null, "kernel_id": null, "os_distro": "debian"}),
            Ok(()),
        );
        check(json!({"name": 1}), Err("1 is not of type 'null', 'string'"));
        check(
            json!({"disk_format": "floppy"}),
            Err("'floppy' is not one of [None, 'ami'"),
        );
        check(json!({"visibility": "everyone"}), Err("is not one of"));
        check(json!({"min_ram": "1"}), Err("'1' is not of type 'integer'"));
        check(json!({"protected": "yes"}), Err("is not of type 'boolean'"));
        check(json!({"custom": 1}), Err("1 is not of type 'string'"));
        check(json!({"custom": true}), Err("True is not of type 'string'"));
        check(json!({"tags": ["a", 1]}), Err("1 is not of type 'string'"));
        check(json!({"tags": ["x".repeat(256)]}), Err("is too long"));
        check(json!({"id": "not-a-uuid"}), Err("does not match"));
        check(json!({"kernel_id": "nope"}), Err("does not match"));
        check(
            json!({"cinder_encryption_key_deletion_policy": "never"}),
            Err("is not one of"),
        );
    }

    #[test]
    fn schema_documents() {
        let s = image(&Config::default());
        assert_eq!(s["additionalProperties"], json!({"type": "string"}));
        assert_eq!(s["properties"]["os_distro"]["is_base"], json!(false));
        assert!(s["properties"]["name"].get("is_base").is_none());
        assert_eq!(
            images(&Config::default())["properties"]["images"]["items"]["name"],
            "image"
        );
        assert_eq!(member()["additionalProperties"], json!(false));
        assert_eq!(members()["links"][0]["rel"], "first");
    }
}

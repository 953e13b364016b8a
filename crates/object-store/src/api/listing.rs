//! Listings: the query (`prefix`, `delimiter`, `marker`, `end_marker`, `limit`,
//! `reverse`, `format`) and the three bodies (plain text, JSON, XML).

use api_common::{Error, ErrorKind};
use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::model::{ContainerEntry, ListQuery, ObjectEntry};

/// The body format a listing is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Plain => "text/plain; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }
}

fn precondition(m: impl Into<String>) -> Error {
    Error::new(ErrorKind::PreconditionFailed, m)
}

/// The listing query of a request, and the format: `format=` first, then `Accept`.
pub fn parse(
    query: Option<&str>,
    headers: &HeaderMap,
    max: usize,
) -> Result<(ListQuery, Format), Error> {
    let mut q = ListQuery {
        limit: max,
        ..Default::default()
    };
    let mut format = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "prefix" => q.prefix = v.into_owned(),
            "marker" => q.marker = v.into_owned(),
            "end_marker" => q.end_marker = v.into_owned(),
            "delimiter" => {
                let mut chars = v.chars();
                q.delimiter = match (chars.next(), chars.next()) {
                    (None, _) => None,
                    (Some(c), None) => Some(c),
                    _ => return Err(precondition("Bad delimiter")),
                }
            }
            "limit" => {
                let n: usize = v
                    .parse()
                    .map_err(|_| precondition("Value of limit must be a positive integer"))?;
                if n > max {
                    return Err(precondition(format!("Maximum limit is {max}")));
                }
                q.limit = n;
            }
            "reverse" => {
                q.reverse = matches!(
                    v.to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on" | "t" | "y"
                )
            }
            "format" => {
                format = Some(match v.to_ascii_lowercase().as_str() {
                    "json" => Format::Json,
                    "xml" => Format::Xml,
                    _ => Format::Plain,
                })
            }
            _ => {}
        }
    }
    let format = format.unwrap_or_else(|| {
        let accept = super::header(headers, "accept").unwrap_or("");
        if accept.contains("application/json") {
            Format::Json
        } else if accept.contains("application/xml") || accept.contains("text/xml") {
            Format::Xml
        } else {
            Format::Plain
        }
    });
    Ok((q, format))
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            _ => o.push(c),
        }
    }
    o
}

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A container listing's body.
pub fn objects(container: &str, rows: &[ObjectEntry], f: Format) -> String {
    match f {
        Format::Plain => rows.iter().map(|r| format!("{}\n", r.name())).collect(),
        Format::Json => {
            let v: Vec<Value> = rows
                .iter()
                .map(|r| match r {
                    ObjectEntry::Object {
                        name,
                        bytes,
                        content_type,
                        hash,
                        last_modified,
                    } => json!({"hash": hash, "last_modified": last_modified.iso(), "bytes": bytes,
                        "name": name, "content_type": content_type}),
                    ObjectEntry::Subdir(d) => json!({"subdir": d}),
                })
                .collect();
            Value::Array(v).to_string()
        }
        Format::Xml => {
            let mut s = format!("{XML_HEAD}<container name=\"{}\">", xml_escape(container));
            for r in rows {
                match r {
                    ObjectEntry::Object {
                        name,
                        bytes,
                        content_type,
                        hash,
                        last_modified,
                    } => s.push_str(&format!(
                        "<object><name>{}</name><hash>{hash}</hash><bytes>{bytes}</bytes><content_type>{}</content_type><last_modified>{}</last_modified></object>",
                        xml_escape(name),
                        xml_escape(content_type),
                        last_modified.iso()
                    )),
                    ObjectEntry::Subdir(d) => {
                        let d = xml_escape(d);
                        s.push_str(&format!("<subdir name=\"{d}\"><name>{d}</name></subdir>"))
                    }
                }
            }
            s.push_str("</container>");
            s
        }
    }
}

/// An account listing's body.
pub fn containers(account: &str, rows: &[ContainerEntry], f: Format) -> String {
    match f {
        Format::Plain => rows.iter().map(|r| format!("{}\n", r.name())).collect(),
        Format::Json => {
            let v: Vec<Value> = rows
                .iter()
                .map(|r| match r {
                    ContainerEntry::Container {
                        name,
                        count,
                        bytes,
                        last_modified,
                    } => json!({"name": name, "count": count, "bytes": bytes,
                        "last_modified": last_modified.iso()}),
                    ContainerEntry::Subdir(d) => json!({"subdir": d}),
                })
                .collect();
            Value::Array(v).to_string()
        }
        Format::Xml => {
            let mut s = format!("{XML_HEAD}<account name=\"{}\">", xml_escape(account));
            for r in rows {
                match r {
                    ContainerEntry::Container {
                        name,
                        count,
                        bytes,
                        last_modified,
                    } => s.push_str(&format!(
                        "<container><name>{}</name><count>{count}</count><bytes>{bytes}</bytes><last_modified>{}</last_modified></container>",
                        xml_escape(name),
                        last_modified.iso()
                    )),
                    ContainerEntry::Subdir(d) => {
                        let d = xml_escape(d);
                        s.push_str(&format!("<subdir name=\"{d}\"><name>{d}</name></subdir>"))
                    }
                }
            }
            s.push_str("</account>");
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    #[test]
    fn queries() {
        let h = HeaderMap::new();
        let (q, f) = parse(
            Some("prefix=a%2Fb&delimiter=/&limit=5&reverse=true&format=json"),
            &h,
            100,
        )
        .unwrap();
        assert_eq!(q.prefix, "a/b");
        assert_eq!(q.delimiter, Some('/'));
        assert_eq!(q.limit, 5);
        assert!(q.reverse);
        assert_eq!(f, Format::Json);
        assert_eq!(
            parse(Some("limit=101"), &h, 100).unwrap_err().kind,
            ErrorKind::PreconditionFailed
        );
        assert!(parse(Some("delimiter=ab"), &h, 100).is_err());
        let mut h = HeaderMap::new();
        h.insert("accept", "application/xml".parse().unwrap());
        assert_eq!(parse(None, &h, 100).unwrap().1, Format::Xml);
    }

    #[test]
    fn bodies() {
        let rows = vec![
            ObjectEntry::Object {
                name: "a<b".into(),
                bytes: 3,
                content_type: "text/plain".into(),
                hash: "h".into(),
                last_modified: Timestamp(100_000),
            },
            ObjectEntry::Subdir("d/".into()),
        ];
        assert_eq!(objects("c", &rows, Format::Plain), "a<b\nd/\n");
        let j: Value = serde_json::from_str(&objects("c", &rows, Format::Json)).unwrap();
        assert_eq!(j[0]["bytes"], 3);
        assert_eq!(j[0]["last_modified"], "1970-01-01T00:00:01.000000");
        assert_eq!(j[1]["subdir"], "d/");
        let x = objects("c", &rows, Format::Xml);
        assert!(x.contains("<name>a&lt;b</name>"), "{x}");
        assert!(
            x.contains("<subdir name=\"d/\"><name>d/</name></subdir>"),
            "{x}"
        );
    }
}

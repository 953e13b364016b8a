//! Lists as Neutron serves them: filters on any attribute (`?name=a&name=b` is either),
//! tag filters (`tags`, `tags-any`, `not-tags`, `not-tags-any`), `fields=`, sorting
//! (`sort_key` / `sort_dir`, repeated) and pagination (`limit`, `marker`,
//! `page_reverse`) with `<collection>_links`. They apply to the rendered resources, so
//! a filter matches exactly what the client sees.

use std::cmp::Ordering;

use api_common::{Error, Result};
use serde_json::{json, Map, Value};

use crate::ipam::invalid;

/// A parsed list query.
#[derive(Debug, Default)]
pub struct ListQuery {
    pairs: Vec<(String, String)>,
    pub fields: Vec<String>,
    sort: Vec<(String, bool)>,
    limit: Option<usize>,
    marker: Option<String>,
    page_reverse: bool,
}

const CONTROL: &[&str] = &[
    "fields",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "page_reverse",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
];

impl ListQuery {
    pub fn parse(raw: Option<&str>, max_limit: usize) -> Result<ListQuery> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let mut q = ListQuery::default();
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        for (k, v) in &pairs {
            match k.as_str() {
                "fields" => q
                    .fields
                    .extend(v.split(',').filter(|f| !f.is_empty()).map(str::to_owned)),
                "sort_key" => keys.push(v.clone()),
                "sort_dir" => match v.as_str() {
                    "asc" => dirs.push(true),
                    "desc" => dirs.push(false),
                    _ => return Err(invalid(format_args!("'{v}' is not in ['asc', 'desc']"))),
                },
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| Error::bad_request(format!("Bad limit request: Limit must be an integer 0 or greater and not '{v}'.")).with_code("BadRequest"))?;
                    let n = usize::try_from(n).map_err(|_| Error::bad_request(format!("Bad limit request: Limit must be an integer 0 or greater and not '{v}'.")).with_code("BadRequest"))?;
                    q.limit = (n > 0).then_some(n.min(max_limit));
                }
                "marker" => q.marker = Some(v.clone()),
                "page_reverse" => q.page_reverse = v.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        if dirs.len() > keys.len() || (!dirs.is_empty() && dirs.len() != keys.len()) {
            return Err(
                Error::bad_request("The number of sort_keys and sort_dirs must be same")
                    .with_code("BadRequest"),
            );
        }
        q.sort = keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, dirs.get(i).copied().unwrap_or(true)))
            .collect();
        q.pairs = pairs;
        Ok(q)
    }

    /// The value of one filter (for filters the store applies itself).
    pub fn filter(&self, key: &str) -> Option<&str> {
        let mut it = self.pairs.iter().filter(|(k, _)| k == key);
        let first = it.next()?;
        it.next().is_none().then_some(first.1.as_str())
    }

    /// Filter, sort, page and cut the `items` of `collection`; `attributes` are the keys
    /// a filter may name. Returns the body (`{collection: [...], collection_links}`).
    pub fn apply(
        &self,
        collection: &str,
        base: &str,
        attributes: &[&str],
        items: Vec<Value>,
    ) -> Result<Value> {
        let mut filters: Vec<(&str, Vec<&str>)> = Vec::new();
        for (k, v) in &self.pairs {
            if CONTROL.contains(&k.as_str()) {
                continue;
            }
            if !attributes.contains(&k.as_str()) {
                return Err(Error::bad_request(format!(
                    "['{k}'] is invalid attribute for filtering"
                ))
                .with_code("HTTPBadRequest"));
            }
            match filters.iter_mut().find(|(name, _)| *name == k.as_str()) {
                Some((_, vals)) => vals.push(v.as_str()),
                None => filters.push((k.as_str(), vec![v.as_str()])),
            }
        }
        let tag_set = |key: &str| -> Option<Vec<String>> {
            let v: Vec<String> = self
                .pairs
                .iter()
                .filter(|(k, _)| k == key)
                .flat_map(|(_, v)| v.split(',').map(str::to_owned))
                .collect();
            (!v.is_empty()).then_some(v)
        };
        let (all, any, not_all, not_any) = (
            tag_set("tags"),
            tag_set("tags-any"),
            tag_set("not-tags"),
            tag_set("not-tags-any"),
        );
        let mut items: Vec<Value> = items
            .into_iter()
            .filter(|item| {
                filters
                    .iter()
                    .all(|(k, vals)| vals.iter().any(|v| matches(item.get(*k), v)))
                    && tag_filter(
                        item,
                        all.as_deref(),
                        any.as_deref(),
                        not_all.as_deref(),
                        not_any.as_deref(),
                    )
            })
            .collect();
        let mut sort = self.sort.clone();
        for (k, _) in &sort {
            if !attributes.contains(&k.as_str()) {
                return Err(
                    Error::bad_request(format!("{k} is invalid attribute for sort_keys"))
                        .with_code("HTTPBadRequest"),
                );
            }
        }
        if !sort.iter().any(|(k, _)| k == "id") {
            let dir = sort.first().map(|s| s.1).unwrap_or(true);
            sort.push(("id".into(), dir));
        }
        items.sort_by(|a, b| {
            for (k, asc) in &sort {
                let o = compare(a.get(k), b.get(k));
                if o != Ordering::Equal {
                    return if *asc { o } else { o.reverse() };
                }
            }
            Ordering::Equal
        });
        let mut links = Vec::new();
        if let Some(limit) = self.limit {
            let pos = self.marker.as_ref().and_then(|m| {
                items
                    .iter()
                    .position(|i| i.get("id").and_then(Value::as_str) == Some(m.as_str()))
            });
            if self.marker.is_some() && pos.is_none() {
                return Err(Error::not_found(format!(
                    "Marker {} could not be found.",
                    self.marker.as_deref().unwrap_or("")
                ))
                .with_code("NotFound"));
            }
            let (page, more): (Vec<Value>, bool) = if self.page_reverse {
                let end = pos.unwrap_or(items.len());
                let start = end.saturating_sub(limit);
                (items[start..end].to_vec(), start > 0)
            } else {
                let start = pos.map_or(0, |p| p + 1);
                let end = (start + limit).min(items.len());
                (items[start..end].to_vec(), end < items.len())
            };
            let link = |rel: &str, marker: &Value, reverse: bool| {
                let mut pairs: Vec<(String, String)> = self
                    .pairs
                    .iter()
                    .filter(|(k, _)| k != "marker" && k != "page_reverse")
                    .cloned()
                    .collect();
                pairs.push(("marker".into(), marker.as_str().unwrap_or("").to_owned()));
                if reverse {
                    pairs.push(("page_reverse".into(), "True".into()));
                }
                let q = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&pairs)
                    .finish();
                json!({"rel": rel, "href": format!("{base}/v2.0/{collection}?{q}")})
            };
            if let (Some(first), Some(last)) = (page.first(), page.last()) {
                let (next_more, prev_more) = if self.page_reverse {
                    (self.marker.is_some(), more)
                } else {
                    (more, self.marker.is_some())
                };
                if next_more {
                    links.push(link("next", &last["id"], false));
                }
                if prev_more {
                    links.push(link("previous", &first["id"], true));
                }
            }
            items = page;
        }
        if !self.fields.is_empty() {
            for item in &mut items {
                if let Value::Object(m) = item {
                    m.retain(|k, _| self.fields.iter().any(|f| f == k));
                }
            }
        }
        let mut body = Map::new();
        body.insert(collection.replace('-', "_"), Value::Array(items));
        if !links.is_empty() {
            body.insert(
                format!("{}_links", collection.replace('-', "_")),
                Value::Array(links),
            );
        }
        Ok(Value::Object(body))
    }

    /// `fields=` on a single resource.
    pub fn cut(&self, mut item: Value) -> Value {
        if !self.fields.is_empty() {
            if let Value::Object(m) = &mut item {
                m.retain(|k, _| self.fields.iter().any(|f| f == k));
            }
        }
        item
    }
}

/// A filter value matches an attribute as Neutron compares them: text exactly, booleans
/// and numbers by their text, lists by membership (and `fixed_ips` by `key=value`).
fn matches(attr: Option<&Value>, wanted: &str) -> bool {
    match attr {
        None => false,
        Some(Value::Null) => wanted.is_empty() || wanted == "None",
        Some(Value::String(s)) => s == wanted,
        Some(Value::Bool(b)) => {
            wanted.eq_ignore_ascii_case(if *b { "true" } else { "false" })
                || wanted == if *b { "1" } else { "0" }
        }
        Some(Value::Number(n)) => n.to_string() == wanted,
        Some(Value::Array(a)) => a.iter().any(|v| match (v, wanted.split_once('=')) {
            (Value::Object(o), Some((k, want))) => o.get(k).and_then(Value::as_str) == Some(want),
            (v, _) => matches(Some(v), wanted),
        }),
        Some(Value::Object(_)) => false,
    }
}

fn tag_filter(
    item: &Value,
    all: Option<&[String]>,
    any: Option<&[String]>,
    not_all: Option<&[String]>,
    not_any: Option<&[String]>,
) -> bool {
    let tags: Vec<&str> = item
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let has = |t: &String| tags.contains(&t.as_str());
    all.is_none_or(|a| a.iter().all(has))
        && any.is_none_or(|a| a.iter().any(has))
        && not_all.is_none_or(|a| !a.iter().all(has))
        && not_any.is_none_or(|a| !a.iter().any(has))
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
        (None | Some(Value::Null), _) => Ordering::Less,
        (_, None | Some(Value::Null)) => Ordering::Greater,
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> Vec<Value> {
        (0..5)
            .map(|i| json!({"id": format!("id{i}"), "name": if i % 2 == 0 { "even" } else { "odd" }, "shared": i == 3, "tags": if i < 2 { vec!["a"] } else { vec!["b"] }}))
            .collect()
    }
    const ATTRS: &[&str] = &["id", "name", "shared", "tags"];

    fn ids(v: &Value) -> Vec<String> {
        v["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn filters_sorting_paging() {
        let q = |s: &str| ListQuery::parse(Some(s), 1000).unwrap();
        assert_eq!(
            ids(&q("name=odd").apply("networks", "", ATTRS, items()).unwrap()),
            ["id1", "id3"]
        );
        assert_eq!(
            ids(&q("shared=True")
                .apply("networks", "", ATTRS, items())
                .unwrap()),
            ["id3"]
        );
        assert_eq!(
            ids(&q("tags=b&not-tags-any=a")
                .apply("networks", "", ATTRS, items())
                .unwrap()),
            ["id2", "id3", "id4"]
        );
        assert!(q("bogus=1").apply("networks", "", ATTRS, items()).is_err());
        let sorted = q("sort_key=name&sort_dir=desc")
            .apply("networks", "", ATTRS, items())
            .unwrap();
        assert_eq!(ids(&sorted), ["id3", "id1", "id4", "id2", "id0"]);
        let page = q("limit=2")
            .apply("networks", "http://h", ATTRS, items())
            .unwrap();
        assert_eq!(ids(&page), ["id0", "id1"]);
        let next = page["networks_links"][0]["href"].as_str().unwrap();
        assert!(next.contains("marker=id1"), "{next}");
        let page2 = q("limit=2&marker=id1")
            .apply("networks", "http://h", ATTRS, items())
            .unwrap();
        assert_eq!(ids(&page2), ["id2", "id3"]);
        let last = q("limit=2&marker=id3")
            .apply("networks", "http://h", ATTRS, items())
            .unwrap();
        assert_eq!(ids(&last), ["id4"]);
        assert_eq!(last["networks_links"].as_array().unwrap().len(), 1);
        let fields = q("fields=id")
            .apply("networks", "", ATTRS, items())
            .unwrap();
        assert_eq!(fields["networks"][0], json!({"id": "id0"}));
    }
}

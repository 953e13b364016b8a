//! Nova's paging: `limit` (cut to `max_limit`) and `marker` (the last id of the page
//! before; unknown: 400), with a `next` link when the page is full.

use api_common::Error;
use serde_json::{json, Value};

/// `limit` and `marker` of a query, and the rest of its pairs.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub limit: Option<usize>,
    pub marker: Option<String>,
    pub pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Query, Error> {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match &*k {
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| {
                        Error::bad_request(format!(
                            "Invalid input for query parameters limit. Value: {v}. '{v}' does not match '^[0-9]*$'"
                        ))
                    })?;
                    let n = usize::try_from(n)
                        .map_err(|_| Error::bad_request("limit param must be positive"))?;
                    q.limit = Some(n);
                }
                "marker" => q.marker = Some(v.into_owned()),
                _ => q.pairs.push((k.into_owned(), v.into_owned())),
            }
        }
        Ok(q)
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// One page of `items` (in order), and its `next` link under `url`.
    pub fn page<T>(
        &self,
        items: Vec<T>,
        max_limit: usize,
        id: impl Fn(&T) -> String,
        url: &str,
    ) -> Result<(Vec<T>, Option<Value>), Error> {
        let mut items = items;
        if let Some(m) = &self.marker {
            let Some(pos) = items.iter().position(|i| id(i) == *m) else {
                return Err(Error::bad_request(format!("marker [{m}] not found")));
            };
            items.drain(..=pos);
        }
        let limit = self.limit.unwrap_or(max_limit).min(max_limit);
        items.truncate(limit);
        // Nova links a next page whenever this one is full
        let next = match items.last() {
            Some(last) if items.len() == limit => {
                let mut s = form_urlencoded::Serializer::new(String::new());
                for (k, v) in &self.pairs {
                    s.append_pair(k, v);
                }
                s.append_pair("limit", &limit.to_string());
                s.append_pair("marker", &id(last));
                Some(json!([{"rel": "next", "href": format!("{url}?{}", s.finish())}]))
            }
            _ => None,
        };
        Ok((items, next))
    }
}

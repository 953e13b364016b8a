//! `limit` / `marker` pagination and `next` links.

use serde::Deserialize;

use crate::error::Error;

/// The paging part of a list query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub marker: Option<String>,
}

/// A validated page request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub limit: Option<usize>,
    pub marker: Option<String>,
}

impl Page {
    /// Validate `limit` (a non-negative integer) and cap it at `max`.
    pub fn parse(q: &PageQuery, max: usize) -> Result<Page, Error> {
        let limit = match &q.limit {
            None => None,
            Some(l) => Some(
                l.parse::<usize>()
                    .map_err(|_| {
                        Error::bad_request(format!(
                            "limit must be a non-negative integer, got '{l}'"
                        ))
                    })?
                    .min(max),
            ),
        };
        Ok(Page {
            limit,
            marker: q.marker.clone().filter(|m| !m.is_empty()),
        })
    }

    /// Apply the page to items sorted in list order; `id` extracts the marker key. An
    /// unknown marker is a 400 as in OpenStack. Returns the page and whether more follow.
    pub fn apply<T>(
        &self,
        items: Vec<T>,
        id: impl Fn(&T) -> &str,
    ) -> Result<(Vec<T>, bool), Error> {
        let start =
            match &self.marker {
                None => 0,
                Some(m) => {
                    items.iter().position(|i| id(i) == m).ok_or_else(|| {
                        Error::bad_request(format!("marker {m} could not be found"))
                    })? + 1
                }
            };
        let mut it: Vec<T> = items.into_iter().skip(start).collect();
        let more = match self.limit {
            Some(l) if it.len() > l => {
                it.truncate(l);
                true
            }
            _ => false,
        };
        Ok((it, more))
    }
}

/// A `next` link: the same query with `marker` replaced by the last item's id.
pub fn next_link(base: &str, path: &str, query: Option<&str>, marker: &str) -> String {
    let mut pairs: Vec<String> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("marker="))
        .map(str::to_owned)
        .collect();
    pairs.push(format!("marker={marker}"));
    format!("{}{}?{}", base.trim_end_matches('/'), path, pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: Option<&str>, marker: Option<&str>) -> Page {
        Page::parse(
            &PageQuery {
                limit: limit.map(Into::into),
                marker: marker.map(Into::into),
            },
            100,
        )
        .unwrap()
    }

    #[test]
    fn pages() {
        let items = vec!["a", "b", "c", "d"];
        let check = |p: Page, want: &[&str], more: bool| {
            let (got, m) = p.apply(items.clone(), |s| s).unwrap();
            assert_eq!((got.as_slice(), m), (want, more));
        };
        check(page(None, None), &["a", "b", "c", "d"], false);
        check(page(Some("2"), None), &["a", "b"], true);
        check(page(Some("2"), Some("b")), &["c", "d"], false);
        check(page(Some("500"), Some("a")), &["b", "c", "d"], false);
        assert!(page(None, Some("zz")).apply(items.clone(), |s| s).is_err());
        assert!(Page::parse(
            &PageQuery {
                limit: Some("-1".into()),
                marker: None
            },
            10
        )
        .is_err());
    }

    #[test]
    fn links() {
        assert_eq!(
            next_link(
                "http://h:1/",
                "/v2/images",
                Some("limit=2&marker=x&name=a"),
                "y"
            ),
            "http://h:1/v2/images?limit=2&name=a&marker=y"
        );
    }
}

//! `Range` (RFC 9110 byte ranges, as Swift reads them) and the conditional headers.

use axum::http::HeaderMap;

use super::header;

/// What a `Range` header asks of an object of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// No header, or one Swift ignores (not `bytes=`, malformed): the whole object.
    Full,
    /// `[start, end)` pieces, in the order asked.
    Parts(Vec<(u64, u64)>),
    /// Well-formed, but nothing of it is inside the object: 416.
    Unsatisfiable,
}

pub fn parse(value: Option<&str>, len: u64) -> Ranges {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ranges::Full;
    };
    let mut parts = Vec::new();
    let mut any = false;
    for item in spec.split(',').map(str::trim) {
        let Some((a, b)) = item.split_once('-') else {
            return Ranges::Full;
        };
        let num = |s: &str| -> Option<u64> {
            (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
        };
        any = true;
        match (a.trim(), b.trim()) {
            ("", n) => {
                let Some(n) = num(n) else { return Ranges::Full };
                if n > 0 && len > 0 {
                    parts.push((len.saturating_sub(n), len));
                }
            }
            (s, "") => {
                let Some(s) = num(s) else { return Ranges::Full };
                if s < len {
                    parts.push((s, len));
                }
            }
            (s, e) => {
                let (Some(s), Some(e)) = (num(s), num(e)) else {
                    return Ranges::Full;
                };
                if e < s {
                    return Ranges::Full;
                }
                if s < len {
                    parts.push((s, (e + 1).min(len)));
                }
            }
        }
    }
    match (any, parts.is_empty()) {
        (false, _) => Ranges::Full,
        (true, true) => Ranges::Unsatisfiable,
        (true, false) => Ranges::Parts(parts),
    }
}

/// What the conditional headers decide for an object with this ETag and
/// `Last-Modified` (in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Serve,
    NotModified,
    Failed,
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

fn http_secs(v: &str) -> Option<u64> {
    httpdate::parse_http_date(v)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

pub fn condition(h: &HeaderMap, etag: &str, modified: u64) -> Condition {
    if let Some(m) = header(h, "if-match") {
        if !etag_matches(m, etag) {
            return Condition::Failed;
        }
    }
    if let Some(since) = header(h, "if-unmodified-since").and_then(http_secs) {
        if modified > since {
            return Condition::Failed;
        }
    }
    if let Some(m) = header(h, "if-none-match") {
        if etag_matches(m, etag) {
            return Condition::NotModified;
        }
    } else if let Some(since) = header(h, "if-modified-since").and_then(http_secs) {
        if modified <= since {
            return Condition::NotModified;
        }
    }
    Condition::Serve
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = |v: &str| parse(Some(v), 10);
        assert_eq!(parse(None, 10), Ranges::Full);
        assert_eq!(p("bytes=0-4"), Ranges::Parts(vec![(0, 5)]));
        assert_eq!(p("bytes=5-"), Ranges::Parts(vec![(5, 10)]));
        assert_eq!(p("bytes=-3"), Ranges::Parts(vec![(7, 10)]));
        assert_eq!(p("bytes=-30"), Ranges::Parts(vec![(0, 10)]));
        assert_eq!(p("bytes=8-20"), Ranges::Parts(vec![(8, 10)]));
        assert_eq!(p("bytes=0-0,-1"), Ranges::Parts(vec![(0, 1), (9, 10)]));
        assert_eq!(p("bytes=10-"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=5-2"), Ranges::Full);
        assert_eq!(p("bytes=a-b"), Ranges::Full);
        assert_eq!(p("lines=1-2"), Ranges::Full);
    }

    #[test]
    fn conditions() {
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, v.parse().unwrap());
            }
            m
        };
        let at = 1_700_000_000;
        let date = |s: u64| {
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s))
        };
        assert_eq!(condition(&h(&[]), "e", at), Condition::Serve);
        assert_eq!(
            condition(&h(&[("if-match", "\"e\"")]), "e", at),
            Condition::Serve
        );
        assert_eq!(
            condition(&h(&[("if-match", "x")]), "e", at),
            Condition::Failed
        );
        assert_eq!(
            condition(&h(&[("if-match", "*")]), "e", at),
            Condition::Serve
        );
        assert_eq!(
            condition(&h(&[("if-none-match", "e")]), "e", at),
            Condition::NotModified
        );
        assert_eq!(
            condition(&h(&[("if-none-match", "*")]), "e", at),
            Condition::NotModified
        );
        assert_eq!(
            condition(&h(&[("if-none-match", "x")]), "e", at),
            Condition::Serve
        );
        assert_eq!(
            condition(&h(&[("if-modified-since", &date(at))]), "e", at),
            Condition::NotModified
        );
        assert_eq!(
            condition(&h(&[("if-modified-since", &date(at - 1))]), "e", at),
            Condition::Serve
        );
        assert_eq!(
            condition(&h(&[("if-unmodified-since", &date(at - 1))]), "e", at),
            Condition::Failed
        );
        assert_eq!(
            condition(&h(&[("if-unmodified-since", &date(at))]), "e", at),
            Condition::Serve
        );
    }
}

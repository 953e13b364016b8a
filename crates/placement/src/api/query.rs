//! Query strings, checked as placement checks them: unknown or repeated parameters, and
//! the forms of `resources`, `required`, `member_of` of each microversion.

use api_common::{microversion::Version, Error, Result};

use crate::{
    app::codes,
    model::{AggregateFilter, ProviderId, Resources, TraitFilter, MAX_INT},
};

/// The parameters of a request, in order.
pub struct Query(pub Vec<(String, String)>);

pub fn bad(msg: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Invalid query string parameters: {msg}"))
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Refuse parameters `ok` does not accept.
    pub fn only(&self, ok: impl Fn(&str) -> bool) -> Result<()> {
        match self.0.iter().find(|(k, _)| !ok(k)) {
            Some((k, _)) => Err(bad(format_args!(
                "Additional properties are not allowed ('{k}' was unexpected)"
            ))),
            None => Ok(()),
        }
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A parameter given at most once.
    pub fn one(&self, key: &str) -> Result<Option<&str>> {
        let all = self.all(key);
        let first = all.first().copied();
        if all.len() > 1 {
            return Err(Error::bad_request(format!(
                "Query parameter '{key}' may be specified only once."
            ))
            .with_code(codes::DUPLICATE_KEY));
        }
        Ok(first)
    }

    pub fn uuid(&self, key: &str) -> Result<Option<ProviderId>> {
        self.one(key)?
            .map(|v| {
                v.parse()
                    .map_err(|_| bad(format_args!("'{v}' is not a 'uuid'")))
            })
            .transpose()
    }
}

/// `VCPU:2,MEMORY_MB:1024`.
pub fn resources(raw: &str) -> Result<Resources> {
    let err = || {
        Error::bad_request(format!(
            "Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {raw}."
        ))
        .with_code(codes::BAD_VALUE)
    };
    let mut out = Resources::new();
    for part in raw.split(',') {
        let (rc, n) = part.split_once(':').ok_or_else(err)?;
        let n: i64 = n.trim().parse().map_err(|_| err())?;
        if rc.is_empty() || !(1..=MAX_INT).contains(&n) {
            return Err(err());
        }
        if out.insert(rc.trim().to_owned(), n).is_some() {
            return Err(err());
        }
    }
    Ok(out)
}

/// Every `required` value ANDed: `A,!B` (forbidden from 1.22), `in:A,B` (any of, 1.39).
pub fn required(values: &[&str], v: Version) -> Result<TraitFilter> {
    let mut f = TraitFilter::default();
    for raw in values {
        let form = || {
            bad(format_args!(
                "Expected 'required' parameter value of the form: HW_CPU_X86_VMX,{}CUSTOM_MAGIC. Got: {raw}",
                if v.at_least(1, 22) { "!" } else { "" }
            ))
            .with_code(codes::BAD_VALUE)
        };
        if let Some(list) = raw.strip_prefix("in:").filter(|_| v.at_least(1, 39)) {
            let any: Vec<String> = list.split(',').map(|t| t.trim().to_owned()).collect();
            if any.iter().any(|t| t.is_empty() || t.starts_with('!')) {
                return Err(form());
            }
            f.all_of_any.push(any);
            continue;
        }
        for t in raw.split(',').map(str::trim) {
            match t.strip_prefix('!') {
                Some(n) if v.at_least(1, 22) && !n.is_empty() => f.forbidden.push(n.to_owned()),
                Some(_) => return Err(form()),
                None if t.is_empty() => return Err(form()),
                None => f.all_of_any.push(vec![t.to_owned()]),
            }
        }
    }
    Ok(f)
}

/// Every `member_of` value ANDed: `<agg>`, `in:<agg>,<agg>`, `!<agg>`/`!in:...` (1.32).
pub fn member_of(values: &[&str], v: Version) -> Result<AggregateFilter> {
    if values.len() > 1 && !v.at_least(1, 24) {
        return Err(Error::bad_request(
            "Multiple member_of parameters are not supported",
        ));
    }
    let mut f = AggregateFilter::default();
    for raw in values {
        let (forbidden, rest) = match raw.strip_prefix('!') {
            Some(r) if v.at_least(1, 32) => (true, r),
            _ => (false, *raw),
        };
        let list = rest.strip_prefix("in:").unwrap_or(rest);
        let mut aggs = Vec::new();
        for a in list.split(',') {
            match uuid::Uuid::parse_str(a.trim()) {
                Ok(u) => aggs.push(u.hyphenated().to_string()),
                Err(_) => {
                    return Err(Error::bad_request(format!(
                        "Invalid query string parameters: Expected 'member_of' parameter to contain valid UUID(s). Got: {raw}"
                    ))
                    .with_code(codes::BAD_VALUE))
                }
            }
        }
        if forbidden {
            if rest.starts_with("in:") || aggs.len() == 1 {
                f.forbidden.extend(aggs);
            }
        } else {
            f.all_of_any.push(aggs);
        }
    }
    Ok(f)
}

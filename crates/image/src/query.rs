//! The query of `GET /v2/images`: filters, sorting and paging, parsed and validated as
//! Glance does (its `RequestDeserializer.index` and the database layer's filter rules).

use api_common::Error;

use crate::model::MemberStatus;

/// An image attribute a list can filter or sort on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    Name,
    Status,
    ContainerFormat,
    DiskFormat,
    Owner,
    Checksum,
    OsHashAlgo,
    OsHashValue,
    Size,
    VirtualSize,
    MinDisk,
    MinRam,
    Protected,
    CreatedAt,
    UpdatedAt,
}

impl Column {
    fn named(name: &str) -> Option<Column> {
        use Column::*;
        Some(match name {
            "id" => Id,
            "name" => Name,
            "status" => Status,
            "container_format" => ContainerFormat,
            "disk_format" => DiskFormat,
            "owner" => Owner,
            "checksum" => Checksum,
            "os_hash_algo" => OsHashAlgo,
            "os_hash_value" => OsHashValue,
            "size" => Size,
            "virtual_size" => VirtualSize,
            "min_disk" => MinDisk,
            "min_ram" => MinRam,
            "protected" => Protected,
            "created_at" => CreatedAt,
            "updated_at" => UpdatedAt,
            _ => return None,
        })
    }

    fn is_int(self) -> bool {
        matches!(
            self,
            Column::Size | Column::VirtualSize | Column::MinDisk | Column::MinRam
        )
    }
}

/// The keys Glance sorts on.
pub const SORT_KEYS: &[&str] = &[
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// One condition on an image attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Cmp(Column, Op, Value),
    In(Column, Vec<String>),
}

/// A validated image list query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: Option<usize>,
    pub marker: Option<String>,
    /// Shared images of which the caller is a member in this status; `None`: any.
    pub member_status: Option<MemberStatus>,
    /// `None`: the default view; `Some("all")`: every visibility.
    pub visibility: Option<String>,
    pub os_hidden: bool,
    /// Every one of these tags.
    pub tags: Vec<String>,
    /// Custom properties that must have these values.
    pub properties: Vec<(String, String)>,
    pub conds: Vec<Cond>,
    /// Complete, unique order: ends with `created_at` and `id`.
    pub sort: Vec<(Column, Dir)>,
}

/// Parse the query parameters (in request order) of an image list.
pub fn parse(params: &[(String, String)]) -> Result<ListQuery, Error> {
    let mut rest: Vec<(String, String)> = params.to_vec();
    let mut take = |key: &str| -> Vec<String> {
        let (hit, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut rest)
            .into_iter()
            .partition(|(k, _)| k == key);
        rest = keep;
        hit.into_iter().map(|(_, v)| v).collect()
    };
    let limit = match take("limit").first() {
        None => None,
        Some(l) => {
            let n: i64 = l
                .trim()
                .parse()
                .map_err(|_| Error::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(Error::bad_request("limit param must be positive"));
            }
            Some(
                usize::try_from(n)
                    .map_err(|_| Error::bad_request("limit param must be an integer"))?,
            )
        }
    };
    let marker = take("marker")
        .into_iter()
        .next()
        .map(|m| crate::model::normalize_id(&m));
    let member_status = match take("member_status")
        .first()
        .map(String::as_str)
        .unwrap_or("accepted")
    {
        "all" => None,
        s => Some(
            MemberStatus::parse(s)
                .ok_or_else(|| Error::bad_request(format!("Invalid status: {s}")))?,
        ),
    };
    let tags: Vec<String> = take("tag")
        .into_iter()
        .map(|t| t.trim().to_owned())
        .collect();
    let sort_new = take("sort");
    let sort_keys = take("sort_key");
    let sort_dirs = take("sort_dir");
    let sort = sorting(sort_new.first().map(String::as_str), &sort_keys, &sort_dirs)?;

    let visibility = take("visibility")
        .into_iter()
        .next()
        .filter(|v| !v.is_empty());
    if let Some(v) = &visibility {
        if !["community", "public", "private", "shared", "all"].contains(&v.as_str()) {
            return Err(Error::bad_request(format!("Invalid visibility value: {v}")));
        }
    }
    if take("changes-since").first().is_some_and(|v| !v.is_empty()) {
        return Err(Error::bad_request(
            "The \"changes-since\" filter is no longer available on v2.",
        ));
    }
    let os_hidden = match take("os_hidden").first().map(|v| v.to_lowercase()) {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(v) => {
            return Err(Error::bad_request(format!(
                "Invalid value '{v}' for 'os_hidden' filter. Valid values are 'true' or 'false'."
            )))
        }
    };
    let mut conds = Vec::new();
    match take("protected").first().map(String::as_str) {
        None => {}
        Some("true") => conds.push(Cond::Cmp(Column::Protected, Op::Eq, Value::Bool(true))),
        Some("false") => conds.push(Cond::Cmp(Column::Protected, Op::Eq, Value::Bool(false))),
        Some(v) => {
            return Err(Error::bad_request(format!(
                "Invalid value '{v}' for 'protected' filter. Valid values are 'true' or 'false'."
            )))
        }
    }
    for key in ["deleted", "deleted_at"] {
        take(key);
    }
    let mut properties = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in rest {
        if !seen.insert(k.clone()) {
            continue;
        }
        if let Some(base) = k.strip_suffix("_min").or_else(|| k.strip_suffix("_max")) {
            let col = Column::named(base)
                .filter(|c| c.is_int())
                .ok_or_else(|| Error::bad_request(format!("Invalid filter: {k}")))?;
            let n: i64 = v.trim().parse().map_err(|_| {
                Error::bad_request("Unable to filter on a range with a non-numeric value.")
            })?;
            let op = if k.ends_with("_min") {
                Op::Gte
            } else {
                Op::Lte
            };
            conds.push(Cond::Cmp(col, op, Value::Int(n)));
            continue;
        }
        match Column::named(&k) {
            Some(col @ (Column::CreatedAt | Column::UpdatedAt)) => {
                let (op, time) = split_op(&v);
                let op = comparison(&op)?;
                let t = parse_time(&time).ok_or_else(|| {
                    Error::bad_request(format!(
                        "Bad \"{k}\" query filter format. Use ISO 8601 DateTime notation."
                    ))
                })?;
                conds.push(Cond::Cmp(col, op, Value::Text(t)));
            }
            Some(
                col @ (Column::Name
                | Column::Id
                | Column::Status
                | Column::ContainerFormat
                | Column::DiskFormat),
            ) => {
                let (op, mut value) = split_op(&v);
                if col == Column::Id {
                    value = crate::model::normalize_id(&value);
                }
                match op.as_str() {
                    "in" => conds.push(Cond::In(col, split_values(&value)?)),
                    "eq" => conds.push(Cond::Cmp(col, Op::Eq, Value::Text(value))),
                    other => {
                        return Err(Error::bad_request(format!(
                            "Unable to filter by unknown operator '{other}'."
                        )))
                    }
                }
            }
            Some(col) if col.is_int() => {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| Error::bad_request(format!("Invalid filter value {v} for {k}")))?;
                conds.push(Cond::Cmp(col, Op::Eq, Value::Int(n)));
            }
            Some(col) => conds.push(Cond::Cmp(col, Op::Eq, Value::Text(v))),
            None => properties.push((k, v)),
        }
    }
    Ok(ListQuery {
        limit,
        marker,
        member_status,
        visibility,
        os_hidden,
        tags,
        properties,
        conds,
        sort,
    })
}

fn sort_key(k: &str) -> Result<Column, Error> {
    match Column::named(k) {
        Some(c) if SORT_KEYS.contains(&k) => Ok(c),
        _ => Err(Error::bad_request(format!(
            "Invalid sort key: {k}. It must be one of the following: {}.",
            SORT_KEYS.join(", ")
        ))),
    }
}

fn sort_dir(d: &str) -> Result<Dir, Error> {
    match d {
        "asc" => Ok(Dir::Asc),
        "desc" => Ok(Dir::Desc),
        _ => Err(Error::bad_request(format!("Invalid sort direction: {d}"))),
    }
}

/// Glance's two sort syntaxes: `sort=name:asc,size` and `sort_key=name&sort_dir=asc`.
/// The order is completed with `created_at` and `id` so that it is total.
fn sorting(
    new: Option<&str>,
    keys: &[String],
    dirs: &[String],
) -> Result<Vec<(Column, Dir)>, Error> {
    let mut sort = Vec::new();
    let mut default = Dir::Desc;
    if let Some(spec) = new {
        if !keys.is_empty() || !dirs.is_empty() {
            return Err(Error::bad_request(
                "Old and new sorting syntax cannot be combined",
            ));
        }
        for part in spec.trim().split(',') {
            let (k, d) = part.split_once(':').unwrap_or((part, ""));
            let d = if d.is_empty() { "desc" } else { d };
            sort.push((sort_key(k.trim())?, sort_dir(d.trim())?));
        }
    } else {
        let keys: Vec<Column> = keys
            .iter()
            .map(|k| sort_key(k.trim()))
            .collect::<Result<_, _>>()?;
        let dirs: Vec<Dir> = dirs
            .iter()
            .map(|d| sort_dir(d.trim()))
            .collect::<Result<_, _>>()?;
        if dirs.len() > 1 && dirs.len() != keys.len() {
            return Err(Error::bad_request(
                "Number of sort dirs does not match the number of sort keys",
            ));
        }
        let keys = if keys.is_empty() {
            vec![Column::CreatedAt]
        } else {
            keys
        };
        if dirs.len() == 1 {
            default = dirs[0];
        }
        for (i, k) in keys.into_iter().enumerate() {
            sort.push((k, dirs.get(i).copied().unwrap_or(default)));
        }
    }
    for k in [Column::CreatedAt, Column::Id] {
        if !sort.iter().any(|(c, _)| *c == k) {
            sort.push((k, default));
        }
    }
    Ok(sort)
}

/// `gte:2024-01-01T00:00:00Z` -> (`gte`, time); a bare ISO time (which has colons) is `eq`.
fn split_op(expr: &str) -> (String, String) {
    match expr.split_once(':') {
        Some(_) if parse_time(expr).is_some() => ("eq".into(), expr.into()),
        Some((op, v)) => (op.into(), v.into()),
        None => ("eq".into(), expr.into()),
    }
}

fn comparison(op: &str) -> Result<Op, Error> {
    Ok(match op {
        "eq" => Op::Eq,
        "neq" => Op::Neq,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        _ => {
            return Err(Error::bad_request(
                "Unable to filter on a unknown operator.",
            ))
        }
    })
}

/// An ISO 8601 time, normalised to the stored form (UTC, microseconds).
pub fn parse_time(s: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    let s = s.trim();
    let utc: DateTime<Utc> = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        t.with_timezone(&Utc)
    } else if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        t.with_timezone(&Utc)
    } else if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        t.and_utc()
    } else if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M") {
        t.and_utc()
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0)?.and_utc()
    } else {
        return None;
    };
    Some(utc.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
}

/// The values of an `in:` filter: comma-separated, double quotes around values that
/// contain commas (the API working group's rule, as Glance applies it).
pub fn split_values(value: &str) -> Result<Vec<String>, Error> {
    let b = value.as_bytes();
    let mut open = false;
    for i in 0..b.len() {
        if b[i] != b'"' || (i > 0 && b[i - 1] == b'\\') {
            continue;
        }
        if !open && i > 0 && b[i - 1] != b',' {
            return Err(Error::bad_request(format!(
                "Invalid filter value {value}. There is no comma before opening quotation mark."
            )));
        }
        if open && i + 1 != b.len() && b[i + 1] != b',' {
            return Err(Error::bad_request(format!(
                "Invalid filter value {value}. There is no comma after closing quotation mark."
            )));
        }
        open = !open;
    }
    if open {
        return Err(Error::bad_request(format!(
            "Invalid filter value {value}. The quote is not closed."
        )));
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && !(b[j] == b'"' && b[j - 1] != b'\\') {
                j += 1;
            }
            out.push(value[i + 1..j].to_owned());
            i = j + 1;
            if i < b.len() && b[i] == b',' {
                i += 1;
            }
        } else if b[i] == b',' {
            out.push(String::new());
            i += 1;
        } else {
            let j = value[i..].find(',').map_or(b.len(), |p| i + p);
            out.push(value[i..j].to_owned());
            i = if j < b.len() { j + 1 } else { j };
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<ListQuery, Error> {
        let params: Vec<(String, String)> =
            form_urlencoded::parse(s.as_bytes()).into_owned().collect();
        parse(&params)
    }

    fn sort_of(s: &str) -> Vec<(Column, Dir)> {
        q(s).unwrap().sort
    }

    fn bad(s: &str, want: &str) {
        let e = q(s).unwrap_err();
        assert!(
            e.message.contains(want),
            "{s}: {:?} lacks {want:?}",
            e.message
        );
    }

    #[test]
    fn sorting_syntaxes() {
        use Column::*;
        use Dir::*;
        assert_eq!(sort_of(""), [(CreatedAt, Desc), (Id, Desc)]);
        assert_eq!(
            sort_of("sort_key=name"),
            [(Name, Desc), (CreatedAt, Desc), (Id, Desc)]
        );
        assert_eq!(
            sort_of("sort_key=name&sort_dir=asc"),
            [(Name, Asc), (CreatedAt, Asc), (Id, Asc)]
        );
        assert_eq!(
            sort_of("sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc"),
            [(Name, Asc), (Size, Desc), (CreatedAt, Desc), (Id, Desc)]
        );
        assert_eq!(
            sort_of("sort=name:asc,size"),
            [(Name, Asc), (Size, Desc), (CreatedAt, Desc), (Id, Desc)]
        );
        assert_eq!(sort_of("sort=id:asc"), [(Id, Asc), (CreatedAt, Desc)]);
        bad("sort=name&sort_key=size", "cannot be combined");
        bad("sort_key=owner", "Invalid sort key: owner");
        bad("sort=name:up", "Invalid sort direction: up");
        bad(
            "sort_key=name&sort_key=id&sort_key=size&sort_dir=asc&sort_dir=desc",
            "does not match",
        );
    }

    #[test]
    fn filters() {
        let got = q("name=in:a,\"b,c\",d&status=active&size_min=10&size_max=20&os_distro=debian&owner=p1&tag=x&tag= y ")
            .unwrap();
        assert_eq!(got.tags, ["x", "y"]);
        assert_eq!(
            got.properties,
            [("os_distro".to_owned(), "debian".to_owned())]
        );
        assert_eq!(
            got.conds,
            [
                Cond::In(Column::Name, vec!["a".into(), "b,c".into(), "d".into()]),
                Cond::Cmp(Column::Status, Op::Eq, Value::Text("active".into())),
                Cond::Cmp(Column::Size, Op::Gte, Value::Int(10)),
                Cond::Cmp(Column::Size, Op::Lte, Value::Int(20)),
                Cond::Cmp(Column::Owner, Op::Eq, Value::Text("p1".into())),
            ]
        );
        assert_eq!(got.member_status, Some(MemberStatus::Accepted));
        let t = q("created_at=gte:2024-01-02T03:04:05Z&updated_at=2024-01-02T03:04:05%2B01:00")
            .unwrap();
        assert_eq!(
            t.conds,
            [
                Cond::Cmp(
                    Column::CreatedAt,
                    Op::Gte,
                    Value::Text("2024-01-02T03:04:05.000000Z".into())
                ),
                Cond::Cmp(
                    Column::UpdatedAt,
                    Op::Eq,
                    Value::Text("2024-01-02T02:04:05.000000Z".into())
                ),
            ]
        );
        assert_eq!(
            q("member_status=all&visibility=all&os_hidden=TRUE")
                .unwrap()
                .member_status,
            None
        );
        assert!(q("os_hidden=true").unwrap().os_hidden);
        bad("limit=x", "must be an integer");
        bad("limit=-1", "must be positive");
        bad("member_status=maybe", "Invalid status: maybe");
        bad("visibility=secret", "Invalid visibility value: secret");
        bad("changes-since=2020-01-01", "no longer available");
        bad("os_hidden=yes", "'os_hidden' filter");
        bad("protected=yes", "'protected' filter");
        bad("size_min=big", "non-numeric");
        bad("name=like:x", "unknown operator 'like'");
        bad("created_at=gte:yesterday", "ISO 8601");
        bad("created_at=around:2024-01-01T00:00:00Z", "unknown operator");
        bad("name=in:a,\"b", "not closed");
        bad("name=in:a\"b\"", "no comma before");
    }

    #[test]
    fn in_values() {
        let check = |s: &str, want: &[&str]| assert_eq!(split_values(s).unwrap(), want, "{s}");
        check("a,b", &["a", "b"]);
        check("\"a,b\",c", &["a,b", "c"]);
        check("a,,b", &["a", "", "b"]);
        check("one", &["one"]);
        check("\"x\\\"y\"", &["x\\\"y"]);
    }
}

//! `/v1/{account}/{container}/{object}`: GET (ranges, conditions), HEAD, PUT (chunked,
//! ETag, `X-Copy-From`, expiry), POST, DELETE and COPY.

use std::collections::BTreeMap;

use api_common::{Error, ErrorKind};
use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{HeaderMap, Method},
    response::Response,
};
use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};

use super::{
    header, meta_from,
    range::{self, Condition, Ranges},
    ApiState, Reply, SwiftCaller, TransId,
};
use crate::{
    app::{
        objects::{Found, PutRequest, Source},
        Caller,
    },
    disk,
    model::{MetaUpdate, ObjectInfo, Timestamp},
};

/// The headers Swift keeps with an object as they came.
const KEPT: &[&str] = &[
    "content-disposition",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
    "x-robots-tag",
    "x-object-manifest",
];

type ObjectPath = Path<(String, String, String)>;

fn system_from(h: &HeaderMap) -> BTreeMap<String, String> {
    KEPT.iter()
        .filter_map(|k| header(h, k).map(|v| ((*k).to_owned(), v.to_owned())))
        .collect()
}

/// `X-Delete-At` / `X-Delete-After` as an expiry time in seconds.
fn delete_at_from(h: &HeaderMap, now: Timestamp) -> Result<Option<u64>, Error> {
    if let Some(after) = header(h, "x-delete-after") {
        let secs: u64 = after
            .trim()
            .parse()
            .map_err(|_| Error::bad_request("Non-integer X-Delete-After"))?;
        return Ok(Some(now.secs() + secs));
    }
    match header(h, "x-delete-at") {
        None => Ok(None),
        Some(at) => {
            let t = Timestamp::parse(at.trim())
                .ok_or_else(|| Error::bad_request("Non-integer X-Delete-At"))?;
            Ok(Some(t.secs()))
        }
    }
}

fn put_request(h: &HeaderMap) -> Result<PutRequest, Error> {
    let chunked =
        header(h, "transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let content_length = match header(h, "content-length") {
        Some(l) => Some(
            l.trim()
                .parse::<u64>()
                .map_err(|_| Error::bad_request("Invalid Content-Length"))?,
        ),
        None => None,
    };
    let content_length = if chunked { None } else { content_length };
    Ok(PutRequest {
        content_length,
        chunked,
        etag: header(h, "etag").map(|e| e.trim().trim_matches('"').to_ascii_lowercase()),
        content_type: header(h, "content-type").map(str::to_owned),
        meta: meta_from(h, "object", false),
        system: system_from(h),
        delete_at: delete_at_from(h, Timestamp::now())?,
        if_none_match_any: header(h, "if-none-match").is_some_and(|v| v.trim() == "*"),
    })
}

/// The headers of an object's GET and HEAD.
fn object_headers(r: &mut Reply, info: &ObjectInfo) {
    r.set("etag", &info.etag)
        .set("last-modified", &info.timestamp.http_date())
        .set("accept-ranges", "bytes")
        .timestamp(info.timestamp)
        .meta("object", &info.meta);
    for (k, v) in &info.system {
        r.set(k, v);
    }
    if let Some(t) = info.delete_at {
        r.set("x-delete-at", &t.to_string());
    }
}

/// A `(container, object)` of a `X-Copy-From` or `Destination` header
/// (`/container/object` or `container/object`, percent-encoded).
fn split_target(v: &str) -> Result<(String, String), Error> {
    let decoded: String = form_urlencoded::parse(format!("x={}", v.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let t = decoded.trim_start_matches('/');
    match t.split_once('/') {
        Some((c, o)) if !c.is_empty() && !o.is_empty() => Ok((c.to_owned(), o.to_owned())),
        _ => Err(Error::new(
            ErrorKind::PreconditionFailed,
            "X-Copy-From header must be of the form <container name>/<object name>",
        )),
    }
}

/// GET, and HEAD (the same answer without opening the file).
pub async fn object_get(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container, object)): ObjectPath,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let found = st
        .svc
        .object_get(&caller, &account, &container, &object)
        .await?;
    serve(&trans, &found, &headers, method != Method::HEAD).await
}

/// An object's answer: the conditions, then the whole body, one range, or several as
/// `multipart/byteranges`, streamed from the replica's file.
async fn serve(
    trans: &TransId,
    found: &Found,
    h: &HeaderMap,
    body: bool,
) -> Result<Response, Error> {
    let info = &found.info;
    match range::condition(h, &info.etag, info.timestamp.0.div_ceil(100_000)) {
        Condition::Serve => {}
        Condition::NotModified => {
            let mut r = Reply::new(304, trans);
            object_headers(&mut r, info);
            return Ok(r.done());
        }
        Condition::Failed => return Err(Error::new(ErrorKind::PreconditionFailed, "")),
    }
    let len = info.content_length;
    let parts = match range::parse(header(h, "range"), len) {
        Ranges::Full => vec![],
        Ranges::Parts(p) => p,
        Ranges::Unsatisfiable => {
            let mut r = Reply::new(416, trans);
            r.set("content-range", &format!("bytes */{len}"));
            let e = Error::new(ErrorKind::RangeNotSatisfiable, "");
            let mut resp = axum::response::IntoResponse::into_response(e);
            for (k, v) in r.done().headers() {
                if k != "content-type" && k != "content-length" {
                    resp.headers_mut().insert(k.clone(), v.clone());
                }
            }
            return Ok(resp);
        }
    };
    let file = |s, e| {
        let path = found.path.clone();
        async move {
            disk::open_range(&path, s, e)
                .await
                .map(|f| tokio_util::io::ReaderStream::with_capacity(f, 1 << 16))
        }
    };
    let status = if parts.is_empty() { 200 } else { 206 };
    let mut r = Reply::new(status, trans);
    object_headers(&mut r, info);
    match parts.as_slice() {
        [] => {
            let b = if body {
                Body::from_stream(file(0, len).await.map_err(Error::internal_from)?)
            } else {
                Body::empty()
            };
            Ok(r.body(&info.content_type, b, len))
        }
        [(s, e)] => {
            r.set("content-range", &format!("bytes {s}-{}/{len}", e - 1));
            let b = if body {
                Body::from_stream(file(*s, *e).await.map_err(Error::internal_from)?)
            } else {
                Body::empty()
            };
            Ok(r.body(&info.content_type, b, e - s))
        }
        many => {
            let boundary = uuid::Uuid::new_v4().simple().to_string();
            let head = |s: u64, e: u64| {
                Bytes::from(format!(
                    "--{boundary}\r\nContent-Type: {}\r\nContent-Range: bytes {s}-{}/{len}\r\n\r\n",
                    info.content_type,
                    e - 1
                ))
            };
            let tail = Bytes::from(format!("--{boundary}--"));
            let total: u64 = many
                .iter()
                .map(|(s, e)| head(*s, *e).len() as u64 + (e - s) + 2)
                .sum::<u64>()
                + tail.len() as u64;
            let ctype = format!("multipart/byteranges;boundary={boundary}");
            if !body {
                return Ok(r.body(&ctype, Body::empty(), total));
            }
            let mut pieces = Vec::new();
            for (s, e) in many {
                let f = file(*s, *e).await.map_err(Error::internal_from)?;
                pieces.push(
                    stream::once(futures::future::ready(Ok(head(*s, *e))))
                        .chain(f)
                        .chain(stream::once(futures::future::ready(Ok(
                            Bytes::from_static(b"\r\n"),
                        ))))
                        .boxed(),
                );
            }
            pieces.push(stream::once(futures::future::ready(Ok(tail))).boxed());
            Ok(r.body(
                &ctype,
                Body::from_stream(stream::iter(pieces).flatten()),
                total,
            ))
        }
    }
}

pub async fn object_put(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container, object)): ObjectPath,
    req: Request,
) -> Result<Response, Error> {
    let (parts, body) = req.into_parts();
    let h = &parts.headers;
    if let Some(from) = header(h, "x-copy-from") {
        let (src_c, src_o) = split_target(from)?;
        let src_a = header(h, "x-copy-from-account").unwrap_or(&account);
        let src = Source {
            account: src_a,
            container: &src_c,
            object: &src_o,
        };
        return copy(
            &st,
            &caller,
            &trans,
            h,
            src,
            (&account, &container, &object),
        )
        .await;
    }
    let put = put_request(h)?;
    let stream = body
        .into_data_stream()
        .map_err(|e| Error::bad_request("The client disconnected").with_detail(e));
    let info = st
        .svc
        .object_put(&caller, &account, &container, &object, put, stream)
        .await?;
    Ok(created(Reply::new(201, &trans), &info))
}

/// A copy (`X-Copy-From` or `COPY`): 201 with where it came from.
async fn copy(
    st: &ApiState,
    caller: &Caller,
    trans: &TransId,
    h: &HeaderMap,
    src: Source<'_>,
    (account, container, object): (&str, &str, &str),
) -> Result<Response, Error> {
    let put = put_request(h)?;
    let fresh = header(h, "x-fresh-metadata").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let copied_from = format!("{}/{}", src.container, src.object);
    let (from, stored) = st
        .svc
        .object_copy(caller, src, account, container, object, put, fresh)
        .await?;
    let mut r = Reply::new(201, trans);
    r.set("x-copied-from", &copied_from)
        .set("x-copied-from-last-modified", &from.timestamp.http_date());
    Ok(created(r, &stored))
}

fn created(mut r: Reply, info: &ObjectInfo) -> Response {
    r.set("etag", &info.etag)
        .set("last-modified", &info.timestamp.http_date());
    r.done()
}

pub async fn object_update(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container, object)): ObjectPath,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let now = Timestamp::now();
    let update = MetaUpdate {
        timestamp: now,
        meta: meta_from(&headers, "object", false),
        system: system_from(&headers),
        delete_at: delete_at_from(&headers, now)?,
        content_type: header(&headers, "content-type").map(str::to_owned),
    };
    st.svc
        .object_update(&caller, &account, &container, &object, update)
        .await?;
    Ok(Reply::new(202, &trans).done())
}

pub async fn object_delete(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container, object)): ObjectPath,
) -> Result<Response, Error> {
    st.svc
        .object_delete(&caller, &account, &container, &object)
        .await?;
    Ok(Reply::new(204, &trans).done())
}

/// `COPY` (Swift's own method; `Destination: container/object`), else 405.
pub async fn object_other(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container, object)): ObjectPath,
    req: Request,
) -> Result<Response, Error> {
    if req.method() != Method::from_bytes(b"COPY").expect("a method") {
        return Err(Error::new(ErrorKind::MethodNotAllowed, ""));
    }
    let h = req.headers();
    let dest = header(h, "destination")
        .ok_or_else(|| Error::new(ErrorKind::PreconditionFailed, "Destination header required"))?;
    let (dst_c, dst_o) = split_target(dest).map_err(|_| {
        Error::new(
            ErrorKind::PreconditionFailed,
            "Destination header must be of the form <container name>/<object name>",
        )
    })?;
    let dst_a = header(h, "destination-account").unwrap_or(&account);
    let src = Source {
        account: &account,
        container: &container,
        object: &object,
    };
    copy(&st, &caller, &trans, h, src, (dst_a, &dst_c, &dst_o)).await
}

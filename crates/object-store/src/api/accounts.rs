//! `/v1/{account}`: the account's totals, metadata and container listing.

use axum::{
    extract::{Path, RawQuery, State},
    http::HeaderMap,
    response::Response,
};

use super::{listing, meta_from, ApiState, Reply, SwiftCaller, TransId};
use crate::model::AccountInfo;
use api_common::Error;

fn account_headers(r: &mut Reply, a: &AccountInfo) {
    r.set("x-account-container-count", &a.container_count.to_string())
        .set("x-account-object-count", &a.object_count.to_string())
        .set("x-account-bytes-used", &a.bytes_used.to_string())
        .set(
            "x-account-storage-policy-policy-0-container-count",
            &a.container_count.to_string(),
        )
        .set(
            "x-account-storage-policy-policy-0-object-count",
            &a.object_count.to_string(),
        )
        .set(
            "x-account-storage-policy-policy-0-bytes-used",
            &a.bytes_used.to_string(),
        )
        .timestamp(if a.created.0 == 0 {
            crate::model::Timestamp::now()
        } else {
            a.created
        })
        .set("x-put-timestamp", &a.put_timestamp.normal())
        .meta("account", &a.meta);
}

pub async fn account_show(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path(account): Path<String>,
) -> Result<Response, Error> {
    let a = st.svc.account_show(&caller, &account).await?;
    let mut r = Reply::new(204, &trans);
    account_headers(&mut r, &a);
    r.set("content-type", "text/plain; charset=utf-8");
    Ok(r.done())
}

pub async fn account_list(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (q, format) = listing::parse(query.as_deref(), &headers, st.svc.cfg.listing_limit)?;
    let (a, rows) = st.svc.account_list(&caller, &account, &q).await?;
    let empty = rows.is_empty() && format == listing::Format::Plain;
    let mut r = Reply::new(if empty { 204 } else { 200 }, &trans);
    account_headers(&mut r, &a);
    if empty {
        r.set("content-type", format.content_type());
        return Ok(r.done());
    }
    let body = listing::containers(&account, &rows, format);
    let len = body.len() as u64;
    Ok(r.body(format.content_type(), body.into(), len))
}

pub async fn account_update(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let meta = meta_from(&headers, "account", true);
    st.svc.account_update(&caller, &account, &meta).await?;
    Ok(Reply::new(204, &trans).done())
}

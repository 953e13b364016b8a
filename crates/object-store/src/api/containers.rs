//! `/v1/{account}/{container}`: create, update, show, list, delete.

use axum::{
    extract::{Path, RawQuery, State},
    http::HeaderMap,
    response::Response,
};

use super::{header, listing, meta_from, ApiState, Reply, SwiftCaller, TransId};
use crate::model::{ContainerInfo, ContainerUpdate, Meta};
use api_common::Error;

fn update_from(h: &HeaderMap) -> ContainerUpdate {
    let acl = |set: &str, remove: &str| {
        if h.contains_key(remove) {
            Some(String::new())
        } else {
            header(h, set).map(|v| v.trim().to_owned())
        }
    };
    ContainerUpdate {
        meta: meta_from(h, "container", true),
        read_acl: acl("x-container-read", "x-remove-container-read"),
        write_acl: acl("x-container-write", "x-remove-container-write"),
    }
}

/// The container's headers; its ACLs only for the owner (Swift shows them to those who
/// may change them).
fn container_headers(r: &mut Reply, c: &ContainerInfo, owner: bool) {
    r.set("x-container-object-count", &c.object_count.to_string())
        .set("x-container-bytes-used", &c.bytes_used.to_string())
        .set("x-storage-policy", "Policy-0")
        .set("accept-ranges", "bytes")
        .timestamp(c.created)
        .set("x-put-timestamp", &c.put_timestamp.normal())
        .set("last-modified", &c.last_modified.http_date());
    if owner {
        r.meta("container", &c.meta);
    } else {
        // a TempURL key is a secret of those who may change it
        let shown: Meta = c
            .meta
            .iter()
            .filter(|(k, _)| !k.starts_with("temp-url-key"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        r.meta("container", &shown);
    }
    if owner {
        if !c.read_acl.is_empty() {
            r.set("x-container-read", &c.read_acl);
        }
        if !c.write_acl.is_empty() {
            r.set("x-container-write", &c.write_acl);
        }
    }
}

pub async fn container_create(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let created = st
        .svc
        .container_create(&caller, &account, &container, &update_from(&headers))
        .await?;
    Ok(Reply::new(if created { 201 } else { 202 }, &trans).done())
}

pub async fn container_update(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    st.svc
        .container_update(&caller, &account, &container, &update_from(&headers))
        .await?;
    Ok(Reply::new(204, &trans).done())
}

pub async fn container_show(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container)): Path<(String, String)>,
) -> Result<Response, Error> {
    let c = st.svc.container_show(&caller, &account, &container).await?;
    let mut r = Reply::new(204, &trans);
    container_headers(&mut r, &c, st.svc.owns(&caller, &account));
    r.set("content-type", "text/plain; charset=utf-8");
    Ok(r.done())
}

pub async fn container_list(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let (q, format) = listing::parse(query.as_deref(), &headers, st.svc.cfg.listing_limit)?;
    let (c, rows) = st
        .svc
        .container_list(&caller, &account, &container, &q)
        .await?;
    let empty = rows.is_empty() && format == listing::Format::Plain;
    let mut r = Reply::new(if empty { 204 } else { 200 }, &trans);
    container_headers(&mut r, &c, st.svc.owns(&caller, &account));
    if empty {
        r.set("content-type", format.content_type());
        return Ok(r.done());
    }
    let body = listing::objects(&container, &rows, format);
    let len = body.len() as u64;
    Ok(r.body(format.content_type(), body.into(), len))
}

pub async fn container_delete(
    State(st): State<ApiState>,
    SwiftCaller(caller): SwiftCaller,
    trans: TransId,
    Path((account, container)): Path<(String, String)>,
) -> Result<Response, Error> {
    st.svc
        .container_delete(&caller, &account, &container)
        .await?;
    Ok(Reply::new(204, &trans).done())
}

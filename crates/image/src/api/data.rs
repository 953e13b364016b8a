//! Image data: upload, download, stage, import.

use api_common::{Ctx, Error, ErrorKind};
use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use futures::StreamExt;

use super::{header, json_body, ApiState, ImageId};
use crate::{
    app::{ImportRequest, Upload},
    backend::ByteStream,
};

/// The request body as a data stream, with Glance's content-type and size checks.
fn upload(headers: &HeaderMap, body: Body) -> Result<Upload, Error> {
    match header(headers, "content-type").map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }) {
        Some(c) if c == "application/octet-stream" => {}
        other => {
            return Err(Error::new(
                ErrorKind::UnsupportedMediaType,
                format!(
                    "Invalid content type {}",
                    other.unwrap_or_else(|| "None".into())
                ),
            ))
        }
    }
    let size = match header(headers, "x-openstack-image-size")
        .or_else(|| header(headers, "content-length"))
    {
        None => None,
        Some(s) => Some(s.trim().parse::<u64>().map_err(|_| {
            Error::bad_request("Invalid or missing image size in request headers.")
        })?),
    };
    let data: ByteStream = body
        .into_data_stream()
        .map(|r| {
            r.map_err(|e| Error::bad_request("The image data could not be read.").with_detail(e))
        })
        .boxed();
    Ok(Upload {
        size,
        store: header(headers, "x-image-meta-store").map(str::to_owned),
        data,
    })
}

pub async fn image_upload(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, Error> {
    let up = upload(&headers, body)?;
    st.svc.upload(&st.svc.caller(&ctx), &id, up).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn image_stage(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, Error> {
    let up = upload(&headers, body)?;
    st.svc.stage(&st.svc.caller(&ctx), &id, up).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn image_download(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let d = st
        .svc
        .download(&st.svc.caller(&ctx), &id, header(&headers, "range"))
        .await?;
    let Some(data) = d.data else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let (status, len) = match d.range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, b - a),
        None => (StatusCode::OK, d.size),
    };
    let body = Body::from_stream(data.map(|r| r.map_err(|e| std::io::Error::other(e.message))));
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some((a, b)) = d.range {
        if let Ok(v) =
            HeaderValue::from_str(&format!("bytes {a}-{}/{}", b.saturating_sub(1), d.size))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if let Some(c) = d.checksum.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert("content-md5", c);
    }
    Ok(resp)
}

pub async fn image_import(
    State(st): State<ApiState>,
    ctx: Ctx,
    ImageId(id): ImageId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let req = ImportRequest::from_body(&json_body(&body)?, header(&headers, "x-image-meta-store"))?;
    st.svc.import(&st.svc.caller(&ctx), &id, req).await?;
    Ok(StatusCode::ACCEPTED)
}

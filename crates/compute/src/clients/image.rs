//! Glance v2, as Nova uses it: show an image (with its properties), download its data,
//! and create + upload a snapshot.

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use types::{Error, ImageId, Result};

use super::{As, Http};

/// An image as Nova needs it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageInfo {
    pub id: ImageId,
    #[serde(default)]
    pub name: Option<String>,
    pub status: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub min_disk: i64,
    #[serde(default)]
    pub min_ram: i64,
    #[serde(default)]
    pub disk_format: Option<String>,
    #[serde(default)]
    pub container_format: Option<String>,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Every other attribute: the image's properties (`hw_disk_bus`, `os_type`...).
    #[serde(flatten)]
    pub properties: Map<String, Value>,
}

#[derive(Clone)]
pub struct ImageClient {
    pub(crate) http: Http,
}

impl ImageClient {
    /// The image endpoint ("" when the catalog has none).
    pub fn base(&self) -> &str {
        self.http.base().unwrap_or("")
    }

    /// The image, as `auth` sees it (Nova's "Image {id} could not be found." otherwise).
    pub async fn show(&self, auth: As<'_>, id: &ImageId) -> Result<ImageInfo> {
        let v = self
            .http
            .json(auth, Method::GET, &format!("/v2/images/{id}"), None)
            .await
            .map_err(|e| match e.kind {
                types::ErrorKind::NotFound => {
                    Error::not_found(format!("Image {id} could not be found."))
                }
                _ => e,
            })?;
        serde_json::from_value(v).map_err(|e| {
            Error::unavailable("The image service answered an image Nova cannot read.")
                .with_detail(e)
        })
    }

    /// The image's data, as a stream.
    pub async fn download(
        &self,
        auth: As<'_>,
        id: &ImageId,
    ) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
        let b = self
            .http
            .request(auth, Method::GET, &format!("/v2/images/{id}/file"))
            .await?;
        let resp = self.http.send(b).await?;
        Ok(resp.bytes_stream().map_err(std::io::Error::other))
    }

    /// Create a (queued) image: a snapshot's record before its data.
    pub async fn create(&self, auth: As<'_>, body: &Value) -> Result<ImageInfo> {
        let v = self
            .http
            .json(auth, Method::POST, "/v2/images", Some(body))
            .await?;
        serde_json::from_value(v).map_err(|e| {
            Error::unavailable("The image service answered an image Nova cannot read.")
                .with_detail(e)
        })
    }

    /// Upload the data of a queued image.
    pub async fn upload<S>(&self, auth: As<'_>, id: &ImageId, data: S) -> Result<()>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static,
    {
        let b = self
            .http
            .request(auth, Method::PUT, &format!("/v2/images/{id}/file"))
            .await?
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(data));
        self.http.send(b).await.map(drop)
    }

    pub async fn delete(&self, auth: As<'_>, id: &ImageId) -> Result<()> {
        self.http
            .json(auth, Method::DELETE, &format!("/v2/images/{id}"), None)
            .await
            .map(drop)
    }

    /// The body of a snapshot's image: Nova's properties of a server image.
    pub fn snapshot_body(
        name: &str,
        server: &str,
        base: Option<&ImageInfo>,
        extra: &Map<String, Value>,
    ) -> Value {
        let mut v = json!({
            "name": name,
            "container_format": base.and_then(|b| b.container_format.clone()).unwrap_or_else(|| "bare".into()),
            "disk_format": base.and_then(|b| b.disk_format.clone()).unwrap_or_else(|| "qcow2".into()),
            "visibility": "private",
            "image_type": "snapshot",
            "instance_uuid": server,
        });
        if let Some(b) = base {
            v["base_image_ref"] = json!(b.id);
            v["min_disk"] = json!(b.min_disk);
            v["min_ram"] = json!(b.min_ram);
        }
        for (k, val) in extra {
            v[k] = val.clone();
        }
        v
    }
}

//! The metadata API over HTTP, as nova-api-metadata serves it behind Neutron's
//! metadata proxy: `/` lists the EC2 versions to anyone; every other path needs the
//! proxy's signed identity ([`identity`]) and answers from that instance's content.
//! Faults are webob's, as Nova's (HTML, JSON or text as `Accept` asks).

mod identity;

use std::sync::Arc;

use api_common::{
    routes::{Api, Routes},
    Error, FaultStyle,
};
use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue, Method, Uri},
    response::{IntoResponse, Response},
    routing::any,
};

pub use identity::{identify, sign, Requester};

use crate::{
    content::{self, Guest, Item},
    Instances, Settings,
};

/// The largest password a guest may post (Nova keeps four chunks of 255 characters).
pub const MAX_PASSWORD: usize = 4 * 255;

/// The largest request body read at all.
const BODY_LIMIT: usize = 64 * 1024;

/// What the API needs besides the instances.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `metadata_proxy_shared_secret`.
    pub secret: String,
    pub settings: Settings,
}

struct AppState {
    instances: Arc<dyn Instances>,
    options: Options,
}

/// The metadata API's routes over `instances`.
pub fn api(instances: Arc<dyn Instances>, options: Options) -> Api {
    let state = Arc::new(AppState { instances, options });
    Routes::new()
        .route("/", any(metadata_show))
        .route("/{*path}", any(metadata_show))
        .with_state(state)
        .finish(FaultStyle::Glance, BODY_LIMIT)
}

fn not_found() -> Error {
    Error::not_found("The resource could not be found.")
}

fn text(body: impl Into<Bytes>) -> Response {
    body_response(body.into(), false)
}

fn body_response(body: Bytes, json: bool) -> Response {
    let kind = if json {
        "application/json"
    } else {
        "text/plain; charset=UTF-8"
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(kind))],
        body,
    )
        .into_response()
}

/// Any path of the tree: the signed instance's answer there.
async fn metadata_show(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let path = uri.path();
    if path.split('/').all(|t| t.is_empty() || t == ".") {
        return Ok(text(content::ec2_versions().join("\n")));
    }
    let who = identify(&headers, &st.options.secret)?;
    let Some(instance) = who.instance_uuid() else {
        return Err(not_found());
    };
    let Some(md) = st.instances.metadata(instance).await? else {
        tracing::error!(%instance, "no metadata for the instance");
        return Err(not_found());
    };
    if md.project_id != who.tenant_id {
        tracing::warn!(%instance, tenant = %who.tenant_id, "the tenant does not own the instance");
        return Err(not_found());
    }
    let guest = Guest {
        instance: &md,
        settings: &st.options.settings,
        address: who.address,
        extra: Default::default(),
    };
    match guest.lookup(path).map_err(|_| not_found())? {
        Item::Body { bytes, json } => Ok(body_response(bytes.into(), json)),
        Item::Password => password(&st, &method, &md, body).await,
    }
}

/// `password`: GET reads it (empty when unset); POST sets it once.
async fn password(
    st: &AppState,
    method: &Method,
    md: &crate::InstanceMetadata,
    body: Bytes,
) -> Result<Response, Error> {
    let current = md.password.as_deref().filter(|p| !p.is_empty());
    match *method {
        Method::GET => Ok(text(current.unwrap_or_default().to_owned())),
        Method::POST => {
            if current.is_some() {
                return Err(conflict());
            }
            if body.len() > MAX_PASSWORD {
                return Err(Error::bad_request("Request is too large."));
            }
            let password = std::str::from_utf8(&body)
                .map_err(|_| Error::bad_request("The password is not UTF-8."))?;
            if st.instances.set_password(md.uuid, password).await? {
                Ok(text(""))
            } else {
                Err(conflict())
            }
        }
        _ => Err(Error::bad_request("GET and POST only are supported.")),
    }
}

fn conflict() -> Error {
    Error::conflict("There was a conflict when trying to complete your request.")
}

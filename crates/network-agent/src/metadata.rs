//! The metadata proxy, as Neutron's metadata agent (and the haproxy it starts per
//! namespace) does it: guests ask `http://169.254.169.254/...`; their connection ends
//! in a listener the agent opened *inside* their router's namespace (port
//! [`METADATA_PROXY_PORT`], where the router's nft redirect sends it) or, on a network
//! without a router, inside its DHCP namespace (169.254.169.254:80, which that
//! namespace holds). The source address and the namespace's router or network id tell
//! the instance: the service names its port's `device_id` and `project_id`
//! ([`PluginRequest::Instance`]), and the request goes on to the compute metadata
//! service with the instance's identity in `X-Instance-ID`, `X-Tenant-ID`,
//! `X-Forwarded-For`, `X-Neutron-Router-ID`/`X-Neutron-Network-ID` and
//! `X-Instance-ID-Signature` (HMAC-SHA256 of the instance id with the shared secret, in
//! hex), which that service checks. Headers of those names sent by the guest are
//! dropped. An address no instance has gets 404; a service that cannot be reached, or
//! does not answer in time, 503.
//!
//! The listeners follow the plan: [`Proxies::reconcile`] opens the missing ones and
//! closes those whose namespace left the plan (or was made again: a socket stays in the
//! namespace it was opened in).

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bus::Client;
use dataplane::{
    names,
    plan::{HostPlan, METADATA_ADDRESS, METADATA_PROXY_PORT},
};
use hmac::{Hmac, Mac as _};
use network::rpc::{Instance, Plugin, PluginReply, PluginRequest};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The largest request body forwarded (guests post passwords, nothing big).
const MAX_BODY: usize = 1 << 20;

/// `X-Instance-ID-Signature`: HMAC-SHA256 of the instance id keyed with the shared
/// secret, in lowercase hex (what Neutron's metadata agent sends and Nova checks).
pub fn sign(secret: &str, instance_id: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(instance_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Where a proxy listens, which tells the instance's network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// In `qrouter-<id>`, behind the router's redirect.
    Router(String),
    /// In `qdhcp-<id>`, on 169.254.169.254:80.
    Network(String),
}

impl Origin {
    /// Its namespace on a host whose DHCP namespaces carry `tag`.
    fn namespace(&self, tag: Option<&str>) -> String {
        match self {
            Origin::Router(id) => names::router_namespace(id),
            Origin::Network(id) => names::tagged_dhcp_namespace(id, tag),
        }
    }

    fn address(&self) -> SocketAddr {
        match self {
            Origin::Router(_) => SocketAddr::from(([0, 0, 0, 0], METADATA_PROXY_PORT)),
            Origin::Network(_) => SocketAddr::from((METADATA_ADDRESS, 80)),
        }
    }
}

/// The proxies a plan needs: its routers with [`metadata`](dataplane::plan::RouterPlan::metadata)
/// and its DHCP servers with [`metadata`](dataplane::plan::DhcpPlan::metadata).
pub fn wanted(plan: &HostPlan) -> Vec<Origin> {
    let routers = plan
        .routers
        .iter()
        .filter(|r| r.metadata)
        .map(|r| Origin::Router(r.id.clone()));
    let networks = plan
        .networks
        .iter()
        .filter(|n| n.dhcp.as_ref().is_some_and(|d| d.metadata))
        .map(|n| Origin::Network(n.id.clone()));
    routers.chain(networks).collect()
}

/// What every proxy of the host shares.
pub struct Upstream {
    /// Asks the service whose an address is.
    pub plugin: Client<Plugin>,
    /// The compute metadata service, e.g. `http://127.0.0.1:8775`.
    pub url: String,
    /// `metadata_proxy_shared_secret`.
    pub secret: String,
    http: reqwest::Client,
}

impl Upstream {
    pub fn new(plugin: Client<Plugin>, url: &str, secret: &str) -> anyhow::Result<Upstream> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Upstream {
            plugin,
            url: url.trim_end_matches('/').to_owned(),
            secret: secret.to_owned(),
            http,
        })
    }
}

/// One listening proxy.
struct Running {
    /// The namespace's identity when the listener was opened.
    identity: u64,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The host's proxies, by namespace.
pub struct Proxies {
    upstream: Arc<Upstream>,
    /// The agent's `namespace_tag`, which its DHCP namespaces' names carry.
    namespace_tag: Option<String>,
    running: BTreeMap<String, (Origin, Running)>,
}

impl Proxies {
    pub fn new(upstream: Arc<Upstream>, namespace_tag: Option<String>) -> Proxies {
        Proxies {
            upstream,
            namespace_tag,
            running: BTreeMap::new(),
        }
    }

    /// Listen where `plan` needs a proxy and nowhere else; a listener that cannot be
    /// opened yet (its namespace or address not there) is tried again next time.
    pub fn reconcile(&mut self, plan: &HostPlan) {
        let wanted = wanted(plan);
        let tag = self.namespace_tag.clone();
        let keep: Vec<String> = wanted.iter().map(|o| o.namespace(tag.as_deref())).collect();
        let stale: Vec<String> = self
            .running
            .iter()
            .filter(|(ns, (_, r))| {
                !keep.contains(ns)
                    || r.task.is_finished()
                    || dataplane::linux::namespace_identity(ns) != Some(r.identity)
            })
            .map(|(ns, _)| ns.clone())
            .collect();
        for ns in stale {
            if let Some((_, r)) = self.running.remove(&ns) {
                r.stop.cancel();
                r.task.abort();
                tracing::info!("stopped the metadata proxy in {ns}");
            }
        }
        for origin in wanted {
            let ns = origin.namespace(tag.as_deref());
            if self.running.contains_key(&ns) {
                continue;
            }
            match self.start(&origin, &ns) {
                Ok(r) => {
                    tracing::info!("metadata proxy listening on {} in {ns}", origin.address());
                    self.running.insert(ns, (origin, r));
                }
                Err(e) => tracing::warn!(error = %e, "no metadata proxy in {ns} yet"),
            }
        }
    }

    fn start(&self, origin: &Origin, ns: &str) -> anyhow::Result<Running> {
        let identity = dataplane::linux::namespace_identity(ns)
            .ok_or_else(|| anyhow::anyhow!("namespace {ns} does not exist"))?;
        let listener = dataplane::linux::tcp_listener_in(ns, origin.address())?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let proxy = Arc::new(Proxy {
            upstream: self.upstream.clone(),
            origin: origin.clone(),
        });
        // One handler for every path: the proxy forwards what a guest asks, it serves no
        // API of its own (so no route table).
        let app = axum::handler::Handler::with_state(handle, proxy);
        let stop = CancellationToken::new();
        let until = stop.clone().cancelled_owned();
        let ns_name = ns.to_owned();
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(until);
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "the metadata proxy in {ns_name} stopped");
            }
        });
        Ok(Running {
            identity,
            stop,
            task,
        })
    }

    /// The namespaces with a listening proxy.
    pub fn listening(&self) -> Vec<String> {
        self.running.keys().cloned().collect()
    }

    /// Stop every proxy and wait for them (at shutdown).
    pub async fn stop_all(&mut self) {
        for (_, (_, r)) in std::mem::take(&mut self.running) {
            r.stop.cancel();
            if tokio::time::timeout(Duration::from_secs(5), r.task)
                .await
                .is_err()
            {
                tracing::warn!("a metadata proxy did not stop within 5 s");
            }
        }
    }
}

/// One namespace's proxy.
struct Proxy {
    upstream: Arc<Upstream>,
    origin: Origin,
}

/// The headers the guest may not set: they carry the identity the proxy vouches for.
const IDENTITY: [&str; 6] = [
    "x-forwarded-for",
    "x-instance-id",
    "x-tenant-id",
    "x-instance-id-signature",
    "x-neutron-router-id",
    "x-neutron-network-id",
];

fn error(status: StatusCode, why: &str) -> Response {
    (status, format!("{why}\n")).into_response()
}

async fn handle(
    State(proxy): State<Arc<Proxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let address = peer.ip();
    let instance = match proxy.instance(address).await {
        Ok(Some(i)) => i,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no instance has this address"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask the networking service whose {address} is");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the networking service cannot be asked",
            );
        }
    };
    match proxy.forward(req, address, &instance).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, url = %proxy.upstream.url, "cannot reach the metadata service");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the metadata service cannot be reached",
            )
        }
    }
}

impl Proxy {
    async fn instance(&self, address: IpAddr) -> anyhow::Result<Option<Instance>> {
        let (router_id, network_id) = match &self.origin {
            Origin::Router(id) => (Some(id.clone()), None),
            Origin::Network(id) => (None, Some(id.clone())),
        };
        let req = PluginRequest::Instance {
            router_id,
            network_id,
            address,
        };
        match self.upstream.plugin.call(&req).await? {
            PluginReply::Instance(i) => Ok(i),
            other => anyhow::bail!("unexpected answer {other:?}"),
        }
    }

    /// The guest's headers without hop-by-hop and identity ones, plus the identity.
    fn headers(
        &self,
        from: &HeaderMap,
        address: IpAddr,
        i: &Instance,
    ) -> anyhow::Result<HeaderMap> {
        let mut out = HeaderMap::new();
        for (name, value) in from {
            let n = name.as_str();
            if IDENTITY.contains(&n)
                || matches!(
                    n,
                    "host"
                        | "connection"
                        | "content-length"
                        | "transfer-encoding"
                        | "keep-alive"
                        | "upgrade"
                )
            {
                continue;
            }
            out.append(name.clone(), value.clone());
        }
        let (origin_header, origin_id) = match &self.origin {
            Origin::Router(id) => ("x-neutron-router-id", id),
            Origin::Network(id) => ("x-neutron-network-id", id),
        };
        let signature = sign(&self.upstream.secret, &i.device_id);
        for (name, value) in [
            ("x-forwarded-for", address.to_string()),
            ("x-instance-id", i.device_id.clone()),
            ("x-tenant-id", i.project_id.clone()),
            ("x-instance-id-signature", signature),
            (origin_header, origin_id.clone()),
        ] {
            out.insert(HeaderName::from_static(name), HeaderValue::try_from(value)?);
        }
        Ok(out)
    }

    async fn forward(
        &self,
        req: Request,
        address: IpAddr,
        i: &Instance,
    ) -> anyhow::Result<Response> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("{}{path}", self.upstream.url);
        let headers = self.headers(&parts.headers, address, i)?;
        let body = axum::body::to_bytes(body, MAX_BODY).await?;
        let answer = self
            .upstream
            .http
            .request(parts.method, url)
            .headers(headers)
            .body(body)
            .send()
            .await?;
        let status = answer.status();
        let mut headers = HeaderMap::new();
        if let Some(t) = answer.headers().get(header::CONTENT_TYPE) {
            headers.insert(header::CONTENT_TYPE, t.clone());
        }
        let bytes = answer.bytes().await?;
        Ok((status, headers, Body::from(bytes)).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2
        assert_eq!(
            sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(sign("", "x").len(), 64);
        assert_ne!(sign("a", "i-1"), sign("b", "i-1"));
    }

    #[test]
    fn proxies_follow_the_plan() {
        let plan: HostPlan = serde_json::from_value(serde_json::json!({
            "networks": [
                {"id": "n1", "kind": {"type": "local"}, "mtu": 1500, "dhcp": {
                    "port_mac": "fa:16:3e:00:00:01", "addresses": [], "subnets": [],
                    "hosts": [], "metadata": true}},
                {"id": "n2", "kind": {"type": "local"}, "mtu": 1500, "dhcp": {
                    "port_mac": "fa:16:3e:00:00:02", "addresses": [], "subnets": [],
                    "hosts": [], "metadata": false}}
            ],
            "ports": [],
            "routers": [
                {"id": "r1", "gateway": null, "interfaces": [], "routes": [],
                 "floating_ips": [], "port_forwardings": [], "metadata": true},
                {"id": "r2", "gateway": null, "interfaces": [], "routes": [],
                 "floating_ips": [], "port_forwardings": []}
            ]
        }))
        .unwrap();
        let w = wanted(&plan);
        assert_eq!(
            w,
            [Origin::Router("r1".into()), Origin::Network("n1".into())]
        );
        assert_eq!(w[0].namespace(None), "qrouter-r1");
        assert_eq!(w[0].namespace(Some("hostA")), "qrouter-r1");
        assert_eq!(w[0].address().to_string(), "0.0.0.0:9697");
        assert_eq!(w[1].namespace(None), "qdhcp-n1");
        // as the dataplane names a tagged host's DHCP namespaces
        assert_eq!(w[1].namespace(Some("hostA")), "qdhcp-n1-hostA");
        assert_eq!(w[1].address().to_string(), "169.254.169.254:80");
    }
}

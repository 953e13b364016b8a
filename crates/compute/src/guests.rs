//! What a guest sees of its server, and what opens its console: Compute's side of the
//! metadata service ([`metadata::Instances`]) and of the VNC console proxy
//! ([`console_proxy::Consoles`]), over Compute's database, so either may run in any
//! process of the cloud (`serve --role metadata`, `serve --role novncproxy`).
//!
//! A server's [`InstanceMetadata`] is built from its row (name, host name, project,
//! zone, key, user data, metadata, launch index) and its ports as Networking has them
//! (addresses, subnets, routes, the DHCP server, floating IPs); config drives are
//! built from the same ([`config_drive_files`]).

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use async_trait::async_trait;
use base64::Engine as _;
use metadata::{
    content::Guest,
    model::{Ec2Ids, HostRoute, KeyPair, Port, Subnet},
    InstanceMetadata, Settings,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use types::{Error, Result, ServerId};
use uuid::Uuid;

use crate::{
    clients::{As, Clients, NetworkClient},
    model::{PortInfo, Server},
    store,
};

/// How long a console token is good for (Nova's `[consoleauth] token_ttl`).
pub const CONSOLE_TOKEN_TTL_SECS: i64 = 600;

/// The 8 hex digits EC2 ids are made of (Nova maps UUIDs to integers in a table; the
/// UUID's first digits serve here, as `instance-<hex>` names do).
fn ec2_hex(id: &str) -> String {
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).take(8).collect();
    format!("{hex:0>8}")
}

fn parse_ip(v: &Value) -> Option<IpAddr> {
    v.as_str()?.parse().ok()
}

/// The subnet `id` as the guest's port sees it: `ips` its addresses on it.
async fn subnet(net: &NetworkClient, id: &str, network: &str, ips: Vec<IpAddr>) -> Result<Subnet> {
    let s = net.subnet(As::Service, id).await?;
    let cidr = s["cidr"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            Error::unavailable(format!(
                "The network service answered subnet {id} without cidr."
            ))
        })?;
    let list = |key: &str| s[key].as_array().cloned().unwrap_or_default();
    let dhcp_ports = net
        .ports(
            As::Service,
            &[("network_id", network), ("device_owner", "network:dhcp")],
        )
        .await?;
    let dhcp_server = dhcp_ports
        .iter()
        .flat_map(|p| p["fixed_ips"].as_array().cloned().unwrap_or_default())
        .find(|f| f["subnet_id"].as_str() == Some(id))
        .and_then(|f| parse_ip(&f["ip_address"]));
    Ok(Subnet {
        cidr,
        gateway: parse_ip(&s["gateway_ip"]),
        ips,
        dns_nameservers: list("dns_nameservers")
            .iter()
            .filter_map(parse_ip)
            .collect(),
        host_routes: list("host_routes")
            .iter()
            .filter_map(|r| {
                Some(HostRoute {
                    destination: r["destination"].as_str()?.parse().ok()?,
                    nexthop: parse_ip(&r["nexthop"])?,
                })
            })
            .collect(),
        enable_dhcp: s["enable_dhcp"].as_bool().unwrap_or(true),
        dhcp_server,
        ipv6_address_mode: s["ipv6_address_mode"].as_str().map(str::to_owned),
    })
}

/// One of the server's ports as Networking has it now.
async fn port(net: &NetworkClient, info: &PortInfo) -> Result<Port> {
    let p = net.port(As::Service, &info.port_id).await?;
    let network = info.network_id.to_string();
    let n = net.network(As::Service, &info.network_id).await?;
    let mut by_subnet: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for f in p["fixed_ips"].as_array().into_iter().flatten() {
        if let (Some(s), Some(ip)) = (f["subnet_id"].as_str(), parse_ip(&f["ip_address"])) {
            by_subnet.entry(s.to_owned()).or_default().push(ip);
        }
    }
    let mut subnets = Vec::new();
    for (id, ips) in by_subnet {
        subnets.push(subnet(net, &id, &network, ips).await?);
    }
    let floating_ips = net
        .floating_ips(As::Service, &[("port_id", info.port_id.as_str())])
        .await?
        .iter()
        .filter_map(|f| parse_ip(&f["floating_ip_address"]))
        .collect();
    let uuid = |s: &str, what: &str| {
        Uuid::parse_str(s).map_err(|_| Error::internal(format!("{what} {s} is not a UUID")))
    };
    Ok(Port {
        id: uuid(info.port_id.as_str(), "port")?,
        network_id: uuid(&network, "network")?,
        mac_address: p["mac_address"]
            .as_str()
            .unwrap_or(&info.mac_address)
            .to_owned(),
        vif_type: p["binding:vif_type"]
            .as_str()
            .filter(|t| !t.is_empty() && *t != "unbound")
            .unwrap_or("bridge")
            .to_owned(),
        mtu: n["mtu"].as_u64().and_then(|m| u32::try_from(m).ok()),
        subnets,
        floating_ips,
    })
}

/// The server as its guest sees it; `password` the one it posted.
pub async fn instance_metadata(
    net: &NetworkClient,
    server: &Server,
    password: Option<String>,
) -> Result<InstanceMetadata> {
    let uuid = server
        .id
        .uuid()
        .ok_or_else(|| Error::internal(format!("server id {} is not a UUID", server.id)))?;
    let key_pairs = match (&server.key_name, &server.key_data) {
        (Some(name), Some(key)) => vec![KeyPair {
            name: name.clone(),
            kind: if key.starts_with("-----BEGIN") {
                "x509"
            } else {
                "ssh"
            }
            .into(),
            public_key: key.clone(),
        }],
        _ => Vec::new(),
    };
    let user_data = match &server.user_data {
        Some(b64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| Error::internal_from(e).with_detail("the server's user_data"))?,
        ),
        None => None,
    };
    let mut ports = Vec::new();
    for info in &server.ports {
        ports.push(port(net, info).await?);
    }
    let image = server.image_id.as_ref().map(|i| i.to_string());
    Ok(InstanceMetadata {
        uuid,
        name: server.name.clone(),
        hostname: server.hostname.clone(),
        project_id: server.project_id.clone(),
        availability_zone: server.availability_zone.clone(),
        launch_index: u32::try_from(server.launch_index).unwrap_or(0),
        reservation_id: server.reservation_id.clone(),
        ec2: Ec2Ids {
            instance_id: format!("i-{}", ec2_hex(server.id.as_str())),
            ami_id: format!("ami-{}", ec2_hex(image.as_deref().unwrap_or(""))),
            kernel_id: None,
            ramdisk_id: None,
        },
        key_pairs,
        user_data,
        metadata: server.metadata.clone(),
        security_groups: server.security_groups.clone(),
        ports,
        flavor_name: server.flavor.name.clone(),
        image_id: server.image_id.as_ref().and_then(|i| i.uuid()),
        root_device_name: Some("/dev/vda".into()),
        volume_devices: Vec::new(),
        devices: Vec::new(),
        dedicated_cpus: Vec::new(),
        password,
        vendor_data: BTreeMap::new(),
    })
}

/// The files of the server's config drive (path -> base64), as the metadata service
/// would serve them, with the admin password in `meta_data.json`.
pub fn config_drive_files(
    instance: &InstanceMetadata,
    admin_pass: Option<&str>,
) -> BTreeMap<String, String> {
    let settings = Settings::default();
    let guest = Guest {
        instance,
        settings: &settings,
        address: None,
        extra: metadata::config_drive::extra(admin_pass),
    };
    metadata::config_drive::files(&guest)
        .into_iter()
        .map(|(path, bytes)| {
            (
                path,
                base64::engine::general_purpose::STANDARD.encode(bytes),
            )
        })
        .collect()
}

/// A console token's stored form: its SHA-256, in hex (the token itself is kept nowhere).
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Compute's guests, for the metadata service and the console proxy.
pub struct Guests {
    db: db::Db,
    network: NetworkClient,
}

impl Guests {
    pub fn new(db: db::Db, clients: &Clients) -> Guests {
        Guests {
            db,
            network: clients.network.clone(),
        }
    }

    fn server_id(id: Uuid) -> Result<ServerId> {
        id.to_string()
            .parse()
            .map_err(|_| Error::internal(format!("{id} is no server id")))
    }

    /// A new console token for `server`'s VNC server at `addr`, valid for
    /// [`CONSOLE_TOKEN_TTL_SECS`].
    pub async fn issue_console_token(&self, server: &ServerId, addr: SocketAddr) -> Result<String> {
        let token = Uuid::new_v4().to_string();
        let hash = token_hash(&token);
        let host = addr.ip().to_string();
        let now = unix_now();
        let mut conn = self.db.pool.acquire().await?;
        store::guests::insert_console_token(
            &mut conn,
            &store::guests::ConsoleToken {
                hash: &hash,
                server,
                host: &host,
                port: addr.port(),
                expires: now + CONSOLE_TOKEN_TTL_SECS,
            },
            now,
        )
        .await?;
        Ok(token)
    }

    /// The server as its guest sees it now.
    pub async fn of_server(&self, server: &Server) -> Result<InstanceMetadata> {
        let mut conn = self.db.pool.acquire().await?;
        let password = store::guests::password(&mut conn, &server.id).await?;
        drop(conn);
        instance_metadata(&self.network, server, password).await
    }

    /// Forget the console tokens of a server being deleted.
    pub async fn revoke_consoles(&self, server: &ServerId) -> Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        store::guests::delete_console_tokens(&mut conn, server).await
    }
}

#[async_trait]
impl metadata::Instances for Guests {
    async fn metadata(&self, id: Uuid) -> Result<Option<InstanceMetadata>> {
        let id = Self::server_id(id)?;
        let mut conn = self.db.pool.acquire().await?;
        let Some(server) = store::servers::get(&mut conn, &id).await? else {
            return Ok(None);
        };
        drop(conn);
        if server.deleted {
            return Ok(None);
        }
        self.of_server(&server).await.map(Some)
    }

    async fn set_password(&self, id: Uuid, password: &str) -> Result<bool> {
        let id = Self::server_id(id)?;
        let mut conn = self.db.pool.acquire().await?;
        if store::guests::set_password(&mut conn, &id, password).await? {
            return Ok(true);
        }
        match store::servers::get(&mut conn, &id).await? {
            Some(s) if !s.deleted => Ok(false),
            _ => Err(Error::not_found(format!(
                "Instance {id} could not be found."
            ))),
        }
    }
}

#[async_trait]
impl console_proxy::Consoles for Guests {
    async fn resolve(&self, token: &str) -> Result<Option<SocketAddr>> {
        let mut conn = self.db.pool.acquire().await?;
        let Some((host, port)) =
            store::guests::console_target(&mut conn, &token_hash(token), unix_now()).await?
        else {
            return Ok(None);
        };
        let ip: IpAddr = host
            .parse()
            .map_err(|_| Error::internal(format!("console_tokens.host {host} is no address")))?;
        let port = u16::try_from(port)
            .map_err(|_| Error::internal(format!("console_tokens.port {port} is no port")))?;
        Ok(Some(SocketAddr::new(ip, port)))
    }
}

/// Where the metadata service and the console proxy of the binary find Compute's
/// guests: `MetadataService<ComputeSource>`, `ConsoleProxyService<ComputeSource>`.
pub struct ComputeSource;

fn guests(ctx: &service::Context) -> Arc<Guests> {
    let clients = Clients::new(ctx.service_token.clone(), &ctx.endpoints);
    Arc::new(Guests::new(ctx.db.clone(), &clients))
}

impl metadata::service::Source for ComputeSource {
    async fn instances(ctx: &service::Context) -> anyhow::Result<Arc<dyn metadata::Instances>> {
        Ok(guests(ctx))
    }
}

impl console_proxy::service::Source for ComputeSource {
    async fn consoles(ctx: &service::Context) -> anyhow::Result<Arc<dyn console_proxy::Consoles>> {
        Ok(guests(ctx))
    }
}

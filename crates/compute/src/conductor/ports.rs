//! A server's ports, as Nova's network API makes them: one per requested network (or
//! the user's own port), bound to the host (`binding:host_id`), owned by the server
//! (`device_id`, `device_owner = compute:<zone>`), with its security groups.
//!
//! Ports the conductor creates carry the tag `nova-nic-<n>` (n: the NIC's place), so a
//! step run again finds its own port instead of making a second, and an undo finds what
//! to delete from the server id alone. Ports the user brought are unbound, not deleted.

use serde_json::{json, Value};
use types::{Error, NetworkId, PortId, Result};

use crate::{
    clients::{As, NetworkClient},
    model::{FixedIp, NetworkRequest, PortInfo, RequestedNetwork, Server},
    rpc::NicSpec,
};

/// The tag of the port the conductor made for NIC `n`.
pub fn nic_tag(n: usize) -> String {
    format!("nova-nic-{n}")
}

/// One NIC to give the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Nic {
    /// A new port on the network.
    Network {
        network: NetworkId,
        fixed_ip: Option<std::net::IpAddr>,
        tag: Option<String>,
    },
    /// The user's port.
    Port { port: PortId, tag: Option<String> },
}

fn is_external(n: &Value) -> bool {
    n["router:external"].as_bool().unwrap_or(false)
}

/// The NICs a server's network request means, as Nova resolves `auto` (the project's
/// own network, or else the one shared network) and an empty list.
pub async fn resolve(net: &NetworkClient, server: &Server) -> Result<Vec<Nic>> {
    let list = match &server.networks {
        NetworkRequest::None => return Ok(Vec::new()),
        NetworkRequest::List(l) if !l.is_empty() => l,
        NetworkRequest::Auto | NetworkRequest::List(_) => {
            let own: Vec<Value> = net
                .networks(As::Service, &[("project_id", &server.project_id)])
                .await?
                .into_iter()
                .filter(|n| !is_external(n))
                .collect();
            let candidates = if own.is_empty() {
                net.networks(As::Service, &[("shared", "true")])
                    .await?
                    .into_iter()
                    .filter(|n| !is_external(n))
                    .collect()
            } else {
                own
            };
            return match candidates.as_slice() {
                [] if matches!(server.networks, NetworkRequest::Auto) => Err(Error::bad_request(
                    "Unable to automatically allocate a network for project.",
                )),
                [] => Ok(Vec::new()),
                [one] => Ok(vec![Nic::Network {
                    network: network_id(one)?,
                    fixed_ip: None,
                    tag: None,
                }]),
                _ => Err(Error::conflict(
                    "Multiple possible networks found, use a Network ID to be more specific.",
                )),
            };
        }
    };
    list.iter()
        .map(|r: &RequestedNetwork| match (&r.port, &r.network) {
            (Some(p), _) => Ok(Nic::Port {
                port: p.clone(),
                tag: r.tag.clone(),
            }),
            (None, Some(n)) => Ok(Nic::Network {
                network: n.clone(),
                fixed_ip: r.fixed_ip,
                tag: r.tag.clone(),
            }),
            (None, None) => Err(Error::bad_request("A network or a port is required.")),
        })
        .collect()
}

fn network_id(n: &Value) -> Result<NetworkId> {
    n["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::unavailable("The network service answered a network without id."))
}

fn port_id(p: &Value) -> Result<PortId> {
    p["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::unavailable("The network service answered a port without id."))
}

/// The security groups of the server as port ids: `None` for the project's default
/// (which Neutron gives a port made without any).
async fn security_groups(net: &NetworkClient, server: &Server) -> Result<Option<Vec<String>>> {
    let names = &server.security_groups;
    if names.is_empty() || (names.len() == 1 && names[0] == "default") {
        return Ok(None);
    }
    let groups = net
        .security_groups(As::Service, &[("project_id", &server.project_id)])
        .await?;
    names
        .iter()
        .map(|name| {
            groups
                .iter()
                .find(|g| g["name"].as_str() == Some(name) || g["id"].as_str() == Some(name))
                .and_then(|g| g["id"].as_str().map(str::to_owned))
                .ok_or_else(|| {
                    Error::bad_request(format!(
                        "Security group {name} not found for project {}.",
                        server.project_id
                    ))
                })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Make (or find) the server's ports, bound to `host`; their ids in NIC order.
pub async fn ensure(net: &NetworkClient, server: &Server, host: &str) -> Result<Vec<PortId>> {
    let nics = resolve(net, server).await?;
    if nics.is_empty() {
        return Ok(Vec::new());
    }
    let zone = server
        .availability_zone
        .clone()
        .unwrap_or_else(|| "nova".into());
    let owner = format!("compute:{zone}");
    let existing = net
        .ports(As::Service, &[("device_id", server.id.as_str())])
        .await?;
    let groups = security_groups(net, server).await?;
    let mut out = Vec::new();
    for (n, nic) in nics.iter().enumerate() {
        let binding = json!({
            "device_id": server.id.as_str(),
            "device_owner": owner,
            "binding:host_id": host,
        });
        match nic {
            Nic::Port { port, .. } => {
                net.update_port(As::Service, port, binding).await?;
                out.push(port.clone());
            }
            Nic::Network {
                network, fixed_ip, ..
            } => {
                let tag = nic_tag(n);
                let mine = existing.iter().find(|p| {
                    p["tags"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|x| x == &json!(tag)))
                });
                if let Some(p) = mine {
                    let id = port_id(p)?;
                    if p["binding:host_id"].as_str() != Some(host) {
                        net.update_port(As::Service, &id, json!({"binding:host_id": host}))
                            .await?;
                    }
                    out.push(id);
                    continue;
                }
                let mut body = binding;
                body["network_id"] = json!(network);
                body["project_id"] = json!(server.project_id);
                body["tags"] = json!([tag]);
                if let Some(ip) = fixed_ip {
                    body["fixed_ips"] = json!([{ "ip_address": ip }]);
                }
                if let Some(g) = &groups {
                    body["security_groups"] = json!(g);
                }
                let p = net.create_port(As::Service, body).await?;
                out.push(port_id(&p)?);
            }
        }
    }
    Ok(out)
}

/// Move the server's ports to `host` (a build retried elsewhere).
pub async fn rebind(net: &NetworkClient, ports: &[PortId], host: &str) -> Result<()> {
    for p in ports {
        net.update_port(As::Service, p, json!({"binding:host_id": host}))
            .await?;
    }
    Ok(())
}

/// Delete the ports the conductor made for the server, unbind the user's. Nothing to
/// do is success.
pub async fn release(net: &NetworkClient, server: &Server) -> Result<()> {
    let ports = net
        .ports(As::Service, &[("device_id", server.id.as_str())])
        .await?;
    for p in &ports {
        let id = port_id(p)?;
        let ours = p["tags"].as_array().is_some_and(|t| {
            t.iter()
                .any(|x| x.as_str().is_some_and(|s| s.starts_with("nova-nic-")))
        });
        if ours {
            net.delete_port(As::Service, &id).await?;
        } else if p["device_owner"]
            .as_str()
            .is_some_and(|o| o.starts_with("compute:"))
        {
            let unbind = json!({"device_id": "", "device_owner": "", "binding:host_id": ""});
            match net.update_port(As::Service, &id, unbind).await {
                Err(e) if e.kind != types::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The ports as the server records them (its `addresses`) and as the host plugs them.
pub async fn describe(
    net: &NetworkClient,
    ids: &[PortId],
) -> Result<(Vec<PortInfo>, Vec<NicSpec>)> {
    let mut ports = Vec::with_capacity(ids.len());
    for id in ids {
        ports.push(net.port(As::Service, id).await?);
    }
    describe_ports(net, &ports).await
}

/// [`describe`] for ports already read (Neutron's JSON), with the floating IPs
/// associated with them.
pub async fn describe_ports(
    net: &NetworkClient,
    ports: &[Value],
) -> Result<(Vec<PortInfo>, Vec<NicSpec>)> {
    let mut infos = Vec::new();
    let mut nics = Vec::new();
    let ids: Vec<(&str, &str)> = ports
        .iter()
        .filter_map(|p| p["id"].as_str())
        .map(|id| ("port_id", id))
        .collect();
    let fips = if ids.is_empty() {
        Vec::new()
    } else {
        net.floating_ips(As::Service, &ids).await?
    };
    let mut networks: Vec<(NetworkId, Value)> = Vec::new();
    for p in ports {
        let id: PortId = p["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::unavailable("The network service answered a port without id."))?;
        let network: NetworkId = p["network_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                Error::unavailable("The network service answered a port without network.")
            })?;
        let n = match networks.iter().find(|(i, _)| *i == network) {
            Some((_, n)) => n.clone(),
            None => {
                let n = net.network(As::Service, &network).await?;
                networks.push((network.clone(), n.clone()));
                n
            }
        };
        let mac = p["mac_address"].as_str().unwrap_or_default().to_owned();
        let fixed_ips = p["fixed_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some(FixedIp {
                    ip_address: f["ip_address"].as_str()?.parse().ok()?,
                    subnet_id: f["subnet_id"].as_str().and_then(|s| s.parse().ok()),
                })
            })
            .collect();
        let floating_ips = fips
            .iter()
            .filter(|f| f["port_id"].as_str() == Some(id.as_str()))
            .filter_map(|f| f["floating_ip_address"].as_str()?.parse().ok())
            .collect();
        infos.push(PortInfo {
            port_id: id.clone(),
            network_id: network,
            network_name: n["name"].as_str().unwrap_or_default().to_owned(),
            mac_address: mac.clone(),
            fixed_ips,
            floating_ips,
            port_state: p["status"].as_str().unwrap_or_default().to_owned(),
            tag: None,
        });
        nics.push(NicSpec {
            port_id: id.to_string(),
            mac,
            mtu: n["mtu"]
                .as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(1450),
        });
    }
    Ok((infos, nics))
}

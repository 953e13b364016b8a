//! Servers: create (validated, quota-checked, recorded in BUILD, handed to the
//! lifecycle), list and show with Nova's filters, update, delete, metadata and tags.

use std::collections::BTreeMap;

use api_common::{Error, ErrorKind, Result};
use types::{ImageId, NetworkId, ServerId};

use super::{Caller, Compute, StateChange};
use crate::{
    clients::As,
    model::{
        count, now, BlockDevice, Flavor, NetworkRequest, PowerState, RequestedNetwork, Server,
        TaskState, VmState,
    },
    policies::Rule,
    store,
};

/// A server create, as the API parsed it (the app checks it against the cloud).
#[derive(Debug, Clone, Default)]
pub struct ServerCreate {
    pub name: String,
    pub image: Option<ImageId>,
    pub flavor: String,
    /// None: left out (before 2.37: every network the project may use).
    pub networks: Option<NetworkRequest>,
    pub key_name: Option<String>,
    pub user_data: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub security_groups: Vec<String>,
    pub availability_zone: Option<String>,
    pub min_count: usize,
    pub max_count: usize,
    pub config_drive: bool,
    pub block_devices: Vec<BlockDevice>,
    pub scheduler_hints: serde_json::Map<String, serde_json::Value>,
    pub hostname: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub access_ipv4: Option<String>,
    pub access_ipv6: Option<String>,
    pub admin_pass: Option<String>,
}

/// What a create made.
#[derive(Debug, Clone)]
pub struct Created {
    pub servers: Vec<Server>,
    pub reservation_id: String,
    /// The admin password (given or generated).
    pub admin_pass: String,
}

/// A server list's filters (those for admins are honoured only for them).
#[derive(Debug, Clone, Default)]
pub struct ServerFilter {
    pub all_tenants: bool,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    pub name: Option<regex::Regex>,
    pub status: Option<Vec<VmState>>,
    pub vm_state: Option<Vec<VmState>>,
    pub task_state: Option<Vec<TaskState>>,
    pub image: Option<String>,
    pub flavor: Option<String>,
    pub host: Option<String>,
    pub node: Option<String>,
    pub ip: Option<regex::Regex>,
    pub ip6: Option<regex::Regex>,
    pub changes_since: Option<String>,
    pub changes_before: Option<String>,
    pub reservation_id: Option<String>,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    pub locked: Option<bool>,
    pub deleted: bool,
    pub tags: Vec<String>,
    pub tags_any: Vec<String>,
    pub not_tags: Vec<String>,
    pub not_tags_any: Vec<String>,
    pub uuid: Option<String>,
    pub description: Option<regex::Regex>,
    pub hostname: Option<regex::Regex>,
}

/// A server's changeable attributes (PUT /servers/{id}).
#[derive(Debug, Clone, Default)]
pub struct ServerUpdate {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub hostname: Option<String>,
    pub access_ipv4: Option<Option<String>>,
    pub access_ipv6: Option<Option<String>>,
}

fn server_not_found(id: &str) -> Error {
    Error::not_found(format!("Instance {id} could not be found."))
}

/// A host name from a display name (Nova's `sanitize_hostname`).
pub fn sanitize_hostname(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
            out.push(c);
        } else if c == ' ' || c == '_' {
            out.push('-');
        }
    }
    let out: String = out.chars().take(63).collect();
    let out = out.trim_matches(|c| c == '-' || c == '.').to_owned();
    if out.is_empty() {
        "server".into()
    } else {
        out
    }
}

fn random_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// A quota refusal in Nova's words.
fn over_quota(resource: &str, requested: i64, used: i64, limit: i64) -> Error {
    Error::forbidden(format!(
        "Quota exceeded for {resource}: Requested {requested}, but already used {used} of {limit} {resource}"
    ))
}

impl Compute {
    /// A server the caller may see (another project's is not found).
    pub async fn server_visible(
        &self,
        caller: &Caller<'_>,
        id: &str,
        with_deleted: bool,
    ) -> Result<Server> {
        let sid = ServerId::parse(id).map_err(|_| server_not_found(id))?;
        let mut c = self.conn().await?;
        let s = store::servers::get(&mut c, &sid)
            .await?
            .filter(|s| with_deleted || !s.deleted)
            .ok_or_else(|| server_not_found(id))?;
        if !caller.admin && s.project_id != caller.project() {
            return Err(server_not_found(id));
        }
        Ok(s)
    }

    /// The server, if the caller may do `rule` to it (not found if it may not see it).
    pub async fn server_for(&self, caller: &Caller<'_>, id: &str, rule: Rule) -> Result<Server> {
        let s = self.server_visible(caller, id, false).await?;
        self.authorize(caller, rule, &super::target(&s.project_id, &s.user_id))?;
        Ok(s)
    }

    pub async fn server_show(&self, caller: &Caller<'_>, id: &str) -> Result<Server> {
        let s = self.server_visible(caller, id, true).await?;
        self.authorize(
            caller,
            Rule::ServersShow,
            &super::target(&s.project_id, &s.user_id),
        )?;
        if s.deleted && !caller.admin {
            return Err(server_not_found(id));
        }
        Ok(s)
    }

    /// The servers matching `f` that the caller may see, newest first.
    pub async fn server_list(
        &self,
        caller: &Caller<'_>,
        f: &ServerFilter,
        detail: bool,
    ) -> Result<Vec<Server>> {
        let (rule, all_rule) = if detail {
            (Rule::ServersDetail, Rule::ServersDetailAllTenants)
        } else {
            (Rule::ServersIndex, Rule::ServersIndexAllTenants)
        };
        self.authorize_own(caller, rule)?;
        let own = super::target(caller.project(), caller.user());
        let all = (f.all_tenants || f.project_id.is_some()) && self.allowed(caller, all_rule, &own);
        let admin_filters = self.allowed(caller, Rule::ServersAllowAllFilters, &own);
        let project = if all {
            f.project_id.clone()
        } else {
            Some(caller.project().to_owned())
        };
        let narrow = store::servers::Narrow {
            project,
            deleted: f.deleted && admin_filters,
            host: f.host.clone().filter(|_| admin_filters),
            reservation_id: f.reservation_id.clone(),
        };
        let mut c = self.conn().await?;
        let servers = store::servers::list(&mut c, &narrow).await?;
        let flavor = f.flavor.as_deref();
        Ok(servers
            .into_iter()
            .filter(|s| f.name.as_ref().is_none_or(|r| r.is_match(&s.name)))
            .filter(|s| f.status.as_ref().is_none_or(|v| v.contains(&s.vm_state)))
            .filter(|s| f.vm_state.as_ref().is_none_or(|v| v.contains(&s.vm_state)))
            .filter(|s| {
                f.task_state
                    .as_ref()
                    .is_none_or(|v| s.task_state.is_some_and(|t| v.contains(&t)))
            })
            .filter(|s| {
                f.image
                    .as_ref()
                    .is_none_or(|i| s.image_id.as_ref().is_some_and(|x| x.as_str() == i))
            })
            .filter(|s| flavor.is_none_or(|fl| s.flavor.id.as_str() == fl))
            .filter(|s| f.user_id.as_ref().is_none_or(|u| &s.user_id == u))
            .filter(|s| {
                f.ip.as_ref().is_none_or(|r| {
                    s.ports.iter().any(|p| {
                        p.fixed_ips.iter().any(|ip| {
                            ip.ip_address.is_ipv4() && r.is_match(&ip.ip_address.to_string())
                        }) || p.floating_ips.iter().any(|ip| r.is_match(&ip.to_string()))
                    })
                })
            })
            .filter(|s| {
                f.ip6.as_ref().is_none_or(|r| {
                    s.ports.iter().any(|p| {
                        p.fixed_ips.iter().any(|ip| {
                            ip.ip_address.is_ipv6() && r.is_match(&ip.ip_address.to_string())
                        })
                    })
                })
            })
            .filter(|s| {
                f.changes_since
                    .as_ref()
                    .is_none_or(|t| s.updated_at.as_str() >= t.as_str())
            })
            .filter(|s| {
                f.changes_before
                    .as_ref()
                    .is_none_or(|t| s.updated_at.as_str() <= t.as_str())
            })
            .filter(|s| {
                !admin_filters || f.node.as_ref().is_none_or(|n| s.node.as_ref() == Some(n))
            })
            .filter(|s| {
                f.availability_zone
                    .as_ref()
                    .is_none_or(|z| s.availability_zone.as_ref() == Some(z))
            })
            .filter(|s| {
                f.key_name
                    .as_ref()
                    .is_none_or(|k| s.key_name.as_ref() == Some(k))
            })
            .filter(|s| f.locked.is_none_or(|l| s.locked == l))
            .filter(|s| f.uuid.as_ref().is_none_or(|u| s.id.as_str() == u))
            .filter(|s| {
                f.description
                    .as_ref()
                    .is_none_or(|r| s.description.as_ref().is_some_and(|d| r.is_match(d)))
            })
            .filter(|s| f.hostname.as_ref().is_none_or(|r| r.is_match(&s.hostname)))
            .filter(|s| f.tags.iter().all(|t| s.tags.contains(t)))
            .filter(|s| f.tags_any.is_empty() || f.tags_any.iter().any(|t| s.tags.contains(t)))
            .filter(|s| f.not_tags.is_empty() || !f.not_tags.iter().all(|t| s.tags.contains(t)))
            .filter(|s| !f.not_tags_any.iter().any(|t| s.tags.contains(t)))
            .collect())
    }

    /// The flavor a create or resize names, as the caller may see it (`flavorRef` may
    /// be a URL; the id is its last segment).
    async fn flavor_ref(&self, caller: &Caller<'_>, r: &str) -> Result<Flavor> {
        let id = r.trim_end_matches('/').rsplit('/').next().unwrap_or(r);
        self.flavor_show(caller, id)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::NotFound => Error::bad_request("Invalid flavorRef provided."),
                _ => e,
            })
    }

    /// The networks a server without `networks` (or with `auto`) goes on: the one the
    /// project may use, if there is exactly one.
    async fn default_networks(
        &self,
        caller: &Caller<'_>,
        token: &str,
        auto: bool,
    ) -> Result<NetworkRequest> {
        let nets = self.clients.network.networks(As::User(token), &[]).await?;
        let usable: Vec<&serde_json::Value> = nets
            .iter()
            .filter(|n| n["router:external"] != serde_json::json!(true))
            .filter(|n| {
                n["project_id"].as_str() == Some(caller.project())
                    || n["shared"] == serde_json::json!(true)
            })
            .collect();
        match usable.as_slice() {
            [] if auto => Err(Error::bad_request(format!(
                "Unable to automatically allocate a network for project {}",
                caller.project()
            ))),
            [] => Ok(NetworkRequest::None),
            [one] => {
                let id = one["id"].as_str().and_then(|i| NetworkId::parse(i).ok());
                Ok(NetworkRequest::List(vec![RequestedNetwork {
                    network: id,
                    ..Default::default()
                }]))
            }
            _ => Err(Error::conflict(
                "Multiple possible networks found, use a Network ID to be more specific.",
            )),
        }
    }

    /// Check each requested network and port exists for the caller.
    async fn check_networks(&self, token: &str, req: &NetworkRequest) -> Result<()> {
        let NetworkRequest::List(list) = req else {
            return Ok(());
        };
        for r in list {
            if let Some(p) = &r.port {
                let port = self
                    .clients
                    .network
                    .port(As::User(token), p)
                    .await
                    .map_err(|e| match e.kind {
                        ErrorKind::NotFound => {
                            Error::bad_request(format!("Port id {p} could not be found."))
                        }
                        _ => e,
                    })?;
                if port["device_id"].as_str().is_some_and(|d| !d.is_empty()) {
                    return Err(Error::conflict(format!("Port {p} is still in use.")));
                }
            } else if let Some(n) = &r.network {
                self.clients
                    .network
                    .network(As::User(token), n)
                    .await
                    .map_err(|e| match e.kind {
                        ErrorKind::NotFound => {
                            Error::bad_request(format!("Network {n} could not be found."))
                        }
                        _ => e,
                    })?;
            }
        }
        Ok(())
    }

    /// Check the security groups name groups of the caller's project.
    async fn check_security_groups(
        &self,
        caller: &Caller<'_>,
        token: &str,
        names: &[String],
    ) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let groups = self
            .clients
            .network
            .security_groups(As::User(token), &[("project_id", caller.project())])
            .await?;
        for n in names {
            let found = groups
                .iter()
                .any(|g| g["name"].as_str() == Some(n) || g["id"].as_str() == Some(n));
            if !found {
                return Err(Error::bad_request(format!(
                    "Security group {n} not found for project {}.",
                    caller.project()
                )));
            }
        }
        Ok(())
    }

    /// Check an image for a server of `flavor`, as the caller sees it.
    async fn check_image(
        &self,
        caller: &Caller<'_>,
        token: &str,
        image: &ImageId,
        flavor: &Flavor,
    ) -> Result<()> {
        let img = self
            .clients
            .image
            .show(As::User(token), image)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::NotFound => Error::bad_request("Can not find requested image"),
                _ => e,
            })?;
        if img.status != "active" {
            return Err(Error::bad_request(format!("Image {image} is not active.")));
        }
        if img.min_ram > flavor.memory_mb {
            return Err(Error::bad_request(
                "Flavor's memory is too small for requested image.",
            ));
        }
        if flavor.root_gb == 0 {
            self.authorize_own(caller, Rule::ServersCreateZeroDiskFlavor)
                .map_err(|_| {
                    Error::forbidden(
                        "Only volume-backed servers are allowed for flavors with zero disk.",
                    )
                })?;
        } else {
            let size_gb =
                i64::try_from(img.size.unwrap_or(0).div_ceil(1 << 30)).unwrap_or(i64::MAX);
            if img.min_disk > flavor.root_gb || size_gb > flavor.root_gb {
                return Err(Error::bad_request(
                    "Flavor's disk is too small for requested image.",
                ));
            }
        }
        Ok(())
    }

    /// The zones a server may ask for.
    pub async fn zone_names(&self) -> Result<Vec<String>> {
        let mut zones = vec![self.cfg.default_availability_zone.clone()];
        for z in self.aggregate_zones().await? {
            if !zones.contains(&z) {
                zones.push(z);
            }
        }
        Ok(zones)
    }

    /// Create servers (min..=max of them, as many as the quota allows): recorded in
    /// BUILD / scheduling, then handed to the lifecycle.
    pub async fn server_create(
        &self,
        caller: &Caller<'_>,
        mut req: ServerCreate,
        request_id: &str,
    ) -> Result<Created> {
        self.authorize_own(caller, Rule::ServersCreate)?;
        let token = caller.ctx.token.clone();
        let flavor = self.flavor_ref(caller, &req.flavor).await?;
        if flavor.disabled {
            return Err(Error::bad_request("Flavor is disabled."));
        }
        // image: the root, or a block device mapping of an image to a local disk
        if req.image.is_none() {
            let boot = req
                .block_devices
                .iter()
                .find(|b| b.boot_index == Some(0) || req.block_devices.len() == 1);
            match boot {
                Some(b)
                    if b.source_type == "image"
                        && b.destination_type.as_deref().unwrap_or("local") == "local" =>
                {
                    let id = b.uuid.as_deref().unwrap_or("");
                    req.image = Some(
                        ImageId::parse(id)
                            .map_err(|_| Error::bad_request("Can not find requested image"))?,
                    );
                }
                Some(b)
                    if b.source_type == "volume"
                        || b.destination_type.as_deref() == Some("volume") =>
                {
                    return Err(Error::bad_request(
                        "Block Device Mapping is Invalid: volumes are not available in this cloud.",
                    ))
                }
                _ => return Err(Error::bad_request("Missing imageRef attribute")),
            }
        }
        let image = req.image.clone().expect("set above");
        self.check_image(caller, &token, &image, &flavor).await?;
        let key = match &req.key_name {
            Some(k) => Some(self.own_keypair(caller, k).await?),
            None => None,
        };
        let networks = match req.networks.take() {
            None => self.default_networks(caller, &token, false).await?,
            Some(NetworkRequest::Auto) => self.default_networks(caller, &token, true).await?,
            Some(n) => n,
        };
        if matches!(&networks, NetworkRequest::List(l) if !l.is_empty()) {
            self.authorize_own(caller, Rule::ServersCreateAttachNetwork)?;
        }
        self.check_networks(&token, &networks).await?;
        if req.security_groups.is_empty() {
            req.security_groups.push("default".into());
        }
        req.security_groups.dedup();
        if !matches!(networks, NetworkRequest::None) {
            self.check_security_groups(caller, &token, &req.security_groups)
                .await?;
        }
        // availability zone, or zone:host[:node] for admins
        let mut forced_host = None;
        if let Some(z) = req.availability_zone.clone() {
            let mut parts = z.splitn(3, ':');
            let zone = parts.next().unwrap_or("").to_owned();
            if let Some(host) = parts.next().filter(|h| !h.is_empty()) {
                self.authorize_own(caller, Rule::ServersCreateForcedHost)?;
                forced_host = Some(host.to_owned());
            }
            if !zone.is_empty() && !self.zone_names().await?.contains(&zone) {
                return Err(Error::bad_request(
                    "The requested availability zone is not available",
                ));
            }
            req.availability_zone = (!zone.is_empty()).then_some(zone);
        }
        if req.availability_zone.is_none() {
            req.availability_zone = self.cfg.default_schedule_zone.clone();
        }
        if let Some(h) = forced_host {
            req.scheduler_hints
                .insert("force_host".into(), serde_json::json!(h));
        }
        let limits = self.quota_limits(caller.project()).await?;
        let meta_limit = limits["metadata_items"];
        if meta_limit >= 0 && count(req.metadata.len()) > meta_limit {
            return Err(Error::forbidden(format!(
                "Quota exceeded for metadata_items: Requested {}, but already used 0 of {meta_limit} metadata_items",
                req.metadata.len()
            )));
        }
        let group = match req.scheduler_hints.get("group").and_then(|g| g.as_str()) {
            Some(g) => Some(self.group_for_boot(caller, g, req.min_count).await?),
            None => None,
        };
        let admin_pass = req.admin_pass.clone().unwrap_or_else(random_password);
        let reservation_id = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut tx = self.db.begin_write().await?;
        // quota, counted in the transaction that records: as many as fit, at least min
        let (used_n, used_cores, used_ram) =
            store::servers::usage(&mut tx, caller.project()).await?;
        let fits = |n: i64| -> Option<Error> {
            for (res, used, each) in [
                ("instances", used_n, 1),
                ("cores", used_cores, flavor.vcpus),
                ("ram", used_ram, flavor.memory_mb),
            ] {
                let limit = limits[res];
                if limit >= 0 && used + n * each > limit {
                    return Some(over_quota(res, n * each, used, limit));
                }
            }
            None
        };
        let mut n = req.max_count;
        while n > req.min_count && fits(count(n)).is_some() {
            n -= 1;
        }
        if let Some(e) = fits(count(n)) {
            return Err(e);
        }
        if let Some(g) = &group {
            let limit = limits["server_group_members"];
            if limit >= 0 && count(g.members.len() + n) > limit {
                return Err(Error::forbidden(
                    "Quota exceeded, too many servers in group",
                ));
            }
        }
        let t = now();
        let mut servers = Vec::new();
        for i in 0..n {
            let (name, hostname) = if n > 1 {
                (
                    format!("{}-{}", req.name, i + 1),
                    format!(
                        "{}-{}",
                        req.hostname
                            .clone()
                            .unwrap_or_else(|| sanitize_hostname(&req.name)),
                        i + 1
                    ),
                )
            } else {
                (
                    req.name.clone(),
                    req.hostname
                        .clone()
                        .unwrap_or_else(|| sanitize_hostname(&req.name)),
                )
            };
            let s = Server {
                id: ServerId::generate(),
                project_id: caller.project().to_owned(),
                user_id: caller.user().to_owned(),
                name,
                hostname,
                description: req.description.clone(),
                image_id: Some(image.clone()),
                flavor: flavor.clone(),
                vm_state: VmState::Building,
                task_state: Some(TaskState::Scheduling),
                power_state: PowerState::NoState,
                host: None,
                node: None,
                availability_zone: req.availability_zone.clone(),
                key_name: key.as_ref().map(|k| k.name.clone()),
                key_data: key.as_ref().map(|k| k.public_key.clone()),
                user_data: req.user_data.clone(),
                config_drive: req.config_drive,
                metadata: req.metadata.clone(),
                tags: req.tags.clone(),
                security_groups: if matches!(networks, NetworkRequest::None) {
                    Vec::new()
                } else {
                    req.security_groups.clone()
                },
                networks: networks.clone(),
                block_devices: req.block_devices.clone(),
                scheduler_hints: serde_json::Value::Object(req.scheduler_hints.clone()),
                server_group: group.as_ref().map(|g| g.id.clone()),
                reservation_id: reservation_id.clone(),
                launch_index: count(i),
                admin_pass: Some(admin_pass.clone()),
                locked: false,
                locked_by: None,
                locked_reason: None,
                access_ipv4: req.access_ipv4.clone(),
                access_ipv6: req.access_ipv6.clone(),
                ports: Vec::new(),
                fault: None,
                progress: 0,
                new_flavor: None,
                old_flavor: None,
                launched_at: None,
                terminated_at: None,
                created_at: t.clone(),
                updated_at: t.clone(),
                deleted: false,
            };
            store::servers::insert(&mut tx, &s).await?;
            Self::record_action(&mut tx, caller, &s, "create", request_id).await?;
            servers.push(s);
        }
        if let Some(g) = &group {
            let ids: Vec<ServerId> = servers.iter().map(|s| s.id.clone()).collect();
            Self::group_join(&mut tx, &g.id, &ids).await?;
        }
        tx.commit().await?;
        let ids: Vec<ServerId> = servers.iter().map(|s| s.id.clone()).collect();
        if let Err(e) = self.lifecycle()?.build(ids.clone()).await {
            tracing::warn!(error = %e.report(), "the build of {} server(s) was refused", ids.len());
            for id in &ids {
                self.set_fault(
                    id,
                    crate::model::Fault {
                        code: 500,
                        message: e.message.clone(),
                        details: None,
                        created: now(),
                    },
                )
                .await?;
                self.set_states(id, StateChange::to(VmState::Error).task(None))
                    .await?;
            }
        }
        Ok(Created {
            servers,
            reservation_id,
            admin_pass,
        })
    }

    /// Change a server's name, description, hostname or access addresses.
    pub async fn server_update(
        &self,
        caller: &Caller<'_>,
        id: &str,
        up: ServerUpdate,
    ) -> Result<Server> {
        let s = self.server_for(caller, id, Rule::ServersUpdate).await?;
        let (s, ()) = self
            .update_server(&s.id, |s| {
                if let Some(n) = up.name {
                    s.name = n;
                }
                if let Some(d) = up.description {
                    s.description = d;
                }
                if let Some(h) = up.hostname {
                    s.hostname = h;
                }
                if let Some(a) = up.access_ipv4 {
                    s.access_ipv4 = a;
                }
                if let Some(a) = up.access_ipv6 {
                    s.access_ipv6 = a;
                }
                Ok(())
            })
            .await?;
        Ok(s)
    }

    /// Delete a server (`force`: os-forceDelete): its task becomes `deleting` and the
    /// lifecycle takes it from there.
    pub async fn server_delete(
        &self,
        caller: &Caller<'_>,
        id: &str,
        force: bool,
        request_id: &str,
    ) -> Result<()> {
        let rule = if force {
            Rule::ServersForceDelete
        } else {
            Rule::ServersDelete
        };
        let s = self.server_for(caller, id, rule).await?;
        self.check_lock(caller, &s)?;
        let mut tx = self.db.begin_write().await?;
        let mut s = store::servers::get(&mut tx, &s.id)
            .await?
            .filter(|s| !s.deleted)
            .ok_or_else(|| server_not_found(id))?;
        s.task_state = Some(TaskState::Deleting);
        s.updated_at = now();
        store::servers::save(&mut tx, &s).await?;
        Self::record_action(&mut tx, caller, &s, "delete", request_id).await?;
        tx.commit().await?;
        self.lifecycle()?.delete(s.id.clone()).await
    }

    /// A locked server refuses what its owner asks, unless the caller is an admin.
    pub(crate) fn check_lock(&self, caller: &Caller<'_>, s: &Server) -> Result<()> {
        if s.locked && !caller.admin {
            return Err(Error::conflict(format!("Instance {} is locked", s.id)));
        }
        Ok(())
    }

    // ---- metadata

    pub async fn metadata_list(
        &self,
        caller: &Caller<'_>,
        id: &str,
    ) -> Result<BTreeMap<String, String>> {
        Ok(self
            .server_for(caller, id, Rule::MetadataIndex)
            .await?
            .metadata)
    }

    pub async fn metadata_get(&self, caller: &Caller<'_>, id: &str, key: &str) -> Result<String> {
        let s = self.server_for(caller, id, Rule::MetadataShow).await?;
        s.metadata
            .get(key)
            .cloned()
            .ok_or_else(|| Error::not_found("Metadata item was not found"))
    }

    /// Merge (`replace`: replace all) metadata.
    pub async fn metadata_set(
        &self,
        caller: &Caller<'_>,
        id: &str,
        items: BTreeMap<String, String>,
        replace: bool,
        rule: Rule,
    ) -> Result<BTreeMap<String, String>> {
        let s = self.server_for(caller, id, rule).await?;
        self.check_lock(caller, &s)?;
        self.check_not_building(&s, "update metadata")?;
        let limit = self.quota_limit(&s.project_id, "metadata_items").await?;
        let (s, ()) = self
            .update_server(&s.id, |s| {
                if replace {
                    s.metadata.clear();
                }
                s.metadata.extend(items);
                if limit >= 0 && count(s.metadata.len()) > limit {
                    return Err(Error::forbidden(format!(
                        "Quota exceeded for metadata_items: Requested {}, but already used 0 of {limit} metadata_items",
                        s.metadata.len()
                    )));
                }
                Ok(())
            })
            .await?;
        Ok(s.metadata)
    }

    pub async fn metadata_delete(&self, caller: &Caller<'_>, id: &str, key: &str) -> Result<()> {
        let s = self.server_for(caller, id, Rule::MetadataDelete).await?;
        self.check_lock(caller, &s)?;
        self.update_server(&s.id, |s| {
            s.metadata
                .remove(key)
                .map(drop)
                .ok_or_else(|| Error::not_found("Metadata item was not found"))
        })
        .await
        .map(drop)
    }

    fn check_not_building(&self, s: &Server, what: &str) -> Result<()> {
        if s.vm_state == VmState::Building {
            return Err(Error::conflict(format!(
                "Cannot '{what}' instance {} while it is in vm_state building",
                s.id
            )));
        }
        Ok(())
    }

    // ---- tags

    /// `os-server-password`: what the guest posted to the metadata service (encrypted
    /// with its key pair by the guest; empty when none).
    pub async fn server_password(&self, caller: &Caller<'_>, id: &str) -> Result<String> {
        let s = self.server_for(caller, id, Rule::PasswordShow).await?;
        let mut c = self.conn().await?;
        Ok(store::guests::password(&mut c, &s.id)
            .await?
            .unwrap_or_default())
    }

    /// Clear the password, so the guest may post a new one.
    pub async fn clear_server_password(&self, caller: &Caller<'_>, id: &str) -> Result<()> {
        let s = self.server_for(caller, id, Rule::PasswordClear).await?;
        let mut c = self.conn().await?;
        store::guests::clear_password(&mut c, &s.id).await
    }

    pub async fn tags_list(&self, caller: &Caller<'_>, id: &str) -> Result<Vec<String>> {
        Ok(self.server_for(caller, id, Rule::TagsIndex).await?.tags)
    }

    pub async fn tag_check(&self, caller: &Caller<'_>, id: &str, tag: &str) -> Result<()> {
        let s = self.server_for(caller, id, Rule::TagsShow).await?;
        if s.tags.iter().any(|t| t == tag) {
            Ok(())
        } else {
            Err(Error::not_found(format!("Tag {tag} could not be found.")))
        }
    }

    /// Replace the tags (`Some`), add one (`add`), remove one, or remove all.
    pub async fn tags_change(
        &self,
        caller: &Caller<'_>,
        id: &str,
        change: TagChange,
        rule: Rule,
    ) -> Result<(Vec<String>, bool)> {
        let s = self.server_for(caller, id, rule).await?;
        if !matches!(
            s.vm_state,
            VmState::Active
                | VmState::Paused
                | VmState::Suspended
                | VmState::Stopped
                | VmState::Shelved
                | VmState::ShelvedOffloaded
        ) {
            return Err(Error::conflict(format!(
                "Cannot 'update tags' instance {} while it is in vm_state {}",
                s.id, s.vm_state
            )));
        }
        let mut tx = self.db.begin_write().await?;
        let mut tags = s.tags.clone();
        let mut created = false;
        match change {
            TagChange::Replace(t) => tags = t,
            TagChange::Add(t) => {
                if !tags.contains(&t) {
                    if tags.len() >= 50 {
                        return Err(Error::bad_request(
                            "The number of tags exceeded the per-server limit 50",
                        ));
                    }
                    tags.push(t);
                    created = true;
                }
            }
            TagChange::Remove(t) => {
                let before = tags.len();
                tags.retain(|x| *x != t);
                if tags.len() == before {
                    return Err(Error::not_found(format!("Tag {t} could not be found.")));
                }
            }
            TagChange::Clear => tags.clear(),
        }
        tags.sort();
        tags.dedup();
        store::servers::set_tags(&mut tx, &s.id, &tags).await?;
        tx.commit().await?;
        Ok((tags, created))
    }

    /// The servers (deleted ones too) usage is computed from: of `project`, or of every
    /// project (admins).
    pub async fn usage_servers(
        &self,
        caller: &Caller<'_>,
        project: Option<&str>,
    ) -> Result<Vec<Server>> {
        match project {
            None => self.authorize_own(caller, Rule::UsageList)?,
            Some(p) => self.authorize(caller, Rule::UsageShow, &super::target(p, caller.user()))?,
        }
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        for deleted in [false, true] {
            out.extend(
                store::servers::list(
                    &mut c,
                    &store::servers::Narrow {
                        project: project.map(str::to_owned),
                        deleted,
                        ..Default::default()
                    },
                )
                .await?,
            );
        }
        Ok(out)
    }

    /// The availability zone of a host: the zone of an aggregate it is in, else the
    /// default zone.
    pub async fn zone_of_host(&self, host: &str) -> Result<String> {
        Ok(self
            .host_zone(host)
            .await?
            .unwrap_or_else(|| self.cfg.default_availability_zone.clone()))
    }

    /// Take a deleted server out of its server group.
    pub(crate) async fn leave_groups(&self, id: &ServerId) -> Result<()> {
        let mut c = self.conn().await?;
        store::groups::remove_member(&mut c, id).await
    }
}

/// A change of a server's tags.
#[derive(Debug, Clone)]
pub enum TagChange {
    Replace(Vec<String>),
    Add(String),
    Remove(String),
    Clear,
}

#[cfg(test)]
mod tests {
    #[test]
    fn hostnames() {
        let check = |name: &str, host: &str| assert_eq!(super::sanitize_hostname(name), host);
        check("My Server", "my-server");
        check("web_1.example", "web-1.example");
        check("---", "server");
        check("ÄÖ test", "test");
    }
}

//! The conductor: what makes the API's servers real, in Nova's flow.
//!
//! The API records a server (BUILD / scheduling) or an action's task_state and calls the
//! [`Lifecycle`] this module builds ([`BusLifecycle`]), which casts the work to the
//! `conductor` topic. The conductor ([`Conductor`]) runs boots, deletes and resizes as
//! sagas ([`crate::sagas`]; their log in the database, resumed or unwound after a
//! restart) and the other actions as one call to the server's host
//! (`compute.<host>`), recording each outcome through the state functions of
//! [`Compute`]. Hosts report to it (their service record, their guests' power states),
//! since they never write the database. The scheduler's topic is served by the same
//! process ([`crate::scheduler`]).

mod actions;
mod hosts;
pub mod ports;
mod recovery;

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_trait::async_trait;
use bus::{BusError, Client, RemoteError};
use saga::{Executor, ExecutorConfig};
use service::{Context, Mode};
use types::{Error, ErrorKind, ImageId, PortId, Result, ServerId};

use crate::{
    app::{InterfaceRequest, Lifecycle, ServerAction},
    clients::{placement::Placement, As},
    guests::Guests,
    model::{Flavor, Server},
    rpc::{
        self, ComputeHost, ConductorAction, ConductorReply, ConductorRequest, ConfigDrive,
        FlavorSpec, GuestSpec, HostReply, HostRequest, ImageRef,
    },
    scheduler::{self, SchedulerService},
    Compute,
};

/// How many hosts a build is tried on (Nova's `[scheduler] max_attempts`).
pub const MAX_ATTEMPTS: u32 = 3;

/// How long a host may take to build a guest (download the image, start it, wait for
/// its ports) before the conductor gives up on it.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(900);

/// How long a host may take for an action (a clean shutdown waits up to a minute).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(300);

/// The conductor.
pub struct Conductor {
    pub compute: Arc<Compute>,
    pub placement: Placement,
    pub(crate) hosts: Client<ComputeHost>,
    pub(crate) scheduler: Client<rpc::Scheduler>,
    pub(crate) executor: Executor<Arc<Conductor>>,
    /// The console tokens the VNC proxy resolves (in the database: the proxy may run
    /// in another process).
    pub guests: Arc<Guests>,
    /// noVNC's page at the console proxy (Nova's `novncproxy_base_url`).
    pub(crate) console_base: String,
    /// One turn per server group: its members are scheduled one at a time here.
    group_turns: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The service's own handle on a remote error: a host's or the scheduler's refusal
/// keeps its kind and message.
pub(crate) fn from_bus(e: BusError) -> Error {
    match e {
        BusError::Remote { error, .. } => {
            let kind = match error.kind.as_str() {
                "NotFound" => ErrorKind::NotFound,
                "BadRequest" => ErrorKind::BadRequest,
                "Conflict" | rpc::NO_VALID_HOST => ErrorKind::Conflict,
                "Unavailable" => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            };
            let mut err = Error::new(kind, error.message.clone()).with_detail(&error);
            if error.kind == rpc::NO_VALID_HOST {
                err = err.with_code(rpc::NO_VALID_HOST);
            }
            err
        }
        other => Error::unavailable("A compute host did not answer.").with_detail(other),
    }
}

fn remote(e: Error) -> RemoteError {
    RemoteError::new(format!("{:?}", e.kind), e.message)
}

impl Conductor {
    /// A conductor over the cloud's bus and database; its executor claims sagas as
    /// `owner`. [`start`] serves it; tests drive its sagas themselves.
    pub fn new(
        compute: Arc<Compute>,
        bus: Arc<dyn bus::Transport>,
        token: &service::ServiceToken,
        endpoints: &std::collections::BTreeMap<&'static str, String>,
        db: db::Db,
        owner: &str,
    ) -> Arc<Conductor> {
        let executor = Executor::new(
            db,
            ExecutorConfig::new("compute", owner),
            crate::sagas::all(),
        );
        let console_base = if compute.cfg.novncproxy_base_url.is_empty() {
            console_base(
                endpoints
                    .get("compute")
                    .map_or("http://127.0.0.1", String::as_str),
            )
        } else {
            compute.cfg.novncproxy_base_url.clone()
        };
        let guests = Arc::new(Guests::new(compute.db.clone(), &compute.clients));
        Arc::new(Conductor {
            compute,
            placement: Placement::new(token.clone(), endpoints),
            hosts: Client::new(bus.clone()),
            scheduler: Client::new(bus).with_timeout(Duration::from_secs(120)),
            executor,
            guests,
            console_base,
            group_turns: Default::default(),
        })
    }

    /// Wait for the turn of server group `group` to schedule one of its members; the
    /// turn passes on when the guard drops. (Only within this process: conductors in
    /// several processes may still schedule two members at once.)
    pub(crate) async fn group_turn(&self, group: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = {
            let mut turns = self.group_turns.lock().unwrap_or_else(|e| e.into_inner());
            // forget the groups nobody waits on
            turns.retain(|_, t| Arc::strong_count(t) > 1);
            turns.entry(group.to_owned()).or_default().clone()
        };
        turn.lock_owned().await
    }

    /// The client of one host.
    pub(crate) fn host(&self, host: &str) -> Client<ComputeHost> {
        self.hosts.to_server(host)
    }

    /// Ask `host`, waiting at most `timeout`.
    pub(crate) async fn call_host(
        &self,
        host: &str,
        req: &HostRequest,
        timeout: Duration,
    ) -> Result<HostReply> {
        self.host(host)
            .with_timeout(timeout)
            .call(req)
            .await
            .map_err(from_bus)
    }

    /// The image as the host caches it (None: a server booted from a volume).
    pub(crate) async fn image_ref(&self, id: &ImageId) -> Result<ImageRef> {
        let i = self.compute.clients.image.show(As::Service, id).await?;
        if i.status != "active" {
            return Err(Error::bad_request(format!("Image {id} is not active.")));
        }
        let properties = i
            .properties
            .iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k.clone(), s.clone())),
                serde_json::Value::Bool(b) => Some((k.clone(), b.to_string())),
                serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
                _ => None,
            })
            .collect();
        Ok(ImageRef {
            id: id.to_string(),
            disk_format: i.disk_format.unwrap_or_else(|| "raw".into()),
            size: i.size,
            checksum: i
                .properties
                .get("checksum")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            os_hash_algo: i
                .properties
                .get("os_hash_algo")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            os_hash_value: i
                .properties
                .get("os_hash_value")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            properties,
        })
    }

    /// The image the server boots from (None: from a volume).
    pub(crate) async fn server_image(&self, s: &Server) -> Result<Option<ImageRef>> {
        match &s.image_id {
            Some(i) => Ok(Some(self.image_ref(i).await?)),
            None => Ok(None),
        }
    }

    /// What a host needs to run the server as it is now (its flavor, image, ports);
    /// `image` is its image when the caller has read it already.
    pub(crate) async fn guest_spec(
        &self,
        server: &Server,
        image: Option<ImageRef>,
    ) -> Result<GuestSpec> {
        let image_id = server.image_id.clone().ok_or_else(|| {
            Error::bad_request("Servers booted from volumes are not supported yet.")
        })?;
        let image = match image {
            Some(i) if i.id == image_id.as_str() => i,
            _ => self.image_ref(&image_id).await?,
        };
        let ids: Vec<PortId> = server.ports.iter().map(|p| p.port_id.clone()).collect();
        let (_, nics) = ports::describe(&self.compute.clients.network, &ids).await?;
        let instance = self.guests.of_server(server).await?;
        let config_drive = ConfigDrive {
            required: server.config_drive,
            files: crate::guests::config_drive_files(&instance, server.admin_pass.as_deref()),
        };
        Ok(GuestSpec {
            server_id: server.id.to_string(),
            name: rpc::instance_name(server.id.as_str()),
            flavor: flavor_spec(&server.flavor),
            image,
            nics,
            config_drive,
        })
    }

    async fn handle(self: &Arc<Self>, req: ConductorRequest) -> Result<ConductorReply> {
        match req {
            ConductorRequest::Build { server_id } => {
                let params = crate::sagas::ServerParams { server_id };
                self.executor
                    .start(self, crate::sagas::create::NAME, &params)
                    .await?;
            }
            ConductorRequest::Delete { server_id } => {
                let params = crate::sagas::ServerParams { server_id };
                self.executor
                    .start(self, crate::sagas::delete::NAME, &params)
                    .await?;
            }
            ConductorRequest::Action { server_id, action } => {
                let id: ServerId = server_id
                    .parse()
                    .map_err(|_| Error::bad_request("bad server id"))?;
                self.act(&id, action).await?;
            }
            ConductorRequest::ServiceReport(report) => self.service_report(&report).await?,
            ConductorRequest::HostInstances { host } => {
                return Ok(ConductorReply::Instances(self.host_instances(&host).await?))
            }
            ConductorRequest::PowerStates { host, states } => {
                self.power_states(&host, &states).await?
            }
        }
        Ok(ConductorReply::Done)
    }
}

/// The flavor as the hosts and the scheduler see it.
pub fn flavor_spec(f: &Flavor) -> FlavorSpec {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    FlavorSpec {
        name: f.name.clone(),
        vcpus: u32::try_from(f.vcpus).unwrap_or(0),
        memory_mb: n(f.memory_mb),
        root_gb: n(f.root_gb),
        ephemeral_gb: n(f.ephemeral_gb),
        swap_mb: n(f.swap),
        extra_specs: f.extra_specs.clone(),
    }
}

/// The API's side: casts to the conductor, asks hosts for consoles.
pub struct BusLifecycle {
    conductor: Client<rpc::Conductor>,
    inner: Arc<Conductor>,
}

impl BusLifecycle {
    async fn cast(&self, req: ConductorRequest) -> Result<()> {
        self.conductor.cast(&req).await.map_err(|e| {
            Error::unavailable("The compute conductor is not reachable.").with_detail(e)
        })
    }

    async fn on_host(&self, server: &ServerId) -> Result<String> {
        let s = self.inner.compute.server(server).await?;
        s.host
            .ok_or_else(|| Error::conflict(format!("Instance {server} is not ready.")))
    }
}

#[async_trait]
impl Lifecycle for BusLifecycle {
    async fn build(&self, servers: Vec<ServerId>) -> Result<()> {
        for id in servers {
            self.cast(ConductorRequest::Build {
                server_id: id.to_string(),
            })
            .await?;
        }
        Ok(())
    }

    async fn delete(&self, server: ServerId) -> Result<()> {
        self.cast(ConductorRequest::Delete {
            server_id: server.to_string(),
        })
        .await
    }

    async fn act(&self, server: ServerId, action: ServerAction) -> Result<()> {
        let action = match action {
            ServerAction::Stop => ConductorAction::Stop,
            ServerAction::Start => ConductorAction::Start,
            ServerAction::Reboot { hard } => ConductorAction::Reboot { hard },
            ServerAction::Pause => ConductorAction::Pause,
            ServerAction::Unpause => ConductorAction::Unpause,
            ServerAction::Suspend => ConductorAction::Suspend,
            ServerAction::Resume => ConductorAction::Resume,
            ServerAction::Rescue { image, .. } => ConductorAction::Rescue {
                image: image.map(|i| i.to_string()),
            },
            ServerAction::Unrescue => ConductorAction::Unrescue,
            ServerAction::Rebuild { image, .. } => ConductorAction::Rebuild {
                image: image.to_string(),
            },
            ServerAction::Resize { flavor } => ConductorAction::Resize {
                flavor: flavor.to_string(),
            },
            ServerAction::ConfirmResize => ConductorAction::ConfirmResize,
            ServerAction::RevertResize => ConductorAction::RevertResize,
            ServerAction::CreateImage { image_id, .. } => ConductorAction::CreateImage {
                image_id: image_id.to_string(),
            },
        };
        self.cast(ConductorRequest::Action {
            server_id: server.to_string(),
            action,
        })
        .await
    }

    async fn console_output(&self, server: ServerId, length: Option<u32>) -> Result<String> {
        let host = self.on_host(&server).await?;
        let reply = self
            .inner
            .call_host(
                &host,
                &HostRequest::ConsoleLog {
                    server_id: server.to_string(),
                    max_bytes: 1 << 20,
                },
                Duration::from_secs(30),
            )
            .await?;
        let HostReply::ConsoleLog(text) = reply else {
            return Err(Error::internal(format!("unexpected answer {reply:?}")));
        };
        Ok(match length {
            None => text,
            Some(n) => {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(n as usize);
                lines[from..].join("\n")
            }
        })
    }

    async fn remote_console(
        &self,
        server: ServerId,
        protocol: &str,
        _kind: &str,
    ) -> Result<String> {
        if protocol != "vnc" {
            return Err(Error::bad_request(format!(
                "Unsupported console protocol {protocol}."
            )));
        }
        let host = self.on_host(&server).await?;
        let reply = self
            .inner
            .call_host(
                &host,
                &HostRequest::VncAddress {
                    server_id: server.to_string(),
                },
                Duration::from_secs(30),
            )
            .await?;
        match reply {
            HostReply::Vnc(Some(addr)) => {
                let token = self.inner.guests.issue_console_token(&server, addr).await?;
                Ok(console_proxy::console_url(&self.inner.console_base, &token))
            }
            _ => Err(Error::conflict(format!(
                "Instance {server} has no VNC console."
            ))),
        }
    }

    async fn attach_interface(
        &self,
        _server: ServerId,
        _request: InterfaceRequest,
    ) -> Result<PortId> {
        Err(Error::new(
            ErrorKind::NotImplemented,
            "Attaching interfaces is not supported yet.",
        ))
    }

    async fn detach_interface(&self, _server: ServerId, _port: PortId) -> Result<()> {
        Err(Error::new(
            ErrorKind::NotImplemented,
            "Detaching interfaces is not supported yet.",
        ))
    }
}

/// noVNC's page at the VNC proxy on the host the API is reached at.
fn console_base(api_base: &str) -> String {
    let rest = api_base.split_once("://").map_or(api_base, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    format!("http://{host}:6080/vnc_auto.html")
}

/// Start the conductor and the scheduler on `ctx.tasks` (listening before this
/// returns) and return what the API calls.
pub async fn start(compute: &Arc<Compute>, ctx: &Context) -> anyhow::Result<Arc<dyn Lifecycle>> {
    let owner = match ctx.mode {
        // `up` locks its data directory: the only one, it resumes its sagas at once
        Mode::AllInOne => "oxistack-up".to_owned(),
        Mode::Serve => ExecutorConfig::unique_owner(),
    };
    let conductor = Conductor::new(
        compute.clone(),
        ctx.bus.clone(),
        &ctx.service_token,
        &ctx.endpoints,
        ctx.db.clone(),
        &owner,
    );
    if ctx.mode == Mode::AllInOne {
        let (c, before) = (conductor.clone(), crate::model::now());
        ctx.tasks
            .spawn("compute-recovery", move |progress| async move {
                progress.set("taking up what the last run accepted and lost");
                let n = c.recover_lost_requests(&before).await?;
                Ok(format!("{n} servers taken up again"))
            });
    }
    let executor = conductor.executor.clone();
    let placement = conductor.placement.clone();
    let sched = Arc::new(SchedulerService {
        placement,
        hosts: Arc::new(hosts::DbHosts::new(compute.clone())),
    });
    let sched_server = scheduler::listen(&*ctx.bus).await?;
    ctx.tasks
        .spawn("compute-scheduler", move |progress| async move {
            progress.set("scheduling");
            scheduler::serve(sched_server, sched, progress.shutdown()).await;
            Ok("stopped".into())
        });
    let server = bus::Server::<rpc::Conductor>::listen(&*ctx.bus, None).await?;
    let c = conductor.clone();
    ctx.tasks
        .spawn("compute-conductor", move |progress| async move {
            progress.set("conducting");
            let shutdown = progress.shutdown();
            let handler_c = c.clone();
            let handler = move |req: ConductorRequest| {
                let c = handler_c.clone();
                async move { c.handle(req).await.map_err(remote) }
            };
            let sagas = executor.run(c.clone(), shutdown.clone().cancelled_owned());
            tokio::join!(server.run(handler, shutdown.cancelled_owned()), sagas);
            Ok("stopped".into())
        });
    Ok(Arc::new(BusLifecycle {
        conductor: Client::new(ctx.bus.clone()),
        inner: conductor,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_console_proxy_is_on_the_api_host() {
        assert_eq!(
            super::console_base("http://192.0.2.7:8774/v2.1"),
            "http://192.0.2.7:6080/vnc_auto.html"
        );
        assert_eq!(
            super::console_base("http://cloud.example"),
            "http://cloud.example:6080/vnc_auto.html"
        );
    }
}

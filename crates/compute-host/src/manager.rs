//! One host's manager: answers `compute.<host>`, reports the host, syncs its guests.

use std::{
    collections::{BTreeMap, HashSet},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use api_common::{Error, ErrorKind, Result};
use base64::Engine as _;
use bus::{Client, RemoteError, Server};
use compute::clients::As;
use compute::rpc::{
    ComputeHost, Conductor, ConductorReply, ConductorRequest, GuestSpec, HostAction, HostReply,
    HostRequest, ImageRef,
};
use hypervisor::{Driver, InstanceSpec, MachineOptions, Nic, PowerState, RootDisk};
use service::{Progress, Tasks};
use types::{ImageId, PortId};

use crate::{images::ImageCache, Config, DriverName, Services};

/// The manager of one host.
pub struct Manager {
    pub(crate) cfg: Config,
    pub host: String,
    pub(crate) instances: PathBuf,
    pub(crate) driver: Arc<dyn Driver>,
    pub(crate) bus: Arc<dyn bus::Transport>,
    pub(crate) conductor: Client<Conductor>,
    pub(crate) services: Services,
    images: ImageCache,
    /// Servers with an operation under way here: the sync leaves them alone.
    busy: Mutex<HashSet<String>>,
}

/// Marks a server busy for as long as it lives.
struct Busy<'a> {
    m: &'a Manager,
    id: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.m
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

fn remote(e: Error) -> RemoteError {
    RemoteError::new(format!("{:?}", e.kind), e.message)
}

fn driver_error(e: hypervisor::Error) -> Error {
    match e {
        hypervisor::Error::NotFound(id) => {
            Error::not_found(format!("Instance {id} could not be found on this host."))
        }
        hypervisor::Error::Invalid(m) => Error::bad_request(m),
        hypervisor::Error::State(m) => Error::conflict(m),
        other => Error::new(ErrorKind::Internal, other.to_string()).with_detail(other),
    }
}

impl Manager {
    pub fn new(
        cfg: Config,
        host: String,
        instances: PathBuf,
        driver: Arc<dyn Driver>,
        bus: Arc<dyn bus::Transport>,
        services: Services,
    ) -> Arc<Manager> {
        let images = ImageCache::new(&instances, services.clients.image.clone());
        Arc::new(Manager {
            conductor: Client::<Conductor>::new(bus.clone()).with_timeout(Duration::from_secs(30)),
            cfg,
            host,
            instances,
            driver,
            bus,
            services,
            images,
            busy: Mutex::default(),
        })
    }

    /// Listen on `compute.<host>` (before returning, so the conductor may call at once),
    /// then report, serve and sync on `tasks`.
    pub async fn start(self: Arc<Self>, tasks: &Tasks) -> anyhow::Result<()> {
        let server = Server::<ComputeHost>::listen(&*self.bus, Some(&self.host)).await?;
        let name = format!("compute {}", self.host);
        tasks.spawn(&name, move |progress| async move {
            self.run(server, progress).await;
            Ok("stopped".into())
        });
        Ok(())
    }

    async fn run(self: Arc<Self>, server: Server<ComputeHost>, progress: Progress) {
        let shutdown = progress.shutdown();
        let handler_self = self.clone();
        let handler = move |req: HostRequest| {
            let m = handler_self.clone();
            async move { m.handle(req).await.map_err(remote) }
        };
        let serve = server.run(handler, shutdown.clone().cancelled_owned());
        let periodic = async {
            let report = Duration::from_secs(self.cfg.report_interval.max(1));
            let sync = Duration::from_secs(self.cfg.sync_interval.max(1));
            let mut placed = false;
            let mut next_report = tokio::time::Instant::now();
            let mut next_sync = tokio::time::Instant::now() + Duration::from_secs(1);
            loop {
                let now = tokio::time::Instant::now();
                if now >= next_report {
                    next_report = now + report;
                    if !placed {
                        match self.report_to_placement().await {
                            Ok(()) => placed = true,
                            Err(e) => {
                                progress.set(format!("cannot report to placement: {}", e.report()))
                            }
                        }
                    }
                    if placed {
                        // the host shows (os-services, os-hypervisors) once it can be
                        // scheduled to: its inventory is in Placement
                        match self.report_service().await {
                            Ok(()) => progress.set(format!("serving compute.{}", self.host)),
                            Err(e) => progress.set(format!("cannot reach the conductor: {e}")),
                        }
                    } else {
                        // try again soon (the cloud's services may still be starting)
                        next_report = now + Duration::from_secs(1);
                    }
                }
                if now >= next_sync {
                    next_sync = now + sync;
                    if let Err(e) = self.sync().await {
                        tracing::warn!(host = %self.host, "guest sync failed: {e}");
                    }
                }
                let wake = next_report.min(next_sync);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep_until(wake) => {}
                }
            }
        };
        tokio::join!(serve, periodic);
    }

    fn busy(&self, id: &str) -> Busy<'_> {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned());
        Busy {
            m: self,
            id: id.to_owned(),
        }
    }

    fn is_busy(&self, id: &str) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(id)
    }

    /// Answer one request.
    pub async fn handle(&self, req: HostRequest) -> Result<HostReply> {
        match req {
            HostRequest::Build { spec } => {
                let _busy = self.busy(&spec.server_id);
                let config_drive = self.build(&spec).await?;
                Ok(HostReply::Built {
                    power_state: self.power_state(&spec.server_id).await?,
                    config_drive,
                })
            }
            HostRequest::Destroy { server_id } => {
                let _busy = self.busy(&server_id);
                self.driver
                    .destroy(&server_id)
                    .await
                    .map_err(driver_error)?;
                let _ = tokio::fs::remove_dir_all(self.instances.join(&server_id)).await;
                Ok(HostReply::Done)
            }
            HostRequest::Action { spec, action } => {
                let _busy = self.busy(&spec.server_id);
                self.act(&spec, action).await?;
                Ok(HostReply::PowerState(
                    self.power_state(&spec.server_id).await?,
                ))
            }
            HostRequest::ConsoleLog {
                server_id,
                max_bytes,
            } => Ok(HostReply::ConsoleLog(
                self.driver
                    .console_log(&server_id, max_bytes)
                    .await
                    .map_err(driver_error)?,
            )),
            HostRequest::VncAddress { server_id } => Ok(HostReply::Vnc(
                self.driver
                    .vnc_address(&server_id)
                    .await
                    .map_err(driver_error)?,
            )),
        }
    }

    async fn power_state(&self, id: &str) -> Result<PowerState> {
        self.driver.power_state(id).await.map_err(driver_error)
    }

    /// The driver's spec of a guest: its base image cached, its taps named.
    async fn instance_spec(&self, spec: &GuestSpec, image: &ImageRef) -> Result<InstanceSpec> {
        let base = if self.driver.reads_images() {
            self.images.ensure(image).await?
        } else {
            self.images.path(&image.id)
        };
        let machine =
            MachineOptions::from_image_properties(&image.properties).map_err(driver_error)?;
        let config_drive = if spec.config_drive.required || self.cfg.force_config_drive {
            Some(
                self.write_config_drive(&spec.server_id, &spec.config_drive.files)
                    .await?,
            )
        } else {
            None
        };
        Ok(InstanceSpec {
            id: spec.server_id.clone(),
            name: spec.name.clone(),
            vcpus: spec.flavor.vcpus,
            memory_mb: spec.flavor.memory_mb,
            root: RootDisk {
                base,
                base_format: image.disk_format.clone(),
                size_gb: spec.flavor.root_gb,
            },
            ephemeral_gb: spec.flavor.ephemeral_gb,
            swap_mb: spec.flavor.swap_mb,
            nics: spec
                .nics
                .iter()
                .map(|n| Nic {
                    port_id: n.port_id.clone(),
                    mac: n.mac.clone(),
                    tap: dataplane::names::tap(&n.port_id),
                    mtu: n.mtu,
                })
                .collect(),
            config_drive,
            machine,
        })
    }

    /// The config drive: the files the conductor sent, as a vfat image labelled
    /// `config-2` in the guest's directory (`disk.config`, as Nova names it), made once
    /// per guest (a rebuild makes a new one).
    async fn write_config_drive(
        &self,
        id: &str,
        files: &BTreeMap<String, String>,
    ) -> Result<PathBuf> {
        let image = self.instances.join(id).join("disk.config");
        if tokio::fs::try_exists(&image).await.unwrap_or(false) {
            return Ok(image);
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let files = files
            .iter()
            .map(|(path, content)| {
                b64.decode(content)
                    .map(|data| (path.trim_start_matches('/').to_owned(), data))
                    .map_err(|e| Error::bad_request(format!("config drive file {path}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let dir = self.instances.join(id);
        let dest = image.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            // written beside, then renamed: a half-made drive is never taken for one
            let part = dest.with_extension("part");
            metadata::config_drive::write_image(&files, &part)?;
            std::fs::rename(&part, &dest)?;
            anyhow::Ok(())
        })
        .await
        .map_err(Error::internal)?
        .map_err(|e| {
            Error::new(ErrorKind::Internal, "Cannot make the config drive.")
                .with_detail(format!("{e:#}"))
        })?;
        Ok(image)
    }

    /// Build the guest: whether it has a config drive.
    async fn build(&self, spec: &GuestSpec) -> Result<bool> {
        let result: Result<bool> = async {
            let ispec = self.instance_spec(spec, &spec.image).await?;
            self.driver.spawn(&ispec).await.map_err(driver_error)?;
            self.wait_for_ports(spec).await?;
            Ok(ispec.config_drive.is_some())
        }
        .await;
        if let Err(e) = &result {
            tracing::warn!(host = %self.host, server = %spec.server_id, "build failed: {}", e.report());
            if let Err(d) = self.driver.destroy(&spec.server_id).await {
                tracing::warn!(server = %spec.server_id, "cannot clean up the failed build: {d}");
            }
        }
        result
    }

    /// Wait until the network agent has wired every port (ACTIVE), as Nova waits for
    /// `network-vif-plugged`.
    async fn wait_for_ports(&self, spec: &GuestSpec) -> Result<()> {
        if self.cfg.driver == DriverName::Fake
            || self.cfg.vif_plugging_timeout == 0
            || spec.nics.is_empty()
        {
            return Ok(());
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(self.cfg.vif_plugging_timeout);
        let mut waiting: Vec<&str> = spec.nics.iter().map(|n| n.port_id.as_str()).collect();
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for port in waiting {
                if self.port_status(port).await.ok().as_deref() != Some("ACTIVE") {
                    still.push(port);
                }
            }
            waiting = still;
            if waiting.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::unavailable(format!(
                    "Timed out waiting for the network to wire port(s) {}.",
                    waiting.join(", ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(())
    }

    async fn port_status(&self, port: &str) -> Result<String> {
        let id: PortId = port
            .parse()
            .map_err(|_| Error::bad_request(format!("Bad port id {port}.")))?;
        let p = self.services.clients.network.port(As::Service, &id).await?;
        Ok(p["status"].as_str().unwrap_or_default().to_owned())
    }

    async fn act(&self, spec: &GuestSpec, action: HostAction) -> Result<()> {
        let id = spec.server_id.as_str();
        let d = &self.driver;
        let shutdown = Duration::from_secs(self.cfg.shutdown_timeout);
        match action {
            HostAction::Stop => d.power_off(id, shutdown).await,
            HostAction::Start => {
                d.power_on(&self.instance_spec(spec, &spec.image).await?)
                    .await
            }
            HostAction::Reboot { hard } => {
                d.reboot(
                    &self.instance_spec(spec, &spec.image).await?,
                    hard,
                    shutdown * 2,
                )
                .await
            }
            HostAction::Pause => d.pause(id).await,
            HostAction::Unpause => d.unpause(id).await,
            HostAction::Suspend => d.suspend(id).await,
            HostAction::Resume => {
                d.resume(&self.instance_spec(spec, &spec.image).await?)
                    .await
            }
            HostAction::Rescue { image } => {
                let ispec = self.instance_spec(spec, &spec.image).await?;
                let base = self.images.ensure(&image).await?;
                let rescue = RootDisk {
                    base,
                    base_format: image.disk_format.clone(),
                    size_gb: 0,
                };
                d.rescue(&ispec, &rescue).await
            }
            HostAction::Unrescue => {
                d.unrescue(&self.instance_spec(spec, &spec.image).await?)
                    .await
            }
            HostAction::Rebuild { image } => {
                // the guest's directory goes, its config drive with it, then comes anew
                d.destroy(id).await.map_err(driver_error)?;
                d.spawn(&self.instance_spec(spec, &image).await?).await
            }
            HostAction::Resize => {
                let ispec = self.instance_spec(spec, &spec.image).await?;
                d.power_off(id, shutdown).await.map_err(driver_error)?;
                d.resize_root(id, spec.flavor.root_gb)
                    .await
                    .map_err(driver_error)?;
                d.power_on(&ispec).await
            }
            HostAction::Snapshot { image_id } => return self.snapshot(id, &image_id).await,
        }
        .map_err(driver_error)
    }

    /// Snapshot the root disk and upload it as `image_id` (queued in the Image API).
    async fn snapshot(&self, id: &str, image_id: &str) -> Result<()> {
        let dir = self.instances.join("snapshots");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(Error::internal)?;
        let dest = dir.join(format!("{image_id}.snap"));
        let result = async {
            self.driver
                .snapshot(id, &dest)
                .await
                .map_err(driver_error)?;
            let file = tokio::fs::File::open(&dest)
                .await
                .map_err(Error::internal)?;
            let id: ImageId = image_id
                .parse()
                .map_err(|_| Error::bad_request(format!("Bad image id {image_id}.")))?;
            self.services
                .clients
                .image
                .upload(As::Service, &id, tokio_util::io::ReaderStream::new(file))
                .await
        }
        .await;
        let _ = tokio::fs::remove_file(&dest).await;
        result
    }

    /// Tell the conductor what the guests are, and remove guests no server owns.
    async fn sync(&self) -> Result<()> {
        let known = match self
            .conductor
            .call(&ConductorRequest::HostInstances {
                host: self.host.clone(),
            })
            .await
        {
            Ok(ConductorReply::Instances(list)) => list,
            Ok(other) => return Err(Error::internal(format!("unexpected answer {other:?}"))),
            Err(e) => {
                return Err(Error::unavailable("The conductor is not reachable.").with_detail(e))
            }
        };
        let ids: HashSet<&str> = known.iter().map(|i| i.id.as_str()).collect();
        let guests = self.driver.list().await.map_err(driver_error)?;
        for g in guests.iter().filter(|g| !ids.contains(g.as_str())) {
            if self.is_busy(g) {
                continue;
            }
            tracing::info!(host = %self.host, guest = %g, "destroying a guest no server owns");
            if let Err(e) = self.driver.destroy(g).await {
                tracing::warn!(guest = %g, "cannot destroy an orphaned guest: {e}");
            }
        }
        let mut states = Vec::new();
        for i in known
            .iter()
            .filter(|i| i.task_state.is_none() && !self.is_busy(&i.id))
        {
            if let Ok(p) = self.driver.power_state(&i.id).await {
                states.push((i.id.clone(), p));
            }
        }
        if !states.is_empty() {
            self.conductor
                .call(&ConductorRequest::PowerStates {
                    host: self.host.clone(),
                    states,
                })
                .await
                .map_err(|e| {
                    Error::unavailable("The conductor is not reachable.").with_detail(e)
                })?;
        }
        Ok(())
    }
}

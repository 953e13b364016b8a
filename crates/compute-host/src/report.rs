//! What a host reports: its resource provider, inventory and traits to Placement; its
//! service record and hypervisor to the conductor.

use std::collections::BTreeMap;

use api_common::{Error, Result};
use compute::{
    clients::placement::{provider_uuid, Inventory},
    rpc::{ConductorRequest, ServiceReport},
};

use crate::{manager::Manager, DriverName};

/// The capability traits of a host (os-traits names Nova's libvirt driver reports).
fn traits(driver: DriverName) -> Vec<String> {
    let mut t = vec![
        "COMPUTE_NET_ATTACH_INTERFACE",
        "COMPUTE_DEVICE_TAGGING",
        "COMPUTE_VOLUME_ATTACH_WITH_TAG",
        "COMPUTE_IMAGE_TYPE_QCOW2",
        "COMPUTE_IMAGE_TYPE_RAW",
        "COMPUTE_NET_VIF_MODEL_VIRTIO",
        "COMPUTE_NET_VIF_MODEL_E1000",
    ];
    if driver == DriverName::Qemu {
        t.push("COMPUTE_RESCUE_BFV");
    }
    t.into_iter().map(str::to_owned).collect()
}

impl Manager {
    /// The host's resource provider uuid.
    pub fn node_uuid(&self) -> String {
        provider_uuid(&self.host)
    }

    /// The inventory Placement is told: the hypervisor's resources at the ratios.
    pub fn inventory(&self) -> BTreeMap<String, Inventory> {
        let info = self.driver.host_info();
        let c = &self.cfg;
        let reserved_disk_gb = c.reserved_host_disk_mb.div_ceil(1024);
        [
            (
                "VCPU",
                Inventory::new(u64::from(info.vcpus), 0, c.cpu_allocation_ratio),
            ),
            (
                "MEMORY_MB",
                Inventory::new(
                    info.memory_mb,
                    c.reserved_host_memory_mb,
                    c.ram_allocation_ratio,
                ),
            ),
            (
                "DISK_GB",
                Inventory::new(info.disk_gb, reserved_disk_gb, c.disk_allocation_ratio),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub(crate) async fn report_to_placement(&self) -> Result<()> {
        let uuid = self.node_uuid();
        let p = &self.services.placement;
        p.ensure_provider(&uuid, &self.host).await?;
        p.set_inventory(&uuid, &self.inventory()).await?;
        // unknown standard traits (an older Placement) are no reason not to serve
        if let Err(e) = p.set_traits(&uuid, &traits(self.cfg.driver)).await {
            tracing::warn!(host = %self.host, "cannot set the host's traits: {}", e.report());
        }
        Ok(())
    }

    pub(crate) async fn report_service(&self) -> Result<()> {
        let running = self.driver.list().await.map(|l| l.len()).unwrap_or(0);
        let report = ServiceReport {
            host: self.host.clone(),
            binary: "nova-compute".into(),
            node_uuid: self.node_uuid(),
            hypervisor: self.driver.host_info(),
            host_ip: "127.0.0.1".into(),
            running_vms: running as u64,
        };
        self.conductor
            .call(&ConductorRequest::ServiceReport(report))
            .await
            .map(drop)
            .map_err(|e| Error::unavailable("The conductor is not reachable.").with_detail(e))
    }
}

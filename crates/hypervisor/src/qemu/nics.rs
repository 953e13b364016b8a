//! NICs plugged into and out of a running guest over QMP.

use serde_json::{json, Value};

use super::{machine, qmp, Qemu, UNPLUG_TIMEOUT};
use crate::{Error, InstanceSpec, Nic, Result};

impl Qemu {
    /// Plug a NIC into the running guest.
    pub(super) async fn hotplug(&self, spec: &InstanceSpec, nic: &Nic) -> Result<()> {
        let id = &spec.id;
        let mut netdev = serde_json::Map::new();
        netdev.insert("type".into(), json!("tap"));
        for (k, v) in machine::netdev_props(nic) {
            let v = if k == "vhost" {
                json!(v == "on")
            } else {
                json!(v)
            };
            netdev.insert(k.into(), v);
        }
        self.execute(id, "netdev_add", Value::Object(netdev))
            .await?;
        let model = spec.machine.vif_model;
        let mut device = serde_json::Map::new();
        device.insert("driver".into(), json!(machine::nic_driver(model)));
        for (k, v) in machine::nic_props(nic, model) {
            let v = match v.parse::<u64>() {
                Ok(n) if k == "host_mtu" => json!(n),
                _ => json!(v),
            };
            device.insert(k.into(), v);
        }
        let machine_type = spec
            .machine
            .machine_type
            .as_deref()
            .unwrap_or(&self.cfg().machine_type);
        // q35's root bus takes no hot-plug: try the free root ports in turn
        let buses: Vec<Option<String>> = if machine_type.contains("q35") {
            (0..machine::HOTPLUG_PORTS)
                .map(|n| Some(machine::hotplug_port(n)))
                .collect()
        } else {
            vec![None]
        };
        let mut last = None;
        for bus in buses {
            let mut d = device.clone();
            if let Some(bus) = bus {
                d.insert("bus".into(), json!(bus));
            }
            match self.execute(id, "device_add", Value::Object(d)).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        let _ = self
            .execute(
                id,
                "netdev_del",
                json!({ "id": machine::netdev_id(&nic.port_id) }),
            )
            .await;
        Err(last.unwrap_or_else(|| Error::Failed("device_add: no bus".into())))
    }

    /// Unplug a NIC from the running guest: `device_del`, wait for its
    /// DEVICE_DELETED (the guest's eject), then the backend.
    pub(super) async fn unplug(&self, id: &str, port_id: &str) -> Result<()> {
        let dev = machine::nic_id(port_id);
        let qmp = self.qmp(id).await?;
        let mut events = qmp.events();
        match qmp.execute("device_del", json!({ "id": dev })).await {
            Ok(_) => {
                qmp::wait_event(&mut events, UNPLUG_TIMEOUT, |e| {
                    e.name == "DEVICE_DELETED"
                        && e.data.get("device").and_then(Value::as_str) == Some(dev.as_str())
                })
                .await
                .map_err(|e| {
                    Error::Failed(format!("instance {id} did not release NIC {port_id}: {e}"))
                })?;
            }
            Err(e) if e.to_string().contains("not found") => {}
            Err(e) => return Err(e),
        }
        match qmp
            .execute("netdev_del", json!({ "id": machine::netdev_id(port_id) }))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

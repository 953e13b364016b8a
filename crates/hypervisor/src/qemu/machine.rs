//! The QEMU command line of a guest, from its [`InstanceSpec`]. Pure: no file is read
//! or written here (the driver checks files before and creates disks), so every choice
//! is unit-tested.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use super::files::InstanceDir;
use crate::{DiskBus, Error, Firmware, InstanceSpec, Nic, Result, VifModel};

/// How guest code runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    /// QEMU's own emulator (libvirt's `virt_type = qemu`).
    Tcg,
}

impl Accel {
    /// libvirt's `virt_type` word for it.
    pub fn virt_type(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "qemu",
        }
    }
}

/// Everything besides the spec that shapes the command line.
#[derive(Clone, Debug)]
pub(crate) struct Launch<'a> {
    pub spec: &'a InstanceSpec,
    pub files: &'a InstanceDir,
    pub accel: Accel,
    pub vnc_listen: IpAddr,
    /// For a spec without `hw_machine_type`.
    pub default_machine_type: &'a str,
    /// OVMF's code image, when it is installed (UEFI guests need it).
    pub ovmf_code: Option<&'a Path>,
    /// Boot from `disk.rescue`, the guest's own disks after it.
    pub rescue: bool,
    /// Restore the memory `suspend` saved.
    pub incoming: bool,
}

/// VNC displays QEMU may take, from 5900 on (`to=`: it takes the first free one).
const VNC_DISPLAYS: u16 = 100;
/// Free PCIe root ports on q35, for hot-plugged NICs.
pub(crate) const HOTPLUG_PORTS: usize = 4;

/// The QEMU id of a NIC's backend.
pub(crate) fn netdev_id(port_id: &str) -> String {
    format!("net-{port_id}")
}

/// The QEMU id of a NIC's device.
pub(crate) fn nic_id(port_id: &str) -> String {
    format!("nic-{port_id}")
}

/// The id of the `n`th free PCIe root port (q35).
pub(crate) fn hotplug_port(n: usize) -> String {
    format!("hotplug{n}")
}

/// The tap backend of a NIC (QEMU creates the tap; the network agent plugs it), as
/// (key, value) pairs shared by the command line and `netdev_add`.
pub(crate) fn netdev_props(nic: &Nic) -> Vec<(&'static str, String)> {
    vec![
        ("id", netdev_id(&nic.port_id)),
        ("ifname", nic.tap.clone()),
        ("script", "no".into()),
        ("downscript", "no".into()),
        ("vhost", "off".into()),
    ]
}

/// The NIC device, as (key, value) pairs after the driver name (shared by the command
/// line and `device_add`).
pub(crate) fn nic_props(nic: &Nic, model: VifModel) -> Vec<(&'static str, String)> {
    let mut props = vec![
        ("id", nic_id(&nic.port_id)),
        ("netdev", netdev_id(&nic.port_id)),
        ("mac", nic.mac.clone()),
    ];
    // Only virtio tells the guest its MTU; the others take it from DHCP (option 26).
    if model == VifModel::Virtio && nic.mtu > 0 {
        props.push(("host_mtu", nic.mtu.to_string()));
    }
    props
}

/// QEMU's device name for `hw_vif_model`.
pub(crate) fn nic_driver(model: VifModel) -> &'static str {
    match model {
        VifModel::Virtio => "virtio-net-pci",
        VifModel::E1000 => "e1000",
        VifModel::E1000e => "e1000e",
        VifModel::Rtl8139 => "rtl8139",
    }
}

/// Check what a spec asks for before anything is created for it.
pub(crate) fn validate(spec: &InstanceSpec) -> Result<()> {
    if !is_uuid(&spec.id) {
        return Err(Error::Invalid(format!(
            "instance id {:?} is not a UUID",
            spec.id
        )));
    }
    if spec.vcpus == 0 || spec.memory_mb == 0 {
        return Err(Error::Invalid(format!(
            "instance {} needs at least one vCPU and some memory (vcpus={}, memory_mb={})",
            spec.id, spec.vcpus, spec.memory_mb
        )));
    }
    if let Some(m) = &spec.machine.machine_type {
        if m.is_empty()
            || !m
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(Error::Invalid(format!(
                "image property hw_machine_type={m} is not a machine type"
            )));
        }
    }
    video_device(spec.machine.video_model.as_deref())?;
    for nic in &spec.nics {
        validate_nic(nic)?;
    }
    Ok(())
}

/// A NIC QEMU can create: a tap name the kernel takes and a unicast MAC.
pub(crate) fn validate_nic(nic: &Nic) -> Result<()> {
    let tap_ok = !nic.tap.is_empty()
        && nic.tap.len() <= 15
        && nic
            .tap
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !tap_ok {
        return Err(Error::Invalid(format!(
            "port {}: {:?} is not a tap device name",
            nic.port_id, nic.tap
        )));
    }
    let octets: Vec<&str> = nic.mac.split(':').collect();
    let mac_ok = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()))
        && u8::from_str_radix(octets[0], 16).is_ok_and(|b| b & 1 == 0);
    if !mac_ok {
        return Err(Error::Invalid(format!(
            "port {}: {:?} is not a unicast MAC address",
            nic.port_id, nic.mac
        )));
    }
    if nic.port_id.is_empty()
        || !nic
            .port_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::Invalid(format!(
            "{:?} is not a port id",
            nic.port_id
        )));
    }
    Ok(())
}

pub(crate) fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The display device for `hw_video_model` (`None`: none at all).
fn video_device(model: Option<&str>) -> Result<Option<&'static str>> {
    Ok(Some(match model.map(str::to_ascii_lowercase).as_deref() {
        None | Some("vga") => "VGA",
        Some("cirrus") => "cirrus-vga",
        Some("qxl") => "qxl-vga",
        Some("virtio") => "virtio-vga",
        Some("bochs") | Some("gop") => "bochs-display",
        Some("none") => return Ok(None),
        Some(other) => {
            return Err(Error::Invalid(format!(
                "image property hw_video_model={other} is not supported"
            )))
        }
    }))
}

/// Hyper-V enlightenments Nova's libvirt driver turns on for `os_type=windows`.
const HYPERV: &[&str] = &[
    "hv_relaxed",
    "hv_vapic",
    "hv_spinlocks=0x1fff",
    "hv_vpindex",
    "hv_runtime",
    "hv_synic",
    "hv_stimer",
    "hv_reset",
    "hv_frequencies",
    "hv_time",
];

/// One `-blockdev` + `-device` pair.
struct Disk {
    node: &'static str,
    file: PathBuf,
    format: String,
    read_only: bool,
    serial: String,
}

/// Doubles commas, as QEMU's option parser wants inside a value.
fn esc(s: &str) -> String {
    s.replace(',', ",,")
}

fn esc_path(p: &Path) -> String {
    esc(&p.display().to_string())
}

/// `k=v,k=v`, values escaped.
fn join_props(props: &[(&str, String)]) -> String {
    props
        .iter()
        .map(|(k, v)| format!("{k}={}", esc(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// `'...'` for `sh -c` (QEMU runs `exec:` migration URIs through the shell).
pub(crate) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn disks(l: &Launch) -> Vec<Disk> {
    let spec = l.spec;
    let f = l.files;
    let mut disks = Vec::new();
    if l.rescue {
        disks.push(Disk {
            node: "rescue",
            file: f.rescue_disk(),
            format: "qcow2".into(),
            read_only: false,
            serial: "rescue".into(),
        });
    }
    disks.push(Disk {
        node: "root",
        file: f.disk(),
        format: "qcow2".into(),
        read_only: false,
        serial: spec.id.clone(),
    });
    if spec.ephemeral_gb > 0 {
        disks.push(Disk {
            node: "eph0",
            file: f.ephemeral(),
            format: "qcow2".into(),
            read_only: false,
            serial: "ephemeral0".into(),
        });
    }
    if spec.swap_mb > 0 {
        disks.push(Disk {
            node: "swap",
            file: f.swap(),
            format: "raw".into(),
            read_only: false,
            serial: "swap".into(),
        });
    }
    if let Some(cfg) = &spec.config_drive {
        let disk = if has_read_only_disks(spec.machine.disk_bus) {
            Disk {
                node: "config",
                file: cfg.clone(),
                format: "raw".into(),
                read_only: true,
                serial: "config-drive".into(),
            }
        } else {
            Disk {
                node: "config",
                file: f.config_overlay(),
                format: "qcow2".into(),
                read_only: false,
                serial: "config-drive".into(),
            }
        };
        disks.push(disk);
    }
    disks
}

/// Whether the bus's disks can be read-only (IDE and SATA disks cannot: the config
/// drive goes there as a throwaway overlay).
pub(crate) fn has_read_only_disks(bus: DiskBus) -> bool {
    matches!(bus, DiskBus::Virtio | DiskBus::Scsi)
}

fn is_q35(machine_type: &str) -> bool {
    machine_type.contains("q35")
}

/// The arguments after the QEMU binary.
pub(crate) fn command_line(l: &Launch) -> Result<Vec<String>> {
    let spec = l.spec;
    let m = &spec.machine;
    validate(spec)?;
    let machine_type = m.machine_type.as_deref().unwrap_or(l.default_machine_type);
    let q35 = is_q35(machine_type);
    let mut args: Vec<String> = Vec::new();
    let mut arg = |a: &str, v: String| {
        args.push(a.to_owned());
        args.push(v);
    };

    arg(
        "-name",
        format!("guest={},debug-threads=on", esc(&spec.name)),
    );
    arg("-uuid", spec.id.clone());
    let mut machine = machine_type.to_owned();
    if m.windows {
        machine.push_str(",hpet=off");
    }
    if m.firmware == Firmware::Uefi {
        if l.ovmf_code.is_none() {
            return Err(Error::Invalid(
                "image property hw_firmware_type=uefi needs OVMF, which this host does not have"
                    .into(),
            ));
        }
        machine.push_str(",pflash0=fw-code,pflash1=fw-vars");
    }
    arg("-machine", machine);
    arg(
        "-accel",
        match l.accel {
            Accel::Kvm => "kvm".into(),
            Accel::Tcg => "tcg".into(),
        },
    );
    let mut cpu = match l.accel {
        Accel::Kvm => "host".to_owned(),
        Accel::Tcg => "qemu64".to_owned(),
    };
    if m.windows {
        for flag in HYPERV {
            cpu.push(',');
            cpu.push_str(flag);
        }
    }
    arg("-cpu", cpu);
    arg("-m", spec.memory_mb.to_string());
    arg("-smp", spec.vcpus.to_string());
    if m.windows {
        arg("-rtc", "base=localtime,driftfix=slew".into());
    } else {
        arg("-rtc", "base=utc".into());
    }
    arg(
        "-qmp",
        format!(
            "unix:{},server=on,wait=off",
            esc_path(&l.files.qmp_socket())
        ),
    );
    arg("-pidfile", l.files.pid().display().to_string());
    arg(
        "-chardev",
        format!(
            "file,id=console,path={},append=on",
            esc_path(&l.files.console_log())
        ),
    );
    arg("-serial", "chardev:console".into());

    if let (Firmware::Uefi, Some(code)) = (m.firmware, l.ovmf_code) {
        arg(
            "-blockdev",
            format!(
                "driver=raw,node-name=fw-code,read-only=on,file.driver=file,file.filename={}",
                esc_path(code)
            ),
        );
        arg(
            "-blockdev",
            format!(
                "driver=raw,node-name=fw-vars,file.driver=file,file.filename={}",
                esc_path(&l.files.nvram())
            ),
        );
    }

    let disks = disks(l);
    match m.disk_bus {
        DiskBus::Scsi => arg("-device", "virtio-scsi-pci,id=scsi0".into()),
        DiskBus::Sata => arg("-device", "ahci,id=ahci0".into()),
        DiskBus::Virtio | DiskBus::Ide => {}
    }
    let ports = match m.disk_bus {
        DiskBus::Sata => 6,
        DiskBus::Ide if q35 => 6,
        DiskBus::Ide => 4,
        DiskBus::Virtio | DiskBus::Scsi => usize::MAX,
    };
    if disks.len() > ports {
        return Err(Error::Invalid(format!(
            "instance {} needs {} disks, more than hw_disk_bus={:?} takes ({ports})",
            spec.id,
            disks.len(),
            m.disk_bus
        )));
    }
    for (i, d) in disks.iter().enumerate() {
        let mut blockdev = format!(
            "driver={},node-name={},file.driver=file,file.filename={}",
            d.format,
            d.node,
            esc_path(&d.file)
        );
        if d.read_only {
            blockdev.push_str(",read-only=on");
        }
        arg("-blockdev", blockdev);
        let device = match m.disk_bus {
            DiskBus::Virtio => "virtio-blk-pci".to_owned(),
            DiskBus::Scsi => format!("scsi-hd,bus=scsi0.0,channel=0,scsi-id={i},lun=0"),
            DiskBus::Sata => format!("ide-hd,bus=ahci0.{i}"),
            DiskBus::Ide if q35 => format!("ide-hd,bus=ide.{i}"),
            DiskBus::Ide => format!("ide-hd,bus=ide.{},unit={}", i / 2, i % 2),
        };
        let mut device = format!(
            "{device},id=disk-{},drive={},serial={}",
            d.node,
            d.node,
            esc(&d.serial)
        );
        if i == 0 {
            device.push_str(",bootindex=0");
        }
        arg("-device", device);
    }

    for nic in &spec.nics {
        arg("-netdev", format!("tap,{}", join_props(&netdev_props(nic))));
        arg(
            "-device",
            format!(
                "{},{}",
                nic_driver(m.vif_model),
                join_props(&nic_props(nic, m.vif_model))
            ),
        );
    }
    if q35 {
        for n in 0..HOTPLUG_PORTS {
            arg(
                "-device",
                format!(
                    "pcie-root-port,id={},chassis={},slot=0",
                    hotplug_port(n),
                    n + 1
                ),
            );
        }
    }

    if let Some(video) = video_device(m.video_model.as_deref())? {
        arg("-device", format!("{video},id=video0"));
    }
    let vnc_host = match l.vnc_listen {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    arg("-vnc", format!("{vnc_host}:0,to={}", VNC_DISPLAYS - 1));

    if m.guest_agent {
        arg(
            "-chardev",
            format!(
                "socket,id=qga0,path={},server=on,wait=off",
                esc_path(&l.files.guest_agent_socket())
            ),
        );
        arg("-device", "virtio-serial-pci,id=virtio-serial0".into());
        arg(
            "-device",
            "virtserialport,bus=virtio-serial0.0,chardev=qga0,name=org.qemu.guest_agent.0".into(),
        );
    }
    if l.incoming {
        arg(
            "-incoming",
            format!(
                "exec:cat {}",
                shell_quote(&l.files.saved_state().display().to_string())
            ),
        );
    }
    args.extend(
        ["-nodefaults", "-no-user-config", "-display", "none"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    args.extend(["-msg".to_owned(), "timestamp=on".to_owned()]);
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MachineOptions, RootDisk};

    const ID: &str = "0f6a4c9e-2b7d-4d8e-9a51-3c0d2e7f8a10";

    fn spec() -> InstanceSpec {
        InstanceSpec {
            id: ID.into(),
            name: "instance-0000002a".into(),
            vcpus: 2,
            memory_mb: 512,
            root: RootDisk {
                base: "/var/cache/images/cirros".into(),
                base_format: "qcow2".into(),
                size_gb: 1,
            },
            ephemeral_gb: 0,
            swap_mb: 0,
            nics: vec![Nic {
                port_id: "5d3c1b2a-0000-4000-8000-000000000001".into(),
                mac: "fa:16:3e:00:00:01".into(),
                tap: "tap5d3c1b2a-00".into(),
                mtu: 1450,
            }],
            config_drive: None,
            machine: MachineOptions::default(),
        }
    }

    fn launch<'a>(spec: &'a InstanceSpec, files: &'a InstanceDir) -> Launch<'a> {
        Launch {
            spec,
            files,
            accel: Accel::Tcg,
            vnc_listen: "127.0.0.1".parse().unwrap(),
            default_machine_type: "pc",
            ovmf_code: None,
            rescue: false,
            incoming: false,
        }
    }

    fn files() -> InstanceDir {
        InstanceDir::new(format!("/srv/instances/{ID}").into())
    }

    /// The command line as `-opt value` lines, for readable expectations.
    fn render(args: &[String]) -> String {
        let mut out = String::new();
        for a in args {
            if a.starts_with('-') && !out.is_empty() {
                out.push('\n');
            } else if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(a);
        }
        out.replace(&format!("/srv/instances/{ID}/"), "$DIR/")
    }

    #[test]
    fn a_linux_guest() {
        let mut s = spec();
        s.ephemeral_gb = 1;
        s.swap_mb = 256;
        s.config_drive = Some("/srv/cfg/config.vfat".into());
        s.machine.guest_agent = true;
        let f = files();
        let got = render(&command_line(&launch(&s, &f)).unwrap());
        let want = format!(
            "-name guest=instance-0000002a,debug-threads=on
-uuid {ID}
-machine pc
-accel tcg
-cpu qemu64
-m 512
-smp 2
-rtc base=utc
-qmp unix:$DIR/qmp.sock,server=on,wait=off
-pidfile $DIR/pid
-chardev file,id=console,path=$DIR/console.log,append=on
-serial chardev:console
-blockdev driver=qcow2,node-name=root,file.driver=file,file.filename=$DIR/disk
-device virtio-blk-pci,id=disk-root,drive=root,serial={ID},bootindex=0
-blockdev driver=qcow2,node-name=eph0,file.driver=file,file.filename=$DIR/disk.eph0
-device virtio-blk-pci,id=disk-eph0,drive=eph0,serial=ephemeral0
-blockdev driver=raw,node-name=swap,file.driver=file,file.filename=$DIR/disk.swap
-device virtio-blk-pci,id=disk-swap,drive=swap,serial=swap
-blockdev driver=raw,node-name=config,file.driver=file,file.filename=/srv/cfg/config.vfat,read-only=on
-device virtio-blk-pci,id=disk-config,drive=config,serial=config-drive
-netdev tap,id=net-5d3c1b2a-0000-4000-8000-000000000001,ifname=tap5d3c1b2a-00,script=no,downscript=no,vhost=off
-device virtio-net-pci,id=nic-5d3c1b2a-0000-4000-8000-000000000001,netdev=net-5d3c1b2a-0000-4000-8000-000000000001,mac=fa:16:3e:00:00:01,host_mtu=1450
-device VGA,id=video0
-vnc 127.0.0.1:0,to=99
-chardev socket,id=qga0,path=$DIR/qga.sock,server=on,wait=off
-device virtio-serial-pci,id=virtio-serial0
-device virtserialport,bus=virtio-serial0.0,chardev=qga0,name=org.qemu.guest_agent.0
-nodefaults
-no-user-config
-display none
-msg timestamp=on"
        );
        assert_eq!(got, want, "\n{got}");
    }

    #[test]
    fn a_windows_guest_on_sata_e1000_and_uefi() {
        let mut s = spec();
        s.name = "win,2022".into();
        s.config_drive = Some("/srv/cfg/config.vfat".into());
        s.machine = MachineOptions {
            disk_bus: DiskBus::Sata,
            vif_model: VifModel::E1000,
            machine_type: Some("q35".into()),
            firmware: Firmware::Uefi,
            windows: true,
            video_model: Some("virtio".into()),
            guest_agent: false,
        };
        let f = files();
        let mut l = launch(&s, &f);
        l.accel = Accel::Kvm;
        l.ovmf_code = Some(Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd"));
        let got = render(&command_line(&l).unwrap());
        let want = format!(
            "-name guest=win,,2022,debug-threads=on
-uuid {ID}
-machine q35,hpet=off,pflash0=fw-code,pflash1=fw-vars
-accel kvm
-cpu host,hv_relaxed,hv_vapic,hv_spinlocks=0x1fff,hv_vpindex,hv_runtime,hv_synic,hv_stimer,hv_reset,hv_frequencies,hv_time
-m 512
-smp 2
-rtc base=localtime,driftfix=slew
-qmp unix:$DIR/qmp.sock,server=on,wait=off
-pidfile $DIR/pid
-chardev file,id=console,path=$DIR/console.log,append=on
-serial chardev:console
-blockdev driver=raw,node-name=fw-code,read-only=on,file.driver=file,file.filename=/usr/share/OVMF/OVMF_CODE_4M.fd
-blockdev driver=raw,node-name=fw-vars,file.driver=file,file.filename=$DIR/nvram.fd
-device ahci,id=ahci0
-blockdev driver=qcow2,node-name=root,file.driver=file,file.filename=$DIR/disk
-device ide-hd,bus=ahci0.0,id=disk-root,drive=root,serial={ID},bootindex=0
-blockdev driver=qcow2,node-name=config,file.driver=file,file.filename=$DIR/disk.config
-device ide-hd,bus=ahci0.1,id=disk-config,drive=config,serial=config-drive
-netdev tap,id=net-5d3c1b2a-0000-4000-8000-000000000001,ifname=tap5d3c1b2a-00,script=no,downscript=no,vhost=off
-device e1000,id=nic-5d3c1b2a-0000-4000-8000-000000000001,netdev=net-5d3c1b2a-0000-4000-8000-000000000001,mac=fa:16:3e:00:00:01
-device pcie-root-port,id=hotplug0,chassis=1,slot=0
-device pcie-root-port,id=hotplug1,chassis=2,slot=0
-device pcie-root-port,id=hotplug2,chassis=3,slot=0
-device pcie-root-port,id=hotplug3,chassis=4,slot=0
-device virtio-vga,id=video0
-vnc 127.0.0.1:0,to=99
-nodefaults
-no-user-config
-display none
-msg timestamp=on"
        );
        assert_eq!(got, want, "\n{got}");
    }

    #[test]
    fn rescue_boots_the_rescue_disk_first_and_resume_restores_memory() {
        let mut s = spec();
        s.nics.clear();
        s.machine.disk_bus = DiskBus::Ide;
        s.machine.video_model = Some("none".into());
        let f = files();
        let mut l = launch(&s, &f);
        l.rescue = true;
        l.incoming = true;
        l.vnc_listen = "::1".parse().unwrap();
        let got = render(&command_line(&l).unwrap());
        assert!(got.contains(
            "-device ide-hd,bus=ide.0,unit=0,id=disk-rescue,drive=rescue,serial=rescue,bootindex=0\n"
        ), "{got}");
        assert!(
            got.contains(&format!(
                "-device ide-hd,bus=ide.0,unit=1,id=disk-root,drive=root,serial={ID}\n"
            )),
            "{got}"
        );
        assert!(got.contains("-vnc [::1]:0,to=99\n"), "{got}");
        assert!(
            got.contains("-incoming exec:cat '$DIR/suspend.state'\n"),
            "{got}"
        );
        assert!(!got.contains("video0"), "{got}");
    }

    #[test]
    fn scsi_disks_sit_on_one_virtio_scsi_controller() {
        let mut s = spec();
        s.ephemeral_gb = 2;
        s.machine.disk_bus = DiskBus::Scsi;
        s.machine.vif_model = VifModel::Rtl8139;
        let f = files();
        let got = render(&command_line(&launch(&s, &f)).unwrap());
        assert!(got.contains("-device virtio-scsi-pci,id=scsi0\n"), "{got}");
        assert!(got.contains("-device scsi-hd,bus=scsi0.0,channel=0,scsi-id=1,lun=0,id=disk-eph0,drive=eph0,serial=ephemeral0\n"), "{got}");
        assert!(got.contains("-device rtl8139,id=nic-"), "{got}");
    }

    #[test]
    fn what_cannot_be_built_is_an_invalid_error_naming_it() {
        type Change = Box<dyn Fn(&mut InstanceSpec)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "hw_firmware_type=uefi needs OVMF",
                Box::new(|s| s.machine.firmware = Firmware::Uefi),
            ),
            (
                "hw_video_model=matrox is not supported",
                Box::new(|s| s.machine.video_model = Some("matrox".into())),
            ),
            (
                "hw_machine_type=pc,accel=kvm is not a machine type",
                Box::new(|s| s.machine.machine_type = Some("pc,accel=kvm".into())),
            ),
            (
                "more than hw_disk_bus=Ide takes (4)",
                Box::new(|s| {
                    s.machine.disk_bus = DiskBus::Ide;
                    s.ephemeral_gb = 1;
                    s.swap_mb = 1;
                    s.config_drive = Some("/c".into());
                    s.machine.firmware = Firmware::Bios;
                }),
            ),
            ("is not a UUID", Box::new(|s| s.id = "../../etc".into())),
            ("at least one vCPU", Box::new(|s| s.vcpus = 0)),
            (
                "is not a tap device name",
                Box::new(|s| s.nics[0].tap = "tap-name-far-too-long".into()),
            ),
            (
                "is not a unicast MAC address",
                Box::new(|s| s.nics[0].mac = "ff:ff:ff:ff:ff:ff".into()),
            ),
        ];
        let f = files();
        for (want, change) in cases {
            let mut s = spec();
            change(&mut s);
            if want.contains("Ide") {
                // four disks fit; the fifth (rescue) does not
                let mut l = launch(&s, &f);
                command_line(&l).unwrap();
                l.rescue = true;
                let e = command_line(&l).unwrap_err();
                assert!(matches!(e, Error::Invalid(_)), "{e:?}");
                assert!(e.to_string().contains(want), "{want}: {e}");
                continue;
            }
            let e = command_line(&launch(&s, &f)).unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{want}: {e:?}");
            assert!(e.to_string().contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn shell_quoting_survives_quotes() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}

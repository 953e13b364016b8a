//! `-- boot`: a real guest through the whole cloud, against the same test image
//! started by hand with QEMU. As root; TCG unless KVM works here.
//!
//! 1. by hand: QEMU with a minimal command line on a tap of a sandbox's bridge (dnsmasq
//!    and a metadata server beside it), from its start to READY on the serial console
//!    and to SSH answering (`test_image_check::timing`, as `qemu_bench` does);
//! 2. the cloud: `oxistack up` inside a namespace of the benchmark's own, its network
//!    agent and its compute host with the QEMU driver (`virt_type = auto`), the test
//!    image registered as `cirros`; a port on `private` with a floating IP, then
//!    `POST /servers` (m1.tiny, that port, a key pair, a config drive) to ACTIVE, and to
//!    SSH answering on the floating IP from the host namespace; the server deleted
//!    before the next round.
//!
//! One guest at a time; then `--resident` guests at once (on `private`, no floating
//! IP), and the control plane's resident memory once they all run. The machine's load
//! average is printed before and after.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use test_image_check::{
    sandbox::{self as sb, Sandbox},
    timing::{self, median, secs},
};

use crate::{
    network::{
        host::{enter, AgentLeftovers, Netns},
        network_config, Neutron,
    },
    server::{free_port, fresh_dir, loadavg, Launch, LogMode, Server},
};

#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Boots measured each way.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Keep the temporary data directory.
    #[arg(long)]
    pub keep: bool,
    /// Servers booted at once after the rounds, to measure the control plane's
    /// resident memory while they run (0: skip).
    #[arg(long, default_value_t = 10)]
    pub resident: usize,
}

const HOST: &str = "bench";
const TIMEOUT: Duration = Duration::from_secs(600);

/// One boot through the cloud, from `POST /servers`.
struct CloudTimes {
    active: Duration,
    ssh: Duration,
}

pub async fn run(bin: &Path, o: &Opts) -> anyhow::Result<()> {
    if !sb::is_root() {
        bail!("run as root (network namespaces, taps, QEMU)");
    }
    println!(
        "== boot: the test image, by hand and through the cloud (load {} before)",
        loadavg()
    );
    let a = test_image_check::build_once().map_err(|e| anyhow::anyhow!("the test image: {e}"))?;

    // 1. by hand
    let mut sandbox = Sandbox::new("boot-bench");
    sandbox.create_netns();
    let (key, public_key) = sb::ssh_keypair(&sandbox);
    sb::write(
        &sandbox.path("metadata/openstack/latest/meta_data.json"),
        &sb::openstack_meta_data("bench", &public_key),
    );
    sb::start_network_services(&mut sandbox);
    let mut hand = Vec::new();
    for round in 0..o.rounds {
        let t = timing::boot_by_hand(&mut sandbox, &key, a, round);
        println!(
            "  by hand   round {round}: READY {} s, SSH {} s (guest uptime at READY {} s; load {})",
            secs(t.ready),
            secs(t.ssh),
            t.guest,
            loadavg()
        );
        hand.push(t);
    }
    drop(sandbox);

    // 2. through the cloud, in a host namespace of its own
    let host = Netns::new("oxb-boot")?;
    let (bin, o2, hn, images) = (bin.to_owned(), o.clone(), host.name.clone(), a.dir.clone());
    let cloud = std::thread::spawn(move || {
        enter(&hn)?;
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(in_host(&bin, &o2, &hn, &images))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the host thread panicked"))?;
    drop(host);
    let cloud = cloud?;

    let med = |v: Vec<Duration>| secs(median(v));
    println!(
        "  median over {} rounds: by hand READY {} s, SSH {} s; through the cloud POST to ACTIVE {} s, POST to SSH {} s (load {} after)",
        o.rounds,
        med(hand.iter().map(|t| t.ready).collect()),
        med(hand.iter().map(|t| t.ssh).collect()),
        med(cloud.iter().map(|t| t.active).collect()),
        med(cloud.iter().map(|t| t.ssh).collect()),
        loadavg()
    );
    Ok(())
}

fn at(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

fn id_of(v: &Value, kind: &str) -> anyhow::Result<String> {
    v[kind]["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {kind} id in {v}"))
}

/// Poll `f` every 200 ms until it gives a value, for at most [`TIMEOUT`].
async fn until<T, F, Fut>(what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let t0 = Instant::now();
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if t0.elapsed() > TIMEOUT {
            bail!("{what}: not within {TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get(api: &Neutron, path: &str) -> anyhow::Result<Value> {
    let mut c = api.conn().await?;
    api.expect(&mut c, Method::GET, path, None, StatusCode::OK)
        .await
}

async fn post(api: &Neutron, path: &str, body: Value, want: StatusCode) -> anyhow::Result<Value> {
    let mut c = api.conn().await?;
    api.expect(&mut c, Method::POST, path, Some(&body), want)
        .await
}

/// The first `name`d item of a list answer.
async fn find(api: &Neutron, path: &str, list: &str, name: &str) -> anyhow::Result<String> {
    let v = get(api, path).await?;
    v[list]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["name"] == name))
        .and_then(|i| i["id"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("no {name} in {path}"))
}

fn ssh_ok(key: &Path, ip: &str) -> bool {
    Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", "-i"])
        .arg(key)
        .arg(format!("root@{ip}"))
        .arg("true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

async fn in_host(
    bin: &Path,
    o: &Opts,
    host: &str,
    images: &Path,
) -> anyhow::Result<Vec<CloudTimes>> {
    let dir = fresh_dir("boot")?;
    let _leftovers = AgentLeftovers {
        state_dir: dir.join("network-agent"),
    };
    let (cport, pport, iport, nport) = (free_port()?, free_port()?, free_port()?, free_port()?);
    let how = Launch {
        top: format!("test_image = true\ntest_image_dir = {:?}\n", images.display().to_string()),
        config: format!(
            "[compute_api]\nport = {cport}\n\n[placement]\nport = {pport}\n\n[image]\nport = {iport}\n\n{}\n\
             [compute]\ndriver = \"qemu\"\nhost = \"{HOST}\"\n\
             # --resident servers at once on a small machine (Nova's 4.0 fits 4 per core)\n\
             cpu_allocation_ratio = 16.0\n",
            network_config(nport)
        ),
        netns: Some(host.to_owned()),
        agent: Some(format!("host = \"{HOST}\"\n")),
    };
    let t0 = Instant::now();
    let server = Server::launch(bin, &dir, LogMode::Warn, &[], &how).await?;
    let admin = Neutron::login(&dir, server.addr, at(nport)).await?;
    let with = |port: u16| Neutron {
        addr: at(port),
        token: admin.token.clone(),
    };
    let (nova, glance, neutron) = (with(cport), with(iport), admin.clone());
    let image = until("the image cirros is active", || async {
        let v = get(&glance, "/v2/images?name=cirros").await?;
        Ok(v["images"]
            .as_array()
            .and_then(|l| l.iter().find(|i| i["status"] == "active"))
            .and_then(|i| i["id"].as_str())
            .map(str::to_owned))
    })
    .await?;
    until("the compute host reports", || async {
        let v = get(&nova, "/v2.1/os-hypervisors").await?;
        Ok((v["hypervisors"].as_array().map_or(0, Vec::len) > 0).then_some(()))
    })
    .await?;
    let placement = with(pport);
    until("the compute host's inventory is in Placement", || async {
        let v = get(&placement, "/resource_providers").await?;
        for rp in v["resource_providers"].as_array().into_iter().flatten() {
            let uuid = rp["uuid"].as_str().unwrap_or_default();
            let inv = get(
                &placement,
                &format!("/resource_providers/{uuid}/inventories"),
            )
            .await?;
            if inv["inventories"]["VCPU"].is_object() {
                return Ok(Some(()));
            }
        }
        Ok(None)
    })
    .await?;
    println!(
        "  cloud up, image and host ready after {:.1} s (server in {:.1} s)",
        t0.elapsed().as_secs_f64(),
        server.startup.as_secs_f64()
    );

    // a key pair, and a port on `private` without port security, with a floating IP
    let key = dir.join("id_ed25519");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f"])
        .arg(&key)
        .status()?;
    if !st.success() {
        bail!("ssh-keygen failed");
    }
    let public = std::fs::read_to_string(key.with_extension("pub"))?;
    post(
        &nova,
        "/v2.1/os-keypairs",
        json!({"keypair": {"name": "bench", "public_key": public.trim()}}),
        StatusCode::OK,
    )
    .await?;
    let private = find(
        &neutron,
        "/v2.0/networks?name=private",
        "networks",
        "private",
    )
    .await?;
    let public_net = find(&neutron, "/v2.0/networks?name=public", "networks", "public").await?;
    let port = post(
        &neutron,
        "/v2.0/ports",
        json!({"port": {"network_id": private, "name": "bench", "port_security_enabled": false}}),
        StatusCode::CREATED,
    )
    .await?;
    let port = id_of(&port, "port")?;
    let fip = post(
        &neutron,
        "/v2.0/floatingips",
        json!({"floatingip": {"floating_network_id": public_net, "port_id": port}}),
        StatusCode::CREATED,
    )
    .await?;
    let fip = fip["floatingip"]["floating_ip_address"]
        .as_str()
        .context("no floating IP address")?
        .to_owned();

    let mut out = Vec::new();
    for round in 0..o.rounds {
        let body = json!({"server": {
            "name": format!("bench{round}"), "imageRef": image, "flavorRef": "1",
            "networks": [{"port": port}], "key_name": "bench", "config_drive": true,
        }});
        let started = Instant::now();
        let s = post(&nova, "/v2.1/servers", body, StatusCode::ACCEPTED).await?;
        let id = id_of(&s, "server")?;
        let path = format!("/v2.1/servers/{id}");
        until("the server is ACTIVE", || async {
            let v = get(&nova, &path).await?;
            match v["server"]["status"].as_str() {
                Some("ACTIVE") => Ok(Some(())),
                Some("ERROR") => bail!("the server went to ERROR: {v}"),
                _ => Ok(None),
            }
        })
        .await?;
        let active = started.elapsed();
        // READY on the console (as by hand), then SSH on the floating IP
        let action = format!("{path}/action");
        let ask = json!({"os-getConsoleOutput": {}});
        let console = || async {
            let mut c = nova.conn().await?;
            let r = nova
                .expect(&mut c, Method::POST, &action, Some(&ask), StatusCode::OK)
                .await?;
            anyhow::Ok(r["output"].as_str().unwrap_or_default().to_owned())
        };
        let guest = until("READY on the console", || async {
            let log = console().await?;
            Ok(test_image_check::is_ready(&log)
                .then(|| test_image_check::serial_value(&log, "uptime").unwrap_or_default()))
        })
        .await?;
        let ready = started.elapsed();
        until("SSH answers on the floating IP", || async {
            Ok(ssh_ok(&key, &fip).then_some(()))
        })
        .await?;
        let t = CloudTimes {
            active,
            ssh: started.elapsed(),
        };
        println!(
            "  the cloud round {round}: POST to ACTIVE {} s, READY {} s, SSH {} s (guest uptime at READY {guest} s; load {})",
            secs(t.active),
            secs(ready),
            secs(t.ssh),
            loadavg()
        );
        out.push(t);
        let mut c = nova.conn().await?;
        nova.expect(&mut c, Method::DELETE, &path, None, StatusCode::NO_CONTENT)
            .await?;
        until("the server is gone", || async {
            let mut c = nova.conn().await?;
            let r = nova.send(&mut c, Method::GET, &path, None).await?;
            // an admin still sees it, DELETED
            let deleted = r.status == StatusCode::OK
                && r.json()?["server"]["status"].as_str() == Some("DELETED");
            Ok((r.status == StatusCode::NOT_FOUND || deleted).then_some(()))
        })
        .await?;
    }
    if o.resident > 0 {
        resident(&server, &nova, &image, &private, o.resident).await?;
    }
    let _ = server.stop().await;
    if o.keep {
        println!("  kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(out)
}

/// Boot `n` servers at once on `private`, and once every one is ACTIVE print the
/// control plane's resident memory (and the guests' QEMU, for scale); delete them.
async fn resident(
    server: &Server,
    nova: &Neutron,
    image: &str,
    private: &str,
    n: usize,
) -> anyhow::Result<()> {
    let (idle, _) = server.memory()?;
    let started = Instant::now();
    let body = json!({"server": {
        "name": "resident", "imageRef": image, "flavorRef": "1",
        "networks": [{"uuid": private}], "min_count": n, "max_count": n,
    }});
    post(nova, "/v2.1/servers", body, StatusCode::ACCEPTED).await?;
    let ids = until("every resident server is ACTIVE", || async {
        let v = get(nova, "/v2.1/servers/detail?name=resident").await?;
        let list = v["servers"].as_array().cloned().unwrap_or_default();
        if let Some(bad) = list.iter().find(|s| s["status"] == "ERROR") {
            bail!("a resident server went to ERROR: {bad}");
        }
        let active: Vec<String> = list
            .iter()
            .filter(|s| s["status"] == "ACTIVE")
            .filter_map(|s| s["id"].as_str().map(str::to_owned))
            .collect();
        Ok((active.len() == n).then_some(active))
    })
    .await?;
    let active = started.elapsed();
    // let the guests come up and the control plane settle before reading its memory
    tokio::time::sleep(Duration::from_secs(20)).await;
    let (rss, hwm) = server.memory()?;
    let qemu = qemu_rss_kib();
    println!(
        "  {n} servers at once: all ACTIVE {} s after POST; control plane VmRSS {:.1} MiB (idle before {:.1} MiB, peak {:.1} MiB); their QEMU processes {:.0} MiB together (load {})",
        secs(active),
        rss as f64 / 1024.0,
        idle as f64 / 1024.0,
        hwm as f64 / 1024.0,
        qemu as f64 / 1024.0,
        loadavg()
    );
    for id in &ids {
        let mut c = nova.conn().await?;
        nova.expect(
            &mut c,
            Method::DELETE,
            &format!("/v2.1/servers/{id}"),
            None,
            StatusCode::NO_CONTENT,
        )
        .await?;
    }
    until("the resident servers are gone", || async {
        let v = get(nova, "/v2.1/servers?name=resident").await?;
        Ok(v["servers"]
            .as_array()
            .is_none_or(Vec::is_empty)
            .then_some(()))
    })
    .await?;
    Ok(())
}

/// The resident memory of every QEMU guest process on the machine, in KiB.
fn qemu_rss_kib() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| {
            let p = e.path();
            let comm = std::fs::read_to_string(p.join("comm")).ok()?;
            if !comm.starts_with("qemu-system") {
                return None;
            }
            let status = std::fs::read_to_string(p.join("status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum()
}

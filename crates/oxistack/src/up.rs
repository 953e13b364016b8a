//! `oxistack up`: the whole cloud in one process, bootstrapped on first run.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use std::sync::Arc;

use anyhow::Context;
use identity::bootstrap::{CatalogEntry, Spec};
use service::{Mode, Progress, TaskSnapshot, TaskState, Tasks};

use crate::{
    cloud,
    config::Config,
    files::DataDirLock,
    services::{AGENTS, SERVICES},
    status::{ServiceStatus, StatusFile},
};

/// Read a secret kept in the data directory, or make and keep a new one.
pub fn secret(dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    if let Ok(s) = fs::read_to_string(&path) {
        if !s.trim().is_empty() {
            return Ok(s.trim().to_owned());
        }
    }
    let s = identity::app::resources::random_secret()[..24].to_owned();
    write_private(&path, &format!("{s}\n"))?;
    Ok(s)
}

/// Write a file readable only by its owner.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The catalog: every registered service, at its public endpoint (under each of its
/// types).
pub fn catalog(cfg: &Config) -> Vec<CatalogEntry> {
    SERVICES
        .iter()
        .filter_map(|s| {
            let c = s.catalog()?;
            let url = format!("{}{}", cfg.service_url(*s), c.path);
            let entry = |kind: &str, name: &str| CatalogEntry {
                kind: kind.into(),
                name: name.into(),
                url: url.clone(),
            };
            let mut entries = vec![entry(c.kind, c.name)];
            entries.extend(s.catalog_aliases().iter().map(|(k, n)| entry(k, n)));
            Some(entries)
        })
        .flatten()
        .collect()
}

pub struct Passwords {
    pub admin: String,
    pub demo: String,
}

/// Bootstrap the identity data (idempotent) and write the client files.
pub async fn bootstrap(cfg: &Config, id: &identity::Identity) -> anyhow::Result<Passwords> {
    let pw = Passwords {
        admin: secret(&cfg.data_dir, "admin-password")?,
        demo: secret(&cfg.data_dir, "demo-password")?,
    };
    id.bootstrap(&Spec {
        region: cfg.region.clone(),
        admin_password: pw.admin.clone(),
        demo_password: Some(pw.demo.clone()),
        catalog: catalog(cfg),
    })
    .await?;
    write_client_files(cfg, &pw)?;
    Ok(pw)
}

fn cloud_entry(cfg: &Config, name: &str, user: &str, password: &str, project: &str) -> String {
    format!(
        "  {name}:\n    auth:\n      auth_url: {url}\n      username: {user}\n      password: \"{password}\"\n      project_name: {project}\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {region}\n    interface: public\n    identity_api_version: 3\n",
        url = cfg.identity_url(),
        region = cfg.region,
    )
}

fn openrc(cfg: &Config, user: &str, password: &str, project: &str) -> String {
    format!(
        "# Source this file to use the `openstack` client as {user}.\nexport OS_AUTH_URL={url}\nexport OS_USERNAME={user}\nexport OS_PASSWORD='{password}'\nexport OS_PROJECT_NAME={project}\nexport OS_USER_DOMAIN_NAME=Default\nexport OS_PROJECT_DOMAIN_NAME=Default\nexport OS_REGION_NAME={region}\nexport OS_IDENTITY_API_VERSION=3\nexport OS_INTERFACE=public\n",
        url = cfg.identity_url(),
        region = cfg.region,
    )
}

/// `clouds.yaml` (clouds `oxistack-admin` and `oxistack-demo`), `openrc` (admin) and
/// `openrc-demo` in the data directory.
pub fn write_client_files(cfg: &Config, pw: &Passwords) -> anyhow::Result<()> {
    let identity_cfg = cfg.service::<identity::IdentityService>();
    let clouds = format!(
        "clouds:\n{}{}",
        cloud_entry(
            cfg,
            "oxistack-admin",
            "admin",
            &pw.admin,
            &identity_cfg.admin_project_name
        ),
        cloud_entry(cfg, "oxistack-demo", "demo", &pw.demo, "demo"),
    );
    write_private(&cfg.data_dir.join("clouds.yaml"), &clouds)?;
    write_private(
        &cfg.data_dir.join("openrc"),
        &openrc(cfg, "admin", &pw.admin, &identity_cfg.admin_project_name),
    )?;
    write_private(
        &cfg.data_dir.join("openrc-demo"),
        &openrc(cfg, "demo", &pw.demo, "demo"),
    )?;
    Ok(())
}

/// The key of the secret the metadata service and the network agent's proxy share.
const METADATA_SECRET: &str = "metadata_proxy_shared_secret";

/// The guests' services of a cloud in one process, with no configuration: one shared
/// secret (made once, kept in `<data_dir>/metadata-proxy-secret`) on the metadata
/// service and the network agent's proxy, the proxy's `metadata_url` at the metadata
/// service, and console URLs at this cloud's console proxy. What the configuration
/// sets stays (a secret written on one side is used on both).
pub fn wire_guests(cfg: &mut Config) -> anyhow::Result<()> {
    let written = |cfg: &Config, section: &str, key: &str| {
        cfg.section(section)
            .and_then(|v| v.get(key))
            .and_then(toml::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let shared = match written(cfg, "metadata", METADATA_SECRET)
        .or_else(|| written(cfg, "network_agent", METADATA_SECRET))
    {
        Some(s) => s,
        None => secret(&cfg.data_dir, "metadata-proxy-secret")?,
    };
    let registered = |name| crate::services::by_name(name).context("not registered");
    let url = cfg.service_url(registered("metadata")?);
    let console = format!(
        "{}/vnc_auto.html",
        cfg.service_url(registered("novncproxy")?)
    );
    let mut set = |section: &str, key: &str, value: &str| {
        if written(cfg, section, key).is_some() {
            return;
        }
        let entry = cfg
            .services
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = entry {
            t.insert(key.to_owned(), value.into());
        }
    };
    set("metadata", METADATA_SECRET, &shared);
    set("network_agent", METADATA_SECRET, &shared);
    set("network_agent", "metadata_url", &url);
    set("compute_api", "novncproxy_base_url", &console);
    Ok(())
}

pub async fn run(mut cfg: Config, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    // First of all: a data directory another `up` uses is left untouched.
    let _lock = DataDirLock::acquire(&cfg.data_dir)?;
    wire_guests(&mut cfg)?;
    let started = std::time::Instant::now();
    let status = StatusFile::new(&cfg.data_dir, "up");
    let report = status.clone();
    let tasks = Tasks::new(Some(Arc::new(move |t: &TaskSnapshot| {
        let state = match t.state {
            TaskState::Running => String::new(),
            TaskState::Done => format!(" (done in {}s)", t.seconds),
            TaskState::Failed => format!(" (FAILED after {}s)", t.seconds),
        };
        println!("  [{}] {}{state}", t.name, t.message);
        report.task(t);
    })));
    let db = cloud::open_db(&cfg).await?;
    let cloud = cloud::build(&cfg, Some(db), SERVICES, Mode::AllInOne, tasks.clone()).await?;
    let id = cloud
        .handle::<identity::Identity>("identity")
        .context("identity is not running")?;
    bootstrap(&cfg, &id).await?;
    if let Some(net) = cloud.handle::<network::Networking>("network") {
        if net.cfg.bootstrap.enabled {
            let project = |name: &str| {
                let store = &id.store;
                let name = name.to_owned();
                async move {
                    store
                        .project_by_name(identity::bootstrap::DEFAULT_DOMAIN, &name)
                        .await?
                        .map(|p| p.id)
                        .with_context(|| format!("no project {name}"))
                }
            };
            let admin = project(
                &cfg.service::<identity::IdentityService>()
                    .admin_project_name,
            )
            .await?;
            let demo = project("demo").await?;
            net.bootstrap_defaults(network::Projects {
                admin: &admin,
                demo: &demo,
            })
            .await
            .context("cannot create the default networks")?;
        }
    }
    if let Some(compute) = cloud.handle::<compute::Compute>("compute_api") {
        if compute.cfg.bootstrap.flavors {
            compute
                .bootstrap_flavors()
                .await
                .context("cannot create the default flavors")?;
        }
    }
    let mut agents = Vec::new();
    for agent in AGENTS {
        if agent.enabled(cfg.section(agent.name()))? {
            agents.push(*agent);
        }
    }
    cloud.start_agents(&cfg, &agents, Mode::AllInOne).await?;
    let image = cloud
        .handle::<image::Image>("image")
        .filter(|_| cfg.test_image);
    let owner = id
        .store
        .project_by_name(
            identity::bootstrap::DEFAULT_DOMAIN,
            &cfg.service::<identity::IdentityService>()
                .admin_project_name,
        )
        .await?
        .map(|p| p.id);
    let dir = cfg.data_dir.clone();
    let image_cfg = cfg.clone();
    cloud
        .serve(cloud::shutdown_signal(), move |bound| {
            let mut out = String::new();
            for (r, addr) in bound {
                out.push_str(&format!("  {:<10} http://{addr}\n", r.service.name()));
            }
            status.set_services(
                bound
                    .iter()
                    .map(|(r, addr)| ServiceStatus {
                        name: r.service.name().into(),
                        kind: r.service.catalog().map_or("", |c| c.kind).into(),
                        endpoint: r.endpoint.clone(),
                        listen: addr.to_string(),
                    })
                    .collect(),
            );
            println!(
                "oxistack is up in {:.0?}.\n{out}\nUse it with:\n  export OS_CLIENT_CONFIG_FILE={dir}/clouds.yaml\n  openstack --os-cloud oxistack-admin token issue\nor: source {dir}/openrc\nThe admin and demo passwords are in {dir}/admin-password and {dir}/demo-password.\n`oxistack status` shows what the cloud is doing. Stop with Ctrl-C.",
                started.elapsed(),
                dir = dir.display(),
            );
            if let Some(img) = image {
                // In the background: the cloud answers at once, the image follows.
                tasks.spawn("test-image", move |progress| async move {
                    let id = register_test_image(&image_cfg, &img, owner.as_deref(), &progress).await?;
                    Ok(format!("the test image is registered as cirros ({id})"))
                });
            }
        })
        .await
}

/// Build the test image and register it as the public image `cirros` (once).
async fn register_test_image(
    cfg: &Config,
    img: &image::Image,
    owner: Option<&str>,
    progress: &Progress,
) -> anyhow::Result<String> {
    let out = cfg
        .test_image_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("test-image"));
    let src = cfg.data_dir.join("test-image-src");
    let build = crate::test_image::build(&src, &out, progress);
    let shutdown = progress.shutdown();
    let qcow2 = tokio::select! {
        r = build => r?,
        _ = shutdown.cancelled() => anyhow::bail!("stopped: the cloud is shutting down"),
    };
    progress.set("registering the image");
    let props = [
        ("hw_disk_bus", "virtio"),
        ("hw_vif_model", "virtio"),
        ("os_type", "linux"),
        ("os_distro", "oxistack-test"),
        ("hw_rng_model", "virtio"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Ok(img
        .register_file(
            "cirros",
            &qcow2,
            "qcow2",
            "bare",
            image::model::Visibility::Public,
            props,
            owner,
        )
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(cfg: &'a Config, section: &str, key: &str) -> &'a str {
        cfg.section(section).unwrap()[key].as_str().unwrap()
    }

    #[test]
    fn the_metadata_path_is_wired_with_one_secret_and_consoles_to_the_proxy() {
        let dir = std::env::temp_dir().join(format!("oxi-up-md-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut cfg = Config::parse("[metadata]\nport = 18775\n").unwrap();
        cfg.data_dir = dir.clone();
        wire_guests(&mut cfg).unwrap();
        let secret = value(&cfg, "metadata", METADATA_SECRET).to_owned();
        assert!(secret.len() >= 20, "{secret}");
        assert_eq!(value(&cfg, "network_agent", METADATA_SECRET), secret);
        assert_eq!(
            value(&cfg, "network_agent", "metadata_url"),
            "http://127.0.0.1:18775"
        );
        assert_eq!(
            value(&cfg, "compute_api", "novncproxy_base_url"),
            "http://127.0.0.1:6080/vnc_auto.html"
        );
        // the sections still parse, and the next start keeps the same secret
        for svc in ["metadata", "compute_api"] {
            let s = crate::services::by_name(svc).unwrap();
            s.check_config(cfg.section(svc)).unwrap();
        }
        let mut again = Config::parse("").unwrap();
        again.data_dir = dir.clone();
        wire_guests(&mut again).unwrap();
        assert_eq!(value(&again, "metadata", METADATA_SECRET), secret);

        // what the operator wrote stays, and one side's secret is both sides'
        let mut mine = Config::parse(
            "[network_agent]\nmetadata_proxy_shared_secret = \"mine\"\nmetadata_url = \"http://md.example:8775\"\n",
        )
        .unwrap();
        mine.data_dir = dir.clone();
        wire_guests(&mut mine).unwrap();
        assert_eq!(value(&mine, "metadata", METADATA_SECRET), "mine");
        assert_eq!(
            value(&mine, "network_agent", "metadata_url"),
            "http://md.example:8775"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

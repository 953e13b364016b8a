//! `oxistack up`: the whole cloud in one process, bootstrapped on first run.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use identity::bootstrap::{CatalogEntry, Spec};

use crate::{
    cloud::{self, Role},
    config::Config,
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

/// The catalog of the services this process runs.
pub fn catalog(cfg: &Config) -> Vec<CatalogEntry> {
    vec![
        CatalogEntry {
            kind: "identity".into(),
            name: "keystone".into(),
            url: format!("{}/v3", cfg.url(cfg.identity.port)),
        },
        CatalogEntry {
            kind: "image".into(),
            name: "glance".into(),
            url: cfg.url(cfg.image.port),
        },
    ]
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
        "  {name}:\n    auth:\n      auth_url: {url}/v3\n      username: {user}\n      password: \"{password}\"\n      project_name: {project}\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {region}\n    interface: public\n    identity_api_version: 3\n",
        url = cfg.url(cfg.identity.port),
        region = cfg.region,
    )
}

fn openrc(cfg: &Config, user: &str, password: &str, project: &str) -> String {
    format!(
        "# Source this file to use the `openstack` client as {user}.\nexport OS_AUTH_URL={url}/v3\nexport OS_USERNAME={user}\nexport OS_PASSWORD='{password}'\nexport OS_PROJECT_NAME={project}\nexport OS_USER_DOMAIN_NAME=Default\nexport OS_PROJECT_DOMAIN_NAME=Default\nexport OS_REGION_NAME={region}\nexport OS_IDENTITY_API_VERSION=3\nexport OS_INTERFACE=public\n",
        url = cfg.url(cfg.identity.port),
        region = cfg.region,
    )
}

/// `clouds.yaml` (clouds `oxistack-admin` and `oxistack-demo`), `openrc` (admin) and
/// `openrc-demo` in the data directory.
pub fn write_client_files(cfg: &Config, pw: &Passwords) -> anyhow::Result<()> {
    let clouds = format!(
        "clouds:\n{}{}",
        cloud_entry(
            cfg,
            "oxistack-admin",
            "admin",
            &pw.admin,
            &cfg.identity.admin_project_name
        ),
        cloud_entry(cfg, "oxistack-demo", "demo", &pw.demo, "demo"),
    );
    write_private(&cfg.data_dir.join("clouds.yaml"), &clouds)?;
    write_private(
        &cfg.data_dir.join("openrc"),
        &openrc(cfg, "admin", &pw.admin, &cfg.identity.admin_project_name),
    )?;
    write_private(
        &cfg.data_dir.join("openrc-demo"),
        &openrc(cfg, "demo", &pw.demo, "demo"),
    )?;
    Ok(())
}

pub async fn run(mut cfg: Config, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(d) = data_dir {
        cfg.data_dir = d;
    }
    fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create data directory {}", cfg.data_dir.display()))?;
    let started = std::time::Instant::now();
    let db = cloud::open_db(&cfg).await?;
    let cloud = cloud::build(&cfg, db, &[Role::Api]).await?;
    let id = cloud.identity.clone().context("identity is not running")?;
    bootstrap(&cfg, &id).await?;
    if let Some(img) = &cloud.image {
        // This process is the only one of the cloud: uploads a crash cut short go back
        // to `queued`, as if they had failed.
        for id in img.requeue_interrupted().await? {
            tracing::warn!(image = %id, "an interrupted upload was reset to queued");
        }
    }
    if let (true, Some(img)) = (cfg.test_image, cloud.image.clone()) {
        // In the background: the cloud answers at once, the image follows.
        let cfg = cfg.clone();
        let owner = id
            .store
            .project_by_name(
                identity::bootstrap::DEFAULT_DOMAIN,
                &cfg.identity.admin_project_name,
            )
            .await?
            .map(|p| p.id);
        tokio::spawn(async move {
            match register_test_image(&cfg, &img, owner.as_deref()).await {
                Ok(id) => tracing::info!(image = %id, "test image cirros is registered"),
                Err(e) => tracing::error!("the test image could not be made: {e:#}"),
            }
        });
    }
    let dir = cfg.data_dir.clone();
    cloud
        .serve(cloud::shutdown_signal(), move |bound| {
            let mut out = String::new();
            for (name, addr) in bound {
                out.push_str(&format!("  {name:<10} http://{addr}\n"));
            }
            println!(
                "oxistack is up in {:.0?}.\n{out}\nUse it with:\n  export OS_CLIENT_CONFIG_FILE={dir}/clouds.yaml\n  openstack --os-cloud oxistack-admin token issue\nor: source {dir}/openrc\nThe admin and demo passwords are in {dir}/admin-password and {dir}/demo-password.\nStop with Ctrl-C.",
                started.elapsed(),
                dir = dir.display(),
            );
        })
        .await
}

/// Build the test image and register it as the public image `cirros` (once).
async fn register_test_image(
    cfg: &Config,
    img: &image::Image,
    owner: Option<&str>,
) -> anyhow::Result<String> {
    let out = cfg
        .test_image_dir
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("test-image"));
    let qcow2 = crate::test_image::build(&cfg.data_dir.join("test-image-src"), &out).await?;
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

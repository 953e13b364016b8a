//! Config drives: the metadata tree as files on a vfat image labelled `config-2`, as
//! Nova's `configdrive` writes it (`config_drive_format = vfat`): every OpenStack
//! version directory and `latest` (`meta_data.json`, `user_data`, `vendor_data.json`,
//! `network_data.json`, `vendor_data2.json` as each version has them), and the EC2
//! versions not skipped (`ec2/<version>/meta-data.json`, `user-data`). The image is
//! made without mounting anything: `mkfs.vfat -C`, then `mcopy` (dosfstools, mtools).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

use anyhow::Context as _;
use serde_json::{Map, Value};

use crate::content::{
    ec2_versions, os_at_least, Guest, Item, EC2_VERSIONS, HAVANA, LIBERTY, MD_JSON_NAME,
    NEWTON_TWO, NW_JSON_NAME, OPENSTACK_VERSIONS, UD_NAME, VD2_JSON_NAME, VD_JSON_NAME,
};

/// The volume label guests look for.
pub const LABEL: &str = "config-2";

/// The image size, in KiB (Nova's 64 MiB; the file is sparse).
pub const SIZE_KIB: u64 = 64 * 1024;

/// EC2 versions left off a drive (Nova's `config_drive_skip_versions`): all but the
/// newest.
pub const SKIP_EC2_VERSIONS: &[&str] = EC2_VERSIONS.split_at(EC2_VERSIONS.len() - 1).0;

/// The files of a config drive: paths relative to its root, and their bytes. Each
/// `meta_data.json` gets its own random seed, as in Nova.
pub fn files(guest: &Guest) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for v in ec2_versions() {
        if SKIP_EC2_VERSIONS.contains(&v) {
            continue;
        }
        if let Some(u) = &guest.instance.user_data {
            out.push((format!("ec2/{v}/user-data"), u.clone()));
        }
        let resolved = if v == "latest" { "2009-04-04" } else { v };
        let mut meta = guest.ec2_meta_data(resolved);
        if let Some(Value::Object(k)) = meta.pointer_mut("/public-keys/0") {
            k.remove("_name");
        }
        out.push((
            format!("ec2/{v}/meta-data.json"),
            serde_json::to_vec(&meta).expect("JSON values serialize"),
        ));
    }
    let newest = *OPENSTACK_VERSIONS.last().expect("versions");
    for v in OPENSTACK_VERSIONS.iter().copied().chain(["latest"]) {
        let resolved = if v == "latest" { newest } else { v };
        let mut names = vec![MD_JSON_NAME];
        if guest.instance.user_data.is_some() {
            names.push(UD_NAME);
        }
        for (since, name) in [
            (HAVANA, VD_JSON_NAME),
            (LIBERTY, NW_JSON_NAME),
            (NEWTON_TWO, VD2_JSON_NAME),
        ] {
            if os_at_least(resolved, since) {
                names.push(name);
            }
        }
        for name in names {
            // vendor_data.json is absent without the StaticJSON provider
            if let Ok(Item::Body { bytes, .. }) = guest.lookup(&format!("/openstack/{v}/{name}")) {
                out.push((format!("openstack/{v}/{name}"), bytes));
            }
        }
    }
    out
}

/// `meta_data.json`'s extra keys on a drive: the admin password, when there is one.
pub fn extra(admin_pass: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(p) = admin_pass {
        m.insert("admin_pass".into(), Value::String(p.to_owned()));
    }
    m
}

/// Write the config drive of `guest` to `image` (replaced if it exists).
pub fn build(guest: &Guest, image: &Path) -> anyhow::Result<()> {
    write_image(&files(guest), image)
}

/// A vfat image labelled [`LABEL`] at `image` holding `files`.
pub fn write_image(files: &[(String, Vec<u8>)], image: &Path) -> anyhow::Result<()> {
    let staging = Staging::new(image)?;
    let mut tops: Vec<PathBuf> = Vec::new();
    for (rel, bytes) in files {
        anyhow::ensure!(
            !rel.starts_with('/') && !rel.split('/').any(|t| t == ".." || t.is_empty()),
            "bad config drive path {rel}"
        );
        let path = staging.0.join(rel);
        let parent = path.parent().expect("a file has a directory");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        let top = staging
            .0
            .join(rel.split('/').next().expect("a first component"));
        if !tops.contains(&top) {
            tops.push(top);
        }
    }
    match std::fs::remove_file(image) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot replace {}", image.display())),
    }
    run(Command::new("mkfs.vfat")
        .args(["-n", LABEL, "-C"])
        .arg(image)
        .arg(SIZE_KIB.to_string()))?;
    if tops.is_empty() {
        return Ok(());
    }
    let mut mcopy = Command::new("mcopy");
    mcopy
        .env("MTOOLS_SKIP_CHECK", "1")
        // mtools reads ~/.mtoolsrc: not the caller's
        .env("HOME", &staging.0)
        .args(["-s", "-i"])
        .arg(image)
        .args(&tops)
        .arg("::/");
    if let Err(e) = run(&mut mcopy) {
        let _ = std::fs::remove_file(image);
        return Err(e);
    }
    Ok(())
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| {
        format!(
            "cannot run {:?} (config drives need dosfstools and mtools)",
            cmd.get_program()
        )
    })?;
    anyhow::ensure!(
        out.status.success(),
        "{:?} failed ({}): {}",
        cmd.get_program(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// A directory beside the image, removed when dropped.
struct Staging(PathBuf);

impl Staging {
    fn new(image: &Path) -> anyhow::Result<Staging> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = image.parent().unwrap_or(Path::new(".")).join(format!(
            ".config-drive-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Staging(dir))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{content::tests::instance, Settings};

    #[test]
    fn the_files_of_a_drive() {
        let (i, s) = (instance(), Settings::default());
        let g = Guest {
            instance: &i,
            settings: &s,
            address: None,
            extra: extra(Some("secret")),
        };
        let files = files(&g);
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "ec2/2009-04-04/meta-data.json",
            "ec2/2009-04-04/user-data",
            "ec2/latest/meta-data.json",
            "ec2/latest/user-data",
            "openstack/2012-08-10/meta_data.json",
            "openstack/2012-08-10/user_data",
            "openstack/2013-10-17/vendor_data.json",
            "openstack/2015-10-15/network_data.json",
            "openstack/2016-10-06/vendor_data2.json",
            "openstack/latest/meta_data.json",
            "openstack/latest/user_data",
            "openstack/latest/vendor_data.json",
            "openstack/latest/network_data.json",
            "openstack/latest/vendor_data2.json",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("ec2/1.0")));
        assert!(!names.contains(&"openstack/2012-08-10/vendor_data.json"));
        assert!(!names.iter().any(|n| n.ends_with("password")));
        // 2 EC2 versions of 2 files; OpenStack: 2 of 2, 1 of 3, 2 of 4, 6 of 5
        assert_eq!(names.len(), 4 + 2 * 2 + 3 + 4 * 2 + 5 * 6, "{names:?}");
        let get = |n: &str| -> Value {
            serde_json::from_slice(&files.iter().find(|(f, _)| f == n).unwrap().1).unwrap()
        };
        let md = get("openstack/latest/meta_data.json");
        assert_eq!(md["admin_pass"], "secret");
        assert_eq!(md["hostname"], "test-server.novalocal");
        let ec2 = get("ec2/latest/meta-data.json");
        assert_eq!(ec2["instance-id"], "i-0000002a");
        assert_eq!(
            ec2["public-keys"],
            serde_json::json!({"0": {"openssh-key": i.key_pairs[0].public_key}})
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        let dir = std::env::temp_dir().join(format!("oxi-cfgdrive-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = write_image(&[("../x".into(), vec![])], &dir.join("img")).unwrap_err();
        assert!(err.to_string().contains("bad config drive path"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

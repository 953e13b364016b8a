//! The data directory: private to the service user, and owned by one `oxistack up`.

use std::{
    fs,
    io::{Read, Seek, Write},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use anyhow::Context;

/// Files this process creates are private to its user (the database, its journal, keys,
/// image data...): umask 077.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
}

/// Create `dir` if needed and make it private (0700), also when an earlier version made
/// it readable by others.
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    set_mode(dir, 0o700)
}

/// Make a file private (0600) when it exists; for a SQLite file, its journal files too.
pub fn make_private(file: &Path) -> anyhow::Result<()> {
    let mut paths = vec![file.to_owned()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = file.as_os_str().to_owned();
        p.push(suffix);
        paths.push(PathBuf::from(p));
    }
    for p in paths.iter().filter(|p| p.exists()) {
        set_mode(p, 0o600)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.permissions().mode() & 0o777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot make {} private", path.display()))?;
    }
    Ok(())
}

/// The data directory's lock: held by the one `oxistack up` that uses it, for as long as
/// it runs (the kernel drops it when the process ends, however it ends).
pub struct DataDirLock {
    _file: fs::File,
}

impl DataDirLock {
    /// Take the lock of `dir`, or say which process holds it. Nothing in `dir` is touched
    /// when the lock is held elsewhere.
    pub fn acquire(dir: &Path) -> anyhow::Result<DataDirLock> {
        private_dir(dir)?;
        let path = dir.join("oxistack.lock");
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                anyhow::bail!(
                    "the data directory {} is in use by another oxistack{} (its lock is {}); stop that one first, or pass another --data-dir",
                    dir.display(),
                    if holder.is_empty() { String::new() } else { format!(" (pid {holder})") },
                    path.display()
                );
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused() {
        let dir = std::env::temp_dir().join(format!("oxi-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let held = DataDirLock::acquire(&dir).unwrap();
        let err = DataDirLock::acquire(&dir)
            .err()
            .expect("second lock refused");
        let msg = format!("{err:#}");
        assert!(msg.contains("in use by another oxistack"), "{msg}");
        assert!(msg.contains(&std::process::id().to_string()), "{msg}");
        drop(held);
        DataDirLock::acquire(&dir).expect("free again once dropped");
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

//! The Fernet key repository, laid out as Keystone's: a directory of key files named by
//! number. `0` is the staged key (the next primary), the highest number is the primary key
//! (it encrypts), and the others are secondary keys (they still decrypt). Rotation promotes
//! the staged key, stages a new one and drops the oldest beyond `max_active_keys`.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::RwLock,
};

use fernet::{Fernet, MultiFernet};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key repository {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key repository {0} holds no usable key")]
    Empty(PathBuf),
    #[error("key file {0} is not a Fernet key")]
    BadKey(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The keys of a repository, primary first.
pub struct KeyRing {
    dir: PathBuf,
    max_active: usize,
    fernet: RwLock<MultiFernet>,
}

fn write_key(path: &Path) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new();
    f.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut f, 0o600);
    let mut file = f.open(&tmp).map_err(io(&tmp))?;
    file.write_all(Fernet::generate_key().as_bytes())
        .map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// The numbered key files of `dir`, ascending.
fn key_numbers(dir: &Path) -> Result<Vec<u64>, KeyError> {
    let mut nums: Vec<u64> = fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    nums.sort_unstable();
    Ok(nums)
}

impl KeyRing {
    /// Open a repository, creating it with a staged and a primary key when it is empty
    /// (what `keystone-manage fernet_setup` does).
    pub fn open(dir: &Path, max_active: usize) -> Result<KeyRing, KeyError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        if key_numbers(dir)?.is_empty() {
            write_key(&dir.join("0"))?;
            write_key(&dir.join("1"))?;
        }
        let ring = KeyRing {
            dir: dir.to_owned(),
            max_active: max_active.max(2),
            fernet: RwLock::new(load(dir)?),
        };
        Ok(ring)
    }

    /// Promote the staged key to primary, stage a new key, and drop the oldest secondary
    /// keys beyond the limit. Tokens made with a dropped key stop validating.
    pub fn rotate(&self) -> Result<(), KeyError> {
        rotate_dir(&self.dir, self.max_active)?;
        self.reload()
    }

    /// Re-read the repository (after another process rotated it).
    pub fn reload(&self) -> Result<(), KeyError> {
        let f = load(&self.dir)?;
        *self.fernet.write().expect("key ring poisoned") = f;
        Ok(())
    }

    pub fn encrypt(&self, data: &[u8]) -> String {
        self.fernet.read().expect("key ring poisoned").encrypt(data)
    }

    pub fn decrypt(&self, token: &str) -> Option<Vec<u8>> {
        self.fernet
            .read()
            .expect("key ring poisoned")
            .decrypt(token)
            .ok()
    }
}

/// How many keys the repository in `dir` holds (it must exist).
pub fn count(dir: &Path) -> Result<usize, KeyError> {
    key_numbers(dir).map(|n| n.len())
}

/// Rotate the repository in `dir` (used by `oxistack manage fernet rotate` too).
pub fn rotate_dir(dir: &Path, max_active: usize) -> Result<(), KeyError> {
    let nums = key_numbers(dir)?;
    let next = nums.last().copied().unwrap_or(0) + 1;
    let staged = dir.join("0");
    if staged.exists() {
        fs::rename(&staged, dir.join(next.to_string())).map_err(io(&staged))?;
    }
    write_key(&staged)?;
    let mut nums = key_numbers(dir)?;
    nums.retain(|n| *n != 0);
    // Active keys: the staged one plus the others; drop the oldest secondaries.
    while nums.len() + 1 > max_active.max(2) {
        let old = dir.join(nums.remove(0).to_string());
        fs::remove_file(&old).map_err(io(&old))?;
    }
    Ok(())
}

fn load(dir: &Path) -> Result<MultiFernet, KeyError> {
    let mut nums = key_numbers(dir)?;
    // Primary (highest) first, then the other secondaries, the staged key last.
    nums.sort_unstable_by(|a, b| b.cmp(a));
    if let Some(pos) = nums.iter().position(|n| *n == 0) {
        let z = nums.remove(pos);
        nums.push(z);
    }
    let mut keys = Vec::new();
    for n in nums {
        let path = dir.join(n.to_string());
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        keys.push(Fernet::new(text.trim()).ok_or(KeyError::BadKey(path))?);
    }
    if keys.is_empty() {
        return Err(KeyError::Empty(dir.to_owned()));
    }
    Ok(MultiFernet::new(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_recent_tokens_valid() {
        let dir = std::env::temp_dir().join(format!(
            "oxi-keys-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        let ring = KeyRing::open(&dir, 3).unwrap();
        let t1 = ring.encrypt(b"one");
        ring.rotate().unwrap();
        let t2 = ring.encrypt(b"two");
        assert_eq!(ring.decrypt(&t1).unwrap(), b"one");
        assert_eq!(ring.decrypt(&t2).unwrap(), b"two");
        ring.rotate().unwrap();
        // t1's key (the first primary) has been dropped: only 3 keys stay active.
        assert_eq!(key_numbers(&dir).unwrap().len(), 3);
        assert!(ring.decrypt(&t1).is_none());
        assert_eq!(ring.decrypt(&t2).unwrap(), b"two");
        assert!(ring.decrypt("garbage").is_none());
        fs::remove_dir_all(dir).unwrap();
    }
}

//! The object server's on-disk format: one device's replicas.
//!
//! ```text
//! <device>/objects/<partition>/<name hash>/<timestamp>.data   bytes + metadata footer
//!                                         /<timestamp>.meta   a later POST's metadata
//!                                         /<timestamp>.ts     a tombstone (DELETE)
//! <device>/tmp/                                               uploads being written
//! ```
//!
//! A `.data` file is the object's bytes followed by its metadata (JSON), the metadata's
//! length (4 bytes, big-endian) and the magic `OXSW`: the footer goes last because the
//! length and MD5 of a chunked upload are known only at its end, and with the metadata
//! inside the one file a single rename publishes both (no sidecar to tear from its
//! data; no dependence on the filesystem's xattrs). A replica is written to `tmp/`,
//! fsynced, renamed into its hash directory and the directory fsynced: a reader sees
//! the whole object or the previous one, never a part. The newest of a directory's
//! `.data` and `.ts` files is the object's state (a newer `.meta` overrides its
//! metadata); older files are removed after each write.

use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use tokio::io::AsyncWriteExt;

use crate::model::{MetaUpdate, ObjectInfo, Timestamp};

const MAGIC: &[u8; 4] = b"OXSW";
const FOOTER: u64 = 8;

/// What a device holds of one object.
#[derive(Debug, Clone)]
pub enum State {
    Data { path: PathBuf, info: ObjectInfo },
    Tombstone(Timestamp),
}

impl State {
    pub fn timestamp(&self) -> Timestamp {
        match self {
            State::Data { info, .. } => info.timestamp,
            State::Tombstone(t) => *t,
        }
    }
}

/// Where one object lives on a device.
#[derive(Debug, Clone)]
pub struct Location {
    pub device: PathBuf,
    pub part: usize,
    pub hash: String,
}

impl Location {
    pub fn dir(&self) -> PathBuf {
        self.device
            .join("objects")
            .join(self.part.to_string())
            .join(&self.hash)
    }
}

/// An upload of one replica being written to the device's `tmp/`; removed when
/// dropped uncommitted.
pub struct Writer {
    loc: Location,
    tmp: PathBuf,
    file: Option<tokio::fs::File>,
    len: u64,
    committed: bool,
}

impl Writer {
    pub async fn create(loc: Location) -> std::io::Result<Writer> {
        let dir = loc.device.join("tmp");
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join(uuid::Uuid::new_v4().simple().to_string());
        let file = tokio::fs::File::create(&tmp).await?;
        Ok(Writer {
            loc,
            tmp,
            file: Some(file),
            len: 0,
            committed: false,
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let f = self.file.as_mut().ok_or_else(closed)?;
        f.write_all(chunk).await?;
        self.len += chunk.len() as u64;
        Ok(())
    }

    /// Append the metadata, fsync, and rename into place.
    pub async fn commit(mut self, info: &ObjectInfo) -> std::io::Result<()> {
        let mut f = self.file.take().ok_or_else(closed)?;
        let meta = serde_json::to_vec(info).map_err(std::io::Error::other)?;
        let len = u32::try_from(meta.len()).map_err(std::io::Error::other)?;
        f.write_all(&meta).await?;
        f.write_all(&len.to_be_bytes()).await?;
        f.write_all(MAGIC).await?;
        f.flush().await?;
        f.sync_all().await?;
        drop(f);
        let dir = self.loc.dir();
        let name = format!("{}.data", info.timestamp.normal());
        let tmp = self.tmp.clone();
        tokio::task::spawn_blocking(move || publish(&dir, &tmp, &name))
            .await
            .map_err(std::io::Error::other)??;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn closed() -> std::io::Error {
    std::io::Error::other("the upload is closed")
}

/// Rename `tmp` to `dir/name`, fsync the directory, and remove what it makes obsolete.
fn publish(dir: &Path, tmp: &Path, name: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::rename(tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()?;
    cleanup(dir);
    Ok(())
}

/// Write a small file (a tombstone, a `.meta`) atomically into `loc`'s directory.
async fn put_small(loc: &Location, name: String, body: Vec<u8>) -> std::io::Result<()> {
    let tmpdir = loc.device.join("tmp");
    let dir = loc.dir();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&tmpdir)?;
        let tmp = tmpdir.join(uuid::Uuid::new_v4().simple().to_string());
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &body)?;
            f.sync_all()?;
            publish(&dir, &tmp, &name)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Record a delete at `ts`.
pub async fn put_tombstone(loc: &Location, ts: Timestamp) -> std::io::Result<()> {
    put_small(loc, format!("{}.ts", ts.normal()), Vec::new()).await
}

/// Record a metadata update (only meaningful over a `.data`; the caller checks).
pub async fn put_meta(loc: &Location, update: &MetaUpdate) -> std::io::Result<()> {
    let body = serde_json::to_vec(update).map_err(std::io::Error::other)?;
    put_small(loc, format!("{}.meta", update.timestamp.normal()), body).await
}

/// The files of a directory: (timestamp, extension), newest first.
fn files(dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some((ts, ext)) = name.rsplit_once('.') {
            if Timestamp::parse(ts).is_some() {
                v.push((ts.to_owned(), ext.to_owned()));
            }
        }
    }
    v.sort_by(|a, b| b.cmp(a));
    Ok(v)
}

/// Remove everything older than the newest `.data`/`.ts` (and `.meta`s older than the
/// newest `.meta`). Best effort: a failure leaves files a later write removes.
fn cleanup(dir: &Path) {
    let Ok(files) = files(dir) else { return };
    let mut seen_state = false;
    let mut seen_meta = false;
    for (ts, ext) in files {
        let keep = match ext.as_str() {
            "data" | "ts" if !seen_state => {
                seen_state = true;
                true
            }
            "meta" if !seen_state && !seen_meta => {
                seen_meta = true;
                true
            }
            _ => false,
        };
        if !keep {
            let _ = std::fs::remove_file(dir.join(format!("{ts}.{ext}")));
        }
    }
}

/// What `loc` holds: `None` when nothing (or the device is gone).
pub async fn read_state(loc: &Location) -> std::io::Result<Option<State>> {
    let dir = loc.dir();
    tokio::task::spawn_blocking(move || read_state_sync(&dir))
        .await
        .map_err(std::io::Error::other)?
}

fn read_state_sync(dir: &Path) -> std::io::Result<Option<State>> {
    let files = match files(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut meta: Option<MetaUpdate> = None;
    for (ts, ext) in files {
        match ext.as_str() {
            "meta" if meta.is_none() => {
                let text = std::fs::read(dir.join(format!("{ts}.meta")))?;
                meta = serde_json::from_slice(&text).ok();
            }
            "ts" => {
                let t = Timestamp::parse(&ts).unwrap_or_default();
                return Ok(Some(State::Tombstone(t)));
            }
            "data" => {
                let path = dir.join(format!("{ts}.data"));
                let mut info = read_footer(&path)?;
                if let Some(m) = meta.filter(|m| m.timestamp > info.timestamp) {
                    info.meta = m.meta;
                    info.system = m.system;
                    info.delete_at = m.delete_at;
                    if let Some(ct) = m.content_type {
                        info.content_type = ct;
                    }
                    info.meta_timestamp = Some(m.timestamp);
                }
                return Ok(Some(State::Data { path, info }));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// The metadata at the end of a `.data` file; an error when it is damaged.
fn read_footer(path: &Path) -> std::io::Result<ObjectInfo> {
    let mut f = std::fs::File::open(path)?;
    let total = f.metadata()?.len();
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "a damaged object file");
    if total < FOOTER {
        return Err(bad());
    }
    f.seek(SeekFrom::Start(total - FOOTER))?;
    let mut tail = [0u8; 8];
    f.read_exact(&mut tail)?;
    if &tail[4..] != MAGIC {
        return Err(bad());
    }
    let len = u64::from(u32::from_be_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len + FOOTER > total {
        return Err(bad());
    }
    f.seek(SeekFrom::Start(total - FOOTER - len))?;
    let mut meta = vec![0u8; usize::try_from(len).map_err(|_| bad())?];
    f.read_exact(&mut meta)?;
    let info: ObjectInfo = serde_json::from_slice(&meta).map_err(|_| bad())?;
    if info.content_length + len + FOOTER != total {
        return Err(bad());
    }
    Ok(info)
}

/// The bytes `[start, end)` of a `.data` file.
pub async fn open_range(
    path: &Path,
    start: u64,
    end: u64,
) -> std::io::Result<tokio::io::Take<tokio::fs::File>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path).await?;
    f.seek(SeekFrom::Start(start)).await?;
    Ok(f.take(end.saturating_sub(start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oxistack-disk-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn info(ts: u64, body: &[u8]) -> ObjectInfo {
        ObjectInfo {
            name: "a/c/o".into(),
            timestamp: Timestamp(ts),
            content_length: body.len() as u64,
            content_type: "text/plain".into(),
            etag: "x".into(),
            meta: Default::default(),
            system: Default::default(),
            delete_at: None,
            meta_timestamp: None,
        }
    }

    #[tokio::test]
    async fn write_read_update_delete() {
        let dev = tempdir("rw");
        let loc = Location {
            device: dev.clone(),
            part: 3,
            hash: "abc".into(),
        };
        assert!(read_state(&loc).await.unwrap().is_none());
        let mut w = Writer::create(loc.clone()).await.unwrap();
        w.write(b"hello ").await.unwrap();
        w.write(b"world").await.unwrap();
        w.commit(&info(10, b"hello world")).await.unwrap();
        let Some(State::Data { path, info: got }) = read_state(&loc).await.unwrap() else {
            panic!("no data")
        };
        assert_eq!(got.content_length, 11);
        let mut r = open_range(&path, 6, 11).await.unwrap();
        let mut s = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut r, &mut s)
            .await
            .unwrap();
        assert_eq!(s, "world");
        // a POST's metadata overrides
        let mut meta = crate::model::Meta::new();
        meta.insert("color".into(), "blue".into());
        put_meta(
            &loc,
            &MetaUpdate {
                timestamp: Timestamp(11),
                meta,
                system: Default::default(),
                delete_at: None,
                content_type: None,
            },
        )
        .await
        .unwrap();
        let Some(State::Data { info: got, .. }) = read_state(&loc).await.unwrap() else {
            panic!("no data")
        };
        assert_eq!(got.meta["color"], "blue");
        // a newer write replaces both and cleans the old files up
        let w = Writer::create(loc.clone()).await.unwrap();
        w.commit(&info(12, b"")).await.unwrap();
        let Some(State::Data { info: got, .. }) = read_state(&loc).await.unwrap() else {
            panic!("no data")
        };
        assert!(got.meta.is_empty());
        assert_eq!(std::fs::read_dir(loc.dir()).unwrap().count(), 1);
        put_tombstone(&loc, Timestamp(13)).await.unwrap();
        assert!(matches!(
            read_state(&loc).await.unwrap(),
            Some(State::Tombstone(Timestamp(13)))
        ));
        assert_eq!(std::fs::read_dir(loc.dir()).unwrap().count(), 1);
        // an abandoned upload leaves nothing in tmp/
        let mut w = Writer::create(loc.clone()).await.unwrap();
        w.write(b"partial").await.unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dev.join("tmp")).unwrap().count(), 0);
        std::fs::remove_dir_all(dev).unwrap();
    }

    #[tokio::test]
    async fn a_damaged_file_is_an_error() {
        let dev = tempdir("bad");
        let loc = Location {
            device: dev.clone(),
            part: 0,
            hash: "h".into(),
        };
        let w = Writer::create(loc.clone()).await.unwrap();
        w.commit(&info(10, b"")).await.unwrap();
        let path = loc.dir().join(format!("{}.data", Timestamp(10).normal()));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(read_state(&loc).await.is_err());
        std::fs::remove_dir_all(dev).unwrap();
    }
}

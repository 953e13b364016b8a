//! Where image data lives: the [`Store`] trait (Glance's `glance_store` drivers) and a
//! local filesystem store.

use std::{
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use api_common::{Error, Result};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{stream::BoxStream, StreamExt};
use serde_json::{json, Value};

/// A stream of image data; an `Err` aborts whoever consumes it.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// An image data store.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The store's identifier, as `/v2/info/stores` shows it.
    fn id(&self) -> &str;

    /// Store the data of image `image_id`. The data becomes visible (at the returned
    /// location) only once the whole stream was read without error: a stream that
    /// yields an error, or a call that is dropped half-way, leaves nothing behind.
    async fn put(&self, image_id: &str, data: ByteStream) -> Result<String>;

    /// Where `put` puts the data of `image_id`. Fixed by the id, so an undo can find
    /// what an interrupted `put` may have left, without its result.
    fn location(&self, image_id: &str) -> String;

    /// Read data back: all of it, or the bytes `[start, end)`.
    async fn get(&self, location: &str, range: Option<(u64, u64)>) -> Result<ByteStream>;

    /// Remove data; removing what is not there is not an error.
    async fn delete(&self, location: &str) -> Result<()>;

    /// What `/v2/info/stores/detail` shows about the store.
    fn properties(&self) -> Value;
}

/// Images as files in one directory, written through a temporary file that is renamed
/// into place when complete.
pub struct FileStore {
    id: String,
    dir: PathBuf,
}

/// The size of the chunks the store reads and hands out.
const READ_CHUNK: usize = 512 * 1024;
/// The write buffer: large writes, few system calls.
const WRITE_BUFFER: usize = 64 * 1024;

/// Removes a temporary file unless disarmed (by renaming it into place).
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl FileStore {
    /// A store over `dir` (created if missing). Temporary files left by a crash are
    /// removed.
    pub fn open(id: &str, dir: &Path) -> std::io::Result<FileStore> {
        std::fs::create_dir_all(dir)?;
        for e in std::fs::read_dir(dir)?.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(FileStore {
            id: id.to_owned(),
            dir: dir.to_owned(),
        })
    }

    fn path_of(&self, location: &str) -> Result<PathBuf> {
        let path = PathBuf::from(location.strip_prefix("file://").unwrap_or(location));
        if path.parent() != Some(self.dir.as_path()) {
            return Err(Error::internal(format!(
                "location {location} is not in store {}",
                self.id
            )));
        }
        Ok(path)
    }
}

fn io_err(what: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            Error::over_limit(format!("Image storage media is full: {e}"))
        }
        std::io::ErrorKind::PermissionDenied => Error::unavailable(format!(
            "Insufficient permissions on image storage media: {e}"
        )),
        _ => Error::internal(format!("{what}: {e}")),
    }
}

#[async_trait]
impl Store for FileStore {
    fn id(&self) -> &str {
        &self.id
    }

    async fn put(&self, image_id: &str, mut data: ByteStream) -> Result<String> {
        let tmp = self
            .dir
            .join(format!(".tmp-{image_id}-{}", uuid::Uuid::new_v4()));
        let file = std::fs::File::create(&tmp).map_err(|e| io_err("create", e))?;
        let mut guard = TempFile(Some(tmp.clone()));
        // A writer thread does the (blocking) writes; the channel bounds what is in
        // flight, so a slow disk slows the sender instead of filling memory.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            // Large chunks go straight to the file; small ones are gathered first.
            let mut w = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
            while let Some(chunk) = rx.blocking_recv() {
                w.write_all(&chunk)?;
            }
            w.flush()
        });
        let mut failure = None;
        while let Some(item) = data.next().await {
            match item {
                Ok(chunk) => {
                    if tx.send(chunk).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer.await.map_err(Error::internal)?;
        if let Some(e) = failure {
            return Err(e);
        }
        written.map_err(|e| io_err("write", e))?;
        let dest = self.dir.join(image_id);
        tokio::fs::rename(&tmp, &dest)
            .await
            .map_err(|e| io_err("rename", e))?;
        guard.0 = None;
        Ok(self.location(image_id))
    }

    fn location(&self, image_id: &str) -> String {
        format!("file://{}", self.dir.join(image_id).display())
    }

    async fn get(&self, location: &str, range: Option<(u64, u64)>) -> Result<ByteStream> {
        let path = self.path_of(location)?;
        let mut file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::not_found("Image data not found"),
            _ => io_err("open", e),
        })?;
        let (start, end) = match range {
            Some(r) => r,
            None => (0, file.metadata().map_err(|e| io_err("stat", e))?.len()),
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(8);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(io_err("seek", e)));
                return;
            }
            let mut left = end.saturating_sub(start);
            while left > 0 {
                let mut buf =
                    vec![0u8; usize::try_from(left).map_or(READ_CHUNK, |l| READ_CHUNK.min(l))];
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        left -= n as u64;
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(io_err("read", e)));
                        return;
                    }
                }
            }
        });
        Ok(tokio_stream_from(rx))
    }

    async fn delete(&self, location: &str) -> Result<()> {
        let path = self.path_of(location)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", e)),
        }
    }

    fn properties(&self) -> Value {
        json!({"data_dir": self.dir.display().to_string(), "chunk_size": READ_CHUNK, "thin_provisioning": false})
    }
}

/// A stream over a channel's receiver.
pub fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Result<Bytes>>) -> ByteStream {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("oxi-store-{}", uuid::Uuid::new_v4()))
    }

    async fn read_all(s: ByteStream) -> Vec<u8> {
        s.map(|c| c.unwrap().to_vec()).concat().await
    }

    #[tokio::test]
    async fn put_get_delete() {
        let d = dir();
        let st = FileStore::open("file", &d).unwrap();
        let data = stream::iter(vec![
            Ok(Bytes::from_static(b"hello ")),
            Ok(Bytes::from_static(b"world")),
        ])
        .boxed();
        let loc = st.put("img", data).await.unwrap();
        assert_eq!(
            read_all(st.get(&loc, None).await.unwrap()).await,
            b"hello world"
        );
        assert_eq!(
            read_all(st.get(&loc, Some((6, 9))).await.unwrap()).await,
            b"wor"
        );
        st.delete(&loc).await.unwrap();
        st.delete(&loc).await.unwrap();
        assert_eq!(
            st.get(&loc, None).await.err().unwrap().kind,
            api_common::ErrorKind::NotFound
        );
        assert!(st.get("file:///etc/passwd", None).await.is_err());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[tokio::test]
    async fn failed_stream_leaves_nothing() {
        let d = dir();
        let st = FileStore::open("file", &d).unwrap();
        let data = stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(Error::bad_request("no")),
        ])
        .boxed();
        assert_eq!(st.put("img", data).await.unwrap_err().message, "no");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        // a dropped put (client gone) leaves nothing either
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(Ok(Bytes::from_static(b"x"))).await.unwrap();
        let put = st.put("img2", tokio_stream_from(rx));
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), put).await;
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        std::fs::remove_dir_all(d).unwrap();
    }
}

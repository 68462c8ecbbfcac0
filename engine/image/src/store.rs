//! The content-addressed blob store (`<root>/content/blobs/<alg>/<hex>`) and the atomic file
//! write used for every piece of image metadata.
//!
//! A blob is written to a temp file in its final directory, hashed while streaming, capped in
//! size, fsynced and only then renamed to its digest name, so a reader never sees a half-written
//! or unverified blob, even after a crash.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tempfile::NamedTempFile;

use crate::digest::{Algorithm, Digest, Hasher};

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Filesystem error with the path involved.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Path involved.
        path: PathBuf,
        /// Underlying error.
        source: io::Error,
    },
    /// Streamed content did not match the expected digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Digest the caller expected.
        expected: Digest,
        /// Digest of the bytes received.
        actual: Digest,
    },
    /// Blob larger than the cap given by the caller.
    #[error("blob exceeds the size limit of {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// No such blob.
    #[error("blob {0} not found")]
    NotFound(Digest),
}

type Result<T> = std::result::Result<T, StoreError>;

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Fsyncs a directory so a rename inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err("fsync dir", dir))
}

/// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err("create dir", dir))?;
    let mut tmp =
        NamedTempFile::with_prefix_in(".tmp-", dir).map_err(io_err("create temp in", dir))?;
    tmp.write_all(data).map_err(io_err("write", tmp.path()))?;
    tmp.as_file().sync_all().map_err(io_err("fsync", path))?;
    tmp.persist(path).map_err(|e| StoreError::Io {
        op: "rename into",
        path: path.to_owned(),
        source: e.error,
    })?;
    sync_dir(dir)
}

/// Removes entries of `dir` whose name starts with `prefix`: temp files and directories a crash
/// left behind (nothing else writes names with these prefixes).
pub(crate) fn remove_temp_leftovers(dir: &Path, prefix: &str) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(io_err("read dir", dir))? {
        let entry = entry.map_err(io_err("read dir", dir))?;
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let p = entry.path();
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&p),
            _ => fs::remove_file(&p),
        };
        removed.map_err(io_err("remove leftover", &p))?;
    }
    Ok(())
}

/// The blob store rooted at a data root (blobs live under `<root>/content/blobs`).
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let blobs = root.join("content").join("blobs");
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let d = blobs.join(alg.name());
            fs::create_dir_all(&d).map_err(io_err("create dir", &d))?;
            remove_temp_leftovers(&d, ".tmp-")?;
        }
        Ok(ContentStore { blobs })
    }

    /// Path of a blob (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Starts a streaming write; nothing is visible until [`BlobWriter::commit`].
    pub fn writer(&self, algorithm: Algorithm, limit: u64) -> Result<BlobWriter> {
        let dir = self.blobs.join(algorithm.name());
        let file =
            NamedTempFile::with_prefix_in(".tmp-", &dir).map_err(io_err("create temp in", &dir))?;
        Ok(BlobWriter {
            file,
            dir,
            hasher: Hasher::new(algorithm),
            count: 0,
            limit,
            exceeded: false,
        })
    }

    /// Flushes the filesystem holding the blobs (one `syncfs(2)`): makes the blobs written
    /// with [`BlobWriter::commit_deferred`] durable, with their directory entries.
    pub fn sync(&self) -> Result<()> {
        let dir = File::open(&self.blobs).map_err(io_err("open", &self.blobs))?;
        nix::unistd::syncfs(&dir).map_err(|e| io_err("syncfs", &self.blobs)(io::Error::from(e)))
    }

    /// Starts writing back the filesystem's dirty data on a blocking thread of its own and
    /// returns at once, unless `busy` says a previous one still runs. A pull calls it as each
    /// layer is staged, so the disk works while later layers unpack and the final
    /// [`Self::sync`] has less left to wait for; durability still comes only from that sync.
    pub(crate) fn start_writeback(&self, busy: &Arc<AtomicBool>) {
        if busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let (store, busy) = (self.clone(), busy.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.sync() {
                tracing::debug!(error = %e, "early writeback");
            }
            busy.store(false, Ordering::Release);
        });
    }

    /// Streams `reader` into the store, verifying it against `expected` (when given) and
    /// refusing more than `limit` bytes. Returns the digest and size.
    pub fn write_blob(
        &self,
        mut reader: impl Read,
        expected: Option<&Digest>,
        limit: u64,
    ) -> Result<(Digest, u64)> {
        let alg = expected.map_or(Algorithm::Sha256, Digest::algorithm);
        let mut w = self.writer(alg, limit)?;
        let copied = io::copy(&mut reader, &mut w);
        if w.exceeded {
            return Err(StoreError::TooLarge { limit });
        }
        copied.map_err(io_err("stream into", &w.dir))?;
        w.commit(expected)
    }

    /// Stores an in-memory blob (manifests, configs) and returns its sha256 digest.
    pub fn put_bytes(&self, data: &[u8]) -> Result<Digest> {
        self.write_blob(data, None, data.len() as u64)
            .map(|(d, _)| d)
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound(digest.clone()),
            _ => StoreError::Io {
                op: "open",
                path: p,
                source: e,
            },
        })
    }

    /// Reads a whole blob into memory (for small JSON documents).
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut f = self.open_blob(digest)?;
        let mut out = Vec::new();
        f.read_to_end(&mut out)
            .map_err(io_err("read", &self.blob_path(digest)))?;
        Ok(out)
    }

    /// Size of a blob in bytes.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let p = self.blob_path(digest);
        fs::metadata(&p)
            .map(|m| m.len())
            .map_err(|_| StoreError::NotFound(digest.clone()))
    }

    /// Deletes a blob; `false` when it was already absent.
    pub fn delete(&self, digest: &Digest) -> Result<bool> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::Io {
                op: "remove",
                path: p,
                source: e,
            }),
        }
    }

    /// Every committed blob (temp files are skipped).
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let d = self.blobs.join(alg.name());
            for entry in fs::read_dir(&d).map_err(io_err("read dir", &d))? {
                let entry = entry.map_err(io_err("read dir", &d))?;
                let name = entry.file_name();
                if let Some(Ok(digest)) = name
                    .to_str()
                    .map(|n| format!("{}:{n}", alg.name()).parse::<Digest>())
                {
                    out.push(digest);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// A blob being written: hashes and counts bytes, refuses more than its limit.
#[derive(Debug)]
pub struct BlobWriter {
    file: NamedTempFile,
    dir: PathBuf,
    hasher: Hasher,
    count: u64,
    limit: u64,
    exceeded: bool,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.count + buf.len() as u64 > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("blob size limit exceeded"));
        }
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// The size cap.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Whether a write was refused for crossing the size limit.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// Verifies, fsyncs and renames the blob into place. A blob that already exists is kept
    /// (content addressing makes the two identical) and the temp file is dropped.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        self.finish(expected, true)
    }

    /// Like [`Self::commit`] without the fsyncs, for bulk ingestion (pulls): the caller makes
    /// every such blob durable with one [`ContentStore::sync`] before anything records them.
    pub fn commit_deferred(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        self.finish(expected, false)
    }

    fn finish(mut self, expected: Option<&Digest>, durable: bool) -> Result<(Digest, u64)> {
        if self.exceeded {
            return Err(StoreError::TooLarge { limit: self.limit });
        }
        self.file.flush().map_err(io_err("flush", &self.dir))?;
        let actual = self.hasher.finish();
        if let Some(exp) = expected
            && *exp != actual
        {
            return Err(StoreError::DigestMismatch {
                expected: exp.clone(),
                actual,
            });
        }
        let target = self.dir.join(actual.hex());
        if target.is_file() {
            return Ok((actual, self.count));
        }
        if durable {
            self.file
                .as_file()
                .sync_all()
                .map_err(io_err("fsync", &target))?;
        }
        self.file.persist(&target).map_err(|e| StoreError::Io {
            op: "rename into",
            path: target.clone(),
            source: e.error,
        })?;
        if durable {
            sync_dir(&self.dir)?;
        }
        Ok((actual, self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_verifies_and_lists_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = store.put_bytes(b"hello").unwrap();
        assert!(store.contains(&d));
        assert_eq!(store.read_blob(&d).unwrap(), b"hello");
        assert_eq!(
            store.blob_path(&d),
            dir.path().join("content/blobs/sha256").join(d.hex())
        );
        let expected = Digest::of_bytes(Algorithm::Sha512, b"x");
        let (d512, n) = store.write_blob(&b"x"[..], Some(&expected), 10).unwrap();
        assert_eq!((d512.clone(), n), (expected, 1));
        assert_eq!(store.list().unwrap().len(), 2);
        assert!(store.delete(&d).unwrap());
        assert!(!store.delete(&d).unwrap());
        assert!(matches!(store.read_blob(&d), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn refuses_mismatch_and_oversize_without_leaving_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let wrong = Digest::of_bytes(Algorithm::Sha256, b"other");
        let e = store
            .write_blob(&b"data"[..], Some(&wrong), 100)
            .unwrap_err();
        assert!(matches!(e, StoreError::DigestMismatch { .. }), "{e}");
        let e = store.write_blob(&[0u8; 100][..], None, 10).unwrap_err();
        assert!(matches!(e, StoreError::TooLarge { limit: 10 }), "{e}");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("content/blobs/sha256"))
            .unwrap()
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn crash_leftovers_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let d = store.put_bytes(b"kept").unwrap();
        let tmp = dir.path().join("content/blobs/sha256/.tmp-half");
        fs::write(&tmp, b"half").unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        assert!(!tmp.exists());
        assert_eq!(store.list().unwrap(), vec![d]);
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path().join("a")).unwrap().count(), 1);
    }
}

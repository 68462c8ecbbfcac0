//! The build cache under `<data root>/builder/`: `cache/<key>.json` maps a step's cache key
//! (parent filesystem chain + expanded instruction + what it reads) to the layer it made,
//! and `blobs/<hex>` hard-links each cached layer blob so image garbage collection cannot
//! take it away; a hit whose blob left the content store is restored from there.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use berth_image::digest::{Algorithm, Digest};
use serde::{Deserialize, Serialize};

/// A layer a step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    pub diff_id: Digest,
    pub blob: Digest,
    pub size: u64,
    pub media_type: String,
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub entries: u64,
    pub bytes: u64,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// sha256 hex of `parts` joined by newlines: the key of one step.
pub fn key(parts: &[&str]) -> String {
    Digest::of_bytes(Algorithm::Sha256, parts.join("\n").as_bytes())
        .hex()
        .to_string()
}

impl Cache {
    /// Opens (creating) the cache under `root` (`<data root>/builder`).
    pub fn open(root: &Path) -> io::Result<Cache> {
        for d in ["cache", "blobs"] {
            fs::create_dir_all(root.join(d))?;
        }
        Ok(Cache {
            root: root.to_path_buf(),
        })
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.root.join("cache").join(format!("{key}.json"))
    }

    fn kept(&self, blob: &Digest) -> PathBuf {
        self.root.join("blobs").join(blob.hex())
    }

    /// The layer cached under `key`, with its blob back in the content store at
    /// `blob_path(blob)`; `None` when absent or when the blob is gone.
    pub fn get(&self, key: &str, blob_path: impl Fn(&Digest) -> PathBuf) -> Option<CachedLayer> {
        let data = fs::read(self.entry(key)).ok()?;
        let layer: CachedLayer = serde_json::from_slice(&data).ok()?;
        let path = blob_path(&layer.blob);
        if path.is_file() {
            return Some(layer);
        }
        fs::hard_link(self.kept(&layer.blob), &path).ok()?;
        Some(layer)
    }

    /// Records `layer` under `key` and keeps a hard link of its blob (at `blob_file`).
    pub fn put(&self, key: &str, layer: &CachedLayer, blob_file: &Path) -> io::Result<()> {
        let kept = self.kept(&layer.blob);
        if !kept.exists() {
            match fs::hard_link(blob_file, &kept) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        let tmp = self.root.join("cache").join(format!(".tmp-{key}"));
        fs::write(&tmp, serde_json::to_vec(layer).map_err(io::Error::other)?)?;
        fs::rename(&tmp, self.entry(key))
    }

    /// Removes every cache entry and kept blob.
    pub fn prune(&self) -> io::Result<PruneReport> {
        let mut report = PruneReport::default();
        for e in fs::read_dir(self.root.join("cache"))? {
            fs::remove_file(e?.path())?;
            report.entries += 1;
        }
        for e in fs::read_dir(self.root.join("blobs"))? {
            let e = e?;
            let md = e.metadata()?;
            // Bytes are freed only where the store no longer shares the blob.
            if std::os::unix::fs::MetadataExt::nlink(&md) == 1 {
                report.bytes += md.len();
            }
            fs::remove_file(e.path())?;
        }
        Ok(report)
    }
}

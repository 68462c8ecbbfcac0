//! Unpacked layers: each layer is applied once, keyed by its diff-id, into
//! `<root>/layers/<hex>/diff`, with a short link `<root>/l/<short>` used in overlay `lowerdir`.
//!
//! A layer is unpacked into a temp directory next to its final place and renamed only after the
//! unpack succeeded and the diff-id matched, so a crash never leaves a half layer that looks
//! complete; leftover temp directories are removed when the store opens.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::store::sync_dir;
use crate::unpack::{UnpackError, UnpackOptions, unpack_layer};

const TMP_PREFIX: &str = ".tmp-";
const SHORT_LEN: usize = 26;

/// Errors of the layer cache.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Filesystem error.
    #[error("{op} {path}: {source}")]
    Io {
        /// Operation.
        op: &'static str,
        /// Path.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The layer could not be unpacked.
    #[error("unpack layer {diff_id}: {source}")]
    Unpack {
        /// Layer.
        diff_id: Digest,
        /// Cause.
        source: UnpackError,
    },
    /// Making the rename durable failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The unpacked content does not hash to the expected diff-id.
    #[error("layer diff-id mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch {
        /// Expected diff-id.
        expected: Digest,
        /// Actual one.
        actual: Digest,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LayerError + 'a {
    move |source| LayerError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A layer unpacked into a temp directory of the cache, not yet under its diff-id (see
/// [`LayerStore::unpack_staged`]). Dropping it removes the directory.
#[derive(Debug)]
pub struct StagedLayer {
    tmp: tempfile::TempDir,
    diff_id: Digest,
}

impl StagedLayer {
    /// The layer's diff-id (verified).
    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }
}

/// The unpacked-layer cache under a data root.
#[derive(Debug, Clone)]
pub struct LayerStore {
    layers: PathBuf,
    links: PathBuf,
}

impl LayerStore {
    /// Opens the cache, creating its directories and removing temp leftovers of a crash.
    pub fn open(root: &Path) -> Result<LayerStore, LayerError> {
        let s = LayerStore {
            layers: root.join("layers"),
            links: root.join("l"),
        };
        for d in [&s.layers, &s.links] {
            fs::create_dir_all(d).map_err(io_err("create dir", d))?;
        }
        crate::store::remove_temp_leftovers(&s.layers, TMP_PREFIX)?;
        Ok(s)
    }

    /// Short link name of a layer (stable, derived from the diff-id).
    pub fn short_name(diff_id: &Digest) -> String {
        diff_id.hex()[..SHORT_LEN].to_owned()
    }

    /// The layer's unpacked directory.
    pub fn diff_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers.join(diff_id.hex()).join("diff")
    }

    /// The short link pointing at [`Self::diff_dir`].
    pub fn short_link(&self, diff_id: &Digest) -> PathBuf {
        self.links.join(Self::short_name(diff_id))
    }

    /// Whether the layer is unpacked (complete).
    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.layers.join(diff_id.hex()).is_dir()
    }

    /// Unpacks a layer from `blob` into a temp directory of the cache and checks its diff-id;
    /// nothing is visible under the layer's name until [`Self::commit`]. Dropping the result
    /// removes the directory.
    pub fn unpack_staged(
        &self,
        diff_id: &Digest,
        blob: impl Read,
        opts: &UnpackOptions,
    ) -> Result<StagedLayer, LayerError> {
        let tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempdir_in(&self.layers)
            .map_err(io_err("create temp dir in", &self.layers))?;
        let diff = tmp.path().join("diff");
        fs::create_dir(&diff).map_err(io_err("create dir", &diff))?;
        let stats = unpack_layer(blob, &diff, opts).map_err(|source| LayerError::Unpack {
            diff_id: diff_id.clone(),
            source,
        })?;
        if stats.diff_id != *diff_id {
            return Err(LayerError::DiffIdMismatch {
                expected: diff_id.clone(),
                actual: stats.diff_id,
            });
        }
        fs::write(tmp.path().join("link"), Self::short_name(diff_id))
            .map_err(io_err("write link name", tmp.path()))?;
        Ok(StagedLayer {
            tmp,
            diff_id: diff_id.clone(),
        })
    }

    /// Makes a staged layer visible under its diff-id (a rename, made durable). A layer that
    /// is already there (a concurrent unpack of the same layer) is kept and the staged copy
    /// removed.
    pub fn commit(&self, staged: StagedLayer) -> Result<(), LayerError> {
        self.commit_all(std::iter::once(staged))
    }

    /// [`Self::commit`] for the layers of one pull: every rename first, then one directory
    /// sync makes them all durable.
    pub fn commit_all(
        &self,
        staged: impl IntoIterator<Item = StagedLayer>,
    ) -> Result<(), LayerError> {
        for staged in staged {
            let final_dir = self.layers.join(staged.diff_id.hex());
            let tmp_path = staged.tmp.keep();
            if let Err(e) = fs::rename(&tmp_path, &final_dir) {
                let _ = fs::remove_dir_all(&tmp_path);
                if !final_dir.is_dir() {
                    return Err(LayerError::Io {
                        op: "rename into",
                        path: final_dir,
                        source: e,
                    });
                }
            }
        }
        sync_dir(&self.layers)?;
        Ok(())
    }

    /// Unpacks the layer if needed (reading the blob through `open_blob`) and returns its short
    /// link.
    pub fn ensure<R: Read>(
        &self,
        diff_id: &Digest,
        open_blob: impl FnOnce() -> io::Result<R>,
        opts: &UnpackOptions,
    ) -> Result<PathBuf, LayerError> {
        let final_dir = self.layers.join(diff_id.hex());
        if !final_dir.is_dir() {
            let blob = open_blob().map_err(io_err("open blob of layer", &final_dir))?;
            let staged = self.unpack_staged(diff_id, blob, opts)?;
            self.commit(staged)?;
        }
        let link = self.short_link(diff_id);
        let target = Path::new("..")
            .join("layers")
            .join(diff_id.hex())
            .join("diff");
        match fs::read_link(&link) {
            Ok(t) if t == target => {}
            Ok(_) => {
                fs::remove_file(&link).map_err(io_err("remove", &link))?;
                std::os::unix::fs::symlink(&target, &link).map_err(io_err("symlink", &link))?;
            }
            Err(_) => match std::os::unix::fs::symlink(&target, &link) {
                Ok(()) => {}
                // A concurrent `ensure` of the same layer made it first.
                Err(e)
                    if e.kind() == io::ErrorKind::AlreadyExists
                        && fs::read_link(&link).is_ok_and(|t| t == target) => {}
                Err(source) => {
                    return Err(LayerError::Io {
                        op: "symlink",
                        path: link,
                        source,
                    });
                }
            },
        }
        Ok(link)
    }

    /// Diff-ids of every complete layer.
    pub fn list(&self) -> Result<Vec<Digest>, LayerError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.layers).map_err(io_err("read dir", &self.layers))? {
            let entry = entry.map_err(io_err("read dir", &self.layers))?;
            if let Some(Ok(d)) = entry
                .file_name()
                .to_str()
                .map(|n| format!("sha256:{n}").parse::<Digest>())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes a layer: link first, then the directory is renamed to a temp name (so it stops
    /// looking complete at once) and deleted.
    pub fn remove(&self, diff_id: &Digest) -> Result<(), LayerError> {
        let link = self.short_link(diff_id);
        if fs::symlink_metadata(&link).is_ok() {
            fs::remove_file(&link).map_err(io_err("remove", &link))?;
        }
        let dir = self.layers.join(diff_id.hex());
        if !dir.exists() {
            return Ok(());
        }
        let doomed = self
            .layers
            .join(format!("{TMP_PREFIX}del-{}", diff_id.hex()));
        fs::rename(&dir, &doomed).map_err(io_err("rename", &dir))?;
        fs::remove_dir_all(&doomed).map_err(io_err("remove", &doomed))
    }
}

//! [`ImageStore`]: the one entry point other parts of the engine use for images. It ties the
//! blob store, the image index, the unpacked-layer cache and the snapshotter together.
//!
//! Concurrency: index changes are serialized by a mutex (read-modify-write of one JSON file);
//! garbage collection holds the ingestion counter's lock for its whole run and is deferred while
//! an ingestion (import, load, pull, rootfs preparation) is in progress, so a blob written but
//! not yet recorded is never collected.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use oci_spec::image::{ImageConfiguration, ImageManifest};

use crate::digest::Digest;
use crate::index::{Garbage, ImageIndex, ImageRecord, IndexError, LayerRecord};
use crate::layers::{LayerError, LayerStore};
use crate::reference::{Reference, ReferenceError};
use crate::snapshot::{Mount, SnapshotError, Snapshotter};
use crate::store::{ContentStore, StoreError};
use crate::unpack::UnpackOptions;

/// Errors of the image store; each wraps the typed error of the part that failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Blob store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Index file failure.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Layer unpack or cache failure.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Snapshot planning or mount failure.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// Invalid reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Invalid import change.
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// Invalid or unreadable archive.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// Registry access failed (boxed: it is the largest cause and keeps this error small).
    #[error(transparent)]
    Registry(Box<crate::registry::RegistryError>),
    /// No image matches.
    #[error("no such image: {0}")]
    NotFound(String),
    /// An id prefix matching several images.
    #[error("image id prefix {0:?} is ambiguous")]
    Ambiguous(String),
    /// Removal refused because containers use the image.
    #[error("image {reference} is in use by container(s) {containers:?} (force to untag it)")]
    InUse {
        /// What the caller asked to remove.
        reference: String,
        /// Containers using it.
        containers: Vec<String>,
    },
    /// The container already leases another image.
    #[error("container {container} already has a root filesystem from image {image}")]
    LeaseConflict {
        /// Container id.
        container: String,
        /// Manifest digest of the image it leases.
        image: Digest,
    },
    /// A manifest or config that does not parse.
    #[error("invalid {what} {digest}: {reason}")]
    BadDocument {
        /// Kind of document.
        what: &'static str,
        /// Its digest.
        digest: Digest,
        /// Parser message.
        reason: String,
    },
}

impl From<crate::registry::RegistryError> for ImageError {
    fn from(e: crate::registry::RegistryError) -> Self {
        ImageError::Registry(Box::new(e))
    }
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, ImageError>;

/// What `list`/`resolve` report about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// Image id: the config digest (as Docker).
    pub id: Digest,
    /// Manifest digest.
    pub manifest: Digest,
    /// References naming it, in familiar form (`nginx:latest`).
    pub references: Vec<String>,
    /// Sum of the layer blob sizes.
    pub size: u64,
    /// Number of layers.
    pub layers: usize,
    /// Creation time from the config.
    pub created: Option<String>,
}

/// What `remove` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoveReport {
    /// References removed (familiar form).
    pub untagged: Vec<String>,
    /// What garbage collection deleted afterwards.
    pub deleted: Garbage,
}

/// The image store of one data root.
#[derive(Debug)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    layers: LayerStore,
    snapshots: Snapshotter,
    index_path: PathBuf,
    index_lock: Mutex<()>,
    /// Containers whose lease is to go: concurrent releases share one index write (whoever
    /// holds the index lock next drops them all).
    releasing: Mutex<BTreeSet<String>>,
    ingesting: Arc<Mutex<usize>>,
    pub(crate) unpack: UnpackOptions,
}

/// Locks `m`, also when a panicking holder poisoned it (the data is always left whole).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn familiar(r: &str) -> String {
    Reference::parse(r).map_or_else(|_| r.to_owned(), |r| r.familiar())
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: &Path) -> Result<ImageStore> {
        std::fs::create_dir_all(root).map_err(|source| StoreError::Io {
            op: "create dir",
            path: root.to_owned(),
            source,
        })?;
        crate::store::remove_temp_leftovers(root, crate::archive::STAGING_PREFIX)?;
        Ok(ImageStore {
            root: root.to_owned(),
            content: ContentStore::open(root)?,
            layers: LayerStore::open(root)?,
            snapshots: Snapshotter::new(root),
            index_path: root.join("images.json"),
            index_lock: Mutex::new(()),
            releasing: Mutex::new(BTreeSet::new()),
            ingesting: Arc::new(Mutex::new(0)),
            unpack: UnpackOptions::default(),
        })
    }

    /// Replaces the unpack options (limits, privileged mode).
    pub fn with_unpack_options(mut self, opts: UnpackOptions) -> ImageStore {
        self.unpack = opts;
        self
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The unpacked-layer cache.
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    /// Marks an ingestion (import, load, pull, rootfs preparation) in progress; garbage
    /// collection is deferred while any is, so a blob stored but not yet recorded survives.
    pub(crate) fn ingest_guard(&self) -> IngestGuard {
        *self.ingesting.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        IngestGuard(self.ingesting.clone())
    }

    pub(crate) fn read_index(&self) -> Result<ImageIndex> {
        Ok(ImageIndex::load(&self.index_path)?)
    }

    /// Loads the index, applies `f` and saves the index when `f` changed it (an unchanged
    /// index costs no write and no fsync), all under the index lock.
    pub(crate) fn with_index<T>(&self, f: impl FnOnce(&mut ImageIndex) -> Result<T>) -> Result<T> {
        let _g = lock(&self.index_lock);
        let before = ImageIndex::load(&self.index_path)?;
        let mut idx = before.clone();
        let out = f(&mut idx)?;
        if idx != before {
            idx.save(&self.index_path)?;
        }
        Ok(out)
    }

    /// Stores an OCI image manifest for a stored config blob and stored layer descriptors
    /// (`{"mediaType", "digest", "size"}` objects) and returns the manifest's digest.
    pub(crate) fn put_manifest(
        &self,
        config_digest: &Digest,
        config_size: usize,
        layers: Vec<serde_json::Value>,
    ) -> Result<Digest> {
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest.to_string(),
                "size": config_size,
            },
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&manifest).expect("a JSON value serializes");
        Ok(self.content().put_bytes(&bytes)?)
    }

    /// Records an image whose manifest blob (and config and layer blobs) are already stored,
    /// and points `names` at it.
    pub(crate) fn commit_image(
        &self,
        manifest_digest: &Digest,
        names: &[Reference],
    ) -> Result<ImageSummary> {
        let manifest = self.read_manifest(manifest_digest)?;
        let config_digest = oci_digest(manifest.config().digest())?;
        let config = self.read_config(&config_digest)?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(ImageError::BadDocument {
                what: "image",
                digest: manifest_digest.clone(),
                reason: format!(
                    "{} layers in the manifest but {} diff-ids in the config",
                    manifest.layers().len(),
                    diff_ids.len()
                ),
            });
        }
        let mut layers = Vec::new();
        for (desc, diff) in manifest.layers().iter().zip(diff_ids) {
            let blob = oci_digest(desc.digest())?;
            if !self.content.contains(&blob) {
                return Err(StoreError::NotFound(blob).into());
            }
            let diff_id = diff
                .parse::<Digest>()
                .map_err(|e| ImageError::BadDocument {
                    what: "config diff-id",
                    digest: config_digest.clone(),
                    reason: e.to_string(),
                })?;
            layers.push(LayerRecord {
                blob,
                media_type: desc.media_type().to_string(),
                size: desc.size(),
                diff_id,
            });
        }
        let record = ImageRecord {
            config: config_digest,
            layers,
            created: config.created().clone(),
        };
        self.with_index(|idx| {
            idx.images.insert(manifest_digest.clone(), record.clone());
            for n in names {
                let n = n.clone();
                let n = if n.tag().is_none() && n.digest().is_none() {
                    n.with_tag(crate::reference::DEFAULT_TAG)?
                } else {
                    n
                };
                idx.refs.insert(n.to_string(), manifest_digest.clone());
            }
            Ok(summary(idx, manifest_digest, &record))
        })
    }

    /// Reads and parses a stored manifest.
    pub fn read_manifest(&self, digest: &Digest) -> Result<ImageManifest> {
        let data = self.content.read_blob(digest)?;
        ImageManifest::from_reader(&data[..]).map_err(|e| ImageError::BadDocument {
            what: "manifest",
            digest: digest.clone(),
            reason: e.to_string(),
        })
    }

    pub(crate) fn read_config(&self, digest: &Digest) -> Result<ImageConfiguration> {
        let data = self.content.read_blob(digest)?;
        ImageConfiguration::from_reader(&data[..]).map_err(|e| ImageError::BadDocument {
            what: "config",
            digest: digest.clone(),
            reason: e.to_string(),
        })
    }

    pub(crate) fn find(&self, idx: &ImageIndex, s: &str) -> Result<(Digest, ImageRecord)> {
        let found = |m: &Digest| idx.images.get(m).map(|r| (m.clone(), r.clone()));
        if let Ok(d) = s.parse::<Digest>() {
            if let Some(hit) = found(&d) {
                return Ok(hit);
            }
            if let Some((m, r)) = idx.images.iter().find(|(_, r)| r.config == d) {
                return Ok((m.clone(), r.clone()));
            }
        }
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        if hex.len() >= 4
            && hex.len() < 64
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            let hits: Vec<_> = idx
                .images
                .iter()
                .filter(|(_, r)| r.config.hex().starts_with(hex))
                .collect();
            match hits.as_slice() {
                [(m, r)] => return Ok(((*m).clone(), (*r).clone())),
                [] => {}
                _ => return Err(ImageError::Ambiguous(s.to_owned())),
            }
        }
        let r = Reference::parse_normalized(s).map_err(|e| match e {
            ReferenceError::HexName(_) => ImageError::NotFound(s.to_owned()),
            e => e.into(),
        })?;
        if let Some(d) = r.digest()
            && let Some(hit) = found(d)
        {
            return Ok(hit);
        }
        idx.refs
            .get(&r.to_string())
            .and_then(found)
            .ok_or_else(|| ImageError::NotFound(s.to_owned()))
    }

    /// Finds an image by reference (`nginx`, `x:1`, `x@sha256:…`), id, id prefix or manifest
    /// digest.
    pub fn resolve(&self, reference: &str) -> Result<ImageSummary> {
        let idx = self.read_index()?;
        let (m, r) = self.find(&idx, reference)?;
        Ok(summary(&idx, &m, &r))
    }

    pub(crate) fn resolve_record(
        &self,
        reference: &str,
    ) -> Result<(Digest, ImageRecord, Vec<String>)> {
        let idx = self.read_index()?;
        let (m, r) = self.find(&idx, reference)?;
        let refs = idx.refs_of(&m);
        Ok((m, r, refs))
    }

    /// The OCI config of an image.
    pub fn image_config(&self, reference: &str) -> Result<ImageConfiguration> {
        let (_, r, _) = self.resolve_record(reference)?;
        self.read_config(&r.config)
    }

    /// Every image, ordered by manifest digest.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let idx = self.read_index()?;
        Ok(idx
            .images
            .iter()
            .map(|(m, r)| summary(&idx, m, r))
            .collect())
    }

    /// Points `target` (a name with optional tag) at the image `source` names.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let t = Reference::parse_normalized(target)?;
        if t.digest().is_some() {
            return Err(ReferenceError::Tag {
                reference: target.to_owned(),
                tag: "a digest cannot be a tag target".into(),
            }
            .into());
        }
        self.with_index(|idx| {
            let (m, _) = self.find(idx, source)?;
            idx.refs.insert(t.to_string(), m);
            Ok(())
        })
    }

    /// Removes a reference (or, given an id or digest, every reference of that image), then
    /// collects garbage. An image used by a container is refused unless `force`, in which case
    /// only its names go: its content stays until the container releases it.
    pub fn remove(&self, reference: &str, force: bool) -> Result<RemoveReport> {
        let untagged = self.with_index(|idx| {
            let (m, _) = self.find(idx, reference)?;
            let by_name = Reference::parse_normalized(reference)
                .ok()
                .filter(|r| r.digest().is_none() && idx.refs.get(&r.to_string()) == Some(&m));
            let to_remove: Vec<String> = match by_name {
                Some(r) => vec![r.to_string()],
                None => idx.refs_of(&m),
            };
            let remaining = idx.refs_of(&m).len() - to_remove.len();
            let users = idx.leases_of(&m);
            if remaining == 0 && !users.is_empty() && !force {
                return Err(ImageError::InUse {
                    reference: reference.to_owned(),
                    containers: users,
                });
            }
            for r in &to_remove {
                idx.refs.remove(r);
            }
            Ok(to_remove.iter().map(|r| familiar(r)).collect::<Vec<_>>())
        })?;
        let deleted = self.gc()?;
        Ok(RemoveReport { untagged, deleted })
    }

    /// Builds the root filesystem mounts of a container from an image, unpacking its layers
    /// as needed, and leases the image to the container so it is never collected under it.
    pub fn prepare_rootfs(&self, container_id: &str, image: &str) -> Result<Vec<Mount>> {
        crate::snapshot::check_id(container_id)?;
        let _ingest = self.ingest_guard();
        let (manifest, record, fresh) = self.with_index(|idx| {
            let (m, r) = self.find(idx, image)?;
            let fresh = match idx.leases.get(container_id) {
                Some(existing) if *existing != m => {
                    return Err(ImageError::LeaseConflict {
                        container: container_id.to_owned(),
                        image: existing.clone(),
                    });
                }
                Some(_) => false,
                None => true,
            };
            idx.leases.insert(container_id.to_owned(), m.clone());
            Ok((m, r, fresh))
        })?;
        tracing::debug!(container = container_id, image = %manifest, "preparing rootfs");
        let prepared = self.unpack_and_plan(container_id, &record);
        if prepared.is_err() && fresh {
            let rollback = self.with_index(|idx| {
                idx.leases.remove(container_id);
                Ok(())
            });
            if let Err(e) = rollback {
                tracing::warn!(container = container_id, error = %e, "could not drop lease");
            }
        }
        prepared
    }

    fn unpack_and_plan(&self, container_id: &str, record: &ImageRecord) -> Result<Vec<Mount>> {
        let mut lowers = Vec::new();
        for l in &record.layers {
            let content = &self.content;
            let link = self.layers.ensure(
                &l.diff_id,
                || content.open_blob(&l.blob).map_err(std::io::Error::other),
                &self.unpack,
            )?;
            lowers.push(link);
        }
        Ok(self.snapshots.prepare(container_id, &lowers)?)
    }

    /// Unpacks every layer of an image that is not unpacked yet, several at once (each layer
    /// has its own directory), calling `on_layer` with each layer's blob digest when it is ready.
    pub fn unpack_image(&self, reference: &str, on_layer: impl Fn(&Digest) + Sync) -> Result<()> {
        let _ingest = self.ingest_guard();
        let idx = self.read_index()?;
        let (_, record) = self.find(&idx, reference)?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let first_error = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(l) = record.layers.get(i) else { break };
                        let content = &self.content;
                        let done = self.layers.ensure(
                            &l.diff_id,
                            || content.open_blob(&l.blob).map_err(std::io::Error::other),
                            &self.unpack,
                        );
                        match done {
                            Ok(_) => on_layer(&l.blob),
                            Err(e) => {
                                first_error
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .get_or_insert(e);
                                break;
                            }
                        }
                    }
                });
            }
        });
        match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Drops a container's writable layer and lease, then collects garbage. Releases running
    /// at the same time (a `down` of many containers) share index writes: the lease is queued,
    /// and whichever release holds the index lock next removes every queued lease in one
    /// write; a release whose lease another one already removed finds nothing left to write.
    /// Either way the removal is on disk when this returns.
    pub fn release(&self, container_id: &str) -> Result<()> {
        self.snapshots.release(container_id)?;
        lock(&self.releasing).insert(container_id.to_owned());
        let mut queued = BTreeSet::new();
        let dropped = self.with_index(|idx| {
            queued = std::mem::take(&mut *lock(&self.releasing));
            idx.leases.retain(|id, _| !queued.contains(id));
            Ok(())
        });
        if dropped.is_err() {
            // Not written: the leases stay queued for the next release to try again.
            lock(&self.releasing).extend(queued);
        }
        dropped?;
        self.gc()?;
        Ok(())
    }

    /// Deletes images, blobs and unpacked layers nothing references.
    pub fn gc(&self) -> Result<Garbage> {
        let active = self.ingesting.lock().unwrap_or_else(|e| e.into_inner());
        if *active > 0 {
            tracing::debug!(ingestions = *active, "garbage collection deferred");
            return Ok(Garbage::default());
        }
        let blobs = self.content.list()?;
        let layers = self.layers.list()?;
        let garbage = self.with_index(|idx| {
            let g = idx.garbage(&blobs, &layers);
            for m in &g.images {
                idx.images.remove(m);
            }
            Ok(g)
        })?;
        for b in &garbage.blobs {
            self.content.delete(b)?;
        }
        for l in &garbage.layers {
            self.layers.remove(l)?;
        }
        Ok(garbage)
    }
}

/// Ends an ingestion when dropped (see [`ImageStore::ingest_guard`]).
#[derive(Debug)]
pub(crate) struct IngestGuard(Arc<Mutex<usize>>);

impl Drop for IngestGuard {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    }
}

pub(crate) fn oci_digest(d: &oci_spec::image::Digest) -> Result<Digest> {
    d.to_string().parse::<Digest>().map_err(|e| {
        ImageError::Archive(crate::archive::ArchiveError::Invalid(format!(
            "digest {d}: {e}"
        )))
    })
}

fn summary(idx: &ImageIndex, manifest: &Digest, r: &ImageRecord) -> ImageSummary {
    ImageSummary {
        id: r.config.clone(),
        manifest: manifest.clone(),
        references: idx.refs_of(manifest).iter().map(|s| familiar(s)).collect(),
        size: r.layers.iter().map(|l| l.size).sum(),
        layers: r.layers.len(),
        created: r.created.clone(),
    }
}

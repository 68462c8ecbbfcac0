//! The few store operations an image builder needs beyond import and pull: keep garbage
//! collection away while a build holds layers no image references yet, unpack one layer for
//! use as an overlay lowerdir, and record an image from a config and already stored layer
//! blobs.

use crate::digest::Digest;
use crate::images::{IngestGuard, Result};
use crate::reference::Reference;
use crate::{ImageStore, ImageSummary};

/// Defers garbage collection of the store while alive (see [`ImageStore::hold_gc`]).
#[derive(Debug)]
pub struct GcHold(#[allow(dead_code)] IngestGuard);

/// A stored layer blob of a built image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// Digest of the blob.
    pub blob: Digest,
    /// Blob size.
    pub size: u64,
    /// OCI media type of the blob.
    pub media_type: String,
}

impl ImageStore {
    /// Keeps garbage collection from deleting blobs and layers that no image references
    /// yet (a build's intermediate layers) until the returned hold is dropped.
    pub fn hold_gc(&self) -> GcHold {
        GcHold(self.ingest_guard())
    }

    /// Unpacks a stored layer blob (if not yet) and returns its directory (the short link
    /// usable as an overlay lowerdir).
    pub fn unpacked_layer(&self, diff_id: &Digest, blob: &Digest) -> Result<std::path::PathBuf> {
        let content = self.content();
        Ok(self.layers().ensure(
            diff_id,
            || content.open_blob(blob).map_err(std::io::Error::other),
            &self.unpack,
        )?)
    }

    /// Records an image made of `config` (a complete image config document) and stored
    /// layer blobs (bottom first), and points `names` at it.
    pub fn put_image(
        &self,
        config: &[u8],
        layers: &[BuiltLayer],
        names: &[String],
    ) -> Result<ImageSummary> {
        let names = names
            .iter()
            .map(|n| Reference::parse_normalized(n))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let config_digest = self.content().put_bytes(config)?;
        let descs = layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "mediaType": l.media_type,
                    "digest": l.blob.to_string(),
                    "size": l.size,
                })
            })
            .collect();
        let manifest = self.put_manifest(&config_digest, config.len(), descs)?;
        self.commit_image(&manifest, &names)
    }
}

//! The image index: which references name which image, what each image is made of, and which
//! containers lease which image. Persisted as one JSON document with an atomic replace.
//!
//! Garbage collection is planned here as a pure function of the index and of what is on disk,
//! so the "never remove what an image or a container still uses" rule is unit-tested directly.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::store::{StoreError, write_atomic};

/// Errors of the index file.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading the file failed.
    #[error("read image index {path}: {source}")]
    Read {
        /// File.
        path: std::path::PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The file is not a valid index.
    #[error("parse image index {path}: {source}")]
    Parse {
        /// File.
        path: std::path::PathBuf,
        /// Cause.
        source: serde_json::Error,
    },
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] StoreError),
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the (possibly compressed) blob.
    pub blob: Digest,
    /// OCI media type of the blob.
    pub media_type: String,
    /// Blob size.
    pub size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
}

/// One image, keyed by its manifest digest in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Config blob digest (Docker's image id).
    pub config: Digest,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Creation time from the config, if any.
    #[serde(default)]
    pub created: Option<String>,
}

/// The whole index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIndex {
    /// Normalized reference → manifest digest.
    pub refs: BTreeMap<String, Digest>,
    /// Manifest digest → image.
    pub images: BTreeMap<Digest, ImageRecord>,
    /// Container id → manifest digest of the image its rootfs is built from.
    pub leases: BTreeMap<String, Digest>,
}

/// What garbage collection should delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Garbage {
    /// Image records no reference or lease keeps.
    pub images: Vec<Digest>,
    /// Blobs no kept image uses.
    pub blobs: Vec<Digest>,
    /// Unpacked layers (by diff-id) no kept image uses.
    pub layers: Vec<Digest>,
}

impl ImageIndex {
    /// Loads the index; a missing file is an empty index.
    pub fn load(path: &Path) -> Result<ImageIndex, IndexError> {
        match std::fs::read(path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|source| IndexError::Parse {
                path: path.to_owned(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ImageIndex::default()),
            Err(source) => Err(IndexError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Replaces the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let data = serde_json::to_vec_pretty(self).expect("the index always serializes");
        Ok(write_atomic(path, &data)?)
    }

    /// References naming a manifest.
    pub fn refs_of(&self, manifest: &Digest) -> Vec<String> {
        self.refs
            .iter()
            .filter(|(_, d)| *d == manifest)
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Containers leasing a manifest.
    pub fn leases_of(&self, manifest: &Digest) -> Vec<String> {
        self.leases
            .iter()
            .filter(|(_, d)| *d == manifest)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Plans garbage collection against the blobs and unpacked layers present on disk.
    pub fn garbage(&self, blobs: &[Digest], layers: &[Digest]) -> Garbage {
        let kept: BTreeSet<&Digest> = self.refs.values().chain(self.leases.values()).collect();
        let mut used_blobs = BTreeSet::new();
        let mut used_layers = BTreeSet::new();
        let mut g = Garbage::default();
        for (manifest, img) in &self.images {
            if !kept.contains(manifest) {
                g.images.push(manifest.clone());
                continue;
            }
            used_blobs.insert(manifest);
            used_blobs.insert(&img.config);
            for l in &img.layers {
                used_blobs.insert(&l.blob);
                used_layers.insert(&l.diff_id);
            }
        }
        g.blobs = blobs
            .iter()
            .filter(|b| !used_blobs.contains(b))
            .cloned()
            .collect();
        g.layers = layers
            .iter()
            .filter(|l| !used_layers.contains(l))
            .cloned()
            .collect();
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Algorithm;

    fn d(s: &str) -> Digest {
        Digest::of_bytes(Algorithm::Sha256, s.as_bytes())
    }

    fn layer(name: &str) -> LayerRecord {
        LayerRecord {
            blob: d(&format!("blob-{name}")),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            size: 1,
            diff_id: d(&format!("diff-{name}")),
        }
    }

    fn image(cfg: &str, layers: &[&str]) -> ImageRecord {
        ImageRecord {
            config: d(cfg),
            layers: layers.iter().map(|l| layer(l)).collect(),
            created: None,
        }
    }

    #[test]
    fn shared_and_leased_content_is_kept() {
        let mut idx = ImageIndex::default();
        idx.images.insert(d("m1"), image("c1", &["base", "app1"]));
        idx.images.insert(d("m2"), image("c2", &["base", "app2"]));
        idx.images.insert(d("m3"), image("c3", &["base", "app3"]));
        idx.refs
            .insert("docker.io/library/a:latest".into(), d("m1"));
        idx.leases.insert("ctr1".into(), d("m3"));
        let all_blobs: Vec<Digest> = [
            "m1",
            "m2",
            "m3",
            "c1",
            "c2",
            "c3",
            "blob-base",
            "blob-app1",
            "blob-app2",
            "blob-app3",
            "stray",
        ]
        .iter()
        .map(|s| d(s))
        .collect();
        let all_layers: Vec<Digest> = ["diff-base", "diff-app1", "diff-app2", "diff-app3"]
            .iter()
            .map(|s| d(s))
            .collect();
        let g = idx.garbage(&all_blobs, &all_layers);
        assert_eq!(g.images, vec![d("m2")]);
        let mut expected = vec![d("m2"), d("c2"), d("blob-app2"), d("stray")];
        expected.sort();
        let mut got = g.blobs.clone();
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(g.layers, vec![d("diff-app2")]);
    }

    #[test]
    fn persists_atomically_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("images.json");
        assert_eq!(ImageIndex::load(&p).unwrap(), ImageIndex::default());
        let mut idx = ImageIndex::default();
        idx.images.insert(d("m"), image("c", &["l"]));
        idx.refs.insert("x".into(), d("m"));
        idx.save(&p).unwrap();
        assert_eq!(ImageIndex::load(&p).unwrap(), idx);
        std::fs::write(&p, b"{not json").unwrap();
        assert!(matches!(
            ImageIndex::load(&p),
            Err(IndexError::Parse { .. })
        ));
    }
}

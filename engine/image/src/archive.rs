//! `docker save` / `docker load` archives.
//!
//! `save` writes what Docker 25+ writes: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) plus the legacy `manifest.json` and `repositories`, so both old and new
//! tools can load it. `load` accepts OCI layouts and the legacy layout (`<id>/layer.tar`,
//! `<id>.json`, `manifest.json`). Archives are untrusted: only regular files (and whole-file
//! symlinks, resolved inside the archive) are staged, into a fresh temp directory, with every
//! digest verified when copied into the store.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageConfiguration, ImageIndex as OciIndex, MediaType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::digest::{Algorithm, Digest, HashingReader};
use crate::images::{ImageError, ImageStore, ImageSummary, oci_digest};
use crate::reference::Reference;
use crate::unpack::{Compression, decompress};

/// Name prefix of the staging directories `load` creates under the data root.
pub(crate) const STAGING_PREFIX: &str = ".load-";
const MAX_JSON: u64 = 16 << 20;
const MAX_BLOB: u64 = 32 << 30;
const MAX_ENTRIES: usize = 100_000;

/// Errors specific to archives.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing the tar stream failed.
    #[error("archive i/o: {0}")]
    Io(#[from] io::Error),
    /// The archive is structurally invalid.
    #[error("invalid image archive: {0}")]
    Invalid(String),
    /// A layer whose content does not match the config's diff-id.
    #[error("layer {path} has diff-id {actual}, the config says {expected}")]
    DiffIdMismatch {
        /// Layer file in the archive.
        path: String,
        /// From the config.
        expected: String,
        /// Computed.
        actual: Digest,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> ImageError {
    ArchiveError::Invalid(msg.into()).into()
}

/// Regular files of an archive staged in a temp dir, plus its whole-file symlinks.
struct Staged {
    dir: tempfile::TempDir,
    links: HashMap<String, String>,
}

fn clean(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c if c.contains('\0') => return None,
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl Staged {
    fn stage(reader: impl Read, into: &Path) -> Result<Staged, ImageError> {
        let dir = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(into)
            .map_err(ArchiveError::Io)?;
        let mut links = HashMap::new();
        let mut archive = tar::Archive::new(decompress(reader).map_err(ArchiveError::Io)?);
        for (n, entry) in archive.entries().map_err(ArchiveError::Io)?.enumerate() {
            if n >= MAX_ENTRIES {
                return Err(invalid(format!("more than {MAX_ENTRIES} entries")));
            }
            let mut entry = entry.map_err(ArchiveError::Io)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            let Some(path) = clean(&raw).filter(|p| !raw.starts_with("../") && !p.is_empty())
            else {
                if kind.is_dir() {
                    continue;
                }
                return Err(invalid(format!("entry {raw:?} escapes the archive")));
            };
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let dest = dir.path().join(&path);
                    if let Some(parent) = dest.parent() {
                        fs::create_dir_all(parent).map_err(ArchiveError::Io)?;
                    }
                    let mut f = File::create(&dest).map_err(ArchiveError::Io)?;
                    io::copy(&mut (&mut entry).take(MAX_BLOB), &mut f).map_err(ArchiveError::Io)?;
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    let base = if kind == tar::EntryType::Symlink {
                        Path::new(&path)
                            .parent()
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    } else {
                        String::new()
                    };
                    let joined = if target.starts_with('/') {
                        target
                    } else {
                        format!("{base}/{target}")
                    };
                    if let Some(t) = clean(&joined) {
                        links.insert(path, t);
                    }
                }
                _ => {}
            }
        }
        Ok(Staged { dir, links })
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, ImageError> {
        let mut p = clean(path).ok_or_else(|| invalid(format!("bad path {path:?}")))?;
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => return Ok(self.dir.path().join(p)),
            }
        }
        Err(invalid(format!("symlink loop at {path:?}")))
    }

    fn exists(&self, path: &str) -> bool {
        self.resolve(path).is_ok_and(|p| p.is_file())
    }

    fn open(&self, path: &str) -> Result<File, ImageError> {
        File::open(self.resolve(path)?).map_err(|e| invalid(format!("{path}: {e}")))
    }

    fn read_json(&self, path: &str) -> Result<Vec<u8>, ImageError> {
        let mut out = Vec::new();
        self.open(path)?
            .take(MAX_JSON)
            .read_to_end(&mut out)
            .map_err(ArchiveError::Io)?;
        Ok(out)
    }
}

fn layer_media_type(c: Compression) -> &'static str {
    match c {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

impl ImageStore {
    /// Loads every image of a `docker save` archive (OCI layout or legacy layout).
    pub fn load(&self, reader: impl Read) -> Result<Vec<ImageSummary>, ImageError> {
        let _ingest = self.ingest_guard();
        let st = Staged::stage(reader, self.root())?;
        if st.exists("index.json") {
            self.load_oci(&st)
        } else if st.exists("manifest.json") {
            self.load_docker(&st)
        } else {
            Err(invalid("neither index.json nor manifest.json found"))
        }
    }

    fn copy_blob(&self, st: &Staged, d: &Digest, limit: u64) -> Result<(), ImageError> {
        if self.content().contains(d) {
            return Ok(());
        }
        let f = st.open(&format!("blobs/{}/{}", d.algorithm().name(), d.hex()))?;
        self.content().write_blob(f, Some(d), limit)?;
        Ok(())
    }

    fn load_oci(&self, st: &Staged) -> Result<Vec<ImageSummary>, ImageError> {
        let index = OciIndex::from_reader(&st.read_json("index.json")?[..])
            .map_err(|e| invalid(format!("index.json: {e}")))?;
        let mut out = Vec::new();
        for desc in index.manifests() {
            let mut digest = oci_digest(desc.digest())?;
            self.copy_blob(st, &digest, MAX_JSON)?;
            if *desc.media_type() == MediaType::ImageIndex
                || desc.media_type().to_string()
                    == "application/vnd.docker.distribution.manifest.list.v2+json"
            {
                let nested = OciIndex::from_reader(&self.content().read_blob(&digest)?[..])
                    .map_err(|e| invalid(format!("nested index {digest}: {e}")))?;
                let pick = nested
                    .manifests()
                    .iter()
                    .find(|m| {
                        m.platform().as_ref().is_some_and(|p| {
                            p.os().to_string() == "linux"
                                && p.architecture().to_string() == crate::import::go_arch()
                        })
                    })
                    .or_else(|| nested.manifests().first())
                    .ok_or_else(|| invalid(format!("empty index {digest}")))?;
                digest = oci_digest(pick.digest())?;
                self.copy_blob(st, &digest, MAX_JSON)?;
            }
            let manifest = self.read_manifest(&digest)?;
            self.copy_blob(st, &oci_digest(manifest.config().digest())?, MAX_JSON)?;
            for l in manifest.layers() {
                self.copy_blob(st, &oci_digest(l.digest())?, MAX_BLOB)?;
            }
            let ann = desc.annotations().clone().unwrap_or_default();
            let name = ann
                .get("io.containerd.image.name")
                .or_else(|| {
                    ann.get("org.opencontainers.image.ref.name")
                        .filter(|n| n.contains([':', '/']))
                })
                .map(|n| Reference::parse_normalized(n))
                .transpose()?;
            out.push(self.commit_image(&digest, &name.into_iter().collect::<Vec<_>>())?);
        }
        Ok(out)
    }

    fn load_docker(&self, st: &Staged) -> Result<Vec<ImageSummary>, ImageError> {
        let entries: Vec<DockerManifestEntry> =
            serde_json::from_slice(&st.read_json("manifest.json")?)
                .map_err(|e| invalid(format!("manifest.json: {e}")))?;
        let mut out = Vec::new();
        for e in entries {
            let config_bytes = st.read_json(&e.config)?;
            let config = ImageConfiguration::from_reader(&config_bytes[..])
                .map_err(|err| invalid(format!("{}: {err}", e.config)))?;
            let diff_ids = config.rootfs().diff_ids();
            if diff_ids.len() != e.layers.len() {
                return Err(invalid(format!(
                    "{}: layer count differs from its diff-ids",
                    e.config
                )));
            }
            let config_digest = self.content().put_bytes(&config_bytes)?;
            let mut layers = Vec::new();
            for (path, expected) in e.layers.iter().zip(diff_ids) {
                let mut head = [0u8; 4];
                let n = self.read_head(st, path, &mut head)?;
                let compression = Compression::detect(&head[..n]);
                let (blob, size) = self.content().write_blob(st.open(path)?, None, MAX_BLOB)?;
                let mut h = HashingReader::new(
                    decompress(self.content().open_blob(&blob)?).map_err(ArchiveError::Io)?,
                    Algorithm::Sha256,
                );
                io::copy(&mut h, &mut io::sink()).map_err(ArchiveError::Io)?;
                let (diff_id, _) = h.finish();
                if diff_id.to_string() != *expected {
                    return Err(ArchiveError::DiffIdMismatch {
                        path: path.clone(),
                        expected: expected.clone(),
                        actual: diff_id,
                    }
                    .into());
                }
                layers.push(json!({
                    "mediaType": layer_media_type(compression),
                    "digest": blob.to_string(),
                    "size": size,
                }));
            }
            let manifest_digest = self.put_manifest(&config_digest, config_bytes.len(), layers)?;
            let names = e
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse_normalized(t))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(self.commit_image(&manifest_digest, &names)?);
        }
        Ok(out)
    }

    fn read_head(&self, st: &Staged, path: &str, buf: &mut [u8]) -> Result<usize, ImageError> {
        let mut f = st.open(path)?;
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..]).map_err(ArchiveError::Io)? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }

    /// Writes the named images as a `docker save` archive (OCI layout + `manifest.json`).
    pub fn save(&self, images: &[&str], writer: impl Write) -> Result<(), ImageError> {
        let mut tar = tar::Builder::new(writer);
        let mut written = BTreeSet::new();
        let mut index = Vec::new();
        let mut legacy = Vec::new();
        let mut repositories: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_mtime(0);
            tar.append_data(&mut h, dir, io::empty())
                .map_err(ArchiveError::Io)?;
        }
        for name in images {
            let (manifest, record, refs) = self.resolve_record(name)?;
            let tags: Vec<Reference> = match Reference::parse_normalized(name) {
                Ok(r) if r.digest().is_none() && refs.contains(&r.to_string()) => vec![r],
                _ => refs
                    .iter()
                    .filter_map(|r| Reference::parse(r).ok())
                    .collect(),
            };
            let mut blobs = vec![manifest.clone(), record.config.clone()];
            blobs.extend(record.layers.iter().map(|l| l.blob.clone()));
            for b in &blobs {
                if written.insert(b.clone()) {
                    let mut h = tar::Header::new_ustar();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_mtime(0);
                    h.set_size(self.content().size(b)?);
                    let path = format!("blobs/{}/{}", b.algorithm().name(), b.hex());
                    tar.append_data(&mut h, path, self.content().open_blob(b)?)
                        .map_err(ArchiveError::Io)?;
                }
            }
            let size = self.content().size(&manifest)?;
            let desc = |ann: serde_json::Value| {
                json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest.to_string(),
                    "size": size,
                    "annotations": ann,
                })
            };
            if tags.is_empty() {
                index.push(desc(json!({})));
            }
            for t in &tags {
                index.push(desc(json!({
                    "io.containerd.image.name": t.to_string(),
                    "org.opencontainers.image.ref.name": t.tag().unwrap_or("latest"),
                })));
                if let (Some(tag), Some(top)) = (t.tag(), record.layers.last()) {
                    repositories
                        .entry(t.familiar_name())
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .expect("repositories entries are objects")
                        .insert(tag.to_owned(), json!(top.blob.hex()));
                }
            }
            legacy.push(DockerManifestEntry {
                config: format!("blobs/sha256/{}", record.config.hex()),
                repo_tags: Some(tags.iter().map(Reference::familiar).collect()),
                layers: record
                    .layers
                    .iter()
                    .map(|l| format!("blobs/{}/{}", l.blob.algorithm().name(), l.blob.hex()))
                    .collect(),
            });
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": index,
        });
        let files: [(&str, Vec<u8>); 4] = [
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            (
                "index.json",
                serde_json::to_vec(&index).expect("index serializes"),
            ),
            (
                "manifest.json",
                serde_json::to_vec(&legacy).expect("manifest serializes"),
            ),
            (
                "repositories",
                serde_json::to_vec(&repositories).expect("repositories serialize"),
            ),
        ];
        for (path, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_size(data.len() as u64);
            tar.append_data(&mut h, path, &data[..])
                .map_err(ArchiveError::Io)?;
        }
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(ArchiveError::Io)?;
        Ok(())
    }
}

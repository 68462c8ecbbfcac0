//! Pulling an image: resolve the manifest (choosing the platform's entry of an index), download
//! the config, then the layer blobs in parallel with retries, each streamed into the content
//! store with digest verification and a size cap and, in the same pass, unpacked into a staged
//! layer ([`crate::stream`]); then record the image under its reference.
//!
//! Progress is an event stream ([`PullEvent`]) delivered to a callback; the engine turns it into
//! Docker's progress JSON and the CLI into bars.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use futures_util::StreamExt;
use http_body_util::BodyExt;
use oci_spec::image::{ImageIndex as OciIndex, ImageManifest};
use tokio::sync::mpsc;

use crate::auth::Credentials;
use crate::digest::{Algorithm, Digest};
use crate::images::{ImageError, ImageStore, ImageSummary, oci_digest};
use crate::layers::StagedLayer;
use crate::reference::Reference;
use crate::registry::{
    Call, MAX_BLOB, MAX_MANIFEST, RegistryClient, RegistryError, Result, Session, Url, read_limited,
};
use crate::stream::{CHANNEL_FRAMES, StreamError, frame_reader, store_and_unpack};

/// Manifest media types a pull accepts.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// How many blobs download at once.
pub const PARALLEL_DOWNLOADS: usize = 4;
/// How many times a failed blob download is tried.
pub const ATTEMPTS: usize = 3;

/// A platform `os/arch[/variant]` (`linux/amd64`, `linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Operating system (`linux`).
    pub os: String,
    /// Go-style architecture (`amd64`, `arm64`).
    pub architecture: String,
    /// Variant (`v8`), if any.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of the running host.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: crate::import::go_arch().into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]`.
    pub fn parse(s: &str) -> std::result::Result<Platform, RegistryError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: parts.get(2).map(|v| (*v).to_owned()),
            }),
            _ => Err(RegistryError::Invalid(format!(
                "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
            ))),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Options of a pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Platform to pick from an image index (the host's by default).
    pub platform: Option<Platform>,
    /// Credentials for the registry (from `X-Registry-Auth` or config.json).
    pub credentials: Option<Credentials>,
}

/// One step of a pull, in order per blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The manifest is known: its digest and the layer blobs (digest, size) in order.
    Resolved {
        /// Manifest digest.
        manifest: Digest,
        /// Layer blobs.
        layers: Vec<(Digest, u64)>,
    },
    /// A blob is already in the store.
    Exists(Digest),
    /// Bytes of a blob received so far.
    Progress {
        /// The blob.
        blob: Digest,
        /// Bytes received.
        done: u64,
        /// Expected size.
        total: u64,
    },
    /// A blob is downloaded and verified.
    Downloaded(Digest),
}

/// Where pull events go.
pub type Progress = Arc<dyn Fn(PullEvent) + Send + Sync>;

/// Picks the manifest of `want` from an index (an exact variant match is preferred).
fn pick_platform(index: &OciIndex, want: &Platform) -> Result<Digest> {
    let matches = |m: &&oci_spec::image::Descriptor, strict: bool| {
        m.platform().as_ref().is_some_and(|p| {
            p.os().to_string() == want.os
                && p.architecture().to_string() == want.architecture
                && (!strict
                    || want.variant.is_none()
                    || p.variant().as_deref() == want.variant.as_deref())
        })
    };
    let m = index
        .manifests()
        .iter()
        .find(|m| matches(m, true))
        .or_else(|| index.manifests().iter().find(|m| matches(m, false)))
        .ok_or_else(|| RegistryError::NoPlatform(want.to_string()))?;
    oci_digest(m.digest()).map_err(|e| RegistryError::Invalid(e.to_string()))
}

impl RegistryClient {
    async fn manifest(
        &self,
        base: &Url,
        repo: &str,
        target: &str,
        session: &mut Session,
    ) -> Result<Vec<u8>> {
        let url = base.join(&format!("/v2/{repo}/manifests/{target}"))?;
        let resp = self
            .fetch(Call::get(url.clone()).header("accept", ACCEPT), session)
            .await?;
        read_limited(resp, &url, MAX_MANIFEST).await
    }

    /// Pulls `reference` into `store` and names the image after it.
    pub async fn pull(
        &self,
        store: &ImageStore,
        reference: &str,
    ) -> std::result::Result<ImageSummary, ImageError> {
        self.pull_with(store, reference, &PullOptions::default(), Arc::new(|_| {}))
            .await
    }

    /// Pulls `reference` into `store` with `opts`, reporting each step to `progress`.
    /// Docker Hub references go to the configured mirrors first, then to Docker Hub.
    pub async fn pull_with(
        &self,
        store: &ImageStore,
        reference: &str,
        opts: &PullOptions,
        progress: Progress,
    ) -> std::result::Result<ImageSummary, ImageError> {
        let r = Reference::parse_normalized(reference)?;
        let bases = self.bases(r.domain()).await?;
        let mut last = None;
        for (i, base) in bases.iter().enumerate() {
            match self.pull_from(store, base, &r, opts, &progress).await {
                Ok(s) => return Ok(s),
                Err(e) if i + 1 < bases.len() => {
                    tracing::warn!(mirror = %base, error = %e, "mirror failed, trying the next");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last
            .unwrap_or_else(|| RegistryError::Invalid("no registry to pull from".into()).into()))
    }

    async fn pull_from(
        &self,
        store: &ImageStore,
        base: &Url,
        r: &Reference,
        opts: &PullOptions,
        progress: &Progress,
    ) -> std::result::Result<ImageSummary, ImageError> {
        let mut session = Session {
            credentials: opts.credentials.clone(),
            authorization: None,
        };
        let target = r
            .digest()
            .map_or_else(|| r.tag().unwrap_or("latest").to_owned(), Digest::to_string);
        let mut bytes = self.manifest(base, r.path(), &target, &mut session).await?;
        let mut digest = Digest::of_bytes(Algorithm::Sha256, &bytes);
        if let Some(expected) = r.digest()
            && Digest::of_bytes(expected.algorithm(), &bytes) != *expected
        {
            return Err(
                RegistryError::Invalid(format!("manifest does not match {expected}")).into(),
            );
        }
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid(e.to_string()))?;
        if doc.get("manifests").is_some() {
            let index = OciIndex::from_reader(&bytes[..])
                .map_err(|e| RegistryError::Invalid(e.to_string()))?;
            let want = pick_platform(
                &index,
                &opts.platform.clone().unwrap_or_else(Platform::host),
            )?;
            bytes = self
                .manifest(base, r.path(), &want.to_string(), &mut session)
                .await?;
            digest = Digest::of_bytes(want.algorithm(), &bytes);
            if digest != want {
                return Err(
                    RegistryError::Invalid(format!("manifest does not match {want}")).into(),
                );
            }
        }
        let manifest = ImageManifest::from_reader(&bytes[..])
            .map_err(|e| RegistryError::Invalid(e.to_string()))?;
        let _ingest = store.ingest_guard();
        let mut layers = Vec::new();
        for l in manifest.layers() {
            layers.push((oci_digest(l.digest())?, l.size()));
        }
        progress(PullEvent::Resolved {
            manifest: digest.clone(),
            layers: layers.clone(),
        });
        let config = (
            oci_digest(manifest.config().digest())?,
            manifest.config().size(),
        );
        let session = session;
        // The config first: its diff-ids name the layers, unpacked while they download.
        self.blob_with_retries(store, base, r.path(), &config, None, &session, progress)
            .await?;
        let diff_ids = streamable_layers(store, &config.0, layers.len());
        let started = Instant::now();
        let writeback = Arc::new(AtomicBool::new(false));
        let results: Vec<Result<Option<StagedLayer>>> =
            futures_util::stream::iter(layers.into_iter().zip(diff_ids))
                .map(|(blob, diff_id)| {
                    let (session, writeback) = (&session, &writeback);
                    async move {
                        let diff_id = diff_id.filter(|d| !store.layers().contains(d));
                        let staged = self
                            .blob_with_retries(
                                store,
                                base,
                                r.path(),
                                &blob,
                                diff_id.as_ref(),
                                session,
                                progress,
                            )
                            .await?;
                        // The disk writes this layer back while the others unpack.
                        store.content().start_writeback(writeback);
                        Ok(staged)
                    }
                })
                .buffer_unordered(PARALLEL_DOWNLOADS)
                .collect()
                .await;
        let mut staged = Vec::new();
        for res in results {
            staged.extend(res?);
        }
        let fetched = started.elapsed();
        // One syncfs makes the blobs and the staged layers' files durable; only then do the
        // layers appear under their diff-ids.
        store.content().sync().map_err(RegistryError::from)?;
        let synced = started.elapsed();
        store.layers().commit_all(staged)?;
        tracing::debug!(
            layers_ms = fetched.as_millis(),
            syncfs_ms = (synced - fetched).as_millis(),
            commit_ms = (started.elapsed() - synced).as_millis(),
            "pull: layers fetched and unpacked, synced, committed"
        );
        let (stored, _) = store
            .content()
            .write_blob(&bytes[..], Some(&digest), MAX_MANIFEST)
            .map_err(RegistryError::from)?;
        store.commit_image(&stored, std::slice::from_ref(r))
    }

    /// Downloads a blob unless the store has it, trying again on transient errors; a layer
    /// given its diff-id is unpacked while it downloads (see [`Self::blob`]).
    #[allow(clippy::too_many_arguments)]
    async fn blob_with_retries(
        &self,
        store: &ImageStore,
        base: &Url,
        repo: &str,
        (digest, size): &(Digest, u64),
        diff_id: Option<&Digest>,
        session: &Session,
        progress: &Progress,
    ) -> Result<Option<StagedLayer>> {
        if store.content().contains(digest) {
            progress(PullEvent::Exists(digest.clone()));
            return Ok(None);
        }
        let mut session = session.clone();
        let mut attempt = 1;
        loop {
            match self
                .blob(
                    store,
                    base,
                    repo,
                    digest,
                    *size,
                    diff_id,
                    &mut session,
                    progress,
                )
                .await
            {
                Err(e) if e.retryable() && attempt < ATTEMPTS => {
                    tracing::warn!(blob = %digest, attempt, error = %e, "retrying blob");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Downloads one blob into the content store. With `diff_id` (a layer not unpacked yet),
    /// the body is also unpacked in the same pass into a staged layer, returned once the blob
    /// and the diff-id both verified ([`crate::stream`]).
    #[allow(clippy::too_many_arguments)]
    async fn blob(
        &self,
        store: &ImageStore,
        base: &Url,
        repo: &str,
        digest: &Digest,
        size: u64,
        diff_id: Option<&Digest>,
        session: &mut Session,
        progress: &Progress,
    ) -> Result<Option<StagedLayer>> {
        let started = Instant::now();
        let url = base.join(&format!("/v2/{repo}/blobs/{digest}"))?;
        let resp = self.fetch(Call::get(url.clone()), session).await?;
        let limit = size.min(MAX_BLOB);
        let too_large = || RegistryError::TooLarge {
            url: url.to_string(),
            limit,
        };
        let w = store.content().writer(digest.algorithm(), limit)?;
        let (mut w, mut unpacker) = match diff_id {
            None => (Some(w), None),
            Some(diff_id) => {
                let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
                let (layers, opts) = (store.layers().clone(), store.unpack.clone());
                let (digest, diff_id) = (digest.clone(), diff_id.clone());
                let frames = frame_reader(rx);
                let task = tokio::task::spawn_blocking(move || {
                    store_and_unpack(frames, w, &digest, &diff_id, &layers, &opts)
                });
                (None, Some((tx, task)))
            }
        };
        let mut body = resp.into_body();
        let (mut done, mut reported) = (0u64, 0u64);
        let mut failed = None;
        while let Some(frame) = body.frame().await {
            let data = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
                Err(source) => {
                    failed = Some(RegistryError::Http {
                        url: url.to_string(),
                        source,
                    });
                    break;
                }
            };
            done += data.len() as u64;
            if done > limit {
                failed = Some(too_large());
                break;
            }
            if let Some(w) = &mut w {
                if w.write_all(&data).is_err() {
                    return Err(if w.exceeded() {
                        too_large()
                    } else {
                        RegistryError::Invalid(format!("writing blob {digest} failed"))
                    });
                }
            } else if let Some((tx, _)) = &unpacker
                && tx.send(Ok(data)).await.is_err()
            {
                // The unpacker stopped early; its error is reported below.
                break;
            }
            if done - reported >= 256 << 10 || done == size {
                reported = done;
                progress(PullEvent::Progress {
                    blob: digest.clone(),
                    done,
                    total: size,
                });
            }
        }
        let received = started.elapsed();
        let staged = match unpacker.take() {
            None => {
                if let Some(e) = failed {
                    return Err(e);
                }
                if let Some(w) = w {
                    w.commit_deferred(Some(digest))?;
                }
                None
            }
            Some((tx, task)) => {
                if failed.is_some() {
                    let _ = tx.send(Err(std::io::Error::other("download failed"))).await;
                }
                drop(tx);
                let unpacked = task
                    .await
                    .map_err(|e| RegistryError::Invalid(format!("layer unpack task: {e}")))?;
                // A transport error is the cause; the unpacker only saw its consequence.
                if let Some(e) = failed {
                    return Err(e);
                }
                Some(unpacked.map_err(|e| match e {
                    StreamError::TooLarge { .. } => too_large(),
                    StreamError::Store(e) => RegistryError::Store(e),
                    StreamError::Layer(e) => RegistryError::Layer(Box::new(e)),
                    StreamError::Io(e) => {
                        RegistryError::Invalid(format!("writing blob {digest}: {e}"))
                    }
                })?)
            }
        };
        tracing::debug!(
            blob = %digest,
            bytes = done,
            received_ms = received.as_millis(),
            done_ms = started.elapsed().as_millis(),
            unpacked = staged.is_some(),
            "pull: blob stored"
        );
        progress(PullEvent::Downloaded(digest.clone()));
        Ok(staged)
    }
}

/// The diff-id of each layer, from the stored config; `None` where it cannot be told (a config
/// that does not parse or does not match the manifest: such layers are only downloaded, and
/// recording the image reports the problem).
fn streamable_layers(store: &ImageStore, config: &Digest, layers: usize) -> Vec<Option<Digest>> {
    let diff_ids = store
        .read_config(config)
        .ok()
        .map(|c| c.rootfs().diff_ids().clone())
        .filter(|d| d.len() == layers);
    match diff_ids {
        Some(d) => d.iter().map(|d| d.parse().ok()).collect(),
        None => vec![None; layers],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_print() {
        let p = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert_eq!(Platform::parse("linux/amd64").unwrap().variant, None);
        for bad in ["", "linux", "linux//x", "a/b/c/d"] {
            let e = Platform::parse(bad).unwrap_err();
            assert!(e.to_string().contains("os/arch"), "{bad}: {e}");
        }
    }

    #[test]
    fn index_selection_prefers_the_exact_variant() {
        let index: OciIndex = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
                 "digest": format!("sha256:{}", "a".repeat(64)),
                 "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
                 "digest": format!("sha256:{}", "b".repeat(64)),
                 "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
                 "digest": format!("sha256:{}", "c".repeat(64)),
                 "platform": {"os": "linux", "architecture": "amd64"}}
            ]
        }))
        .unwrap();
        let pick = |s: &str| {
            pick_platform(&index, &Platform::parse(s).unwrap()).map(|d| d.hex()[..1].to_owned())
        };
        assert_eq!(pick("linux/arm/v7").unwrap(), "b");
        assert_eq!(pick("linux/arm").unwrap(), "a");
        assert_eq!(pick("linux/amd64").unwrap(), "c");
        let e = pick("linux/s390x").unwrap_err();
        assert!(e.to_string().contains("linux/s390x"), "{e}");
    }
}

//! `docker save`, `docker load`, `docker history` and `docker image prune` on the real
//! backend.
//!
//! Saving streams the store's archive writer through a pipe (a blocking thread writes, the
//! response reads), so a large image is never held in memory; names are resolved first so an
//! unknown one is a 404, not a truncated tarball. Loading bridges the request body to the
//! store's reader, then unpacks every loaded layer with the root-confined unpacker, so a
//! hostile layer fails the load (and a newly loaded image that fails is removed again).

use berth_image::ImageError;
use tokio_util::io::{ReaderStream, SyncIoBridge};

use super::RealBackend;
use super::body::RequestBody;
use super::images::image_err;
use crate::api::models::{HistoryResponseItem, ImageDeleteItem, ImagePruneResponse};
use crate::backend::{BackendResult, ByteStream};

/// Pipe size between the archive writer and the response.
const PIPE: usize = 1 << 20;

fn unix_secs(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

impl RealBackend {
    pub(super) async fn image_save(&self, names: Vec<String>) -> BackendResult<ByteStream> {
        let this = self.clone();
        let checked = names.clone();
        super::blocking(move || {
            for n in &checked {
                this.inner.images.resolve(n).map_err(|e| image_err(n, e))?;
            }
            Ok(())
        })
        .await?;
        let (writer, reader) = tokio::io::duplex(PIPE);
        let writer = SyncIoBridge::new(writer);
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            if let Err(e) = store.inner.images.save(&refs, writer) {
                tracing::warn!(images = ?names, error = %e, "docker save failed half-way");
            }
        });
        Ok(Box::pin(ReaderStream::with_capacity(reader, PIPE)))
    }

    pub(super) async fn image_load(&self, source: ByteStream) -> BackendResult<Vec<String>> {
        let body = RequestBody::new(source);
        let this = self.clone();
        super::blocking(move || {
            let images = &this.inner.images;
            let known: std::collections::HashSet<String> = images
                .list()
                .map_err(|e| image_err("", e))?
                .into_iter()
                .map(|s| s.id.to_string())
                .collect();
            let loaded = body
                .consume(|reader| images.load(reader))
                .map_err(|e| image_err("", e))?;
            let mut lines = Vec::new();
            for s in &loaded {
                let id = s.id.to_string();
                if let Err(e) = images.unpack_image(&id, |_| {}) {
                    if !known.contains(&id) {
                        let _ = images.remove(&id, true);
                    }
                    return Err(image_err(&id, e));
                }
                this.image_event("load", &id, s.references.first().unwrap_or(&id));
                if s.references.is_empty() {
                    lines.push(format!("Loaded image ID: {id}"));
                }
                lines.extend(s.references.iter().map(|r| format!("Loaded image: {r}")));
            }
            Ok(lines)
        })
        .await
    }

    pub(super) async fn image_steps(&self, name: &str) -> BackendResult<Vec<HistoryResponseItem>> {
        let (this, name) = (self.clone(), name.to_owned());
        super::blocking(move || {
            let steps = this
                .inner
                .images
                .history(&name)
                .map_err(|e| image_err(&name, e))?;
            Ok(steps
                .into_iter()
                .map(|h| HistoryResponseItem {
                    id: h
                        .id
                        .map_or_else(|| "<missing>".to_owned(), |d| d.to_string()),
                    created: unix_secs(h.created.as_deref()),
                    created_by: h.created_by,
                    tags: h.tags,
                    size: h.size as i64,
                    comment: h.comment,
                })
                .collect())
        })
        .await
    }

    pub(super) async fn image_prune(&self, all: bool) -> BackendResult<ImagePruneResponse> {
        let this = self.clone();
        super::blocking(move || {
            let report = this
                .inner
                .images
                .prune(all)
                .map_err(|e: ImageError| image_err("", e))?;
            for d in &report.deleted.images {
                this.image_event("delete", &d.to_string(), "");
            }
            let untagged = report.untagged.into_iter().map(|u| ImageDeleteItem {
                untagged: Some(u),
                deleted: None,
            });
            let deleted = report.deleted.images.into_iter().map(|d| ImageDeleteItem {
                untagged: None,
                deleted: Some(d.to_string()),
            });
            Ok(ImagePruneResponse {
                images_deleted: untagged.chain(deleted).collect(),
                space_reclaimed: report.reclaimed,
            })
        })
        .await
    }
}

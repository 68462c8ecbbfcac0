//! Image operations of the fake engine beyond pull/tag/remove: import. Kept apart from
//! `objects.rs` so the image verbs grow without crowding networks and volumes.

use std::collections::BTreeMap;
use std::time::SystemTime;

use futures_util::StreamExt;

use super::FakeBackend;
use super::objects::FakeImage;
use super::util::{normalize_ref, valid_reference};
use crate::backend::{BackendError, BackendResult, ByteStream, ImportImageOptions};

/// The `CMD` an import's changes set, in exec form (`CMD ["a"]`) or shell form (`CMD a b`).
fn cmd_of(changes: &[String]) -> BackendResult<Vec<String>> {
    let mut cmd = Vec::new();
    for change in changes {
        let (word, arg) = change.trim().split_once(' ').unwrap_or((change.trim(), ""));
        match word.to_ascii_uppercase().as_str() {
            "CMD" if arg.trim_start().starts_with('[') => {
                cmd = serde_json::from_str(arg.trim()).map_err(|e| {
                    BackendError::invalid(format!("invalid --change {change:?}: {e}"))
                })?;
            }
            "CMD" => cmd = vec!["/bin/sh".into(), "-c".into(), arg.trim().to_owned()],
            "ENTRYPOINT" | "ENV" | "EXPOSE" | "LABEL" | "USER" | "VOLUME" | "WORKDIR"
            | "STOPSIGNAL" | "ONBUILD" => {}
            _ => {
                return Err(BackendError::invalid(format!(
                    "unsupported --change instruction {change:?}"
                )));
            }
        }
    }
    Ok(cmd)
}

impl FakeBackend {
    /// `docker import`: the id is the digest of the tarball bytes; only `CMD` is kept.
    pub(super) async fn import_image_impl(
        &self,
        mut source: ByteStream,
        opts: ImportImageOptions,
    ) -> BackendResult<String> {
        let cmd = cmd_of(&opts.changes)?;
        let norm = match opts.reference.as_deref() {
            Some(r) if !valid_reference(r) => {
                return Err(BackendError::invalid(format!(
                    "invalid reference format: {r:?}"
                )));
            }
            Some(r) => Some(normalize_ref(r)),
            None => None,
        };
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        while let Some(chunk) = source.next().await {
            let chunk = chunk.map_err(|e| {
                BackendError::invalid(format!("reading the import body failed: {e}"))
            })?;
            sha2::Digest::update(&mut hasher, &chunk);
        }
        let id = format!("sha256:{}", hex::encode(sha2::Digest::finalize(hasher)));
        let mut st = self.lock();
        if let Some(norm) = &norm {
            for other in st.images.values_mut() {
                other.tags.retain(|t| t != norm);
            }
        }
        let img = st.images.entry(id.clone()).or_insert_with(|| FakeImage {
            id: id.clone(),
            tags: Vec::new(),
            created: SystemTime::now(),
            cmd: cmd.clone(),
        });
        img.cmd = cmd;
        img.tags.extend(norm.clone());
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_owned(), norm.unwrap_or_else(|| id.clone()));
        self.emit(&mut st, "image", "import", &id, attrs);
        Ok(id)
    }
}

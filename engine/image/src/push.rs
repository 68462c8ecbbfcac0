//! Pushing an image: each layer and the config are checked on the registry (`HEAD`), mounted
//! from another repository of the same registry when the store knows one holding it, or
//! uploaded (`POST` then one monolithic `PUT ?digest=`); then the manifest is put under the tag.
//! The exact stored manifest bytes are sent, so the pushed digest equals the local one.

use std::sync::Arc;

use hyper::Method;

use crate::auth::Credentials;
use crate::digest::Digest;
use crate::images::{ImageError, ImageStore, oci_digest};
use crate::reference::Reference;
use crate::registry::{Call, RegistryClient, RegistryError, Result, Session, Url};

/// One step of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// The layers to push, in order.
    Preparing(Vec<Digest>),
    /// The registry already has the blob.
    Exists(Digest),
    /// The blob was mounted from another repository.
    Mounted(Digest),
    /// The blob was uploaded.
    Pushed(Digest),
    /// The manifest is in place: the tag, the manifest digest and its size.
    Done {
        /// Tag pushed.
        tag: String,
        /// Manifest digest.
        digest: Digest,
        /// Manifest size.
        size: u64,
    },
}

/// Where push events go.
pub type PushProgress = Arc<dyn Fn(PushEvent) + Send + Sync>;

fn upload_url(base: &Url, location: &str, digest: &Digest) -> Result<Url> {
    let mut url = base.join(location)?;
    let sep = if url.path.contains('?') { '&' } else { '?' };
    url.path = format!("{}{sep}digest={}", url.path, digest);
    Ok(url)
}

fn location(resp: &hyper::Response<hyper::body::Incoming>) -> Result<String> {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| RegistryError::Invalid("upload answer without Location".into()))
}

impl RegistryClient {
    /// Pushes the local image `reference` to its registry under its own name and tag.
    pub async fn push(
        &self,
        store: &ImageStore,
        reference: &str,
        credentials: Option<Credentials>,
        progress: PushProgress,
    ) -> std::result::Result<Digest, ImageError> {
        let r = Reference::parse_normalized(reference)?;
        let r = if r.tag().is_none() && r.digest().is_none() {
            r.with_tag(crate::reference::DEFAULT_TAG)?
        } else {
            r
        };
        let local = store.resolve(&r.to_string())?;
        let manifest_bytes = store.content().read_blob(&local.manifest)?;
        let manifest = store.read_manifest(&local.manifest)?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_owned());
        let mut layers = Vec::new();
        for l in manifest.layers() {
            layers.push(oci_digest(l.digest())?);
        }
        progress(PushEvent::Preparing(layers.clone()));
        let base = self.base(r.domain()).await?;
        let mut session = Session {
            credentials,
            authorization: None,
        };
        let mounts: Vec<String> = local
            .references
            .iter()
            .filter_map(|n| Reference::parse_normalized(n).ok())
            .filter(|n| n.domain() == r.domain() && n.path() != r.path())
            .map(|n| n.path().to_owned())
            .collect();
        let mut blobs = layers;
        blobs.push(oci_digest(manifest.config().digest())?);
        for d in &blobs {
            let ev = self
                .push_blob(store, &base, r.path(), d, &mounts, &mut session)
                .await?;
            progress(ev);
        }
        let tag = r.tag().unwrap_or(crate::reference::DEFAULT_TAG).to_owned();
        let target = r.digest().map_or_else(|| tag.clone(), Digest::to_string);
        let url = base.join(&format!("/v2/{}/manifests/{target}", r.path()))?;
        let call = Call {
            method: Method::PUT,
            url,
            headers: vec![("content-type", media_type)],
            body: manifest_bytes.clone().into(),
        };
        self.fetch(call, &mut session).await?;
        progress(PushEvent::Done {
            tag,
            digest: local.manifest.clone(),
            size: manifest_bytes.len() as u64,
        });
        Ok(local.manifest)
    }

    async fn push_blob(
        &self,
        store: &ImageStore,
        base: &Url,
        repo: &str,
        d: &Digest,
        mounts: &[String],
        session: &mut Session,
    ) -> Result<PushEvent> {
        let head = Call {
            method: Method::HEAD,
            ..Call::get(base.join(&format!("/v2/{repo}/blobs/{d}"))?)
        };
        if self.exchange(head, session).await?.status().is_success() {
            return Ok(PushEvent::Exists(d.clone()));
        }
        // One mount attempt: when it fails the registry answers with a fresh upload session.
        let mut upload = None;
        if let Some(from) = mounts.first() {
            let url = base.join(&format!("/v2/{repo}/blobs/uploads/?mount={d}&from={from}"))?;
            let call = Call {
                method: Method::POST,
                ..Call::get(url)
            };
            let resp = self.fetch(call, session).await?;
            if resp.status() == hyper::StatusCode::CREATED {
                return Ok(PushEvent::Mounted(d.clone()));
            }
            upload = Some(location(&resp)?);
        }
        let loc = match upload {
            Some(l) => l,
            None => {
                let url = base.join(&format!("/v2/{repo}/blobs/uploads/"))?;
                let call = Call {
                    method: Method::POST,
                    ..Call::get(url)
                };
                location(&self.fetch(call, session).await?)?
            }
        };
        let data = store.content().read_blob(d)?;
        let call = Call {
            method: Method::PUT,
            url: upload_url(base, &loc, d)?,
            headers: vec![("content-type", "application/octet-stream".to_owned())],
            body: data.into(),
        };
        self.fetch(call, session).await?;
        Ok(PushEvent::Pushed(d.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_urls_keep_the_session_query() {
        let base = Url::parse("http://127.0.0.1:5000/").unwrap();
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let u = upload_url(&base, "/v2/x/blobs/uploads/abc?_state=s", &d).unwrap();
        assert_eq!(
            u.path,
            format!("/v2/x/blobs/uploads/abc?_state=s&digest={d}")
        );
        let u = upload_url(&base, "http://127.0.0.1:5000/v2/x/blobs/uploads/abc", &d).unwrap();
        assert_eq!(u.path, format!("/v2/x/blobs/uploads/abc?digest={d}"));
    }
}

//! `POST /images/create?fromImage=` on the real backend: the pull runs as its own task, its
//! [`PullEvent`]s become Docker's per-layer progress JSON (`Pulling fs layer`, `Downloading`
//! with `progressDetail`, `Download complete`, `Already exists`, `Pull complete`), and the layers
//! are unpacked before the pull reports success, as `docker pull` does.
//!
//! A failure before the first event (bad reference, unknown manifest, refused credentials) is an
//! HTTP error; one after it is an `error` line in the stream, as in Docker.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use berth_image::digest::Digest;
use berth_image::images::ImageError;
use berth_image::registry::RegistryError;
use berth_image::{
    Credentials, Platform, PullEvent, PullOptions, Reference, RegistryClient, RegistryOptions,
};
use tokio::sync::mpsc;

use super::RealBackend;
use crate::api::models::{ProgressDetail, ProgressMessage};
use crate::backend::{BackendError, BackendResult, BoxStream, ErrorKind};

/// Options of a pull beyond the reference.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// `os/arch[/variant]`.
    pub platform: Option<String>,
    /// The `X-Registry-Auth` header, if the client sent one.
    pub registry_auth: Option<String>,
}

enum Item {
    Msg(ProgressMessage),
    Fail(BackendError),
}

fn short(d: &Digest) -> String {
    d.hex()[..12.min(d.hex().len())].to_owned()
}

fn msg(status: &str, id: Option<String>) -> ProgressMessage {
    ProgressMessage {
        id,
        status: status.to_owned(),
        ..ProgressMessage::default()
    }
}

/// Docker's size text (`1.23MB`, decimal units).
fn size_text(n: u64) -> String {
    let mut v = n as f64;
    let mut unit = "B";
    for next in ["kB", "MB", "GB", "TB"] {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = next;
    }
    if unit == "B" {
        format!("{n}B")
    } else {
        let num = format!("{v:.3}");
        format!("{}{unit}", num.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// Docker's progress bar text: `[=====>      ]  1.2MB/3.4MB`.
fn bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 50;
    let filled = (done.min(total) * WIDTH).checked_div(total).unwrap_or(0) as usize;
    let mut s = String::from("[");
    s.push_str(&"=".repeat(filled.saturating_sub(1)));
    if filled > 0 {
        s.push('>');
    }
    s.push_str(&" ".repeat(WIDTH as usize - filled));
    format!("{s}]  {}/{}", size_text(done), size_text(total))
}

/// The message of one pull event, if Docker shows one for it.
fn render(event: &PullEvent, layers: &Mutex<HashSet<Digest>>) -> Vec<ProgressMessage> {
    let mut known = layers.lock().unwrap_or_else(|e| e.into_inner());
    match event {
        PullEvent::Resolved { layers: ls, .. } => {
            known.extend(ls.iter().map(|(d, _)| d.clone()));
            ls.iter()
                .map(|(d, _)| ProgressMessage {
                    progress_detail: Some(ProgressDetail::default()),
                    ..msg("Pulling fs layer", Some(short(d)))
                })
                .collect()
        }
        PullEvent::Exists(d) if known.contains(d) => {
            vec![msg("Already exists", Some(short(d)))]
        }
        PullEvent::Progress { blob, done, total } if known.contains(blob) => {
            vec![ProgressMessage {
                progress: Some(bar(*done, *total)),
                progress_detail: Some(ProgressDetail {
                    current: *done as i64,
                    total: *total as i64,
                }),
                ..msg("Downloading", Some(short(blob)))
            }]
        }
        PullEvent::Downloaded(d) if known.contains(d) => {
            vec![msg("Download complete", Some(short(d)))]
        }
        _ => Vec::new(),
    }
}

/// The backend error of a failed pull of `reference`.
fn pull_err(reference: &str, e: ImageError) -> BackendError {
    let (kind, message) = match &e {
        ImageError::Reference(_) => (
            ErrorKind::InvalidArgument,
            format!("invalid reference format: {e}"),
        ),
        ImageError::Registry(r) => match **r {
            RegistryError::Status { status: 404, .. } => (
                ErrorKind::NotFound,
                format!("manifest for {reference} not found: manifest unknown"),
            ),
            RegistryError::Auth(_) => (ErrorKind::Forbidden, e.to_string()),
            RegistryError::Tls { .. }
            | RegistryError::TlsConfig(_)
            | RegistryError::NoPlatform(_) => (ErrorKind::InvalidArgument, e.to_string()),
            _ => (ErrorKind::Internal, e.to_string()),
        },
        _ => (ErrorKind::Internal, e.to_string()),
    };
    BackendError::new(kind, message).with_source(e)
}

impl RealBackend {
    /// Sets where pulls and pushes may go (daemon.json's `insecure-registries` and
    /// `registry-mirrors`).
    pub fn set_registry_options(&self, opts: &RegistryOptions) {
        *self
            .inner
            .registry
            .write()
            .unwrap_or_else(|e| e.into_inner()) = RegistryClient::with_options(opts);
    }

    pub(super) fn registry(&self) -> RegistryClient {
        self.inner
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Pulls `image` (`tag` may be a tag or a digest) and streams Docker's progress messages.
    pub async fn image_pull(
        &self,
        image: &str,
        tag: Option<&str>,
        req: PullRequest,
    ) -> BackendResult<BoxStream<ProgressMessage>> {
        let full = match tag.filter(|t| !t.is_empty()) {
            Some(t) if t.contains(':') => format!("{image}@{t}"),
            Some(t) => format!("{image}:{t}"),
            None => image.to_owned(),
        };
        let r = Reference::parse_normalized(&full)
            .map_err(|e| pull_err(&full, ImageError::Reference(e)))?;
        let r = if r.tag().is_none() && r.digest().is_none() {
            r.with_tag("latest")
                .map_err(|e| pull_err(&full, e.into()))?
        } else {
            r
        };
        let platform = req
            .platform
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(Platform::parse)
            .transpose()
            .map_err(|e| BackendError::invalid(e.to_string()))?;
        let credentials = req
            .registry_auth
            .as_deref()
            .and_then(Credentials::from_registry_auth_header);
        let opts = PullOptions {
            platform,
            credentials,
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Item>();
        let this = self.clone();
        let familiar = r.familiar();
        let pulling = format!("Pulling from {}", r.familiar_name());
        let tag_id = r
            .tag()
            .map(str::to_owned)
            .or_else(|| r.digest().map(Digest::to_string));
        tokio::spawn(async move {
            let layers = Arc::new(Mutex::new(HashSet::new()));
            let fresh = Arc::new(Mutex::new(false));
            let progress = {
                let (tx, layers, fresh) = (tx.clone(), layers.clone(), fresh.clone());
                let pulling = pulling.clone();
                let tag_id = tag_id.clone();
                Arc::new(move |ev: PullEvent| {
                    if matches!(ev, PullEvent::Resolved { .. }) {
                        let _ = tx.send(Item::Msg(msg(&pulling, tag_id.clone())));
                    }
                    if matches!(ev, PullEvent::Downloaded(_)) {
                        *fresh.lock().unwrap_or_else(|e| e.into_inner()) = true;
                    }
                    for m in render(&ev, &layers) {
                        let _ = tx.send(Item::Msg(m));
                    }
                })
            };
            let client = this.registry();
            let pulled = client
                .pull_with(&this.inner.images, &familiar, &opts, progress)
                .await;
            let summary = match pulled {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Item::Fail(pull_err(&familiar, e)));
                    return;
                }
            };
            let unpack = {
                let (this, tx, id) = (this.clone(), tx.clone(), summary.manifest.to_string());
                let layers = layers.clone();
                tokio::task::spawn_blocking(move || {
                    this.inner.images.unpack_image(&id, |blob| {
                        if layers
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .contains(blob)
                        {
                            let _ = tx.send(Item::Msg(msg("Pull complete", Some(short(blob)))));
                        }
                    })
                })
                .await
            };
            match unpack {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let _ = tx.send(Item::Fail(pull_err(&familiar, e)));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Item::Fail(BackendError::new(
                        ErrorKind::Internal,
                        e.to_string(),
                    )));
                    return;
                }
            }
            let _ = tx.send(Item::Msg(msg(
                &format!("Digest: {}", summary.manifest),
                None,
            )));
            let status = if *fresh.lock().unwrap_or_else(|e| e.into_inner()) {
                format!("Status: Downloaded newer image for {familiar}")
            } else {
                format!("Status: Image is up to date for {familiar}")
            };
            let _ = tx.send(Item::Msg(msg(&status, None)));
        });
        let first = match rx.recv().await {
            Some(Item::Fail(e)) => return Err(e),
            Some(Item::Msg(m)) => m,
            None => {
                return Err(BackendError::new(
                    ErrorKind::Internal,
                    "the pull task ended early",
                ));
            }
        };
        let rest = futures_util::stream::unfold(rx, |mut rx| async move {
            let item = rx.recv().await?;
            let m = match item {
                Item::Msg(m) => m,
                Item::Fail(e) => ProgressMessage {
                    error: Some(e.message),
                    ..ProgressMessage::default()
                },
            };
            Some((m, rx))
        });
        Ok(Box::pin(futures_util::StreamExt::chain(
            futures_util::stream::iter([first]),
            rest,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_text_looks_like_dockers() {
        assert_eq!(size_text(999), "999B");
        assert_eq!(size_text(1_500_000), "1.5MB");
        let b = bar(25, 100);
        assert!(b.starts_with("[===========>"), "{b}");
        assert!(b.ends_with("]  25B/100B"), "{b}");
        assert_eq!(bar(0, 0).find(']'), bar(7, 10).find(']'));
    }

    #[test]
    fn only_layer_blobs_are_shown() {
        let layers = Mutex::new(HashSet::new());
        let l = Digest::of_bytes(berth_image::digest::Algorithm::Sha256, b"layer");
        let config = Digest::of_bytes(berth_image::digest::Algorithm::Sha256, b"config");
        let m = render(
            &PullEvent::Resolved {
                manifest: config.clone(),
                layers: vec![(l.clone(), 5)],
            },
            &layers,
        );
        assert_eq!(m[0].status, "Pulling fs layer");
        assert_eq!(m[0].id.as_deref(), Some(&l.hex()[..12]));
        assert!(render(&PullEvent::Downloaded(config), &layers).is_empty());
        let p = render(
            &PullEvent::Progress {
                blob: l.clone(),
                done: 2,
                total: 5,
            },
            &layers,
        );
        assert_eq!(
            p[0].progress_detail,
            Some(ProgressDetail {
                current: 2,
                total: 5
            })
        );
        assert_eq!(
            render(&PullEvent::Exists(l), &layers)[0].status,
            "Already exists"
        );
    }
}

//! `POST /images/{name}/push` on the real backend: the push runs as its own task and its
//! [`PushEvent`]s become Docker's progress JSON (`Preparing`, `Layer already exists`,
//! `Mounted from …`, `Pushed`, and the final `tag: digest: … size: …` line).

use berth_image::digest::Digest;
use berth_image::images::ImageError;
use berth_image::registry::RegistryError;
use berth_image::{Credentials, PushEvent, Reference};
use tokio::sync::mpsc;

use super::RealBackend;
use crate::api::models::{ProgressDetail, ProgressMessage};
use crate::backend::{BackendError, BackendResult, BoxStream, ErrorKind};

fn short(d: &Digest) -> String {
    d.hex()[..12.min(d.hex().len())].to_owned()
}

fn msg(status: String, id: Option<String>) -> ProgressMessage {
    ProgressMessage {
        id,
        status,
        progress_detail: Some(ProgressDetail::default()),
        ..ProgressMessage::default()
    }
}

/// Docker's messages for one push event.
fn render(ev: &PushEvent) -> Vec<ProgressMessage> {
    match ev {
        PushEvent::Preparing(layers) => layers
            .iter()
            .map(|d| msg("Preparing".into(), Some(short(d))))
            .collect(),
        PushEvent::Exists(d) => vec![msg("Layer already exists".into(), Some(short(d)))],
        PushEvent::Mounted(d) => vec![msg(
            "Mounted from another repository".into(),
            Some(short(d)),
        )],
        PushEvent::Pushed(d) => vec![msg("Pushed".into(), Some(short(d)))],
        PushEvent::Done { tag, digest, size } => vec![ProgressMessage {
            status: format!("{tag}: digest: {digest} size: {size}"),
            ..ProgressMessage::default()
        }],
    }
}

fn push_err(name: &str, e: ImageError) -> BackendError {
    let kind = match &e {
        ImageError::NotFound(_) => ErrorKind::NotFound,
        ImageError::Reference(_) => ErrorKind::InvalidArgument,
        ImageError::Registry(r) => match **r {
            RegistryError::Auth(_) => ErrorKind::Forbidden,
            RegistryError::Tls { .. } | RegistryError::TlsConfig(_) => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        },
        _ => ErrorKind::Internal,
    };
    let message = match kind {
        ErrorKind::NotFound => format!("An image does not exist locally with the tag: {name}"),
        _ => e.to_string(),
    };
    BackendError::new(kind, message).with_source(e)
}

impl RealBackend {
    /// Pushes the local image `name` (with `tag`, if given) to its registry.
    pub async fn image_push(
        &self,
        name: &str,
        tag: Option<&str>,
        registry_auth: Option<&str>,
    ) -> BackendResult<BoxStream<ProgressMessage>> {
        let full = match tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{name}:{t}"),
            None => name.to_owned(),
        };
        let r = Reference::parse_normalized(&full).map_err(|e| push_err(&full, e.into()))?;
        self.inner
            .images
            .resolve(&full)
            .map_err(|e| push_err(&full, e))?;
        let credentials = registry_auth.and_then(Credentials::from_registry_auth_header);
        let (tx, rx) = mpsc::unbounded_channel::<ProgressMessage>();
        let _ = tx.send(ProgressMessage {
            status: format!("The push refers to repository [{}]", r.name()),
            ..ProgressMessage::default()
        });
        let this = self.clone();
        tokio::spawn(async move {
            let progress = {
                let tx = tx.clone();
                std::sync::Arc::new(move |ev: PushEvent| {
                    for m in render(&ev) {
                        let _ = tx.send(m);
                    }
                })
            };
            let client = this.registry();
            if let Err(e) = client
                .push(&this.inner.images, &full, credentials, progress)
                .await
            {
                let e = push_err(&full, e);
                let _ = tx.send(ProgressMessage {
                    error: Some(e.message),
                    ..ProgressMessage::default()
                });
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_messages_match_dockers_wording() {
        let d = Digest::of_bytes(berth_image::digest::Algorithm::Sha256, b"x");
        assert_eq!(render(&PushEvent::Pushed(d.clone()))[0].status, "Pushed");
        let done = render(&PushEvent::Done {
            tag: "v1".into(),
            digest: d.clone(),
            size: 528,
        });
        assert_eq!(done[0].status, format!("v1: digest: {d} size: 528"));
        assert_eq!(done[0].id, None);
    }
}

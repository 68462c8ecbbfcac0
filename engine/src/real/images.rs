//! Image operations of the real backend: the image store's answers in Docker's shapes.

use berth_image::ImageError;

use super::RealBackend;
use crate::api::models::{
    ContainerConfig, Filters, ImageDeleteItem, ImageInspect, ImageSummary, RootFs,
};
use crate::backend::{BackendError, BackendResult, ErrorKind};

pub(super) fn image_err(name: &str, e: ImageError) -> BackendError {
    let kind = match &e {
        ImageError::NotFound(_) => ErrorKind::NotFound,
        ImageError::Ambiguous(_)
        | ImageError::Reference(_)
        | ImageError::Import(_)
        | ImageError::Archive(_) => ErrorKind::InvalidArgument,
        ImageError::InUse { .. } | ImageError::LeaseConflict { .. } => ErrorKind::Conflict,
        _ => ErrorKind::Internal,
    };
    let message = match kind {
        ErrorKind::NotFound => format!("No such image: {name}"),
        _ => e.to_string(),
    };
    BackendError::new(kind, message).with_source(e)
}

fn unix_secs(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

impl RealBackend {
    pub(super) fn image_list(&self, filters: &Filters) -> BackendResult<Vec<ImageSummary>> {
        let list = self.inner.images.list().map_err(|e| image_err("", e))?;
        Ok(list
            .into_iter()
            .filter(|s| {
                filters.any("reference", |r| {
                    s.references
                        .iter()
                        .any(|have| have == r || have.starts_with(&format!("{r}:")))
                })
            })
            .map(|s| ImageSummary {
                id: s.id.to_string(),
                repo_tags: s.references.clone(),
                created: unix_secs(s.created.as_deref()),
                size: s.size as i64,
                ..ImageSummary::default()
            })
            .collect())
    }

    pub(super) fn image_inspect(&self, name: &str) -> BackendResult<ImageInspect> {
        let images = &self.inner.images;
        let s = images.resolve(name).map_err(|e| image_err(name, e))?;
        let cfg = images.image_config(name).map_err(|e| image_err(name, e))?;
        let c = cfg.config().clone().unwrap_or_default();
        Ok(ImageInspect {
            id: s.id.to_string(),
            repo_tags: s.references.clone(),
            created: s.created.clone().unwrap_or_default(),
            author: cfg.author().clone().unwrap_or_default(),
            config: ContainerConfig {
                env: c.env().clone().unwrap_or_default(),
                cmd: c.cmd().clone(),
                entrypoint: c.entrypoint().clone(),
                working_dir: c.working_dir().clone().unwrap_or_default(),
                user: c.user().clone().unwrap_or_default(),
                labels: c.labels().clone().unwrap_or_default().into_iter().collect(),
                ..ContainerConfig::default()
            },
            architecture: cfg.architecture().to_string(),
            os: cfg.os().to_string(),
            size: s.size as i64,
            root_fs: RootFs {
                typ: "layers".to_owned(),
                layers: cfg.rootfs().diff_ids().clone(),
            },
            ..ImageInspect::default()
        })
    }

    pub(super) fn image_tag(&self, name: &str, target: &str) -> BackendResult<()> {
        self.inner
            .images
            .tag(name, target)
            .map_err(|e| image_err(name, e))
    }

    pub(super) fn image_remove(
        &self,
        name: &str,
        force: bool,
    ) -> BackendResult<Vec<ImageDeleteItem>> {
        let report = self
            .inner
            .images
            .remove(name, force)
            .map_err(|e| image_err(name, e))?;
        let untagged = report.untagged.into_iter().map(|u| ImageDeleteItem {
            untagged: Some(u),
            deleted: None,
        });
        let deleted = report.deleted.images.into_iter().map(|d| ImageDeleteItem {
            untagged: None,
            deleted: Some(d.to_string()),
        });
        Ok(untagged.chain(deleted).collect())
    }
}

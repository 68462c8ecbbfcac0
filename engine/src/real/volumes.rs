//! The volume API of the real backend over [`berth_volume::VolumeStore`]: create, list with
//! Docker's filters, inspect with `Mountpoint`, remove (refused while in use unless forced),
//! prune, and the mapping of volume errors to API error kinds.

use std::collections::BTreeMap;

use berth_volume::{CreateSpec, VolumeError};

use super::RealBackend;
use crate::api::models::{
    Filters, Volume, VolumeCreateRequest, VolumeListResponse, VolumePruneResponse,
};
use crate::backend::{BackendError, BackendResult, ErrorKind};

/// The API error of a volume failure.
pub(super) fn volume_err(e: VolumeError) -> BackendError {
    let kind = match &e {
        VolumeError::NotFound(_) => ErrorKind::NotFound,
        VolumeError::InUse { .. } | VolumeError::Exists(_) => ErrorKind::Conflict,
        VolumeError::InvalidName(_)
        | VolumeError::UnknownDriver { .. }
        | VolumeError::InvalidOption { .. } => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    };
    let message = match &e {
        VolumeError::Io { .. } | VolumeError::Mount { .. } | VolumeError::CopyUp { .. } => {
            let mut m = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let text = s.to_string();
                if !m.contains(&text) {
                    m.push_str(": ");
                    m.push_str(&text);
                }
                src = s.source();
            }
            m
        }
        _ => e.to_string(),
    };
    BackendError::new(kind, message)
}

impl RealBackend {
    pub(super) fn volume_view(&self, v: &berth_volume::Volume) -> Volume {
        let status = self
            .inner
            .volumes
            .copy_incomplete(&v.name)
            .then(|| BTreeMap::from([("CopyUp".to_owned(), "incomplete".to_owned())]));
        Volume {
            name: v.name.clone(),
            driver: v.driver.clone(),
            mountpoint: self.inner.volumes.mountpoint(&v.name).display().to_string(),
            created_at: v.created_at.clone(),
            labels: v
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            scope: "local".to_owned(),
            options: v.options.clone(),
            status,
        }
    }

    fn matches(&self, v: &berth_volume::Volume, f: &Filters) -> BackendResult<bool> {
        let labels = v
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let dangling = match f.get("dangling").first().map(String::as_str) {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(other) => {
                return Err(BackendError::invalid(format!(
                    "invalid filter 'dangling={other}' (use true or false)"
                )));
            }
        };
        let unlabelled = f.get("label!").iter().all(|l| match l.split_once('=') {
            Some((k, val)) => v.labels.get(k).is_none_or(|have| have != val),
            None => !v.labels.contains_key(l.as_str()),
        });
        Ok(f.match_labels(&labels)
            && unlabelled
            && f.any("name", |n| v.name.contains(n))
            && f.any("driver", |d| v.driver == d)
            && dangling.is_none_or(|d| d == self.inner.volumes.refs(&v.name).is_empty()))
    }

    pub(super) fn volume_list(&self, f: &Filters) -> BackendResult<VolumeListResponse> {
        let mut volumes = Vec::new();
        for v in self.inner.volumes.list() {
            if self.matches(&v, f)? {
                volumes.push(self.volume_view(&v));
            }
        }
        Ok(VolumeListResponse {
            volumes,
            warnings: Vec::new(),
        })
    }

    pub(super) fn volume_create(&self, req: VolumeCreateRequest) -> BackendResult<Volume> {
        let (v, _) = self
            .inner
            .volumes
            .create(CreateSpec {
                name: req.name,
                driver: req.driver,
                driver_opts: req.driver_opts,
                labels: req.labels.into_iter().collect(),
            })
            .map_err(volume_err)?;
        let view = self.volume_view(&v);
        self.volume_event("create", &view.name, &view.driver);
        Ok(view)
    }

    pub(super) fn volume_inspect(&self, name: &str) -> BackendResult<Volume> {
        let v = self.inner.volumes.get(name).map_err(volume_err)?;
        Ok(self.volume_view(&v))
    }

    pub(super) fn volume_remove(&self, name: &str, force: bool) -> BackendResult<()> {
        self.inner.volumes.remove(name, force).map_err(volume_err)?;
        self.volume_event("destroy", name, "local");
        Ok(())
    }

    /// Docker's prune: unused anonymous volumes, or every unused volume with `all=true`.
    pub(super) fn volume_prune(&self, f: &Filters) -> BackendResult<VolumePruneResponse> {
        let all = f.get("all").iter().any(|v| v == "true" || v == "1");
        let mut only = f.clone();
        only.0.remove("all");
        only.0.remove("dangling");
        let mut selected = std::collections::BTreeSet::new();
        for v in self.inner.volumes.list() {
            if (all || v.is_anonymous()) && self.matches(&v, &only)? {
                selected.insert(v.name);
            }
        }
        let removed = self
            .inner
            .volumes
            .prune(|v| selected.contains(&v.name))
            .map_err(volume_err)?;
        for (name, _) in &removed {
            self.volume_event("destroy", name, "local");
        }
        Ok(VolumePruneResponse {
            space_reclaimed: removed.iter().map(|(_, n)| n).sum(),
            volumes_deleted: removed.into_iter().map(|(n, _)| n).collect(),
        })
    }

    /// Removes volumes no container uses any more, keeping those still in use (as `rm -v`).
    pub(super) fn remove_volumes_quietly(&self, names: &[String]) {
        for name in names {
            match self.inner.volumes.remove(name, false) {
                Ok(()) => self.volume_event("destroy", name, "local"),
                Err(VolumeError::InUse { .. } | VolumeError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(volume = %name, error = %e, "cannot remove anonymous volume")
                }
            }
        }
    }

    /// Docker's `mount` (container started) and `unmount` (container exited) volume events,
    /// one per volume the container uses, with its destination and access.
    pub(super) fn volume_mount_events(&self, id: &str, action: &str) {
        for r in self.resolved_mounts(id) {
            let Some(name) = &r.name else { continue };
            let attrs = std::collections::BTreeMap::from([
                ("container".to_owned(), id.to_owned()),
                ("destination".to_owned(), r.destination.clone()),
                ("driver".to_owned(), "local".to_owned()),
                ("propagation".to_owned(), r.propagation.clone()),
                ("read/write".to_owned(), r.rw.to_string()),
            ]);
            self.emit_event("volume", action, name, attrs);
        }
    }
}

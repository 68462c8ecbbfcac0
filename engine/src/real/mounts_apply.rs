//! Container mounts at create and remove: wanted mounts (see `mounts_parse`) become host paths
//! (volumes created and referenced, image content copied up, missing short-syntax host dirs
//! made), are persisted in `containers/<id>/mounts.json` and appended to the bundle's
//! `config.json`; at removal the references are released. A failure half-way releases what
//! was taken, so a create that fails leaves no reference and no anonymous volume behind.

use std::path::Path;

use berth_volume::CreateSpec;
use serde_json::json;

use super::RealBackend;
use super::mounts_parse::{self, Kind, Resolved, Wanted};
use super::volumes::volume_err;
use crate::api::models::{ContainerCreateBody, MountPoint};
use crate::backend::{BackendError, BackendResult, ErrorKind};
use crate::state::replace_json;

const MOUNTS: &str = "mounts.json";

/// The OCI runtime spec entry of a resolved mount.
pub(super) fn oci_mount(r: &Resolved) -> serde_json::Value {
    let rw = if r.rw { "rw" } else { "ro" };
    if r.typ == "tmpfs" {
        let mut options = vec![
            "nosuid".to_owned(),
            "nodev".to_owned(),
            "noexec".to_owned(),
            rw.to_owned(),
        ];
        options.extend(r.options.iter().cloned());
        return json!({"destination": r.destination, "type": "tmpfs", "source": "tmpfs", "options": options});
    }
    let propagation = if r.propagation.is_empty() {
        "rprivate"
    } else {
        r.propagation.as_str()
    };
    json!({"destination": r.destination, "type": "bind", "source": r.source,
           "options": ["rbind", rw, propagation]})
}

impl RealBackend {
    /// The resolved mounts of a container (empty when it has none).
    pub(super) fn resolved_mounts(&self, id: &str) -> Vec<Resolved> {
        let path = self.inner.paths.container(id).join(MOUNTS);
        std::fs::read(&path)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default()
    }

    /// Inspect's `Mounts`.
    pub(super) fn mount_points(&self, id: &str) -> Vec<MountPoint> {
        self.resolved_mounts(id)
            .iter()
            .map(Resolved::view)
            .collect()
    }

    /// Names of the anonymous volumes created for a container.
    pub(super) fn anonymous_volumes(&self, id: &str) -> Vec<String> {
        let Ok(full) = self.resolve(id) else {
            return Vec::new();
        };
        self.resolved_mounts(&full)
            .into_iter()
            .filter(|r| r.anonymous)
            .filter_map(|r| r.name)
            .collect()
    }

    /// Resolves, references and copies up the mounts of a new container and adds them to its
    /// bundle's spec. The rootfs must be mounted.
    pub(super) fn attach_mounts(
        &self,
        id: &str,
        rootfs: &Path,
        image: &oci_spec::image::ImageConfiguration,
        body: &ContainerCreateBody,
        bundle: &Path,
    ) -> BackendResult<()> {
        let image_volumes: Vec<String> = image
            .config()
            .as_ref()
            .and_then(|c| c.volumes().clone())
            .unwrap_or_default();
        let wanted = mounts_parse::wanted(body, &image_volumes, |c| {
            let full = self.resolve(c).map_err(|_| {
                BackendError::not_found(format!("No such container: {c} (named in volumes-from)"))
            })?;
            Ok(self.resolved_mounts(&full))
        })?;
        let mut done = Vec::new();
        for w in wanted {
            match self.resolve_one(id, rootfs, w) {
                Ok(r) => done.push(r),
                Err(e) => {
                    self.release_mounts(id, &done, true);
                    return Err(e);
                }
            }
        }
        let saved = self.save_mounts(id, &done, bundle);
        if saved.is_err() {
            self.release_mounts(id, &done, true);
        }
        saved
    }

    fn save_mounts(&self, id: &str, done: &[Resolved], bundle: &Path) -> BackendResult<()> {
        let internal = |what: &str| {
            let what = what.to_owned();
            move |e: String| BackendError::new(ErrorKind::Internal, format!("{what}: {e}"))
        };
        // The create's record.json, written next to it right after, syncs the directory.
        replace_json(&self.inner.paths.container(id).join(MOUNTS), &done)
            .map_err(|e| internal("cannot record the mounts")(e.to_string()))?;
        if done.is_empty() {
            return Ok(());
        }
        let config = bundle.join("config.json");
        let mut spec = oci_spec::runtime::Spec::load(&config)
            .map_err(|e| internal("cannot read config.json")(e.to_string()))?;
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        for r in done {
            let m: oci_spec::runtime::Mount = serde_json::from_value(oci_mount(r))
                .map_err(|e| internal("cannot build a mount entry")(e.to_string()))?;
            mounts.push(m);
        }
        spec.set_mounts(Some(mounts));
        spec.save(&config)
            .map_err(|e| internal("cannot write config.json")(e.to_string()))
    }

    fn resolve_one(&self, id: &str, rootfs: &Path, w: Wanted) -> BackendResult<Resolved> {
        let rw = !w.read_only;
        let base = Resolved {
            destination: w.destination.clone(),
            mode: w.mode.clone(),
            rw,
            ..Resolved::default()
        };
        match w.kind {
            Kind::Bind { source, create } => {
                if !source.exists() {
                    if !create {
                        return Err(BackendError::invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {} (create it, or set CreateMountpoint / bind.create_host_path)",
                            source.display()
                        )));
                    }
                    std::fs::create_dir_all(&source).map_err(|e| {
                        BackendError::new(
                            ErrorKind::Internal,
                            format!("cannot create the bind source {}: {e}", source.display()),
                        )
                    })?;
                }
                Ok(Resolved {
                    typ: "bind".to_owned(),
                    source: source.display().to_string(),
                    propagation: if w.propagation.is_empty() {
                        "rprivate".to_owned()
                    } else {
                        w.propagation
                    },
                    ..base
                })
            }
            Kind::Volume {
                name,
                nocopy,
                labels,
                driver,
                driver_opts,
            } => {
                let anonymous = name.is_empty();
                let store = &self.inner.volumes;
                let (v, created) = store
                    .create(CreateSpec {
                        name,
                        driver,
                        driver_opts,
                        labels,
                    })
                    .map_err(volume_err)?;
                if created {
                    self.volume_event("create", &v.name, "local");
                }
                let source = store.acquire(&v.name, id).map_err(volume_err)?;
                if !nocopy {
                    if let Err(e) = store.populate(&v.name, rootfs, Path::new(&w.destination)) {
                        let _ = store.release(&v.name, id);
                        if anonymous {
                            self.remove_volumes_quietly(std::slice::from_ref(&v.name));
                        }
                        return Err(volume_err(e));
                    }
                }
                Ok(Resolved {
                    typ: "volume".to_owned(),
                    // an anonymous volume a recreated container inherits stays anonymous
                    anonymous: v.is_anonymous(),
                    name: Some(v.name),
                    source: source.display().to_string(),
                    ..base
                })
            }
            Kind::Tmpfs { options } => Ok(Resolved {
                typ: "tmpfs".to_owned(),
                source: "tmpfs".to_owned(),
                options,
                ..base
            }),
            Kind::From(r) => {
                if let Some(name) = &r.name {
                    self.inner.volumes.acquire(name, id).map_err(volume_err)?;
                }
                Ok(Resolved {
                    rw,
                    mode: w.mode,
                    anonymous: false,
                    ..r
                })
            }
        }
    }

    /// Drops a container's volume references; with `anonymous`, also removes the anonymous
    /// volumes made for it that nobody else uses.
    pub(super) fn release_mounts(&self, id: &str, mounts: &[Resolved], anonymous: bool) {
        for r in mounts {
            let Some(name) = &r.name else { continue };
            if let Err(e) = self.inner.volumes.release(name, id) {
                tracing::warn!(container = %id, volume = %name, error = %e, "cannot release volume");
            }
            if anonymous && r.anonymous {
                self.remove_volumes_quietly(std::slice::from_ref(name));
            }
        }
    }

    /// At container removal: releases its volumes (anonymous ones stay unless `rm -v`).
    pub(super) fn detach_mounts(&self, id: &str) {
        let mounts = self.resolved_mounts(id);
        self.release_mounts(id, &mounts, false);
    }

    /// After a restart: the references of every known container are taken again, then devices
    /// of volumes nobody uses are unmounted.
    pub(super) fn reacquire_volumes(&self) {
        let ids: Vec<String> = self.lock().keys().cloned().collect();
        for id in ids {
            for r in self.resolved_mounts(&id) {
                if let Some(name) = &r.name {
                    if let Err(e) = self.inner.volumes.acquire(name, &id) {
                        tracing::warn!(container = %id, volume = %name, error = %e, "cannot re-acquire volume");
                    }
                }
            }
        }
        for e in self.inner.volumes.recover_mounts() {
            tracing::warn!(error = %e, "cannot unmount an unused volume");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_entries_follow_dockers_defaults() {
        let r = Resolved {
            typ: "volume".into(),
            source: "/v/_data".into(),
            destination: "/data".into(),
            rw: false,
            ..Resolved::default()
        };
        assert_eq!(oci_mount(&r)["options"], json!(["rbind", "ro", "rprivate"]));
        let t = Resolved {
            typ: "tmpfs".into(),
            destination: "/t".into(),
            rw: true,
            options: vec!["size=1m".into()],
            ..Resolved::default()
        };
        assert_eq!(
            oci_mount(&t)["options"],
            json!(["nosuid", "nodev", "noexec", "rw", "size=1m"])
        );
    }
}

//! Container root filesystems as data: `prepare` returns the overlay mount a container needs
//! (lowerdirs are the image's layer short links, upper/work under `<root>/containers/<id>/`);
//! a small applier, [`mount_all`], performs mounts and is the only code here that touches the
//! kernel mount table.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use serde::{Deserialize, Serialize};

/// Most layers one overlay mount accepts here (the kernel's own cap is 500 lowerdirs).
pub const MAX_LAYERS: usize = 500;

/// Errors of snapshot planning and mounting.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An image without layers has no root filesystem to overlay.
    #[error("image has no layers")]
    NoLayers,
    /// Too many layers for one overlay mount.
    #[error("image has {count} layers; at most {MAX_LAYERS} are supported")]
    TooManyLayers {
        /// Layers in the image.
        count: usize,
    },
    /// The mount options string would not fit in a page.
    #[error("overlay mount options are {len} bytes; the kernel accepts at most {limit}")]
    OptionsTooLong {
        /// Options length.
        len: usize,
        /// Page size minus one.
        limit: usize,
    },
    /// A path overlay cannot express (`,` or `:` in it, or not UTF-8).
    #[error("path {0} cannot be used in overlay options")]
    BadPath(PathBuf),
    /// A container id that is not a plain name.
    #[error("invalid container id {0:?}")]
    BadId(String),
    /// Filesystem error.
    #[error("{op} {path}: {source}")]
    Io {
        /// Operation.
        op: &'static str,
        /// Path.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// mount(2)/umount(2) failed.
    #[error("{op} {target}: {source}")]
    Mount {
        /// Operation.
        op: &'static str,
        /// Mount point.
        target: PathBuf,
        /// Errno.
        source: nix::errno::Errno,
    },
}

/// One mount to perform, containerd-style: the target is given when applying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Filesystem type (`overlay`, `bind`).
    pub fstype: String,
    /// Source.
    pub source: String,
    /// Options (`lowerdir=…`, `ro`, `rbind`, …).
    pub options: Vec<String>,
}

fn path_str(p: &Path) -> Result<&str, SnapshotError> {
    match p.to_str() {
        Some(s) if !s.contains([',', ':']) => Ok(s),
        _ => Err(SnapshotError::BadPath(p.to_owned())),
    }
}

/// Plans the overlay mount for `lowers` (bottom layer first, as in the image config) with
/// `upper`/`work`, checking the layer count and that options fit in `page_size - 1` bytes.
pub fn plan_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    page_size: usize,
) -> Result<Mount, SnapshotError> {
    if lowers.is_empty() {
        return Err(SnapshotError::NoLayers);
    }
    if lowers.len() > MAX_LAYERS {
        return Err(SnapshotError::TooManyLayers {
            count: lowers.len(),
        });
    }
    let lower: Vec<&str> = lowers
        .iter()
        .rev()
        .map(|p| path_str(p))
        .collect::<Result<_, _>>()?;
    let options = vec![
        format!("lowerdir={}", lower.join(":")),
        format!("upperdir={}", path_str(upper)?),
        format!("workdir={}", path_str(work)?),
    ];
    let len = options.join(",").len();
    if len > page_size - 1 {
        return Err(SnapshotError::OptionsTooLong {
            len,
            limit: page_size - 1,
        });
    }
    Ok(Mount {
        fstype: "overlay".into(),
        source: "overlay".into(),
        options,
    })
}

/// Checks a container id is a plain directory name.
pub fn check_id(id: &str) -> Result<(), SnapshotError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(SnapshotError::BadId(id.to_owned()))
    }
}

/// Container writable layers under `<root>/containers/<id>/{upper,work}`.
#[derive(Debug, Clone)]
pub struct Snapshotter {
    containers: PathBuf,
    page_size: usize,
}

impl Snapshotter {
    /// A snapshotter for a data root; the page size is read from the system.
    pub fn new(root: &Path) -> Snapshotter {
        let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .map_or(4096, |v| v as usize);
        Snapshotter {
            containers: root.join("containers"),
            page_size,
        }
    }

    /// Creates the container's upper/work dirs and returns its rootfs mounts.
    pub fn prepare(
        &self,
        container_id: &str,
        lowers: &[PathBuf],
    ) -> Result<Vec<Mount>, SnapshotError> {
        check_id(container_id)?;
        let dir = self.containers.join(container_id);
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        let m = plan_overlay(lowers, &upper, &work, self.page_size)?;
        for d in [&upper, &work] {
            fs::create_dir_all(d).map_err(|source| SnapshotError::Io {
                op: "create dir",
                path: d.clone(),
                source,
            })?;
        }
        Ok(vec![m])
    }

    /// Removes the container's upper and work dirs (the rest of its directory belongs to the
    /// runtime).
    pub fn release(&self, container_id: &str) -> Result<(), SnapshotError> {
        check_id(container_id)?;
        let dir = self.containers.join(container_id);
        for d in [dir.join("upper"), dir.join("work")] {
            match fs::remove_dir_all(&d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(SnapshotError::Io {
                        op: "remove",
                        path: d,
                        source,
                    });
                }
            }
        }
        if fs::read_dir(&dir).is_ok_and(|mut it| it.next().is_none()) {
            let _ = fs::remove_dir(&dir);
        }
        Ok(())
    }
}

/// Performs `mounts` on `target` in order.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), SnapshotError> {
    for m in mounts {
        let mut flags = MsFlags::empty();
        let mut data = Vec::new();
        for o in &m.options {
            match o.as_str() {
                "ro" => flags |= MsFlags::MS_RDONLY,
                "bind" => flags |= MsFlags::MS_BIND,
                "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
                "nosuid" => flags |= MsFlags::MS_NOSUID,
                "nodev" => flags |= MsFlags::MS_NODEV,
                other => data.push(other),
            }
        }
        let fstype = if m.fstype == "bind" {
            None
        } else {
            Some(m.fstype.as_str())
        };
        let data = data.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        nix::mount::mount(Some(m.source.as_str()), target, fstype, flags, data).map_err(
            |source| SnapshotError::Mount {
                op: "mount",
                target: target.to_owned(),
                source,
            },
        )?;
    }
    Ok(())
}

/// Unmounts `target` (one level).
pub fn unmount(target: &Path) -> Result<(), SnapshotError> {
    nix::mount::umount2(target, MntFlags::empty()).map_err(|source| SnapshotError::Mount {
        op: "umount",
        target: target.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_overlay_with_top_layer_first() {
        let lowers = vec![PathBuf::from("/r/l/base"), PathBuf::from("/r/l/app")];
        let m = plan_overlay(
            &lowers,
            Path::new("/r/c/x/upper"),
            Path::new("/r/c/x/work"),
            4096,
        )
        .unwrap();
        assert_eq!(m.fstype, "overlay");
        assert_eq!(
            m.options,
            vec![
                "lowerdir=/r/l/app:/r/l/base",
                "upperdir=/r/c/x/upper",
                "workdir=/r/c/x/work"
            ]
        );
    }

    #[test]
    fn refuses_too_many_layers_and_long_options() {
        let many: Vec<PathBuf> = (0..501).map(|i| PathBuf::from(format!("/l/{i}"))).collect();
        assert!(matches!(
            plan_overlay(&many, Path::new("/u"), Path::new("/w"), 1 << 20),
            Err(SnapshotError::TooManyLayers { count: 501 })
        ));
        let long: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("/var/lib/berth/l/{i:026}")))
            .collect();
        assert!(matches!(
            plan_overlay(&long, Path::new("/u"), Path::new("/w"), 4096),
            Err(SnapshotError::OptionsTooLong { limit: 4095, .. })
        ));
        assert!(matches!(
            plan_overlay(&[], Path::new("/u"), Path::new("/w"), 4096),
            Err(SnapshotError::NoLayers)
        ));
        assert!(matches!(
            plan_overlay(
                &[PathBuf::from("/a,b")],
                Path::new("/u"),
                Path::new("/w"),
                4096
            ),
            Err(SnapshotError::BadPath(_))
        ));
    }

    #[test]
    fn prepare_creates_dirs_and_release_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = Snapshotter::new(dir.path());
        let mounts = s.prepare("c1", &[dir.path().join("l/a")]).unwrap();
        assert_eq!(mounts.len(), 1);
        assert!(dir.path().join("containers/c1/upper").is_dir());
        assert!(dir.path().join("containers/c1/work").is_dir());
        s.release("c1").unwrap();
        assert!(!dir.path().join("containers/c1").exists());
        assert!(matches!(
            s.prepare("../x", &[]),
            Err(SnapshotError::BadId(_))
        ));
    }
}

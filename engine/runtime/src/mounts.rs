//! Mount planning for the container init: OCI mount entries become [`MountPlan`]s (flags,
//! propagation and data split apart, pure and unit-tested), and [`secure_join`] resolves a
//! container path inside the rootfs without letting symlinks escape it.

use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;

/// Errors of mount planning and path resolution.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// A path inside the rootfs could not be resolved.
    #[error("resolving {path} in rootfs: {source}")]
    Resolve {
        /// The container path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Too many symlinks while resolving.
    #[error("too many levels of symbolic links resolving {0}")]
    SymlinkLoop(PathBuf),
    /// A mount entry lacks its type.
    #[error("mount {0} has no type")]
    NoType(PathBuf),
}

/// One planned mount, ready for `mount(2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    /// Source (device, host path or pseudo-fs name).
    pub source: String,
    /// Path inside the container.
    pub destination: PathBuf,
    /// Filesystem type (`bind` for bind mounts).
    pub fstype: String,
    /// Flags for the initial mount.
    pub flags: MsFlags,
    /// Propagation to set after mounting (`MS_PRIVATE`, `MS_REC|MS_SLAVE`...).
    pub propagation: MsFlags,
    /// Filesystem-specific options (`mode=755,size=65536k`).
    pub data: String,
}

impl MountPlan {
    /// True for bind mounts.
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// Splits OCI mount options into mount flags, propagation flags and fs data.
pub fn parse_options(options: &[String]) -> (MsFlags, MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut prop = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    for o in options {
        match o.as_str() {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "suid" => flags &= !MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "dev" => flags &= !MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "exec" => flags &= !MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "private" => prop = MsFlags::MS_PRIVATE,
            "rprivate" => prop = MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            "slave" => prop = MsFlags::MS_SLAVE,
            "rslave" => prop = MsFlags::MS_SLAVE | MsFlags::MS_REC,
            "shared" => prop = MsFlags::MS_SHARED,
            "rshared" => prop = MsFlags::MS_SHARED | MsFlags::MS_REC,
            "unbindable" => prop = MsFlags::MS_UNBINDABLE,
            "runbindable" => prop = MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
            other => data.push(other),
        }
    }
    (flags, prop, data.join(","))
}

/// Plans an OCI mount entry.
pub fn plan(m: &oci_spec::runtime::Mount) -> Result<MountPlan, MountError> {
    let (mut flags, propagation, data) = parse_options(m.options().as_deref().unwrap_or(&[]));
    let fstype = m
        .typ()
        .clone()
        .ok_or_else(|| MountError::NoType(m.destination().clone()))?;
    if fstype == "bind" {
        flags |= MsFlags::MS_BIND;
    }
    Ok(MountPlan {
        source: m
            .source()
            .as_ref()
            .map(|s| s.display().to_string())
            .unwrap_or_default(),
        destination: m.destination().clone(),
        fstype,
        flags,
        propagation,
        data,
    })
}

/// Resolves `path` (a container path) under `root`, following symlinks as if `root` were `/`:
/// the result never leaves `root`. Missing trailing components are kept as they are.
pub fn secure_join(root: &Path, path: &Path) -> Result<PathBuf, MountError> {
    let mut parts: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0;
    let mut queue: std::collections::VecDeque<std::ffi::OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    while let Some(part) = queue.pop_front() {
        if part == ".." {
            parts.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&parts);
        candidate.push(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(MountError::SymlinkLoop(path.to_path_buf()));
                }
                let target =
                    std::fs::read_link(&candidate).map_err(|source| MountError::Resolve {
                        path: path.to_path_buf(),
                        source,
                    })?;
                if target.is_absolute() {
                    parts.clear();
                }
                let mut new: std::collections::VecDeque<_> = target
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(n) => Some(n.to_os_string()),
                        Component::ParentDir => Some("..".into()),
                        _ => None,
                    })
                    .collect();
                new.extend(queue.drain(..));
                queue = new;
            }
            _ => parts.push(part),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&parts);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let (f, p, d) = parse_options(&opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(f, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert!(p.is_empty());
        assert_eq!(d, "mode=755,size=65536k");
        let (f, p, d) = parse_options(&opts(&["rbind", "ro", "rprivate"]));
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY);
        assert_eq!(p, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert!(d.is_empty());
    }

    #[test]
    fn secure_join_keeps_symlinks_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("a/abs")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(
            secure_join(root, Path::new("/a/abs/passwd")).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            secure_join(root, Path::new("/a/b/up/etc")).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            secure_join(root, Path::new("/../../x")).unwrap(),
            root.join("x")
        );
        assert_eq!(
            secure_join(root, Path::new("/a/b/new/dir")).unwrap(),
            root.join("a/b/new/dir")
        );
        assert!(matches!(
            secure_join(root, Path::new("/loop")),
            Err(MountError::SymlinkLoop(_))
        ));
    }

    #[test]
    fn bind_type_implies_ms_bind() {
        let m: oci_spec::runtime::Mount = serde_json::from_value(serde_json::json!({
            "destination": "/data", "type": "bind", "source": "/srv", "options": ["ro"]
        }))
        .unwrap();
        let p = plan(&m).unwrap();
        assert!(p.is_bind() && p.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(p.source, "/srv");
    }
}

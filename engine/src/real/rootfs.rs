//! The container's root filesystem mount at create: the image store's overlay, made
//! `volatile` for a container removed when it exits (`--rm`, as podman does). A volatile
//! overlay skips every sync of its upper layer, including the one its unmount would do (a
//! journal commit of the data root's filesystem on each `run --rm`), and a container's own
//! `fsync`s; the layer is deleted with the container, and after a machine crash overlay
//! refuses to mount it again, which only the container's removal needs. A kernel without the
//! option (before 5.10) gets the plain mount.

use std::path::Path;

use berth_image::snapshot::{Mount, SnapshotError};

/// The overlay option that omits syncs of the upper layer.
const VOLATILE: &str = "volatile";

/// `mounts` with [`VOLATILE`] added to each overlay mount.
pub(super) fn volatile(mounts: &[Mount]) -> Vec<Mount> {
    mounts
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if m.fstype == "overlay" && !m.options.iter().any(|o| o == VOLATILE) {
                m.options.push(VOLATILE.to_owned());
            }
            m
        })
        .collect()
}

/// Mounts the container's rootfs on `rootfs`: volatile when the container is `auto_remove`,
/// falling back to the plain mounts when the kernel refuses the option.
pub(super) fn mount(
    mounts: &[Mount],
    rootfs: &Path,
    auto_remove: bool,
) -> Result<(), SnapshotError> {
    if auto_remove {
        match berth_image::snapshot::mount_all(&volatile(mounts), rootfs) {
            Err(SnapshotError::Mount {
                source: nix::errno::Errno::EINVAL,
                ..
            }) => {}
            other => return other,
        }
    }
    berth_image::snapshot::mount_all(mounts, rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_overlay_mounts_become_volatile_once() {
        let overlay = Mount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                "lowerdir=/l".into(),
                "upperdir=/u".into(),
                "workdir=/w".into(),
            ],
        };
        let bind = Mount {
            fstype: "bind".into(),
            source: "/layer".into(),
            options: vec!["ro".into(), "rbind".into()],
        };
        let out = volatile(&[overlay.clone(), bind.clone()]);
        assert_eq!(out[0].options.last().map(String::as_str), Some(VOLATILE));
        assert_eq!(out[0].options.len(), 4);
        assert_eq!(out[1], bind);
        assert_eq!(volatile(&out), out);
    }
}

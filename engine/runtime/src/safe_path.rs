//! Mount targets resolved fd-relative inside the rootfs: each component is opened with
//! `openat2(RESOLVE_IN_ROOT)` from the rootfs fd (a symlink in the image resolves inside the
//! rootfs, never on the host), missing components are created relative to their parent's fd,
//! and the mount is made on `/proc/self/fd/<n>` of the opened target, so nothing can swap a
//! component for a symlink between the check and the mount (CVE-2021-30465).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat, openat2};
use nix::sys::stat::{Mode, mkdirat};

fn open_in_root(root: &OwnedFd, rel: &Path) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, rel, how)
}

/// Opens (as `O_PATH`) the container path `path` under the directory `root`, creating missing
/// components as directories (the last one as an empty file when `file`). The result never
/// lies outside `root`.
pub fn open_target(root: &Path, path: &Path, file: bool) -> io::Result<OwnedFd> {
    let rootfd = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let parts: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            Component::ParentDir => Some(OsStr::new("..")),
            _ => None,
        })
        .collect();
    let mut current = rootfd.try_clone()?;
    let mut prefix = PathBuf::new();
    for (i, part) in parts.iter().enumerate() {
        prefix.push(part);
        match open_in_root(&rootfd, &prefix) {
            Ok(fd) => current = fd,
            Err(Errno::ENOENT) => {
                let made = if file && i + 1 == parts.len() {
                    let flags = OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC;
                    openat(&current, *part, flags, Mode::from_bits_truncate(0o644)).map(drop)
                } else {
                    mkdirat(&current, *part, Mode::from_bits_truncate(0o755))
                };
                match made {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                current = open_in_root(&rootfd, &prefix)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(current)
}

/// The path that names `fd` for `mount(2)`: `<fd_dir>/<n>` (`fd_dir` is `/proc/self/fd`).
pub fn fd_target(fd_dir: &Path, fd: &OwnedFd) -> PathBuf {
    fd_dir.join(fd.as_raw_fd().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_created_inside_the_root_through_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let (root, host) = (d.path().join("rootfs"), d.path().join("host"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        // An image symlink naming a host directory by its absolute path.
        std::os::unix::fs::symlink(&host, root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("up")).unwrap();
        let fd = open_target(&root, Path::new("/escape/mnt"), false).unwrap();
        let here = std::fs::read_link(fd_target(Path::new("/proc/self/fd"), &fd)).unwrap();
        assert!(here.starts_with(&root), "{}", here.display());
        assert!(!host.join("mnt").exists(), "created on the host");
        open_target(&root, Path::new("/up/etc/file"), true).unwrap();
        assert!(root.join("etc/file").is_file());
        assert!(
            root.join(host.strip_prefix("/").unwrap())
                .join("mnt")
                .is_dir()
        );
    }
}

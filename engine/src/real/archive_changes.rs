//! `GET /containers/{id}/changes` (`docker diff`): what a container changed, read from its
//! overlay upper directory. A whiteout (a 0:0 character device) is a deletion, an opaque
//! directory (`trusted.overlay.opaque=y`) hides everything below it in the image, so the image's
//! entries there that the upper dir does not recreate are deletions too; anything else in the
//! upper dir is a change when the image has the path and an addition when it does not.
//!
//! The upper directory can be changed by the container while it is read: it is walked with
//! `openat(O_NOFOLLOW)` from its own fd, never by following a path.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{Mode, SFlag, fstatat};

use super::archive_fs::{ArchiveError, ArchiveResult, is_kind, list_dir};
use crate::backend::{Change, ChangeKind};

/// The changes of the upper dir `upper` over the image layers `lowers` (top layer first).
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> ArchiveResult<Vec<Change>> {
    let fd = open(
        upper,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ArchiveError::sys("open", upper, e))?;
    let mut out = Vec::new();
    walk(&fd, Path::new("/"), lowers, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn in_lower(lowers: &[PathBuf], path: &Path) -> bool {
    let rel = path.strip_prefix("/").unwrap_or(path);
    lowers
        .iter()
        .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
}

fn is_opaque(dir: &OwnedFd) -> bool {
    ["trusted.overlay.opaque\0", "user.overlay.opaque\0"]
        .iter()
        .any(|name| {
            let mut value = [0u8; 4];
            // SAFETY: `dir` is an open fd, `name` is NUL-terminated and `value` is a writable
            // buffer of the length passed.
            let n = unsafe {
                libc::fgetxattr(
                    dir.as_raw_fd(),
                    name.as_ptr().cast(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            };
            n == 1 && value[0] == b'y'
        })
}

fn walk(dir: &OwnedFd, at: &Path, lowers: &[PathBuf], out: &mut Vec<Change>) -> ArchiveResult<()> {
    let names: Vec<OsString> = list_dir(dir).map_err(|e| ArchiveError::sys("list", at, e))?;
    for name in names {
        let path = at.join(&name);
        let st = match fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(ArchiveError::sys("stat", &path, e)),
        };
        if is_kind(&st, SFlag::S_IFCHR) && st.st_rdev == 0 {
            out.push(Change {
                path: path.display().to_string(),
                kind: ChangeKind::Deleted,
            });
            continue;
        }
        let existed = in_lower(lowers, &path);
        out.push(Change {
            path: path.display().to_string(),
            kind: if existed {
                ChangeKind::Modified
            } else {
                ChangeKind::Added
            },
        });
        if !is_kind(&st, SFlag::S_IFDIR) {
            continue;
        }
        let sub = match openat(
            dir,
            name.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => continue,
            Err(e) => return Err(ArchiveError::sys("open", &path, e)),
        };
        if existed && is_opaque(&sub) {
            let present: Vec<OsString> =
                list_dir(&sub).map_err(|e| ArchiveError::sys("list", &path, e))?;
            let rel = path.strip_prefix("/").unwrap_or(&path);
            let mut hidden: Vec<OsString> = lowers
                .iter()
                .filter_map(|l| std::fs::read_dir(l.join(rel)).ok())
                .flat_map(|rd| rd.filter_map(|e| e.ok().map(|e| e.file_name())))
                .filter(|n| !present.contains(n))
                .collect();
            hidden.sort();
            hidden.dedup();
            for n in hidden {
                out.push(Change {
                    path: path.join(n).display().to_string(),
                    kind: ChangeKind::Deleted,
                });
            }
        }
        walk(&sub, &path, lowers, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_dir_entries_read_as_added_changed_and_deleted() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("lower"), d.path().join("upper"));
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/conf"), "a").unwrap();
        std::fs::write(lower.join("etc/gone"), "a").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/conf"), "b").unwrap();
        std::fs::write(upper.join("new"), "n").unwrap();
        let whiteout = nix::sys::stat::mknod(
            &upper.join("etc/gone"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o600),
            0,
        );
        let got = changes(&upper, std::slice::from_ref(&lower)).unwrap();
        let text: Vec<String> = got
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
        if whiteout.is_ok() {
            assert_eq!(text, ["C /etc", "C /etc/conf", "D /etc/gone", "A /new"]);
        } else {
            // Without CAP_MKNOD no whiteout can be made here; the root e2e test covers it.
            assert_eq!(text, ["C /etc", "C /etc/conf", "A /new"]);
        }
    }
}

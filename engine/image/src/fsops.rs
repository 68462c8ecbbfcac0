//! Root-confined, fd-relative filesystem primitives for the layer unpacker.
//!
//! Every path is walked one component at a time from a directory fd with `O_NOFOLLOW`, so no
//! operation can follow a symlink (planted by an earlier tar entry or otherwise) or `..` out of
//! the layer directory. Only single, validated path components ever reach a syscall.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// Why a walk inside the root failed.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A path component exists but is not a directory (a symlink, a file, a device…).
    #[error("component {component:?} is not a directory (symlinks are never followed)")]
    NotADirectory {
        /// The offending component.
        component: String,
    },
    /// A component is missing and creation was not requested.
    #[error("component {component:?} does not exist")]
    Missing {
        /// The missing component.
        component: String,
    },
    /// Any other syscall failure.
    #[error("{op} {component:?}: {source}")]
    Sys {
        /// Operation.
        op: &'static str,
        /// Component involved.
        component: String,
        /// Errno.
        source: Errno,
    },
}

fn lossy(c: &OsStr) -> String {
    c.to_string_lossy().into_owned()
}

/// Opens `root` itself as an `O_PATH` directory fd.
pub fn open_root(root: &std::path::Path) -> Result<OwnedFd, Errno> {
    openat(
        nix::fcntl::AT_FDCWD,
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Opens a directory one component below `dir` without following symlinks.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        flags | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Walks `components` below `root`; with `create`, missing directories are made with mode 0755.
/// Each component must be a plain name (no `/`, `.` or `..`: the caller validated them).
pub fn walk(
    root: BorrowedFd<'_>,
    components: &[&OsStr],
    create: bool,
) -> Result<OwnedFd, WalkError> {
    let mut cur =
        open_dir_at(root, OsStr::new("."), OFlag::O_PATH).map_err(|source| WalkError::Sys {
            op: "open",
            component: ".".into(),
            source,
        })?;
    for c in components {
        let next = match open_dir_at(cur.as_fd(), c, OFlag::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create => {
                match mkdirat(cur.as_fd(), *c, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(source) => {
                        return Err(WalkError::Sys {
                            op: "mkdir",
                            component: lossy(c),
                            source,
                        });
                    }
                }
                open_dir_at(cur.as_fd(), c, OFlag::O_PATH).map_err(|e| classify(e, c))?
            }
            Err(e) => return Err(classify(e, c)),
        };
        cur = next;
    }
    Ok(cur)
}

fn classify(e: Errno, c: &OsStr) -> WalkError {
    match e {
        Errno::ENOTDIR | Errno::ELOOP => WalkError::NotADirectory {
            component: lossy(c),
        },
        Errno::ENOENT => WalkError::Missing {
            component: lossy(c),
        },
        source => WalkError::Sys {
            op: "open",
            component: lossy(c),
            source,
        },
    }
}

/// `lstat` of `name` in `dir`; `None` when absent.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Option<FileStat>, Errno> {
    match fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a stat describes a directory.
pub fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// Removes `name` in `dir` whatever it is; directories are emptied recursively through fds,
/// never following symlinks. Absent is not an error.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if !is_dir(&st) {
        return unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
    }
    let fd = open_dir_at(dir, name, OFlag::O_RDONLY)?;
    let child_dir = fd.try_clone().map_err(|_| Errno::EBADF)?;
    let mut d = Dir::from_fd(fd)?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    for n in names {
        remove_all_at(child_dir.as_fd(), OsStr::from_bytes(&n))?;
    }
    unlinkat(dir, name, UnlinkatFlags::RemoveDir)
}

/// Sets an extended attribute on an open (non-`O_PATH`) fd.
pub fn fsetxattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> Result<(), Errno> {
    let cname = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `fd` is a valid open descriptor for the duration of the call, `cname` is a
    // NUL-terminated string and `value` is a live slice whose pointer/length pair is passed as is.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            cname.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// Reads an extended attribute of a path (for tests and checks); `None` when absent.
pub fn lgetxattr(path: &std::path::Path, name: &str) -> Result<Option<Vec<u8>>, Errno> {
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let cname = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated and live; `buf` is a live, writable buffer of the
    // length passed.
    let rc = unsafe {
        libc::lgetxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    match Errno::result(rc) {
        Ok(n) => {
            buf.truncate(n as usize);
            Ok(Some(buf))
        }
        Err(Errno::ENODATA) => Ok(None),
        Err(e) => Err(e),
    }
}

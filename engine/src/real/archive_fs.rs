//! fd-relative file access inside a container's root for the archive endpoints (`docker cp`).
//!
//! Everything is opened from one root directory fd with `openat2(RESOLVE_IN_ROOT)`, so `..` and
//! every symlink (absolute or relative, planted or swapped by the container at any time) resolve
//! inside that root and never on the host; the last component of what is created, replaced or
//! chmod-ed is never followed (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, `*at` calls on the parent
//! fd). Paths here are container paths (`/etc/passwd`); the root fd decides what they mean.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// Failures of archive operations inside a container.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The container path does not exist.
    #[error("Could not find the file {path} in container {container}")]
    NotFound {
        /// Container path.
        path: String,
        /// Container id or name as given.
        container: String,
    },
    /// The destination of an extraction is not a directory.
    #[error("extraction point is not a directory: {path}")]
    NotDirectory {
        /// Container path.
        path: String,
    },
    /// An archive entry (or a symlink or hard link it makes) points outside the destination.
    #[error("archive entry {entry:?} would be written outside {dest}: refusing (breakout)")]
    Breakout {
        /// The entry's name (and link target).
        entry: String,
        /// The destination directory.
        dest: String,
    },
    /// An entry would replace a directory with a non-directory or the other way round while
    /// `noOverwriteDirNonDir` was asked for.
    #[error("cannot overwrite {existing} {path:?} with {new}")]
    Overwrite {
        /// Container path.
        path: String,
        /// What is there (`directory`/`non-directory`).
        existing: &'static str,
        /// What the archive has.
        new: &'static str,
    },
    /// The file system (or volume) is read-only.
    #[error("cannot write {path}: read-only file system")]
    ReadOnly {
        /// Container path.
        path: String,
    },
    /// The archive could not be read or parsed.
    #[error("cannot read the archive: {0}")]
    Read(#[source] std::io::Error),
    /// Writing the archive being sent failed (the client left).
    #[error("cannot write the archive: {0}")]
    Write(#[source] std::io::Error),
    /// A file system call failed.
    #[error("cannot {op} {path}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// Container path.
        path: String,
        /// The kernel's answer.
        #[source]
        source: Errno,
    },
}

impl ArchiveError {
    /// A failed `op` on container path `path`; read-only file systems get their own variant.
    pub fn sys(op: &'static str, path: &Path, source: Errno) -> Self {
        let path = path.display().to_string();
        if source == Errno::EROFS {
            return ArchiveError::ReadOnly { path };
        }
        ArchiveError::Sys { op, path, source }
    }
}

/// Result of archive operations.
pub type ArchiveResult<T> = Result<T, ArchiveError>;

/// `path` without its leading `/`, `.` for the root: what `openat2` takes relative to a root fd.
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// Opens container path `path` under `root` with `flags`; every symlink, the last one too,
/// resolves inside `root` (add `O_NOFOLLOW` to refuse a symlink as the last component).
pub fn open_in(root: &OwnedFd, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, relative(path).as_path(), how)
}

/// Lexically cleans a container path: absolute, no `.`, `..` folded (never above `/`).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The parent directory and base name of a cleaned container path (`None` for `/`).
pub fn split(path: &Path) -> Option<(PathBuf, OsString)> {
    let name = path.file_name()?.to_os_string();
    Some((path.parent().unwrap_or(Path::new("/")).to_owned(), name))
}

/// Resolves the symlinks of container path `path` inside `root` the way the container sees
/// them and returns the cleaned path they lead to (`path` must exist; a dangling or looping
/// link is `ENOENT`/`ELOOP`). The result is only a name: whatever is opened by it later is
/// opened with [`open_in`], so a link swapped in between still resolves inside `root`.
pub fn canonical(root: &OwnedFd, path: &Path) -> nix::Result<PathBuf> {
    let mut pending: Vec<OsString> = components_rev(path);
    let mut out = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            out.pop();
            continue;
        }
        let dir = open_in(root, &out, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let st = fstatat(&dir, part.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if is_kind(&st, SFlag::S_IFLNK) {
            links += 1;
            if links > 40 {
                return Err(Errno::ELOOP);
            }
            let target = PathBuf::from(nix::fcntl::readlinkat(&dir, part.as_os_str())?);
            if target.is_absolute() {
                out = PathBuf::from("/");
            }
            pending.extend(components_rev(&target));
        } else {
            out.push(part);
        }
    }
    Ok(out)
}

fn components_rev(path: &Path) -> Vec<OsString> {
    let mut v: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    v.reverse();
    v
}

/// True when `st` is of file type `kind`.
pub fn is_kind(st: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == kind
}

/// Opens directory `dir` (a cleaned container path) as `O_PATH`, creating it and its missing
/// parents (mode 0755, owned by `owner` when given) relative to their parent's fd.
pub fn mkdir_all(root: &OwnedFd, dir: &Path, owner: Option<(u32, u32)>) -> ArchiveResult<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match open_in(root, dir, flags) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(ArchiveError::sys("open", dir, e)),
    }
    let Some((parent, name)) = split(dir) else {
        return open_in(root, dir, flags).map_err(|e| ArchiveError::sys("open", dir, e));
    };
    let pfd = mkdir_all(root, &parent, owner)?;
    match mkdirat(&pfd, name.as_os_str(), Mode::from_bits_truncate(0o755)) {
        Ok(()) => {
            if let Some((uid, gid)) = owner {
                nix::unistd::fchownat(
                    &pfd,
                    name.as_os_str(),
                    Some(uid.into()),
                    Some(gid.into()),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| ArchiveError::sys("chown", dir, e))?;
            }
        }
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(ArchiveError::sys("create directory", dir, e)),
    }
    open_in(root, dir, flags).map_err(|e| ArchiveError::sys("open", dir, e))
}

/// Removes `name` in directory `parent` (a directory with everything under it), never
/// following a symlink. `path` names it in errors.
pub fn remove_all(parent: &OwnedFd, name: &OsString, path: &Path) -> ArchiveResult<()> {
    let st = match fstatat(parent, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(ArchiveError::sys("stat", path, e)),
    };
    if !is_kind(&st, SFlag::S_IFDIR) {
        return match unlinkat(parent, name.as_os_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(ArchiveError::sys("remove", path, e)),
        };
    }
    let dirfd = openat(
        parent,
        name.as_os_str(),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ArchiveError::sys("open", path, e))?;
    for child in list_dir(&dirfd).map_err(|e| ArchiveError::sys("list", path, e))? {
        remove_all(&dirfd, &child, &path.join(&child))?;
    }
    match unlinkat(parent, name.as_os_str(), UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(ArchiveError::sys("remove", path, e)),
    }
}

/// The names in directory `dir` (without `.` and `..`), sorted.
pub fn list_dir(dir: &impl AsFd) -> nix::Result<Vec<OsString>> {
    let fd = openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(std::os::unix::ffi::OsStringExt::from_vec(name.to_vec()));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::open;

    fn root_fd(dir: &Path) -> OwnedFd {
        open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let (root, host) = (d.path().join("root"), d.path().join("host"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::os::unix::fs::symlink(&host, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etclink")).unwrap();
        let fd = root_fd(&root);
        assert_eq!(
            canonical(&fd, Path::new("/etclink")).unwrap(),
            Path::new("/etc")
        );
        assert_eq!(
            canonical(&fd, Path::new("/up/etc")).unwrap(),
            Path::new("/etc")
        );
        assert_eq!(canonical(&fd, Path::new("/abs")), Err(Errno::ENOENT));
        assert!(mkdir_all(&fd, Path::new("/abs/inside"), None).is_err());
        let made = mkdir_all(&fd, Path::new("/etclink/new/deep"), None).unwrap();
        let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&made));
        assert_eq!(
            std::fs::read_link(fd_path).unwrap(),
            root.join("etc/new/deep")
        );
        assert!(
            std::fs::read_dir(&host).unwrap().next().is_none(),
            "host touched"
        );
        assert_eq!(clean(Path::new("../a/./b/../c")), Path::new("/a/c"));
        assert_eq!(
            split(Path::new("/a/b")),
            Some((PathBuf::from("/a"), OsString::from("b")))
        );
    }

    #[test]
    fn remove_all_never_follows_links() {
        let d = tempfile::tempdir().unwrap();
        let (root, host) = (d.path().join("root"), d.path().join("host"));
        std::fs::create_dir_all(root.join("victim/sub")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("keep"), "x").unwrap();
        std::os::unix::fs::symlink(&host, root.join("victim/sub/link")).unwrap();
        let fd = root_fd(&root);
        remove_all(&fd, &OsString::from("victim"), Path::new("/victim")).unwrap();
        assert!(!root.join("victim").exists());
        assert!(host.join("keep").exists());
    }
}

//! Copy-up: the content an image has at a path is copied into an empty volume first mounted
//! there, as Docker does, keeping ownership, modes, times, xattrs, symlinks and hardlinks.
//!
//! Every step is relative to directory fds: the image path is opened with `openat2`
//! `RESOLVE_IN_ROOT` (a symlink in the image resolves inside the rootfs, never on the host) and
//! the tree is walked with `O_NOFOLLOW`, so nothing outside the rootfs and the volume is read or
//! written.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{
    FileStat, Mode, SFlag, UtimensatFlags, fstatat, futimens, mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, linkat, symlinkat};

/// Opens `path` (absolute, as seen inside the container) under the directory `root` with
/// `flags`, resolving every symlink as if `root` were `/`: the result never leaves `root`.
pub fn open_in_root(root: &impl AsFd, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    Ok(openat2(root.as_fd(), rel, how)?)
}

/// Opens a directory by host path for fd-relative work.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?)
}

/// Names in a directory, without `.` and `..`.
pub fn entries(dir: &impl AsFd) -> io::Result<Vec<OsString>> {
    let mut d = Dir::openat(
        dir.as_fd(),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e?;
        let name = OsStr::from_bytes(e.file_name().to_bytes());
        if name != "." && name != ".." {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Entries created (directories, files, links, nodes).
    pub entries: u64,
    /// Bytes of file content copied.
    pub bytes: u64,
}

/// A copy failure with the path (relative to the copied directory) it happened at.
#[derive(Debug)]
pub struct CopyError {
    /// Where.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

struct Copier<'a> {
    dst_root: &'a OwnedFd,
    seen: HashMap<(u64, u64), PathBuf>,
    stats: CopyStats,
}

/// Copies the content of directory `src` into the (empty) directory `dst`, then gives `dst`
/// the owner, mode, xattrs and times of `src`.
pub fn copy_tree(src: &OwnedFd, dst: &OwnedFd) -> Result<CopyStats, CopyError> {
    let mut c = Copier {
        dst_root: dst,
        seen: HashMap::new(),
        stats: CopyStats::default(),
    };
    let at = |path: &Path| {
        let path = path.to_owned();
        move |source| CopyError { path, source }
    };
    c.copy_dir(src, dst, Path::new(""))?;
    let st = nix::sys::stat::fstat(src.as_fd())
        .map_err(io::Error::from)
        .map_err(at(Path::new("")))?;
    apply_meta(src, dst, &st).map_err(at(Path::new("")))?;
    Ok(c.stats)
}

impl Copier<'_> {
    fn copy_dir(&mut self, src: &OwnedFd, dst: &OwnedFd, rel: &Path) -> Result<(), CopyError> {
        let names = entries(src).map_err(|source| CopyError {
            path: rel.to_owned(),
            source,
        })?;
        for name in names {
            let child = rel.join(&name);
            self.copy_entry(src, dst, &name, &child)
                .map_err(|source| CopyError {
                    path: child.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    fn copy_entry(
        &mut self,
        src: &OwnedFd,
        dst: &OwnedFd,
        name: &OsStr,
        rel: &Path,
    ) -> io::Result<()> {
        let st = fstatat(src.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        self.stats.entries += 1;
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(dst.as_fd(), name, Mode::from_bits_truncate(0o700))?;
                let s = openat(
                    src.as_fd(),
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                    Mode::empty(),
                )?;
                let d = openat(
                    dst.as_fd(),
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                    Mode::empty(),
                )?;
                self.copy_dir(&s, &d, rel).map_err(|e| {
                    io::Error::new(
                        e.source.kind(),
                        format!("{}: {}", e.path.display(), e.source),
                    )
                })?;
                apply_meta(&s, &d, &st)
            }
            SFlag::S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.seen.get(&key) {
                        linkat(
                            self.dst_root.as_fd(),
                            first.as_path(),
                            dst.as_fd(),
                            name,
                            AtFlags::empty(),
                        )?;
                        return Ok(());
                    }
                }
                let s = openat(src.as_fd(), name, OFlag::O_RDONLY | nofollow, Mode::empty())?;
                let d = openat(
                    dst.as_fd(),
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow,
                    Mode::from_bits_truncate(0o600),
                )?;
                let (mut sf, mut df) = (File::from(s), File::from(d));
                self.stats.bytes += io::copy(&mut sf, &mut df)?;
                let (s, d): (OwnedFd, OwnedFd) = (sf.into(), df.into());
                apply_meta(&s, &d, &st)?;
                if st.st_nlink > 1 {
                    self.seen.insert(key, rel.to_owned());
                }
                Ok(())
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(src.as_fd(), name)?;
                symlinkat(target.as_os_str(), dst.as_fd(), name)?;
                fchownat(
                    dst.as_fd(),
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                let (a, m) = times(&st);
                utimensat(dst.as_fd(), name, &a, &m, UtimensatFlags::NoFollowSymlink)?;
                Ok(())
            }
            _ => {
                mknodat(dst.as_fd(), name, kind, perm, st.st_rdev)?;
                fchownat(
                    dst.as_fd(),
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                nix::sys::stat::fchmodat(
                    dst.as_fd(),
                    name,
                    perm,
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )?;
                let (a, m) = times(&st);
                utimensat(dst.as_fd(), name, &a, &m, UtimensatFlags::NoFollowSymlink)?;
                Ok(())
            }
        }
    }
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

/// Owner first (chown clears set-id bits), then mode, xattrs and times.
fn apply_meta(src: &OwnedFd, dst: &OwnedFd, st: &FileStat) -> io::Result<()> {
    fchown(
        dst.as_fd(),
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    nix::sys::stat::fchmod(dst.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    copy_xattrs(src, dst)?;
    let (a, m) = times(st);
    futimens(dst.as_fd(), &a, &m)?;
    Ok(())
}

fn copy_xattrs(src: &OwnedFd, dst: &OwnedFd) -> io::Result<()> {
    let names = list_xattrs(src)?;
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let cname = CString::new(name).map_err(io::Error::other)?;
        let Some(value) = get_xattr(src, &cname)? else {
            continue;
        };
        // SAFETY: `cname` is NUL-terminated, `value` is a live buffer of the given length and
        // the fd is owned by the caller for the duration of the call.
        let r = unsafe {
            libc::fsetxattr(
                dst.as_raw_fd(),
                cname.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOTSUP) {
                return Err(e);
            }
        }
    }
    Ok(())
}

fn list_xattrs(fd: &OwnedFd) -> io::Result<Vec<u8>> {
    loop {
        // SAFETY: a NULL buffer of size 0 asks only for the needed size.
        let n = unsafe { libc::flistxattr(fd.as_raw_fd(), std::ptr::null_mut(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::ENOTSUP) {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        let mut buf = vec![0u8; n as usize];
        // SAFETY: `buf` is a live buffer of `buf.len()` bytes.
        let m = unsafe { libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if m >= 0 {
            buf.truncate(m as usize);
            return Ok(buf);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}

fn get_xattr(fd: &OwnedFd, name: &CString) -> io::Result<Option<Vec<u8>>> {
    loop {
        // SAFETY: NUL-terminated name; a NULL buffer of size 0 asks only for the size.
        let n = unsafe { libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), std::ptr::null_mut(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::ENODATA) {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let mut buf = vec![0u8; n as usize];
        // SAFETY: NUL-terminated name; `buf` is a live buffer of `buf.len()` bytes.
        let m = unsafe {
            libc::fgetxattr(
                fd.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if m >= 0 {
            buf.truncate(m as usize);
            return Ok(Some(buf));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ERANGE) {
            return Err(e);
        }
    }
}

/// Removes everything inside the directory `dir` (not `dir` itself), never following symlinks
/// and never crossing into another mount.
pub fn clear_dir(dir: &OwnedFd) -> io::Result<()> {
    let dev = nix::sys::stat::fstat(dir.as_fd())?.st_dev;
    for name in entries(dir)? {
        let st = fstatat(dir.as_fd(), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits() {
            if st.st_dev != dev {
                return Err(io::Error::other(format!(
                    "{} is a mount point",
                    Path::new(&name).display()
                )));
            }
            let sub = openat(
                dir.as_fd(),
                name.as_os_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            clear_dir(&sub)?;
            nix::unistd::unlinkat(
                dir.as_fd(),
                name.as_os_str(),
                nix::unistd::UnlinkatFlags::RemoveDir,
            )?;
        } else {
            nix::unistd::unlinkat(
                dir.as_fd(),
                name.as_os_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    #[test]
    fn copies_files_links_modes_and_hardlinks() {
        let d = tempfile::tempdir().unwrap();
        let (src, dst) = (d.path().join("src"), d.path().join("dst"));
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir(&dst).unwrap();
        std::fs::write(src.join("a"), b"hello").unwrap();
        std::fs::hard_link(src.join("a"), src.join("sub/a2")).unwrap();
        std::os::unix::fs::symlink("../a", src.join("sub/link")).unwrap();
        std::fs::set_permissions(
            src.join("sub"),
            std::os::unix::fs::PermissionsExt::from_mode(0o751),
        )
        .unwrap();
        std::fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o711))
            .unwrap();
        let stats = copy_tree(&open_dir(&src).unwrap(), &open_dir(&dst).unwrap()).unwrap();
        assert_eq!(stats.bytes, 5);
        assert_eq!(std::fs::read(dst.join("a")).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_link(dst.join("sub/link")).unwrap(),
            Path::new("../a")
        );
        let (a, a2) = (
            std::fs::metadata(dst.join("a")).unwrap(),
            std::fs::metadata(dst.join("sub/a2")).unwrap(),
        );
        assert_eq!(a.ino(), a2.ino(), "hardlinks stay hardlinks");
        assert_eq!(
            std::fs::metadata(dst.join("sub")).unwrap().mode() & 0o7777,
            0o751
        );
        assert_eq!(std::fs::metadata(&dst).unwrap().mode() & 0o7777, 0o711);
    }

    #[test]
    fn image_paths_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/marker"), b"inside").unwrap();
        // An absolute symlink in the image points at the host's /etc: it must resolve to the
        // rootfs's own /etc.
        std::os::unix::fs::symlink("/etc", root.join("data")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("up")).unwrap();
        let r = open_dir(&root).unwrap();
        for p in ["/data", "/up", "/../../etc"] {
            let fd = open_in_root(&r, Path::new(p), OFlag::O_RDONLY | OFlag::O_DIRECTORY).unwrap();
            let names = entries(&fd).unwrap();
            assert_eq!(names, [OsString::from("marker")], "{p}");
        }
    }

    #[test]
    fn clear_dir_removes_content_but_not_link_targets() {
        let d = tempfile::tempdir().unwrap();
        let (v, outside) = (d.path().join("v"), d.path().join("outside"));
        std::fs::create_dir_all(v.join("x/y")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"1").unwrap();
        std::os::unix::fs::symlink(&outside, v.join("x/out")).unwrap();
        clear_dir(&open_dir(&v).unwrap()).unwrap();
        assert_eq!(std::fs::read_dir(&v).unwrap().count(), 0);
        assert!(outside.join("keep").exists());
    }
}

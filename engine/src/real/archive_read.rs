//! Reading from a container for `GET`/`HEAD /containers/{id}/archive` and `export`: the stat of
//! a path and a tar of it, in Docker's layout (the top entry is the path's base name).
//!
//! The tree is walked fd-relative from the container's root fd: each directory is opened from
//! its parent's fd with `O_NOFOLLOW`, each file with `O_NOFOLLOW | O_NONBLOCK` and checked to be
//! a regular file after opening, symlinks are read, never followed. A symlink the container
//! swaps in during the walk is archived as a symlink; nothing outside the root is ever read.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

use super::archive_fs::{
    ArchiveError, ArchiveResult, canonical, clean, is_kind, list_dir, open_in,
};
use crate::backend::{PathStat, archive::go_mode};

/// A path to read: where it is (symlinks of its parents resolved) and its stat.
#[derive(Debug, Clone)]
pub struct Source {
    /// The cleaned container path with the parents' symlinks resolved (the last component is
    /// not followed unless the path ended in `/` or `/.`).
    pub resolved: PathBuf,
    /// The name of the top entry of the tar (the base name of the path as asked).
    pub top_name: String,
    /// What Docker reports in `X-Docker-Container-Path-Stat`.
    pub stat: PathStat,
}

fn rfc3339(secs: i64, nanos: i64) -> String {
    let t = std::time::UNIX_EPOCH
        + std::time::Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32);
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Finds `path` in the container whose root is `root` (`container` names it in errors).
pub fn locate(root: &OwnedFd, container: &str, path: &str) -> ArchiveResult<Source> {
    let not_found = || ArchiveError::NotFound {
        path: path.to_owned(),
        container: container.to_owned(),
    };
    let asked = Path::new(if path.is_empty() { "/" } else { path });
    let follow_last = path.ends_with('/') || path.ends_with("/.") || path == ".";
    let cleaned = clean(asked);
    let resolved = match (follow_last, cleaned.parent(), cleaned.file_name()) {
        (false, Some(parent), Some(base)) => canonical(root, parent).map(|p| p.join(base)),
        _ => canonical(root, &cleaned),
    }
    .map_err(|e| match e {
        Errno::ENOENT | Errno::ENOTDIR => not_found(),
        e => ArchiveError::sys("resolve", asked, e),
    })?;
    let fd = open_in(root, &resolved, OFlag::O_PATH | OFlag::O_NOFOLLOW).map_err(|e| match e {
        Errno::ENOENT | Errno::ENOTDIR => not_found(),
        e => ArchiveError::sys("open", &resolved, e),
    })?;
    let st = fstat(&fd).map_err(|e| ArchiveError::sys("stat", &resolved, e))?;
    let link_target = if is_kind(&st, SFlag::S_IFLNK) {
        canonical(root, &resolved)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let top_name = if path.ends_with("/.") || path == "." {
        ".".to_owned()
    } else {
        cleaned
            .file_name()
            .map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned())
    };
    Ok(Source {
        resolved,
        stat: PathStat {
            name: top_name.clone(),
            size: st.st_size,
            mode: go_mode(st.st_mode),
            mtime: rfc3339(st.st_mtime, st.st_mtime_nsec),
            link_target,
        },
        top_name,
    })
}

/// Writes a tar of `src` (recursively for a directory) to `out` and finishes it.
pub fn write_tar(root: &OwnedFd, src: &Source, out: impl Write) -> ArchiveResult<()> {
    let mut w = Walker {
        builder: tar::Builder::new(out),
        links: HashMap::new(),
    };
    let top = Path::new(&src.top_name);
    match (src.resolved.parent(), src.resolved.file_name()) {
        (Some(parent), Some(base)) => {
            let dir = open_in(root, parent, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .map_err(|e| ArchiveError::sys("open", parent, e))?;
            w.add(&dir, base, &src.resolved, top)?;
        }
        _ => {
            let dir = open_in(root, Path::new("/"), OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .map_err(|e| ArchiveError::sys("open", Path::new("/"), e))?;
            let top = if src.top_name == "/" {
                Path::new(".")
            } else {
                top
            };
            w.add(&dir, OsStr::new("."), Path::new("/"), top)?;
        }
    }
    w.builder.finish().map_err(ArchiveError::Write)?;
    w.builder.get_mut().flush().map_err(ArchiveError::Write)
}

struct Walker<W: Write> {
    builder: tar::Builder<W>,
    links: HashMap<(u64, u64), PathBuf>,
}

fn header_of(st: &FileStat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

impl<W: Write> Walker<W> {
    /// Appends an entry named `arch` byte for byte when the name fits the header (the `tar`
    /// crate would drop a leading `./`, which Docker's clients rely on for `dir/.`), else
    /// with a GNU long name.
    fn append(&mut self, h: &mut tar::Header, arch: &Path, data: impl Read) -> ArchiveResult<()> {
        let raw = std::os::unix::ffi::OsStrExt::as_bytes(arch.as_os_str());
        if raw.len() < 100 {
            let slot = &mut h.as_old_mut().name;
            slot.fill(0);
            slot[..raw.len()].copy_from_slice(raw);
            h.set_cksum();
            self.builder.append(h, data).map_err(ArchiveError::Write)
        } else {
            self.builder
                .append_data(h, arch, data)
                .map_err(ArchiveError::Write)
        }
    }

    /// Archives `name` in the directory `dir` (container path `path`) as `arch`.
    fn add(&mut self, dir: &OwnedFd, name: &OsStr, path: &Path, arch: &Path) -> ArchiveResult<()> {
        let st = match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Gone since it was listed: the container changed it meanwhile, as `tar` skips it.
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(ArchiveError::sys("stat", path, e)),
        };
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let write = ArchiveError::Write;
        match kind {
            SFlag::S_IFDIR => {
                let fd = match openat(
                    dir,
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => return Ok(()),
                    Err(e) => return Err(ArchiveError::sys("open", path, e)),
                };
                let st = fstat(&fd).map_err(|e| ArchiveError::sys("stat", path, e))?;
                let mut h = header_of(&st, tar::EntryType::Directory);
                let mut dir_name = arch.as_os_str().to_owned();
                if !dir_name.to_string_lossy().ends_with('/') {
                    dir_name.push("/");
                }
                self.append(&mut h, Path::new(&dir_name), std::io::empty())?;
                let children: Vec<OsString> =
                    list_dir(&fd).map_err(|e| ArchiveError::sys("list", path, e))?;
                for child in children {
                    self.add(&fd, &child, &path.join(&child), &arch.join(&child))?;
                }
            }
            SFlag::S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key) {
                        let mut h = header_of(&st, tar::EntryType::Link);
                        return self.builder.append_link(&mut h, arch, first).map_err(write);
                    }
                    self.links.insert(key, arch.to_owned());
                }
                let fd = match openat(
                    dir,
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT | Errno::ELOOP) => return Ok(()),
                    Err(e) => return Err(ArchiveError::sys("open", path, e)),
                };
                let st = fstat(&fd).map_err(|e| ArchiveError::sys("stat", path, e))?;
                if !is_kind(&st, SFlag::S_IFREG) {
                    // Swapped for something else between the listing and the open.
                    return Ok(());
                }
                let size = st.st_size.max(0) as u64;
                let mut h = header_of(&st, tar::EntryType::Regular);
                h.set_size(size);
                // Exactly `size` bytes even if the file shrinks or grows meanwhile.
                let data = std::fs::File::from(fd)
                    .take(size)
                    .chain(std::io::repeat(0))
                    .take(size);
                self.append(&mut h, arch, data)?;
            }
            SFlag::S_IFLNK => {
                let target = match readlinkat(dir, name) {
                    Ok(t) => t,
                    Err(Errno::ENOENT | Errno::EINVAL) => return Ok(()),
                    Err(e) => return Err(ArchiveError::sys("read link", path, e)),
                };
                let mut h = header_of(&st, tar::EntryType::Symlink);
                let raw = std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str());
                if raw.len() <= 100 {
                    // Stored byte for byte (`append_link` would normalize `/` to `//`).
                    h.set_link_name_literal(raw).map_err(write)?;
                    self.append(&mut h, arch, std::io::empty())?;
                } else {
                    self.builder
                        .append_link(&mut h, arch, target)
                        .map_err(write)?;
                }
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                let kind = match kind {
                    SFlag::S_IFCHR => tar::EntryType::Char,
                    SFlag::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header_of(&st, kind);
                if kind != tar::EntryType::Fifo {
                    let (major, minor) = (
                        nix::sys::stat::major(st.st_rdev),
                        nix::sys::stat::minor(st.st_rdev),
                    );
                    h.set_device_major(major as u32).map_err(write)?;
                    h.set_device_minor(minor as u32).map_err(write)?;
                }
                self.append(&mut h, arch, std::io::empty())?;
            }
            // Sockets are not archived (as Docker).
            _ => {}
        }
        Ok(())
    }
}

/// A `Write` that hands 64 KiB chunks to an async receiver (the HTTP body).
#[derive(Debug)]
pub struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChunkWriter {
    /// A writer feeding `tx`.
    pub fn new(tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    /// Sends `e` to the receiver (the body then ends with an error).
    pub fn fail(&self, e: std::io::Error) {
        let _ = self.tx.blocking_send(Err(e));
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::open;

    fn names(tar: &[u8]) -> Vec<String> {
        tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let mut s = e.path().unwrap().display().to_string();
                if let Ok(Some(l)) = e.link_name() {
                    s = format!("{s} -> {}", l.display());
                }
                s
            })
            .collect()
    }

    #[test]
    fn a_directory_is_archived_under_its_base_name_and_links_stay_links() {
        let d = tempfile::tempdir().unwrap();
        let (root, host) = (d.path().join("root"), d.path().join("host"));
        std::fs::create_dir_all(root.join("srv/app/sub")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("secret"), "host secret").unwrap();
        std::fs::write(root.join("srv/app/sub/f"), "data").unwrap();
        std::os::unix::fs::symlink(host.join("secret"), root.join("srv/app/leak")).unwrap();
        std::os::unix::fs::symlink("/", root.join("srv/app/slash")).unwrap();
        std::os::unix::fs::symlink("/srv", root.join("link")).unwrap();
        let fd = open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        // The parent `link` resolves inside the root.
        let src = locate(&fd, "c", "/link/app").unwrap();
        assert_eq!(src.resolved, Path::new("/srv/app"));
        assert!(src.stat.is_dir());
        let mut out = Vec::new();
        write_tar(&fd, &src, &mut out).unwrap();
        let got = names(&out);
        assert_eq!(
            got,
            [
                "app/".to_owned(),
                format!("app/leak -> {}", host.join("secret").display()),
                "app/slash -> /".to_owned(),
                "app/sub/".to_owned(),
                "app/sub/f".to_owned(),
            ]
        );
        assert!(!String::from_utf8_lossy(&out).contains("host secret"));
        // A symlink as the last component is reported, not followed.
        let link = locate(&fd, "c", "/link").unwrap();
        assert!(link.stat.is_symlink());
        assert_eq!(link.stat.link_target, "/srv");
        // A link to a host path resolves inside the root, where nothing is.
        let err = locate(&fd, "c", "/srv/app/leak/").unwrap_err();
        assert!(matches!(err, ArchiveError::NotFound { .. }), "{err}");
        let contents = locate(&fd, "c", "/srv/app/sub/.").unwrap();
        let mut out = Vec::new();
        write_tar(&fd, &contents, &mut out).unwrap();
        assert_eq!(names(&out), ["./", "./f"]);
    }
}

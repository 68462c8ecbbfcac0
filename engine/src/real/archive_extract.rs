//! Extracting a tar into a directory of a container (`PUT /containers/{id}/archive`).
//!
//! The `tar` crate only parses; every entry is created here with `*at` calls on its parent
//! directory's fd, the parent opened from the container's root fd with `RESOLVE_IN_ROOT` (see
//! [`super::archive_fs`]). Entry names that climb out of the destination, and relative symlinks
//! or hard links that would, are refused as Docker refuses them; an existing entry is replaced
//! without following it; ownership, mode and times are set on the fd that was created, or with
//! `AT_SYMLINK_NOFOLLOW`, so a symlink swapped in by the container never redirects a chown,
//! chmod or write to the host.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, futimens};
use nix::sys::stat::{fstatat, mkdirat, mknodat, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, linkat, symlinkat};
use tar::EntryType;

use super::archive_fs::{
    ArchiveError, ArchiveResult, canonical, clean, is_kind, mkdir_all, open_in, remove_all, split,
};

/// How to extract.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Refuse to replace a directory by a non-directory and the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Owner of every entry instead of the archive's uid/gid.
    pub owner: Option<(u32, u32)>,
    /// Where this process's fds are named (`/proc/self/fd`), to chmod device nodes and fifos
    /// through the fd that was checked.
    pub fd_dir: PathBuf,
}

/// What an extraction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Entries created.
    pub entries: u64,
}

/// Extracts the tar read from `input` into the existing directory `dest` (a container path,
/// its symlinks followed inside `root`).
pub fn extract(
    root: &OwnedFd,
    container: &str,
    dest: &str,
    input: impl Read,
    opts: &ExtractOptions,
) -> ArchiveResult<Extracted> {
    let dest_path = Path::new(if dest.is_empty() { "/" } else { dest });
    let not_found = || ArchiveError::NotFound {
        path: dest.to_owned(),
        container: container.to_owned(),
    };
    let dest_dir = match canonical(root, dest_path) {
        Ok(p) => p,
        Err(Errno::ENOENT) => return Err(not_found()),
        Err(Errno::ENOTDIR) => {
            return Err(ArchiveError::NotDirectory {
                path: dest.to_owned(),
            });
        }
        Err(e) => return Err(ArchiveError::sys("resolve", dest_path, e)),
    };
    let fd = open_in(root, &dest_dir, OFlag::O_PATH).map_err(|e| match e {
        Errno::ENOENT => not_found(),
        e => ArchiveError::sys("open", &dest_dir, e),
    })?;
    let st = nix::sys::stat::fstat(&fd).map_err(|e| ArchiveError::sys("stat", &dest_dir, e))?;
    if !is_kind(&st, SFlag::S_IFDIR) {
        return Err(ArchiveError::NotDirectory {
            path: dest.to_owned(),
        });
    }
    let mut ex = Extractor {
        root,
        dest: dest_dir,
        opts,
        dir_times: Vec::new(),
        done: Extracted::default(),
    };
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries().map_err(ArchiveError::Read)? {
        let entry = entry.map_err(ArchiveError::Read)?;
        ex.entry(entry)?;
    }
    // Directory times last, as their contents changed them while extracting.
    for (dir, mtime) in ex.dir_times.iter().rev() {
        let fd = open_in(
            root,
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        )
        .map_err(|e| ArchiveError::sys("open", dir, e))?;
        futimens(&fd, mtime, mtime).map_err(|e| ArchiveError::sys("set times of", dir, e))?;
    }
    Ok(ex.done)
}

struct Extractor<'a> {
    root: &'a OwnedFd,
    dest: PathBuf,
    opts: &'a ExtractOptions,
    dir_times: Vec<(PathBuf, TimeSpec)>,
    done: Extracted,
}

/// `name` (an archive path) below `dest`, or `None` when it climbs out of it.
fn below(dest: &Path, name: &Path) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::ParentDir if !rel.pop() => return None,
            _ => {}
        }
    }
    Some(dest.join(rel))
}

impl Extractor<'_> {
    fn breakout(&self, entry: String) -> ArchiveError {
        ArchiveError::Breakout {
            entry,
            dest: self.dest.display().to_string(),
        }
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> ArchiveResult<()> {
        let kind = entry.header().entry_type();
        let name = entry.path().map_err(ArchiveError::Read)?.into_owned();
        let path =
            below(&self.dest, &name).ok_or_else(|| self.breakout(name.display().to_string()))?;
        let Some((parent_path, base)) = split(&path) else {
            return Ok(());
        };
        if path == self.dest {
            // `./` names the destination itself, which exists and keeps its metadata.
            return Ok(());
        }
        let header = entry.header();
        let mode = header.mode().map_err(ArchiveError::Read)? & 0o7777;
        let (uid, gid) = match self.opts.owner {
            Some(o) => o,
            None => (
                header.uid().map_err(ArchiveError::Read)? as u32,
                header.gid().map_err(ArchiveError::Read)? as u32,
            ),
        };
        let mtime = TimeSpec::new(header.mtime().unwrap_or(0) as _, 0);
        let parent = mkdir_all(self.root, &parent_path, self.opts.owner)?;
        let is_dir = kind == EntryType::Directory;
        self.clear(&parent, &base, &path, is_dir)?;
        let owner = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        let sys = |op: &'static str| {
            let path = path.clone();
            move |e| ArchiveError::sys(op, &path, e)
        };
        match kind {
            EntryType::Directory => {
                match mkdirat(&parent, base.as_os_str(), Mode::from_bits_truncate(0o700)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(ArchiveError::sys("create directory", &path, e)),
                }
                let fd = openat(
                    &parent,
                    base.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(sys("open"))?;
                fchown(&fd, owner.0, owner.1).map_err(sys("chown"))?;
                fchmod(&fd, Mode::from_bits_truncate(mode)).map_err(sys("chmod"))?;
                self.dir_times.push((path.clone(), mtime));
            }
            EntryType::Regular | EntryType::Continuous => {
                let fd = openat(
                    &parent,
                    base.as_os_str(),
                    OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(sys("create"))?;
                let mut file = std::fs::File::from(fd);
                std::io::copy(&mut entry, &mut file).map_err(|e| match e.raw_os_error() {
                    Some(n) => ArchiveError::sys("write", &path, Errno::from_raw(n)),
                    None => ArchiveError::Read(e),
                })?;
                fchown(&file, owner.0, owner.1).map_err(sys("chown"))?;
                fchmod(&file, Mode::from_bits_truncate(mode)).map_err(sys("chmod"))?;
                futimens(&file, &mtime, &mtime).map_err(sys("set times of"))?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(ArchiveError::Read)?
                    .ok_or_else(|| self.breakout(name.display().to_string()))?
                    .into_owned();
                if target.is_relative()
                    && !clean(&parent_path.join(&target)).starts_with(&self.dest)
                {
                    return Err(self.breakout(format!(
                        "{} -> {}",
                        name.display(),
                        target.display()
                    )));
                }
                symlinkat(target.as_os_str(), &parent, base.as_os_str())
                    .map_err(sys("create symlink"))?;
                fchownat(
                    &parent,
                    base.as_os_str(),
                    owner.0,
                    owner.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(sys("chown"))?;
                utimensat(
                    &parent,
                    base.as_os_str(),
                    &mtime,
                    &mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(sys("set times of"))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(ArchiveError::Read)?
                    .ok_or_else(|| self.breakout(name.display().to_string()))?
                    .into_owned();
                let source = below(&self.dest, &target)
                    .filter(|t| *t != self.dest)
                    .ok_or_else(|| {
                        self.breakout(format!("{} => {}", name.display(), target.display()))
                    })?;
                let Some((src_parent, src_base)) = split(&source) else {
                    return Err(self.breakout(target.display().to_string()));
                };
                let src_dir = open_in(self.root, &src_parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
                    .map_err(|e| ArchiveError::sys("open", &src_parent, e))?;
                linkat(
                    &src_dir,
                    src_base.as_os_str(),
                    &parent,
                    base.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(sys("create hard link"))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (sflag, dev) = match kind {
                    EntryType::Char => (SFlag::S_IFCHR, device(&entry)?),
                    EntryType::Block => (SFlag::S_IFBLK, device(&entry)?),
                    _ => (SFlag::S_IFIFO, 0),
                };
                mknodat(
                    &parent,
                    base.as_os_str(),
                    sflag,
                    Mode::from_bits_truncate(mode),
                    dev,
                )
                .map_err(sys("create node"))?;
                fchownat(
                    &parent,
                    base.as_os_str(),
                    owner.0,
                    owner.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(sys("chown"))?;
                let node = openat(
                    &parent,
                    base.as_os_str(),
                    OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(sys("open"))?;
                let via = self.opts.fd_dir.join(node.as_raw_fd().to_string());
                fchmodat(
                    nix::fcntl::AT_FDCWD,
                    &via,
                    Mode::from_bits_truncate(mode),
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(sys("chmod"))?;
                utimensat(
                    &parent,
                    base.as_os_str(),
                    &mtime,
                    &mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(sys("set times of"))?;
            }
            other => {
                tracing::debug!(entry = %name.display(), kind = ?other, "skipping an archive entry of an unsupported type");
                return Ok(());
            }
        }
        self.done.entries += 1;
        Ok(())
    }

    /// Makes room for an entry at `parent`/`base`: keeps an existing directory when a directory
    /// comes, else removes what is there, never following it.
    fn clear(
        &self,
        parent: &OwnedFd,
        base: &OsString,
        path: &Path,
        is_dir: bool,
    ) -> ArchiveResult<()> {
        let st = match fstatat(parent, base.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(ArchiveError::sys("stat", path, e)),
        };
        let was_dir = is_kind(&st, SFlag::S_IFDIR);
        if self.opts.no_overwrite_dir_non_dir && was_dir != is_dir {
            let word = |d: bool| if d { "directory" } else { "non-directory" };
            return Err(ArchiveError::Overwrite {
                path: path.display().to_string(),
                existing: word(was_dir),
                new: word(is_dir),
            });
        }
        if was_dir && is_dir {
            return Ok(());
        }
        remove_all(parent, base, path)
    }
}

fn device<R: Read>(entry: &tar::Entry<'_, R>) -> ArchiveResult<nix::libc::dev_t> {
    let h = entry.header();
    let major = h.device_major().map_err(ArchiveError::Read)?.unwrap_or(0);
    let minor = h.device_minor().map_err(ArchiveError::Read)?.unwrap_or(0);
    Ok(nix::sys::stat::makedev(u64::from(major), u64::from(minor)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::open;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    fn tar_of(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(1_600_000_000);
            h.set_size(0);
            if name.ends_with('/') {
                h.set_entry_type(EntryType::Directory);
                h.set_mode(0o750);
                b.append_data(&mut h, name, std::io::empty()).unwrap();
            } else if let Some(t) = data.strip_prefix("->") {
                h.set_entry_type(EntryType::Symlink);
                h.set_mode(0o777);
                b.append_link(&mut h, name, t).unwrap();
            } else {
                h.set_entry_type(EntryType::Regular);
                h.set_mode(0o4640);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, data.as_bytes()).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    fn opts() -> ExtractOptions {
        ExtractOptions {
            no_overwrite_dir_non_dir: false,
            owner: Some((
                nix::unistd::getuid().as_raw(),
                nix::unistd::getgid().as_raw(),
            )),
            fd_dir: PathBuf::from("/proc/self/fd"),
        }
    }

    #[test]
    fn entries_land_inside_the_root_with_their_modes_even_through_planted_links() {
        let d = tempfile::tempdir().unwrap();
        let (root, host) = (d.path().join("root"), d.path().join("host"));
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("canary"), "host").unwrap();
        // The container planted links to the host's directory by absolute path and to `/`.
        std::os::unix::fs::symlink(&host, root.join("tmp/evil")).unwrap();
        std::os::unix::fs::symlink("/", root.join("tmp/slash")).unwrap();
        std::os::unix::fs::symlink(host.join("canary"), root.join("tmp/canary")).unwrap();
        let fd = open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let tar = tar_of(&[
            ("dir/", ""),
            ("dir/file", "hello"),
            ("dir/abs", "->/etc/passwd"),
            ("slash/at-root", "r"),
            ("canary", "overwritten"),
        ]);
        let done = extract(&fd, "c", "/tmp", &tar[..], &opts()).unwrap();
        assert_eq!(done.entries, 5);
        let meta = std::fs::metadata(root.join("tmp/dir/file")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o4640);
        assert_eq!(meta.mtime(), 1_600_000_000);
        assert_eq!(
            std::fs::read_to_string(root.join("tmp/dir/file")).unwrap(),
            "hello"
        );
        assert_eq!(
            std::fs::metadata(root.join("tmp/dir")).unwrap().mtime(),
            1_600_000_000
        );
        assert_eq!(
            std::fs::read_link(root.join("tmp/dir/abs")).unwrap(),
            Path::new("/etc/passwd")
        );
        // `slash` -> `/` is the container's root: the file lands there.
        assert!(root.join("at-root").is_file());
        // The link named `canary` was replaced, its host target untouched.
        assert_eq!(
            std::fs::read_to_string(root.join("tmp/canary")).unwrap(),
            "overwritten"
        );
        assert_eq!(
            std::fs::read_to_string(host.join("canary")).unwrap(),
            "host"
        );
        // A destination through a link to a host path resolves inside the root: missing there.
        let err = extract(&fd, "c", "/tmp/evil", &tar_of(&[("x", "x")])[..], &opts()).unwrap_err();
        assert!(matches!(err, ArchiveError::NotFound { .. }), "{err}");
        assert_eq!(
            std::fs::read_dir(&host).unwrap().count(),
            1,
            "host dir touched"
        );
    }

    #[test]
    fn breakouts_and_bad_destinations_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        let fd = open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let err = extract(&fd, "c", "/file", &tar_of(&[("x", "x")])[..], &opts()).unwrap_err();
        assert!(matches!(err, ArchiveError::NotDirectory { .. }), "{err}");
        let err = extract(
            &fd,
            "c",
            "/app",
            &tar_of(&[("l", "->../../x")])[..],
            &opts(),
        )
        .unwrap_err();
        assert!(matches!(err, ArchiveError::Breakout { .. }), "{err}");
        let mut o = opts();
        o.no_overwrite_dir_non_dir = true;
        let err = extract(&fd, "c", "/", &tar_of(&[("app", "x")])[..], &o).unwrap_err();
        assert!(matches!(err, ArchiveError::Overwrite { .. }), "{err}");
        assert!(root.join("app").is_dir());
        assert_eq!(below(Path::new("/app"), Path::new("a/../../x")), None);
        assert_eq!(
            below(Path::new("/app"), Path::new("./a/./b")),
            Some(PathBuf::from("/app/a/b"))
        );
    }
}

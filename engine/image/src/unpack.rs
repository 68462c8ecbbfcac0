//! Root-confined application of one layer tar (plain, gzip or zstd) into its own directory,
//! converting OCI whiteouts into overlayfs form.
//!
//! Layers come from untrusted registries and archives, so this is the security boundary of the
//! image code: the `tar` crate only parses entries; every file is created through the fd-relative
//! primitives of [`crate::fsops`], which never follow a symlink nor leave the layer directory.
//! Sizes, entry counts, path depth and length and the decompression ratio are capped.

use std::cell::Cell;
use std::ffi::OsStr;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, futimens, makedev, mkdirat,
    mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, linkat, symlinkat};

pub use crate::decode::{Compression, decompress};
use crate::decode::{Counting, RatioGuard, archive_err};
use crate::digest::{Algorithm, Digest, HashingReader};
use crate::fsops::{self, WalkError};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Buffer of the decompressed tar stream.
const TAR_BUFFER: usize = 1 << 20;
/// Buffer a file's content is copied through (one write per this many bytes).
const COPY_BUFFER: usize = 1 << 20;

/// Resource caps applied while unpacking.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total bytes of file content.
    pub max_total_size: u64,
    /// Number of tar entries.
    pub max_entries: u64,
    /// Number of path components.
    pub max_depth: usize,
    /// Length of a path in bytes.
    pub max_path_len: usize,
    /// Uncompressed/compressed ratio allowed beyond `ratio_slack` bytes.
    pub max_ratio: u64,
    /// Uncompressed bytes always allowed whatever the ratio.
    pub ratio_slack: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_size: 64 << 30,
            max_entries: 2_000_000,
            max_depth: 128,
            max_path_len: 4096,
            max_ratio: 250,
            ratio_slack: 64 << 20,
        }
    }
}

/// Options of one unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Caps.
    pub limits: Limits,
    /// Keep ownership, create devices and whiteouts, set `trusted.*`/`security.*` xattrs
    /// (needs root). Defaults to whether the process runs as root.
    pub privileged: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            limits: Limits::default(),
            privileged: nix::unistd::geteuid().is_root(),
        }
    }
}

/// What an unpack produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries applied.
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// sha256 of the uncompressed tar stream (the layer's diff-id).
    pub diff_id: Digest,
}

/// Why a layer was refused.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// Reading or parsing the archive failed (corrupt, truncated, bad headers).
    #[error("corrupt layer archive: {0}")]
    Archive(#[source] io::Error),
    /// A path with `..` that would leave the layer.
    #[error("entry {path:?} escapes the layer directory")]
    PathEscapes {
        /// Entry path.
        path: String,
    },
    /// A parent of the entry is a symlink or a non-directory.
    #[error("entry {path:?}: {source}")]
    UnsafeParent {
        /// Entry path.
        path: String,
        /// Details.
        source: WalkError,
    },
    /// A hardlink to something that is not an earlier entry of this layer.
    #[error("hardlink {path:?} -> {target:?}: {reason}")]
    BadHardlink {
        /// Entry path.
        path: String,
        /// Link target.
        target: String,
        /// Why it was refused.
        reason: String,
    },
    /// A malformed whiteout name.
    #[error("invalid whiteout entry {path:?}")]
    InvalidWhiteout {
        /// Entry path.
        path: String,
    },
    /// Too many entries.
    #[error("layer has more than {limit} entries")]
    TooManyEntries {
        /// Cap.
        limit: u64,
    },
    /// Too much content.
    #[error("layer content exceeds {limit} bytes (entry {path:?})")]
    TooLarge {
        /// Cap.
        limit: u64,
        /// Entry that crossed it.
        path: String,
    },
    /// Path deeper than allowed.
    #[error("entry {path:?} is deeper than {limit} components")]
    PathTooDeep {
        /// Entry path.
        path: String,
        /// Cap.
        limit: usize,
    },
    /// Path longer than allowed.
    #[error("entry path of {len} bytes is longer than {limit}")]
    PathTooLong {
        /// Path length.
        len: usize,
        /// Cap.
        limit: usize,
    },
    /// Decompressed stream grew beyond the allowed ratio.
    #[error("decompression ratio above {limit}:1 (compression bomb?)")]
    DecompressionBomb {
        /// Ratio cap.
        limit: u64,
    },
    /// Entry data shorter than its header says.
    #[error("entry {path:?} truncated: header says {expected} bytes, got {got}")]
    Truncated {
        /// Entry path.
        path: String,
        /// Size in the header.
        expected: u64,
        /// Bytes available.
        got: u64,
    },
    /// An entry that needs root when not unpacking privileged.
    #[error("entry {path:?}: {what} needs a privileged unpack")]
    NeedsPrivilege {
        /// Entry path.
        path: String,
        /// What needed it.
        what: &'static str,
    },
    /// A tar entry type layers may not contain.
    #[error("entry {path:?}: unsupported tar entry type {kind}")]
    Unsupported {
        /// Entry path.
        path: String,
        /// Type byte.
        kind: u8,
    },
    /// A syscall failed on a path inside the layer.
    #[error("{op} {path:?}: {source}")]
    Sys {
        /// Operation.
        op: &'static str,
        /// Entry path.
        path: String,
        /// Errno.
        source: Errno,
    },
    /// The unpack target could not be opened.
    #[error("open layer directory {path}: {source}")]
    Root {
        /// Directory.
        path: std::path::PathBuf,
        /// Errno.
        source: Errno,
    },
}

type Result<T> = std::result::Result<T, UnpackError>;

/// Applies the layer read from `reader` into `dest` (an existing, normally empty directory).
pub fn unpack_layer(reader: impl Read, dest: &Path, opts: &UnpackOptions) -> Result<UnpackStats> {
    let compressed = Rc::new(Cell::new(0));
    let counted = Counting {
        inner: reader,
        count: compressed.clone(),
    };
    let decoded = decompress(counted).map_err(UnpackError::Archive)?;
    let guarded = RatioGuard {
        inner: decoded,
        compressed,
        out: 0,
        ratio: opts.limits.max_ratio,
        slack: opts.limits.ratio_slack,
    };
    // Tar headers are read 512 bytes at a time and most files are small: a large buffer above
    // the hasher serves them without a trip through the decompressor each. The hasher sees
    // every byte: the rest of the stream is drained through it below.
    let hashing =
        BufReader::with_capacity(TAR_BUFFER, HashingReader::new(guarded, Algorithm::Sha256));
    let root = fsops::open_root(dest).map_err(|source| UnpackError::Root {
        path: dest.to_owned(),
        source,
    })?;
    let mut archive = tar::Archive::new(hashing);
    let mut state = Applier {
        root: root.as_fd(),
        opts,
        entries: 0,
        bytes: 0,
        dirs: Vec::new(),
        opaque: Vec::new(),
        parent: None,
        buf: vec![0; COPY_BUFFER],
    };
    for entry in archive.entries().map_err(archive_err(&opts.limits))? {
        let entry = entry.map_err(archive_err(&opts.limits))?;
        state.apply(entry)?;
    }
    state.finish()?;
    let (entries, bytes) = (state.entries, state.bytes);
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(archive_err(&opts.limits))?;
    let (diff_id, _) = rest.into_inner().finish();
    Ok(UnpackStats {
        entries,
        bytes,
        diff_id,
    })
}

/// Copies up to `size` bytes of an entry into `file` through `buf`; returns the bytes copied
/// (fewer when the entry ends early).
fn copy_data(
    entry: &mut impl Read,
    file: &mut std::fs::File,
    size: u64,
    buf: &mut [u8],
) -> io::Result<u64> {
    let mut done = 0u64;
    while done < size {
        let want = buf
            .len()
            .min((size - done).try_into().unwrap_or(usize::MAX));
        let n = match entry.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        file.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(done)
}

/// A validated, relative path split into plain components.
struct EntryPath {
    display: String,
    parts: Vec<Vec<u8>>,
}

impl EntryPath {
    fn parse(raw: &[u8], limits: &Limits) -> Result<EntryPath> {
        let display = String::from_utf8_lossy(raw).into_owned();
        if raw.len() > limits.max_path_len {
            return Err(UnpackError::PathTooLong {
                len: raw.len(),
                limit: limits.max_path_len,
            });
        }
        let mut parts = Vec::new();
        for c in raw.split(|b| *b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => return Err(UnpackError::PathEscapes { path: display }),
                c if c.contains(&0) => return Err(UnpackError::PathEscapes { path: display }),
                c => parts.push(c.to_vec()),
            }
        }
        if parts.len() > limits.max_depth {
            return Err(UnpackError::PathTooDeep {
                path: display,
                limit: limits.max_depth,
            });
        }
        Ok(EntryPath { display, parts })
    }

    fn parent(&self) -> Vec<&OsStr> {
        self.parts[..self.parts.len().saturating_sub(1)]
            .iter()
            .map(|p| OsStr::from_bytes(p))
            .collect()
    }

    fn name(&self) -> &OsStr {
        OsStr::from_bytes(self.parts.last().map_or(&b"."[..], |v| v))
    }
}

struct Meta {
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: TimeSpec,
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Applier<'a> {
    root: BorrowedFd<'a>,
    opts: &'a UnpackOptions,
    entries: u64,
    bytes: u64,
    dirs: Vec<(EntryPath, Meta)>,
    opaque: Vec<EntryPath>,
    /// The parent directory of the last entry (components and fd): a directory's entries come
    /// in a row, so most entries skip the walk from the root. Dropped as soon as an entry could
    /// replace that directory or one of its ancestors ([`Applier::forget_parent_under`]).
    parent: Option<(Vec<Vec<u8>>, Rc<OwnedFd>)>,
    buf: Vec<u8>,
}

impl Applier<'_> {
    fn sys<'p>(op: &'static str, p: &'p EntryPath) -> impl FnOnce(Errno) -> UnpackError + 'p {
        move |source| UnpackError::Sys {
            op,
            path: p.display.clone(),
            source,
        }
    }

    fn parent_fd(&mut self, p: &EntryPath, create: bool) -> Result<Rc<OwnedFd>> {
        let parts = &p.parts[..p.parts.len().saturating_sub(1)];
        if let Some((cached, fd)) = &self.parent
            && cached.as_slice() == parts
        {
            return Ok(fd.clone());
        }
        let fd = fsops::walk(self.root, &p.parent(), create).map_err(|source| {
            UnpackError::UnsafeParent {
                path: p.display.clone(),
                source,
            }
        })?;
        let fd = Rc::new(fd);
        self.parent = Some((parts.to_vec(), fd.clone()));
        Ok(fd)
    }

    /// Drops the cached parent when `parts` (about to be created, replaced or removed) is that
    /// directory or one of its ancestors: a later entry must walk again and see what is there.
    fn forget_parent_under(&mut self, parts: &[Vec<u8>]) {
        if self
            .parent
            .as_ref()
            .is_some_and(|(cached, _)| cached.starts_with(parts))
        {
            self.parent = None;
        }
    }

    fn apply<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let limits = &self.opts.limits;
        self.entries += 1;
        if self.entries > limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            return Ok(());
        }
        let path = EntryPath::parse(&entry.path_bytes(), limits)?;
        for part in &path.parts[..path.parts.len().saturating_sub(1)] {
            if part.starts_with(WHITEOUT_PREFIX.as_bytes()) {
                return Err(UnpackError::InvalidWhiteout { path: path.display });
            }
        }
        if path.parts.is_empty() {
            return Ok(());
        }
        self.forget_parent_under(&path.parts);
        let name = path.name().as_bytes();
        if name == OPAQUE.as_bytes() {
            self.parent_fd(&path, true)?;
            self.opaque.push(path);
            return Ok(());
        }
        if name.starts_with(b".wh..wh.") {
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(&path, hidden);
        }
        let meta = self.meta(&mut entry, &path)?;
        let parent = self.parent_fd(&path, true)?;
        let name = path.name();
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                match fsops::lstat_at(parent.as_fd(), name).map_err(Self::sys("stat", &path))? {
                    Some(st) if fsops::is_dir(&st) => {}
                    existing => {
                        if existing.is_some() {
                            fsops::remove_all_at(parent.as_fd(), name)
                                .map_err(Self::sys("remove", &path))?;
                        }
                        mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o700))
                            .map_err(Self::sys("mkdir", &path))?;
                    }
                }
                let fd = fsops::open_dir_at(parent.as_fd(), name, OFlag::O_RDONLY)
                    .map_err(Self::sys("open dir", &path))?;
                self.own_and_xattrs(fd.as_fd(), &path, &meta)?;
                self.dirs.push((path, meta));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let size = entry.size();
                if self.bytes.saturating_add(size) > limits.max_total_size {
                    return Err(UnpackError::TooLarge {
                        limit: limits.max_total_size,
                        path: path.display,
                    });
                }
                let create = || {
                    openat(
                        parent.as_fd(),
                        name,
                        OFlag::O_WRONLY
                            | OFlag::O_CREAT
                            | OFlag::O_EXCL
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_CLOEXEC,
                        Mode::from_bits_truncate(0o600),
                    )
                };
                // Most names are new in a layer: try the create first, remove only on EEXIST.
                let fd = match create() {
                    Err(Errno::EEXIST) => {
                        fsops::remove_all_at(parent.as_fd(), name)
                            .map_err(Self::sys("remove", &path))?;
                        create()
                    }
                    other => other,
                }
                .map_err(Self::sys("create", &path))?;
                let mut file = std::fs::File::from(fd);
                let got = copy_data(&mut entry, &mut file, size, &mut self.buf)
                    .map_err(archive_err(limits))?;
                if got != size {
                    return Err(UnpackError::Truncated {
                        path: path.display,
                        expected: size,
                        got,
                    });
                }
                self.bytes += size;
                self.own_and_xattrs(file.as_fd(), &path, &meta)?;
                fchmod(file.as_fd(), Mode::from_bits_truncate(meta.mode))
                    .map_err(Self::sys("chmod", &path))?;
                futimens(file.as_fd(), &meta.mtime, &meta.mtime)
                    .map_err(Self::sys("utimens", &path))?;
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| {
                        UnpackError::Archive(io::Error::other("symlink without target"))
                    })?
                    .into_owned();
                fsops::remove_all_at(parent.as_fd(), name).map_err(Self::sys("remove", &path))?;
                symlinkat(OsStr::from_bytes(&target), parent.as_fd(), name)
                    .map_err(Self::sys("symlink", &path))?;
                self.chown_nofollow(parent.as_fd(), name, &meta, &path)?;
                utimensat(
                    parent.as_fd(),
                    name,
                    &meta.mtime,
                    &meta.mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(Self::sys("utimensat", &path))?;
            }
            T::Link => self.hardlink(&mut entry, &path, parent.as_fd())?,
            T::Char | T::Block | T::Fifo => {
                let (sflag, what) = match kind {
                    T::Char => (SFlag::S_IFCHR, "character device"),
                    T::Block => (SFlag::S_IFBLK, "block device"),
                    _ => (SFlag::S_IFIFO, "fifo"),
                };
                if sflag != SFlag::S_IFIFO && !self.opts.privileged {
                    return Err(UnpackError::NeedsPrivilege {
                        path: path.display,
                        what,
                    });
                }
                let h = entry.header();
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                fsops::remove_all_at(parent.as_fd(), name).map_err(Self::sys("remove", &path))?;
                mknodat(
                    parent.as_fd(),
                    name,
                    sflag,
                    Mode::from_bits_truncate(0o600),
                    makedev(major.into(), minor.into()),
                )
                .map_err(Self::sys("mknod", &path))?;
                self.chown_nofollow(parent.as_fd(), name, &meta, &path)?;
                fchmodat(
                    parent.as_fd(),
                    name,
                    Mode::from_bits_truncate(meta.mode),
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(Self::sys("chmod", &path))?;
            }
            other => {
                return Err(UnpackError::Unsupported {
                    path: path.display,
                    kind: other.as_byte(),
                });
            }
        }
        Ok(())
    }

    fn meta<R: Read>(&self, entry: &mut tar::Entry<'_, R>, path: &EntryPath) -> Result<Meta> {
        let h = entry.header();
        let bad = |e: io::Error| {
            UnpackError::Archive(io::Error::new(e.kind(), format!("{}: {e}", path.display)))
        };
        let mut m = Meta {
            uid: h.uid().map_err(bad)?,
            gid: h.gid().map_err(bad)?,
            mode: h.mode().map_err(bad)? & 0o7777,
            mtime: TimeSpec::new(h.mtime().map_err(bad)? as i64, 0),
            xattrs: Vec::new(),
        };
        if let Some(exts) = entry.pax_extensions().map_err(bad)? {
            for ext in exts {
                let ext = ext.map_err(bad)?;
                let (Ok(key), value) = (ext.key(), ext.value_bytes()) else {
                    continue;
                };
                let num = || {
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                };
                match key {
                    "uid" => m.uid = num().unwrap_or(m.uid),
                    "gid" => m.gid = num().unwrap_or(m.gid),
                    "mtime" => {
                        let secs = std::str::from_utf8(value)
                            .ok()
                            .and_then(|v| v.split('.').next()?.parse::<i64>().ok());
                        if let Some(s) = secs {
                            m.mtime = TimeSpec::new(s, 0);
                        }
                    }
                    k => {
                        if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                            m.xattrs.push((x.to_owned(), value.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(m)
    }

    /// Gives `name` in `dir` the entry's owner without following a symlink; only when
    /// unpacking with privilege (an unprivileged unpack keeps the caller's ownership).
    fn chown_nofollow(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
        path: &EntryPath,
    ) -> Result<()> {
        if self.opts.privileged {
            fchownat(
                dir,
                name,
                Some(Uid::from_raw(meta.uid as u32)),
                Some(Gid::from_raw(meta.gid as u32)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(Self::sys("lchown", path))?;
        }
        Ok(())
    }

    fn own_and_xattrs(&self, fd: BorrowedFd<'_>, path: &EntryPath, meta: &Meta) -> Result<()> {
        if self.opts.privileged {
            fchown(
                fd,
                Some(Uid::from_raw(meta.uid as u32)),
                Some(Gid::from_raw(meta.gid as u32)),
            )
            .map_err(Self::sys("chown", path))?;
        }
        for (name, value) in &meta.xattrs {
            let allowed = name.starts_with("user.")
                || (self.opts.privileged
                    && (name.starts_with("security.")
                        || (name.starts_with("trusted.")
                            && !name.starts_with("trusted.overlay."))));
            if !allowed {
                tracing::debug!(path = %path.display, xattr = %name, "skipping layer xattr");
                continue;
            }
            fsops::fsetxattr(fd, name, value).map_err(Self::sys("setxattr", path))?;
        }
        Ok(())
    }

    fn whiteout(&mut self, path: &EntryPath, hidden: &[u8]) -> Result<()> {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(UnpackError::InvalidWhiteout {
                path: path.display.clone(),
            });
        }
        if !self.opts.privileged {
            return Err(UnpackError::NeedsPrivilege {
                path: path.display.clone(),
                what: "whiteout device",
            });
        }
        let mut hidden_parts = path.parts.clone();
        *hidden_parts.last_mut().expect("a whiteout has a name") = hidden.to_vec();
        self.forget_parent_under(&hidden_parts);
        let parent = self.parent_fd(path, true)?;
        let hidden = OsStr::from_bytes(hidden);
        fsops::remove_all_at(parent.as_fd(), hidden).map_err(Self::sys("remove", path))?;
        mknodat(
            parent.as_fd(),
            hidden,
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        )
        .map_err(Self::sys("mknod whiteout", path))
    }

    fn hardlink<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        path: &EntryPath,
        parent: BorrowedFd<'_>,
    ) -> Result<()> {
        let raw = entry
            .link_name_bytes()
            .ok_or_else(|| UnpackError::Archive(io::Error::other("hardlink without target")))?
            .into_owned();
        let refuse = |reason: String| UnpackError::BadHardlink {
            path: path.display.clone(),
            target: String::from_utf8_lossy(&raw).into_owned(),
            reason,
        };
        let target = match EntryPath::parse(&raw, &self.opts.limits) {
            Ok(t) if !t.parts.is_empty() => t,
            Ok(_) => return Err(refuse("target is the layer root".into())),
            Err(e) => return Err(refuse(e.to_string())),
        };
        let tparent =
            fsops::walk(self.root, &target.parent(), false).map_err(|e| refuse(e.to_string()))?;
        match fsops::lstat_at(tparent.as_fd(), target.name()) {
            Ok(Some(st)) if fsops::is_dir(&st) => {
                return Err(refuse("target is a directory".into()));
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(refuse(
                    "target is not an earlier entry of this layer".into(),
                ));
            }
            Err(e) => return Err(refuse(e.to_string())),
        }
        if target.parts == path.parts {
            return Err(refuse("link to itself".into()));
        }
        fsops::remove_all_at(parent, path.name()).map_err(Self::sys("remove", path))?;
        linkat(
            tparent.as_fd(),
            target.name(),
            parent,
            path.name(),
            AtFlags::empty(),
        )
        .map_err(Self::sys("link", path))
    }

    fn finish(&mut self) -> Result<()> {
        for p in &self.opaque {
            let parent = fsops::walk(self.root, &p.parent(), false).map_err(|source| {
                UnpackError::UnsafeParent {
                    path: p.display.clone(),
                    source,
                }
            })?;
            let fd = fsops::open_dir_at(parent.as_fd(), OsStr::new("."), OFlag::O_RDONLY)
                .map_err(Self::sys("open dir", p))?;
            if !self.opts.privileged {
                return Err(UnpackError::NeedsPrivilege {
                    path: p.display.clone(),
                    what: "opaque whiteout",
                });
            }
            fsops::fsetxattr(fd.as_fd(), OPAQUE_XATTR, b"y").map_err(Self::sys("set opaque", p))?;
        }
        for (p, meta) in self.dirs.iter().rev() {
            let parent = fsops::walk(self.root, &p.parent(), false).map_err(|source| {
                UnpackError::UnsafeParent {
                    path: p.display.clone(),
                    source,
                }
            })?;
            let Ok(fd) = fsops::open_dir_at(parent.as_fd(), p.name(), OFlag::O_RDONLY) else {
                continue;
            };
            fchmod(fd.as_fd(), Mode::from_bits_truncate(meta.mode))
                .map_err(Self::sys("chmod", p))?;
            futimens(fd.as_fd(), &meta.mtime, &meta.mtime).map_err(Self::sys("utimens", p))?;
        }
        Ok(())
    }
}

//! Filesystem changes as OCI layer tars. A layer is a list of [`LayerEntry`]s (made by COPY
//! and ADD directly, or read from a RUN's overlay upper dir by [`diff_upper`]) written by
//! [`write_layer`] deterministically: entries sorted by path, every timestamp set to the
//! build's epoch, numeric owners with empty user and group names, so the same changes always
//! give the same digest.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Name prefix of an OCI whiteout entry.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the OCI opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    /// A regular file whose content is read from a host path.
    File(PathBuf),
    /// A regular file with inline content (heredocs, archive members).
    Bytes(Vec<u8>),
    Symlink(String),
    /// A hard link to another path of the same layer (relative, as in the tar).
    Hardlink(String),
    CharDevice(u32, u32),
    BlockDevice(u32, u32),
    Fifo,
    /// Deletes the path from the layers below.
    Whiteout,
    /// The opaque marker (path `dir/.wh..wh..opq`): hides everything below `dir` in the
    /// layers below (the directory itself is a separate `Dir` entry).
    Opaque,
}

/// One entry of a layer tar; `path` is relative (`usr/bin/app`), without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl LayerEntry {
    /// A directory entry.
    pub fn dir(path: &str, mode: u32, uid: u64, gid: u64) -> Self {
        LayerEntry {
            path: path.to_string(),
            kind: EntryKind::Dir,
            mode,
            uid,
            gid,
        }
    }
}

/// Entries keyed by path: later insertions of a path replace earlier ones.
pub type Entries = BTreeMap<String, LayerEntry>;

/// Adds an entry, replacing any earlier one at the same path.
pub fn insert(entries: &mut Entries, entry: LayerEntry) {
    entries.insert(entry.path.clone(), entry);
}

fn tar_path(entry: &LayerEntry) -> String {
    let (dir, name) = match entry.path.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), entry.path.as_str()),
    };
    match entry.kind {
        EntryKind::Whiteout => format!("{dir}{WHITEOUT_PREFIX}{name}"),
        EntryKind::Dir => format!("{}/", entry.path),
        _ => entry.path.clone(),
    }
}

/// Writes the layer tar of `entries` (sorted by their tar path) to `out`, with every
/// timestamp set to `epoch`.
pub fn write_layer(entries: &Entries, epoch: u64, out: impl Write) -> io::Result<()> {
    let mut sorted: Vec<(String, &LayerEntry)> =
        entries.values().map(|e| (tar_path(e), e)).collect();
    sorted.sort_by(|a, b| a.0.trim_end_matches('/').cmp(b.0.trim_end_matches('/')));
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, e) in sorted {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(epoch);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mode(e.mode & 0o7777);
        h.set_size(0);
        match &e.kind {
            EntryKind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                tar.append_data(&mut h, &path, io::empty())?;
            }
            EntryKind::File(src) => {
                let file = fs::File::open(src).map_err(|err| {
                    io::Error::new(err.kind(), format!("{}: {err}", src.display()))
                })?;
                let len = file.metadata()?.len();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(len);
                tar.append_data(&mut h, &path, file.take(len))?;
            }
            EntryKind::Bytes(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                tar.append_data(&mut h, &path, &data[..])?;
            }
            EntryKind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                tar.append_link(&mut h, &path, target)?;
            }
            EntryKind::Hardlink(target) => {
                h.set_entry_type(tar::EntryType::Link);
                tar.append_link(&mut h, &path, target)?;
            }
            EntryKind::CharDevice(major, minor) | EntryKind::BlockDevice(major, minor) => {
                h.set_entry_type(if matches!(e.kind, EntryKind::CharDevice(..)) {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                h.set_device_major(*major)?;
                h.set_device_minor(*minor)?;
                tar.append_data(&mut h, &path, io::empty())?;
            }
            EntryKind::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                tar.append_data(&mut h, &path, io::empty())?;
            }
            EntryKind::Whiteout | EntryKind::Opaque => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0);
                h.set_uid(0);
                h.set_gid(0);
                tar.append_data(&mut h, &path, io::empty())?;
            }
        }
    }
    tar.into_inner()?.flush()
}

/// Top-level paths a RUN's sandbox creates as mount points; their entries are dropped from
/// the layer when they hold only directories (mount points the runtime made).
const MOUNT_POINTS: [&str; 3] = ["dev", "proc", "sys"];

/// Reads an overlay upper dir into layer entries: overlay whiteouts (character devices 0/0)
/// become OCI whiteouts, opaque directories get the opaque marker.
pub fn diff_upper(upper: &Path) -> io::Result<Entries> {
    let mut out = Entries::new();
    walk_upper(upper, "", &mut out)?;
    for mp in MOUNT_POINTS {
        let prefix = format!("{mp}/");
        let under: Vec<String> = out
            .keys()
            .filter(|k| *k == mp || k.starts_with(&prefix))
            .cloned()
            .collect();
        if under.iter().all(|k| out[k].kind == EntryKind::Dir) {
            for k in under {
                out.remove(&k);
            }
        }
    }
    Ok(out)
}

fn walk_upper(dir: &Path, rel: &str, out: &mut Entries) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let Some(name) = name.to_str().map(str::to_string) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("non UTF-8 file name in {}", dir.display()),
            ));
        };
        let path = dir.join(&name);
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let md = fs::symlink_metadata(&path)?;
        let ft = md.file_type();
        let mode = md.mode() & 0o7777;
        let (uid, gid) = (u64::from(md.uid()), u64::from(md.gid()));
        let rdev = md.rdev();
        let kind = if ft.is_dir() {
            insert(out, LayerEntry::dir(&child, mode, uid, gid));
            if berth_image::fsops::lgetxattr(&path, OPAQUE_XATTR)
                .ok()
                .flatten()
                .is_some_and(|v| v == b"y")
            {
                insert(
                    out,
                    LayerEntry {
                        path: format!("{child}/{OPAQUE_MARKER}"),
                        kind: EntryKind::Opaque,
                        mode: 0,
                        uid: 0,
                        gid: 0,
                    },
                );
            }
            walk_upper(&path, &child, out)?;
            continue;
        } else if ft.is_file() {
            EntryKind::File(path.clone())
        } else if ft.is_symlink() {
            EntryKind::Symlink(fs::read_link(&path)?.to_string_lossy().into_owned())
        } else if ft.is_char_device() && rdev == 0 {
            EntryKind::Whiteout
        } else if ft.is_char_device() || ft.is_block_device() {
            let (major, minor) = (nix_major(rdev), nix_minor(rdev));
            if ft.is_char_device() {
                EntryKind::CharDevice(major, minor)
            } else {
                EntryKind::BlockDevice(major, minor)
            }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else {
            continue;
        };
        insert(
            out,
            LayerEntry {
                path: child,
                kind,
                mode,
                uid,
                gid,
            },
        );
    }
    Ok(())
}

fn nix_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

fn nix_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

/// A content hash of `entries` (paths, kinds, modes, owners and file contents): equal
/// hashes give equal layers.
pub fn hash_entries(entries: &Entries) -> io::Result<String> {
    use berth_image::digest::{Algorithm, Hasher};
    let mut h = Hasher::new(Algorithm::Sha256);
    for e in entries.values() {
        h.update(format!("{}\0{:o}\0{}\0{}\0", e.path, e.mode, e.uid, e.gid).as_bytes());
        match &e.kind {
            EntryKind::File(p) => {
                let mut f = fs::File::open(p)?;
                let mut buf = vec![0u8; 64 * 1024];
                h.update(b"f");
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
            EntryKind::Bytes(b) => {
                h.update(b"f");
                h.update(b);
            }
            other => h.update(format!("{other:?}").as_bytes()),
        }
        h.update(b"\n");
    }
    Ok(h.finish().hex().to_string())
}

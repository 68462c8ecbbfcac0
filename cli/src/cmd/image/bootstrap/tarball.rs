//! A root filesystem tree as one tar stream, in a deterministic order: entries are walked depth
//! first with each directory's children sorted by their bytes, so the same tree always gives the
//! same archive (and so the same layer digest). Ownership, modes, modification times, hard
//! links, device nodes and FIFOs are kept; sockets are left out (they cannot be archived).

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use nix::sys::stat::{major, minor};
use tar::{EntryType, Header};

/// What went into an archive.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TarSummary {
    /// Entries written (directories, files, links, nodes).
    pub entries: u64,
    /// Bytes of regular-file content.
    pub content_bytes: u64,
    /// Sockets that were left out, relative to the root.
    pub skipped: Vec<PathBuf>,
}

/// The children of `dir`, sorted by the bytes of their names.
fn sorted_children(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        names.push(
            entry
                .with_context(|| format!("reading {}", dir.display()))?
                .file_name(),
        );
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// A header carrying `meta`'s ownership, mode and time, of the given type.
fn header_for(meta: &Metadata, kind: EntryType) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(meta.mode() & 0o7777);
    header.set_uid(u64::from(meta.uid()));
    header.set_gid(u64::from(meta.gid()));
    header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    header.set_size(0);
    header
}

/// Writes the tree under `root` (not the root entry itself) to `out` as a tar archive, in
/// sorted depth-first order, and finishes the archive.
pub fn write_tree<W: Write>(root: &Path, out: W) -> anyhow::Result<TarSummary> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let mut summary = TarSummary::default();
    let mut first_link: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut stack: Vec<PathBuf> = sorted_children(root)?.into_iter().rev().collect();
    while let Some(path) = stack.pop() {
        let rel = path
            .strip_prefix(root)
            .with_context(|| format!("{} is outside {}", path.display(), root.display()))?
            .to_path_buf();
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let kind = meta.file_type();
        let context = || format!("archiving {}", path.display());
        if kind.is_dir() {
            let mut header = header_for(&meta, EntryType::Directory);
            builder
                .append_data(&mut header, &rel, io::empty())
                .with_context(context)?;
            stack.extend(sorted_children(&path)?.into_iter().rev());
        } else if kind.is_symlink() {
            let target =
                std::fs::read_link(&path).with_context(|| format!("reading {}", path.display()))?;
            let mut header = header_for(&meta, EntryType::Symlink);
            builder
                .append_link(&mut header, &rel, &target)
                .with_context(context)?;
        } else if kind.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = first_link.get(&key) {
                    let mut header = header_for(&meta, EntryType::Link);
                    builder
                        .append_link(&mut header, &rel, first)
                        .with_context(context)?;
                    summary.entries += 1;
                    continue;
                }
                first_link.insert(key, rel.clone());
            }
            let mut header = header_for(&meta, EntryType::Regular);
            header.set_size(meta.len());
            let file = File::open(&path).with_context(context)?;
            builder
                .append_data(&mut header, &rel, file)
                .with_context(context)?;
            summary.content_bytes += meta.len();
        } else if kind.is_char_device() || kind.is_block_device() {
            let entry = if kind.is_char_device() {
                EntryType::Char
            } else {
                EntryType::Block
            };
            let mut header = header_for(&meta, entry);
            let rdev = meta.rdev();
            header
                .set_device_major(u32::try_from(major(rdev)).unwrap_or(0))
                .with_context(context)?;
            header
                .set_device_minor(u32::try_from(minor(rdev)).unwrap_or(0))
                .with_context(context)?;
            builder
                .append_data(&mut header, &rel, io::empty())
                .with_context(context)?;
        } else if kind.is_fifo() {
            let mut header = header_for(&meta, EntryType::Fifo);
            builder
                .append_data(&mut header, &rel, io::empty())
                .with_context(context)?;
        } else {
            summary.skipped.push(rel);
            continue;
        }
        summary.entries += 1;
    }
    builder
        .into_inner()
        .context("finishing the archive")?
        .flush()
        .context("flushing the archive")?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in ["usr/bin", "etc/apt", "b", "a"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join("usr/bin/bash"), b"#!binary").expect("write");
        std::fs::write(root.join("etc/debian_version"), b"12.11\n").expect("write");
        std::fs::write(root.join("a/z"), b"z").expect("write");
        std::fs::write(root.join("a/Z"), b"Z").expect("write");
        std::fs::hard_link(root.join("usr/bin/bash"), root.join("usr/bin/rbash")).expect("link");
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).expect("symlink");
        nix::unistd::mkfifo(
            &root.join("b/fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .expect("mkfifo");
        let _sock = std::os::unix::net::UnixListener::bind(root.join("b/sock")).expect("socket");
        dir
    }

    fn archive(root: &Path) -> (Vec<u8>, TarSummary) {
        let mut out = Vec::new();
        let summary = write_tree(root, &mut out).expect("write_tree");
        (out, summary)
    }

    fn listing(bytes: &[u8]) -> Vec<(String, EntryType)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.path().expect("path").display().to_string(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_come_in_sorted_depth_first_order() {
        let dir = tree();
        let (bytes, summary) = archive(dir.path());
        let names: Vec<String> = listing(&bytes).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "a",
                "a/Z",
                "a/z",
                "b",
                "b/fifo",
                "bin",
                "etc",
                "etc/apt",
                "etc/debian_version",
                "usr",
                "usr/bin",
                "usr/bin/bash",
                "usr/bin/rbash",
            ]
        );
        assert_eq!(summary.skipped, [PathBuf::from("b/sock")]);
        assert_eq!(summary.entries, 13);
    }

    #[test]
    fn links_fifos_and_hard_links_keep_their_kind() {
        let dir = tree();
        let (bytes, _) = archive(dir.path());
        let kinds: HashMap<String, EntryType> = listing(&bytes).into_iter().collect();
        assert_eq!(kinds["bin"], EntryType::Symlink);
        assert_eq!(kinds["b/fifo"], EntryType::Fifo);
        assert_eq!(kinds["usr/bin/bash"], EntryType::Regular);
        assert_eq!(kinds["usr/bin/rbash"], EntryType::Link);
        let mut archive = tar::Archive::new(&bytes[..]);
        for entry in archive.entries().expect("entries") {
            let entry = entry.expect("entry");
            let path = entry.path().expect("path").display().to_string();
            if path == "usr/bin/rbash" {
                let target = entry.link_name().expect("link name").expect("has target");
                assert_eq!(target, Path::new("usr/bin/bash"));
            }
            if path == "bin" {
                let target = entry.link_name().expect("link name").expect("has target");
                assert_eq!(target, Path::new("usr/bin"));
            }
        }
    }

    #[test]
    fn the_same_tree_gives_the_same_bytes() {
        let dir = tree();
        let (first, _) = archive(dir.path());
        let (second, _) = archive(dir.path());
        assert_eq!(first, second);
    }

    #[test]
    fn long_paths_survive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = "d".repeat(90) + "/" + &"e".repeat(90);
        std::fs::create_dir_all(dir.path().join(&deep)).expect("mkdir");
        std::fs::write(dir.path().join(&deep).join("f".repeat(60)), b"x").expect("write");
        let (bytes, _) = archive(dir.path());
        let names: Vec<String> = listing(&bytes).into_iter().map(|(n, _)| n).collect();
        assert!(
            names.contains(&format!("{deep}/{}", "f".repeat(60))),
            "{names:?}"
        );
    }

    #[test]
    fn a_missing_root_is_an_error_naming_it() {
        let err =
            write_tree(Path::new("/nonexistent/berth-root"), Vec::new()).expect_err("missing root");
        assert!(
            format!("{err:#}").contains("/nonexistent/berth-root"),
            "{err:#}"
        );
    }
}

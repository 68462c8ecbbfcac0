//! The fake's container file systems for the archive endpoints: one small in-memory tree per
//! container (`/`, `/etc`, `/tmp` at first) with Docker's copy rules (destination must be an
//! existing directory, no entry outside it, `noOverwriteDirNonDir`), so the router tests and
//! the contract suite exercise `docker cp` without a kernel.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use futures_util::TryStreamExt;

use super::{FakeBackend, resolve_container};
use crate::backend::archive::{GO_MODE_DIR, GO_MODE_SYMLINK};
use crate::backend::{BackendError, BackendResult, ByteStream, PathStat, PutArchiveOptions};

/// What a fake path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// One path of a fake container's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FakeNode {
    pub(super) node: Node,
    pub(super) mode: u32,
    pub(super) uid: u64,
    pub(super) gid: u64,
    pub(super) mtime: u64,
}

impl FakeNode {
    fn dir(mode: u32) -> Self {
        Self {
            node: Node::Dir,
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
        }
    }
}

/// A fake container's file system: cleaned absolute paths to nodes.
#[derive(Debug, Clone)]
pub(super) struct FakeFs {
    pub(super) nodes: BTreeMap<PathBuf, FakeNode>,
}

impl Default for FakeFs {
    fn default() -> Self {
        let nodes = [("/", 0o755), ("/etc", 0o755), ("/tmp", 0o1777)]
            .into_iter()
            .map(|(p, m)| (PathBuf::from(p), FakeNode::dir(m)))
            .collect();
        Self { nodes }
    }
}

/// `path` made absolute with `..` folded (never above `/`).
pub(super) fn clean(path: &Path) -> PathBuf {
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

impl FakeFs {
    /// Follows symlinks of `path` component by component, inside this tree.
    pub(super) fn resolve(&self, path: &Path) -> Option<PathBuf> {
        let mut out = PathBuf::from("/");
        let mut pending: Vec<PathBuf> = clean(path)
            .components()
            .skip(1)
            .map(|c| PathBuf::from(c.as_os_str()))
            .collect();
        pending.reverse();
        let mut links = 0;
        while let Some(part) = pending.pop() {
            if part.as_os_str() == ".." {
                out.pop();
                continue;
            }
            let next = out.join(&part);
            match &self.nodes.get(&next)?.node {
                Node::Symlink(target) => {
                    links += 1;
                    if links > 40 {
                        return None;
                    }
                    let target = Path::new(target);
                    if target.is_absolute() {
                        out = PathBuf::from("/");
                    }
                    let parts: Vec<PathBuf> = target
                        .components()
                        .filter_map(|c| match c {
                            Component::Normal(n) => Some(PathBuf::from(n)),
                            Component::ParentDir => Some(PathBuf::from("..")),
                            _ => None,
                        })
                        .collect();
                    pending.extend(parts.into_iter().rev());
                }
                _ => out = next,
            }
        }
        Some(out)
    }

    fn remove_tree(&mut self, path: &Path) {
        self.nodes.retain(|p, _| !p.starts_with(path));
    }

    fn ensure_dirs(&mut self, dir: &Path) {
        for anc in dir.ancestors() {
            self.nodes
                .entry(anc.to_owned())
                .or_insert_with(|| FakeNode::dir(0o755));
        }
    }

    /// Extracts `tar` into the existing directory `dest` with Docker's rules.
    fn extract(&mut self, dest: &Path, tar: &[u8], opts: &PutArchiveOptions) -> BackendResult<()> {
        let bad =
            |e: std::io::Error| BackendError::invalid(format!("cannot read the archive: {e}"));
        let breakout = |entry: String| {
            BackendError::invalid(format!(
                "archive entry {entry:?} would be written outside {}: refusing (breakout)",
                dest.display()
            ))
        };
        let mut archive = tar::Archive::new(tar);
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let name = entry.path().map_err(bad)?.into_owned();
            let rel = clean(&name);
            if name.components().any(|c| c == Component::ParentDir)
                && !clean(&dest.join(&name)).starts_with(dest)
            {
                return Err(breakout(name.display().to_string()));
            }
            let path = dest.join(rel.strip_prefix("/").unwrap_or(&rel));
            if path == dest {
                continue;
            }
            let parent = path.parent().unwrap_or(Path::new("/")).to_owned();
            let parent = self.resolve(&parent).unwrap_or(parent);
            let path = parent.join(path.file_name().unwrap_or_default());
            let h = entry.header();
            let kind = h.entry_type();
            let mut node = FakeNode {
                node: Node::Dir,
                mode: h.mode().map_err(bad)? & 0o7777,
                uid: h.uid().map_err(bad)?,
                gid: h.gid().map_err(bad)?,
                mtime: h.mtime().unwrap_or(0),
            };
            node.node = match kind {
                tar::EntryType::Directory => Node::Dir,
                tar::EntryType::Symlink => {
                    let target = entry.link_name().map_err(bad)?.unwrap_or_default();
                    if target.is_relative() && !clean(&parent.join(&target)).starts_with(dest) {
                        return Err(breakout(format!(
                            "{} -> {}",
                            name.display(),
                            target.display()
                        )));
                    }
                    Node::Symlink(target.to_string_lossy().into_owned())
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).map_err(bad)?;
                    Node::File(data)
                }
                _ => continue,
            };
            let is_dir = node.node == Node::Dir;
            if let Some(old) = self.nodes.get(&path) {
                let was_dir = old.node == Node::Dir;
                if opts.no_overwrite_dir_non_dir && was_dir != is_dir {
                    let word = |d: bool| if d { "directory" } else { "non-directory" };
                    return Err(BackendError::invalid(format!(
                        "cannot overwrite {} {:?} with {}",
                        word(was_dir),
                        path.display().to_string(),
                        word(is_dir)
                    )));
                }
                if !(was_dir && is_dir) {
                    self.remove_tree(&path);
                }
            }
            self.ensure_dirs(&parent);
            self.nodes.insert(path, node);
        }
        Ok(())
    }
}

impl FakeBackend {
    /// `PUT /containers/{id}/archive` on the fake file system of the container.
    pub(super) async fn put_archive_impl(
        &self,
        id: &str,
        opts: PutArchiveOptions,
        archive: ByteStream,
    ) -> BackendResult<()> {
        let full = resolve_container(&self.lock(), id)?;
        let chunks: Vec<bytes::Bytes> = archive
            .try_collect()
            .await
            .map_err(|e| BackendError::invalid(format!("cannot read the archive: {e}")))?;
        let tar = chunks.concat();
        let mut st = self.lock();
        let fs = st.files.entry(full.clone()).or_default();
        let missing = || {
            BackendError::not_found(format!(
                "Could not find the file {} in container {id}",
                opts.path
            ))
        };
        let dest = fs.resolve(Path::new(&opts.path)).ok_or_else(missing)?;
        match fs.nodes.get(&dest).map(|n| &n.node) {
            None => return Err(missing()),
            Some(Node::Dir) => {}
            Some(_) => {
                return Err(BackendError::invalid(format!(
                    "extraction point is not a directory: {}",
                    opts.path
                )));
            }
        }
        fs.extract(&dest, &tar, &opts)?;
        self.container_event(&mut st, &full, "extract-to-dir");
        Ok(())
    }

    /// The fake's path lookup of the read endpoints: the path (parents resolved), its top
    /// entry name and stat.
    fn locate_impl(
        &self,
        id: &str,
        path: &str,
    ) -> BackendResult<(String, PathBuf, String, PathStat)> {
        let full = resolve_container(&self.lock(), id)?;
        let mut st = self.lock();
        let fs = st.files.entry(full.clone()).or_default();
        let missing =
            || BackendError::not_found(format!("Could not find the file {path} in container {id}"));
        let cleaned = clean(Path::new(path));
        let follow = path.ends_with('/') || path.ends_with("/.");
        let resolved = match (follow, cleaned.parent(), cleaned.file_name()) {
            (false, Some(parent), Some(base)) => fs.resolve(parent).map(|p| p.join(base)),
            _ => fs.resolve(&cleaned),
        }
        .ok_or_else(missing)?;
        let node = fs.nodes.get(&resolved).ok_or_else(missing)?;
        let top = if path.ends_with("/.") {
            ".".to_owned()
        } else {
            cleaned
                .file_name()
                .map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned())
        };
        let (size, kind, link_target) = match &node.node {
            Node::Dir => (4096, GO_MODE_DIR, String::new()),
            Node::File(d) => (d.len() as i64, 0, String::new()),
            Node::Symlink(t) => (
                t.len() as i64,
                GO_MODE_SYMLINK,
                fs.resolve(&resolved)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
        };
        let stat = PathStat {
            name: top.clone(),
            size,
            mode: kind | (node.mode & 0o777),
            mtime: humantime::format_rfc3339(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(node.mtime),
            )
            .to_string(),
            link_target,
        };
        Ok((full, resolved, top, stat))
    }

    /// `HEAD /containers/{id}/archive` on the fake file system.
    pub(super) fn stat_path_impl(&self, id: &str, path: &str) -> BackendResult<PathStat> {
        Ok(self.locate_impl(id, path)?.3)
    }

    /// `GET /containers/{id}/archive` on the fake file system.
    pub(super) fn get_archive_impl(
        &self,
        id: &str,
        path: &str,
    ) -> BackendResult<(PathStat, ByteStream)> {
        let (full, resolved, top, stat) = self.locate_impl(id, path)?;
        let st = self.lock();
        let fs = st.files.get(&full).cloned().unwrap_or_default();
        drop(st);
        let mut b = tar::Builder::new(Vec::new());
        let write = |e: std::io::Error| {
            BackendError::new(crate::backend::ErrorKind::Internal, e.to_string())
        };
        let top_is_dir = matches!(fs.nodes.get(&resolved).map(|n| &n.node), Some(Node::Dir));
        for (p, node) in fs.nodes.range(resolved.clone()..) {
            let Ok(rest) = p.strip_prefix(&resolved) else {
                break;
            };
            if !rest.as_os_str().is_empty() && !top_is_dir {
                break;
            }
            let name = Path::new(&top).join(rest);
            let mut h = tar::Header::new_gnu();
            h.set_mode(node.mode);
            h.set_uid(node.uid);
            h.set_gid(node.gid);
            h.set_mtime(node.mtime);
            h.set_size(0);
            match &node.node {
                Node::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    let mut n = name.into_os_string();
                    n.push("/");
                    b.append_data(&mut h, n, std::io::empty()).map_err(write)?;
                }
                Node::File(d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    b.append_data(&mut h, name, &d[..]).map_err(write)?;
                }
                Node::Symlink(t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    b.append_link(&mut h, name, t).map_err(write)?;
                }
            }
        }
        let tar = b.into_inner().map_err(write)?;
        let stream = futures_util::stream::iter([Ok(bytes::Bytes::from(tar))]);
        Ok((stat, Box::pin(stream)))
    }
}

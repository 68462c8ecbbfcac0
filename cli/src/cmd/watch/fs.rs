//! The file-system side of `berth watch`: one non-recursive inotify watch (through `notify`)
//! per directory under the watched paths, registered by our own walk so that ignored trees
//! (`node_modules`, `.git`, `.dockerignore`d build output) never get a watch or a walk.
//! New directories are watched as they appear and walked at once, so files created before
//! their watch existed are not missed; a kernel queue overflow triggers a full rescan.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use berth_compose::watch::WatchSet;
use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};
use notify::{Event, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// The watches of one watch session.
pub struct FsWatcher {
    watcher: RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
}

impl std::fmt::Debug for FsWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsWatcher")
            .field("watched", &self.watched.len())
            .finish()
    }
}

/// What one raw event means for the loop.
#[derive(Debug, Default)]
pub struct Seen {
    /// Changed paths the rules care about, each with whether this event brought it into
    /// existence (created, or renamed to).
    pub paths: Vec<(PathBuf, bool)>,
    /// The kernel dropped events: every watched tree must be compared again.
    pub rescan: bool,
}

impl FsWatcher {
    /// Starts a watcher; its events arrive on the returned channel.
    pub fn start() -> anyhow::Result<(FsWatcher, UnboundedReceiver<notify::Result<Event>>)> {
        let (tx, rx) = unbounded_channel();
        let watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })
        .context("starting the file watcher (inotify)")?;
        Ok((
            FsWatcher {
                watcher,
                watched: BTreeSet::new(),
            },
            rx,
        ))
    }

    /// Number of watched directories.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    /// Watches every rule's path: its directory tree, or for a single file its parent.
    pub fn watch_roots(&mut self, set: &WatchSet) -> anyhow::Result<()> {
        for root in set.roots() {
            if root.is_dir() {
                self.watch_tree(set, root)?;
            } else if let Some(parent) = root.parent().filter(|p| p.is_dir()) {
                self.watch_dir(parent)?;
            } else {
                eprintln!(
                    "WARN watch path {} does not exist (nothing to watch there)",
                    root.display()
                );
            }
        }
        Ok(())
    }

    fn watch_dir(&mut self, dir: &Path) -> anyhow::Result<()> {
        if self.watched.contains(dir) {
            return Ok(());
        }
        match self.watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.watched.insert(dir.to_path_buf());
                Ok(())
            }
            // The directory went away between the walk and the watch: its removal event follows.
            Err(e) if matches!(&e.kind, notify::ErrorKind::PathNotFound) => Ok(()),
            Err(e) if matches!(&e.kind, notify::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound) => {
                Ok(())
            }
            Err(e) => Err(e).with_context(|| {
                format!(
                    "watching {} (hint: raise fs.inotify.max_user_watches, or ignore big generated directories)",
                    dir.display()
                )
            }),
        }
    }

    /// Watches `dir` and every directory below it that the rules do not skip.
    pub fn watch_tree(&mut self, set: &WatchSet, dir: &Path) -> anyhow::Result<()> {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            self.watch_dir(&d)?;
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) && !set.skip_dir(&path) {
                    stack.push(path);
                }
            }
        }
        Ok(())
    }

    /// Interprets one event: registers watches for new directories (and lists what is in
    /// them already), forgets removed ones, and returns the paths the rules care about.
    pub fn handle(&mut self, set: &WatchSet, event: &Event) -> anyhow::Result<Seen> {
        let mut seen = Seen {
            rescan: event.need_rescan(),
            ..Seen::default()
        };
        if matches!(event.kind, EventKind::Access(a) if a != AccessKind::Close(AccessMode::Write)) {
            return Ok(seen);
        }
        let may_be_new_dir = matches!(
            event.kind,
            EventKind::Create(CreateKind::Folder | CreateKind::Any)
                | EventKind::Modify(ModifyKind::Name(
                    RenameMode::To | RenameMode::Both | RenameMode::Any
                ))
                | EventKind::Any
        );
        for (n, path) in event.paths.iter().enumerate() {
            let created = match event.kind {
                EventKind::Create(_) => true,
                EventKind::Modify(ModifyKind::Name(RenameMode::To)) => true,
                EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => n == 1,
                _ => false,
            };
            if matches!(
                event.kind,
                EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
            ) {
                let gone: Vec<PathBuf> = self
                    .watched
                    .range(path.clone()..)
                    .take_while(|w| w.starts_with(path))
                    .filter(|w| !w.exists())
                    .cloned()
                    .collect();
                for w in gone {
                    self.watched.remove(&w);
                }
            }
            if may_be_new_dir && path.is_dir() && !set.skip_dir(path) {
                self.watch_tree(set, path)?;
                seen.paths
                    .extend(list_tree(set, path).into_iter().map(|p| (p, true)));
                continue;
            }
            if set.matches(path) {
                seen.paths.push((path.clone(), created));
            }
        }
        Ok(seen)
    }
}

/// Every path under `dir` (itself included) that the rules care about, not descending into
/// skipped directories.
pub fn list_tree(set: &WatchSet, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if set.matches(&d) {
            out.push(d.clone());
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if !set.skip_dir(&path) {
                    stack.push(path);
                }
            } else if set.matches(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// Every path of every rule's tree (a rule on a single file gives that file).
pub fn list_roots(set: &WatchSet, roots: &[&Path]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in roots {
        if root.is_dir() {
            out.extend(list_tree(set, root));
        } else if root.exists() && set.matches(root) {
            out.push(root.to_path_buf());
        }
    }
    out
}

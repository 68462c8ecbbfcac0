//! Debouncing as pure logic: file events go in with the time they were seen, batches come
//! out once the tree has been quiet for a short window. A steady stream of changes is still
//! flushed after `max_delay`, so a tool rewriting files in a loop cannot starve the sync.
//! Time is a parameter (no clock is read here), so tests drive it with plain values.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The default quiet window: long enough to merge an editor's write + rename and a burst of
/// generated files, short enough to keep a save visible in the container in well under 100 ms.
pub const QUIET: Duration = Duration::from_millis(50);

/// The default longest delay of a batch under a continuous stream of changes.
pub const MAX_DELAY: Duration = Duration::from_millis(1000);

/// Collects changed paths into batches.
#[derive(Debug, Clone)]
pub struct Debouncer {
    quiet: Duration,
    max_delay: Duration,
    pending: BTreeSet<PathBuf>,
    fresh: BTreeSet<PathBuf>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Default for Debouncer {
    fn default() -> Self {
        Debouncer::new(QUIET, MAX_DELAY)
    }
}

impl Debouncer {
    /// A debouncer flushing after `quiet` without events, or `max_delay` after the first.
    pub fn new(quiet: Duration, max_delay: Duration) -> Self {
        Debouncer {
            quiet,
            max_delay,
            pending: BTreeSet::new(),
            fresh: BTreeSet::new(),
            first: None,
            last: None,
        }
    }

    /// Records that `path` changed at `now`; `created` when the change brought it into
    /// existence (so a path created and removed within one batch needs no deletion).
    pub fn push(&mut self, path: PathBuf, now: Instant, created: bool) {
        if created && !self.pending.contains(&path) {
            self.fresh.insert(path.clone());
        }
        self.pending.insert(path);
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// Whether no change is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// When the waiting batch is due (`None` when nothing waits).
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        Some((last + self.quiet).min(first + self.max_delay))
    }

    /// The batch when it is due at `now`; `None` before.
    pub fn poll(&mut self, now: Instant) -> Option<Batch> {
        if now < self.deadline()? {
            return None;
        }
        self.first = None;
        self.last = None;
        Some(Batch {
            paths: std::mem::take(&mut self.pending).into_iter().collect(),
            fresh: std::mem::take(&mut self.fresh),
        })
    }
}

/// Paths that changed during one debounce window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Every changed path, sorted, each once.
    pub paths: Vec<PathBuf>,
    /// The paths that did not exist when the batch began (their first event created them):
    /// if they are gone again at the end (an editor's temporary file), the container never
    /// had them and nothing needs deleting.
    pub fresh: BTreeSet<PathBuf>,
}

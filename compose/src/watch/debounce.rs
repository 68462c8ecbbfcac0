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
            first: None,
            last: None,
        }
    }

    /// Records that `path` changed at `now`.
    pub fn push(&mut self, path: PathBuf, now: Instant) {
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

    /// The batch (sorted, each path once) when it is due at `now`; `None` before.
    pub fn poll(&mut self, now: Instant) -> Option<Vec<PathBuf>> {
        if now < self.deadline()? {
            return None;
        }
        self.first = None;
        self.last = None;
        Some(std::mem::take(&mut self.pending).into_iter().collect())
    }
}

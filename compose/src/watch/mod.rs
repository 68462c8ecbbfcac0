//! The developer loop's core (`berth watch`, `up --watch`): compose's `develop.watch` rules
//! checked and compiled ([`rules`]), which host paths each rule cares about ([`filter`]),
//! file events merged into batches over a caller-supplied clock ([`debounce`]), and the plan
//! of a batch as data ([`plan`]): files to copy into which containers, paths to delete,
//! services to rebuild, containers to restart, commands to run. The CLI owns the file watcher
//! and applies plans through the engine; everything here is pure and tested without a file
//! system or an engine.

pub mod debounce;
pub mod filter;
pub mod plan;
pub mod rules;
#[cfg(test)]
mod tests;

pub use debounce::{Batch, Debouncer};
pub use filter::{MatcherFactory, PathMatcher, RuleFilter, is_ephemeral};
pub use plan::{Change, Copy, Step, Trigger, WatchPlan, plan_batch, settle};
pub use rules::{Action, ContextIgnores, ExecSpec, Rule, WatchError, WatchSet};

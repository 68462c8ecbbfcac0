//! berth's volumes: data that outlives containers.
//!
//! [`VolumeStore`] keeps named and anonymous volumes under `<data-root>/volumes/<name>/_data`
//! with an atomically written record, counts which containers use each one (refusing to remove
//! a volume in use unless forced), mounts the `local` driver's devices (`type`/`device`/`o`)
//! through the [`Mounter`] port on first use and unmounts them on last release, prunes, and
//! copies image content into empty volumes ([`copyup`], fd-relative, crash-marked).

pub mod copyup;
pub mod error;
pub mod local;
pub mod meta;
pub mod store;

pub use error::{Result, VolumeError};
pub use local::{KernelMounter, LocalMount, Mounter};
pub use meta::{ANONYMOUS_LABEL, Volume};
pub use store::{COPYUP_MARK, CopyUp, CreateSpec, VolumeStore};

#[cfg(test)]
mod tests;

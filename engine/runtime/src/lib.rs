//! The built-in OCI runtime of berth's engine: it turns an OCI runtime spec into a container
//! (namespaces, mounts, cgroups, capabilities, seccomp) and supervises it through a shim.
//!
//! It is its own crate because it is the only part of the engine that does namespace work, and
//! it must stay small enough to run in a fresh single-threaded process.

pub mod caps;
pub mod cgroups;
pub mod cli;
pub mod defaults;
pub mod init;
pub mod mounts;
pub mod runtime;
pub mod seccomp;
pub mod shim;
pub mod spec;
pub mod state;
pub mod user;

pub use runtime::{ExitStatus, Runtime, RuntimeError};

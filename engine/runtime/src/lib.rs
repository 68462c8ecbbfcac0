//! The built-in OCI runtime of berth's engine: it turns an OCI runtime spec into a container
//! (namespaces, mounts, cgroups, capabilities, seccomp) and supervises it through a shim.
//!
//! It is its own crate because it is the only part of the engine that does namespace work, and
//! it must stay small enough to run in a fresh single-threaded process.
//!
//! # Using it from the engine
//!
//! 1. Build the spec: [`spec::generate`]`(&ContainerConfig) -> Result<oci_spec::runtime::Spec, _>`
//!    (Docker's defaults), then `spec.save(bundle.join("config.json"))` next to the rootfs.
//! 2. Never clone from the multi-threaded daemon. Spawn the runtime binary instead:
//!    `berth-runtime --root R --cgroup-root C shim <id> --bundle B --log L --exit-file E`
//!    (it prints the init pid on stdout, then supervises; see [`shim`]), or the runc-style
//!    `create|start|state|kill|delete|run|spec|stats|pause|resume` verbs ([`cli::main`]).
//! 3. Operations that do not clone are safe in-process through [`Runtime`]:
//!
//! ```no_run
//! use berth_runtime::Runtime;
//! use nix::sys::signal::Signal;
//! let rt = Runtime::new("/run/berth/runtime", "/sys/fs/cgroup");
//! rt.start("c1")?;                       // let a created container run
//! let st = rt.state("c1")?;              // OCI state: created | running | paused | stopped
//! rt.kill("c1", Signal::SIGTERM)?;
//! let stats = rt.stats("c1")?;           // cpu, memory, pids, blkio, oom_kills
//! rt.delete("c1", true)?;                // force: kill, remove cgroup and state
//! # Ok::<(), berth_runtime::RuntimeError>(())
//! ```
//!
//! [`Runtime::create`]`(id, bundle) -> Result<i32 /* init pid */, RuntimeError>` refuses to run
//! in a multi-threaded process ([`RuntimeError::MultiThreaded`]); the shim and the CLI call it.

pub mod caps;
pub mod cgroups;
pub mod cli;
pub mod defaults;
pub mod exec;
pub mod idle;
pub mod init;
pub mod json_log;
pub mod mounts;
pub mod runtime;
pub mod safe_path;
pub mod sealed;
pub mod seccomp;
pub mod shim;
pub mod shim_io;
pub mod spec;
pub mod state;
pub mod tty;
pub mod user;

pub use runtime::{ExitStatus, Runtime, RuntimeError};

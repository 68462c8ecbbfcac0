//! The one kernel effect of a build, behind a port: run a `RUN` command in a sandbox whose
//! root filesystem is the parent layers under a fresh upper directory. The engine implements
//! it with its container runtime; unit tests use a fake that writes into the upper dir.

use std::path::PathBuf;

/// One RUN to execute. The runner mounts `mounts` at `rootfs` (the overlay of the parent
/// layers with `upper`), runs `args`, and unmounts before returning.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Unique id of this sandbox (also its hostname's source).
    pub id: String,
    /// Directory the runner may use for its bundle and state (removed by the builder).
    pub dir: PathBuf,
    pub mounts: Vec<berth_image::Mount>,
    pub rootfs: PathBuf,
    /// The writable layer; what the command changes ends up here.
    pub upper: PathBuf,
    pub args: Vec<String>,
    /// `KEY=value`.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// `none`, `host` or a network name (`default` = the engine's build network).
    pub network: String,
}

/// Runs build steps.
pub trait StepRunner {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Runs the command to completion, passing its output lines to `output`, and returns
    /// its exit code.
    fn run(&self, spec: &RunSpec, output: &mut dyn FnMut(&str)) -> Result<i64, Self::Error>;
}

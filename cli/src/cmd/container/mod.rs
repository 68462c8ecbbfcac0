//! `berth container …`: one running container at a time through the engine's API (so the same
//! verbs work against any Docker-API engine): run, exec, ps, logs, lifecycle verbs, inspect, top.

pub(crate) mod attach;
pub(crate) mod cp;
pub(crate) mod exec;
mod export;
mod lifecycle;
mod logs;
mod ps;
mod run;
pub(crate) mod stats;

use std::process::ExitCode;

use clap::Subcommand;

use crate::global::GlobalArgs;

/// The sub-verbs of `berth container`.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and start a container from an image, then follow it (or detach with -d).
    Run(Box<run::RunArgs>),
    /// Run a command in a running container.
    Exec(exec::ExecArgs),
    /// List containers.
    #[command(visible_alias = "ls")]
    Ps(ps::PsArgs),
    /// Show a container's output.
    Logs(logs::LogsArgs),
    /// Start stopped containers.
    Start(lifecycle::Ids),
    /// Stop running containers (stop signal, grace period, then SIGKILL).
    Stop(lifecycle::StopArgs),
    /// Restart containers.
    Restart(lifecycle::StopArgs),
    /// Send a signal to running containers.
    Kill(lifecycle::KillArgs),
    /// Remove containers.
    Rm(lifecycle::RmArgs),
    /// Show a container's details as JSON.
    Inspect(lifecycle::Ids),
    /// Show a container's processes.
    Top(lifecycle::One),
    /// Attach the terminal to a running container (ctrl-p ctrl-q detaches).
    Attach(attach::AttachArgs),
    /// Show containers' resource usage (CPU, memory, network and block I/O, PIDs).
    Stats(stats::StatsArgs),
    /// Freeze every process of containers.
    Pause(lifecycle::Ids),
    /// Thaw paused containers.
    Unpause(lifecycle::Ids),
    /// Wait for containers to stop and print their exit codes.
    Wait(lifecycle::Ids),
    /// Rename a container.
    Rename(lifecycle::RenameArgs),
    /// Copy files between a container and the local file system (`-` for a tar on stdin/stdout).
    Cp(cp::CpArgs),
    /// Write a container's file system as a tar archive.
    Export(export::ExportArgs),
    /// List the files a container added (A), changed (C) or deleted (D).
    Diff(export::DiffArgs),
}

/// Runs one `berth container` sub-verb.
pub fn run(command: ContainerCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    use ContainerCommand as C;
    match command {
        C::Run(a) => run::run(*a, global),
        C::Exec(a) => exec::run(a, global),
        C::Ps(a) => ps::run(a, global),
        C::Logs(a) => logs::run(a, global),
        C::Start(a) => lifecycle::start(a, global),
        C::Stop(a) => lifecycle::stop(a, global, false),
        C::Restart(a) => lifecycle::stop(a, global, true),
        C::Kill(a) => lifecycle::kill(a, global),
        C::Rm(a) => lifecycle::rm(a, global),
        C::Inspect(a) => lifecycle::inspect(a, global),
        C::Top(a) => lifecycle::top(a, global),
        C::Attach(a) => attach::run(a, global),
        C::Stats(a) => stats::run(a, global),
        C::Pause(a) => lifecycle::pause(a, global, true),
        C::Unpause(a) => lifecycle::pause(a, global, false),
        C::Wait(a) => lifecycle::wait(a, global),
        C::Rename(a) => lifecycle::rename(a, global),
        C::Cp(a) => cp::run(a, global),
        C::Export(a) => export::export(a, global),
        C::Diff(a) => export::diff(a, global),
    }
}

/// A process exit code from a container's (0..=255).
fn exit_code(code: i64) -> ExitCode {
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(255))
}

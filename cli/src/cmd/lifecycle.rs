//! The verbs that act on existing containers one call each, in parallel, with progress:
//! `start`, `stop`, `restart`, `kill`, `pause`, `unpause` and `rm`. `start` goes through the
//! planner (it honours `depends_on` order and conditions); the others act on what the engine
//! lists for the project.

use std::process::ExitCode;

use anyhow::bail;
use berth_compose::engine_api::EngineApi;
use berth_compose::execute::Status;
use berth_compose::plan::PlanOptions;
use berth_engine::api::models::ContainerSummary;
use clap::Args;

use crate::cmd::up::{ProgressArgs, converge, plan_options};
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::progress::{Mode, Progress};
use crate::stack::{Stack, name_of};

/// Arguments of `start`, `pause` and `unpause`.
#[derive(Debug, Args)]
pub struct ServicesArgs {
    #[command(flatten)]
    progress: ProgressArgs,
    /// Services (default: all).
    services: Vec<String>,
}

/// Arguments of `stop` and `restart`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Shutdown timeout in seconds.
    #[arg(short = 't', long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Don't restart dependent services (accepted; `restart` only acts on the services named).
    #[arg(long)]
    no_deps: bool,
    #[command(flatten)]
    progress: ProgressArgs,
    /// Services (default: all).
    services: Vec<String>,
}

/// Arguments of `kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send.
    #[arg(short = 's', long, value_name = "SIGNAL", default_value = "SIGKILL")]
    signal: String,
    /// Remove containers of services not in the compose file.
    #[arg(long)]
    remove_orphans: bool,
    #[command(flatten)]
    progress: ProgressArgs,
    /// Services (default: all).
    services: Vec<String>,
}

/// Arguments of `rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Don't ask to confirm removal (berth never asks).
    #[arg(short = 'f', long)]
    force: bool,
    /// Compose files: here only as `--file` (`-f` after this verb means --force).
    #[arg(long = "file", id = "files", value_name = "FILE", hide = true)]
    files: Vec<std::path::PathBuf>,
    /// Stop the containers first when needed.
    #[arg(short = 's', long)]
    stop: bool,
    /// Remove anonymous volumes attached to the containers.
    #[arg(short = 'v', long)]
    volumes: bool,
    #[command(flatten)]
    progress: ProgressArgs,
    /// Services (default: all).
    services: Vec<String>,
}

/// One engine call on one container.
#[derive(Debug, Clone, Copy)]
enum Op<'a> {
    Stop(Option<u64>),
    Restart(Option<u64>),
    Kill(&'a str),
    Pause,
    Unpause,
    Remove { stop: bool, volumes: bool },
}

impl Op<'_> {
    fn statuses(self) -> (Status, Status) {
        match self {
            Op::Stop(_) => (Status::Stopping, Status::Stopped),
            Op::Restart(_) => (Status::Starting, Status::Restarted),
            Op::Kill(_) => (Status::Stopping, Status::Killed),
            Op::Pause => (Status::Stopping, Status::Paused),
            Op::Unpause => (Status::Starting, Status::Unpaused),
            Op::Remove { .. } => (Status::Removing, Status::Removed),
        }
    }
}

/// Applies `op` to every container concurrently; returns how many calls failed.
async fn apply(stack: &Stack, containers: &[ContainerSummary], op: Op<'_>, mode: Mode) -> usize {
    let p = Progress::start(mode, "Running");
    let calls = containers.iter().map(|c| {
        let name = name_of(c);
        let p = &p;
        async move {
            let resource = format!("Container {name}");
            let (busy, done) = op.statuses();
            p.send(resource.clone(), busy, String::new());
            let client = stack.client();
            let r = match op {
                Op::Stop(t) => stack
                    .engine
                    .stop_container(&name, t)
                    .await
                    .map_err(|e| e.to_string()),
                Op::Restart(t) => client
                    .restart_container(&name, t.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
                    .await
                    .map_err(|e| e.to_string()),
                Op::Kill(sig) => stack
                    .engine
                    .kill_container(&name, sig)
                    .await
                    .map_err(|e| e.to_string()),
                Op::Pause => client
                    .pause_container(&name)
                    .await
                    .map_err(|e| e.to_string()),
                Op::Unpause => client
                    .unpause_container(&name)
                    .await
                    .map_err(|e| e.to_string()),
                Op::Remove { stop, volumes } => {
                    let stopped = if stop && c.state == "running" {
                        stack
                            .engine
                            .stop_container(&name, None)
                            .await
                            .map_err(|e| e.to_string())
                    } else {
                        Ok(())
                    };
                    match stopped {
                        Ok(()) => client
                            .remove_container(&name, false, volumes)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e),
                    }
                }
            };
            match r {
                Ok(()) => {
                    p.send(resource, done, String::new());
                    0
                }
                Err(e) => {
                    p.send(resource, Status::Error, e);
                    1
                }
            }
        }
    });
    let failed: usize = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .sum();
    p.finish().await;
    failed
}

/// Lists the containers `services` name, applies `op`, and maps failures to exit code 1.
async fn on_containers(
    global: &GlobalArgs,
    services: &[String],
    progress: &ProgressArgs,
    all: bool,
    op: Op<'_>,
    keep: impl Fn(&ContainerSummary) -> bool,
) -> anyhow::Result<ExitCode> {
    let mode = Mode::parse(&progress.progress)?;
    let stack = Stack::open_by_name(global).await?;
    stack.check_services(services)?;
    let mut containers = stack.containers(services, all, false).await?;
    containers.retain(|c| keep(c));
    if progress.dry_run {
        for c in &containers {
            outln!("{op:?} {}", name_of(c));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let failed = apply(&stack, &containers, op, mode).await;
    if failed > 0 {
        bail!("{failed} container(s) failed");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `berth start`: starts the existing containers of the services, dependencies first.
pub fn start(args: ServicesArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stack = Stack::open(global).await?;
        stack.check_services(&args.services)?;
        let options = PlanOptions {
            no_recreate: true,
            ..plan_options(&stack, &args.services)
        };
        // Only existing containers are started: missing replicas are not created.
        let observed = berth_compose::execute::observe(&stack.engine, &stack.project.name).await?;
        let mut scale = options.scale.clone();
        for name in stack.project.services.keys() {
            let n = observed.service_containers(name).len() as u64;
            scale.insert(name.clone(), n);
        }
        let options = PlanOptions { scale, ..options };
        converge(&stack, &options, &args.progress, "Running").await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `berth stop`.
pub fn stop(args: StopArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(on_containers(
        global,
        &args.services,
        &args.progress,
        false,
        Op::Stop(args.timeout),
        |_| true,
    ))
}

/// Runs `berth restart`.
pub fn restart(args: StopArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(on_containers(
        global,
        &args.services,
        &args.progress,
        true,
        Op::Restart(args.timeout),
        |_| true,
    ))
}

/// Runs `berth kill`.
pub fn kill(args: KillArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let signal = args.signal.clone();
    runtime()?.block_on(on_containers(
        global,
        &args.services,
        &args.progress,
        false,
        Op::Kill(&signal),
        |_| true,
    ))
}

/// Runs `berth pause`.
pub fn pause(args: ServicesArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(on_containers(
        global,
        &args.services,
        &args.progress,
        false,
        Op::Pause,
        |c| c.state == "running",
    ))
}

/// Runs `berth unpause`.
pub fn unpause(args: ServicesArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(on_containers(
        global,
        &args.services,
        &args.progress,
        true,
        Op::Unpause,
        |c| c.state == "paused",
    ))
}

/// Runs `berth rm`: removes stopped containers (running ones too with `-s`).
pub fn rm(args: RmArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let stop = args.stop;
    let global = &crate::stack::with_files(global, &args.files);
    runtime()?.block_on(on_containers(
        global,
        &args.services,
        &args.progress,
        true,
        Op::Remove {
            stop,
            volumes: args.volumes,
        },
        move |c| stop || (c.state != "running" && c.state != "paused"),
    ))
}

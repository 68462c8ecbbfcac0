//! `berth up`: converge the project (observe → plan → execute), then either return (`-d`,
//! optionally `--wait`ing for health) or stay attached, printing the containers' output with
//! `service-N |` prefixes. In attached mode Ctrl-C stops the stack gracefully and a second
//! Ctrl-C kills it; `--abort-on-container-exit` stops it when a container exits, and
//! `--exit-code-from SERVICE` returns that service's exit code.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_compose::engine_api::EngineApi;
use berth_compose::execute::{Status, execute, observe};
use berth_compose::plan::{PlanOptions, plan};
use berth_engine::api::models::ContainerSummary;
use berth_engine::backend::LogsOptions;
use clap::Args;
use tokio::sync::mpsc::unbounded_channel;

use crate::cmd::logs::{LogStyle, display_name, stdout_sink, stream_logs};
use crate::cmd::prepare::{BuildPolicy, prepare_images};
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::progress::{Mode, Progress};
use crate::stack::{Stack, name_of, parse_scale, service_of};

/// `--progress` and `--dry-run`, shared by the verbs that change the engine.
#[derive(Debug, Clone, Args)]
pub struct ProgressArgs {
    /// Progress output: auto, tty, plain, json or quiet.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub progress: String,
    /// Show what would be done without doing it.
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `berth up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Detached mode: run containers in the background.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Build images before starting containers (default: build only absent images).
    #[arg(long)]
    build: bool,
    /// Don't build images.
    #[arg(long)]
    no_build: bool,
    /// Pull images: always, missing, never or build.
    #[arg(long, value_name = "POLICY", default_value = "missing")]
    pull: String,
    /// Recreate containers even if their configuration has not changed.
    #[arg(long)]
    force_recreate: bool,
    /// Never recreate existing containers.
    #[arg(long)]
    no_recreate: bool,
    /// Recreate dependent containers.
    #[arg(long)]
    always_recreate_deps: bool,
    /// Don't start linked services.
    #[arg(long)]
    no_deps: bool,
    /// Create containers without starting them.
    #[arg(long)]
    no_start: bool,
    /// Remove containers of services not in the compose file.
    #[arg(long)]
    remove_orphans: bool,
    /// Scale SERVICE to NUM instances (overrides `scale` and `deploy.replicas`).
    #[arg(long, value_name = "SERVICE=NUM")]
    scale: Vec<String>,
    /// Wait for services to be running (or healthy); implies -d.
    #[arg(long)]
    wait: bool,
    /// Longest wait in seconds with --wait.
    #[arg(long, value_name = "SECONDS")]
    wait_timeout: Option<u64>,
    /// Stop all containers when any container stops.
    #[arg(long)]
    abort_on_container_exit: bool,
    /// Return the exit code of this service's container (implies --abort-on-container-exit).
    #[arg(long, value_name = "SERVICE")]
    exit_code_from: Option<String>,
    /// Only show the output of these services.
    #[arg(long, value_name = "SERVICE")]
    attach: Vec<String>,
    /// Don't show the output of these services.
    #[arg(long, value_name = "SERVICE")]
    no_attach: Vec<String>,
    /// Shutdown timeout in seconds.
    #[arg(short = 't', long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Monochrome output.
    #[arg(long)]
    no_color: bool,
    /// Don't prefix output lines with the container name.
    #[arg(long)]
    no_log_prefix: bool,
    /// Watch the services' `develop.watch` paths while attached (see `berth watch`).
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    progress: ProgressArgs,
    /// Services to start (default: all).
    services: Vec<String>,
}

fn validate(args: &UpArgs) -> anyhow::Result<()> {
    if args.detach && (args.abort_on_container_exit || args.exit_code_from.is_some()) {
        bail!("--abort-on-container-exit and --exit-code-from cannot be combined with -d");
    }
    if args.wait && (args.abort_on_container_exit || args.exit_code_from.is_some()) {
        bail!("--wait cannot be combined with --abort-on-container-exit or --exit-code-from");
    }
    if args.watch && (args.detach || args.wait) {
        bail!("--watch cannot be combined with -d or --wait (hint: use `berth watch --no-up`)");
    }
    if args.build && args.no_build {
        bail!("--build and --no-build are incompatible");
    }
    if !["always", "missing", "never", "build"].contains(&args.pull.as_str()) {
        bail!(
            "invalid --pull {:?}: expected always, missing, never or build",
            args.pull
        );
    }
    Ok(())
}

/// Converges the project to `options`: observe, plan, then execute with progress (or print
/// the plan with `dry_run`). Returns the plan's warnings already printed.
pub async fn converge(
    stack: &Stack,
    options: &PlanOptions,
    progress: &ProgressArgs,
    title: &str,
) -> anyhow::Result<()> {
    let mode = Mode::parse(&progress.progress)?;
    options.validate(&stack.project)?;
    let observed = observe(&stack.engine, &stack.project.name)
        .await
        .context("reading the project's state from the engine")?;
    berth_compose::external::check_external(&stack.engine, &stack.project).await?;
    let plan = plan(&stack.project, &observed, options);
    berth_compose::plan::check_files(&stack.project, &plan)?;
    for w in &plan.warnings {
        eprintln!("WARN[0000] {w}");
    }
    if progress.dry_run {
        outln!("{}", plan.to_string().trim_end());
        return Ok(());
    }
    let p = Progress::start(mode, title);
    let result = execute(&plan, &stack.engine, &p.sender()).await;
    p.finish().await;
    result.map_err(anyhow::Error::new)
}

/// Plan options for `up`-like verbs.
pub fn plan_options(stack: &Stack, services: &[String]) -> PlanOptions {
    PlanOptions {
        services: services.to_vec(),
        config_files: stack.config_files.clone(),
        ..PlanOptions::default()
    }
}

/// Runs `berth up`.
pub fn run(args: UpArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    validate(&args)?;
    runtime()?.block_on(up(args, global))
}

async fn up(args: UpArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let stack = Stack::open(global).await?;
    stack.check_services(&args.services)?;
    if let Some(s) = &args.exit_code_from {
        stack.check_services(std::slice::from_ref(s))?;
    }
    let mut options = PlanOptions {
        no_deps: args.no_deps,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        always_recreate_deps: args.always_recreate_deps,
        remove_orphans: args.remove_orphans,
        scale: parse_scale(&args.scale)?,
        no_start: args.no_start,
        timeout_s: args.timeout,
        ..plan_options(&stack, &args.services)
    };
    let watch = match args.watch {
        true => Some(crate::cmd::watch::Session::prepare(
            &stack,
            &args.services,
            crate::cmd::watch::ApplyOptions::default(),
        )?),
        false => None,
    };
    if !args.progress.dry_run {
        let mode = Mode::parse(&args.progress.progress)?;
        let build = BuildPolicy::from_flags(args.build, args.no_build);
        options.image_ids = prepare_images(
            &stack,
            &args.services,
            args.no_deps,
            (&args.pull, build),
            mode,
        )
        .await?;
    }
    converge(&stack, &options, &args.progress, "Running").await?;
    if args.progress.dry_run || args.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    if args.wait {
        let timeout = args.wait_timeout.map(Duration::from_secs);
        wait_ready(&stack, &args.services, timeout).await?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.detach {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(watch) = watch {
        return watch.alongside(&stack, attached(&stack, &args)).await;
    }
    attached(&stack, &args).await
}

/// Waits until every container of `services` (all when empty) runs, healthy when it has a
/// health check; fails when one exits with an error, turns unhealthy or `timeout` passes.
pub async fn wait_ready(
    stack: &Stack,
    services: &[String],
    timeout: Option<Duration>,
) -> anyhow::Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let mut pending = Vec::new();
        for c in stack.containers(services, true, false).await? {
            let name = name_of(&c);
            let info = stack.engine.inspect_container(&name).await?;
            use berth_compose::engine_api::{Health, RunState};
            match (info.state, info.health) {
                (_, Some(Health::Unhealthy)) => bail!("container {name} is unhealthy"),
                (RunState::Exited | RunState::Dead, _) => match info.exit_code {
                    Some(0) => {}
                    code => bail!("container {name} exited ({})", code.unwrap_or(-1)),
                },
                (RunState::Running, None | Some(Health::Healthy)) => {}
                _ => pending.push(name),
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            bail!(
                "timed out waiting for {} to be ready (--wait-timeout)",
                pending.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The attached part of `up`: prints output until the containers stop, the user presses
/// Ctrl-C, or (with `--abort-on-container-exit`) one container exits.
async fn attached(stack: &Stack, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let all = stack.containers(&args.services, true, false).await?;
    let shown: Vec<ContainerSummary> = all
        .iter()
        .filter(|c| {
            let s = service_of(c).to_owned();
            (args.attach.is_empty() || args.attach.contains(&s)) && !args.no_attach.contains(&s)
        })
        .cloned()
        .collect();
    let names: Vec<String> = shown
        .iter()
        .map(|c| display_name(&stack.project.name, &name_of(c)))
        .collect();
    let style = LogStyle::new(&names, args.no_color, args.no_log_prefix);
    let abort = args.abort_on_container_exit || args.exit_code_from.is_some();
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        follow: true,
        timestamps: false,
        tail: None,
    };
    let (tx, mut exits) = unbounded_channel();
    let client = stack.client().clone();
    let project = stack.project.name.clone();
    let logs_task = {
        let shown = shown.clone();
        tokio::spawn(async move {
            stream_logs(
                &client,
                &project,
                &shown,
                &opts,
                &style,
                stdout_sink(),
                Some(tx),
            )
            .await;
        })
    };
    let mut remaining: BTreeSet<String> = shown.iter().map(name_of).collect();
    let mut code: Option<i64> = None;
    let mut interrupts = 0;
    let exit_from: BTreeSet<String> = all
        .iter()
        .filter(|c| args.exit_code_from.as_deref() == Some(service_of(c)))
        .map(name_of)
        .collect();
    loop {
        if remaining.is_empty() {
            break;
        }
        tokio::select! {
            exited = exits.recv() => {
                let Some((name, status)) = exited else { break };
                remaining.remove(&name);
                eprintln!("{} exited with code {status}", display_name(&stack.project.name, &name));
                if exit_from.contains(&name) || (args.exit_code_from.is_none() && code.is_none()) {
                    code = Some(status);
                }
                if abort {
                    eprintln!("Aborting on container exit...");
                    stop_all(stack, &all, args.timeout, false).await;
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => {
                interrupts += 1;
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                tokio::select! {
                    () = stop_all(stack, &all, args.timeout, false) => {}
                    _ = tokio::signal::ctrl_c() => {
                        stop_all(stack, &all, args.timeout, true).await;
                    }
                }
                code = Some(130);
                break;
            }
        }
    }
    logs_task.abort();
    if let Some(s) = &args.exit_code_from
        && let Some(c) = all.iter().find(|c| service_of(c) == s)
    {
        let r = stack
            .client()
            .wait_container(
                &name_of(c),
                berth_engine::backend::WaitCondition::NotRunning,
            )
            .await;
        code = r.ok().map(|r| r.status_code).or(code);
    }
    let code = match code {
        Some(c) if abort || interrupts > 0 => c,
        _ => 0,
    };
    Ok(ExitCode::from(
        u8::try_from(code.clamp(0, 255)).unwrap_or(1),
    ))
}

/// Stops (or kills) `containers` in parallel, with progress.
pub async fn stop_all(
    stack: &Stack,
    containers: &[ContainerSummary],
    timeout: Option<u64>,
    kill: bool,
) {
    let p = Progress::start(Mode::parse("auto").unwrap_or(Mode::Plain), "Stopping");
    let calls = containers.iter().map(|c| {
        let name = name_of(c);
        let p = &p;
        async move {
            let resource = format!("Container {name}");
            p.send(resource.clone(), Status::Stopping, String::new());
            let r = if kill {
                stack.engine.kill_container(&name, "SIGKILL").await
            } else {
                stack.engine.stop_container(&name, timeout).await
            };
            match r {
                Ok(()) => p.send(resource, Status::Stopped, String::new()),
                Err(e) => p.send(resource, Status::Error, e.to_string()),
            }
        }
    });
    futures_util::future::join_all(calls).await;
    p.finish().await;
}

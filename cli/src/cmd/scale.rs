//! `berth scale SERVICE=N…` and `berth create`: `up` with other options. Scaling down removes
//! the highest-numbered containers first; `create` makes the containers without starting them.

use std::process::ExitCode;

use berth_compose::plan::PlanOptions;
use clap::Args;

use crate::cmd::prepare::{BuildPolicy, prepare_images};
use crate::cmd::up::{ProgressArgs, converge, plan_options};
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::progress::Mode;
use crate::stack::{Stack, parse_scale};

/// Arguments of `berth scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Don't start linked services.
    #[arg(long)]
    no_deps: bool,
    #[command(flatten)]
    progress: ProgressArgs,
    /// `SERVICE=REPLICAS` pairs.
    #[arg(value_name = "SERVICE=REPLICAS", required = true)]
    scales: Vec<String>,
}

/// Arguments of `berth create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Recreate containers even if their configuration has not changed.
    #[arg(long)]
    force_recreate: bool,
    /// Never recreate existing containers.
    #[arg(long)]
    no_recreate: bool,
    /// Remove containers of services not in the compose file.
    #[arg(long)]
    remove_orphans: bool,
    /// Pull images: always, missing, never or build.
    #[arg(long, value_name = "POLICY", default_value = "missing")]
    pull: String,
    /// Scale SERVICE to NUM instances.
    #[arg(long, value_name = "SERVICE=NUM")]
    scale: Vec<String>,
    /// Build images before creating containers (default: build only absent images).
    #[arg(long)]
    build: bool,
    /// Don't build images.
    #[arg(long)]
    no_build: bool,
    #[command(flatten)]
    progress: ProgressArgs,
    /// Services (default: all).
    services: Vec<String>,
}

/// Runs `berth scale`.
pub fn scale(args: ScaleArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let scale = parse_scale(&args.scales)?;
    runtime()?.block_on(async {
        let stack = Stack::open(global).await?;
        let services: Vec<String> = scale.keys().cloned().collect();
        stack.check_services(&services)?;
        let options = PlanOptions {
            scale,
            no_deps: args.no_deps,
            ..plan_options(&stack, &services)
        };
        converge(&stack, &options, &args.progress, "Running").await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `berth create`.
pub fn create(args: CreateArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let scale = parse_scale(&args.scale)?;
    anyhow::ensure!(
        !(args.build && args.no_build),
        "--build and --no-build are incompatible"
    );
    runtime()?.block_on(async {
        let stack = Stack::open(global).await?;
        stack.check_services(&args.services)?;
        let mut options = PlanOptions {
            scale,
            force_recreate: args.force_recreate,
            no_recreate: args.no_recreate,
            remove_orphans: args.remove_orphans,
            no_start: true,
            ..plan_options(&stack, &args.services)
        };
        if !args.progress.dry_run {
            let mode = Mode::parse(&args.progress.progress)?;
            let build = BuildPolicy::from_flags(args.build, args.no_build);
            options.image_ids =
                prepare_images(&stack, &args.services, false, (&args.pull, build), mode).await?;
        }
        converge(&stack, &options, &args.progress, "Running").await?;
        Ok(ExitCode::SUCCESS)
    })
}

//! `berth stats [SERVICE…]`: live resource usage of the project's containers, rendered as
//! `berth container stats` renders it.

use std::process::ExitCode;

use clap::Args;

use crate::cmd::container::stats::show;
use crate::connect::runtime;
use crate::global::GlobalArgs;
use crate::stack::Stack;

/// Arguments of `berth stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Include stopped containers.
    #[arg(short, long)]
    all: bool,
    /// Print one sample and exit.
    #[arg(long)]
    no_stream: bool,
    /// `table [TEMPLATE]`, `json`, or a template such as `{{.Name}} {{.MemUsage}}`.
    #[arg(long)]
    format: Option<String>,
    /// Services (default: all).
    services: Vec<String>,
}

/// Runs `berth stats`.
pub fn run(args: StatsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stack = Stack::open_by_name(global).await?;
        stack.check_services(&args.services)?;
        let ids: Vec<String> = stack
            .containers(&args.services, args.all, false)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        show(
            stack.client(),
            &ids,
            !args.no_stream,
            args.format.as_deref(),
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}

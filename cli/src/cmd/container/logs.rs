//! `berth container logs`: a container's output, optionally followed and timestamped.

use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::backend::LogsOptions;
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth container logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep streaming new output (`-f` is the global compose-file flag).
    #[arg(long)]
    follow: bool,
    /// Prefix every line with its RFC 3339 time.
    #[arg(short, long)]
    timestamps: bool,
    /// Only the last N lines.
    #[arg(short = 'n', long)]
    tail: Option<usize>,
    /// Container name or id.
    container: String,
}

/// Prints the output: stdout to stdout, stderr to stderr.
pub fn run(args: LogsArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        follow: args.follow,
        timestamps: args.timestamps,
        tail: args.tail,
    };
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let stream = client
            .logs(&args.container, &opts)
            .await
            .with_context(|| format!("logs of {}", args.container))?;
        crate::tty::copy_output(stream).await
    })?;
    Ok(ExitCode::SUCCESS)
}

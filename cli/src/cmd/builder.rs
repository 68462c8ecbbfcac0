//! `berth builder prune`: removes the engine's build cache.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// The sub-verbs of `berth builder`.
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove the build cache.
    Prune(PruneArgs),
}

/// Options of `berth builder prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation (berth never asks; accepted for compatibility).
    #[arg(short, long)]
    force: bool,
    /// Remove all cache (the only mode; accepted for compatibility).
    #[arg(short, long)]
    all: bool,
}

/// Runs one `berth builder` sub-verb.
pub fn run(command: BuilderCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match command {
        BuilderCommand::Prune(_) => {
            let bytes = runtime()?.block_on(async {
                let client = connect(global).await?;
                client
                    .prune_build_cache()
                    .await
                    .context("pruning the build cache")
            })?;
            println!("Total reclaimed space: {bytes}B");
            Ok(ExitCode::SUCCESS)
        }
    }
}

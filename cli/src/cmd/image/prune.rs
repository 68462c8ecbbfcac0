//! `berth image prune [-a]`: removes image data nothing needs; with `-a`, every image no
//! container uses.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::ls::human_size;
use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth image prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only dangling data.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation (berth never asks; accepted for docker compatibility).
    /// (`-f` is the global compose-file flag, so only the long form exists.)
    #[arg(long)]
    force: bool,
}

/// Prunes and prints what went.
pub fn run(args: PruneArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let report = runtime()?.block_on(async {
        let client = connect(global).await?;
        client
            .prune_images(args.all)
            .await
            .context("pruning images")
    })?;
    let _ = args.force;
    if !report.images_deleted.is_empty() {
        println!("Deleted Images:");
        for d in &report.images_deleted {
            match (&d.untagged, &d.deleted) {
                (Some(u), _) => println!("untagged: {u}"),
                (None, Some(id)) => println!("deleted: {id}"),
                (None, None) => {}
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(report.space_reclaimed as i64)
    );
    Ok(ExitCode::SUCCESS)
}

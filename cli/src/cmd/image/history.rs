//! `berth image history IMAGE`: the image's build steps, newest first, as `docker history`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::ls::{ago, human_size};
use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth image history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The image (name, id or digest).
    image: String,
    /// Show only the image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate ids and commands.
    #[arg(long)]
    no_trunc: bool,
    /// `table` (default) or `json` (one object per line).
    #[arg(long, default_value = "table")]
    format: String,
}

fn short_id(id: &str, full: bool) -> String {
    if full || id == "<missing>" {
        return id.to_owned();
    }
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Prints the history.
pub fn run(args: HistoryArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let steps = runtime()?.block_on(async {
        let client = connect(global).await?;
        client
            .image_history(&args.image)
            .await
            .with_context(|| format!("history of {}", args.image))
    })?;
    if args.format == "json" {
        for s in &steps {
            println!("{}", serde_json::to_string(s)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        args.format == "table",
        "unknown --format {:?}: use table or json",
        args.format
    );
    if args.quiet {
        for s in &steps {
            println!("{}", short_id(&s.id, args.no_trunc));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    println!(
        "{:<12}  {:<14}  {:<45}  {:>8}  COMMENT",
        "IMAGE", "CREATED", "CREATED BY", "SIZE"
    );
    for s in &steps {
        let by = if args.no_trunc || s.created_by.chars().count() <= 45 {
            s.created_by.clone()
        } else {
            format!("{}…", s.created_by.chars().take(44).collect::<String>())
        };
        println!(
            "{:<12}  {:<14}  {:<45}  {:>8}  {}",
            short_id(&s.id, args.no_trunc),
            ago(s.created, now),
            by,
            human_size(s.size),
            s.comment
        );
    }
    Ok(ExitCode::SUCCESS)
}

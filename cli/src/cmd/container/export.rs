//! `berth container export` (a tar of a container's file system, to a file or stdout) and
//! `berth container diff` (what a container changed against its image, `A`/`C`/`D` lines).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use futures_util::StreamExt as _;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Arguments of `berth container export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Container name or id.
    container: String,
}

/// Arguments of `berth container diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Container name or id.
    container: String,
}

/// Runs `berth container export`.
pub fn export(args: ExportArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal as _;
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("refusing to write a tar to a terminal: use -o FILE or redirect the output");
    }
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let mut stream = client
            .export_container(&args.container)
            .await
            .with_context(|| format!("cannot export {}", args.container))?;
        let mut sink: Box<dyn std::io::Write> = match &args.output {
            Some(p) => Box::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            ),
            None => Box::new(std::io::stdout().lock()),
        };
        while let Some(chunk) = stream.next().await {
            sink.write_all(&chunk.context("reading the export from the engine")?)?;
        }
        sink.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `berth container diff`.
pub fn diff(args: DiffArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let changes = client
            .container_changes(&args.container)
            .await
            .with_context(|| format!("cannot list the changes of {}", args.container))?;
        for c in changes {
            outln!("{} {}", c.kind.letter(), c.path);
        }
        Ok(ExitCode::SUCCESS)
    })
}

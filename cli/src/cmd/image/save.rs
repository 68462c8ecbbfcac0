//! `berth image save [-o FILE] IMAGE...`: the engine's `docker save` tarball (Docker's layout
//! plus an OCI layout) to a file or standard output.

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth image save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Images to save (names, ids or digests).
    #[arg(required = true)]
    images: Vec<String>,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<String>,
}

/// Saves the images; a file is written whole or not at all.
pub fn run(args: SaveArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<&str> = args.images.iter().map(String::as_str).collect();
    let what = || format!("saving {}", args.images.join(", "));
    match &args.output {
        Some(path) => {
            let path = Path::new(path);
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::Builder::new()
                .prefix(".berth-save-")
                .tempfile_in(dir)
                .with_context(|| format!("cannot write in {}", dir.display()))?;
            runtime()?.block_on(async {
                let client = connect(global).await?;
                client
                    .save_images(&names, tmp.as_file_mut())
                    .await
                    .with_context(what)
            })?;
            tmp.persist(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            let mut out = std::io::stdout();
            if out.is_terminal() {
                bail!(
                    "refusing to write a tarball to the terminal: use -o FILE or redirect \
                     standard output"
                );
            }
            runtime()?.block_on(async {
                let client = connect(global).await?;
                client
                    .save_images(&names, &mut out)
                    .await
                    .with_context(what)
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

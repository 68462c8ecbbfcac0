//! `berth image load [-i FILE] [-q]`: loads a `docker save` tarball or an OCI layout archive
//! from a file or standard input.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth image load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from this file instead of standard input.
    #[arg(short, long)]
    input: Option<String>,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Loads the archive and prints the loaded image names.
pub fn run(args: LoadArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let (data, source) = match &args.input {
        Some(path) => (
            std::fs::read(path).with_context(|| format!("reading {path}"))?,
            path.clone(),
        ),
        None => {
            let mut data = Vec::new();
            std::io::stdin()
                .read_to_end(&mut data)
                .context("reading the archive from standard input")?;
            (data, "standard input".to_owned())
        }
    };
    let lines = runtime()?.block_on(async {
        let client = connect(global).await?;
        client
            .load_images(data, args.quiet)
            .await
            .with_context(|| format!("loading images from {source}"))
    })?;
    if !args.quiet {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `berth image import FILE|- [REPOSITORY[:TAG]]`: a root filesystem tarball becomes a one-layer
//! image, with Dockerfile-style `--change` instructions applied to its config (as `docker import`).

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth image import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tarball (plain, gzip or zstd), or `-` for standard input.
    file: String,
    /// Name of the new image (`REPOSITORY[:TAG]`).
    reference: Option<String>,
    /// Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME,
    /// WORKDIR, STOPSIGNAL); repeatable.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    changes: Vec<String>,
    /// Commit message stored in the image history.
    #[arg(short, long)]
    message: Option<String>,
}

/// Imports the tarball and prints the new image id.
pub fn run(args: ImportArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let data = if args.file == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading the tarball from standard input")?;
        data
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file))?
    };
    let id = runtime()?.block_on(async {
        let client = connect(global).await?;
        client
            .import_image(
                data,
                args.reference.as_deref(),
                &args.changes,
                args.message.as_deref(),
            )
            .await
            .with_context(|| format!("importing {}", args.file))
    })?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

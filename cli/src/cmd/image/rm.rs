//! `berth image rm [-f] IMAGE...`: removes images; one a container uses is refused unless
//! `-f` (which only drops its names).

use std::process::ExitCode;

use clap::Args;

use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth image rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Images to remove (names, ids or digests).
    #[arg(required = true)]
    images: Vec<String>,
    /// Remove even if a container uses the image (its names only; the content stays until the
    /// container is removed).
    /// (`-f` is the global compose-file flag, so only the long form exists.)
    #[arg(long)]
    force: bool,
}

/// Removes each image; the exit code is 1 if any removal failed.
pub fn run(args: RmArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let failed = runtime()?.block_on(async {
        let client = connect(global).await?;
        let mut failed = false;
        for image in &args.images {
            match client.remove_image(image, args.force).await {
                Ok(()) => println!("Untagged: {image}"),
                Err(e) => {
                    eprintln!("Error removing {image}: {e}");
                    failed = true;
                }
            }
        }
        anyhow::Ok(failed)
    })?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

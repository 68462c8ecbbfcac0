//! `berth image push NAME[:TAG]`: the engine pushes the local image to its registry with the
//! stored login; progress is printed per layer.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use futures_util::StreamExt as _;

use crate::cmd::login::registry_auth_for;
use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// Options of `berth image push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Image to push (`NAME[:TAG]`).
    image: String,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Pushes the image and prints the engine's progress.
pub fn run(args: PushArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let auth = registry_auth_for(&args.image)?;
    runtime()?.block_on(async {
        let client = connect(global).await?;
        let mut stream = client
            .push_image_stream(&args.image, None, auth.as_deref())
            .await
            .with_context(|| format!("pushing {}", args.image))?;
        while let Some(m) = stream.next().await {
            let m = m.with_context(|| format!("pushing {}", args.image))?;
            if args.quiet {
                continue;
            }
            match m.id {
                Some(id) => println!("{id}: {}", m.status),
                None => println!("{}", m.status),
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

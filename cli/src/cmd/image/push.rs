//! `berth image push NAME[:TAG]`: the engine pushes the local image to its registry with the
//! stored login; progress is printed per layer.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use futures_util::StreamExt as _;

use berth_engine::client::Client;

use crate::cmd::images::split_reference;
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
    runtime()?.block_on(async {
        let client = connect(global).await?;
        push_reference(&client, &args.image, args.quiet, "")
            .await
            .with_context(|| format!("pushing {}", args.image))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Pushes `reference` (`NAME[:TAG]`, `:latest` when no tag is given, as the docker CLI) with
/// the stored login, printing the engine's progress lines after `prefix` unless `quiet`. Used
/// by `berth image push` and the compose `berth push`.
pub async fn push_reference(
    client: &Client,
    reference: &str,
    quiet: bool,
    prefix: &str,
) -> anyhow::Result<()> {
    let auth = registry_auth_for(reference)?;
    let (name, tag) = split_reference(reference);
    let mut stream = client.push_image_stream(name, tag, auth.as_deref()).await?;
    while let Some(m) = stream.next().await {
        let m = m?;
        if quiet {
            continue;
        }
        match m.id {
            Some(id) => println!("{prefix}{id}: {}", m.status),
            None => println!("{prefix}{}", m.status),
        }
    }
    Ok(())
}

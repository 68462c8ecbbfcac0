//! `berth image …`: the engine's images, one file per sub-verb, each talking to the engine
//! through the API client (so the same verbs work against any Docker-API engine).

pub(crate) mod build;
mod ls;

use std::process::ExitCode;

use clap::Subcommand;

use crate::global::GlobalArgs;

/// The sub-verbs of `berth image`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// List images.
    #[command(visible_alias = "list")]
    Ls(ls::LsArgs),
}

/// Runs one `berth image` sub-verb.
pub fn run(command: ImageCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match command {
        ImageCommand::Build(args) => build::run(args, global),
        ImageCommand::Ls(args) => ls::run(args, global),
    }
}

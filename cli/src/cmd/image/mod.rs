//! `berth image …`: the engine's images, one file per sub-verb, each talking to the engine
//! through the API client (so the same verbs work against any Docker-API engine).

pub(crate) mod build;
mod import;
mod ls;
mod pull;
mod push;

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
    /// Pull an image from a registry.
    Pull(pull::PullArgs),
    /// Push an image to a registry.
    Push(push::PushArgs),
    /// Create an image from a root filesystem tarball.
    Import(import::ImportArgs),
}

/// Runs one `berth image` sub-verb.
pub fn run(command: ImageCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match command {
        ImageCommand::Build(args) => build::run(args, global),
        ImageCommand::Ls(args) => ls::run(args, global),
        ImageCommand::Import(args) => import::run(args, global),
        ImageCommand::Pull(args) => pull::run(args, global),
        ImageCommand::Push(args) => push::run(args, global),
    }
}

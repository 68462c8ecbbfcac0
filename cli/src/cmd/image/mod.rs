//! `berth image …`: the engine's images, one file per sub-verb, each talking to the engine
//! through the API client (so the same verbs work against any Docker-API engine).

mod bootstrap;
pub(crate) mod build;
mod history;
mod import;
mod load;
mod ls;
mod prune;
mod pull;
pub(crate) mod push;
mod rm;
mod save;

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
    /// Write images to a tarball (`docker save` format with an OCI layout).
    Save(save::SaveArgs),
    /// Load images from a `docker save` tarball or an OCI layout archive.
    Load(load::LoadArgs),
    /// Show the build steps of an image.
    History(history::HistoryArgs),
    /// Remove unused images.
    Prune(prune::PruneArgs),
    /// Remove images.
    #[command(visible_alias = "remove")]
    Rm(rm::RmArgs),
    /// Build a Debian base image from a package mirror with debootstrap (no registry needed).
    Bootstrap(bootstrap::BootstrapArgs),
}

/// Runs one `berth image` sub-verb.
pub fn run(command: ImageCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match command {
        ImageCommand::Build(args) => build::run(args, global),
        ImageCommand::Ls(args) => ls::run(args, global),
        ImageCommand::Import(args) => import::run(args, global),
        ImageCommand::Pull(args) => pull::run(args, global),
        ImageCommand::Push(args) => push::run(args, global),
        ImageCommand::Bootstrap(args) => bootstrap::run(args, global),
        ImageCommand::Save(args) => save::run(args, global),
        ImageCommand::Load(args) => load::run(args, global),
        ImageCommand::History(args) => history::run(args, global),
        ImageCommand::Prune(args) => prune::run(args, global),
        ImageCommand::Rm(args) => rm::run(args, global),
    }
}

//! The verbs of the `berth` CLI, one module each.

pub(crate) mod build;
mod builder;
mod config;
mod engine;
mod flags;
mod graph;
mod image;
mod login;
mod network;
mod version;
mod volume;

use std::process::ExitCode;

use clap::Subcommand;

use crate::global::GlobalArgs;

/// Every verb berth understands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, resolve and render the compose file in canonical form (like `docker compose config`).
    #[command(visible_alias = "convert")]
    Config(config::ConfigArgs),
    /// Print the service dependency graph as DOT or Mermaid.
    Graph(graph::GraphArgs),
    /// Run the container engine in the foreground (Docker Engine API on a unix socket).
    Engine(engine::EngineArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Log in to a registry (stores the credentials in ~/.docker/config.json).
    Login(login::LoginArgs),
    /// Log out from a registry.
    Logout(login::LogoutArgs),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage networks.
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Build or rebuild the images of compose services with a `build:` section.
    Build(build::BuildArgs),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(builder::BuilderCommand),
    /// Show berth's version and the engine's.
    Version(version::VersionArgs),
    /// Show what the engine reports about itself (starts berth's engine when needed).
    Info(version::InfoArgs),
}

/// Runs one verb.
pub fn run(command: Command, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match command {
        Command::Config(args) => config::run(args, global),
        Command::Graph(args) => graph::run(args, global),
        Command::Engine(args) => engine::run(args, global),
        Command::Image(command) => image::run(command, global),
        Command::Login(args) => login::login(args, global),
        Command::Logout(args) => login::logout(args, global),
        Command::Volume(command) => volume::run(command, global),
        Command::Network(command) => network::run(command, global),
        Command::Build(args) => build::run(args, global),
        Command::Builder(command) => builder::run(command, global),
        Command::Version(args) => version::version(args, global),
        Command::Info(args) => version::info(args, global),
    }
}

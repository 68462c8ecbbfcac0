//! The verbs of the `berth` CLI, one module each.

mod attach;
pub(crate) mod build;
mod builder;
mod config;
mod container;
mod cp;
mod down;
mod engine;
mod events;
mod flags;
mod graph;
mod image;
mod images;
mod lifecycle;
mod login;
mod logs;
mod network;
mod prepare;
mod ps;
mod push;
mod run;
mod scale;
mod stats;
mod top;
mod up;
mod version;
mod volume;
mod watch;

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
    /// Manage containers (run, exec, ps, logs, stop, rm, top, pause, …).
    #[command(subcommand)]
    Container(container::ContainerCommand),
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
    /// Create and start the project's containers.
    Up(up::UpArgs),
    /// Stop and remove the project's containers and networks.
    Down(down::DownArgs),
    /// List the project's containers.
    Ps(ps::PsArgs),
    /// Show the output of the project's containers.
    Logs(logs::LogsArgs),
    /// Pull the project's images.
    Pull(images::PullArgs),
    /// Push the images of services with `image:` and `build:`.
    Push(push::PushArgs),
    /// List the images the project's containers use.
    Images(images::ImagesArgs),
    /// Set the number of containers of services.
    Scale(scale::ScaleArgs),
    /// Create the project's containers without starting them.
    Create(scale::CreateArgs),
    /// Start the project's existing containers.
    Start(lifecycle::ServicesArgs),
    /// Stop the project's containers.
    Stop(lifecycle::StopArgs),
    /// Restart the project's containers.
    Restart(lifecycle::StopArgs),
    /// Send a signal to the project's containers.
    Kill(lifecycle::KillArgs),
    /// Pause the project's containers.
    Pause(lifecycle::ServicesArgs),
    /// Unpause the project's containers.
    Unpause(lifecycle::ServicesArgs),
    /// Remove the project's stopped containers.
    Rm(lifecycle::RmArgs),
    /// Run a command in a running service container.
    Exec(run::ExecArgs),
    /// Run a one-off command in a new container of a service.
    Run(run::RunArgs),
    /// Show the processes of the project's containers.
    Top(top::TopArgs),
    /// Show the resource usage of the project's containers.
    Stats(stats::StatsArgs),
    /// Attach the terminal to a service container (ctrl-p ctrl-q detaches).
    Attach(attach::AttachArgs),
    /// Print the public address of a service's published port.
    Port(top::PortArgs),
    /// Wait for the containers of services to stop; exit with the first exit code.
    Wait(top::WaitArgs),
    /// Stream the project's container events.
    Events(events::EventsArgs),
    /// List the compose projects the engine runs.
    Ls(events::LsArgs),
    /// Copy files between a service container and the local file system.
    Cp(cp::CpArgs),
    /// Sync, rebuild or restart services as their `develop.watch` paths change.
    Watch(watch::WatchArgs),
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
        Command::Container(command) => container::run(command, global),
        Command::Volume(command) => volume::run(command, global),
        Command::Network(command) => network::run(command, global),
        Command::Build(args) => build::run(args, global),
        Command::Builder(command) => builder::run(command, global),
        Command::Version(args) => version::version(args, global),
        Command::Info(args) => version::info(args, global),
        Command::Up(args) => up::run(args, global),
        Command::Down(args) => down::run(args, global),
        Command::Ps(args) => ps::run(args, global),
        Command::Logs(args) => logs::run(args, global),
        Command::Pull(args) => images::pull(args, global),
        Command::Push(args) => push::run(args, global),
        Command::Images(args) => images::images(args, global),
        Command::Scale(args) => scale::scale(args, global),
        Command::Create(args) => scale::create(args, global),
        Command::Start(args) => lifecycle::start(args, global),
        Command::Stop(args) => lifecycle::stop(args, global),
        Command::Restart(args) => lifecycle::restart(args, global),
        Command::Kill(args) => lifecycle::kill(args, global),
        Command::Pause(args) => lifecycle::pause(args, global),
        Command::Unpause(args) => lifecycle::unpause(args, global),
        Command::Rm(args) => lifecycle::rm(args, global),
        Command::Exec(args) => run::exec(args, global),
        Command::Run(args) => run::run(args, global),
        Command::Top(args) => top::top(args, global),
        Command::Stats(args) => stats::run(args, global),
        Command::Attach(args) => attach::run(args, global),
        Command::Port(args) => top::port(args, global),
        Command::Wait(args) => top::wait(args, global),
        Command::Events(args) => events::events(args, global),
        Command::Ls(args) => events::ls(args, global),
        Command::Cp(args) => cp::run(args, global),
        Command::Watch(args) => watch::run(args, global),
    }
}

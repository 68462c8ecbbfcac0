//! The `berth` command line: one module per verb, each turning clap arguments into options and
//! one library call.

use std::process::ExitCode;

use clap::Parser;

/// berth: a Compose-first container orchestrator with its own embedded engine.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}

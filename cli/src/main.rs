//! The `berth` command line: one module per verb under `cmd/`, each turning clap arguments into
//! validated options and one library call. `main` prints the error chain once and maps it to an
//! exit code; a closed pipe (`berth config | head`) is not an error.

mod cmd;
mod global;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// berth: a Compose-first container orchestrator with its own embedded engine.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: global::GlobalArgs,
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    global::init_tracing(cli.global.log_level.as_deref());
    match cmd::run(cli.command, &cli.global) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

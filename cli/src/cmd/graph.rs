//! `berth graph`: the service dependency graph as DOT or Mermaid, for people who would rather
//! look than read.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::global::GlobalArgs;

/// Graph output format.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT (`berth graph | dot -Tsvg > graph.svg`).
    #[default]
    Dot,
    /// Mermaid flowchart (renders in Markdown viewers).
    Mermaid,
}

/// Flags of `berth graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: GraphFormat,
}

/// Runs `berth graph`.
pub fn run(args: GraphArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let loaded = berth_compose::load_project(&global.load_options(false)?)?;
    for w in &loaded.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let graph = berth_compose::graph::ServiceGraph::new(&loaded.project);
    let text = match args.format {
        GraphFormat::Dot => graph.to_dot(),
        GraphFormat::Mermaid => graph.to_mermaid(),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

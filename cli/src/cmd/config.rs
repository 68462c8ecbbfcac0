//! `berth config`: load, validate and print the normalized project (`docker compose config`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::global::GlobalArgs;

/// Output format of `berth config`.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Format {
    /// YAML, as `docker compose config` prints it.
    #[default]
    Yaml,
    /// JSON with services, networks and volumes keyed by name.
    Json,
}

/// Flags of `berth config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Print the service names, one per line.
    #[arg(long)]
    services: bool,
    /// Print the volume names, one per line.
    #[arg(long)]
    volumes: bool,
    /// Print the network names, one per line.
    #[arg(long)]
    networks: bool,
    /// Print the image names, one per line.
    #[arg(long)]
    images: bool,
    /// Print the profile names, one per line.
    #[arg(long)]
    profiles: bool,
    /// Print the environment used for interpolation.
    #[arg(long)]
    environment: bool,
    /// Print the config hash of the given services (comma list, or `*` for all), one per line.
    #[arg(long, value_name = "SERVICES")]
    hash: Option<String>,
    /// Only validate the configuration, print nothing.
    #[arg(short, long)]
    quiet: bool,
    /// Do not interpolate environment variables.
    #[arg(long)]
    no_interpolate: bool,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Only these services (and what they depend on).
    #[arg(value_name = "SERVICE")]
    selected: Vec<String>,
}

/// Runs `berth config`.
pub fn run(args: ConfigArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let opts = global.load_options(args.no_interpolate)?;
    let mut loaded = berth_compose::load_project(&opts)?;
    for w in &loaded.warnings {
        eprintln!("WARN[0000] {w}");
    }
    if !args.selected.is_empty() {
        loaded.project = loaded.project.select_services(&args.selected, true)?;
    }
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let project = &loaded.project;
    let lines = |items: Vec<&str>| {
        items
            .into_iter()
            .map(|s| format!("{s}\n"))
            .collect::<String>()
    };
    let text = if args.services {
        lines(project.service_names())
    } else if args.volumes {
        lines(project.volume_names())
    } else if args.networks {
        lines(project.network_names())
    } else if args.images {
        lines(
            project
                .images()
                .iter()
                .map(|(_, image)| image.as_str())
                .collect(),
        )
    } else if args.profiles {
        lines(project.profiles())
    } else if args.environment {
        loaded
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    } else if let Some(which) = &args.hash {
        let wanted: Vec<&str> = which.split(',').map(str::trim).collect();
        let mut out = String::new();
        for (name, service) in &project.services {
            if wanted.contains(&"*") || wanted.contains(&name.as_str()) {
                out.push_str(&format!(
                    "{name} {}\n",
                    berth_compose::output::config_hash(service)
                ));
            }
        }
        out
    } else {
        let format = match args.format {
            Format::Yaml => berth_compose::output::Format::Yaml,
            Format::Json => berth_compose::output::Format::Json,
        };
        berth_compose::output::render(project, format)
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

//! `berth volume ls|create|inspect|rm|prune`: the engine's volumes through the API client, with
//! Docker's flags and output (table or `-q`, JSON for inspect and `--format json`).

use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::api::models::{Volume, VolumeCreateRequest};
use clap::{Args, Subcommand};

use super::flags::{filters, key_values};
use crate::connect::{connect, runtime};
use crate::global::GlobalArgs;

/// The sub-verbs of `berth volume`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Create a volume.
    Create(CreateArgs),
    /// Show volumes as JSON (with their Mountpoint).
    Inspect(InspectArgs),
    /// Remove volumes (a volume in use needs -f).
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused volumes (anonymous ones; all unused with -a).
    Prune(PruneArgs),
}

/// Options of `berth volume ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only show names.
    #[arg(short, long)]
    quiet: bool,
    /// Filter (`dangling=true`, `label=k[=v]`, `name=…`, `driver=…`); repeatable.
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Output format: `table` or `json`.
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

/// Options of `berth volume create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Name (a random 64-hex name when omitted).
    name: Option<String>,
    /// Driver (only `local`).
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Driver option (`type=tmpfs`, `device=…`, `o=…`); repeatable.
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    opts: Vec<String>,
    /// Label; repeatable.
    #[arg(long = "label", value_name = "KEY[=VALUE]")]
    labels: Vec<String>,
}

/// Options of `berth volume inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Volumes to show.
    #[arg(required = true)]
    names: Vec<String>,
}

/// Options of `berth volume rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Remove even when containers use it (`-f` is berth's global `--file`, so only the long
    /// form here).
    #[arg(long)]
    force: bool,
    /// Volumes to remove.
    #[arg(required = true)]
    names: Vec<String>,
}

/// Options of `berth volume prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every unused volume, not only anonymous ones.
    #[arg(short, long)]
    all: bool,
    /// Filter (`label=k[=v]`, `label!=k`); repeatable.
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Do not ask for confirmation (berth never asks; accepted for compatibility).
    #[arg(long)]
    force: bool,
}

/// Runs one `berth volume` sub-verb.
pub fn run(command: VolumeCommand, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    match command {
        VolumeCommand::Ls(args) => {
            let f = filters(&args.filters)?;
            let list = rt.block_on(async {
                connect(global)
                    .await?
                    .list_volumes(&f)
                    .await
                    .context("listing volumes")
            })?;
            if args.format == "json" {
                println!("{}", serde_json::to_string_pretty(&list.volumes)?);
            } else if args.quiet {
                for v in &list.volumes {
                    println!("{}", v.name);
                }
            } else {
                print!("{}", table(&list.volumes));
            }
        }
        VolumeCommand::Create(args) => {
            let req = VolumeCreateRequest {
                name: args.name.unwrap_or_default(),
                driver: args.driver,
                driver_opts: key_values(&args.opts, "--opt", true)?,
                labels: key_values(&args.labels, "--label", false)?,
            };
            let v = rt.block_on(async {
                connect(global)
                    .await?
                    .create_volume(&req)
                    .await
                    .context("creating the volume")
            })?;
            println!("{}", v.name);
        }
        VolumeCommand::Inspect(args) => {
            let (found, missing) = rt.block_on(async {
                let client = connect(global).await?;
                let (mut found, mut missing) = (Vec::new(), Vec::new());
                for n in &args.names {
                    match client.inspect_volume(n).await {
                        Ok(v) => found.push(v),
                        Err(e) => missing.push(format!("{n}: {e}")),
                    }
                }
                anyhow::Ok((found, missing))
            })?;
            println!("{}", serde_json::to_string_pretty(&found)?);
            for m in &missing {
                eprintln!("Error: {m}");
            }
            if !missing.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        VolumeCommand::Rm(args) => {
            let failed = rt.block_on(async {
                let client = connect(global).await?;
                let mut failed = 0;
                for n in &args.names {
                    match client.remove_volume(n, args.force).await {
                        Ok(()) => println!("{n}"),
                        Err(e) => {
                            eprintln!("Error response from daemon: {e}");
                            failed += 1;
                        }
                    }
                }
                anyhow::Ok(failed)
            })?;
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        VolumeCommand::Prune(args) => {
            let _ = args.force;
            let mut f = filters(&args.filters)?;
            if args.all {
                f = f.with("all", "true");
            }
            let r = rt.block_on(async {
                connect(global)
                    .await?
                    .prune_volumes(&f)
                    .await
                    .context("pruning volumes")
            })?;
            if !r.volumes_deleted.is_empty() {
                println!("Deleted Volumes:");
                for n in &r.volumes_deleted {
                    println!("{n}");
                }
                println!();
            }
            println!("Total reclaimed space: {}B", r.space_reclaimed);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn table(volumes: &[Volume]) -> String {
    let width = volumes
        .iter()
        .map(|v| v.driver.len())
        .max()
        .unwrap_or(0)
        .max("DRIVER".len())
        + 4;
    let mut out = format!("{:<width$}VOLUME NAME\n", "DRIVER");
    for v in volumes {
        out.push_str(&format!("{:<width$}{}\n", v.driver, v.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a short `-f` clashed with the global `-f/--file` and clap panicked.
    #[test]
    fn flags_do_not_clash_with_global_ones() {
        use clap::CommandFactory as _;
        crate::Cli::command().debug_assert();
    }

    #[test]
    fn table_matches_dockers_columns() {
        let v = Volume {
            name: "db_data".into(),
            driver: "local".into(),
            ..Volume::default()
        };
        assert_eq!(table(&[v]), "DRIVER    VOLUME NAME\nlocal     db_data\n");
    }
}

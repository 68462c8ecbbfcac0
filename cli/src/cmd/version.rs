//! `berth version` and `berth info`: what this CLI is, and what the engine it talks to reports.
//! `version` answers as `docker compose version` does (also as `berth compose version`):
//! `--short` prints the bare number, `--format json` has a `version` key (`v0.1.0`).
//! `version` never starts an engine (it must answer on a machine without one); `info` does,
//! like every verb that needs the engine.

use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::client::Client;
use clap::Args;

use crate::connect::{connect, host_of, runtime};
use crate::global::GlobalArgs;

/// Options of `berth version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print only berth's version number.
    #[arg(long)]
    short: bool,
    /// Output format: `pretty` or `json`.
    #[arg(long, default_value = "pretty", value_parser = ["pretty", "json"])]
    format: String,
}

/// Prints the client's version and, when an engine answers, the engine's.
pub fn version(args: VersionArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let client_version = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{client_version}");
        return Ok(ExitCode::SUCCESS);
    }
    let host = host_of(global);
    let server = runtime()?.block_on(async {
        let mut client = Client::new(&host).ok()?;
        client.negotiate_version().await.ok()?;
        client.version().await.ok()
    });
    if args.format == "json" {
        // `version` as `docker compose version --format json` prints it; the rest as `docker
        // version` does.
        let value = serde_json::json!({
            "version": format!("v{client_version}"),
            "Client": { "Version": client_version, "Host": host },
            "Server": server,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("berth version {client_version}");
    match server {
        Some(v) => println!(
            "Engine at {host}: {} {} (API {}, {}/{})",
            v.platform.name, v.version, v.api_version, v.os, v.arch
        ),
        None => println!("Engine at {host}: not reachable"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `berth info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Output format: `pretty` or `json`.
    #[arg(long, default_value = "pretty", value_parser = ["pretty", "json"])]
    format: String,
}

/// Prints the engine's view of itself (starting berth's engine on demand).
pub fn info(args: InfoArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let info = runtime()?.block_on(async {
        let client = connect(global).await?;
        client
            .info()
            .await
            .context("asking the engine for its info")
    })?;
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Server version:  {}", info.server_version);
    println!(
        "Containers:      {} (running {}, paused {}, stopped {})",
        info.containers, info.containers_running, info.containers_paused, info.containers_stopped
    );
    println!("Images:          {}", info.images);
    println!("Storage driver:  {}", info.driver);
    println!(
        "Cgroups:         {} (driver {})",
        info.cgroup_version, info.cgroup_driver
    );
    println!("Kernel:          {}", info.kernel_version);
    println!("Data root:       {}", info.docker_root_dir);
    println!("Live restore:    {}", info.live_restore_enabled);
    for w in &info.warnings {
        println!("WARNING: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

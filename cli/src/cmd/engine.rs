//! `berth engine`: runs the embedded container engine in the foreground, serving the Docker
//! Engine API over the real backend until SIGTERM or SIGINT.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use berth_engine::config::{DEFAULT_CONFIG_PATH, DaemonConfig, load_config};
use berth_engine::real::RealBackend;
use clap::Args;

use crate::global::GlobalArgs;

/// Options of `berth engine`.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Where images, containers and state live (overrides `data-root` of the config file).
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// daemon.json to read (default: /etc/berth/daemon.json when it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Per-registry certificate directories (`<dir>/<host:port>/ca.crt`, `client.cert`,
    /// `client.key`), in lookup order.
    #[arg(long = "certs-d", value_name = "DIR", default_values = berth_engine::image::tls::DEFAULT_CERTS_DIRS)]
    certs_d: Vec<PathBuf>,
    /// Where cgroup hierarchies are mounted.
    #[arg(long, default_value = "/sys/fs/cgroup", hide = true)]
    cgroup_root: PathBuf,
}

/// Builds the daemon configuration from the file and the flags.
fn daemon_config(args: &EngineArgs, global: &GlobalArgs) -> anyhow::Result<DaemonConfig> {
    let default = Path::new(DEFAULT_CONFIG_PATH);
    let mut cfg = match &args.config {
        Some(path) => load_config(path)?,
        None if default.exists() => load_config(default)?,
        None => DaemonConfig::default(),
    };
    if let Some(root) = &args.data_root {
        cfg.data_root = root.clone();
    }
    if let Some(host) = &global.host {
        let path = host
            .strip_prefix("unix://")
            .with_context(|| format!("--host {host:?}: only unix:// sockets are supported"))?;
        cfg.socket = PathBuf::from(path);
    }
    Ok(cfg)
}

/// Runs the engine until it is told to stop.
pub fn run(args: EngineArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let cfg = daemon_config(&args, global)?;
    let exe = std::env::current_exe().context("cannot locate the berth binary")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let backend = RealBackend::open(&cfg.data_root, &args.cgroup_root, exe)
            .with_context(|| format!("cannot open engine state in {}", cfg.data_root.display()))?;
        backend.set_registry_options(&berth_engine::image::RegistryOptions {
            insecure: cfg.insecure_registries.clone(),
            mirrors: cfg.registry_mirrors.clone(),
            certs_dirs: args.certs_d.clone(),
        });
        backend
            .set_log_defaults(&cfg.log_opts)
            .map_err(|e| anyhow::anyhow!("daemon.json log-opts: {e}"))?;
        backend
            .open_networks(berth_engine::real::NetConfig::from_daemon(&cfg))
            .await
            .context("cannot set up networking")?;
        berth_engine::daemon::run(&cfg, backend)
            .await
            .context("engine failed")
    })?;
    Ok(ExitCode::SUCCESS)
}

//! Options shared by every compose verb (`-f`, `-p`, `--project-directory`, `--env-file`,
//! `--profile`), turned into the compose loader's options with the process environment.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use berth_compose::load::LoadOptions;
use clap::Args;

/// Global flags, accepted before or after the verb (`berth -f x.yaml config` or `berth config -f x.yaml`).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Compose configuration files (repeatable; `-` reads standard input).
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name.
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    /// Working directory of the project (default: the directory of the first compose file).
    #[arg(long, global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files (repeatable; later files win).
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable (repeatable).
    #[arg(
        long = "profile",
        id = "profile",
        global = true,
        value_name = "PROFILE"
    )]
    pub profiles: Vec<String>,
    /// Engine to talk to (`unix:///path.sock` or `tcp://host:port`; default `DOCKER_HOST`, then
    /// berth's own socket). For `berth engine`, the socket to listen on.
    #[arg(short = 'H', long, global = true, value_name = "HOST")]
    pub host: Option<String>,
    /// Log level of berth's own diagnostics (error, warn, info, debug, trace).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

impl GlobalArgs {
    /// The loader options for these flags, with the process environment and working directory.
    pub fn load_options(&self, no_interpolate: bool) -> anyhow::Result<LoadOptions> {
        let stdin = if self.files.iter().any(|f| f.as_os_str() == "-") {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the compose file from standard input")?;
            Some(text)
        } else {
            None
        };
        Ok(LoadOptions {
            files: self.files.clone(),
            stdin,
            project_directory: self.project_directory.clone(),
            project_name: self.project_name.clone(),
            env_files: self.env_files.clone(),
            profiles: self.profiles.clone(),
            no_interpolate,
            os_env: std::env::vars().collect(),
            cwd: std::env::current_dir().context("reading the current directory")?,
        })
    }
}

/// Sends berth's diagnostics to standard error, filtered by `--log-level` or `BERTH_LOG`
/// (a `tracing` filter: a level, or `target=level` pairs).
pub fn init_tracing(level: Option<&str>) {
    let filter = level
        .map(str::to_owned)
        .or_else(|| std::env::var("BERTH_LOG").ok())
        .unwrap_or_else(|| "warn".to_owned());
    // netlink-packet-route warns about every kernel attribute newer than itself (harmless and
    // repeated for each link dump); keep only its errors unless asked for by name.
    let filter = if filter.contains("netlink_packet_route") {
        filter
    } else {
        format!("{filter},netlink_packet_route=error")
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

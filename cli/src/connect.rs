//! How a verb reaches an engine: `--host`, then `DOCKER_HOST`, then berth's own socket
//! (`/run/berth/berth.sock`). When the default socket does not answer, the embedded engine is
//! started on demand (detached, in its own session, logging to `<data-root>/engine.log`), so
//! `berth up` works on a fresh machine with no service installed. An explicit host is never
//! auto-started: pointing berth at another engine (a real dockerd) must not spawn one of ours.
//! `BERTH_NO_AUTOSTART=1` turns the on-demand start off.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_engine::client::{Client, DEFAULT_HOST};
use berth_engine::config::{DEFAULT_CONFIG_PATH, DaemonConfig, load_config};

use crate::global::GlobalArgs;

/// How long an on-demand engine may take to answer its first ping.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The engine address for these flags: `--host`, `DOCKER_HOST`, or berth's default socket.
pub fn host_of(global: &GlobalArgs) -> String {
    global
        .host
        .clone()
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| DEFAULT_HOST.to_owned())
}

/// A multi-threaded async runtime for one verb.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A client for the engine these flags name, with the API version negotiated; starts berth's
/// embedded engine first when the default socket is silent.
pub async fn connect(global: &GlobalArgs) -> anyhow::Result<Client> {
    let host = host_of(global);
    let mut client = Client::new(&host).with_context(|| format!("engine host {host:?}"))?;
    match client.negotiate_version().await {
        Ok(()) => return Ok(client),
        Err(e) if host != DEFAULT_HOST || autostart_disabled() => {
            return Err(anyhow::Error::new(e).context(format!(
                "no engine answers at {host} (hint: start one with `berth engine`, or check \
                 --host / DOCKER_HOST)"
            )));
        }
        Err(_) => {}
    }
    let log = start_engine()?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match client.negotiate_version().await {
            Ok(()) => return Ok(client),
            Err(e) if Instant::now() >= deadline => {
                return Err(anyhow::Error::new(e).context(format!(
                    "the embedded engine did not come up within {}s (see {})",
                    START_TIMEOUT.as_secs(),
                    log.display()
                )));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn autostart_disabled() -> bool {
    std::env::var("BERTH_NO_AUTOSTART").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The daemon configuration the on-demand engine will read.
fn daemon_config() -> anyhow::Result<DaemonConfig> {
    let path = Path::new(DEFAULT_CONFIG_PATH);
    if path.exists() {
        Ok(load_config(path)?)
    } else {
        Ok(DaemonConfig::default())
    }
}

/// Spawns `berth engine` detached; returns the path of its log.
fn start_engine() -> anyhow::Result<PathBuf> {
    let cfg = daemon_config()?;
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "no engine answers at {DEFAULT_HOST} and the embedded engine needs root \
             (hint: run as root, or start `berth engine` yourself)"
        );
    }
    std::fs::create_dir_all(&cfg.data_root)
        .with_context(|| format!("creating {}", cfg.data_root.display()))?;
    let log_path = cfg.data_root.join("engine.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let exe = std::env::current_exe().context("cannot locate the berth binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("engine")
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("duplicating the log handle")?)
        .stderr(log);
    // The engine must outlive this CLI and not receive its terminal's signals: own session.
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    cmd.spawn().context("starting the embedded engine")?;
    Ok(log_path)
}

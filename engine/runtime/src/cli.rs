//! The runc-compatible command line (`create`, `start`, `state`, `kill`, `delete`, `run`,
//! `spec`, plus `stats`, `pause`, `resume`). `berth-runtime` and, later, `berth runtime` call
//! [`main`] in a fresh single-threaded process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use clap::{Parser, Subcommand};
use nix::sys::signal::Signal;

use crate::runtime::{Runtime, RuntimeError};

#[derive(Debug, Parser)]
#[command(name = "berth-runtime", about = "berth's OCI runtime")]
struct Cli {
    /// State directory.
    #[arg(long, default_value = "/run/berth/runtime")]
    root: PathBuf,
    /// Where the cgroup hierarchy is mounted.
    #[arg(long, default_value = "/sys/fs/cgroup")]
    cgroup_root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container; its process waits for `start`.
    Create {
        /// Container id.
        id: String,
        /// Bundle directory (holds config.json).
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        /// Write the init's pid here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
    },
    /// Start a created container.
    Start {
        /// Container id.
        id: String,
    },
    /// Print the OCI state JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal (name or number, default TERM) to the container init.
    Kill {
        /// Container id.
        id: String,
        /// Signal.
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Delete a container.
    Delete {
        /// Kill it first if it runs.
        #[arg(long, short)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Create, start, wait and delete; exits with the container's status (128+signal when killed).
    Run {
        /// Container id.
        id: String,
        /// Bundle directory.
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        /// Write the init's pid here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Keep the stopped container (state and cgroup) instead of deleting it.
        #[arg(long)]
        keep: bool,
    },
    /// Write a default config.json (Docker defaults, `sh`, rootfs `rootfs`).
    Spec {
        /// Bundle directory.
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
    },
    /// Print cgroup statistics as JSON.
    Stats {
        /// Container id.
        id: String,
    },
    /// Create the container and supervise it: log its output, record its exit.
    Shim {
        /// Container id.
        id: String,
        /// Bundle directory.
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        /// json-file log to append to.
        #[arg(long)]
        log: PathBuf,
        /// Rotate the log before it passes this many bytes (0: never).
        #[arg(long, default_value_t = 0)]
        log_max_size: u64,
        /// Log files kept in all when rotating, the current one included.
        #[arg(long, default_value_t = 1)]
        log_max_files: u32,
        /// Where to write the exit record.
        #[arg(long)]
        exit_file: PathBuf,
    },
    /// Run a process in a running container; exits with its status (128+signal when killed).
    Exec {
        /// A process.json (OCI `process` object) to run instead of the arguments.
        #[arg(long, short)]
        process: Option<PathBuf>,
        /// Extra environment `KEY=value` (repeatable).
        #[arg(long = "env", short = 'e')]
        env: Vec<String>,
        /// Working directory inside the container.
        #[arg(long)]
        cwd: Option<String>,
        /// `uid[:gid]` to run as.
        #[arg(long, short)]
        user: Option<String>,
        /// Every capability and no seccomp filter.
        #[arg(long)]
        privileged: bool,
        /// Give the process a terminal and relay this process's stdio to it.
        #[arg(long, short)]
        tty: bool,
        /// Write the new process's pid here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Container id.
        id: String,
        /// Command and arguments (when no --process).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Freeze every process of the container.
    Pause {
        /// Container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// Container id.
        id: String,
    },
}

/// Errors of the command line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A lifecycle operation failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Unknown signal.
    #[error("unknown signal {0:?}")]
    Signal(String),
    /// The shim failed.
    #[error(transparent)]
    Shim(#[from] crate::shim::ShimError),
    /// Spec generation failed.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// The exec process could not be prepared.
    #[error(transparent)]
    Exec(#[from] crate::exec::ExecError),
    /// A process.json could not be read.
    #[error("{path}: {message}")]
    Process {
        /// File.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Writing output failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn parse_signal(s: &str) -> Result<Signal, CliError> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| CliError::Signal(s.into()));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name).map_err(|_| CliError::Signal(s.into()))
}

fn write_file(path: &Path, data: &str) -> Result<(), CliError> {
    std::fs::write(path, data).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn execute(cli: Cli) -> Result<u8, CliError> {
    let rt = Runtime::new(cli.root, cli.cgroup_root);
    match cli.command {
        Command::Create {
            id,
            bundle,
            pid_file,
        } => {
            let pid = rt.create(&id, &bundle)?;
            if let Some(p) = pid_file {
                write_file(&p, &pid.to_string())?;
            }
        }
        Command::Start { id } => rt.start(&id)?,
        Command::State { id } => println!("{}", json(&rt.state(&id)?)),
        Command::Kill { id, signal } => rt.kill(&id, parse_signal(&signal)?)?,
        Command::Delete { force, id } => rt.delete(&id, force)?,
        Command::Run {
            id,
            bundle,
            pid_file,
            keep,
        } => {
            let pid = match rt.create(&id, &bundle) {
                Ok(pid) => pid,
                Err(e @ RuntimeError::CommandNotFound(_)) => {
                    eprintln!("berth-runtime: {e}");
                    return Ok(127);
                }
                Err(e @ RuntimeError::CommandNotExecutable(_)) => {
                    eprintln!("berth-runtime: {e}");
                    return Ok(126);
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(p) = pid_file {
                write_file(&p, &pid.to_string())?;
            }
            rt.start(&id)?;
            let status = rt.wait(pid)?;
            // Like `runc run`: the container is gone once it has exited.
            if !keep {
                rt.delete(&id, true)?;
            }
            return Ok(status.code().clamp(0, 255) as u8);
        }
        Command::Spec { bundle } => {
            let cfg = crate::spec::ContainerConfig {
                rootfs: bundle.join("rootfs"),
                image: crate::spec::ImageConfig {
                    cmd: vec!["sh".into()],
                    ..Default::default()
                },
                hostname: "berth".into(),
                ..Default::default()
            };
            let mut spec = crate::spec::generate(&cfg)?;
            // Like `runc spec`: the rootfs is named relative to the bundle.
            let mut root = spec.root().clone().unwrap_or_default();
            root.set_path("rootfs".into());
            spec.set_root(Some(root));
            write_file(&bundle.join("config.json"), &json(&spec))?;
        }
        Command::Stats { id } => println!("{}", json(&rt.stats(&id)?)),
        Command::Shim {
            id,
            bundle,
            log,
            log_max_size,
            log_max_files,
            exit_file,
        } => {
            let opts = crate::shim::ShimOptions {
                id,
                bundle,
                log,
                log_rotation: crate::json_log::Rotation {
                    max_size: log_max_size,
                    max_files: log_max_files,
                },
                exit_file,
            };
            crate::shim::run(&rt, &opts)?;
        }
        Command::Exec {
            process,
            env,
            cwd,
            user,
            privileged,
            tty,
            pid_file,
            id,
            args,
        } => {
            let process = match process {
                Some(path) => {
                    let data = std::fs::read(&path).map_err(|source| CliError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    serde_json::from_slice(&data).map_err(|e| CliError::Process {
                        path,
                        message: e.to_string(),
                    })?
                }
                None => {
                    let flags = ExecFlags {
                        args,
                        env,
                        cwd,
                        user,
                        privileged,
                        tty,
                    };
                    exec_process(&rt, &id, flags)?
                }
            };
            let child = rt.exec_spawn(&id, &process)?;
            if let Some(p) = pid_file {
                write_file(&p, &child.pid.to_string())?;
            }
            if let Some(master) = &child.console {
                crate::tty::relay(master);
            }
            let status = rt.wait(child.pid)?;
            return Ok(status.code().clamp(0, 255) as u8);
        }
        Command::Pause { id } => rt.set_paused(&id, true)?,
        Command::Resume { id } => rt.set_paused(&id, false)?,
    }
    Ok(0)
}

/// The process of `exec` given on the command line: the container's, with these overrides.
/// The `exec` flags that shape the process.
struct ExecFlags {
    args: Vec<String>,
    env: Vec<String>,
    cwd: Option<String>,
    user: Option<String>,
    privileged: bool,
    tty: bool,
}

fn exec_process(
    rt: &Runtime,
    id: &str,
    f: ExecFlags,
) -> Result<oci_spec::runtime::Process, CliError> {
    let st = rt.state(id)?;
    let config = st.bundle.join("config.json");
    let spec = oci_spec::runtime::Spec::load(&config).map_err(|e| CliError::Process {
        path: config.clone(),
        message: e.to_string(),
    })?;
    let rootfs = spec
        .root()
        .as_ref()
        .map(|r| st.bundle.join(r.path()))
        .unwrap_or_default();
    let req = crate::exec::ExecRequest {
        args: f.args,
        env: f.env,
        cwd: f.cwd,
        user: f.user,
        tty: f.tty,
        privileged: f.privileged,
    };
    Ok(crate::exec::process_for(&spec, &req, &rootfs)?)
}

/// Runs the runtime command line with `args` (including the program name).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let clones = matches!(
        cli.command,
        Command::Create { .. } | Command::Run { .. } | Command::Shim { .. } | Command::Exec { .. }
    );
    if clones {
        if let Err(e) = crate::sealed::ensure_sealed(&args, &cli.root) {
            eprintln!("berth-runtime: {e}");
            return ExitCode::from(1);
        }
    }
    match execute(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("berth-runtime: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_number_and_prefix() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(matches!(parse_signal("NOPE"), Err(CliError::Signal(_))));
    }

    #[test]
    fn spec_verb_writes_a_loadable_config() {
        let d = tempfile::tempdir().unwrap();
        let args = [
            "berth-runtime",
            "spec",
            "--bundle",
            d.path().to_str().unwrap(),
        ];
        assert_eq!(main(args.map(Into::into)), ExitCode::SUCCESS);
        let spec = oci_spec::runtime::Spec::load(d.path().join("config.json")).unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().args().clone().unwrap(),
            ["sh"]
        );
    }

    #[test]
    fn create_refuses_multi_threaded_callers() {
        // The test harness runs this on a worker thread: the process has several threads.
        let d = tempfile::tempdir().unwrap();
        let rt = Runtime::new(d.path(), d.path());
        std::thread::scope(|s| {
            s.spawn(|| {
                let err = rt.create("x", d.path()).unwrap_err();
                assert!(matches!(err, RuntimeError::MultiThreaded(_)), "{err}");
            });
        });
    }
}

//! The shim: a small single-threaded supervisor that is the parent of one container's init. It
//! owns the container's stdout/stderr (written as Docker json-file lines), records how the
//! container ended (exit code or 128+signal, OOM) atomically, and runs in its own session so
//! the daemon can die or restart without taking containers down.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::runtime::{Runtime, RuntimeError};

/// Lines longer than this are split, as Docker's json-file driver does.
const MAX_LINE: usize = 16 * 1024;

/// Errors of the shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// A lifecycle operation failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// Why.
        source: nix::Error,
    },
    /// Log or status file failure.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The status file could not be written.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> ShimError {
    move |source| ShimError::Sys { op, source }
}

/// How the container ended, as recorded in the status file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit code, or 128 + signal.
    pub exit_code: i32,
    /// The OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// When the shim saw the exit (RFC 3339, nanoseconds).
    pub finished_at: String,
}

/// One json-file log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The text, with its trailing newline when it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time with nanoseconds.
    pub time: String,
}

/// Splits buffered output into complete log entries, keeping an unfinished tail in `buf`.
pub fn take_lines(buf: &mut Vec<u8>, eof: bool) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let cut = match buf.iter().position(|b| *b == b'\n') {
            Some(i) if i < MAX_LINE => i + 1,
            _ if buf.len() >= MAX_LINE => MAX_LINE,
            _ if eof && !buf.is_empty() => buf.len(),
            _ => break,
        };
        let rest = buf.split_off(cut);
        out.push(String::from_utf8_lossy(buf).into_owned());
        *buf = rest;
    }
    out
}

fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// Options of one shim.
#[derive(Debug, Clone)]
pub struct ShimOptions {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// json-file log path.
    pub log: PathBuf,
    /// When the log is rotated (`max-size`, `max-file`).
    pub log_rotation: crate::json_log::Rotation,
    /// Where the [`ExitRecord`] is written when the container ends.
    pub exit_file: PathBuf,
}

/// How the container's stdio is set up, from its spec: a terminal (`process.terminal`) and
/// an open stdin (the [`crate::shim_io::OPEN_STDIN`] annotations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdioPlan {
    /// The init gets a terminal.
    pub terminal: bool,
    /// Input is kept open for attach clients.
    pub open_stdin: bool,
    /// Input closes when the first client attached to it leaves.
    pub stdin_once: bool,
    /// The terminal's `(rows, columns)` before the init starts (`process.consoleSize`).
    pub console_size: Option<(u16, u16)>,
}

impl StdioPlan {
    /// The plan of the bundle's spec (no terminal, no stdin when it cannot be read).
    pub fn of(bundle: &Path) -> Self {
        let Ok(spec) = oci_spec::runtime::Spec::load(bundle.join("config.json")) else {
            return Self::default();
        };
        let notes = spec.annotations().clone().unwrap_or_default();
        let flag = |k: &str| notes.get(k).is_some_and(|v| v == "true");
        Self {
            terminal: spec
                .process()
                .as_ref()
                .is_some_and(|p| p.terminal() == Some(true)),
            open_stdin: flag(crate::shim_io::OPEN_STDIN),
            stdin_once: flag(crate::shim_io::STDIN_ONCE),
            console_size: spec
                .process()
                .as_ref()
                .and_then(|p| p.console_size())
                .map(|b| {
                    let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
                    (clamp(b.height()), clamp(b.width()))
                }),
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), ShimError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))
}

/// Runs the shim: creates the container with its output piped to the shim, prints the init
/// pid on the original stdout (then closes it), logs until the init exits, records the exit.
pub fn run(rt: &Runtime, opts: &ShimOptions) -> Result<ExitRecord, ShimError> {
    // Our own session: signals to the daemon's process group do not reach us.
    let _ = nix::unistd::setsid();
    let log_err = |source| ShimError::Io {
        path: opts.log.clone(),
        source,
    };
    let mut log = crate::json_log::JsonLog::open(&opts.log, opts.log_rotation).map_err(log_err)?;
    let stdio = StdioPlan::of(&opts.bundle);
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (in_r, in_w) = match stdio.open_stdin && !stdio.terminal {
        true => {
            let (r, w) = pipe()?;
            (Some(r), Some(w))
        }
        false => (None, None),
    };
    // Interactive containers get the attach channel, bound before the init exists so the
    // engine can connect as soon as it learns the pid.
    let socket = crate::shim_io::socket_path(&opts.exit_file);
    let listener = match stdio.open_stdin || stdio.terminal {
        true => Some((
            crate::shim_io::bind(&socket, Path::new(crate::runtime::PROC))?,
            socket,
        )),
        false => None,
    };
    let devnull = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|source| ShimError::Io {
            path: "/dev/null".into(),
            source,
        })?;
    let copy = nix::fcntl::fcntl(
        std::io::stdout().as_fd(),
        nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3),
    )
    .map_err(sys("dup stdout"))?;
    // SAFETY: `copy` is a fresh descriptor nothing else owns.
    let mut stdout = unsafe { File::from_raw_fd(copy) };
    let err_copy = nix::fcntl::fcntl(
        std::io::stderr().as_fd(),
        nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3),
    )
    .map_err(sys("dup stderr"))?;
    // SAFETY: `err_copy` is a fresh descriptor nothing else owns.
    let caller_stderr = unsafe { File::from_raw_fd(err_copy) };
    // The init inherits fds 0-2: point them at /dev/null (or the stdin pipe) and the pipes
    // while cloning. A terminal init replaces them with its terminal.
    match &in_r {
        Some(r) => nix::unistd::dup2_stdin(r).map_err(sys("dup2"))?,
        None => nix::unistd::dup2_stdin(&devnull).map_err(sys("dup2"))?,
    }
    nix::unistd::dup2_stdout(&out_w).map_err(sys("dup2"))?;
    nix::unistd::dup2_stderr(&err_w).map_err(sys("dup2"))?;
    let created = rt.create_with_console(&opts.id, &opts.bundle);
    nix::unistd::dup2_stdin(&devnull).map_err(sys("dup2"))?;
    nix::unistd::dup2_stdout(&devnull).map_err(sys("dup2"))?;
    // A failed create is reported on the caller's stderr (the daemon reads it to explain the
    // failure, e.g. "executable file not found"); a running shim holds none of the caller's fds.
    if created.is_err() {
        nix::unistd::dup2_stderr(&caller_stderr).map_err(sys("dup2"))?;
    } else {
        nix::unistd::dup2_stderr(&devnull).map_err(sys("dup2"))?;
    }
    drop(caller_stderr);
    drop(out_w);
    drop(err_w);
    drop(in_r);
    let (pid, console) = match created {
        Ok(c) => c,
        Err(e) => {
            if let Some((_, socket)) = &listener {
                let _ = std::fs::remove_file(socket);
            }
            return Err(e.into());
        }
    };
    // Tell the caller the init's pid, then let go of its pipe.
    let _ = writeln!(stdout, "{pid}");
    drop(stdout);
    let io = match console {
        Some(master) => {
            // The init waits for `start`: it finds its terminal at the client's size, not 0x0
            // until the client's first resize arrives.
            if let Some((rows, cols)) = stdio.console_size {
                let _ = crate::shim_io::set_size(master.as_fd(), rows, cols);
            }
            let dup = |fd: &OwnedFd| {
                fd.try_clone().map_err(|source| ShimError::Io {
                    path: "pty master".into(),
                    source,
                })
            };
            crate::shim_io::Stdio {
                stdin: match stdio.open_stdin {
                    true => Some(dup(&master)?),
                    false => None,
                },
                terminal: Some(dup(&master)?),
                outputs: vec![(crate::shim_io::STDOUT, master)],
                stdin_once: stdio.stdin_once,
            }
        }
        None => crate::shim_io::Stdio {
            outputs: vec![
                (crate::shim_io::STDOUT, out_r),
                (crate::shim_io::STDERR, err_r),
            ],
            stdin: in_w,
            terminal: None,
            stdin_once: stdio.stdin_once,
        },
    };
    let mut bufs: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let log_output = |kind, data: &[u8]| {
        let (name, buf) = match kind {
            crate::shim_io::STDERR => ("stderr", &mut bufs[1]),
            _ => ("stdout", &mut bufs[0]),
        };
        buf.extend_from_slice(data);
        for line in take_lines(buf, data.is_empty()) {
            let entry = LogLine {
                log: line,
                stream: name.into(),
                time: now(),
            };
            let mut data = serde_json::to_vec(&entry).unwrap_or_default();
            data.push(b'\n');
            log.append(&data).map_err(log_err)?;
        }
        Ok(())
    };
    // Right before the loop blocks, nothing the create used is needed any more.
    let shed = || crate::idle::shed_startup_memory(Path::new(crate::runtime::PROC));
    crate::shim_io::serve(io, listener, log_output, shed)?;
    let status = rt.wait(pid)?;
    let oom_killed = rt.stats(&opts.id).is_ok_and(|s| s.oom_kills > 0);
    let record = ExitRecord {
        exit_code: status.code(),
        oom_killed,
        finished_at: now(),
    };
    crate::state::save_json(&opts.exit_file, &record)?;
    Ok(record)
}

/// Reads an exit record written by a shim.
pub fn read_exit(path: &Path) -> Result<ExitRecord, ShimError> {
    let data = std::fs::read(path).map_err(|source| ShimError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|e| ShimError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_newline_and_keep_partial_tail() {
        let mut buf = b"one\ntwo\nthr".to_vec();
        assert_eq!(take_lines(&mut buf, false), ["one\n", "two\n"]);
        assert_eq!(buf, b"thr");
        assert_eq!(take_lines(&mut buf, true), ["thr"]);
        assert!(buf.is_empty());
    }

    #[test]
    fn long_lines_are_split_like_docker() {
        let mut buf = vec![b'x'; MAX_LINE + 10];
        buf.push(b'\n');
        let lines = take_lines(&mut buf, false);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1], format!("{}\n", "x".repeat(10)));
    }

    #[test]
    fn time_is_rfc3339_nanos() {
        let t = now();
        assert!(t.ends_with('Z') && t.contains('T'), "{t}");
        assert_eq!(t.split('.').nth(1).map(|f| f.len()), Some(10), "{t}");
    }
}

//! Exec instances of the real backend. The daemon never enters a container itself: starting an
//! exec spawns `berth runtime exec --process <file> <id>`, a fresh single-threaded process
//! (re-executed from the sealed binary) that joins the container's cgroup and namespaces, runs
//! the command as its child and exits with its status. Its stdio pipes are the exec's stdio.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt as _;
use tokio::sync::mpsc;

use super::RealBackend;
use crate::api::models::{ExecConfig, ExecInspect, ExecProcessConfig, IdResponse};
use crate::backend::{Attachment, BackendError, BackendResult, ErrorKind, LogChunk, LogSource};

/// The exec instances the daemon knows, by exec id.
pub(super) type Execs = Mutex<HashMap<String, ExecEntry>>;

/// One exec instance.
#[derive(Debug, Clone)]
pub(super) struct ExecEntry {
    container_id: String,
    config: ExecConfig,
    started: bool,
    running: bool,
    exit_code: Option<i64>,
    pid: i64,
}

fn no_exec(id: &str) -> BackendError {
    BackendError::not_found(format!("No such exec instance: {id}"))
}

fn new_exec_id() -> String {
    let mut noise = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut noise);
    }
    hex::encode(noise)
}

/// A started runner: its child process and the files to remove once it is gone.
struct Runner {
    child: tokio::process::Child,
    files: Vec<PathBuf>,
}

impl RealBackend {
    fn execs(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecEntry>> {
        self.inner
            .execs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn running_container(&self, id: &str) -> BackendResult<String> {
        let full = self.resolve(id)?;
        let running = self.lock().get(&full).is_some_and(|e| e.record.running);
        if !running {
            return Err(BackendError::conflict(format!(
                "Container {full} is not running"
            )));
        }
        Ok(full)
    }

    pub(super) fn exec_create(&self, id: &str, config: ExecConfig) -> BackendResult<IdResponse> {
        let cid = self.running_container(id)?;
        if config.cmd.is_empty() {
            return Err(BackendError::invalid("No exec command specified"));
        }
        let exec_id = new_exec_id();
        self.execs().insert(
            exec_id.clone(),
            ExecEntry {
                container_id: cid,
                config,
                started: false,
                running: false,
                exit_code: None,
                pid: 0,
            },
        );
        Ok(IdResponse { id: exec_id })
    }

    /// Writes the process document and spawns the runner with piped stdio.
    fn spawn_runner(
        &self,
        exec_id: &str,
        cid: &str,
        config: &ExecConfig,
        stdin: bool,
    ) -> BackendResult<Runner> {
        let paths = &self.inner.paths;
        let dir = paths.container(cid);
        let bundle = dir.join("bundle");
        let spec = oci_spec::runtime::Spec::load(bundle.join("config.json")).map_err(|e| {
            BackendError::new(ErrorKind::Internal, format!("cannot read the spec: {e}"))
        })?;
        let req = berth_runtime::exec::ExecRequest {
            args: config.cmd.clone(),
            env: config.env.clone(),
            cwd: Some(config.working_dir.clone()),
            user: Some(config.user.clone()),
            tty: config.tty,
            privileged: config.privileged,
        };
        let process = berth_runtime::exec::process_for(&spec, &req, &bundle.join("rootfs"))
            .map_err(|e| BackendError::invalid(e.to_string()))?;
        let process_file = dir.join(format!("exec-{exec_id}.json"));
        let pid_file = dir.join(format!("exec-{exec_id}.pid"));
        crate::state::write_json(&process_file, &process).map_err(|e| {
            BackendError::new(ErrorKind::Internal, format!("cannot write the exec: {e}"))
        })?;
        let child = tokio::process::Command::new(&paths.exe)
            .arg("runtime")
            .arg("--root")
            .arg(paths.runtime_root())
            .arg("--cgroup-root")
            .arg(&paths.cgroup_root)
            .arg("exec")
            .arg("--process")
            .arg(&process_file)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(cid)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(false)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&process_file);
                return Err(
                    BackendError::new(ErrorKind::Internal, "cannot spawn the exec runner")
                        .with_source(e),
                );
            }
        };
        Ok(Runner {
            child,
            files: vec![process_file, pid_file],
        })
    }

    pub(super) fn exec_start(&self, exec_id: &str) -> BackendResult<Attachment> {
        let (cid, config) = {
            let mut execs = self.execs();
            let e = execs.get_mut(exec_id).ok_or_else(|| no_exec(exec_id))?;
            if e.started {
                return Err(BackendError::conflict(format!(
                    "Error: Exec command {exec_id} has already run"
                )));
            }
            e.started = true;
            (e.container_id.clone(), e.config.clone())
        };
        if let Err(e) = self.running_container(&cid) {
            self.finish_exec(exec_id, 126);
            return Err(e);
        }
        let mut runner = match self.spawn_runner(exec_id, &cid, &config, config.attach_stdin) {
            Ok(r) => r,
            Err(e) => {
                self.finish_exec(exec_id, 126);
                return Err(e);
            }
        };
        if let Some(e) = self.execs().get_mut(exec_id) {
            e.running = true;
        }
        let stdin = runner.child.stdin.take().map(|s| {
            let s: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>> = Box::pin(s);
            s
        });
        let (tx, rx) = mpsc::channel::<LogChunk>(64);
        type Pipe = Option<std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>>;
        let stdout: Pipe = runner.child.stdout.take().map(|p| Box::pin(p) as _);
        let stderr: Pipe = runner.child.stderr.take().map(|p| Box::pin(p) as _);
        let outs = [
            (stdout, LogSource::Stdout, config.attach_stdout),
            (stderr, LogSource::Stderr, config.attach_stderr),
        ];
        let this = self.clone();
        let exec_id = exec_id.to_owned();
        tokio::spawn(async move {
            let mut pumps = Vec::new();
            for (pipe, source, wanted) in outs {
                let tx = tx.clone();
                pumps.push(tokio::spawn(async move {
                    let Some(mut pipe) = pipe else { return };
                    let mut buf = vec![0u8; 8192];
                    while let Ok(n) = pipe.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let chunk = LogChunk {
                            source,
                            data: Bytes::copy_from_slice(&buf[..n]),
                        };
                        // A gone reader still drains the pipe so the process never blocks.
                        if wanted {
                            let _ = tx.send(chunk).await;
                        }
                    }
                }));
            }
            for p in pumps {
                let _ = p.await;
            }
            let code = exit_code(runner.child.wait().await);
            this.finish_exec(&exec_id, code);
            for f in &runner.files {
                let _ = std::fs::remove_file(f);
            }
            drop(tx);
        });
        let output = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|c| (Ok(c), rx))
        }));
        Ok(Attachment {
            output,
            stdin,
            tty: config.tty,
        })
    }

    /// Resizes the terminal of a running exec (one without a terminal ignores it).
    pub(super) async fn exec_resize(
        &self,
        exec_id: &str,
        rows: u16,
        cols: u16,
    ) -> BackendResult<()> {
        let e = self
            .execs()
            .get(exec_id)
            .cloned()
            .ok_or_else(|| no_exec(exec_id))?;
        if !e.config.tty {
            return Ok(());
        }
        if !e.running && e.exit_code.is_some() {
            return Err(BackendError::conflict(format!(
                "Exec {exec_id} is not running"
            )));
        }
        let pid_file = self
            .inner
            .paths
            .container(&e.container_id)
            .join(format!("exec-{exec_id}.pid"));
        self.resize_exec_tty(pid_file, rows, cols).await
    }

    fn finish_exec(&self, exec_id: &str, code: i64) {
        if let Some(e) = self.execs().get_mut(exec_id) {
            e.running = false;
            e.exit_code = Some(code);
        }
    }

    pub(super) fn exec_inspect(&self, exec_id: &str) -> BackendResult<ExecInspect> {
        let e = self
            .execs()
            .get(exec_id)
            .cloned()
            .ok_or_else(|| no_exec(exec_id))?;
        let pid = match e.running {
            true => {
                let f = self
                    .inner
                    .paths
                    .container(&e.container_id)
                    .join(format!("exec-{exec_id}.pid"));
                std::fs::read_to_string(f)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(e.pid)
            }
            false => e.pid,
        };
        let mut argv = e.config.cmd.iter().cloned();
        Ok(ExecInspect {
            id: exec_id.to_owned(),
            running: e.running,
            exit_code: e.exit_code,
            open_stdin: e.config.attach_stdin,
            open_stdout: e.config.attach_stdout,
            open_stderr: e.config.attach_stderr,
            container_id: e.container_id.clone(),
            pid,
            process_config: ExecProcessConfig {
                tty: e.config.tty,
                entrypoint: argv.next().unwrap_or_default(),
                arguments: argv.collect(),
                privileged: e.config.privileged,
                user: e.config.user.clone(),
            },
        })
    }

    /// Runs `cmd` in running container `id` (as the container's user, in its working
    /// directory) and returns its exit code and combined stdout+stderr. Past `timeout` the
    /// command is killed and an error of kind [`ErrorKind::Unavailable`] is returned. Health
    /// checks use this.
    pub async fn exec_capture(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> BackendResult<(i64, String)> {
        let cid = self.running_container(id)?;
        if cmd.is_empty() {
            return Err(BackendError::invalid("No exec command specified"));
        }
        let config = ExecConfig {
            cmd,
            attach_stdout: true,
            attach_stderr: true,
            ..ExecConfig::default()
        };
        let mut runner = self.spawn_runner(&new_exec_id(), &cid, &config, false)?;
        let (mut out, mut err) = (runner.child.stdout.take(), runner.child.stderr.take());
        let collect = async {
            let mut text = Vec::new();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let read_out = async {
                if let Some(o) = out.as_mut() {
                    let _ = o.read_to_end(&mut a).await;
                }
            };
            let read_err = async {
                if let Some(e) = err.as_mut() {
                    let _ = e.read_to_end(&mut b).await;
                }
            };
            tokio::join!(read_out, read_err);
            text.extend_from_slice(&a);
            text.extend_from_slice(&b);
            let status = runner.child.wait().await;
            (exit_code(status), text)
        };
        let result = tokio::time::timeout(timeout, collect).await;
        let files = runner.files.clone();
        let answer = match result {
            Ok((code, text)) => Ok((code, String::from_utf8_lossy(&text).into_owned())),
            Err(_) => {
                // The command dies with its runner (parent-death signal).
                let _ = runner.child.start_kill();
                let _ = runner.child.wait().await;
                Err(BackendError::new(
                    ErrorKind::Unavailable,
                    format!("command timed out after {timeout:?}"),
                ))
            }
        };
        for f in files {
            let _ = std::fs::remove_file(f);
        }
        answer
    }
}

/// The runner exits with the command's status (128+signal when it was killed).
fn exit_code(status: std::io::Result<std::process::ExitStatus>) -> i64 {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        Ok(s) => s
            .code()
            .map(i64::from)
            .or_else(|| s.signal().map(|sig| 128 + i64::from(sig)))
            .unwrap_or(126),
        Err(_) => 126,
    }
}

/// The health-check probe of the real engine: each check is an exec captured to the end. It
/// holds the engine weakly, so the engine (which owns its probe) can still be dropped.
#[derive(Debug)]
pub(super) struct ExecProbe {
    engine: std::sync::Weak<super::Inner>,
}

impl ExecProbe {
    /// A probe running checks in `backend`'s containers.
    pub(super) fn new(backend: &RealBackend) -> Self {
        Self {
            engine: std::sync::Arc::downgrade(&backend.inner),
        }
    }
}

impl super::health::Probe for ExecProbe {
    fn run(
        &self,
        id: &str,
        argv: Vec<String>,
        timeout: Duration,
    ) -> crate::backend::BoxFuture<super::health::ProbeOutput> {
        let engine = self.engine.upgrade().map(|inner| RealBackend { inner });
        let id = id.to_owned();
        Box::pin(async move {
            let Some(backend) = engine else {
                return super::health::ProbeOutput {
                    exit_code: -1,
                    output: "the engine is shutting down".to_owned(),
                };
            };
            match backend.exec_capture(&id, argv, timeout).await {
                Ok((exit_code, output)) => super::health::ProbeOutput { exit_code, output },
                Err(e) if e.kind == ErrorKind::Unavailable => super::health::timed_out(timeout),
                Err(e) => super::health::ProbeOutput {
                    exit_code: -1,
                    output: e.message,
                },
            }
        })
    }
}

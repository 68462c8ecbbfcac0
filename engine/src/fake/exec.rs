//! Exec instances of the fake engine. The fake runs no process: a started exec "prints" what a
//! test scripted with [`FakeBackend::set_exec_result`] (nothing by default) and exits at once.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::stream;

use super::util::new_id;
use super::{FakeBackend, Status, resolve_container};
use crate::api::models::{ExecConfig, ExecInspect, ExecProcessConfig, IdResponse};
use crate::backend::{Attachment, BackendError, BackendResult, ErrorKind, LogChunk, LogSource};

#[derive(Debug, Clone)]
pub(super) struct FakeExec {
    container_id: String,
    config: ExecConfig,
    exit_code: Option<i64>,
}

/// Output and exit code of the next started execs.
#[derive(Debug, Clone, Default)]
pub(super) struct ExecScript {
    stdout: Bytes,
    exit_code: i64,
}

impl FakeBackend {
    /// Sets what every exec started from now on writes to stdout and exits with (used by tests).
    pub fn set_exec_result(&self, stdout: &[u8], exit_code: i64) {
        self.lock().exec_script = ExecScript {
            stdout: Bytes::copy_from_slice(stdout),
            exit_code,
        };
    }

    pub(super) fn create_exec_impl(
        &self,
        id: &str,
        config: ExecConfig,
    ) -> BackendResult<IdResponse> {
        let mut st = self.lock();
        let cid = resolve_container(&st, id)?;
        if st.containers[&cid].status != Status::Running {
            return Err(BackendError::conflict(format!(
                "Container {cid} is not running"
            )));
        }
        if config.cmd.is_empty() {
            return Err(BackendError::invalid("No exec command specified"));
        }
        let exec_id = new_id();
        let attrs = BTreeMap::from([("execID".to_owned(), exec_id.clone())]);
        let action = format!("exec_create: {}", config.cmd.join(" "));
        st.execs.insert(
            exec_id.clone(),
            FakeExec {
                container_id: cid.clone(),
                config,
                exit_code: None,
            },
        );
        self.emit(&mut st, "container", &action, &cid, attrs);
        Ok(IdResponse { id: exec_id })
    }

    pub(super) fn start_exec_impl(&self, exec_id: &str) -> BackendResult<Attachment> {
        let mut st = self.lock();
        let script = st.exec_script.clone();
        let Some(exec) = st.execs.get_mut(exec_id) else {
            return Err(BackendError::not_found(format!(
                "No such exec instance: {exec_id}"
            )));
        };
        if exec.exit_code.is_some() {
            return Err(BackendError::conflict(format!(
                "Error: Exec command {exec_id} has already run"
            )));
        }
        exec.exit_code = Some(script.exit_code);
        let (cid, cmd, tty, stdout) = (
            exec.container_id.clone(),
            exec.config.cmd.join(" "),
            exec.config.tty,
            exec.config.attach_stdout,
        );
        let attrs = BTreeMap::from([("execID".to_owned(), exec_id.to_owned())]);
        self.emit(
            &mut st,
            "container",
            &format!("exec_start: {cmd}"),
            &cid,
            attrs.clone(),
        );
        let mut die = attrs;
        die.insert("exitCode".to_owned(), script.exit_code.to_string());
        self.emit(&mut st, "container", "exec_die", &cid, die);
        let output: Vec<BackendResult<LogChunk>> = match stdout && !script.stdout.is_empty() {
            true => vec![Ok(LogChunk {
                source: LogSource::Stdout,
                data: script.stdout,
            })],
            false => Vec::new(),
        };
        Ok(Attachment {
            output: Box::pin(stream::iter(output)),
            stdin: None,
            tty,
        })
    }

    pub(super) fn inspect_exec_impl(&self, exec_id: &str) -> BackendResult<ExecInspect> {
        let st = self.lock();
        let exec = st.execs.get(exec_id).ok_or_else(|| {
            BackendError::new(
                ErrorKind::NotFound,
                format!("No such exec instance: {exec_id}"),
            )
        })?;
        let mut argv = exec.config.cmd.iter().cloned();
        Ok(ExecInspect {
            id: exec_id.to_owned(),
            running: false,
            exit_code: exec.exit_code,
            open_stdin: exec.config.attach_stdin,
            open_stdout: exec.config.attach_stdout,
            open_stderr: exec.config.attach_stderr,
            container_id: exec.container_id.clone(),
            pid: 0,
            process_config: ExecProcessConfig {
                tty: exec.config.tty,
                entrypoint: argv.next().unwrap_or_default(),
                arguments: argv.collect(),
                privileged: exec.config.privileged,
                user: exec.config.user.clone(),
            },
        })
    }
}

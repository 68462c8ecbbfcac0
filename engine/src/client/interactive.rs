//! Interactive sessions over Docker's connection hijack: attach to a container or start an
//! exec with input, and resize their terminal. The session's input half writes the process's
//! stdin; closing it (`shutdown`) is end-of-file.

use hyper::Method;
use hyper_util::rt::TokioIo;

use super::hijack::read_chunks;
use super::{Client, ClientResult, LogOutput, decode_output, query};
use crate::api::models::ExecStartConfig;
use crate::backend::{AttachOptions, BoxStream};

/// The write half of a session's connection.
pub type SessionInput = tokio::io::WriteHalf<TokioIo<hyper::upgrade::Upgraded>>;

/// An attached session: output until the process ends (or the client detaches), and input.
pub struct Session {
    /// The output, framed or raw as the process has a terminal or not.
    pub output: BoxStream<ClientResult<LogOutput>>,
    /// The process's stdin.
    pub input: SessionInput,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Client {
    fn session(io: TokioIo<hyper::upgrade::Upgraded>, mode: Option<bool>, tty: bool) -> Session {
        let (read, input) = tokio::io::split(io);
        let mode = match tty {
            true => Some(false),
            false => mode,
        };
        Session {
            output: decode_output(read_chunks(read), mode),
            input,
        }
    }

    /// `POST /containers/{id}/attach?stream=1&stdin=…`: attaches with input; `tty` says the
    /// container has a terminal (its output is raw).
    pub async fn attach_session(
        &self,
        id: &str,
        opts: AttachOptions,
        tty: bool,
    ) -> ClientResult<Session> {
        let q = query([
            ("stream", true),
            ("stdin", opts.stdin),
            ("stdout", opts.stdout),
            ("stderr", opts.stderr),
            ("logs", opts.logs),
        ]);
        let (io, mode) = self
            .upgrade(&format!("/containers/{id}/attach"), &q, None)
            .await?;
        Ok(Self::session(io, mode, tty))
    }

    /// `POST /exec/{id}/start` attached, with input.
    pub async fn start_exec_session(&self, exec_id: &str, tty: bool) -> ClientResult<Session> {
        let body = serde_json::to_vec(&ExecStartConfig { detach: false, tty })?;
        let (io, mode) = self
            .upgrade(&format!("/exec/{exec_id}/start"), "", Some(body))
            .await?;
        Ok(Self::session(io, mode, tty))
    }

    /// `POST /containers/{id}/resize?h=&w=`.
    pub async fn resize_container(&self, id: &str, rows: u16, cols: u16) -> ClientResult<()> {
        let q = query([("h", rows), ("w", cols)]);
        self.call_empty(Method::POST, &format!("/containers/{id}/resize"), &q, None)
            .await
    }

    /// `POST /exec/{id}/resize?h=&w=`.
    pub async fn resize_exec(&self, exec_id: &str, rows: u16, cols: u16) -> ClientResult<()> {
        let q = query([("h", rows), ("w", cols)]);
        self.call_empty(Method::POST, &format!("/exec/{exec_id}/resize"), &q, None)
            .await
    }
}

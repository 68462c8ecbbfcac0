//! Client side of Docker's connection hijack (`Upgrade: tcp`): attach to a container and run
//! execs, reading their output from the taken-over connection.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;

use super::{Client, ClientError, ClientResult, LogOutput, decode_output, query, transport};
use crate::api::models::{ExecConfig, ExecInspect, ExecStartConfig, IdResponse};
use crate::backend::{AttachOptions, BoxStream};

/// Everything an exec printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Output pieces in arrival order.
    pub output: Vec<LogOutput>,
    /// The command's exit code.
    pub exit_code: i64,
}

impl Client {
    /// Sends a request that asks for `Upgrade: tcp` and returns the taken-over connection's
    /// output, decoded as framed or raw (`tty`) stream.
    async fn hijack(
        &self,
        path: &str,
        query: &str,
        body: Option<Vec<u8>>,
    ) -> ClientResult<BoxStream<ClientResult<LogOutput>>> {
        let (io, mode) = self.upgrade(path, query, body).await?;
        Ok(decode_output(read_chunks(io), mode))
    }

    /// Sends a request that asks for `Upgrade: tcp`; returns the taken-over connection and
    /// whether its output is framed (`Some(true)`), raw (`Some(false)`) or unknown.
    pub(super) async fn upgrade(
        &self,
        path: &str,
        query: &str,
        body: Option<Vec<u8>>,
    ) -> ClientResult<(TokioIo<hyper::upgrade::Upgraded>, Option<bool>)> {
        let mut uri = format!("/v{}{path}", self.version);
        if !query.is_empty() {
            uri = format!("{uri}?{query}");
        }
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::HOST, self.host.authority())
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "tcp")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let resp = transport::send(&self.host, req).await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(self.error_from(resp).await);
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let mode = match content_type {
            Some("application/vnd.docker.multiplexed-stream") => Some(true),
            Some("application/vnd.docker.raw-stream") if self.version_at_least(1, 42) => {
                Some(false)
            }
            _ => None,
        };
        Ok((TokioIo::new(hyper::upgrade::on(resp).await?), mode))
    }

    /// `POST /containers/{id}/attach` (no input): output until the container stops.
    pub async fn attach_container(
        &self,
        id: &str,
        opts: AttachOptions,
    ) -> ClientResult<BoxStream<ClientResult<LogOutput>>> {
        let q = query([
            ("stream", true),
            ("stdout", opts.stdout),
            ("stderr", opts.stderr),
            ("logs", opts.logs),
        ]);
        self.hijack(&format!("/containers/{id}/attach"), &q, None)
            .await
    }

    /// `POST /containers/{id}/exec`.
    pub async fn create_exec(&self, id: &str, config: &ExecConfig) -> ClientResult<IdResponse> {
        self.call(
            Method::POST,
            &format!("/containers/{id}/exec"),
            "",
            Some(serde_json::to_vec(config)?),
        )
        .await
    }

    /// `POST /exec/{id}/start` attached: the command's output until it exits.
    pub async fn start_exec(
        &self,
        exec_id: &str,
        tty: bool,
    ) -> ClientResult<BoxStream<ClientResult<LogOutput>>> {
        let body = serde_json::to_vec(&ExecStartConfig { detach: false, tty })?;
        self.hijack(&format!("/exec/{exec_id}/start"), "", Some(body))
            .await
    }

    /// `GET /exec/{id}/json`.
    pub async fn inspect_exec(&self, exec_id: &str) -> ClientResult<ExecInspect> {
        self.call(Method::GET, &format!("/exec/{exec_id}/json"), "", None)
            .await
    }

    /// Runs `cmd` in container `id` without input and collects its output and exit code.
    pub async fn exec(&self, id: &str, cmd: &[&str]) -> ClientResult<ExecOutput> {
        use futures_util::StreamExt;
        let config = ExecConfig {
            attach_stdout: true,
            attach_stderr: true,
            cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
            ..ExecConfig::default()
        };
        let created = self.create_exec(id, &config).await?;
        let mut stream = self.start_exec(&created.id, false).await?;
        let mut output = Vec::new();
        while let Some(piece) = stream.next().await {
            output.push(piece?);
        }
        let inspect = self.inspect_exec(&created.id).await?;
        let exit_code = inspect
            .exit_code
            .ok_or_else(|| ClientError::Stream(format!("exec {} has no exit code", created.id)))?;
        Ok(ExecOutput { output, exit_code })
    }
}

/// The bytes read from `io` until it ends, as chunks.
pub(super) fn read_chunks<R>(io: R) -> BoxStream<ClientResult<Bytes>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    Box::pin(futures_util::stream::unfold(Some(io), |io| async move {
        let mut io = io?;
        let mut buf = vec![0u8; 32 * 1024];
        match io.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(io)))
            }
            Err(e) => Some((Err(ClientError::Io(e)), None)),
        }
    }))
}

//! `POST /containers/{id}/attach` and `POST /exec/{id}/start`: Docker's connection hijack. The client asks for
//! `Upgrade: tcp`; the server answers 101 and the connection becomes a raw byte stream carrying
//! the container's output (framed unless TTY) one way and its standard input the other way.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::containers::frame;
use super::{ApiError, ApiResult, AppState, parse_body, parse_query, qbool};
use crate::api::models::{ExecConfig, ExecInspect, ExecStartConfig, IdResponse};
use crate::backend::{AttachOptions, Attachment, Backend};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AttachQuery {
    #[serde(deserialize_with = "qbool")]
    stdin: bool,
    #[serde(deserialize_with = "qbool")]
    stdout: bool,
    #[serde(deserialize_with = "qbool")]
    stderr: bool,
    #[serde(deserialize_with = "qbool")]
    logs: bool,
}

fn require_upgrade(req: &Request) -> ApiResult<()> {
    let asked = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    match asked {
        true => Ok(()),
        false => Err(ApiError::BadRequest(
            "this endpoint needs the request header \"Upgrade: tcp\"".to_owned(),
        )),
    }
}

pub(super) async fn attach<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    let q: AttachQuery = parse_query(raw.as_deref())?;
    require_upgrade(&req)?;
    let opts = AttachOptions {
        stdin: q.stdin,
        stdout: q.stdout,
        stderr: q.stderr,
        logs: q.logs,
    };
    let attachment = st.backend.attach_container(&id, opts).await?;
    hijack(req, attachment, st.shutdown.clone())
}

pub(super) async fn create_exec<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<IdResponse>)> {
    let config: ExecConfig = parse_body(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(st.backend.create_exec(&id, config).await?),
    ))
}

pub(super) async fn inspect_exec<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
) -> ApiResult<Json<ExecInspect>> {
    Ok(Json(st.backend.inspect_exec(&id).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResizeQuery {
    h: Option<u16>,
    w: Option<u16>,
}

fn size(raw: Option<&str>) -> ApiResult<(u16, u16)> {
    let q: ResizeQuery = parse_query(raw)?;
    match (q.h, q.w) {
        (Some(h), Some(w)) => Ok((h, w)),
        _ => Err(ApiError::BadRequest(
            "resize needs the terminal size: ?h=ROWS&w=COLUMNS".to_owned(),
        )),
    }
}

/// `POST /containers/{id}/resize?h=&w=`: the terminal size of a running container.
pub(super) async fn resize_container<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let (h, w) = size(raw.as_deref())?;
    st.backend.resize_container(&id, h, w).await?;
    Ok(StatusCode::OK)
}

/// `POST /exec/{id}/resize?h=&w=`: the terminal size of a running exec.
pub(super) async fn resize_exec<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let (h, w) = size(raw.as_deref())?;
    st.backend.resize_exec(&id, h, w).await?;
    Ok(StatusCode::OK)
}

pub(super) async fn start_exec<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::BadRequest(format!("cannot read body: {e}")))?;
    let config: ExecStartConfig = parse_body(&bytes)?;
    let req = Request::from_parts(parts, Body::empty());
    if !config.detach {
        require_upgrade(&req)?;
    }
    let attachment = st.backend.start_exec(&id).await?;
    if config.detach {
        // Nobody reads a detached exec's output; drain it so the backend is never blocked.
        tokio::spawn(attachment.output.for_each(|_| std::future::ready(())));
        return Ok(StatusCode::OK.into_response());
    }
    hijack(req, attachment, st.shutdown.clone())
}

/// Answers 101 and, once the connection is upgraded, pumps `attachment` over it.
fn hijack(
    mut req: Request,
    attachment: Attachment,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> ApiResult<Response> {
    let content_type = match attachment.tty {
        true => "application/vnd.docker.raw-stream",
        false => "application/vnd.docker.multiplexed-stream",
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => pump(TokioIo::new(upgraded), attachment, shutdown).await,
            Err(e) => tracing::debug!(error = %e, "attach upgrade failed"),
        }
    });
    let resp = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::empty())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(resp.into_response())
}

/// Copies output to the client and the client's input to the container until the output ends.
async fn pump<S>(io: S, attachment: Attachment, shutdown: tokio::sync::watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(io);
    let Attachment {
        mut output,
        stdin,
        tty,
    } = attachment;
    let input = async move {
        match stdin {
            Some(mut stdin) => {
                // Input ends when the client closes its side; errors end it the same way.
                let _ = tokio::io::copy(&mut reader, &mut stdin).await;
                let _ = stdin.shutdown().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let out = async {
        while let Some(Ok(chunk)) = output.next().await {
            let bytes = if tty { chunk.data } else { frame(&chunk) };
            if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = out => {}
        () = async { input.await; std::future::pending::<()>().await } => {}
        () = super::shutdown_requested(shutdown) => {}
    }
    // The client sees the end of output as the end of the connection.
    let _ = writer.shutdown().await;
}

//! `POST /containers/{id}/attach`: Docker's connection hijack. The client asks for
//! `Upgrade: tcp`; the server answers 101 and the connection becomes a raw byte stream carrying
//! the container's output (framed unless TTY) one way and its standard input the other way.

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::containers::frame;
use super::{ApiError, ApiResult, AppState, parse_query, qbool};
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

pub(super) async fn attach<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    mut req: Request,
) -> ApiResult<Response> {
    let q: AttachQuery = parse_query(raw.as_deref())?;
    let upgrade_asked = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    if !upgrade_asked {
        return Err(ApiError::BadRequest(
            "attach needs the request header \"Upgrade: tcp\"".to_owned(),
        ));
    }
    let opts = AttachOptions {
        stdin: q.stdin,
        stdout: q.stdout,
        stderr: q.stderr,
        logs: q.logs,
    };
    let attachment = st.backend.attach_container(&id, opts).await?;
    let content_type = match attachment.tty {
        true => "application/vnd.docker.raw-stream",
        false => "application/vnd.docker.multiplexed-stream",
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let shutdown = st.shutdown.clone();
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

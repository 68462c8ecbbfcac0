//! `/containers/…` handlers.

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;

use super::{
    ApiError, ApiResult, ApiVersion, AppState, parse_body, parse_filters, parse_query, qbool,
};
use crate::api::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspect, ContainerSummary,
    ContainerTopResponse, ContainerWaitResponse, WaitExitError,
};
use crate::backend::{
    Backend, ListContainersOptions, LogChunk, LogSource, LogsOptions, WaitCondition,
};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    #[serde(deserialize_with = "qbool")]
    all: bool,
    limit: Option<i64>,
    filters: Option<String>,
}

pub(super) async fn list<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<ContainerSummary>>> {
    let q: ListQuery = parse_query(raw.as_deref())?;
    let opts = ListContainersOptions {
        all: q.all,
        limit: q.limit.filter(|l| *l > 0).map(|l| l as usize),
        filters: parse_filters(q.filters.as_deref())?,
    };
    Ok(Json(st.backend.list_containers(opts).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateQuery {
    name: Option<String>,
}

pub(super) async fn create<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ContainerCreateResponse>)> {
    let q: CreateQuery = parse_query(raw.as_deref())?;
    let body: ContainerCreateBody = parse_body(&body)?;
    let created = st.backend.create_container(q.name, body).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(super) async fn inspect<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
) -> ApiResult<Json<ContainerInspect>> {
    Ok(Json(st.backend.inspect_container(&id).await?))
}

pub(super) async fn start<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.backend.start_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StopQuery {
    t: Option<i64>,
    signal: Option<String>,
}

pub(super) async fn stop<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q: StopQuery = parse_query(raw.as_deref())?;
    st.backend
        .stop_container(&id, q.t, q.signal.filter(|s| !s.is_empty()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn restart<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q: StopQuery = parse_query(raw.as_deref())?;
    st.backend.restart_container(&id, q.t).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KillQuery {
    signal: Option<String>,
}

pub(super) async fn kill<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q: KillQuery = parse_query(raw.as_deref())?;
    st.backend.kill_container(&id, q.signal).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WaitQuery {
    condition: Option<String>,
}

pub(super) async fn wait<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: WaitQuery = parse_query(raw.as_deref())?;
    let condition = match q.condition.as_deref().unwrap_or("") {
        "" | "not-running" => WaitCondition::NotRunning,
        "next-exit" => WaitCondition::NextExit,
        "removed" => WaitCondition::Removed,
        other => {
            return Err(ApiError::BadRequest(format!(
                "invalid condition: \"{other}\""
            )));
        }
    };
    let waiting = st.backend.wait_container(&id, condition).await?;
    // Headers go out now (clients start the container after them); the body when it is done.
    let body = futures_util::stream::once(async move {
        let answer = waiting.await.unwrap_or_else(|e| ContainerWaitResponse {
            status_code: -1,
            error: Some(WaitExitError {
                message: e.to_string(),
            }),
        });
        Bytes::from(serde_json::to_vec(&answer).unwrap_or_default())
    });
    Ok(super::stream_response("application/json", body))
}

pub(super) async fn pause<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.backend.pause_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn unpause<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.backend.unpause_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RemoveQuery {
    #[serde(deserialize_with = "qbool")]
    force: bool,
    #[serde(deserialize_with = "qbool")]
    v: bool,
}

pub(super) async fn remove<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q: RemoveQuery = parse_query(raw.as_deref())?;
    st.backend.remove_container(&id, q.force, q.v).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LogsQuery {
    #[serde(deserialize_with = "qbool")]
    stdout: bool,
    #[serde(deserialize_with = "qbool")]
    stderr: bool,
    #[serde(deserialize_with = "qbool")]
    follow: bool,
    #[serde(deserialize_with = "qbool")]
    timestamps: bool,
    tail: Option<String>,
}

/// Docker's stream framing: `[stream, 0, 0, 0, len (u32 big-endian)]` then the bytes.
pub(crate) fn frame(chunk: &LogChunk) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + chunk.data.len());
    out.put_u8(match chunk.source {
        LogSource::Stdout => 1,
        LogSource::Stderr => 2,
    });
    out.put_slice(&[0, 0, 0]);
    out.put_u32(chunk.data.len() as u32);
    out.put_slice(&chunk.data);
    out.freeze()
}

pub(super) async fn logs<B: Backend>(
    State(st): State<AppState<B>>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: LogsQuery = parse_query(raw.as_deref())?;
    if !q.stdout && !q.stderr {
        return Err(ApiError::BadRequest(
            "Bad parameters: you must choose at least one stream".to_owned(),
        ));
    }
    let tail = match q.tail.as_deref() {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse()
                .map_err(|_| ApiError::BadRequest(format!("invalid tail: {n}")))?,
        ),
    };
    let tty = st.backend.inspect_container(&id).await?.config.tty;
    let opts = LogsOptions {
        stdout: q.stdout,
        stderr: q.stderr,
        follow: q.follow,
        timestamps: q.timestamps,
        tail,
    };
    let chunks = st.backend.container_logs(&id, opts).await?;
    let shutdown = super::shutdown_requested(st.shutdown.clone());
    let bytes = chunks
        .take_until(Box::pin(shutdown))
        .take_while(|c| std::future::ready(c.is_ok()))
        .filter_map(move |c| {
            std::future::ready(c.ok().map(|c| if tty { c.data } else { frame(&c) }))
        });
    let content_type = if tty || version < ApiVersion(1, 42) {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(super::stream_response(content_type, bytes))
}

pub(super) async fn top<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
) -> ApiResult<Json<ContainerTopResponse>> {
    Ok(Json(st.backend.top_container(&id).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RenameQuery {
    name: String,
}

pub(super) async fn rename<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q: RenameQuery = parse_query(raw.as_deref())?;
    st.backend.rename_container(&id, &q.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

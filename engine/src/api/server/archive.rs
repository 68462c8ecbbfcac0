//! `/containers/{id}/archive`, `/export` and `/changes` handlers (`docker cp`, `docker export`,
//! `docker diff`).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde::Deserialize;

use super::{ApiError, ApiResult, AppState, parse_query, qbool};
use crate::backend::{Backend, PathStat, PutArchiveOptions};

/// The header carrying a [`PathStat`] (base64 of its JSON).
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GetQuery {
    path: Option<String>,
}

fn stat_header(stat: &PathStat) -> ApiResult<HeaderValue> {
    let json = serde_json::to_vec(stat)
        .map_err(|e| ApiError::BadRequest(format!("cannot encode the path stat: {e}")))?;
    HeaderValue::from_str(&berth_image::auth::base64_encode(&json))
        .map_err(|e| ApiError::BadRequest(format!("cannot encode the path stat: {e}")))
}

/// `HEAD /containers/{id}/archive?path=P`: the stat of `P` in a header.
pub(super) async fn head<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: GetQuery = parse_query(raw.as_deref())?;
    let stat = st
        .backend
        .stat_container_path(&id, &required_path(q.path)?)
        .await?;
    Ok(([(PATH_STAT_HEADER, stat_header(&stat)?)], ()).into_response())
}

/// `GET /containers/{id}/archive?path=P`: a tar of `P` (its base name as the top entry).
pub(super) async fn get<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: GetQuery = parse_query(raw.as_deref())?;
    let (stat, tar) = st.backend.get_archive(&id, &required_path(q.path)?).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-tar"),
            ),
            (
                header::HeaderName::from_static("x-docker-container-path-stat"),
                stat_header(&stat)?,
            ),
        ],
        Body::from_stream(tar),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PutQuery {
    path: Option<String>,
    #[serde(rename = "noOverwriteDirNonDir", deserialize_with = "qbool")]
    no_overwrite_dir_non_dir: bool,
    #[serde(rename = "copyUIDGID", deserialize_with = "qbool")]
    copy_uid_gid: bool,
}

fn required_path(path: Option<String>) -> ApiResult<String> {
    path.filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::BadRequest("the path parameter is required".to_owned()))
}

/// `PUT /containers/{id}/archive?path=DIR`: extracts the tar body into `DIR`.
pub(super) async fn put<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<StatusCode> {
    let q: PutQuery = parse_query(raw.as_deref())?;
    let opts = PutArchiveOptions {
        path: required_path(q.path)?,
        no_overwrite_dir_non_dir: q.no_overwrite_dir_non_dir,
        copy_uid_gid: q.copy_uid_gid,
    };
    let source = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    st.backend.put_archive(&id, opts, source).await?;
    Ok(StatusCode::OK)
}

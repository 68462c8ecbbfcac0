//! `/containers/{id}/archive`, `/export` and `/changes` handlers (`docker cp`, `docker export`,
//! `docker diff`).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use futures_util::TryStreamExt;
use serde::Deserialize;

use super::{ApiError, ApiResult, AppState, parse_query, qbool};
use crate::backend::{Backend, PutArchiveOptions};

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

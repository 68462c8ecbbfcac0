//! Image handlers that stream a body in or out of the engine: `POST /images/create?fromSrc=-`
//! (`docker import`), `POST /images/{name}/push`, `GET /images/get` and `/images/{name}/get`
//! (`docker save`), `POST /images/load`; plus `GET /images/{name}/history` and
//! `POST /images/prune`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::TryStreamExt;

use super::{ApiError, ApiResult, AppState};
use crate::api::models::ProgressMessage;
use crate::backend::{Backend, ImportImageOptions};

/// Import options from the raw query of `POST /images/create` (`changes` may repeat).
pub(super) fn import_options(raw: Option<&str>) -> ApiResult<ImportImageOptions> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?;
    let mut repo = String::new();
    let mut tag = String::new();
    let mut opts = ImportImageOptions::default();
    for (k, v) in pairs {
        match k.as_str() {
            "fromSrc" if v != "-" => {
                return Err(ApiError::BadRequest(format!(
                    "importing from {v:?} is not supported: send the tarball as the body with fromSrc=-"
                )));
            }
            "repo" => repo = v,
            "tag" => tag = v,
            "message" if !v.is_empty() => opts.message = Some(v),
            "changes" if !v.trim().is_empty() => opts.changes.push(v),
            _ => {}
        }
    }
    opts.reference = match (repo.is_empty(), tag.is_empty()) {
        (true, true) => None,
        (true, false) => {
            return Err(ApiError::BadRequest(
                "a tag was given without a repository (repo)".to_owned(),
            ));
        }
        (false, true) => Some(repo),
        (false, false) => Some(format!("{repo}:{tag}")),
    };
    Ok(opts)
}

/// `POST /images/create?fromSrc=-`: answers Docker's progress line carrying the new image id.
pub(super) async fn import<B: Backend>(
    st: AppState<B>,
    raw: Option<&str>,
    body: Body,
) -> ApiResult<Response> {
    let opts = import_options(raw)?;
    let source = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    let id = st.backend.import_image(source, opts).await?;
    let msg = ProgressMessage {
        status: id,
        ..ProgressMessage::default()
    };
    Ok(super::stream_response(
        "application/json",
        futures_util::stream::iter([progress_line(&msg)]),
    ))
}

/// One progress message as a JSON line; an error also gets Docker's `errorDetail`, which is
/// what the docker CLI checks to fail the command.
pub(super) fn progress_line(m: &ProgressMessage) -> Bytes {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    if let (Some(err), Some(obj)) = (&m.error, v.as_object_mut()) {
        obj.insert(
            "errorDetail".to_owned(),
            serde_json::json!({ "message": err }),
        );
    }
    let mut line = serde_json::to_vec(&v).unwrap_or_default();
    line.extend_from_slice(b"\r\n");
    Bytes::from(line)
}

/// Renders progress messages as Docker's JSON lines.
fn progress_lines(
    stream: crate::backend::BoxStream<ProgressMessage>,
) -> impl futures_util::Stream<Item = Bytes> + Send {
    futures_util::StreamExt::map(stream, |m| progress_line(&m))
}

/// `POST /images/{name}/push?tag=`: streams the push progress.
pub(super) async fn push<B: Backend>(
    st: AppState<B>,
    name: &str,
    raw: Option<&str>,
    headers: &axum::http::HeaderMap,
) -> ApiResult<Response> {
    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default)]
    struct PushQuery {
        tag: Option<String>,
    }
    let q: PushQuery = super::parse_query(raw)?;
    let auth = headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let progress = st
        .backend
        .push_image(name, q.tag.as_deref().filter(|t| !t.is_empty()), auth)
        .await?;
    Ok(super::stream_response(
        "application/json",
        progress_lines(progress),
    ))
}

/// The names of `GET /images/get?names=a&names=b` (each may also be comma-free repeated).
pub(super) fn save_names(raw: Option<&str>) -> ApiResult<Vec<String>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?;
    let names: Vec<String> = pairs
        .into_iter()
        .filter(|(k, v)| k == "names" && !v.is_empty())
        .map(|(_, v)| v)
        .collect();
    if names.is_empty() {
        return Err(ApiError::BadRequest(
            "no image names given: pass names=IMAGE (repeatable)".to_owned(),
        ));
    }
    Ok(names)
}

/// `GET /images/get?names=…` and `GET /images/{name}/get`: the tarball as the body.
pub(super) async fn save<B: Backend>(st: AppState<B>, names: Vec<String>) -> ApiResult<Response> {
    let stream = st.backend.save_images(names).await?;
    Response::builder()
        .header("content-type", "application/x-tar")
        .body(Body::from_stream(stream))
        .map_err(|e| {
            crate::backend::BackendError::new(crate::backend::ErrorKind::Internal, e.to_string())
                .into()
        })
}

/// `POST /images/load?quiet=`: a JSON stream of `{"stream": "Loaded image: …\n"}` lines (the
/// same with `quiet`: the load reports no per-layer progress).
pub(super) async fn load<B: Backend>(st: AppState<B>, body: Body) -> ApiResult<Response> {
    let source = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    let lines = st.backend.load_images(source).await?;
    let out: Vec<Bytes> = lines
        .into_iter()
        .map(|l| {
            let mut v = serde_json::to_vec(&serde_json::json!({ "stream": format!("{l}\n") }))
                .unwrap_or_default();
            v.extend_from_slice(b"\r\n");
            Bytes::from(v)
        })
        .collect();
    Ok(super::stream_response(
        "application/json",
        futures_util::stream::iter(out),
    ))
}

/// `GET /images/{name}/history`.
pub(super) async fn history<B: Backend>(st: AppState<B>, name: &str) -> ApiResult<Response> {
    Ok(axum::Json(st.backend.image_history(name).await?).into_response())
}

/// `POST /images/prune?filters={"dangling":["false"]}`: `dangling=false` prunes every image
/// no container uses (`docker image prune -a`).
pub(super) async fn prune<B: Backend>(st: AppState<B>, raw: Option<&str>) -> ApiResult<Response> {
    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(default)]
    struct PruneQuery {
        filters: Option<String>,
    }
    let q: PruneQuery = super::parse_query(raw)?;
    let filters = super::parse_filters(q.filters.as_deref())?;
    let all = filters
        .get("dangling")
        .iter()
        .any(|v| v.as_str() == "false" || v.as_str() == "0");
    Ok(axum::Json(st.backend.prune_images(all).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_query_joins_repo_and_tag_and_keeps_every_change() {
        let q = "fromSrc=-&repo=example%2Fx&tag=v1&message=hi&changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3Db";
        let o = import_options(Some(q)).unwrap();
        assert_eq!(o.reference.as_deref(), Some("example/x:v1"));
        assert_eq!(o.changes, vec!["CMD [\"sh\"]", "ENV A=b"]);
        assert_eq!(o.message.as_deref(), Some("hi"));
        let bare = import_options(Some("fromSrc=-&repo=&tag=")).unwrap();
        assert_eq!(bare, ImportImageOptions::default());
    }

    #[test]
    fn progress_errors_carry_error_detail() {
        let line = progress_line(&ProgressMessage {
            error: Some("boom".into()),
            ..ProgressMessage::default()
        });
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["errorDetail"]["message"], "boom");
        assert_eq!(v["error"], "boom");
        assert!(line.ends_with(b"\r\n"));
    }

    #[test]
    fn import_query_refuses_urls_and_tags_without_repo() {
        let e = import_options(Some("fromSrc=http://x/y.tar")).unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = import_options(Some("fromSrc=-&tag=v1")).unwrap_err();
        assert!(e.to_string().contains("without a repository"), "{e}");
    }
}

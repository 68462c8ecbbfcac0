//! The Docker-Engine-API HTTP server: routing, API version negotiation, error mapping and
//! serving on a unix socket. Handlers parse the request, make one [`Backend`] call and render it.

mod archive;
mod attach;
mod build;
mod containers;
mod image_io;
mod objects;
mod stats;
mod system;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use tokio::sync::watch;

use crate::api::models::{ErrorResponse, Filters};
use crate::backend::{Backend, BackendError, ErrorKind};

/// Highest API version served (reported as `ApiVersion`).
pub const API_VERSION: ApiVersion = ApiVersion(1, 45);
/// Lowest API version accepted (reported as `MinAPIVersion`).
pub const MIN_API_VERSION: ApiVersion = ApiVersion(1, 24);

/// An API version `major.minor` as found in the `/vX.Y/` path prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl ApiVersion {
    /// Parses `1.41` (a bare `1` means `1.0`).
    pub fn parse(text: &str) -> Option<Self> {
        let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
        Some(Self(major.parse().ok()?, minor.parse().ok()?))
    }
}

/// Everything a failed request can answer; turned into a status and `{"message": …}` here only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A backend failure, mapped by its [`ErrorKind`].
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The request itself is malformed (query, body, version).
    #[error("{0}")]
    BadRequest(String),
    /// No route for this path.
    #[error("page not found")]
    PageNotFound,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Backend(e) => match e.kind {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
                ErrorKind::Forbidden => StatusCode::FORBIDDEN,
                ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
                ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PageNotFound => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::NOT_MODIFIED {
            return status.into_response();
        }
        if status.is_server_error() {
            tracing::error!(error = %self, "API request failed");
        }
        (
            status,
            axum::Json(ErrorResponse {
                message: self.to_string(),
            }),
        )
            .into_response()
    }
}

/// Result of a handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// What handlers share: the backend and the daemon's shutdown signal (ends streaming answers).
#[derive(Debug)]
pub(crate) struct AppState<B> {
    pub(crate) backend: Arc<B>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl<B> Clone for AppState<B> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// The API as one service over `backend`; streaming answers end only when their client leaves.
pub fn app<B: Backend>(backend: Arc<B>) -> Router {
    let (_never, rx) = watch::channel(false);
    app_with_shutdown(backend, rx)
}

/// The API over `backend`; streaming answers (events, followed logs) end when `shutdown` turns true.
pub fn app_with_shutdown<B: Backend>(backend: Arc<B>, shutdown: watch::Receiver<bool>) -> Router {
    let state = AppState { backend, shutdown };
    let routes = Router::new()
        .route("/_ping", get(system::ping))
        .route("/version", get(system::version::<B>))
        .route("/info", get(system::info::<B>))
        .route("/events", get(system::events::<B>))
        .route("/system/df", get(system::df::<B>))
        .route("/containers/json", get(containers::list::<B>))
        .route("/containers/create", post(containers::create::<B>))
        .route("/containers/{id}", delete(containers::remove::<B>))
        .route("/containers/{id}/json", get(containers::inspect::<B>))
        .route("/containers/{id}/start", post(containers::start::<B>))
        .route("/containers/{id}/stop", post(containers::stop::<B>))
        .route("/containers/{id}/restart", post(containers::restart::<B>))
        .route("/containers/{id}/kill", post(containers::kill::<B>))
        .route("/containers/{id}/wait", post(containers::wait::<B>))
        .route("/containers/{id}/pause", post(containers::pause::<B>))
        .route("/containers/{id}/unpause", post(containers::unpause::<B>))
        .route("/containers/{id}/logs", get(containers::logs::<B>))
        .route("/containers/{id}/top", get(containers::top::<B>))
        .route("/containers/{id}/stats", get(stats::stats::<B>))
        .route("/containers/{id}/rename", post(containers::rename::<B>))
        .route(
            "/containers/{id}/archive",
            put(archive::put::<B>)
                .get(archive::get::<B>)
                .head(archive::head::<B>),
        )
        .route("/containers/{id}/attach", post(attach::attach::<B>))
        .route("/containers/{id}/exec", post(attach::create_exec::<B>))
        .route(
            "/containers/{id}/resize",
            post(attach::resize_container::<B>),
        )
        .route("/exec/{id}/start", post(attach::start_exec::<B>))
        .route("/exec/{id}/resize", post(attach::resize_exec::<B>))
        .route("/exec/{id}/json", get(attach::inspect_exec::<B>))
        .route("/build", post(build::build::<B>))
        .route("/build/prune", post(build::prune::<B>))
        .route("/images/json", get(objects::list_images::<B>))
        .route("/images/create", post(objects::pull_image::<B>))
        .route(
            "/images/{*rest}",
            get(objects::image_get::<B>)
                .post(objects::image_post::<B>)
                .delete(objects::image_delete::<B>),
        )
        .route("/networks", get(objects::list_networks::<B>))
        .route("/networks/create", post(objects::create_network::<B>))
        .route("/networks/prune", post(objects::prune_networks::<B>))
        .route(
            "/networks/{id}",
            get(objects::inspect_network::<B>).delete(objects::remove_network::<B>),
        )
        .route(
            "/networks/{id}/connect",
            post(objects::connect_network::<B>),
        )
        .route(
            "/networks/{id}/disconnect",
            post(objects::disconnect_network::<B>),
        )
        .route("/volumes", get(objects::list_volumes::<B>))
        .route("/volumes/create", post(objects::create_volume::<B>))
        .route("/volumes/prune", post(objects::prune_volumes::<B>))
        .route(
            "/volumes/{name}",
            get(objects::inspect_volume::<B>).delete(objects::remove_volume::<B>),
        )
        .fallback(|| async { ApiError::PageNotFound })
        .method_not_allowed_fallback(|| async { ApiError::PageNotFound })
        .with_state(state);
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(negotiate_version))
}

/// Splits `/v1.41/containers/json` into the version and the rest of the path.
fn split_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (ver, tail) = rest.split_at(end);
    (!ver.is_empty() && ver.chars().all(|c| c.is_ascii_digit() || c == '.')).then_some((ver, tail))
}

/// Strips the `/vX.Y` prefix, rejects versions outside [`MIN_API_VERSION`]..=[`API_VERSION`] with
/// Docker's messages, records the version for handlers and adds Docker's response headers.
async fn negotiate_version(mut req: Request, next: Next) -> Response {
    let mut version = API_VERSION;
    if let Some((text, rest)) = split_version(req.uri().path()) {
        let Some(v) = ApiVersion::parse(text) else {
            return ApiError::BadRequest(format!("invalid API version {text}")).into_response();
        };
        if v < MIN_API_VERSION {
            return ApiError::BadRequest(format!(
                "client version {text} is too old. Minimum supported API version is \
                 {MIN_API_VERSION}, please upgrade your client to a newer version"
            ))
            .into_response();
        }
        if v > API_VERSION {
            return ApiError::BadRequest(format!(
                "client version {text} is too new. Maximum supported API version is {API_VERSION}"
            ))
            .into_response();
        }
        version = v;
        let path = if rest.is_empty() { "/" } else { rest };
        let new_uri = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        match new_uri.parse::<Uri>() {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => return ApiError::PageNotFound.into_response(),
        }
    }
    req.extensions_mut().insert(version);
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&API_VERSION.to_string()) {
        headers.insert("Api-Version", v);
    }
    headers.insert("Ostype", HeaderValue::from_static("linux"));
    headers.insert("Docker-Experimental", HeaderValue::from_static("false"));
    headers.insert(header::SERVER, HeaderValue::from_static("berth (linux)"));
    resp
}

/// Parses the query string into `T` (400 with the reason when it does not fit).
pub(crate) fn parse_query<T: DeserializeOwned>(raw: Option<&str>) -> ApiResult<T> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))
}

/// Parses a JSON body into `T`; an empty body means `T::default()`.
pub(crate) fn parse_body<T: DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Parses the `filters` query parameter.
pub(crate) fn parse_filters(raw: Option<&str>) -> ApiResult<Filters> {
    Filters::parse(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("invalid filter: {e}")))
}

/// Docker's boolean query values: empty, `0`, `no`, `false`, `none` are false; anything else true.
pub(crate) fn qbool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    Ok(v.is_some_and(|s| {
        !matches!(
            s.to_ascii_lowercase().as_str(),
            "" | "0" | "no" | "false" | "none"
        )
    }))
}

/// A streaming answer of `content_type` made of byte chunks.
pub(crate) fn stream_response<S>(content_type: &'static str, stream: S) -> Response
where
    S: futures_util::Stream<Item = bytes::Bytes> + Send + 'static,
{
    let body = Body::from_stream(futures_util::StreamExt::map(
        stream,
        Ok::<_, std::convert::Infallible>,
    ));
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Waits until `shutdown` turns true; never returns when its sender is gone without that.
pub(crate) async fn shutdown_requested(mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|down| *down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix_is_split_from_path() {
        assert_eq!(
            split_version("/v1.41/containers/json"),
            Some(("1.41", "/containers/json"))
        );
        assert_eq!(split_version("/v1.24"), Some(("1.24", "")));
        assert_eq!(split_version("/volumes"), None);
        assert_eq!(split_version("/version"), None);
        assert_eq!(ApiVersion::parse("1.9"), Some(ApiVersion(1, 9)));
        assert!(ApiVersion(1, 9) < ApiVersion(1, 24));
    }
}

//! `/images/…`, `/networks/…` and `/volumes/…` handlers.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;

use super::{ApiError, ApiResult, AppState, parse_body, parse_filters, parse_query, qbool};
use crate::api::models::{
    ImageSummary, Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse, Volume, VolumeCreateRequest,
    VolumeListResponse,
};
use crate::backend::Backend;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListQuery {
    #[serde(deserialize_with = "qbool")]
    all: bool,
    filters: Option<String>,
}

pub(super) async fn list_images<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<ImageSummary>>> {
    let q: ListQuery = parse_query(raw.as_deref())?;
    let filters = parse_filters(q.filters.as_deref())?;
    Ok(Json(st.backend.list_images(q.all, filters).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PullQuery {
    from_image: Option<String>,
    tag: Option<String>,
    platform: Option<String>,
}

pub(super) async fn pull_image<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    if raw.as_deref().is_some_and(|q| q.contains("fromSrc=")) {
        return super::image_io::import(st, raw.as_deref(), body).await;
    }
    let q: PullQuery = parse_query(raw.as_deref())?;
    let opts = crate::backend::PullImageOptions {
        platform: q.platform.filter(|p| !p.is_empty()),
        registry_auth: headers
            .get("x-registry-auth")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let Some(image) = q.from_image.filter(|i| !i.is_empty()) else {
        return Err(ApiError::BadRequest("fromImage is required".to_owned()));
    };
    let progress = st
        .backend
        .pull_image_with(&image, q.tag.as_deref(), opts)
        .await?;
    let lines = progress.map(|m| super::image_io::progress_line(&m));
    Ok(super::stream_response("application/json", lines))
}

/// `GET /images/{name}/json`, where the name may contain slashes (also `/images/get`,
/// `/images/{name}/get` and `/images/{name}/history`).
pub(super) async fn image_get<B: Backend>(
    State(st): State<AppState<B>>,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    if rest == "get" {
        let names = super::image_io::save_names(raw.as_deref())?;
        return super::image_io::save(st, names).await;
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return super::image_io::save(st, vec![name.to_owned()]).await;
    }
    if let Some(name) = rest.strip_suffix("/history") {
        return super::image_io::history(st, name).await;
    }
    let Some(name) = rest.strip_suffix("/json") else {
        return Err(ApiError::PageNotFound);
    };
    Ok(Json(st.backend.inspect_image(name).await?).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TagQuery {
    repo: String,
    tag: Option<String>,
}

/// `POST /images/{name}/tag` and `POST /images/{name}/push`.
pub(super) async fn image_post<B: Backend>(
    State(st): State<AppState<B>>,
    Path(rest): Path<String>,
    RawQuery(raw): RawQuery,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    match rest.as_str() {
        "load" => return super::image_io::load(st, body).await,
        "prune" => return super::image_io::prune(st, raw.as_deref()).await,
        _ => {}
    }
    if let Some(name) = rest.strip_suffix("/push") {
        return super::image_io::push(st, name, raw.as_deref(), &headers).await;
    }
    let Some(name) = rest.strip_suffix("/tag") else {
        return Err(ApiError::PageNotFound);
    };
    let q: TagQuery = parse_query(raw.as_deref())?;
    st.backend
        .tag_image(name, &q.repo, q.tag.as_deref())
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ImageRemoveQuery {
    #[serde(deserialize_with = "qbool")]
    force: bool,
}

/// `DELETE /images/{name}`.
pub(super) async fn image_delete<B: Backend>(
    State(st): State<AppState<B>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: ImageRemoveQuery = parse_query(raw.as_deref())?;
    Ok(Json(st.backend.remove_image(&name, q.force).await?).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FiltersQuery {
    filters: Option<String>,
}

pub(super) async fn list_networks<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<Network>>> {
    let q: FiltersQuery = parse_query(raw.as_deref())?;
    Ok(Json(
        st.backend
            .list_networks(parse_filters(q.filters.as_deref())?)
            .await?,
    ))
}

pub(super) async fn inspect_network<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Network>> {
    Ok(Json(st.backend.inspect_network(&id).await?))
}

pub(super) async fn create_network<B: Backend>(
    State(st): State<AppState<B>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<NetworkCreateResponse>)> {
    let req: NetworkCreateRequest = parse_body(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(st.backend.create_network(req).await?),
    ))
}

pub(super) async fn remove_network<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.backend.remove_network(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn prune_networks<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<NetworkPruneResponse>> {
    let q: FiltersQuery = parse_query(raw.as_deref())?;
    let filters = parse_filters(q.filters.as_deref())?;
    Ok(Json(NetworkPruneResponse {
        networks_deleted: st.backend.prune_networks(filters).await?,
    }))
}

pub(super) async fn connect_network<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let req: NetworkConnectRequest = parse_body(&body)?;
    st.backend.connect_network(&id, req).await?;
    Ok(StatusCode::OK)
}

pub(super) async fn disconnect_network<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let req: NetworkDisconnectRequest = parse_body(&body)?;
    st.backend.disconnect_network(&id, req).await?;
    Ok(StatusCode::OK)
}

pub(super) async fn list_volumes<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<VolumeListResponse>> {
    let q: FiltersQuery = parse_query(raw.as_deref())?;
    Ok(Json(
        st.backend
            .list_volumes(parse_filters(q.filters.as_deref())?)
            .await?,
    ))
}

pub(super) async fn create_volume<B: Backend>(
    State(st): State<AppState<B>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Volume>)> {
    let req: VolumeCreateRequest = parse_body(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(st.backend.create_volume(req).await?),
    ))
}

pub(super) async fn inspect_volume<B: Backend>(
    State(st): State<AppState<B>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Volume>> {
    Ok(Json(st.backend.inspect_volume(&name).await?))
}

pub(super) async fn remove_volume<B: Backend>(
    State(st): State<AppState<B>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<StatusCode> {
    let q: ImageRemoveQuery = parse_query(raw.as_deref())?;
    st.backend.remove_volume(&name, q.force).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn prune_volumes<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<crate::api::models::VolumePruneResponse>> {
    let q: FiltersQuery = parse_query(raw.as_deref())?;
    Ok(Json(
        st.backend
            .prune_volumes(parse_filters(q.filters.as_deref())?)
            .await?,
    ))
}

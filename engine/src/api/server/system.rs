//! `/_ping`, `/version`, `/info` and the `/events` stream.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast;

use super::{
    API_VERSION, ApiError, ApiResult, AppState, MIN_API_VERSION, parse_filters, parse_query,
};
use crate::api::models::{
    ComponentVersion, EventMessage, Filters, Info, Platform, SystemDf, Version,
};
use crate::backend::Backend;

pub(super) async fn ping() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
        ],
        "OK",
    )
        .into_response()
}

pub(super) async fn version<B: Backend>(State(st): State<AppState<B>>) -> ApiResult<Json<Version>> {
    let info = st.backend.info().await?;
    let engine = env!("CARGO_PKG_VERSION").to_owned();
    Ok(Json(Version {
        platform: Platform {
            name: "berth".to_owned(),
        },
        components: vec![ComponentVersion {
            name: "Engine".to_owned(),
            version: engine.clone(),
            details: Some(
                [
                    ("ApiVersion".to_owned(), API_VERSION.to_string()),
                    ("MinAPIVersion".to_owned(), MIN_API_VERSION.to_string()),
                    ("Os".to_owned(), "linux".to_owned()),
                    ("Arch".to_owned(), go_arch().to_owned()),
                ]
                .into(),
            ),
        }],
        version: engine,
        api_version: API_VERSION.to_string(),
        min_api_version: MIN_API_VERSION.to_string(),
        git_commit: String::new(),
        go_version: "n/a (Rust)".to_owned(),
        os: "linux".to_owned(),
        arch: go_arch().to_owned(),
        kernel_version: info.kernel_version,
        build_time: String::new(),
    }))
}

/// Architecture in Go's spelling, as Docker reports it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub(super) async fn info<B: Backend>(State(st): State<AppState<B>>) -> ApiResult<Json<Info>> {
    Ok(Json(st.backend.info().await?))
}

pub(super) async fn df<B: Backend>(State(st): State<AppState<B>>) -> ApiResult<Json<SystemDf>> {
    Ok(Json(st.backend.system_df().await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventsQuery {
    since: Option<String>,
    until: Option<String>,
    filters: Option<String>,
}

/// Unix seconds from Docker's `since`/`until` (`1700000000` or `1700000000.000000001`).
fn parse_time(text: &str) -> ApiResult<i64> {
    let secs = text.split('.').next().unwrap_or(text);
    secs.parse()
        .map_err(|_| ApiError::BadRequest(format!("invalid timestamp: {text}")))
}

/// Docker's event filters: `type`, `event`, `container`, `image`, `network`, `volume`, `label`.
pub(crate) fn event_matches(f: &Filters, e: &EventMessage) -> bool {
    let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
    let object =
        |typ: &str, v: &str| e.typ == typ && (e.actor.id.starts_with(v) || attr("name") == v);
    f.any("type", |v| e.typ == v)
        // `health_status: healthy` and `exec_start: sh` match `health_status`, `exec_start`.
        && f.any("event", |v| e.action == v || e.action.split(':').next() == Some(v))
        && f.any("container", |v| object("container", v))
        && f.any("image", |v| object("image", v) || attr("image") == v)
        && f.any("network", |v| object("network", v))
        && f.any("volume", |v| object("volume", v))
        && f.get("label").iter().all(|l| match l.split_once('=') {
            Some((k, v)) => attr(k) == v,
            None => e.actor.attributes.contains_key(l.as_str()),
        })
}

fn encode(e: &EventMessage) -> Bytes {
    let mut line = serde_json::to_vec(e).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub(super) async fn events<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: EventsQuery = parse_query(raw.as_deref())?;
    let filters = parse_filters(q.filters.as_deref())?;
    let since = q.since.as_deref().map(parse_time).transpose()?;
    let until = q.until.as_deref().map(parse_time).transpose()?;
    let (history, rx) = st.backend.events(since);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let in_window = move |e: &EventMessage| until.is_none_or(|u| e.time <= u);
    let history: VecDeque<EventMessage> = history
        .into_iter()
        .filter(|e| in_window(e) && event_matches(&filters, e))
        .collect();
    // Live events are only wanted when the window reaches into the future.
    let live_for = match until {
        Some(u) if u <= now => None,
        Some(u) => Some(Some(Duration::from_secs((u - now) as u64))),
        None => Some(None),
    };
    let deadline = live_for.flatten().map(|d| tokio::time::Instant::now() + d);
    let shutdown = st.shutdown.clone();
    let state = (history, live_for.map(|_| rx), filters);
    let stream = futures_util::stream::unfold(state, move |(mut history, mut rx, filters)| {
        let shutdown = shutdown.clone();
        async move {
            if let Some(e) = history.pop_front() {
                return Some((encode(&e), (history, rx, filters)));
            }
            let live = rx.as_mut()?;
            loop {
                let sleep = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    msg = live.recv() => match msg {
                        Ok(e) if event_matches(&filters, &e) => return Some((encode(&e), (history, rx, filters))),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    () = sleep => return None,
                    () = super::shutdown_requested(shutdown.clone()) => return None,
                }
            }
        }
    });
    Ok(super::stream_response("application/json", stream))
}

//! `GET /containers/{id}/stats`: Docker's stats documents, one (`stream=0`) or one a second
//! (`stream=1`, the default) until the container stops. Each document carries the previous
//! sample as `precpu_stats`/`preread`; `stream=0` waits for a second sample unless
//! `one-shot=1`, so clients can compute CPU rates from a single document, as with dockerd.

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;

use super::{ApiResult, AppState, parse_query};
use crate::api::models::ContainerStats;
use crate::backend::Backend;

/// Time between two streamed samples.
const INTERVAL: Duration = Duration::from_secs(1);
/// Time between the two samples of a `stream=0` answer.
const PRE_SAMPLE: Duration = Duration::from_millis(500);
/// `read` of a stopped container's empty sample.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Deserialize)]
#[serde(default)]
struct StatsQuery {
    #[serde(deserialize_with = "super::qbool")]
    stream: bool,
    #[serde(rename = "one-shot", deserialize_with = "super::qbool")]
    one_shot: bool,
}

impl Default for StatsQuery {
    fn default() -> Self {
        Self {
            stream: true,
            one_shot: false,
        }
    }
}

/// `next` with the previous sample's CPU and time as its `pre` fields.
pub fn with_previous(mut next: ContainerStats, prev: Option<&ContainerStats>) -> ContainerStats {
    if let Some(p) = prev {
        next.precpu_stats = p.cpu_stats.clone();
        next.preread = p.read.clone();
    }
    next
}

fn document(s: &ContainerStats) -> bytes::Bytes {
    let mut v = serde_json::to_vec(s).unwrap_or_default();
    v.push(b'\n');
    bytes::Bytes::from(v)
}

pub(super) async fn stats<B: Backend>(
    State(st): State<AppState<B>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let q: StatsQuery = parse_query(raw.as_deref())?;
    let first = st.backend.container_stats(&id).await?;
    if !q.stream {
        let doc = match q.one_shot || first.read == ZERO_TIME {
            true => first,
            false => {
                tokio::time::sleep(PRE_SAMPLE).await;
                let next = st.backend.container_stats(&id).await?;
                with_previous(next, Some(&first))
            }
        };
        return Ok(super::stream_response(
            "application/json",
            futures_util::stream::once(async move { document(&doc) }),
        ));
    }
    let backend = st.backend.clone();
    let shutdown = Box::pin(super::shutdown_requested(st.shutdown.clone()));
    let docs = futures_util::stream::unfold(
        (backend, id, None::<ContainerStats>, Some(first)),
        |(backend, id, prev, ready)| async move {
            let sample = match ready {
                Some(s) => s,
                None => {
                    tokio::time::sleep(INTERVAL).await;
                    backend.container_stats(&id).await.ok()?
                }
            };
            // A stopped container ends the stream after its empty sample.
            if prev.is_some() && sample.read == ZERO_TIME {
                return None;
            }
            let doc = with_previous(sample.clone(), prev.as_ref());
            Some((document(&doc), (backend, id, Some(sample), None)))
        },
    );
    let docs = futures_util::StreamExt::take_until(docs, shutdown);
    Ok(super::stream_response("application/json", docs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_sample_fills_precpu_and_preread() {
        let mut a = ContainerStats {
            read: "t1".into(),
            ..ContainerStats::default()
        };
        a.cpu_stats.cpu_usage.total_usage = 10;
        let b = ContainerStats {
            read: "t2".into(),
            ..ContainerStats::default()
        };
        let c = with_previous(b, Some(&a));
        assert_eq!(c.preread, "t1");
        assert_eq!(c.precpu_stats.cpu_usage.total_usage, 10);
    }
}

//! `POST /build`: Docker's query string to [`BuildOptions`], the tar context body to the
//! backend, and the progress as a stream of JSON messages.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{ApiError, ApiResult, AppState};
use crate::api::models::BuildOptions;
use crate::backend::Backend;

fn json_map(key: &str, value: &str) -> ApiResult<std::collections::BTreeMap<String, String>> {
    if value.is_empty() {
        return Ok(Default::default());
    }
    let map: std::collections::BTreeMap<String, Option<String>> = serde_json::from_str(value)
        .map_err(|e| ApiError::BadRequest(format!("invalid {key}: {e}")))?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "true" | "True" | "yes")
}

/// Parses the query of `POST /build` (`t` may repeat).
pub(crate) fn parse_build_query(raw: Option<&str>) -> ApiResult<BuildOptions> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?;
    let mut o = BuildOptions {
        dockerfile: "Dockerfile".into(),
        network: "default".into(),
        ..BuildOptions::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "dockerfile" if !v.is_empty() => o.dockerfile = v,
            "t" if !v.is_empty() => o.tags.push(v),
            "buildargs" => o.build_args = json_map("buildargs", &v)?,
            "labels" => o.labels = json_map("labels", &v)?,
            "target" if !v.is_empty() => o.target = Some(v),
            "nocache" => o.no_cache = truthy(&v),
            "q" => o.quiet = truthy(&v),
            "networkmode" if !v.is_empty() => o.network = v,
            "remote" if !v.is_empty() => {
                return Err(ApiError::BadRequest(
                    "remote build contexts are not supported; send the context as the body".into(),
                ));
            }
            _ => {}
        }
    }
    Ok(o)
}

pub(super) async fn build<B: Backend>(
    State(st): State<AppState<B>>,
    RawQuery(raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let opts = parse_build_query(raw.as_deref())?;
    let context = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::BadRequest(format!("cannot read the build context: {e}")))?;
    let progress = st.backend.build_image(opts, context).await?;
    let lines = progress.map(|m| {
        let mut line = serde_json::to_vec(&m).unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        Bytes::from(line)
    });
    Ok(super::stream_response("application/json", lines))
}

/// `POST /build/prune`.
pub(super) async fn prune<B: Backend>(
    State(st): State<AppState<B>>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let reclaimed = st.backend.prune_build_cache().await?;
    Ok(axum::Json(serde_json::json!({
        "CachesDeleted": [],
        "SpaceReclaimed": reclaimed,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_maps_to_options() {
        let o = parse_build_query(Some(
            "t=a%3A1&t=b&dockerfile=sub%2FDf&buildargs=%7B%22X%22%3A%221%22%2C%22N%22%3Anull%7D&labels=%7B%22l%22%3A%22v%22%7D&target=final&nocache=1&q=true&networkmode=host",
        ))
        .unwrap();
        assert_eq!(o.tags, ["a:1", "b"]);
        assert_eq!(o.dockerfile, "sub/Df");
        assert_eq!(o.build_args.len(), 1);
        assert_eq!(o.build_args["X"], "1");
        assert_eq!(o.labels["l"], "v");
        assert_eq!(o.target.as_deref(), Some("final"));
        assert!(o.no_cache && o.quiet);
        assert_eq!(o.network, "host");
        let d = parse_build_query(None).unwrap();
        assert_eq!(
            (d.dockerfile.as_str(), d.network.as_str()),
            ("Dockerfile", "default")
        );
        assert!(parse_build_query(Some("buildargs=notjson")).is_err());
        assert!(parse_build_query(Some("remote=http%3A%2F%2Fx")).is_err());
    }
}

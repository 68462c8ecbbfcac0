//! `docker save`, `docker load`, `docker history` and `docker image prune` for the typed
//! client.

use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::Method;

use super::{Client, ClientError, ClientResult, json_stream, query};
use crate::api::models::{HistoryResponseItem, ImagePruneResponse};

/// One line of `POST /images/load`'s answer.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct LoadLine {
    stream: String,
    error: Option<String>,
}

impl Client {
    /// `GET /images/get?names=…`: writes the `docker save` tarball of `names` to `out` as it
    /// arrives; returns the bytes written.
    pub async fn save_images(
        &self,
        names: &[&str],
        out: &mut (dyn std::io::Write + Send),
    ) -> ClientResult<u64> {
        let q = query(names.iter().map(|n| ("names", *n)).collect::<Vec<_>>());
        let resp = self.request(Method::GET, "/images/get", &q, None).await?;
        let mut body = resp.into_body();
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                out.write_all(&data).map_err(ClientError::Io)?;
                written += data.len() as u64;
            }
        }
        out.flush().map_err(ClientError::Io)?;
        Ok(written)
    }

    /// `POST /images/load`: loads a `docker save` or OCI archive; returns the engine's
    /// `Loaded image: …` lines.
    pub async fn load_images(
        &self,
        archive: impl Into<bytes::Bytes>,
        quiet: bool,
    ) -> ClientResult<Vec<String>> {
        let uri = format!(
            "/v{}/images/load?{}",
            self.version,
            query([("quiet", quiet)])
        );
        let resp = self
            .request_body(
                Method::POST,
                &uri,
                archive.into(),
                Some("application/x-tar"),
                &[],
            )
            .await?;
        let lines: Vec<LoadLine> = json_stream(resp)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        if let Some(err) = lines.iter().find_map(|l| l.error.clone()) {
            return Err(ClientError::Stream(err));
        }
        Ok(lines
            .into_iter()
            .map(|l| l.stream.trim_end().to_owned())
            .filter(|l| !l.is_empty())
            .collect())
    }

    /// `GET /images/{name}/history`, newest step first.
    pub async fn image_history(&self, name: &str) -> ClientResult<Vec<HistoryResponseItem>> {
        self.call(Method::GET, &format!("/images/{name}/history"), "", None)
            .await
    }

    /// `POST /images/prune`: unused image data; with `all`, every image no container uses.
    pub async fn prune_images(&self, all: bool) -> ClientResult<ImagePruneResponse> {
        let q = if all {
            query([("filters", r#"{"dangling":["false"]}"#)])
        } else {
            String::new()
        };
        self.call(Method::POST, "/images/prune", &q, None).await
    }
}

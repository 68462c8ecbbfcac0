//! Client side of `GET /containers/{id}/stats`: one document, or one a second until the
//! container stops.

use hyper::Method;

use super::{Client, ClientResult, json_stream, query};
use crate::api::models::ContainerStats;
use crate::backend::BoxStream;

impl Client {
    /// `GET /containers/{id}/stats?stream=…`: with `stream` false, a single document (with its
    /// previous sample, so CPU rates can be computed).
    pub async fn stats(
        &self,
        id: &str,
        stream: bool,
    ) -> ClientResult<BoxStream<ClientResult<ContainerStats>>> {
        let q = query([("stream", stream)]);
        let resp = self
            .request(Method::GET, &format!("/containers/{id}/stats"), &q, None)
            .await?;
        Ok(Box::pin(json_stream(resp)))
    }

    /// One stats document of container `id`.
    pub async fn stats_once(&self, id: &str) -> ClientResult<ContainerStats> {
        use futures_util::StreamExt as _;
        let mut s = self.stats(id, false).await?;
        match s.next().await {
            Some(doc) => doc,
            None => Err(super::ClientError::Stream(format!(
                "no stats document for {id}"
            ))),
        }
    }
}

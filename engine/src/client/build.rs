//! `POST /build` and `POST /build/prune` for the typed client.

use futures_util::StreamExt;
use hyper::Method;

use super::{Client, ClientResult, json_stream, query};
use crate::api::models::{BuildMessage, BuildOptions};
use crate::backend::BoxStream;

/// The query string of `POST /build` for `opts`.
pub fn build_query(opts: &BuildOptions) -> String {
    let mut q: Vec<(&str, String)> = Vec::new();
    for t in &opts.tags {
        q.push(("t", t.clone()));
    }
    if !opts.dockerfile.is_empty() {
        q.push(("dockerfile", opts.dockerfile.clone()));
    }
    if !opts.build_args.is_empty() {
        q.push((
            "buildargs",
            serde_json::to_string(&opts.build_args).unwrap_or_default(),
        ));
    }
    if !opts.labels.is_empty() {
        q.push((
            "labels",
            serde_json::to_string(&opts.labels).unwrap_or_default(),
        ));
    }
    if let Some(t) = &opts.target {
        q.push(("target", t.clone()));
    }
    if opts.no_cache {
        q.push(("nocache", "1".into()));
    }
    if opts.quiet {
        q.push(("q", "1".into()));
    }
    if !opts.network.is_empty() {
        q.push(("networkmode", opts.network.clone()));
    }
    query(&q)
}

impl Client {
    /// `POST /build` with a tar `context`: the build's progress messages as they come (an
    /// error half-way arrives as a message with `error` set).
    pub async fn build_image(
        &self,
        opts: &BuildOptions,
        context: Vec<u8>,
    ) -> ClientResult<BoxStream<ClientResult<BuildMessage>>> {
        let resp = self
            .request(Method::POST, "/build", &build_query(opts), Some(context))
            .await?;
        Ok(json_stream::<BuildMessage>(resp).boxed())
    }

    /// `POST /build/prune`: removes the build cache; returns the bytes reclaimed.
    pub async fn prune_build_cache(&self) -> ClientResult<u64> {
        let v: serde_json::Value = self.call(Method::POST, "/build/prune", "", None).await?;
        Ok(v["SpaceReclaimed"].as_u64().unwrap_or(0))
    }
}

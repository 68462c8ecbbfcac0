//! A typed, async Docker-Engine-API client (in the style of bollard) for the CLI and the compose
//! executor. It talks to berth's engine, or to any Docker-compatible engine, over a unix socket or
//! TCP, one HTTP/1.1 connection per request.

mod archive;
mod build;
mod hijack;
mod images_io;
mod interactive;
mod runtime;
mod stats;
mod stream;
mod transport;

pub use build::build_query;
pub use hijack::ExecOutput;
pub use interactive::{Session, SessionInput};
pub use stream::{Demuxer, JsonLines, LogOutput, looks_multiplexed};
pub use transport::{DEFAULT_HOST, Host};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspect, ContainerSummary,
    ContainerWaitResponse, ErrorResponse, EventMessage, Filters, ImageInspect, ImageSummary, Info,
    Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, ProgressMessage, SystemDf, Version, Volume, VolumeCreateRequest,
    VolumeListResponse,
};
use crate::backend::{BoxStream, ListContainersOptions, LogsOptions, WaitCondition};

/// API version the client speaks until [`Client::negotiate_version`] says otherwise.
pub const CLIENT_API_VERSION: &str = "1.41";

/// The `X-Registry-Auth` value of no credentials: base64url of `{}`.
const EMPTY_REGISTRY_AUTH: &str = "e30=";

/// Failures of client calls.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `DOCKER_HOST` (or the given host) is not a usable address.
    #[error("invalid engine host {host:?}: {reason}")]
    InvalidHost {
        /// The value given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The socket or TCP address could not be reached.
    #[error("cannot connect to the engine at {host}")]
    Connect {
        /// The address tried.
        host: String,
        /// Why connecting failed.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP exchange with the engine failed")]
    Http(#[from] hyper::Error),
    /// The engine answered with an error status.
    #[error("engine error {status}: {message}")]
    Api {
        /// HTTP status code.
        status: u16,
        /// The engine's `message`.
        message: String,
    },
    /// Reading a taken-over (attach, exec) connection failed.
    #[error("reading the engine's stream failed")]
    Io(#[source] std::io::Error),
    /// A streamed operation reported an error half-way (e.g. a failed pull).
    #[error("engine stream error: {0}")]
    Stream(String),
    /// The answer could not be decoded.
    #[error("cannot decode the engine's answer")]
    Decode(#[from] serde_json::Error),
    /// The request could not be built (bad characters in a name, …).
    #[error("cannot build request: {0}")]
    Request(#[from] hyper::http::Error),
}

impl ClientError {
    /// The HTTP status of an engine error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a 404 answer.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Result of client calls.
pub type ClientResult<T> = Result<T, ClientError>;

/// A handle on one engine. Cheap to clone; holds no connection.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    version: String,
}

fn query<T: Serialize>(pairs: T) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

impl Client {
    /// A client for `host` (`unix:///path` or `tcp://host:port`).
    pub fn new(host: &str) -> ClientResult<Self> {
        Ok(Self {
            host: Host::parse(host)?,
            version: CLIENT_API_VERSION.to_owned(),
        })
    }

    /// A client for `DOCKER_HOST`, or [`DEFAULT_HOST`] when it is unset or empty.
    pub fn from_env() -> ClientResult<Self> {
        let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        Self::new(host.as_deref().unwrap_or(DEFAULT_HOST))
    }

    /// The engine address.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The API version used in request paths.
    pub fn api_version(&self) -> &str {
        &self.version
    }

    /// Pings the engine and lowers the API version to the engine's when the engine is older.
    pub async fn negotiate_version(&mut self) -> ClientResult<()> {
        let resp = self.request(Method::GET, "/_ping", "", None).await?;
        let engine = resp
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(engine) = engine {
            let parse = |v: &str| crate::api::server::ApiVersion::parse(v);
            if let (Some(e), Some(c)) = (parse(&engine), parse(&self.version)) {
                if e < c {
                    self.version = engine;
                }
            }
        }
        Ok(())
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<Vec<u8>>,
    ) -> ClientResult<Response<Incoming>> {
        let mut uri = format!("/v{}{path}", self.version);
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(query);
        }
        let content_type = body.is_some().then_some("application/json");
        let body = Bytes::from(body.unwrap_or_default());
        self.request_body(method, &uri, body, content_type, &[])
            .await
    }

    /// Sends `body` to `uri` (already versioned) with `content_type`; error answers become
    /// [`ClientError::Api`].
    async fn request_body(
        &self,
        method: Method,
        uri: &str,
        body: Bytes,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> ClientResult<Response<Incoming>> {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, self.host.authority());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let req = req.body(Full::new(body))?;
        let resp = transport::send(&self.host, req).await?;
        if resp.status().as_u16() < 400 {
            return Ok(resp);
        }
        Err(self.error_from(resp).await)
    }

    /// The typed error of an error answer (`{"message": …}` or plain text).
    async fn error_from(&self, resp: Response<Incoming>) -> ClientError {
        let status = resp.status().as_u16();
        let bytes = match resp.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => return ClientError::Http(e),
        };
        let message = serde_json::from_slice::<ErrorResponse>(&bytes)
            .map(|e| e.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_owned());
        ClientError::Api { status, message }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<Vec<u8>>,
    ) -> ClientResult<T> {
        let resp = self.request(method, path, query, body).await?;
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&bytes)?)
    }

    async fn call_empty(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<Vec<u8>>,
    ) -> ClientResult<()> {
        let resp = self.request(method, path, query, body).await?;
        resp.into_body().collect().await?;
        Ok(())
    }

    /// `GET /_ping`.
    pub async fn ping(&self) -> ClientResult<()> {
        self.call_empty(Method::GET, "/_ping", "", None).await
    }

    /// `GET /version`.
    pub async fn version(&self) -> ClientResult<Version> {
        self.call(Method::GET, "/version", "", None).await
    }

    /// `GET /info`.
    pub async fn info(&self) -> ClientResult<Info> {
        self.call(Method::GET, "/info", "", None).await
    }

    /// `GET /system/df`.
    pub async fn system_df(&self) -> ClientResult<SystemDf> {
        self.call(Method::GET, "/system/df", "", None).await
    }

    /// `GET /containers/json`.
    pub async fn list_containers(
        &self,
        opts: &ListContainersOptions,
    ) -> ClientResult<Vec<ContainerSummary>> {
        let mut q = vec![("all", opts.all.to_string())];
        if let Some(limit) = opts.limit {
            q.push(("limit", limit.to_string()));
        }
        if !opts.filters.is_empty() {
            q.push(("filters", opts.filters.to_query_value()));
        }
        self.call(Method::GET, "/containers/json", &query(&q), None)
            .await
    }

    /// `POST /containers/create`.
    pub async fn create_container(
        &self,
        name: Option<&str>,
        body: &ContainerCreateBody,
    ) -> ClientResult<ContainerCreateResponse> {
        let q = name.map(|n| query([("name", n)])).unwrap_or_default();
        self.call(
            Method::POST,
            "/containers/create",
            &q,
            Some(serde_json::to_vec(body)?),
        )
        .await
    }

    /// `GET /containers/{id}/json`.
    pub async fn inspect_container(&self, id: &str) -> ClientResult<ContainerInspect> {
        self.call(Method::GET, &format!("/containers/{id}/json"), "", None)
            .await
    }

    /// `POST /containers/{id}/start` (already running is not an error).
    pub async fn start_container(&self, id: &str) -> ClientResult<()> {
        self.call_empty(Method::POST, &format!("/containers/{id}/start"), "", None)
            .await
    }

    /// `POST /containers/{id}/stop` with an optional grace period in seconds.
    pub async fn stop_container(&self, id: &str, timeout: Option<i64>) -> ClientResult<()> {
        let q = timeout.map(|t| query([("t", t)])).unwrap_or_default();
        self.call_empty(Method::POST, &format!("/containers/{id}/stop"), &q, None)
            .await
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart_container(&self, id: &str, timeout: Option<i64>) -> ClientResult<()> {
        let q = timeout.map(|t| query([("t", t)])).unwrap_or_default();
        self.call_empty(Method::POST, &format!("/containers/{id}/restart"), &q, None)
            .await
    }

    /// `POST /containers/{id}/kill` (default signal SIGKILL).
    pub async fn kill_container(&self, id: &str, signal: Option<&str>) -> ClientResult<()> {
        let q = signal.map(|s| query([("signal", s)])).unwrap_or_default();
        self.call_empty(Method::POST, &format!("/containers/{id}/kill"), &q, None)
            .await
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove_container(&self, id: &str, force: bool, volumes: bool) -> ClientResult<()> {
        let q = query([("force", force), ("v", volumes)]);
        self.call_empty(Method::DELETE, &format!("/containers/{id}"), &q, None)
            .await
    }

    /// `POST /containers/{id}/rename`.
    pub async fn rename_container(&self, id: &str, new_name: &str) -> ClientResult<()> {
        let q = query([("name", new_name)]);
        self.call_empty(Method::POST, &format!("/containers/{id}/rename"), &q, None)
            .await
    }

    /// `POST /containers/{id}/wait`.
    pub async fn wait_container(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> ClientResult<ContainerWaitResponse> {
        let c = match condition {
            WaitCondition::NotRunning => "not-running",
            WaitCondition::NextExit => "next-exit",
            WaitCondition::Removed => "removed",
        };
        self.call(
            Method::POST,
            &format!("/containers/{id}/wait"),
            &query([("condition", c)]),
            None,
        )
        .await
    }

    /// `GET /containers/{id}/logs`, demultiplexed into stdout/stderr pieces.
    pub async fn logs(
        &self,
        id: &str,
        opts: &LogsOptions,
    ) -> ClientResult<BoxStream<ClientResult<LogOutput>>> {
        let mut q = vec![
            ("stdout", opts.stdout.to_string()),
            ("stderr", opts.stderr.to_string()),
            ("follow", opts.follow.to_string()),
            ("timestamps", opts.timestamps.to_string()),
        ];
        if let Some(t) = opts.tail {
            q.push(("tail", t.to_string()));
        }
        let resp = self
            .request(
                Method::GET,
                &format!("/containers/{id}/logs"),
                &query(&q),
                None,
            )
            .await?;
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // None: decide from the first bytes (engines before 1.42 always say raw-stream).
        let mode = match content_type {
            "application/vnd.docker.multiplexed-stream" => Some(true),
            "application/vnd.docker.raw-stream" if self.version_at_least(1, 42) => Some(false),
            _ => None,
        };
        let out = decode_output(body_chunks(resp), mode);
        Ok(Box::pin(out))
    }

    fn version_at_least(&self, major: u32, minor: u32) -> bool {
        crate::api::server::ApiVersion::parse(&self.version)
            .is_some_and(|v| v >= crate::api::server::ApiVersion(major, minor))
    }

    /// `GET /images/json`.
    pub async fn list_images(
        &self,
        all: bool,
        filters: &Filters,
    ) -> ClientResult<Vec<ImageSummary>> {
        let mut q = vec![("all", all.to_string())];
        if !filters.is_empty() {
            q.push(("filters", filters.to_query_value()));
        }
        self.call(Method::GET, "/images/json", &query(&q), None)
            .await
    }

    /// `GET /images/{name}/json`.
    pub async fn inspect_image(&self, name: &str) -> ClientResult<ImageInspect> {
        self.call(Method::GET, &format!("/images/{name}/json"), "", None)
            .await
    }

    /// `DELETE /images/{name}`.
    pub async fn remove_image(&self, name: &str, force: bool) -> ClientResult<()> {
        let q = query([("force", force)]);
        self.call_empty(Method::DELETE, &format!("/images/{name}"), &q, None)
            .await
    }

    /// `POST /images/create`: pulls `image` (with `tag`) and returns the progress messages; an
    /// error reported half-way becomes [`ClientError::Stream`].
    pub async fn pull_image(
        &self,
        image: &str,
        tag: Option<&str>,
    ) -> ClientResult<Vec<ProgressMessage>> {
        let mut q = vec![("fromImage", image)];
        if let Some(t) = tag {
            q.push(("tag", t));
        }
        let resp = self
            .request(Method::POST, "/images/create", &query(&q), None)
            .await?;
        let mut messages: Vec<ProgressMessage> = json_stream(resp)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        if let Some(err) = messages.iter_mut().find_map(|m| m.error.take()) {
            return Err(ClientError::Stream(err));
        }
        Ok(messages)
    }

    /// `POST /images/create?fromImage=`: pulls `image` (`tag` may be a tag or a digest) for
    /// `platform`, sending `registry_auth` as `X-Registry-Auth`, and streams the progress
    /// messages as they come; an error reported half-way becomes [`ClientError::Stream`].
    pub async fn pull_image_stream(
        &self,
        image: &str,
        tag: Option<&str>,
        platform: Option<&str>,
        registry_auth: Option<&str>,
    ) -> ClientResult<BoxStream<ClientResult<ProgressMessage>>> {
        let mut q = vec![("fromImage", image)];
        if let Some(t) = tag {
            q.push(("tag", t));
        }
        if let Some(p) = platform {
            q.push(("platform", p));
        }
        let uri = format!("/v{}/images/create?{}", self.version, query(&q));
        self.registry_progress(&uri, registry_auth).await
    }

    /// `POST /images/{name}/push`: pushes the local image `name` (`tag` if given), sending
    /// `registry_auth` as `X-Registry-Auth`; streams the progress messages, an error reported
    /// half-way becoming [`ClientError::Stream`].
    pub async fn push_image_stream(
        &self,
        name: &str,
        tag: Option<&str>,
        registry_auth: Option<&str>,
    ) -> ClientResult<BoxStream<ClientResult<ProgressMessage>>> {
        let q = tag.map(|t| query([("tag", t)])).unwrap_or_default();
        let mut uri = format!("/v{}/images/{name}/push", self.version);
        if !q.is_empty() {
            uri = format!("{uri}?{q}");
        }
        self.registry_progress(&uri, registry_auth).await
    }

    /// POSTs to `uri` (a pull or a push) with `registry_auth` as `X-Registry-Auth` and streams
    /// the progress messages; an error reported half-way becomes [`ClientError::Stream`].
    async fn registry_progress(
        &self,
        uri: &str,
        registry_auth: Option<&str>,
    ) -> ClientResult<BoxStream<ClientResult<ProgressMessage>>> {
        // Without credentials an empty auth config (`{}`), as the docker CLI sends: dockerd
        // rejects a push without the header.
        let headers = [(
            "x-registry-auth",
            registry_auth.unwrap_or(EMPTY_REGISTRY_AUTH),
        )];
        let resp = self
            .request_body(Method::POST, uri, Bytes::new(), None, &headers)
            .await?;
        let stream = json_stream::<ProgressMessage>(resp).map(|m| match m {
            Ok(ProgressMessage {
                error: Some(err), ..
            }) => Err(ClientError::Stream(err)),
            other => other,
        });
        Ok(Box::pin(stream))
    }

    /// `POST /images/create?fromSrc=-` (`docker import`): `rootfs` is a tarball (plain, gzip or
    /// zstd) that becomes a one-layer image named `reference` (if any) with the Dockerfile-style
    /// `changes` applied; returns the new image id.
    pub async fn import_image(
        &self,
        rootfs: impl Into<Bytes>,
        reference: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> ClientResult<String> {
        let mut q = vec![("fromSrc", "-")];
        if let Some(r) = reference {
            q.push(("repo", r));
        }
        if let Some(m) = message {
            q.push(("message", m));
        }
        q.extend(changes.iter().map(|c| ("changes", c.as_str())));
        let uri = format!("/v{}/images/create?{}", self.version, query(&q));
        let resp = self
            .request_body(
                Method::POST,
                &uri,
                rootfs.into(),
                Some("application/x-tar"),
                &[],
            )
            .await?;
        let messages: Vec<ProgressMessage> = json_stream(resp)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        if let Some(err) = messages.iter().find_map(|m| m.error.clone()) {
            return Err(ClientError::Stream(err));
        }
        messages
            .iter()
            .rev()
            .map(|m| m.status.trim())
            .find(|s| s.starts_with("sha256:"))
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Stream("the engine answered no image id".to_owned()))
    }

    /// `POST /networks/create`.
    pub async fn create_network(
        &self,
        req: &NetworkCreateRequest,
    ) -> ClientResult<NetworkCreateResponse> {
        self.call(
            Method::POST,
            "/networks/create",
            "",
            Some(serde_json::to_vec(req)?),
        )
        .await
    }

    /// `GET /networks`.
    pub async fn list_networks(&self, filters: &Filters) -> ClientResult<Vec<Network>> {
        let q = if filters.is_empty() {
            String::new()
        } else {
            query([("filters", filters.to_query_value())])
        };
        self.call(Method::GET, "/networks", &q, None).await
    }

    /// `GET /networks/{id}`.
    pub async fn inspect_network(&self, id: &str) -> ClientResult<Network> {
        self.call(Method::GET, &format!("/networks/{id}"), "", None)
            .await
    }

    /// `DELETE /networks/{id}`.
    pub async fn remove_network(&self, id: &str) -> ClientResult<()> {
        self.call_empty(Method::DELETE, &format!("/networks/{id}"), "", None)
            .await
    }

    /// `POST /networks/prune`: names of the removed networks.
    pub async fn prune_networks(&self, filters: &Filters) -> ClientResult<Vec<String>> {
        let q = if filters.is_empty() {
            String::new()
        } else {
            query([("filters", filters.to_query_value())])
        };
        let resp: crate::api::models::NetworkPruneResponse =
            self.call(Method::POST, "/networks/prune", &q, None).await?;
        Ok(resp.networks_deleted)
    }

    /// `POST /networks/{id}/connect`.
    pub async fn connect_network(&self, id: &str, req: &NetworkConnectRequest) -> ClientResult<()> {
        self.call_empty(
            Method::POST,
            &format!("/networks/{id}/connect"),
            "",
            Some(serde_json::to_vec(req)?),
        )
        .await
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect_network(
        &self,
        id: &str,
        req: &NetworkDisconnectRequest,
    ) -> ClientResult<()> {
        self.call_empty(
            Method::POST,
            &format!("/networks/{id}/disconnect"),
            "",
            Some(serde_json::to_vec(req)?),
        )
        .await
    }

    /// `POST /volumes/create`.
    pub async fn create_volume(&self, req: &VolumeCreateRequest) -> ClientResult<Volume> {
        self.call(
            Method::POST,
            "/volumes/create",
            "",
            Some(serde_json::to_vec(req)?),
        )
        .await
    }

    /// `GET /volumes`.
    pub async fn list_volumes(&self, filters: &Filters) -> ClientResult<VolumeListResponse> {
        let q = if filters.is_empty() {
            String::new()
        } else {
            query([("filters", filters.to_query_value())])
        };
        self.call(Method::GET, "/volumes", &q, None).await
    }

    /// `GET /volumes/{name}`.
    pub async fn inspect_volume(&self, name: &str) -> ClientResult<Volume> {
        self.call(Method::GET, &format!("/volumes/{name}"), "", None)
            .await
    }

    /// `DELETE /volumes/{name}`.
    pub async fn remove_volume(&self, name: &str, force: bool) -> ClientResult<()> {
        self.call_empty(
            Method::DELETE,
            &format!("/volumes/{name}"),
            &query([("force", force)]),
            None,
        )
        .await
    }

    /// `POST /volumes/prune`.
    pub async fn prune_volumes(
        &self,
        filters: &Filters,
    ) -> ClientResult<crate::api::models::VolumePruneResponse> {
        let q = if filters.is_empty() {
            String::new()
        } else {
            query([("filters", filters.to_query_value())])
        };
        self.call(Method::POST, "/volumes/prune", &q, None).await
    }

    /// `GET /events`: past events from `since` and live ones until `until` (unix seconds).
    pub async fn events(
        &self,
        filters: &Filters,
        since: Option<i64>,
        until: Option<i64>,
    ) -> ClientResult<BoxStream<ClientResult<EventMessage>>> {
        let mut q = Vec::new();
        if let Some(s) = since {
            q.push(("since", s.to_string()));
        }
        if let Some(u) = until {
            q.push(("until", u.to_string()));
        }
        if !filters.is_empty() {
            q.push(("filters", filters.to_query_value()));
        }
        let resp = self
            .request(Method::GET, "/events", &query(&q), None)
            .await?;
        Ok(Box::pin(json_stream(resp)))
    }
}

/// The body of `resp` as a stream of byte chunks.
fn body_chunks(resp: Response<Incoming>) -> BoxStream<ClientResult<Bytes>> {
    let body = resp.into_body();
    Box::pin(futures_util::stream::unfold(body, |mut body| async move {
        loop {
            match body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some((Ok(data), body));
                    }
                }
                Err(e) => return Some((Err(ClientError::Http(e)), body)),
            }
        }
    }))
}

/// Container output from byte chunks: framed (`Some(true)`), raw (`Some(false)`), or decided
/// from the first bytes (`None`).
fn decode_output(
    chunks: BoxStream<ClientResult<Bytes>>,
    mode: Option<bool>,
) -> BoxStream<ClientResult<LogOutput>> {
    let state = (
        chunks,
        Demuxer::default(),
        mode,
        std::collections::VecDeque::new(),
    );
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut body, mut demux, mut mode, mut ready)| async move {
            loop {
                if let Some(item) = ready.pop_front() {
                    return Some((Ok(item), (body, demux, mode, ready)));
                }
                let chunk = match body.next().await? {
                    Ok(c) => c,
                    Err(e) => return Some((Err(e), (body, demux, mode, ready))),
                };
                let multiplexed = *mode.get_or_insert_with(|| looks_multiplexed(&chunk));
                if !multiplexed {
                    return Some((Ok(LogOutput::Console(chunk)), (body, demux, mode, ready)));
                }
                demux.push(&chunk);
                while let Some(frame) = demux.next_frame() {
                    ready.push_back(frame);
                }
            }
        },
    ))
}

/// The body of `resp` as newline-delimited JSON values.
fn json_stream<T: DeserializeOwned + Send + 'static>(
    resp: Response<Incoming>,
) -> impl Stream<Item = ClientResult<T>> + Send {
    let state = (Some(body_chunks(resp)), JsonLines::default());
    futures_util::stream::unfold(state, |(mut body, mut lines)| async move {
        loop {
            if let Some(v) = lines.next_value::<T>() {
                return Some((v.map_err(ClientError::from), (body, lines)));
            }
            let chunks = body.as_mut()?;
            match chunks.next().await {
                Some(Ok(c)) => lines.push(&c),
                Some(Err(e)) => return Some((Err(e), (None, lines))),
                None => {
                    let last = lines.finish::<T>();
                    return last.map(|v| (v.map_err(ClientError::from), (None, lines)));
                }
            }
        }
    })
}

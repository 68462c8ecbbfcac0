//! The narrow port between the Docker-API layer and the engine that does the work.
//!
//! The API server only parses requests, calls one [`Backend`] method and renders the answer; the
//! image, runtime and network crates implement this trait (see [`crate::fake::FakeBackend`] for
//! the reference semantics). Errors carry one [`ErrorKind`] so the server maps them to HTTP status
//! codes in a single place.

pub mod archive;
pub mod contract;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::broadcast;

pub use archive::{Change, ChangeKind, PathStat, PutArchiveOptions};

use crate::api::models::{BuildMessage, BuildOptions};
use crate::api::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspect, ContainerSummary,
    ContainerTopResponse, ContainerWaitResponse, EventMessage, ExecConfig, ExecInspect, Filters,
    IdResponse, ImageDeleteItem, ImageInspect, ImageSummary, Info, Network, NetworkConnectRequest,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, ProgressMessage,
    SystemDf, Volume, VolumeCreateRequest, VolumeListResponse,
};
use crate::api::models::{HistoryResponseItem, ImagePruneResponse};

/// The error of an image operation a backend without an image store does not offer.
fn unsupported(what: &str) -> BackendError {
    BackendError::new(
        ErrorKind::Unavailable,
        format!("{what} is not supported by this engine"),
    )
}

/// Category of a backend failure; decides the HTTP status of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object does not exist (404).
    NotFound,
    /// The request conflicts with the object's state or name (409).
    Conflict,
    /// The request is malformed or names an invalid value (400).
    InvalidArgument,
    /// The operation is refused for this object (403).
    Forbidden,
    /// Nothing to do: already in the requested state (304).
    NotModified,
    /// A dependency of the engine is not available right now (503).
    Unavailable,
    /// Anything else (500).
    Internal,
}

/// A backend failure: its category, the message shown to API clients and the underlying cause.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    /// Category, mapped to the HTTP status by the API server.
    pub kind: ErrorKind,
    /// Client-facing message (Docker's wording where Docker has one).
    pub message: String,
    /// The error that caused this one, if any.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BackendError {
    /// An error of `kind` with a client-facing `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// 409 with `message`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// 400 with `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
}

/// Result of backend operations.
pub type BackendResult<T> = Result<T, BackendError>;

/// A boxed, sendable future (the second half of a wait).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A boxed, sendable stream (logs, pull progress).
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

/// A request body streamed to the backend (an import's rootfs, a `docker load` archive).
pub type ByteStream = BoxStream<Result<Bytes, std::io::Error>>;

/// Options of `POST /images/create?fromSrc=-` (`docker import`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportImageOptions {
    /// Name of the new image (`repo` or `repo:tag`; `:latest` is implied); `None` for none.
    pub reference: Option<String>,
    /// Dockerfile-style config changes (`CMD ["sh"]`, `ENV A=b`, …), in order.
    pub changes: Vec<String>,
    /// Commit message recorded in the image history.
    pub message: Option<String>,
}

/// Options of `POST /images/create?fromImage=` beyond the reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullImageOptions {
    /// `platform` query parameter (`os/arch[/variant]`).
    pub platform: Option<String>,
    /// The `X-Registry-Auth` header (base64 JSON credentials), as the client sent it.
    pub registry_auth: Option<String>,
}

/// Which output a log chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// The container's standard output.
    Stdout,
    /// The container's standard error.
    Stderr,
}

/// One chunk of container output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// Stream it was written to.
    pub source: LogSource,
    /// Bytes written (a timestamp prefix is included when requested).
    pub data: Bytes,
}

/// Options of `GET /containers/json`.
#[derive(Debug, Clone, Default)]
pub struct ListContainersOptions {
    /// Include stopped containers.
    pub all: bool,
    /// Return at most this many (newest first); `None` for all.
    pub limit: Option<usize>,
    /// Docker filters (`label`, `name`, `id`, `status`, `ancestor`, `network`).
    pub filters: Filters,
}

/// Options of `POST /containers/{id}/attach`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    /// Forward the client's input to the container's standard input.
    pub stdin: bool,
    /// Include standard output.
    pub stdout: bool,
    /// Include standard error.
    pub stderr: bool,
    /// Replay output written before the attach.
    pub logs: bool,
}

/// A live attachment: output until the container stops, and its standard input if asked for.
pub struct Attachment {
    /// Output chunks; the stream ends when the container stops.
    pub output: BoxStream<BackendResult<LogChunk>>,
    /// Where the client's input goes (`None` when stdin was not requested or is closed).
    pub stdin: Option<Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    /// The container has a terminal: output is raw, not framed.
    pub tty: bool,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("stdin", &self.stdin.is_some())
            .field("tty", &self.tty)
            .finish()
    }
}

/// Options of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Include standard output.
    pub stdout: bool,
    /// Include standard error.
    pub stderr: bool,
    /// Keep the stream open for new output.
    pub follow: bool,
    /// Prefix each line with an RFC 3339 timestamp.
    pub timestamps: bool,
    /// Only the last `n` lines.
    pub tail: Option<usize>,
}

/// Condition of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitCondition {
    /// Return as soon as the container is not running (default).
    #[default]
    NotRunning,
    /// Wait for the next exit even if the container is stopped now.
    NextExit,
    /// Wait until the container is removed.
    Removed,
}

/// The operations of the Docker Engine API that the engine implements.
///
/// Identifiers accept what Docker accepts: full id, unique id prefix or name.
pub trait Backend: Send + Sync + 'static {
    /// `GET /info`.
    fn info(&self) -> impl Future<Output = BackendResult<Info>> + Send;
    /// History of events at or after `since` (unix seconds) and a receiver of new ones.
    fn events(&self, since: Option<i64>) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>);

    /// `GET /containers/json`.
    fn list_containers(
        &self,
        opts: ListContainersOptions,
    ) -> impl Future<Output = BackendResult<Vec<ContainerSummary>>> + Send;
    /// `POST /containers/create`.
    fn create_container(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> impl Future<Output = BackendResult<ContainerCreateResponse>> + Send;
    /// `GET /containers/{id}/json`.
    fn inspect_container(
        &self,
        id: &str,
    ) -> impl Future<Output = BackendResult<ContainerInspect>> + Send;
    /// `POST /containers/{id}/start`; [`ErrorKind::NotModified`] when already running.
    fn start_container(&self, id: &str) -> impl Future<Output = BackendResult<()>> + Send;
    /// `POST /containers/{id}/stop`; [`ErrorKind::NotModified`] when not running.
    fn stop_container(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// `POST /containers/{id}/restart`.
    fn restart_container(
        &self,
        id: &str,
        timeout: Option<i64>,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// `POST /containers/{id}/kill`.
    fn kill_container(
        &self,
        id: &str,
        signal: Option<String>,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// `POST /containers/{id}/wait`.
    ///
    /// Resolves the container and starts watching it (errors such as "no such container" come
    /// here); the returned future then completes when `condition` is met. The server sends the
    /// answer's headers in between, as Docker does, so clients can start the container next.
    fn wait_container(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> impl Future<Output = BackendResult<BoxFuture<BackendResult<ContainerWaitResponse>>>> + Send;
    /// `POST /containers/{id}/pause`.
    fn pause_container(&self, id: &str) -> impl Future<Output = BackendResult<()>> + Send;
    /// `POST /containers/{id}/unpause`.
    fn unpause_container(&self, id: &str) -> impl Future<Output = BackendResult<()>> + Send;
    /// `DELETE /containers/{id}`.
    fn remove_container(
        &self,
        id: &str,
        force: bool,
        volumes: bool,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// `POST /containers/{id}/rename?name=`.
    fn rename_container(
        &self,
        id: &str,
        new_name: &str,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// `GET /containers/{id}/logs`.
    fn container_logs(
        &self,
        id: &str,
        opts: LogsOptions,
    ) -> impl Future<Output = BackendResult<BoxStream<BackendResult<LogChunk>>>> + Send;
    /// `POST /containers/{id}/attach` (the server upgrades the connection to a raw stream).
    fn attach_container(
        &self,
        id: &str,
        opts: AttachOptions,
    ) -> impl Future<Output = BackendResult<Attachment>> + Send;
    /// `POST /containers/{id}/exec`: registers a command to run in the running container.
    fn create_exec(
        &self,
        id: &str,
        config: ExecConfig,
    ) -> impl Future<Output = BackendResult<IdResponse>> + Send;
    /// `POST /exec/{id}/start`: runs it; the output stream ends when the command exits.
    fn start_exec(&self, exec_id: &str) -> impl Future<Output = BackendResult<Attachment>> + Send;
    /// `GET /exec/{id}/json`.
    fn inspect_exec(
        &self,
        exec_id: &str,
    ) -> impl Future<Output = BackendResult<ExecInspect>> + Send;
    /// `POST /containers/{id}/resize`: sets the terminal size of a running container (a
    /// container without a terminal ignores it).
    fn resize_container(
        &self,
        id: &str,
        rows: u16,
        cols: u16,
    ) -> impl Future<Output = BackendResult<()>> + Send {
        let _ = (rows, cols);
        async move { self.inspect_container(id).await.map(|_| ()) }
    }
    /// `POST /exec/{id}/resize`: sets the terminal size of a running exec.
    fn resize_exec(
        &self,
        exec_id: &str,
        rows: u16,
        cols: u16,
    ) -> impl Future<Output = BackendResult<()>> + Send {
        let _ = (rows, cols);
        async move { self.inspect_exec(exec_id).await.map(|_| ()) }
    }
    /// `GET /containers/{id}/stats`: one sample of resource usage (the server fills the
    /// previous-sample fields); a stopped container gives an empty sample.
    fn container_stats(
        &self,
        id: &str,
    ) -> impl Future<Output = BackendResult<crate::api::models::ContainerStats>> + Send {
        let _ = id;
        async {
            Err(BackendError::new(
                ErrorKind::Unavailable,
                "stats are not supported by this engine",
            ))
        }
    }
    /// `GET /containers/{id}/top`.
    fn top_container(
        &self,
        id: &str,
    ) -> impl Future<Output = BackendResult<ContainerTopResponse>> + Send;

    /// `GET /images/json`.
    fn list_images(
        &self,
        all: bool,
        filters: Filters,
    ) -> impl Future<Output = BackendResult<Vec<ImageSummary>>> + Send;
    /// `POST /images/create?fromImage=&tag=`: the progress messages of the pull.
    fn pull_image(
        &self,
        image: &str,
        tag: Option<&str>,
    ) -> impl Future<Output = BackendResult<BoxStream<ProgressMessage>>> + Send;
    /// `POST /images/create?fromSrc=-`: a root filesystem tarball (plain, gzip or zstd) becomes a
    /// one-layer image; answers the new image id (`sha256:…`).
    fn import_image(
        &self,
        source: ByteStream,
        opts: ImportImageOptions,
    ) -> impl Future<Output = BackendResult<String>> + Send;
    /// `POST /images/create?fromImage=&tag=&platform=` with the client's `X-Registry-Auth`;
    /// backends without registry access ignore the options.
    fn pull_image_with(
        &self,
        image: &str,
        tag: Option<&str>,
        opts: PullImageOptions,
    ) -> impl Future<Output = BackendResult<BoxStream<ProgressMessage>>> + Send {
        let _ = opts;
        self.pull_image(image, tag)
    }
    /// `POST /images/{name}/push?tag=` with the client's `X-Registry-Auth`: the progress
    /// messages of the push.
    fn push_image(
        &self,
        name: &str,
        tag: Option<&str>,
        registry_auth: Option<String>,
    ) -> impl Future<Output = BackendResult<BoxStream<ProgressMessage>>> + Send {
        let _ = (tag, registry_auth);
        let name = name.to_owned();
        async move {
            Err(BackendError::new(
                ErrorKind::Unavailable,
                format!("pushing {name}: this engine has no registry access"),
            ))
        }
    }
    /// `GET /images/get?names=…` (and `GET /images/{name}/get`): a `docker save` tarball of
    /// `names` (Docker's legacy layout plus an OCI layout); unknown names fail up front.
    fn save_images(
        &self,
        names: Vec<String>,
    ) -> impl Future<Output = BackendResult<ByteStream>> + Send {
        let _ = names;
        async { Err(unsupported("saving images")) }
    }
    /// `POST /images/load`: loads a `docker save` tarball or an OCI layout archive; answers
    /// one `Loaded image: …` (or `Loaded image ID: …`) line per image.
    fn load_images(
        &self,
        source: ByteStream,
    ) -> impl Future<Output = BackendResult<Vec<String>>> + Send {
        let _ = source;
        async { Err(unsupported("loading images")) }
    }
    /// `GET /images/{name}/history`, newest step first.
    fn image_history(
        &self,
        name: &str,
    ) -> impl Future<Output = BackendResult<Vec<HistoryResponseItem>>> + Send {
        let _ = name;
        async { Err(unsupported("image history")) }
    }
    /// `POST /images/prune`: removes unused image data; with `all`, every image no container
    /// uses (`dangling=false`).
    fn prune_images(
        &self,
        all: bool,
    ) -> impl Future<Output = BackendResult<ImagePruneResponse>> + Send {
        let _ = all;
        async { Err(unsupported("image prune")) }
    }
    /// `POST /build`: builds an image from a tar `context`; the progress messages (an error
    /// half-way is a message, the HTTP status being already sent).
    fn build_image(
        &self,
        opts: BuildOptions,
        context: bytes::Bytes,
    ) -> impl Future<Output = BackendResult<BoxStream<BuildMessage>>> + Send {
        let _ = (opts, context);
        async {
            Err(BackendError::new(
                ErrorKind::Unavailable,
                "image builds are not supported by this engine",
            ))
        }
    }
    /// `POST /build/prune`: removes the build cache; returns the bytes reclaimed.
    fn prune_build_cache(&self) -> impl Future<Output = BackendResult<u64>> + Send {
        async {
            Err(BackendError::new(
                ErrorKind::Unavailable,
                "image builds are not supported by this engine",
            ))
        }
    }
    /// `GET /images/{name}/json`.
    fn inspect_image(&self, name: &str)
    -> impl Future<Output = BackendResult<ImageInspect>> + Send;
    /// `POST /images/{name}/tag`.
    fn tag_image(
        &self,
        name: &str,
        repo: &str,
        tag: Option<&str>,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// `DELETE /images/{name}`.
    fn remove_image(
        &self,
        name: &str,
        force: bool,
    ) -> impl Future<Output = BackendResult<Vec<ImageDeleteItem>>> + Send;

    /// `GET /networks`.
    fn list_networks(
        &self,
        filters: Filters,
    ) -> impl Future<Output = BackendResult<Vec<Network>>> + Send;
    /// `GET /networks/{id}`.
    fn inspect_network(&self, id: &str) -> impl Future<Output = BackendResult<Network>> + Send;
    /// `POST /networks/create`.
    fn create_network(
        &self,
        req: NetworkCreateRequest,
    ) -> impl Future<Output = BackendResult<NetworkCreateResponse>> + Send;
    /// `DELETE /networks/{id}`.
    fn remove_network(&self, id: &str) -> impl Future<Output = BackendResult<()>> + Send;
    /// `POST /networks/{id}/connect`.
    fn connect_network(
        &self,
        id: &str,
        req: NetworkConnectRequest,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// `POST /networks/{id}/disconnect`.
    fn disconnect_network(
        &self,
        id: &str,
        req: NetworkDisconnectRequest,
    ) -> impl Future<Output = BackendResult<()>> + Send;
    /// `POST /networks/prune`: removes unused custom networks, returns their names.
    fn prune_networks(
        &self,
        filters: Filters,
    ) -> impl Future<Output = BackendResult<Vec<String>>> + Send {
        let _ = filters;
        async {
            Err(BackendError::new(
                ErrorKind::Unavailable,
                "pruning networks is not supported by this engine",
            ))
        }
    }

    /// `GET /volumes`.
    fn list_volumes(
        &self,
        filters: Filters,
    ) -> impl Future<Output = BackendResult<VolumeListResponse>> + Send;
    /// `POST /volumes/create`.
    fn create_volume(
        &self,
        req: VolumeCreateRequest,
    ) -> impl Future<Output = BackendResult<Volume>> + Send;
    /// `GET /volumes/{name}`.
    fn inspect_volume(&self, name: &str) -> impl Future<Output = BackendResult<Volume>> + Send;
    /// `DELETE /volumes/{name}`.
    fn remove_volume(
        &self,
        name: &str,
        force: bool,
    ) -> impl Future<Output = BackendResult<()>> + Send;

    /// `PUT /containers/{id}/archive`: extracts the tar `archive` into the existing directory
    /// `opts.path` of the container; no entry may land outside the container's root.
    fn put_archive(
        &self,
        id: &str,
        opts: PutArchiveOptions,
        archive: ByteStream,
    ) -> impl Future<Output = BackendResult<()>> + Send {
        let _ = (id, opts, archive);
        async { Err(unsupported_archive()) }
    }
    /// `HEAD /containers/{id}/archive?path=`: what is at `path` in the container.
    fn stat_container_path(
        &self,
        id: &str,
        path: &str,
    ) -> impl Future<Output = BackendResult<PathStat>> + Send {
        let _ = (id, path);
        async { Err(unsupported_archive()) }
    }
    /// `GET /containers/{id}/archive?path=`: the stat of `path` and a tar of it whose top entry
    /// is its base name.
    fn get_archive(
        &self,
        id: &str,
        path: &str,
    ) -> impl Future<Output = BackendResult<(PathStat, ByteStream)>> + Send {
        let _ = (id, path);
        async { Err(unsupported_archive()) }
    }
    /// `GET /containers/{id}/export`: a tar of the container's whole filesystem.
    fn export_container(&self, id: &str) -> impl Future<Output = BackendResult<ByteStream>> + Send {
        let _ = id;
        async { Err(unsupported_archive()) }
    }
    /// `GET /containers/{id}/changes`: what the container changed against its image.
    fn container_changes(
        &self,
        id: &str,
    ) -> impl Future<Output = BackendResult<Vec<Change>>> + Send {
        let _ = id;
        async { Err(unsupported_archive()) }
    }

    /// `GET /system/df`: by default composed from the image, container and volume lists.
    fn system_df(&self) -> impl Future<Output = BackendResult<SystemDf>> + Send {
        async move {
            let images = self.list_images(true, Filters::default()).await?;
            let containers = self
                .list_containers(ListContainersOptions {
                    all: true,
                    ..ListContainersOptions::default()
                })
                .await?;
            let volumes = self.list_volumes(Filters::default()).await?.volumes;
            Ok(SystemDf {
                layers_size: images.iter().map(|i| i.size).sum(),
                images,
                containers,
                volumes,
                build_cache: Vec::new(),
            })
        }
    }

    /// `POST /volumes/prune`: removes unused volumes (anonymous ones unless `all=true`).
    fn prune_volumes(
        &self,
        _filters: Filters,
    ) -> impl Future<Output = BackendResult<crate::api::models::VolumePruneResponse>> + Send {
        async {
            Err(BackendError::new(
                ErrorKind::Unavailable,
                "volume prune is not supported by this engine",
            ))
        }
    }
}

fn unsupported_archive() -> BackendError {
    BackendError::new(
        ErrorKind::Unavailable,
        "container file access is not supported by this engine",
    )
}

/// Docker's human-readable duration (`units.HumanDuration`), used in container `Status` text.
pub fn human_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    let minutes = secs / 60;
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    match () {
        _ if secs < 1 => "Less than a second".to_owned(),
        _ if secs == 1 => "1 second".to_owned(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::human_duration;

    #[test]
    fn human_duration_matches_docker_wording() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(59)), "59 seconds");
        assert_eq!(human_duration(Duration::from_secs(61)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(3700)), "About an hour");
        assert_eq!(human_duration(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
        assert_eq!(human_duration(Duration::from_secs(21 * 86400)), "3 weeks");
        assert_eq!(human_duration(Duration::from_secs(800 * 86400)), "2 years");
    }
}

//! The real engine behind the Docker API: images from `berth-image`, containers run by the
//! `berth-runtime` shim (spawned from the `berth` binary, never cloned from the daemon), state
//! persisted under the data root so records survive a daemon restart.
//!
//! Layout under the data root: `images/` (the image store), `runtime/` (the OCI runtime's
//! state), `containers/<id>/` with `record.json`, `bundle/` (config.json and the mounted
//! `rootfs`), `log.json` (the shim's json-file log), `exit.json` (the shim's exit record) and
//! `shim.err`.
//!
//! Networking (`networks.rs`, `net_containers.rs`, `net_files.rs`): bridge networks through
//! `berth-network` once [`RealBackend::open_networks`] ran; modes bridge (default), user
//! networks, `host`, `none` and `container:<id>`.

mod archive;
mod archive_changes;
mod archive_extract;
mod archive_fs;
mod archive_read;
mod attach;
mod body;
mod build;
mod build_net;
mod container_views;
mod containers;
mod events;
mod exec;
mod health;
mod image_archive;
mod image_pull;
mod image_push;
mod image_transfer;
mod images;
mod log_rotation;
mod logs;
mod mounts_apply;
mod mounts_parse;
mod net_containers;
mod net_files;
mod networks;
mod record;
mod recovery;
mod resources;
mod restart;
mod rootfs;
mod runtime_bin;
mod stats;
mod stats_api;
mod system;
mod volumes;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_image::ImageStore;
use berth_runtime::runtime::Runtime;
use tokio::sync::{broadcast, watch};

use crate::api::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspect, ContainerSummary,
    ContainerTopResponse, ContainerWaitResponse, EventMessage, ExecConfig, ExecInspect, Filters,
    IdResponse, ImageDeleteItem, ImageInspect, ImageSummary, Info, Network, NetworkConnectRequest,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, ProgressMessage, Volume,
    VolumeCreateRequest, VolumeListResponse,
};
use crate::backend::{
    AttachOptions, Attachment, Backend, BackendError, BackendResult, BoxFuture, BoxStream,
    ErrorKind, ListContainersOptions, LogChunk, LogsOptions, WaitCondition,
};

pub use events::EventLog;
pub use health::{Probe, ProbeOutput};
pub use image_pull::PullRequest;
pub use networks::{DEFAULT_BRIDGE, DEFAULT_NETWORK, NetConfig};
pub use record::{Phase, Record};
pub use restart::{Clock, SystemClock};

/// Failures of opening the engine state.
#[derive(Debug, thiserror::Error)]
pub enum RealError {
    /// The image store could not be opened.
    #[error("cannot open the image store")]
    Images(#[from] berth_image::images::ImageError),
    /// A state directory or record could not be read or created.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The volume store could not be opened.
    #[error("cannot open the volume store")]
    Volumes(#[from] berth_volume::VolumeError),
    /// A container record could not be parsed.
    #[error("{path}: {source}")]
    Record {
        /// The record file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Networking could not be set up.
    #[error("cannot set up networking: {0}")]
    Network(String),
}

/// One container known to the engine: its persisted record and the watch of its phase.
#[derive(Debug)]
struct Entry {
    record: Record,
    phase: watch::Sender<Phase>,
    /// Bumped by every update of the record.
    version: u64,
    /// Serialises the updates of the record and its `record.json` (held outside the map's
    /// lock, across the write); the version written.
    written: Arc<Mutex<u64>>,
}

/// Where the engine keeps things; every root is a parameter.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The data root.
    pub data_root: PathBuf,
    /// Where cgroup hierarchies are mounted (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
    /// procfs mount point (`/proc`); `host` networking joins `<proc>/1/ns/net`.
    pub proc_root: PathBuf,
    /// The `berth` binary that provides `berth runtime … shim`.
    pub exe: PathBuf,
}

impl Paths {
    fn containers(&self) -> PathBuf {
        self.data_root.join("containers")
    }
    fn container(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }
    fn runtime_root(&self) -> PathBuf {
        self.data_root.join("runtime")
    }
}

struct Inner {
    paths: Paths,
    images: ImageStore,
    registry: std::sync::RwLock<berth_image::RegistryClient>,
    runtime: Runtime,
    containers: Mutex<HashMap<String, Entry>>,
    execs: exec::Execs,
    attach_waiting: attach::Waiting,
    event_log: EventLog,
    supervisor: restart::Supervisor,
    health: health::Monitors,
    volumes: berth_volume::VolumeStore,
    net: std::sync::OnceLock<Arc<networks::Networking>>,
    /// What start-up recovery left for the async runtime, run once networking is open.
    recovered: Mutex<Option<recovery::Pending>>,
    runtime_bin: std::sync::OnceLock<berth_runtime::sealed::RuntimeBinary>,
    /// daemon.json's `log-opts` (see `log_rotation.rs`).
    log_defaults: std::sync::RwLock<std::collections::BTreeMap<String, String>>,
}

/// The engine backend that really runs containers.
#[derive(Clone)]
pub struct RealBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RealBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealBackend")
            .field("paths", &self.inner.paths)
            .finish()
    }
}

impl RealBackend {
    /// Opens (or creates) the engine state under `data_root`; `exe` is the `berth` binary whose
    /// `runtime … shim` verb supervises containers.
    pub fn open(data_root: &Path, cgroup_root: &Path, exe: PathBuf) -> Result<Self, RealError> {
        Self::with_paths(Paths {
            data_root: data_root.to_owned(),
            cgroup_root: cgroup_root.to_owned(),
            proc_root: PathBuf::from("/proc"),
            exe,
        })
    }

    /// Opens the engine state with every root given.
    pub fn with_paths(paths: Paths) -> Result<Self, RealError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| RealError::Io { path, source }
        };
        std::fs::create_dir_all(paths.containers()).map_err(io(&paths.containers()))?;
        std::fs::create_dir_all(paths.runtime_root()).map_err(io(&paths.runtime_root()))?;
        let images = ImageStore::open(&paths.data_root.join("images"))?;
        let runtime = Runtime::new(paths.runtime_root(), paths.cgroup_root.clone());
        let mut map = HashMap::new();
        for dirent in std::fs::read_dir(paths.containers()).map_err(io(&paths.containers()))? {
            let dir = dirent.map_err(io(&paths.containers()))?.path();
            let file = dir.join("record.json");
            if !file.exists() {
                continue;
            }
            let data = std::fs::read(&file).map_err(io(&file))?;
            let record: Record =
                serde_json::from_slice(&data).map_err(|source| RealError::Record {
                    path: file.clone(),
                    source,
                })?;
            let (phase, _) = watch::channel(record.phase());
            map.insert(
                record.id.clone(),
                Entry {
                    record,
                    phase,
                    version: 0,
                    written: Arc::default(),
                },
            );
        }
        let volumes = berth_volume::VolumeStore::open(
            &paths.data_root.join("volumes"),
            Arc::new(berth_volume::KernelMounter::new(&paths.proc_root)),
        )?;
        let backend = Self {
            inner: Arc::new(Inner {
                paths,
                images,
                registry: std::sync::RwLock::default(),
                runtime,
                containers: Mutex::new(map),
                execs: exec::Execs::default(),
                attach_waiting: attach::Waiting::default(),
                event_log: EventLog::new(events::HISTORY),
                supervisor: restart::Supervisor::new(Arc::new(SystemClock)),
                health: health::Monitors::default(),
                volumes,
                net: std::sync::OnceLock::new(),
                recovered: Mutex::new(None),
                runtime_bin: std::sync::OnceLock::new(),
                log_defaults: std::sync::RwLock::default(),
            }),
        };
        backend.set_probe(Arc::new(exec::ExecProbe::new(&backend)));
        backend.reconcile();
        backend.reacquire_volumes();
        Ok(backend)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner
            .containers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn internal(message: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackendError {
    let message = message.into();
    move |e| BackendError::new(ErrorKind::Internal, message).with_source(e)
}

impl Backend for RealBackend {
    async fn build_image(
        &self,
        opts: crate::api::models::BuildOptions,
        context: bytes::Bytes,
    ) -> BackendResult<BoxStream<crate::api::models::BuildMessage>> {
        self.build(opts, context)
    }

    async fn prune_build_cache(&self) -> BackendResult<u64> {
        self.prune_builder()
    }

    async fn info(&self) -> BackendResult<Info> {
        Ok(self.info_now())
    }

    fn events(&self, since: Option<i64>) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>) {
        self.inner.event_log.since(since)
    }

    async fn list_containers(
        &self,
        opts: ListContainersOptions,
    ) -> BackendResult<Vec<ContainerSummary>> {
        Ok(self.list(&opts))
    }

    async fn create_container(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> BackendResult<ContainerCreateResponse> {
        let body = net_containers::normalize(body);
        self.net_validate(&body).await?;
        let this = self.clone();
        blocking(move || this.create(name, body)).await
    }

    async fn inspect_container(&self, id: &str) -> BackendResult<ContainerInspect> {
        self.inspect(id)
    }

    async fn start_container(&self, id: &str) -> BackendResult<()> {
        self.user_start(id).await
    }

    async fn stop_container(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> BackendResult<()> {
        self.stop(id, timeout, signal).await
    }

    async fn restart_container(&self, id: &str, timeout: Option<i64>) -> BackendResult<()> {
        self.user_restart(id, timeout).await
    }

    async fn kill_container(&self, id: &str, signal: Option<String>) -> BackendResult<()> {
        self.user_kill(id, signal.as_deref().unwrap_or("SIGKILL"))
    }

    async fn wait_container(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> BackendResult<BoxFuture<BackendResult<ContainerWaitResponse>>> {
        self.wait(id, condition)
    }

    async fn pause_container(&self, id: &str) -> BackendResult<()> {
        self.set_paused(id, true)
    }

    async fn unpause_container(&self, id: &str) -> BackendResult<()> {
        self.set_paused(id, false)
    }

    async fn remove_container(&self, id: &str, force: bool, volumes: bool) -> BackendResult<()> {
        let anonymous = self.anonymous_volumes(id);
        self.remove(id, force).await?;
        if volumes {
            self.remove_volumes_quietly(&anonymous);
        }
        Ok(())
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> BackendResult<()> {
        self.rename(id, new_name)
    }

    async fn container_logs(
        &self,
        id: &str,
        opts: LogsOptions,
    ) -> BackendResult<BoxStream<BackendResult<LogChunk>>> {
        self.logs(id, opts)
    }

    async fn attach_container(&self, id: &str, opts: AttachOptions) -> BackendResult<Attachment> {
        self.attach(id, opts)
    }

    async fn resize_container(&self, id: &str, rows: u16, cols: u16) -> BackendResult<()> {
        self.resize_tty(id, rows, cols)
    }

    async fn resize_exec(&self, exec_id: &str, rows: u16, cols: u16) -> BackendResult<()> {
        self.exec_resize(exec_id, rows, cols).await
    }

    async fn container_stats(&self, id: &str) -> BackendResult<crate::api::models::ContainerStats> {
        self.stats_sample(id)
    }

    async fn create_exec(&self, id: &str, config: ExecConfig) -> BackendResult<IdResponse> {
        self.exec_create(id, config)
    }

    async fn start_exec(&self, exec_id: &str) -> BackendResult<Attachment> {
        self.exec_start(exec_id)
    }

    async fn inspect_exec(&self, exec_id: &str) -> BackendResult<ExecInspect> {
        self.exec_inspect(exec_id)
    }

    async fn top_container(&self, id: &str) -> BackendResult<ContainerTopResponse> {
        self.top(id)
    }

    async fn put_archive(
        &self,
        id: &str,
        opts: crate::backend::PutArchiveOptions,
        archive: crate::backend::ByteStream,
    ) -> BackendResult<()> {
        self.archive_put(id, opts, archive).await
    }

    async fn stat_container_path(
        &self,
        id: &str,
        path: &str,
    ) -> BackendResult<crate::backend::PathStat> {
        self.archive_stat(id, path).await
    }

    async fn get_archive(
        &self,
        id: &str,
        path: &str,
    ) -> BackendResult<(crate::backend::PathStat, crate::backend::ByteStream)> {
        self.archive_get(id, path).await
    }

    async fn export_container(&self, id: &str) -> BackendResult<crate::backend::ByteStream> {
        self.archive_export(id).await
    }

    async fn container_changes(&self, id: &str) -> BackendResult<Vec<crate::backend::Change>> {
        self.archive_changes(id).await
    }

    async fn list_images(&self, _all: bool, filters: Filters) -> BackendResult<Vec<ImageSummary>> {
        let this = self.clone();
        blocking(move || this.image_list(&filters)).await
    }

    async fn pull_image(
        &self,
        image: &str,
        tag: Option<&str>,
    ) -> BackendResult<BoxStream<ProgressMessage>> {
        self.image_pull(image, tag, PullRequest::default()).await
    }

    async fn pull_image_with(
        &self,
        image: &str,
        tag: Option<&str>,
        opts: crate::backend::PullImageOptions,
    ) -> BackendResult<BoxStream<ProgressMessage>> {
        let req = PullRequest {
            platform: opts.platform,
            registry_auth: opts.registry_auth,
        };
        self.image_pull(image, tag, req).await
    }

    async fn import_image(
        &self,
        source: crate::backend::ByteStream,
        opts: crate::backend::ImportImageOptions,
    ) -> BackendResult<String> {
        self.image_import(source, opts).await
    }

    async fn push_image(
        &self,
        name: &str,
        tag: Option<&str>,
        registry_auth: Option<String>,
    ) -> BackendResult<BoxStream<ProgressMessage>> {
        self.image_push(name, tag, registry_auth.as_deref()).await
    }

    async fn inspect_image(&self, name: &str) -> BackendResult<ImageInspect> {
        let (this, name) = (self.clone(), name.to_owned());
        blocking(move || this.image_inspect(&name)).await
    }

    async fn tag_image(&self, name: &str, repo: &str, tag: Option<&str>) -> BackendResult<()> {
        let target = format!("{repo}:{}", tag.unwrap_or("latest"));
        let (this, name) = (self.clone(), name.to_owned());
        blocking(move || this.image_tag(&name, &target)).await
    }

    async fn save_images(&self, names: Vec<String>) -> BackendResult<crate::backend::ByteStream> {
        self.image_save(names).await
    }

    async fn load_images(&self, source: crate::backend::ByteStream) -> BackendResult<Vec<String>> {
        self.image_load(source).await
    }

    async fn image_history(
        &self,
        name: &str,
    ) -> BackendResult<Vec<crate::api::models::HistoryResponseItem>> {
        self.image_steps(name).await
    }

    async fn prune_images(
        &self,
        all: bool,
    ) -> BackendResult<crate::api::models::ImagePruneResponse> {
        self.image_prune(all).await
    }

    async fn remove_image(&self, name: &str, force: bool) -> BackendResult<Vec<ImageDeleteItem>> {
        let (this, name) = (self.clone(), name.to_owned());
        blocking(move || this.image_remove(&name, force)).await
    }

    async fn list_networks(&self, filters: Filters) -> BackendResult<Vec<Network>> {
        self.network_list(&filters).await
    }

    async fn inspect_network(&self, id: &str) -> BackendResult<Network> {
        self.network_inspect(id).await
    }

    async fn create_network(
        &self,
        req: NetworkCreateRequest,
    ) -> BackendResult<NetworkCreateResponse> {
        self.network_create(req).await
    }

    async fn remove_network(&self, id: &str) -> BackendResult<()> {
        self.network_remove(id).await
    }

    async fn prune_networks(&self, filters: Filters) -> BackendResult<Vec<String>> {
        self.network_prune(&filters).await
    }

    async fn connect_network(&self, id: &str, req: NetworkConnectRequest) -> BackendResult<()> {
        self.network_connect(id, req).await
    }

    async fn disconnect_network(
        &self,
        id: &str,
        req: NetworkDisconnectRequest,
    ) -> BackendResult<()> {
        self.network_disconnect(id, req).await
    }

    async fn list_volumes(&self, filters: Filters) -> BackendResult<VolumeListResponse> {
        let this = self.clone();
        blocking(move || this.volume_list(&filters)).await
    }

    async fn create_volume(&self, req: VolumeCreateRequest) -> BackendResult<Volume> {
        let this = self.clone();
        blocking(move || this.volume_create(req)).await
    }

    async fn inspect_volume(&self, name: &str) -> BackendResult<Volume> {
        self.volume_inspect(name)
    }

    async fn remove_volume(&self, name: &str, force: bool) -> BackendResult<()> {
        let (this, name) = (self.clone(), name.to_owned());
        blocking(move || this.volume_remove(&name, force)).await
    }

    async fn prune_volumes(
        &self,
        filters: Filters,
    ) -> BackendResult<crate::api::models::VolumePruneResponse> {
        let this = self.clone();
        blocking(move || this.volume_prune(&filters)).await
    }
}

/// Runs blocking filesystem or kernel work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> BackendResult<T> + Send + 'static,
) -> BackendResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BackendError::new(ErrorKind::Internal, format!("task failed: {e}")))?
}

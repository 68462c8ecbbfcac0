//! An in-memory [`Backend`]: records of containers, images, networks and volumes with Docker's
//! state rules and messages, but no processes. The API tests run over it, and it is the reference
//! of the semantics the real engine must show (compare its answers with the real backend's).

mod archive;
mod exec;
mod images;
mod logs;
mod objects;
mod stats;
mod util;
mod views;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use futures_util::stream;
use tokio::sync::{broadcast, watch};

use crate::api::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspect, ContainerSummary,
    ContainerTopResponse, ContainerWaitResponse, EndpointSettings, EventMessage, ExecConfig,
    ExecInspect, Filters, IdResponse, ImageDeleteItem, ImageInspect, ImageSummary, Info, Network,
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    ProgressMessage, Volume, VolumeCreateRequest, VolumeListResponse,
};
use crate::backend::{
    AttachOptions, Attachment, Backend, BackendError, BackendResult, BoxFuture, BoxStream,
    ErrorKind, ListContainersOptions, LogChunk, LogsOptions, WaitCondition,
};
use objects::{FakeImage, FakeNetwork, FakeVolume};
use util::{new_id, signal_number, valid_container_name};

/// Output with the time it was written (for `timestamps`).
type TimedChunk = (SystemTime, LogChunk);

/// Lifecycle state of a fake container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Created,
    Running,
    Paused,
    Exited,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Exited => "exited",
        }
    }
}

/// What waiters watch: how many times the container exited, and whether it is gone.
#[derive(Debug, Clone, Copy, Default)]
struct Lifecycle {
    exits: u64,
    running: bool,
    removed: bool,
    exit_code: i64,
}

#[derive(Debug)]
struct FakeContainer {
    id: String,
    name: String,
    created: SystemTime,
    body: ContainerCreateBody,
    image_ref: String,
    image_id: String,
    status: Status,
    exit_code: i64,
    pid: i64,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
    networks: BTreeMap<String, EndpointSettings>,
    logs: Vec<TimedChunk>,
    live_logs: broadcast::Sender<TimedChunk>,
    lifecycle: watch::Sender<Lifecycle>,
}

#[derive(Debug, Default)]
struct State {
    containers: BTreeMap<String, FakeContainer>,
    images: BTreeMap<String, FakeImage>,
    networks: BTreeMap<String, FakeNetwork>,
    volumes: BTreeMap<String, FakeVolume>,
    events: Vec<EventMessage>,
    next_pid: i64,
    execs: BTreeMap<String, exec::FakeExec>,
    exec_script: exec::ExecScript,
    files: BTreeMap<String, archive::FakeFs>,
}

/// In-memory engine. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct FakeBackend {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<EventMessage>,
    data_root: String,
}

impl Default for FakeBackend {
    fn default() -> Self {
        Self::new("/var/lib/berth")
    }
}

impl FakeBackend {
    /// An empty engine with Docker's predefined networks (`bridge`, `host`, `none`); `data_root`
    /// only appears in answers (volume mountpoints, `Info.DockerRootDir`).
    pub fn new(data_root: &str) -> Self {
        let (events, _) = broadcast::channel(1024);
        let fake = Self {
            state: Arc::default(),
            events,
            data_root: data_root.to_owned(),
        };
        {
            let mut st = fake.lock();
            for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
                let net = FakeNetwork::predefined(name, driver);
                st.networks.insert(net.id.clone(), net);
            }
            st.next_pid = 1000;
        }
        fake
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks a running container as exited with `code`, as if its process ended (used by tests).
    pub fn exit_container(&self, id: &str, code: i64) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        self.exit_locked(&mut st, &id, code, "die");
        Ok(())
    }

    fn emit(
        &self,
        st: &mut State,
        typ: &str,
        action: &str,
        id: &str,
        attrs: BTreeMap<String, String>,
    ) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let legacy = typ == "container";
        let msg = EventMessage {
            typ: typ.to_owned(),
            action: action.to_owned(),
            actor: crate::api::models::EventActor {
                id: id.to_owned(),
                attributes: attrs.clone(),
            },
            scope: "local".to_owned(),
            time: now.as_secs() as i64,
            time_nano: now.as_nanos() as i64,
            status: legacy.then(|| action.to_owned()),
            id: legacy.then(|| id.to_owned()),
            from: if legacy {
                attrs.get("image").cloned()
            } else {
                None
            },
        };
        st.events.push(msg.clone());
        // No subscribers is not an error.
        let _ = self.events.send(msg);
    }

    fn container_event(&self, st: &mut State, id: &str, action: &str) {
        let Some(c) = st.containers.get(id) else {
            return;
        };
        let mut attrs: BTreeMap<String, String> = c
            .body
            .config
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        attrs.insert("name".to_owned(), c.name.clone());
        attrs.insert("image".to_owned(), c.image_ref.clone());
        if action == "die" {
            attrs.insert("exitCode".to_owned(), c.exit_code.to_string());
        }
        self.emit(st, "container", action, id, attrs);
    }

    fn exit_locked(&self, st: &mut State, id: &str, code: i64, action: &str) {
        let auto_remove = {
            let Some(c) = st.containers.get_mut(id) else {
                return;
            };
            if !matches!(c.status, Status::Running | Status::Paused) {
                return;
            }
            c.status = Status::Exited;
            c.exit_code = code;
            c.pid = 0;
            c.finished_at = Some(SystemTime::now());
            c.lifecycle.send_modify(|l| {
                l.exits += 1;
                l.running = false;
                l.exit_code = code;
            });
            c.body.host_config.auto_remove
        };
        self.container_event(st, id, action);
        if auto_remove {
            self.remove_locked(st, id);
        }
    }

    fn remove_locked(&self, st: &mut State, id: &str) {
        self.container_event(st, id, "destroy");
        if let Some(c) = st.containers.remove(id) {
            c.lifecycle.send_modify(|l| l.removed = true);
        }
    }

    fn wait_for(&self, id: &str) -> BackendResult<watch::Receiver<Lifecycle>> {
        let st = self.lock();
        let id = resolve_container(&st, id)?;
        Ok(st.containers[&id].lifecycle.subscribe())
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
}

fn network_mode(body: &ContainerCreateBody) -> String {
    match body.host_config.network_mode.as_str() {
        "" | "default" => "bridge".to_owned(),
        other => other.to_owned(),
    }
}

fn command_of(st: &State, c: &FakeContainer) -> (String, Vec<String>) {
    let image_cmd = st
        .images
        .get(&c.image_id)
        .map(|i| i.cmd.clone())
        .unwrap_or_default();
    let mut argv = c.body.config.entrypoint.clone().unwrap_or_default();
    argv.extend(c.body.config.cmd.clone().unwrap_or(image_cmd));
    let mut it = argv.into_iter();
    (it.next().unwrap_or_default(), it.collect())
}

/// Docker's lookup: full id, name (with or without `/`), or unique id prefix.
fn resolve_container(st: &State, key: &str) -> BackendResult<String> {
    if st.containers.contains_key(key) {
        return Ok(key.to_owned());
    }
    let name = key.strip_prefix('/').unwrap_or(key);
    if let Some(c) = st.containers.values().find(|c| c.name == name) {
        return Ok(c.id.clone());
    }
    let matches: Vec<&String> = if key.is_empty() {
        Vec::new()
    } else {
        st.containers
            .keys()
            .filter(|id| id.starts_with(key))
            .collect()
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(BackendError::not_found(format!("No such container: {key}"))),
        _ => Err(BackendError::invalid(format!(
            "multiple IDs found with provided prefix: {key}"
        ))),
    }
}

fn not_running(id: &str) -> BackendError {
    BackendError::conflict(format!("Container {id} is not running"))
}

impl Backend for FakeBackend {
    async fn put_archive(
        &self,
        id: &str,
        opts: crate::backend::PutArchiveOptions,
        archive: crate::backend::ByteStream,
    ) -> BackendResult<()> {
        self.put_archive_impl(id, opts, archive).await
    }

    async fn stat_container_path(
        &self,
        id: &str,
        path: &str,
    ) -> BackendResult<crate::backend::PathStat> {
        self.stat_path_impl(id, path)
    }

    async fn get_archive(
        &self,
        id: &str,
        path: &str,
    ) -> BackendResult<(crate::backend::PathStat, crate::backend::ByteStream)> {
        self.get_archive_impl(id, path)
    }

    async fn info(&self) -> BackendResult<Info> {
        let st = self.lock();
        let count = |s: Status| st.containers.values().filter(|c| c.status == s).count() as i64;
        Ok(Info {
            id: "berth-fake".to_owned(),
            containers: st.containers.len() as i64,
            containers_running: count(Status::Running),
            containers_paused: count(Status::Paused),
            containers_stopped: count(Status::Exited) + count(Status::Created),
            images: st.images.len() as i64,
            driver: "fake".to_owned(),
            docker_root_dir: self.data_root.clone(),
            logging_driver: "json-file".to_owned(),
            cgroup_driver: "cgroupfs".to_owned(),
            cgroup_version: "2".to_owned(),
            operating_system: "berth fake engine".to_owned(),
            os_type: "linux".to_owned(),
            architecture: std::env::consts::ARCH.to_owned(),
            ncpu: 1,
            name: "berth".to_owned(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Info::default()
        })
    }

    fn events(&self, since: Option<i64>) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>) {
        let st = self.lock();
        let rx = self.events.subscribe();
        let history = match since {
            Some(t) => st.events.iter().filter(|e| e.time >= t).cloned().collect(),
            None => Vec::new(),
        };
        (history, rx)
    }

    async fn list_containers(
        &self,
        opts: ListContainersOptions,
    ) -> BackendResult<Vec<ContainerSummary>> {
        let st = self.lock();
        let f = &opts.filters;
        let mut list: Vec<&FakeContainer> = st
            .containers
            .values()
            .filter(|c| opts.all || !f.get("status").is_empty() || c.status == Status::Running)
            .filter(|c| f.match_labels(&c.body.config.labels))
            .filter(|c| f.any("id", |v| c.id.starts_with(v)))
            .filter(|c| f.any("name", |v| c.name.contains(v.trim_start_matches('/'))))
            .filter(|c| f.any("status", |v| v == c.status.as_str()))
            .filter(|c| {
                f.any("ancestor", |v| {
                    c.image_ref == util::normalize_ref(v) || c.image_id == v
                })
            })
            .filter(|c| f.any("network", |v| c.networks.contains_key(v)))
            .collect();
        list.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        if let Some(limit) = opts.limit {
            list.truncate(limit);
        }
        Ok(list.into_iter().map(|c| self.summary(&st, c)).collect())
    }

    async fn create_container(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> BackendResult<ContainerCreateResponse> {
        let mut st = self.lock();
        let id = new_id();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !valid_container_name(&n) {
                    return Err(BackendError::invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                n.trim_start_matches('/').to_owned()
            }
            None => format!("berth_{}", &id[..12]),
        };
        if let Some(other) = st.containers.values().find(|c| c.name == name) {
            return Err(BackendError::conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{}\". \
                 You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        if body.config.image.is_empty() {
            return Err(BackendError::invalid(
                "config cannot be empty in order to create a container",
            ));
        }
        let image_id = objects::resolve_image(&st, &body.config.image)?;
        let networks = objects::endpoints_for(&st, &body)?;
        for vol in util::named_volumes(&body) {
            if !st.volumes.contains_key(&vol) {
                let v = FakeVolume::new(&vol, &self.data_root, VolumeCreateRequest::default());
                st.volumes.insert(vol.clone(), v);
                self.emit(&mut st, "volume", "create", &vol, BTreeMap::new());
            }
        }
        let image_ref = match body.config.image.starts_with("sha256:") {
            true => body.config.image.clone(),
            false => util::normalize_ref(&body.config.image),
        };
        let (live_logs, _) = broadcast::channel(256);
        let (lifecycle, _) = watch::channel(Lifecycle::default());
        let c = FakeContainer {
            id: id.clone(),
            name,
            created: SystemTime::now(),
            body,
            image_ref,
            image_id,
            status: Status::Created,
            exit_code: 0,
            pid: 0,
            started_at: None,
            finished_at: None,
            networks,
            logs: Vec::new(),
            live_logs,
            lifecycle,
        };
        st.containers.insert(id.clone(), c);
        self.container_event(&mut st, &id, "create");
        Ok(ContainerCreateResponse {
            id,
            warnings: Vec::new(),
        })
    }

    async fn inspect_container(&self, id: &str) -> BackendResult<ContainerInspect> {
        let st = self.lock();
        let id = resolve_container(&st, id)?;
        Ok(self.inspect_view(&st, &st.containers[&id]))
    }

    async fn start_container(&self, id: &str) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        st.next_pid += 1;
        let pid = st.next_pid;
        let c = st.containers.get_mut(&id).expect("resolved id exists");
        match c.status {
            Status::Running | Status::Paused => {
                return Err(BackendError::new(
                    ErrorKind::NotModified,
                    "container already started",
                ));
            }
            Status::Created | Status::Exited => {}
        }
        c.status = Status::Running;
        c.pid = pid;
        c.exit_code = 0;
        c.started_at = Some(SystemTime::now());
        c.lifecycle.send_modify(|l| l.running = true);
        self.container_event(&mut st, &id, "start");
        Ok(())
    }

    async fn stop_container(
        &self,
        id: &str,
        _timeout: Option<i64>,
        signal: Option<String>,
    ) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        let c = &st.containers[&id];
        if !matches!(c.status, Status::Running | Status::Paused) {
            return Err(BackendError::new(
                ErrorKind::NotModified,
                "container already stopped",
            ));
        }
        let sig = signal
            .or_else(|| c.body.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".to_owned());
        let code = 128 + signal_number(&sig)?;
        self.container_event(&mut st, &id, "kill");
        self.exit_locked(&mut st, &id, code, "die");
        self.container_event(&mut st, &id, "stop");
        Ok(())
    }

    async fn restart_container(&self, id: &str, timeout: Option<i64>) -> BackendResult<()> {
        match self.stop_container(id, timeout, None).await {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotModified => {}
            Err(e) => return Err(e),
        }
        self.start_container(id).await?;
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        self.container_event(&mut st, &id, "restart");
        Ok(())
    }

    async fn kill_container(&self, id: &str, signal: Option<String>) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        let sig = signal
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "SIGKILL".to_owned());
        let num = signal_number(&sig)?;
        if !matches!(st.containers[&id].status, Status::Running | Status::Paused) {
            return Err(BackendError::conflict(format!(
                "Cannot kill container: {id}: Container {id} is not running"
            )));
        }
        self.container_event(&mut st, &id, "kill");
        self.exit_locked(&mut st, &id, 128 + num, "die");
        Ok(())
    }

    async fn wait_container(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> BackendResult<BoxFuture<BackendResult<ContainerWaitResponse>>> {
        let mut rx = self.wait_for(id)?;
        let start = *rx.borrow_and_update();
        let done = move |l: &Lifecycle| match condition {
            WaitCondition::NotRunning => !l.running || l.removed,
            WaitCondition::NextExit => l.exits > start.exits || l.removed,
            WaitCondition::Removed => l.removed,
        };
        Ok(Box::pin(async move {
            loop {
                let now = *rx.borrow_and_update();
                if done(&now) {
                    return Ok(ContainerWaitResponse {
                        status_code: now.exit_code,
                        error: None,
                    });
                }
                if rx.changed().await.is_err() {
                    let last = *rx.borrow();
                    return Ok(ContainerWaitResponse {
                        status_code: last.exit_code,
                        error: None,
                    });
                }
            }
        }))
    }

    async fn pause_container(&self, id: &str) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        let c = st.containers.get_mut(&id).expect("resolved id exists");
        match c.status {
            Status::Running => c.status = Status::Paused,
            Status::Paused => {
                return Err(BackendError::conflict(format!(
                    "Container {id} is already paused"
                )));
            }
            _ => return Err(not_running(&id)),
        }
        self.container_event(&mut st, &id, "pause");
        Ok(())
    }

    async fn unpause_container(&self, id: &str) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        let c = st.containers.get_mut(&id).expect("resolved id exists");
        if c.status != Status::Paused {
            return Err(BackendError::conflict(format!(
                "Container {id} is not paused"
            )));
        }
        c.status = Status::Running;
        self.container_event(&mut st, &id, "unpause");
        Ok(())
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        let new_name = new_name.trim_start_matches('/');
        if !valid_container_name(new_name) {
            return Err(BackendError::invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let old = st.containers[&id].name.clone();
        if old == new_name {
            return Err(BackendError::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        if let Some(other) = st.containers.values().find(|c| c.name == new_name) {
            return Err(BackendError::conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". \
                 You have to remove (or rename) that container to be able to reuse that name.",
                other.id
            )));
        }
        st.containers.get_mut(&id).expect("resolved id exists").name = new_name.to_owned();
        self.container_event(&mut st, &id, "rename");
        Ok(())
    }

    async fn remove_container(&self, id: &str, force: bool, _volumes: bool) -> BackendResult<()> {
        let mut st = self.lock();
        let id = resolve_container(&st, id)?;
        if matches!(st.containers[&id].status, Status::Running | Status::Paused) {
            if !force {
                return Err(BackendError::conflict(format!(
                    "You cannot remove a running container {id}. Stop the container before \
                     attempting removal or force remove"
                )));
            }
            self.exit_locked(&mut st, &id, 137, "die");
        }
        self.remove_locked(&mut st, &id);
        Ok(())
    }

    async fn container_logs(
        &self,
        id: &str,
        opts: LogsOptions,
    ) -> BackendResult<BoxStream<BackendResult<LogChunk>>> {
        self.container_logs_impl(id, opts)
    }

    async fn attach_container(&self, id: &str, opts: AttachOptions) -> BackendResult<Attachment> {
        self.attach_container_impl(id, opts)
    }

    async fn create_exec(&self, id: &str, config: ExecConfig) -> BackendResult<IdResponse> {
        self.create_exec_impl(id, config)
    }

    async fn start_exec(&self, exec_id: &str) -> BackendResult<Attachment> {
        self.start_exec_impl(exec_id)
    }

    async fn inspect_exec(&self, exec_id: &str) -> BackendResult<ExecInspect> {
        self.inspect_exec_impl(exec_id)
    }

    async fn container_stats(&self, id: &str) -> BackendResult<crate::api::models::ContainerStats> {
        self.stats_impl(id)
    }

    async fn top_container(&self, id: &str) -> BackendResult<ContainerTopResponse> {
        let st = self.lock();
        let id = resolve_container(&st, id)?;
        let c = &st.containers[&id];
        if !matches!(c.status, Status::Running | Status::Paused) {
            return Err(not_running(&id));
        }
        let (path, args) = command_of(&st, c);
        let cmd = std::iter::once(path)
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ");
        Ok(ContainerTopResponse {
            titles: vec!["PID".to_owned(), "CMD".to_owned()],
            processes: vec![vec![c.pid.to_string(), cmd]],
        })
    }

    async fn list_images(&self, all: bool, filters: Filters) -> BackendResult<Vec<ImageSummary>> {
        self.list_images_impl(all, &filters)
    }

    async fn pull_image(
        &self,
        image: &str,
        tag: Option<&str>,
    ) -> BackendResult<BoxStream<ProgressMessage>> {
        let messages = self.pull_image_impl(image, tag)?;
        Ok(Box::pin(stream::iter(messages)))
    }

    async fn import_image(
        &self,
        source: crate::backend::ByteStream,
        opts: crate::backend::ImportImageOptions,
    ) -> BackendResult<String> {
        self.import_image_impl(source, opts).await
    }

    async fn inspect_image(&self, name: &str) -> BackendResult<ImageInspect> {
        self.inspect_image_impl(name)
    }

    async fn tag_image(&self, name: &str, repo: &str, tag: Option<&str>) -> BackendResult<()> {
        self.tag_image_impl(name, repo, tag)
    }

    async fn remove_image(&self, name: &str, force: bool) -> BackendResult<Vec<ImageDeleteItem>> {
        self.remove_image_impl(name, force)
    }

    async fn list_networks(&self, filters: Filters) -> BackendResult<Vec<Network>> {
        Ok(self.list_networks_impl(&filters))
    }

    async fn inspect_network(&self, id: &str) -> BackendResult<Network> {
        self.inspect_network_impl(id)
    }

    async fn create_network(
        &self,
        req: NetworkCreateRequest,
    ) -> BackendResult<NetworkCreateResponse> {
        self.create_network_impl(req)
    }

    async fn remove_network(&self, id: &str) -> BackendResult<()> {
        self.remove_network_impl(id)
    }

    async fn connect_network(&self, id: &str, req: NetworkConnectRequest) -> BackendResult<()> {
        self.connect_network_impl(id, req)
    }

    async fn disconnect_network(
        &self,
        id: &str,
        req: NetworkDisconnectRequest,
    ) -> BackendResult<()> {
        self.disconnect_network_impl(id, req)
    }

    async fn list_volumes(&self, filters: Filters) -> BackendResult<VolumeListResponse> {
        Ok(self.list_volumes_impl(&filters))
    }

    async fn create_volume(&self, req: VolumeCreateRequest) -> BackendResult<Volume> {
        self.create_volume_impl(req)
    }

    async fn inspect_volume(&self, name: &str) -> BackendResult<Volume> {
        self.inspect_volume_impl(name)
    }

    async fn remove_volume(&self, name: &str, force: bool) -> BackendResult<()> {
        self.remove_volume_impl(name, force)
    }
}

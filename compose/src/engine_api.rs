//! The compose → engine port.
//!
//! The planner and executor talk to a container engine only through [`EngineApi`], a narrow
//! async trait in compose's own plain types. The HTTP adapter over the engine client lives
//! outside this crate (compose does not depend on the engine); [`FakeEngine`] is the in-memory
//! implementation the executor tests run against.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

mod resources;
pub use resources::{DeviceSpec, LogSpec, ResourceSpec, ThrottleSpec, UlimitSpec};

/// Labels of a container, network or volume.
pub type Labels = BTreeMap<String, String>;

/// Errors of the engine port, in the categories callers act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The named object does not exist.
    #[error("{kind} {name} not found")]
    NotFound { kind: &'static str, name: String },
    /// An object with that name already exists.
    #[error("{kind} {name} already exists")]
    AlreadyExists { kind: &'static str, name: String },
    /// The engine refused or failed the call.
    #[error("{op} {name}: {message}")]
    Failed {
        op: &'static str,
        name: String,
        message: String,
    },
}

/// A label filter: every `(key, value)` must match; a `None` value only needs the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelFilter(pub Vec<(String, Option<String>)>);

impl LabelFilter {
    /// Objects labelled `com.docker.compose.project=<project>`.
    pub fn project(project: &str) -> Self {
        LabelFilter(vec![(
            crate::plan::labels::PROJECT.to_string(),
            Some(project.to_string()),
        )])
    }

    /// Whether `labels` pass the filter.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|(k, v)| match (labels.get(k), v) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        })
    }
}

/// Run state of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunState {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
}

/// Health of a container with a health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

/// A volume mounted in a container, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// The engine volume name (64 hex digits for an anonymous volume).
    pub name: String,
    pub destination: String,
    pub read_only: bool,
}

/// What the engine reports about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub labels: Labels,
    pub state: RunState,
    /// `None` when the container has no health check.
    pub health: Option<Health>,
    /// Exit code once the container has exited.
    pub exit_code: Option<i64>,
    /// Its volume mounts (named and anonymous).
    pub volumes: Vec<VolumeMount>,
}

/// What the engine reports about a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub labels: Labels,
}

/// What the engine reports about a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    pub labels: Labels,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub target: u16,
    pub protocol: String,
    pub host_ip: Option<String>,
    /// The host port or range; `None` lets the engine pick.
    pub published: Option<String>,
}

/// A mount of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountSpec {
    /// `volume`, `bind`, `tmpfs`, …
    pub kind: String,
    /// Engine volume name or host path; `None` for anonymous volumes and tmpfs.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    /// Bind propagation (`rprivate`, `rshared`, …).
    pub propagation: Option<String>,
    /// Bind: create a missing host path (short syntax, or `bind.create_host_path: true`);
    /// without it a missing host path is an error.
    pub create_host_path: bool,
    /// Volume: do not copy the image's content into an empty volume.
    pub nocopy: bool,
    /// tmpfs size in bytes.
    pub tmpfs_size: Option<u64>,
    /// tmpfs mode bits.
    pub tmpfs_mode: Option<u32>,
}

/// Where the bytes of a [`FileCopy`] come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// Inline text (`content:`, or the value of an `environment:` source).
    Content(String),
    /// A host file (`file:` with `uid`, `gid` or `mode`), read when the container is created.
    HostFile(String),
}

/// A file copied into a container after it is created and before it starts, as docker
/// compose does for secrets and configs that cannot be a plain read-only bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCopy {
    /// Absolute path in the container.
    pub target: String,
    pub source: FileSource,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (0444 unless set).
    pub mode: u32,
}

/// A network a container joins, with its DNS aliases and static addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAttachment {
    pub network: String,
    pub aliases: Vec<String>,
    /// `ipv4_address` of the service's entry for this network.
    pub ipv4_address: Option<String>,
    /// `ipv6_address` of the service's entry for this network.
    pub ipv6_address: Option<String>,
    /// `mac_address` of the entry (the service's own `mac_address` goes to its first network).
    pub mac_address: Option<String>,
}

/// A health check in engine form (durations in nanoseconds, like the Docker API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    pub test: Vec<String>,
    pub interval_ns: Option<u64>,
    pub timeout_ns: Option<u64>,
    pub start_period_ns: Option<u64>,
    pub start_interval_ns: Option<u64>,
    pub retries: Option<u64>,
}

/// Everything needed to create one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub labels: Labels,
    /// `KEY=VALUE` entries, sorted by key.
    pub env: Vec<String>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub ports: Vec<PortSpec>,
    pub mounts: Vec<MountSpec>,
    /// Files copied in after create, before start (secrets and configs).
    pub files: Vec<FileCopy>,
    /// `HostConfig.VolumesFrom`: container names with an optional `:ro`/`:rw`.
    pub volumes_from: Vec<String>,
    /// `HostConfig.Tmpfs` from the short `tmpfs:` list: `path[:options]`.
    pub tmpfs: Vec<String>,
    pub networks: Vec<NetworkAttachment>,
    pub network_mode: Option<String>,
    pub restart: Option<String>,
    pub healthcheck: Option<HealthSpec>,
    pub tty: bool,
    pub stdin_open: bool,
    pub privileged: bool,
    pub read_only: bool,
    pub init: Option<bool>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub stop_signal: Option<String>,
    /// `Config.StopTimeout` in seconds, from `stop_grace_period`: what `stop` and `restart`
    /// wait before SIGKILL when given no timeout.
    pub stop_timeout: Option<u64>,
    /// Name resolution: `HostConfig.Dns`, `DnsSearch`, `DnsOptions`.
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    /// `HostConfig.ExtraHosts`: `name:address` entries.
    pub extra_hosts: Vec<String>,
    /// `HostConfig.Links`: `container:alias` entries (from `links` and `external_links`).
    pub links: Vec<String>,
    /// `Config.ExposedPorts` of `expose` (and not published): `port/protocol` entries.
    pub expose: Vec<String>,
    /// `Config.Domainname`.
    pub domainname: Option<String>,
    /// Limits, ulimits, sysctls, devices, security options and logging.
    pub resources: ResourceSpec,
}

/// Everything needed to create one network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: Labels,
    pub internal: bool,
    pub attachable: bool,
    /// `enable_ipv4: false` (IPv6-only); `None` keeps the engine's default (IPv4 on).
    pub enable_ipv4: Option<bool>,
    pub enable_ipv6: Option<bool>,
    /// `(subnet, gateway)` pools.
    pub subnets: Vec<SubnetSpec>,
    pub labels: Labels,
}

/// One `ipam.config` entry of a network: subnet, and optionally its gateway and the range
/// dynamic addresses come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubnetSpec {
    pub subnet: String,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
}

/// Everything needed to create one volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: Labels,
    pub labels: Labels,
}

/// The calls compose makes to an engine. Containers are addressed by name or id.
#[async_trait]
pub trait EngineApi: Send + Sync {
    async fn list_containers(
        &self,
        filter: &LabelFilter,
    ) -> Result<Vec<ContainerInfo>, EngineError>;
    async fn list_networks(&self, filter: &LabelFilter) -> Result<Vec<NetworkInfo>, EngineError>;
    async fn list_volumes(&self, filter: &LabelFilter) -> Result<Vec<VolumeInfo>, EngineError>;
    /// Creates a container and returns its id.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError>;
    async fn start_container(&self, container: &str) -> Result<(), EngineError>;
    /// Stops a container, killing it after `timeout_s` seconds (engine default when `None`).
    async fn stop_container(
        &self,
        container: &str,
        timeout_s: Option<u64>,
    ) -> Result<(), EngineError>;
    async fn kill_container(&self, container: &str, signal: &str) -> Result<(), EngineError>;
    async fn remove_container(&self, container: &str, force: bool) -> Result<(), EngineError>;
    /// Removes a stopped container and its anonymous volumes (`rm -v`); named volumes stay.
    async fn remove_container_with_volumes(&self, container: &str) -> Result<(), EngineError>;
    async fn inspect_container(&self, container: &str) -> Result<ContainerInfo, EngineError>;
    /// Extracts the tar archive `tar` into directory `dir` of a created container; owners and
    /// modes come from the tar headers.
    async fn copy_to_container(
        &self,
        container: &str,
        dir: &str,
        tar: Vec<u8>,
    ) -> Result<(), EngineError>;
    /// Waits until the container's health check settles and returns the result.
    async fn wait_healthy(&self, container: &str) -> Result<Health, EngineError>;
    /// Waits until the container exits and returns its exit code.
    async fn wait_exit(&self, container: &str) -> Result<i64, EngineError>;
    /// Creates a network and returns its id.
    async fn create_network(&self, spec: &NetworkSpec) -> Result<String, EngineError>;
    async fn remove_network(&self, name: &str) -> Result<(), EngineError>;
    async fn create_volume(&self, spec: &VolumeSpec) -> Result<(), EngineError>;
    async fn remove_volume(&self, name: &str) -> Result<(), EngineError>;
}

/// The label the engine puts on the anonymous volumes it creates.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// How a [`FakeEngine`] container behaves once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeBehaviour {
    /// Health reported by `wait_healthy` (`None`: no health check).
    pub health: Option<Health>,
    /// When set, the container exits right away with this code.
    pub exits_with: Option<i64>,
}

impl Default for FakeBehaviour {
    fn default() -> Self {
        FakeBehaviour {
            health: Some(Health::Healthy),
            exits_with: None,
        }
    }
}

#[derive(Debug, Default)]
struct FakeState {
    containers: BTreeMap<String, ContainerInfo>,
    networks: BTreeMap<String, NetworkInfo>,
    volumes: BTreeMap<String, VolumeInfo>,
    behaviour: BTreeMap<String, FakeBehaviour>,
    log: Vec<String>,
    copies: Vec<(String, String, Vec<u8>)>,
    next_id: u64,
    in_flight: usize,
    max_in_flight: usize,
}

/// An in-memory engine: keeps objects in maps, records every mutating call in order and the
/// highest number of calls that were in progress at once.
#[derive(Debug, Default)]
pub struct FakeEngine {
    state: Mutex<FakeState>,
}

struct InFlight<'a>(&'a FakeEngine);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight -= 1;
    }
}

impl FakeEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets how the container named `name` behaves once started.
    pub fn set_behaviour(&self, name: &str, behaviour: FakeBehaviour) {
        self.lock().behaviour.insert(name.to_string(), behaviour);
    }

    /// Adds an existing container (as if created earlier).
    pub fn insert_container(&self, info: ContainerInfo) {
        self.lock().containers.insert(info.id.clone(), info);
    }

    /// Adds an existing network.
    pub fn insert_network(&self, info: NetworkInfo) {
        self.lock().networks.insert(info.name.clone(), info);
    }

    /// Adds an existing volume.
    pub fn insert_volume(&self, info: VolumeInfo) {
        self.lock().volumes.insert(info.name.clone(), info);
    }

    /// Every mutating call so far, as `verb name`, in completion order.
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// Every `copy_to_container` so far: (container name, directory, tar).
    pub fn copies(&self) -> Vec<(String, String, Vec<u8>)> {
        self.lock().copies.clone()
    }

    /// The most calls that were in progress at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    /// Marks a call in progress, lets other tasks run, and returns a guard ending it.
    async fn enter(&self) -> InFlight<'_> {
        {
            let mut s = self.lock();
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
        }
        let guard = InFlight(self);
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        guard
    }

    fn with_container<T>(
        &self,
        op: &'static str,
        key: &str,
        f: impl FnOnce(&mut ContainerInfo, FakeBehaviour) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let mut s = self.lock();
        let id = s
            .containers
            .values()
            .find(|c| c.id == key || c.name == key)
            .map(|c| c.id.clone())
            .ok_or_else(|| EngineError::NotFound {
                kind: "container",
                name: key.to_string(),
            })?;
        let name = s.containers[&id].name.clone();
        let behaviour = s.behaviour.get(&name).copied().unwrap_or_default();
        let c = s.containers.get_mut(&id).ok_or(EngineError::NotFound {
            kind: "container",
            name: key.to_string(),
        })?;
        let out = f(c, behaviour)?;
        s.log.push(format!("{op} {name}"));
        Ok(out)
    }
}

#[async_trait]
impl EngineApi for FakeEngine {
    async fn list_containers(
        &self,
        filter: &LabelFilter,
    ) -> Result<Vec<ContainerInfo>, EngineError> {
        let s = self.lock();
        Ok(s.containers
            .values()
            .filter(|c| filter.matches(&c.labels))
            .cloned()
            .collect())
    }

    async fn list_networks(&self, filter: &LabelFilter) -> Result<Vec<NetworkInfo>, EngineError> {
        let s = self.lock();
        Ok(s.networks
            .values()
            .filter(|n| filter.matches(&n.labels))
            .cloned()
            .collect())
    }

    async fn list_volumes(&self, filter: &LabelFilter) -> Result<Vec<VolumeInfo>, EngineError> {
        let s = self.lock();
        Ok(s.volumes
            .values()
            .filter(|v| filter.matches(&v.labels))
            .cloned()
            .collect())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let _g = self.enter().await;
        let mut s = self.lock();
        if s.containers.values().any(|c| c.name == spec.name) {
            return Err(EngineError::AlreadyExists {
                kind: "container",
                name: spec.name.clone(),
            });
        }
        s.next_id += 1;
        let id = format!("c{:04}", s.next_id);
        let mut anonymous = Vec::new();
        let mut volumes = Vec::new();
        for (i, m) in spec.mounts.iter().enumerate() {
            if m.kind != "volume" {
                continue;
            }
            let name = m.source.clone().unwrap_or_else(|| {
                let name = format!("{:064x}", s.next_id * 1000 + i as u64);
                anonymous.push(name.clone());
                name
            });
            volumes.push(VolumeMount {
                name,
                destination: m.target.clone(),
                read_only: m.read_only,
            });
        }
        let info = ContainerInfo {
            id: id.clone(),
            name: spec.name.clone(),
            labels: spec.labels.clone(),
            state: RunState::Created,
            health: None,
            exit_code: None,
            volumes,
        };
        s.containers.insert(id.clone(), info);
        for name in &anonymous {
            let labels = [(ANONYMOUS_LABEL.to_owned(), String::new())].into();
            let info = VolumeInfo {
                name: name.clone(),
                labels,
            };
            s.volumes.insert(name.clone(), info);
        }
        s.log.push(format!("create {}", spec.name));
        Ok(id)
    }

    async fn start_container(&self, container: &str) -> Result<(), EngineError> {
        let _g = self.enter().await;
        self.with_container("start", container, |c, b| {
            c.health = b.health.map(|_| Health::Starting);
            match b.exits_with {
                Some(code) => {
                    c.state = RunState::Exited;
                    c.exit_code = Some(code);
                }
                None => c.state = RunState::Running,
            }
            Ok(())
        })
    }

    async fn stop_container(
        &self,
        container: &str,
        _timeout_s: Option<u64>,
    ) -> Result<(), EngineError> {
        let _g = self.enter().await;
        self.with_container("stop", container, |c, _| {
            if c.state == RunState::Running {
                c.state = RunState::Exited;
                c.exit_code = Some(0);
            }
            Ok(())
        })
    }

    async fn kill_container(&self, container: &str, signal: &str) -> Result<(), EngineError> {
        let _g = self.enter().await;
        self.with_container("kill", container, |c, _| {
            if c.state != RunState::Running {
                return Err(EngineError::Failed {
                    op: "kill",
                    name: c.name.clone(),
                    message: "container is not running".into(),
                });
            }
            c.state = RunState::Exited;
            c.exit_code = Some(if signal == "SIGKILL" { 137 } else { 143 });
            Ok(())
        })
    }

    async fn remove_container(&self, container: &str, force: bool) -> Result<(), EngineError> {
        let _g = self.enter().await;
        let id = self.with_container("remove", container, |c, _| {
            if c.state == RunState::Running && !force {
                return Err(EngineError::Failed {
                    op: "remove",
                    name: c.name.clone(),
                    message: "container is running".into(),
                });
            }
            Ok(c.id.clone())
        })?;
        let mut s = self.lock();
        s.containers.remove(&id);
        Ok(())
    }

    async fn remove_container_with_volumes(&self, container: &str) -> Result<(), EngineError> {
        let _g = self.enter().await;
        let id = self.with_container("remove-with-volumes", container, |c, _| {
            if c.state == RunState::Running {
                return Err(EngineError::Failed {
                    op: "remove",
                    name: c.name.clone(),
                    message: "container is running".into(),
                });
            }
            Ok(c.id.clone())
        })?;
        let mut s = self.lock();
        let mounted = s
            .containers
            .remove(&id)
            .map(|c| c.volumes)
            .unwrap_or_default();
        for m in mounted {
            let anonymous = s
                .volumes
                .get(&m.name)
                .is_some_and(|v| v.labels.contains_key(ANONYMOUS_LABEL));
            let used = s
                .containers
                .values()
                .any(|c| c.volumes.iter().any(|o| o.name == m.name));
            if anonymous && !used {
                s.volumes.remove(&m.name);
            }
        }
        Ok(())
    }

    async fn inspect_container(&self, container: &str) -> Result<ContainerInfo, EngineError> {
        let s = self.lock();
        s.containers
            .values()
            .find(|c| c.id == container || c.name == container)
            .cloned()
            .ok_or_else(|| EngineError::NotFound {
                kind: "container",
                name: container.to_string(),
            })
    }

    async fn copy_to_container(
        &self,
        container: &str,
        dir: &str,
        tar: Vec<u8>,
    ) -> Result<(), EngineError> {
        let _g = self.enter().await;
        let name = self.with_container("copy", container, |c, _| Ok(c.name.clone()))?;
        self.lock().copies.push((name, dir.to_owned(), tar));
        Ok(())
    }

    async fn wait_healthy(&self, container: &str) -> Result<Health, EngineError> {
        let _g = self.enter().await;
        self.with_container("wait-healthy", container, |c, b| {
            c.health = b.health;
            b.health.ok_or_else(|| EngineError::Failed {
                op: "wait-healthy",
                name: c.name.clone(),
                message: "container has no health check".into(),
            })
        })
    }

    async fn wait_exit(&self, container: &str) -> Result<i64, EngineError> {
        let _g = self.enter().await;
        self.with_container("wait-exit", container, |c, _| {
            c.exit_code.ok_or_else(|| EngineError::Failed {
                op: "wait-exit",
                name: c.name.clone(),
                message: "container never exits in this fake".into(),
            })
        })
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<String, EngineError> {
        let _g = self.enter().await;
        let mut s = self.lock();
        if s.networks.contains_key(&spec.name) {
            return Err(EngineError::AlreadyExists {
                kind: "network",
                name: spec.name.clone(),
            });
        }
        s.next_id += 1;
        let id = format!("n{:04}", s.next_id);
        let info = NetworkInfo {
            id: id.clone(),
            name: spec.name.clone(),
            labels: spec.labels.clone(),
        };
        s.networks.insert(spec.name.clone(), info);
        s.log.push(format!("create-network {}", spec.name));
        Ok(id)
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        let _g = self.enter().await;
        let mut s = self.lock();
        s.networks
            .remove(name)
            .ok_or_else(|| EngineError::NotFound {
                kind: "network",
                name: name.to_string(),
            })?;
        s.log.push(format!("remove-network {name}"));
        Ok(())
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<(), EngineError> {
        let _g = self.enter().await;
        let mut s = self.lock();
        let info = VolumeInfo {
            name: spec.name.clone(),
            labels: spec.labels.clone(),
        };
        s.volumes.entry(spec.name.clone()).or_insert(info);
        s.log.push(format!("create-volume {}", spec.name));
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        let _g = self.enter().await;
        let mut s = self.lock();
        s.volumes
            .remove(name)
            .ok_or_else(|| EngineError::NotFound {
                kind: "volume",
                name: name.to_string(),
            })?;
        s.log.push(format!("remove-volume {name}"));
        Ok(())
    }
}

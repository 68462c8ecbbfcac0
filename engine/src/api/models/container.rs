//! Container shapes: the create body (Config + HostConfig + NetworkingConfig), the list summary
//! and the inspect document, as the docker CLI and docker-compose send and read them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{EmptyObject, Labels, null_default, str_slice};

/// `Config` of a container (also the body of `POST /containers/create` together with
/// [`ContainerCreateBody::host_config`] and [`ContainerCreateBody::networking_config`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    #[serde(deserialize_with = "null_default")]
    pub hostname: String,
    #[serde(deserialize_with = "null_default")]
    pub domainname: String,
    #[serde(deserialize_with = "null_default")]
    pub user: String,
    #[serde(deserialize_with = "null_default")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "null_default")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "null_default")]
    pub attach_stderr: bool,
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, EmptyObject>,
    #[serde(deserialize_with = "null_default")]
    pub tty: bool,
    #[serde(deserialize_with = "null_default")]
    pub open_stdin: bool,
    #[serde(deserialize_with = "null_default")]
    pub stdin_once: bool,
    #[serde(deserialize_with = "null_default")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(deserialize_with = "null_default")]
    pub image: String,
    #[serde(
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, EmptyObject>,
    #[serde(deserialize_with = "null_default")]
    pub working_dir: String,
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(deserialize_with = "null_default")]
    pub labels: Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// `Config.Healthcheck`; durations are nanoseconds as in Docker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    #[serde(deserialize_with = "null_default")]
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub retries: i64,
    pub start_period: i64,
    pub start_interval: i64,
}

/// `HostConfig` (the subset the docker CLI and docker-compose use).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    #[serde(deserialize_with = "null_default")]
    pub binds: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub mounts: Vec<Mount>,
    #[serde(deserialize_with = "null_default")]
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    #[serde(deserialize_with = "null_default")]
    pub restart_policy: RestartPolicy,
    #[serde(deserialize_with = "null_default")]
    pub network_mode: String,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    #[serde(deserialize_with = "null_default")]
    pub cpuset_cpus: String,
    pub pids_limit: Option<i64>,
    pub privileged: bool,
    #[serde(deserialize_with = "null_default")]
    pub cap_add: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub cap_drop: Vec<String>,
    pub readonly_rootfs: bool,
    #[serde(deserialize_with = "null_default")]
    pub tmpfs: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_default")]
    pub ulimits: Vec<Ulimit>,
    #[serde(deserialize_with = "null_default")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_default")]
    pub extra_hosts: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub dns: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub dns_search: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub dns_options: Vec<String>,
    pub shm_size: i64,
    /// `[height, width]` of the terminal at start (`docker run -t` sends the client's).
    #[serde(deserialize_with = "null_default")]
    pub console_size: Vec<u32>,
    pub init: Option<bool>,
    pub auto_remove: bool,
    #[serde(deserialize_with = "null_default")]
    pub devices: Vec<DeviceMapping>,
    #[serde(deserialize_with = "null_default")]
    pub security_opt: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub volumes_from: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub log_config: LogConfig,
    /// Runtime-only resource and security fields, flattened.
    #[serde(flatten)]
    pub resources: super::HostResources,
    #[serde(deserialize_with = "null_default")]
    pub publish_all_ports: bool,
    #[serde(deserialize_with = "null_default")]
    pub links: Vec<String>,
}

/// `HostConfig.Mounts[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(deserialize_with = "null_default")]
    pub target: String,
    #[serde(deserialize_with = "null_default")]
    pub source: String,
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type", deserialize_with = "null_default")]
    pub typ: String,
    pub read_only: bool,
    #[serde(deserialize_with = "null_default")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `Mount.BindOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    #[serde(deserialize_with = "null_default")]
    pub propagation: String,
    pub create_mountpoint: bool,
}

/// `Mount.VolumeOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    pub no_copy: bool,
    #[serde(deserialize_with = "null_default")]
    pub labels: Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriverConfig>,
}

/// `Mount.VolumeOptions.DriverConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeDriverConfig {
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
}

/// `Mount.TmpfsOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    pub size_bytes: i64,
    pub mode: u32,
}

/// One `HostConfig.PortBindings` value entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    #[serde(deserialize_with = "null_default")]
    pub host_ip: String,
    #[serde(deserialize_with = "null_default")]
    pub host_port: String,
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `""`, `no`, `always`, `unless-stopped` or `on-failure`.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    pub maximum_retry_count: i64,
}

/// `HostConfig.Ulimits[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// `HostConfig.Devices[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type", deserialize_with = "null_default")]
    pub typ: String,
    #[serde(deserialize_with = "null_default")]
    pub config: BTreeMap<String, String>,
}

/// `NetworkingConfig` of the create body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    #[serde(deserialize_with = "null_default")]
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

/// A container's endpoint on one network (create input and inspect output).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig", skip_serializing_if = "Option::is_none")]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(deserialize_with = "null_default")]
    pub links: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub aliases: Vec<String>,
    #[serde(rename = "NetworkID", deserialize_with = "null_default")]
    pub network_id: String,
    #[serde(rename = "EndpointID", deserialize_with = "null_default")]
    pub endpoint_id: String,
    #[serde(deserialize_with = "null_default")]
    pub gateway: String,
    #[serde(rename = "IPAddress", deserialize_with = "null_default")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway", deserialize_with = "null_default")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address", deserialize_with = "null_default")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    #[serde(deserialize_with = "null_default")]
    pub mac_address: String,
}

/// `EndpointSettings.IPAMConfig`: addresses requested by the client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", deserialize_with = "null_default")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", deserialize_with = "null_default")]
    pub ipv6_address: String,
}

/// Body of `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateBody {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(deserialize_with = "null_default")]
    pub host_config: HostConfig,
    #[serde(deserialize_with = "null_default")]
    pub networking_config: NetworkingConfig,
}

/// Answer of `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateResponse {
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub warnings: Vec<String>,
}

/// A published or exposed port in a list summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    #[serde(rename = "IP", skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    pub private_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub typ: String,
}

/// A mount as reported by list and inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub typ: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

/// `NetworkSettings` of a list summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    #[serde(deserialize_with = "null_default")]
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// `HostConfig` of a list summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    pub network_mode: String,
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    pub id: String,
    #[serde(deserialize_with = "null_default")]
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<Port>,
    #[serde(deserialize_with = "null_default")]
    pub labels: Labels,
    pub state: String,
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub network_settings: SummaryNetworkSettings,
    #[serde(deserialize_with = "null_default")]
    pub mounts: Vec<MountPoint>,
}

/// `State` of an inspected container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    /// The last results, oldest first (at most five).
    #[serde(deserialize_with = "null_default")]
    pub log: Vec<HealthcheckResult>,
}

/// One `State.Health.Log[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    /// RFC 3339 time the probe started.
    pub start: String,
    /// RFC 3339 time it ended.
    pub end: String,
    /// 0 healthy, 1 unhealthy, -1 could not run (timeout, exec failure).
    pub exit_code: i64,
    /// Its output, truncated to 4 KiB.
    pub output: String,
}

/// `NetworkSettings` of an inspected container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    #[serde(deserialize_with = "null_default")]
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    pub gateway: String,
    pub mac_address: String,
    #[serde(deserialize_with = "null_default")]
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    pub id: String,
    /// RFC 3339 time of creation.
    pub created: String,
    pub path: String,
    #[serde(deserialize_with = "null_default")]
    pub args: Vec<String>,
    pub state: ContainerState,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    /// Name with Docker's leading slash.
    pub name: String,
    pub restart_count: i64,
    pub driver: String,
    pub platform: String,
    pub host_config: HostConfig,
    #[serde(deserialize_with = "null_default")]
    pub mounts: Vec<MountPoint>,
    pub config: ContainerConfig,
    pub network_settings: NetworkSettings,
}

/// `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerWaitResponse {
    pub status_code: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitExitError>,
}

/// `ContainerWaitResponse.Error`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitExitError {
    pub message: String,
}

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerTopResponse {
    #[serde(deserialize_with = "null_default")]
    pub titles: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub processes: Vec<Vec<String>>,
}

/// Body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub tty: bool,
    #[serde(deserialize_with = "null_default")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub cmd: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    pub working_dir: String,
    #[serde(deserialize_with = "null_default")]
    pub user: String,
    pub privileged: bool,
}

/// Answer of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IdResponse {
    pub id: String,
}

/// Body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartConfig {
    pub detach: bool,
    pub tty: bool,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    /// `None` until the process has exited.
    pub exit_code: Option<i64>,
    pub open_stdin: bool,
    pub open_stdout: bool,
    pub open_stderr: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub pid: i64,
    pub process_config: ExecProcessConfig,
}

/// `ExecInspect.ProcessConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecProcessConfig {
    pub tty: bool,
    pub entrypoint: String,
    #[serde(deserialize_with = "null_default")]
    pub arguments: Vec<String>,
    pub privileged: bool,
    pub user: String,
}

//! The typed, normalized form of a Compose service and its parts.
//!
//! Every attribute of the Compose Specification has a field, always in its long form. Field
//! order and names follow compose-go's `ServiceConfig`, so serializing a [`Service`] gives the
//! same shape and key order as `docker compose config`; maps that Go keeps as maps are
//! `BTreeMap`s because Go's YAML encoder prints map keys sorted.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::error::Loc;

pub use super::service_parts::*;
use crate::units::{ByteSize, Duration};

/// Extension (`x-…`) values, kept as JSON.
pub type Extensions = BTreeMap<String, serde_json::Value>;
/// A string-to-string mapping (labels, sysctls, options).
pub type Mapping = BTreeMap<String, String>;
/// A mapping whose values may be unset (`environment: [KEY]` with no such variable).
pub type EnvMapping = BTreeMap<String, Option<String>>;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// A service: one container template, run as one or more replicas.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Service {
    /// The service's key in `services`.
    #[serde(skip)]
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub develop: Option<Develop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_count: i64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub cpu_percent: f64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_period: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_quota: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_rt_period: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_rt_runtime: i64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub cpus: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub cpu_shares: i64,
    /// The command, shell-split like docker compose does (`None`: the image's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpec>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// The environment: `env_file` contents overridden by `environment`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: EnvMapping,
    /// The env files read into `environment` (kept for reference; not printed).
    #[serde(skip)]
    pub env_files: Vec<EnvFile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        serialize_with = "ser_hosts"
    )]
    pub extra_hosts: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<DeviceRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// Labels: `label_file` contents overridden by `labels`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Mapping,
    #[serde(skip)]
    pub label_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<ByteSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<ByteSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Swap limit in bytes, `-1` for unlimited.
    pub memswap_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_swappiness: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, Option<ServiceModel>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Option<ServiceNetwork>>,
    #[serde(skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub oom_score_adj: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub pids_limit: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_refresh_after: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    #[serde(skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_opt: Mapping,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: Mapping,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "is_false")]
    pub use_api_socket: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<Hook>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<Hook>,
    #[serde(flatten)]
    pub extensions: Extensions,
    /// Where things are in the source, for errors found after conversion.
    #[serde(skip)]
    pub meta: ServiceMeta,
}

/// Source positions of a service, kept beside the model for later checks.
#[derive(Debug, Clone, Default)]
pub struct ServiceMeta {
    /// Where the service's key is.
    pub loc: Option<Loc>,
    /// Where the values of the attributes later checks point at are (see
    /// [`TRACKED_KEYS`]), by attribute key.
    pub locs: Vec<(&'static str, Loc)>,
    /// Every reference to another object, in source order.
    pub refs: Vec<Reference>,
}

/// The attributes whose value positions are kept in [`ServiceMeta::locs`].
pub const TRACKED_KEYS: &[&str] = &[
    "build",
    "cgroup",
    "container_name",
    "depends_on",
    "deploy",
    "env_file",
    "expose",
    "image",
    "ipc",
    "label_file",
    "links",
    "network_mode",
    "networks",
    "pid",
    "ports",
    "pull_policy",
    "restart",
    "scale",
    "uts",
    "volumes",
    "volumes_from",
];

impl ServiceMeta {
    /// Where attribute `key` was written, if it is tracked and present.
    pub fn get(&self, key: &str) -> Option<&Loc> {
        self.locs.iter().find(|(k, _)| *k == key).map(|(_, l)| l)
    }
}

impl Service {
    /// Where attribute `key` was written, else where the service is.
    pub fn loc_of(&self, key: &str) -> Option<&Loc> {
        self.meta.get(key).or(self.meta.loc.as_ref())
    }

    /// Replicas requested: `deploy.replicas`, else `scale`, else 1.
    pub fn replicas(&self) -> u64 {
        self.deploy
            .as_ref()
            .and_then(|d| d.replicas)
            .or(self.scale)
            .unwrap_or(1)
    }
}

/// What kind of object a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// Another service.
    Service,
    /// A top-level network.
    Network,
    /// A top-level volume.
    Volume,
    /// A top-level secret.
    Secret,
    /// A top-level config.
    Config,
    /// A top-level model.
    Model,
}

impl RefKind {
    /// The word for the kind in messages.
    pub fn word(self) -> &'static str {
        match self {
            RefKind::Service => "service",
            RefKind::Network => "network",
            RefKind::Volume => "volume",
            RefKind::Secret => "secret",
            RefKind::Config => "config",
            RefKind::Model => "model",
        }
    }
}

/// A reference from a service to another object, with where it was written.
#[derive(Debug, Clone)]
pub struct Reference {
    /// What it names.
    pub kind: RefKind,
    /// The name.
    pub name: String,
    /// The attribute holding it (`depends_on`, `links`, …).
    pub via: &'static str,
    /// Where it was written.
    pub loc: Loc,
    /// False for `depends_on` entries with `required: false`.
    pub required: bool,
}

pub(crate) fn ser_hosts<S: Serializer>(
    hosts: &BTreeMap<String, Vec<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        hosts
            .iter()
            .flat_map(|(h, ips)| ips.iter().map(move |ip| format!("{h}={ip}"))),
    )
}

/// A `devices` entry in long form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Device {
    pub source: String,
    pub target: String,
    pub permissions: String,
}

/// An `env_file` entry in long form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvFile {
    pub path: String,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// `healthcheck`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(skip_serializing_if = "is_false")]
    pub disable: bool,
}

/// `logging`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Logging {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: Mapping,
}

/// A `models` entry of a service.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceModel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_var: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_var: Option<String>,
}

/// A service's attachment to a network (`None` in the map when it has no options).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub priority: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub gw_priority: i64,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// A published or exposed port in long form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Port {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    pub target: u16,
    /// Host port or range (`8080`, `9000-9010`); `None` lets the engine pick.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `provider`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Provider {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, Vec<String>>,
}

/// A secret or config granted to a service, in long form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileRef {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// A `ulimits` entry: one value for both limits, or soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ulimit {
    /// `nproc: 65535`.
    Single(i64),
    /// `nofile: {soft: 20000, hard: 40000}`.
    SoftHard {
        /// Soft limit.
        soft: i64,
        /// Hard limit.
        hard: i64,
    },
}

impl Serialize for Ulimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ulimit::Single(v) => s.serialize_i64(*v),
            Ulimit::SoftHard { soft, hard } => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("soft", soft)?;
                m.serialize_entry("hard", hard)?;
                m.end()
            }
        }
    }
}

/// A mount (`volumes` entry) in long form.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, `image`, `npipe` or `cluster`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageOptions>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// `volumes[].bind`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BindOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub create_host_path: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recursive: Option<String>,
}

/// `volumes[].volume`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VolumeOptions {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "is_false")]
    pub nocopy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// `volumes[].tmpfs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TmpfsOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// `volumes[].image`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// A `post_start` / `pre_stop` hook, or a watch rule's `exec`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Hook {
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: EnvMapping,
}

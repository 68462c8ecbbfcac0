//! The resource, security and logging part of a [`super::ContainerSpec`]: limits, ulimits,
//! sysctls, devices, security options and the log driver, already resolved from the service's
//! keys (and `deploy.resources`) into the units of the Docker API. Kept apart from the rest of
//! the spec so that the create body maps it in one place.

use std::collections::BTreeMap;

/// One `HostConfig.Ulimits` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UlimitSpec {
    /// `nofile`, `nproc`, … (without the `RLIMIT_` prefix).
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// One `HostConfig.Devices` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceSpec {
    pub path_on_host: String,
    pub path_in_container: String,
    /// Cgroup access (`rwm` when empty).
    pub permissions: String,
}

/// A block-I/O throttle: device path and bytes or operations per second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThrottleSpec {
    pub path: String,
    pub rate: u64,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSpec {
    /// The driver (`json-file`).
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

/// Resource limits and security settings of a container, in Docker API units. `None` and
/// empty fields leave the engine's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceSpec {
    /// `Memory` in bytes (`mem_limit`, `deploy.resources.limits.memory`).
    pub memory: Option<i64>,
    /// `MemorySwap` in bytes, `-1` unlimited (`memswap_limit`).
    pub memory_swap: Option<i64>,
    /// `MemoryReservation` in bytes (`mem_reservation`, `deploy…reservations.memory`).
    pub memory_reservation: Option<i64>,
    /// `NanoCpus` (`cpus`, `deploy.resources.limits.cpus`).
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    /// CFS quota in microseconds.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<i64>,
    /// `CpusetCpus` (`cpuset`).
    pub cpuset_cpus: Option<String>,
    /// `PidsLimit` (`pids_limit`, `deploy.resources.limits.pids`); `-1` unlimited.
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<UlimitSpec>,
    pub sysctls: BTreeMap<String, String>,
    /// `/dev/shm` size in bytes.
    pub shm_size: Option<i64>,
    pub devices: Vec<DeviceSpec>,
    pub security_opt: Vec<String>,
    pub group_add: Vec<String>,
    pub oom_score_adj: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub blkio_read_bps: Vec<ThrottleSpec>,
    pub blkio_write_bps: Vec<ThrottleSpec>,
    pub blkio_read_iops: Vec<ThrottleSpec>,
    pub blkio_write_iops: Vec<ThrottleSpec>,
    /// `logging`; `None` keeps the engine's default driver.
    pub log: Option<LogSpec>,
}

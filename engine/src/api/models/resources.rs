//! The resource and security fields of `HostConfig` that only the runtime reads (memory
//! reservation and swap, CFS quota, cpuset mems, block-I/O weight and throttles, OOM score,
//! extra groups). They live apart from the rest of `HostConfig` and are flattened into it, so
//! the wire format is Docker's.

use serde::{Deserialize, Serialize};

use super::null_default;

/// One `HostConfig.BlkioDevice*Bps` / `*IOps` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    /// Host path of the block device.
    pub path: String,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// `HostConfig.BlkioWeightDevice[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    /// Host path of the block device.
    pub path: String,
    /// Weight (10..1000).
    pub weight: u16,
}

/// Runtime-only `HostConfig` fields (flattened into [`super::HostConfig`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostResources {
    /// Soft memory limit in bytes.
    pub memory_reservation: i64,
    /// Memory + swap in bytes; -1 unlimited; 0 means twice `Memory`.
    pub memory_swap: i64,
    /// CFS quota in microseconds per period.
    pub cpu_quota: i64,
    /// CFS period in microseconds.
    pub cpu_period: i64,
    /// NUMA nodes allowed.
    #[serde(deserialize_with = "null_default")]
    pub cpuset_mems: String,
    /// Block-I/O weight (10..1000, 0 unset).
    pub blkio_weight: u16,
    /// Per-device weights.
    #[serde(deserialize_with = "null_default")]
    pub blkio_weight_device: Vec<WeightDevice>,
    /// Read bytes per second per device.
    #[serde(deserialize_with = "null_default")]
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    /// Write bytes per second per device.
    #[serde(deserialize_with = "null_default")]
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    /// Read operations per second per device.
    #[serde(rename = "BlkioDeviceReadIOps", deserialize_with = "null_default")]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    /// Write operations per second per device.
    #[serde(rename = "BlkioDeviceWriteIOps", deserialize_with = "null_default")]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    /// `oom_score_adj` of the container's processes.
    pub oom_score_adj: i32,
    /// Extra groups for the container's user (names or ids).
    #[serde(deserialize_with = "null_default")]
    pub group_add: Vec<String>,
}

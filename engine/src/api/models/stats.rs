//! `GET /containers/{id}/stats` in Docker's JSON shape (snake_case keys, as the Engine API
//! has them): CPU with the previous sample for rates, memory, PIDs, block and network I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `cpu_stats.cpu_usage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    /// CPU time used by the container, nanoseconds.
    pub total_usage: u64,
    /// Per-CPU time, nanoseconds (cgroup v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    /// Time in kernel mode, nanoseconds.
    pub usage_in_kernelmode: u64,
    /// Time in user mode, nanoseconds.
    pub usage_in_usermode: u64,
}

/// `cpu_stats.throttling_data`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottlingData {
    /// CFS periods elapsed.
    pub periods: u64,
    /// Periods in which the container was throttled.
    pub throttled_periods: u64,
    /// Total throttled time, nanoseconds.
    pub throttled_time: u64,
}

/// `cpu_stats` and `precpu_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    /// The container's usage.
    pub cpu_usage: CpuUsage,
    /// The host's CPU time, nanoseconds (absent in an empty previous sample).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_cpu_usage: Option<u64>,
    /// Online CPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_cpus: Option<u32>,
    /// CFS throttling.
    pub throttling_data: ThrottlingData,
}

/// `memory_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    /// Bytes in use (page cache included, as the kernel counts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    /// Peak use (cgroup v1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_usage: Option<u64>,
    /// `memory.stat` as read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    /// The limit: the container's, or the host's memory when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `pids_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    /// Processes now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// The limit, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// One `blkio_stats.*` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// `read`, `write` (v2) or `Read`, `Write`, `Sync`, `Async`, `Total` (v1).
    pub op: String,
    /// Bytes.
    pub value: u64,
}

/// `blkio_stats` (only the bytes list is filled; the others are `null` as on cgroup v2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    /// Bytes per device and operation.
    pub io_service_bytes_recursive: Option<Vec<BlkioEntry>>,
    /// Not collected.
    pub io_serviced_recursive: Option<Vec<BlkioEntry>>,
    /// Not collected.
    pub io_queue_recursive: Option<Vec<BlkioEntry>>,
    /// Not collected.
    pub io_service_time_recursive: Option<Vec<BlkioEntry>>,
    /// Not collected.
    pub io_wait_time_recursive: Option<Vec<BlkioEntry>>,
    /// Not collected.
    pub io_merged_recursive: Option<Vec<BlkioEntry>>,
    /// Not collected.
    pub io_time_recursive: Option<Vec<BlkioEntry>>,
    /// Not collected.
    pub sectors_recursive: Option<Vec<BlkioEntry>>,
}

/// One interface of `networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Sent packets dropped.
    pub tx_dropped: u64,
}

/// One stats document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerStats {
    /// Container name with its leading slash.
    pub name: String,
    /// Full id.
    pub id: String,
    /// When this sample was read (RFC 3339).
    pub read: String,
    /// When the previous sample was read (zero time when there is none).
    pub preread: String,
    /// Processes.
    pub pids_stats: PidsStats,
    /// Block I/O.
    pub blkio_stats: BlkioStats,
    /// Always 0 on Linux.
    pub num_procs: u32,
    /// Not collected on Linux.
    pub storage_stats: BTreeMap<String, u64>,
    /// CPU now.
    pub cpu_stats: CpuStats,
    /// CPU at the previous sample.
    pub precpu_stats: CpuStats,
    /// Memory.
    pub memory_stats: MemoryStats,
    /// Per-interface network counters (absent with no network).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_dockers_keys() {
        let s = ContainerStats {
            id: "abc".into(),
            cpu_stats: CpuStats {
                cpu_usage: CpuUsage {
                    total_usage: 5,
                    ..CpuUsage::default()
                },
                system_cpu_usage: Some(100),
                online_cpus: Some(2),
                ..CpuStats::default()
            },
            memory_stats: MemoryStats {
                usage: Some(4096),
                limit: Some(1 << 30),
                ..MemoryStats::default()
            },
            ..ContainerStats::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 5);
        assert_eq!(v["cpu_stats"]["system_cpu_usage"], 100);
        assert_eq!(v["cpu_stats"]["online_cpus"], 2);
        assert_eq!(v["memory_stats"]["usage"], 4096);
        assert!(v["precpu_stats"].get("system_cpu_usage").is_none());
        assert!(v["blkio_stats"]["io_serviced_recursive"].is_null());
        let back: ContainerStats = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}

//! `stats` samples of the real engine in Docker's shape. The cgroup readers (v1: the
//! `cpuacct`, `cpu`, `memory`, `pids` and `blkio` hierarchies; v2: the unified directory) take
//! the cgroup root and the container's relative path, so they run on fixture trees in tests;
//! host CPU time and the container's network counters come from the proc root
//! (`<proc>/stat`, `<proc>/<pid>/net/dev`, which shows the container's network namespace).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use super::RealBackend;
use crate::api::models::{
    BlkioEntry, BlkioStats, ContainerStats, CpuStats, CpuUsage, MemoryStats, NetworkStats,
    PidsStats, ThrottlingData,
};
use crate::backend::{BackendError, BackendResult, ErrorKind};

/// What a container's cgroup says, for either version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupSample {
    /// CPU usage and throttling.
    pub cpu: CpuUsage,
    /// CFS throttling.
    pub throttling: ThrottlingData,
    /// Memory in use and `memory.stat`.
    pub memory: MemoryStats,
    /// The container's own memory limit, when set.
    pub memory_limit: Option<u64>,
    /// Processes.
    pub pids: PidsStats,
    /// Bytes per device and operation.
    pub blkio: Vec<BlkioEntry>,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn read_u64(path: &Path) -> Option<u64> {
    read(path).trim().parse().ok()
}

/// `key value` lines (`memory.stat`, `cpu.stat`).
fn keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_owned(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// v1 `blkio.throttle.io_service_bytes`: `MAJ:MIN Op value` lines (and a `Total` line).
fn blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (maj, min) = f.first()?.split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: (*f.get(1)?).to_owned(),
                value: f.get(2)?.parse().ok()?,
            })
        })
        .collect()
}

/// v2 `io.stat`: `MAJ:MIN rbytes=… wbytes=… …` lines, as Docker reports them (`read`/`write`).
fn blkio_v2(text: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        for kv in f {
            let op = match kv.split_once('=') {
                Some(("rbytes", v)) => ("read", v),
                Some(("wbytes", v)) => ("write", v),
                _ => continue,
            };
            if let Ok(value) = op.1.parse() {
                out.push(BlkioEntry {
                    major,
                    minor,
                    op: op.0.to_owned(),
                    value,
                });
            }
        }
    }
    out
}

/// A limit file: a number, or none when it says unlimited (`max`, or v1's huge value).
fn limit(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok().filter(|v| *v < (1 << 62))
}

/// Reads a v1 container cgroup: `<root>/<controller>/<rel>`.
pub fn read_v1(root: &Path, rel: &Path) -> CgroupSample {
    let dir = |c: &str| root.join(c).join(rel);
    let ticks_ns = 1_000_000_000 / clock_ticks();
    let acct = keyed(&read(&dir("cpuacct").join("cpuacct.stat")));
    let cpu_stat = keyed(&read(&dir("cpu").join("cpu.stat")));
    let memory_stat = keyed(&read(&dir("memory").join("memory.stat")));
    CgroupSample {
        cpu: CpuUsage {
            total_usage: read_u64(&dir("cpuacct").join("cpuacct.usage")).unwrap_or(0),
            percpu_usage: read(&dir("cpuacct").join("cpuacct.usage_percpu"))
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect(),
            usage_in_usermode: acct.get("user").copied().unwrap_or(0) * ticks_ns,
            usage_in_kernelmode: acct.get("system").copied().unwrap_or(0) * ticks_ns,
        },
        throttling: ThrottlingData {
            periods: cpu_stat.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: cpu_stat.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: cpu_stat.get("throttled_time").copied().unwrap_or(0),
        },
        memory: MemoryStats {
            usage: read_u64(&dir("memory").join("memory.usage_in_bytes")),
            max_usage: read_u64(&dir("memory").join("memory.max_usage_in_bytes")),
            stats: memory_stat,
            limit: None,
        },
        memory_limit: limit(&read(&dir("memory").join("memory.limit_in_bytes"))),
        pids: PidsStats {
            current: read_u64(&dir("pids").join("pids.current")),
            limit: limit(&read(&dir("pids").join("pids.max"))),
        },
        blkio: blkio_v1(&read(
            &dir("blkio").join("blkio.throttle.io_service_bytes_recursive"),
        ))
        .into_iter()
        .chain(blkio_v1(&read(
            &dir("blkio").join("blkio.throttle.io_service_bytes"),
        )))
        .filter(|e| e.op != "Total")
        .fold(Vec::new(), |mut acc: Vec<BlkioEntry>, e| {
            // The recursive file, when present, already holds what the plain one says.
            if !acc
                .iter()
                .any(|a| (a.major, a.minor, &a.op) == (e.major, e.minor, &e.op))
            {
                acc.push(e);
            }
            acc
        }),
    }
}

/// Reads a v2 container cgroup: `<root>/<rel>`.
pub fn read_v2(root: &Path, rel: &Path) -> CgroupSample {
    let dir = root.join(rel);
    let cpu_stat = keyed(&read(&dir.join("cpu.stat")));
    let us = |k: &str| cpu_stat.get(k).copied().unwrap_or(0) * 1000;
    CgroupSample {
        cpu: CpuUsage {
            total_usage: us("usage_usec"),
            percpu_usage: Vec::new(),
            usage_in_usermode: us("user_usec"),
            usage_in_kernelmode: us("system_usec"),
        },
        throttling: ThrottlingData {
            periods: cpu_stat.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: cpu_stat.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: us("throttled_usec"),
        },
        memory: MemoryStats {
            usage: read_u64(&dir.join("memory.current")),
            max_usage: None,
            stats: keyed(&read(&dir.join("memory.stat"))),
            limit: None,
        },
        memory_limit: limit(&read(&dir.join("memory.max"))),
        pids: PidsStats {
            current: read_u64(&dir.join("pids.current")),
            limit: limit(&read(&dir.join("pids.max"))),
        },
        blkio: blkio_v2(&read(&dir.join("io.stat"))),
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .unwrap_or(100)
        .max(1)
}

/// Host CPU time in nanoseconds and the number of CPUs, from `<proc>/stat`.
pub fn host_cpu(stat: &str, ticks: u64) -> (u64, u32) {
    let mut total = 0;
    let mut cpus = 0;
    for l in stat.lines() {
        let mut f = l.split_whitespace();
        match f.next() {
            Some("cpu") => {
                total = f.take(8).filter_map(|v| v.parse::<u64>().ok()).sum::<u64>()
                    * (1_000_000_000 / ticks.max(1));
            }
            Some(c) if c.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

/// Interface counters from `<proc>/<pid>/net/dev`, loopback left out as Docker does.
pub fn net_dev(text: &str) -> BTreeMap<String, NetworkStats> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            let name = name.trim();
            if name == "lo" || v.len() < 12 {
                return None;
            }
            Some((
                name.to_owned(),
                NetworkStats {
                    rx_bytes: v[0],
                    rx_packets: v[1],
                    rx_errors: v[2],
                    rx_dropped: v[3],
                    tx_bytes: v[8],
                    tx_packets: v[9],
                    tx_errors: v[10],
                    tx_dropped: v[11],
                },
            ))
        })
        .collect()
}

/// `MemTotal` of `<proc>/meminfo`, in bytes.
fn host_memory(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

impl RealBackend {
    /// One stats sample of running container `id` (the previous-sample fields left empty).
    pub(super) fn stats_sample(&self, id: &str) -> BackendResult<ContainerStats> {
        let full = self.resolve(id)?;
        let rec = self
            .lock()
            .get(&full)
            .map(|e| e.record.clone())
            .ok_or_else(|| BackendError::not_found(format!("No such container: {id}")))?;
        let read_at = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let mut out = ContainerStats {
            name: format!("/{}", rec.name),
            id: rec.id.clone(),
            read: read_at,
            preread: super::record::ZERO_TIME.to_owned(),
            ..ContainerStats::default()
        };
        if !rec.running {
            // Docker answers a stopped container with an empty sample.
            out.read = super::record::ZERO_TIME.to_owned();
            return Ok(out);
        }
        let internal =
            |e: berth_runtime::RuntimeError| BackendError::new(ErrorKind::Internal, e.to_string());
        let cgroup = self
            .inner
            .runtime
            .container_cgroup(&rec.id)
            .map_err(internal)?;
        let root = &self.inner.paths.cgroup_root;
        let sample = match &cgroup {
            berth_runtime::cgroups::Cgroup::V1(c) => {
                let memory = c.dir("memory");
                let rel = memory.strip_prefix(root.join("memory")).unwrap_or(&memory);
                read_v1(root, rel)
            }
            berth_runtime::cgroups::Cgroup::V2(c) => {
                let dir = c.dir();
                let rel = dir.strip_prefix(root).unwrap_or(&dir);
                read_v2(root, rel)
            }
        };
        let proc_root = &self.inner.paths.proc_root;
        let (system, cpus) = host_cpu(&read(&proc_root.join("stat")), clock_ticks());
        out.cpu_stats = CpuStats {
            cpu_usage: sample.cpu,
            system_cpu_usage: Some(system),
            online_cpus: Some(cpus.max(1)),
            throttling_data: sample.throttling,
        };
        out.memory_stats = sample.memory;
        out.memory_stats.limit = sample
            .memory_limit
            .or_else(|| host_memory(&read(&proc_root.join("meminfo"))));
        out.pids_stats = sample.pids;
        out.blkio_stats = BlkioStats {
            io_service_bytes_recursive: Some(sample.blkio),
            ..BlkioStats::default()
        };
        if rec.network_mode != "host" && rec.network_mode != "none" {
            let dev = read(&proc_root.join(format!("{}/net/dev", rec.pid)));
            out.networks = Some(net_dev(&dev));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn v1_fixture_tree() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let c = "berth/abc";
        write(r, &format!("cpuacct/{c}/cpuacct.usage"), "123456789\n");
        write(
            r,
            &format!("cpuacct/{c}/cpuacct.usage_percpu"),
            "100 200 \n",
        );
        write(
            r,
            &format!("cpuacct/{c}/cpuacct.stat"),
            "user 3\nsystem 1\n",
        );
        write(
            r,
            &format!("cpu/{c}/cpu.stat"),
            "nr_periods 10\nnr_throttled 2\nthrottled_time 500\n",
        );
        write(r, &format!("memory/{c}/memory.usage_in_bytes"), "4096000\n");
        write(
            r,
            &format!("memory/{c}/memory.max_usage_in_bytes"),
            "5000000\n",
        );
        write(
            r,
            &format!("memory/{c}/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(
            r,
            &format!("memory/{c}/memory.stat"),
            "cache 100\ntotal_inactive_file 40\n",
        );
        write(r, &format!("pids/{c}/pids.current"), "3\n");
        write(r, &format!("pids/{c}/pids.max"), "max\n");
        write(
            r,
            &format!("blkio/{c}/blkio.throttle.io_service_bytes"),
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
        );
        let s = read_v1(r, Path::new(c));
        assert_eq!(s.cpu.total_usage, 123_456_789);
        assert_eq!(s.cpu.percpu_usage, [100, 200]);
        assert_eq!(s.cpu.usage_in_usermode, 3 * (1_000_000_000 / clock_ticks()));
        assert_eq!(s.throttling.throttled_periods, 2);
        assert_eq!(s.memory.usage, Some(4_096_000));
        assert_eq!(s.memory.max_usage, Some(5_000_000));
        assert_eq!(s.memory.stats["total_inactive_file"], 40);
        assert_eq!(s.memory_limit, None, "the v1 'unlimited' value is no limit");
        assert_eq!(s.pids.current, Some(3));
        assert_eq!(s.pids.limit, None);
        let ops: Vec<(&str, u64)> = s.blkio.iter().map(|e| (&*e.op, e.value)).collect();
        assert_eq!(ops, [("Read", 4096), ("Write", 8192)]);
    }

    #[test]
    fn v2_fixture_tree() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let c = "berth/abc";
        write(
            r,
            &format!("{c}/cpu.stat"),
            "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
        );
        write(r, &format!("{c}/memory.current"), "8192\n");
        write(r, &format!("{c}/memory.max"), "1048576\n");
        write(
            r,
            &format!("{c}/memory.stat"),
            "anon 4096\ninactive_file 10\n",
        );
        write(r, &format!("{c}/pids.current"), "2\n");
        write(r, &format!("{c}/pids.max"), "100\n");
        write(
            r,
            &format!("{c}/io.stat"),
            "8:16 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        let s = read_v2(r, Path::new(c));
        assert_eq!(s.cpu.total_usage, 2_000_000);
        assert_eq!(s.cpu.usage_in_kernelmode, 500_000);
        assert_eq!(s.throttling.throttled_time, 7000);
        assert_eq!(s.memory.usage, Some(8192));
        assert_eq!(s.memory_limit, Some(1_048_576));
        assert_eq!(s.memory.stats["inactive_file"], 10);
        assert_eq!((s.pids.current, s.pids.limit), (Some(2), Some(100)));
        let ops: Vec<(&str, u64)> = s.blkio.iter().map(|e| (&*e.op, e.value)).collect();
        assert_eq!(ops, [("read", 1024), ("write", 2048)]);
    }

    #[test]
    fn missing_files_read_as_empty() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_v2(d.path(), Path::new("none")).memory.usage, None);
        assert_eq!(read_v1(d.path(), Path::new("none")).cpu.total_usage, 0);
    }

    #[test]
    fn host_cpu_and_network_counters() {
        let stat = "cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\ncpu1 5 0 5 40 0 0 0 0 0 0\nintr 1\n";
        let (total, cpus) = host_cpu(stat, 100);
        assert_eq!((total, cpus), (100 * 10_000_000, 2));
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo:  100  1 0 0 0 0 0 0  100 1 0 0 0 0 0 0\n  eth0: 2000 20 1 2 0 0 0 0 3000 30 3 4 0 0 0 0\n";
        let n = net_dev(dev);
        assert_eq!(n.len(), 1);
        let e = &n["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (2000, 20, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (3000, 30, 3, 4)
        );
        assert_eq!(host_memory("MemTotal:  2048 kB\n"), Some(2 << 20));
    }
}

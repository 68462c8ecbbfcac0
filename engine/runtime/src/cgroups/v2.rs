//! cgroup v2: one unified directory per container. Plans OCI resources into unified-hierarchy
//! writes (with the v1→v2 conversions runc uses for shares and weights) and reads v2 statistics.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxResources, LinuxThrottleDevice};

use super::{
    CgroupError, Cgroups, Stats, Write, apply_writes, io_err, keyed, kill_and_remove,
    read_u64_or_zero, write_file,
};

/// Controllers enabled for children at every level above a container.
const CONTROLLERS: [&str; 5] = ["cpu", "cpuset", "io", "memory", "pids"];

/// A container's cgroup in the unified hierarchy.
#[derive(Debug, Clone)]
pub struct V2Cgroup {
    root: PathBuf,
    relative: PathBuf,
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), as runc converts.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        0
    } else {
        1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
    }
}

/// blkio weight (10..1000) to io.weight (1..10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        0
    } else {
        1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
    }
}

/// Plans the v2 writes for `res`.
pub fn plan(res: &LinuxResources) -> Vec<Write> {
    let mut w = Vec::new();
    if let Some(m) = res.memory() {
        if let Some(l) = m.limit() {
            w.push(Write::new(
                "",
                "memory.max",
                if l < 0 { "max".into() } else { l.to_string() },
            ));
            if let Some(s) = m.swap() {
                // OCI swap is memory+swap; v2 limits swap alone.
                let v = if s < 0 {
                    "max".to_string()
                } else {
                    (s - l).max(0).to_string()
                };
                let mut sw = Write::new("", "memory.swap.max", v);
                sw.optional = true;
                w.push(sw);
            }
        }
        if let Some(r) = m.reservation() {
            w.push(Write::new("", "memory.low", r));
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares() {
            w.push(Write::new("", "cpu.weight", shares_to_weight(s)));
        }
        if c.quota().is_some() || c.period().is_some() {
            let quota = c
                .quota()
                .filter(|q| *q > 0)
                .map_or("max".to_string(), |q| q.to_string());
            w.push(Write::new(
                "",
                "cpu.max",
                format!("{quota} {}", c.period().unwrap_or(100_000)),
            ));
        }
        if let Some(cpus) = c.cpus() {
            w.push(Write::new("", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems() {
            w.push(Write::new("", "cpuset.mems", mems));
        }
    }
    if let Some(p) = res.pids() {
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".to_string()
        };
        w.push(Write::new("", "pids.max", v));
    }
    if let Some(b) = res.block_io() {
        if let Some(weight) = b.weight() {
            let value = format!("default {}", blkio_to_io_weight(weight));
            let mut ww = Write::new("", "io.weight", value);
            ww.optional = true;
            w.push(ww);
        }
        let mut lines: Vec<((i64, i64), Vec<String>)> = Vec::new();
        let sets: [(&str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ];
        for (key, devs) in sets {
            for d in devs.iter().flatten() {
                let dev = (d.major(), d.minor());
                let entry = format!("{key}={}", d.rate());
                match lines.iter_mut().find(|(k, _)| *k == dev) {
                    Some((_, v)) => v.push(entry),
                    None => lines.push((dev, vec![entry])),
                }
            }
        }
        for ((maj, min), v) in lines {
            w.push(Write::new(
                "",
                "io.max",
                format!("{maj}:{min} {}", v.join(" ")),
            ));
        }
    }
    w
}

/// `rbytes`/`wbytes` totals of an `io.stat` file.
pub fn parse_io_stat(content: &str) -> (u64, u64) {
    let (mut r, mut wr) = (0, 0);
    for field in content.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            r += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            wr += v.parse::<u64>().unwrap_or(0);
        }
    }
    (r, wr)
}

impl V2Cgroup {
    /// The cgroup `relative` under the unified hierarchy mounted at `root`.
    pub fn new(root: &Path, relative: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            relative: relative.to_path_buf(),
        }
    }

    /// The container's cgroup directory.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.relative)
    }
}

impl Cgroups for V2Cgroup {
    fn create(&self) -> Result<(), CgroupError> {
        let available = std::fs::read_to_string(self.root.join("cgroup.controllers"))
            .map_err(io_err("read", &self.root.join("cgroup.controllers")))?;
        let enable: Vec<String> = CONTROLLERS
            .iter()
            .filter(|c| available.split_whitespace().any(|a| a == **c))
            .map(|c| format!("+{c}"))
            .collect();
        let mut dir = self.root.clone();
        for comp in self.relative.components() {
            write_file(&dir.join("cgroup.subtree_control"), &enable.join(" "))?;
            dir = dir.join(comp);
            if !dir.is_dir() {
                std::fs::create_dir(&dir).map_err(io_err("create", &dir))?;
            }
        }
        Ok(())
    }

    fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        write_file(&self.dir().join("cgroup.procs"), &pid.to_string())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        apply_writes(&plan(resources), |_| self.dir())
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        write_file(
            &self.dir().join("cgroup.freeze"),
            if frozen { "1" } else { "0" },
        )
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let d = self.dir();
        let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
        let (blkio_read_bytes, blkio_write_bytes) = parse_io_stat(&read("io.stat"));
        Ok(Stats {
            cpu_usage_ns: keyed(&read("cpu.stat"), "usage_usec").unwrap_or(0) * 1000,
            memory_usage: read_u64_or_zero(&d.join("memory.current"))?,
            memory_max_usage: read_u64_or_zero(&d.join("memory.peak"))?,
            pids_current: read_u64_or_zero(&d.join("pids.current"))?,
            blkio_read_bytes,
            blkio_write_bytes,
            oom_kills: keyed(&read("memory.events"), "oom_kill").unwrap_or(0),
        })
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let procs = self.dir().join("cgroup.procs");
        if procs.exists() {
            super::read_pids(&procs)
        } else {
            Ok(Vec::new())
        }
    }

    fn remove(&self) -> Result<(), CgroupError> {
        kill_and_remove(&self.dir().join("cgroup.procs"), &[self.dir()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10000);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(10), 1);
    }

    #[test]
    fn plans_unified_limits() {
        let res: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 134217728, "reservation": 1024},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000},
            "pids": {"limit": 20},
            "blockIO": {"weight": 500,
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 7}]}
        }))
        .unwrap();
        let got: Vec<String> = plan(&res)
            .iter()
            .map(|w| format!("{}={}", w.file, w.value))
            .collect();
        assert_eq!(
            got,
            [
                "memory.max=67108864",
                "memory.swap.max=67108864",
                "memory.low=1024",
                "cpu.weight=39",
                "cpu.max=50000 100000",
                "pids.max=20",
                "io.weight=default 4950",
                "io.max=8:0 rbps=100 wiops=7",
            ]
        );
    }

    #[test]
    fn fake_tree_create_apply_stats() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let cg = V2Cgroup::new(root.path(), Path::new("berth/c1"));
        cg.create().unwrap();
        assert_eq!(
            std::fs::read_to_string(root.path().join("berth/cgroup.subtree_control")).unwrap(),
            "+cpu +cpuset +io +memory +pids"
        );
        let res: LinuxResources =
            serde_json::from_value(serde_json::json!({"pids": {"limit": 9}})).unwrap();
        cg.apply(&res).unwrap();
        assert_eq!(
            std::fs::read_to_string(cg.dir().join("pids.max")).unwrap(),
            "9"
        );
        std::fs::write(
            cg.dir().join("memory.events"),
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
        )
        .unwrap();
        std::fs::write(
            cg.dir().join("cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\n",
        )
        .unwrap();
        std::fs::write(
            cg.dir().join("io.stat"),
            "8:0 rbytes=4096 wbytes=512 rios=1 wios=1\n",
        )
        .unwrap();
        let s = cg.stats().unwrap();
        assert_eq!(
            (
                s.oom_kills,
                s.cpu_usage_ns,
                s.blkio_read_bytes,
                s.blkio_write_bytes
            ),
            (1, 1_500_000, 4096, 512)
        );
        cg.set_frozen(true).unwrap();
        assert_eq!(
            std::fs::read_to_string(cg.dir().join("cgroup.freeze")).unwrap(),
            "1"
        );
        cg.add_pid(77).unwrap();
        assert_eq!(cg.pids().unwrap(), vec![77]);
    }
}

//! cgroup v1: one directory per controller (`<root>/<controller>/<path>`). Plans OCI resources
//! into controller file writes and reads v1 statistics.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{
    CgroupError, Cgroups, Stats, Write, apply_writes, io_err, keyed, kill_and_remove,
    read_u64_or_zero, write_file,
};

/// Controllers berth places every container in (those mounted at the root).
pub const CONTROLLERS: [&str; 8] = [
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
];

/// A container's cgroup in every v1 controller hierarchy.
#[derive(Debug, Clone)]
pub struct V1Cgroup {
    root: PathBuf,
    relative: PathBuf,
}

fn throttle(
    writes: &mut Vec<Write>,
    file: &'static str,
    devs: Option<&Vec<oci_spec::runtime::LinuxThrottleDevice>>,
) {
    for d in devs.into_iter().flatten() {
        writes.push(Write::new(
            "blkio",
            file,
            format!("{}:{} {}", d.major(), d.minor(), d.rate()),
        ));
    }
}

/// Plans the v1 writes for `res`, in the order the kernel accepts them.
pub fn plan(res: &LinuxResources) -> Vec<Write> {
    let mut w = Vec::new();
    if let Some(m) = res.memory() {
        if let Some(l) = m.limit() {
            w.push(Write::new("memory", "memory.limit_in_bytes", l));
        }
        if let Some(s) = m.swap() {
            let mut sw = Write::new("memory", "memory.memsw.limit_in_bytes", s);
            sw.optional = true;
            w.push(sw);
        }
        if let Some(r) = m.reservation() {
            w.push(Write::new("memory", "memory.soft_limit_in_bytes", r));
        }
        if let Some(s) = m.swappiness() {
            w.push(Write::new("memory", "memory.swappiness", s));
        }
        if m.disable_oom_killer() == Some(true) {
            w.push(Write::new("memory", "memory.oom_control", 1));
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares() {
            w.push(Write::new("cpu", "cpu.shares", s));
        }
        if let Some(p) = c.period() {
            w.push(Write::new("cpu", "cpu.cfs_period_us", p));
        }
        if let Some(q) = c.quota() {
            w.push(Write::new("cpu", "cpu.cfs_quota_us", q));
        }
        if let Some(cpus) = c.cpus() {
            w.push(Write::new("cpuset", "cpuset.cpus", cpus));
        }
        if let Some(mems) = c.mems() {
            w.push(Write::new("cpuset", "cpuset.mems", mems));
        }
    }
    if let Some(p) = res.pids() {
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".to_string()
        };
        w.push(Write::new("pids", "pids.max", v));
    }
    if let Some(b) = res.block_io() {
        if let Some(weight) = b.weight() {
            // Only some IO schedulers support weights; Docker ignores the flag without them.
            let mut ww = Write::new("blkio", "blkio.weight", weight);
            ww.optional = true;
            w.push(ww);
        }
        throttle(
            &mut w,
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device().as_ref(),
        );
        throttle(
            &mut w,
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device().as_ref(),
        );
        throttle(
            &mut w,
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device().as_ref(),
        );
        throttle(
            &mut w,
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device().as_ref(),
        );
    }
    for d in res.devices().iter().flatten() {
        let file = if d.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        let rule = d.to_string();
        // A rule without type is "all devices": v1 spells that `a`.
        let rule = if d.typ().is_none() {
            "a".to_string()
        } else {
            rule
        };
        w.push(Write::new("devices", file, rule.trim_end()));
    }
    w
}

/// `Read`/`Write` totals of a `blkio.throttle.io_service_bytes` file.
pub fn parse_blkio_bytes(content: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for line in content.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, v] = f[..] {
            let v: u64 = v.parse().unwrap_or(0);
            match op {
                "Read" => read += v,
                "Write" => write += v,
                _ => {}
            }
        }
    }
    (read, write)
}

impl V1Cgroup {
    /// The cgroup `relative` under the v1 controllers mounted below `root`.
    pub fn new(root: &Path, relative: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            relative: relative.to_path_buf(),
        }
    }

    /// Directory of this cgroup in `controller`.
    pub fn dir(&self, controller: &str) -> PathBuf {
        self.root.join(controller).join(&self.relative)
    }

    fn mounted(&self) -> impl Iterator<Item = &'static str> + '_ {
        CONTROLLERS
            .into_iter()
            .filter(|c| self.root.join(c).is_dir())
    }

    /// The `tasks` file of this cgroup in every mounted hierarchy, opened for writing (and
    /// close-on-exec). A thread that writes `0` to them joins the cgroup itself
    /// ([`super::join_self`]); for a single-threaded process (a freshly cloned init) that is
    /// the whole process. Why not write the child's pid to `cgroup.procs` from the parent:
    /// moving another process takes the global threadgroup lock for writing, which waits for
    /// an RCU grace period (8-16 ms measured, every container start), while a thread moving
    /// itself skips that lock (Linux 6.0; older kernels take it either way).
    pub fn self_join_files(&self) -> Result<Vec<std::fs::File>, CgroupError> {
        self.mounted()
            .map(|c| {
                let path = self.dir(c).join("tasks");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err("open", &path))
            })
            .collect()
    }

    /// Copies `cpuset.cpus`/`cpuset.mems` down from the parent into each new cpuset level;
    /// v1 refuses tasks in a cpuset whose lists are empty.
    fn init_cpuset(&self) -> Result<(), CgroupError> {
        let mut parent = self.root.join("cpuset");
        for comp in self.relative.components() {
            let dir = parent.join(comp);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let current = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
                if current.trim().is_empty() {
                    let p = parent.join(file);
                    let value = std::fs::read_to_string(&p).map_err(io_err("read", &p))?;
                    write_file(&dir.join(file), value.trim())?;
                }
            }
            parent = dir;
        }
        Ok(())
    }
}

impl Cgroups for V1Cgroup {
    fn create(&self) -> Result<(), CgroupError> {
        for c in self.mounted() {
            let dir = self.dir(c);
            std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        }
        if self.root.join("cpuset").is_dir() {
            self.init_cpuset()?;
        }
        Ok(())
    }

    fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for c in self.mounted() {
            write_file(&self.dir(c).join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        apply_writes(&plan(resources), |c| self.dir(c))
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let path = self.dir("freezer").join("freezer.state");
        let want = if frozen { "FROZEN" } else { "THAWED" };
        write_file(&path, want)?;
        for _ in 0..1000 {
            let s = std::fs::read_to_string(&path).map_err(io_err("read", &path))?;
            if s.trim() == want {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
            write_file(&path, want)?;
        }
        Err(CgroupError::Busy(path))
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let mem = self.dir("memory");
        let oom = std::fs::read_to_string(mem.join("memory.oom_control")).unwrap_or_default();
        let blk =
            std::fs::read_to_string(self.dir("blkio").join("blkio.throttle.io_service_bytes"))
                .unwrap_or_default();
        let (blkio_read_bytes, blkio_write_bytes) = parse_blkio_bytes(&blk);
        Ok(Stats {
            cpu_usage_ns: read_u64_or_zero(&self.dir("cpuacct").join("cpuacct.usage"))?,
            memory_usage: read_u64_or_zero(&mem.join("memory.usage_in_bytes"))?,
            memory_max_usage: read_u64_or_zero(&mem.join("memory.max_usage_in_bytes"))?,
            pids_current: read_u64_or_zero(&self.dir("pids").join("pids.current"))?,
            blkio_read_bytes,
            blkio_write_bytes,
            oom_kills: keyed(&oom, "oom_kill").unwrap_or(0),
        })
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let procs = self.dir("pids").join("cgroup.procs");
        if procs.exists() {
            super::read_pids(&procs)
        } else {
            Ok(Vec::new())
        }
    }

    fn remove(&self) -> Result<(), CgroupError> {
        let dirs: Vec<PathBuf> = self.mounted().map(|c| self.dir(c)).collect();
        kill_and_remove(&self.dir("pids").join("cgroup.procs"), &dirs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn plans_docker_style_limits() {
        let res = resources(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 134217728, "reservation": 33554432},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 20},
            "blockIO": {"weight": 300, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
            "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]
        }));
        let got: Vec<String> = plan(&res)
            .iter()
            .map(|w| format!("{}/{}={}", w.controller, w.file, w.value))
            .collect();
        assert_eq!(
            got,
            [
                "memory/memory.limit_in_bytes=67108864",
                "memory/memory.memsw.limit_in_bytes=134217728",
                "memory/memory.soft_limit_in_bytes=33554432",
                "cpu/cpu.shares=512",
                "cpu/cpu.cfs_period_us=100000",
                "cpu/cpu.cfs_quota_us=50000",
                "cpuset/cpuset.cpus=0",
                "pids/pids.max=20",
                "blkio/blkio.weight=300",
                "blkio/blkio.throttle.read_bps_device=8:0 1048576",
                "devices/devices.deny=a",
                "devices/devices.allow=c 1:3 rwm",
            ]
        );
    }

    fn fake_root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for c in CONTROLLERS {
            std::fs::create_dir(d.path().join(c)).unwrap();
        }
        std::fs::write(d.path().join("cpuset/cpuset.cpus"), "0-1\n").unwrap();
        std::fs::write(d.path().join("cpuset/cpuset.mems"), "0\n").unwrap();
        d
    }

    #[test]
    fn fake_tree_create_apply_stats_remove() {
        let root = fake_root();
        let cg = V1Cgroup::new(root.path(), Path::new("berth/c1"));
        cg.create().unwrap();
        assert_eq!(
            std::fs::read_to_string(cg.dir("cpuset").join("cpuset.cpus")).unwrap(),
            "0-1"
        );
        assert_eq!(
            std::fs::read_to_string(root.path().join("cpuset/berth/cpuset.mems")).unwrap(),
            "0"
        );
        cg.apply(&resources(
            serde_json::json!({"pids": {"limit": 7}, "cpu": {"quota": 25000, "period": 100000}}),
        ))
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(cg.dir("pids").join("pids.max")).unwrap(),
            "7"
        );
        assert_eq!(
            std::fs::read_to_string(cg.dir("cpu").join("cpu.cfs_quota_us")).unwrap(),
            "25000"
        );
        cg.add_pid(4242).unwrap();
        assert_eq!(
            std::fs::read_to_string(cg.dir("memory").join("cgroup.procs")).unwrap(),
            "4242"
        );
        std::fs::write(
            cg.dir("memory").join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        std::fs::write(cg.dir("memory").join("memory.usage_in_bytes"), "4096\n").unwrap();
        std::fs::write(
            cg.dir("blkio").join("blkio.throttle.io_service_bytes"),
            "8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n",
        )
        .unwrap();
        let s = cg.stats().unwrap();
        assert_eq!(
            (
                s.oom_kills,
                s.memory_usage,
                s.blkio_read_bytes,
                s.blkio_write_bytes
            ),
            (2, 4096, 10, 20)
        );
        cg.set_frozen(true).unwrap();
        assert_eq!(
            std::fs::read_to_string(cg.dir("freezer").join("freezer.state")).unwrap(),
            "FROZEN"
        );
    }

    #[test]
    fn a_process_joins_every_hierarchy_through_its_tasks_files() {
        let d = fake_root();
        let cg = V1Cgroup::new(d.path(), Path::new("berth/c1"));
        cg.create().unwrap();
        let mounted: Vec<_> = cg.mounted().collect();
        assert!(mounted.len() > 1);
        // A fake tree has no kernel files: stand the `tasks` files in.
        for c in &mounted {
            std::fs::write(cg.dir(c).join("tasks"), "").unwrap();
        }
        let files = cg.self_join_files().unwrap();
        assert_eq!(files.len(), mounted.len());
        super::super::join_self(&files).unwrap();
        for c in &mounted {
            assert_eq!(
                std::fs::read_to_string(cg.dir(c).join("tasks")).unwrap(),
                "0"
            );
        }
        std::fs::remove_file(cg.dir("pids").join("tasks")).unwrap();
        assert!(
            cg.self_join_files().is_err(),
            "a missing tasks file must fail the create"
        );
    }

    #[test]
    fn blkio_bytes_parse() {
        assert_eq!(
            parse_blkio_bytes("8:0 Read 5\n7:0 Read 1\n8:0 Write 2\nTotal 8\n"),
            (6, 2)
        );
    }
}

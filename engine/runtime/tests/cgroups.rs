//! The cgroup port against this machine's real hierarchy (v1 or v2, detected): create, limit,
//! place a process, freeze, read stats, remove. Needs root; cleans up on failure.

use std::path::{Path, PathBuf};

use berth_runtime::cgroups::{Cgroup, Cgroups};

const ROOT: &str = "/sys/fs/cgroup";
const PARENT: &str = "berth-test";

struct Guard(Cgroup, Option<std::process::Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.remove();
        if let Some(c) = self.1.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The shared parent, in every v1 controller (or the unified root).
        for dir in std::fs::read_dir(ROOT).into_iter().flatten().flatten() {
            let _ = std::fs::remove_dir(dir.path().join(PARENT));
        }
        let _ = std::fs::remove_dir(Path::new(ROOT).join(PARENT));
    }
}

fn dirs(cg: &Cgroup) -> Vec<PathBuf> {
    match cg {
        Cgroup::V1(c) => ["memory", "pids", "cpu"].iter().map(|k| c.dir(k)).collect(),
        Cgroup::V2(c) => vec![c.dir()],
    }
}

#[test]
fn real_cgroup_create_limit_freeze_stats_remove() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root to manage cgroups"
    );
    let rel = Path::new(PARENT).join(format!("contract-{}", std::process::id()));
    let cg = Cgroup::open(Path::new(ROOT), &rel).expect("a cgroup hierarchy is mounted");
    let mut guard = Guard(cg.clone(), None);
    cg.create().unwrap();
    assert!(dirs(&cg).iter().all(|d| d.is_dir()));
    let res = serde_json::from_value(serde_json::json!({
        "memory": {"limit": 67108864}, "pids": {"limit": 5}, "cpu": {"quota": 20000, "period": 100000}
    }))
    .unwrap();
    cg.apply(&res).unwrap();
    let child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id() as i32;
    guard.1 = Some(child);
    cg.add_pid(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    cg.set_frozen(true).unwrap();
    cg.set_frozen(false).unwrap();
    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids_current, 1);
    assert_eq!(stats.oom_kills, 0);
    cg.remove().unwrap();
    assert!(dirs(&cg).iter().all(|d| !d.exists()));
    let status = guard.1.take().unwrap().wait().unwrap();
    assert!(!status.success(), "remove must kill the cgroup's processes");
}

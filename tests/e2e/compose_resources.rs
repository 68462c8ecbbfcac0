//! Compose resource and security keys end to end: `berth up` on a file with `mem_limit`,
//! `mem_reservation`, `cpus`, `pids_limit`, `ulimits`, `sysctls`, `shm_size`, `devices`,
//! `cap_drop`, `security_opt`, `oom_score_adj`, `group_add`, `logging`, `tmpfs` and
//! `volumes_from` creates a container whose cgroup files (v1 or v2, found through
//! `/proc/<pid>/cgroup`), process and mounts show them, and `down` removes it. A key the engine cannot honour is refused before anything exists.

use std::path::PathBuf;

use crate::harness::{Engine, IMAGE};
use crate::util::Project;

/// Runs until SIGTERM, then exits 0 (quick stops).
const SERVE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;

/// The directory of the cgroup of process `pid` that holds `controller`'s files: the unified
/// hierarchy on cgroup v2, the controller's own hierarchy on v1.
fn cgroup_dir(pid: &str, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/cgroup: {e}"));
    let root = PathBuf::from("/sys/fs/cgroup");
    let v2 = root.join("cgroup.controllers").exists();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        let path = path.trim_start_matches('/');
        if v2 && controllers.is_empty() {
            return root.join(path);
        }
        if !v2 && controllers.split(',').any(|c| c == controller) {
            return root.join(controllers).join(path);
        }
    }
    panic!("no {controller} cgroup for pid {pid} in:\n{text}");
}

fn read(dir: &std::path::Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_owned()
}

#[test]
fn compose_resources_reach_the_cgroup_and_the_process() {
    let e = Engine::start("cres");
    let p = Project::new();
    p.file(
        "compose.yaml",
        &format!(
            r#"name: cres
services:
  app:
    image: {IMAGE}
    network_mode: none
    command: {SERVE}
    mem_limit: 64m
    mem_reservation: 32m
    cpus: 0.5
    pids_limit: 50
    shm_size: 8m
    ulimits:
      nofile: {{soft: 123, hard: 456}}
    sysctls:
      net.ipv4.ip_unprivileged_port_start: 500
    devices:
      - /dev/null:/dev/mynull
    cap_drop: [CHOWN]
    security_opt: ["no-new-privileges:true"]
    oom_score_adj: 200
    group_add: ["1234"]
    logging:
      driver: json-file
      options: {{max-size: 1m}}
    tmpfs: ["/scratch:size=1m"]
    volumes_from: [data]
  data:
    image: {IMAGE}
    network_mode: none
    command: {SERVE}
    volumes: [/shared]
"#
        ),
    );
    e.berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .ok();
    e.ok(&[
        "exec",
        "cres-data-1",
        "sh",
        "-c",
        "echo shared > /shared/from-data",
    ]);
    let c = "cres-app-1";
    let inside = e.ok(&[
        "exec",
        c,
        "sh",
        "-c",
        concat!(
            "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status; ",
            "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; ",
            "df -k /dev/shm | awk 'NR==2 {print $2}'; ",
            "test -c /dev/mynull && echo device; ",
            "id -G | tr ' ' '\\n' | grep -x 1234; ",
            "touch /tmp/f; chown 1 /tmp/f 2>/dev/null && echo chown-allowed || echo chown-denied; ",
            "df -k /scratch | awk 'NR==2 {print $2}'; cat /shared/from-data",
        ),
    ]);
    assert_eq!(
        inside,
        "123\n456\n200\nNoNewPrivs:\t1\n500\n8192\ndevice\n1234\nchown-denied\n1024\nshared"
    );

    let host = e.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.LogConfig.Type}}",
        c,
    ]);
    assert_eq!(host, "67108864 33554432 500000000 50 json-file");

    let pid = e.ok(&["inspect", "-f", "{{.State.Pid}}", c]);
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let memory = cgroup_dir(&pid, "memory");
    let pids = cgroup_dir(&pid, "pids");
    let cpu = cgroup_dir(&pid, "cpu");
    assert_eq!(read(&pids, "pids.max"), "50");
    if v2 {
        assert_eq!(read(&memory, "memory.max"), "67108864");
        assert_eq!(read(&memory, "memory.low"), "33554432");
        assert!(read(&cpu, "cpu.max").starts_with("50000 "));
    } else {
        assert_eq!(read(&memory, "memory.limit_in_bytes"), "67108864");
        assert_eq!(read(&memory, "memory.soft_limit_in_bytes"), "33554432");
        assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "50000");
    }

    e.berth(p.path())
        .args(["down", "-t", "1", "--progress", "plain"])
        .ok();
    assert_eq!(e.ok(&["ps", "-aq"]), "", "down removes the container");
}

#[test]
fn compose_resources_unsupported_key_is_refused_before_anything_is_created() {
    let e = Engine::start("cresno");
    let p = Project::new();
    p.file(
        "compose.yaml",
        &format!(
            "name: cresno\nservices:\n  app:\n    image: {IMAGE}\n    command: {SERVE}\n    runtime: nvidia\n    mem_limit: 64m\n    deploy:\n      resources:\n        limits: {{memory: 128m}}\n"
        ),
    );
    let err = e
        .berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .fails();
    assert!(
        err.contains("compose.yaml:6:14: `services.app.runtime`: `nvidia` is not supported")
            && err.contains("hint: remove `runtime`"),
        "{err}"
    );
    assert!(
        err.contains(
            "compose.yaml:10:26: `services.app`: can't set distinct values on 'mem_limit' and 'deploy.resources.limits.memory'"
        ),
        "{err}"
    );
    assert_eq!(e.ok(&["ps", "-aq"]), "", "no container created");
    let networks = e.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !networks.contains("cresno"),
        "no network created: {networks}"
    );
}

#[test]
fn compose_logging_max_size_rotates_and_logs_reads_the_kept_files() {
    let e = Engine::start("clogrot");
    let p = Project::new();
    // 300 lines of about 110 bytes of JSON each: over 30 kB through a 2 kB, 3-file log.
    p.file(
        "compose.yaml",
        &format!(
            r#"name: clogrot
services:
  app:
    image: {IMAGE}
    network_mode: none
    command: [sh, -c, 'for i in $(seq 1 300); do echo "line $$i"; done; sleep 600']
    logging:
      driver: json-file
      options: {{max-size: 2k, max-file: "3"}}
"#
        ),
    );
    e.berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .ok();
    let id = e.ok(&["inspect", "-f", "{{.Id}}", "clogrot-app-1"]);
    let log = e.data_root().join("containers").join(&id).join("log.json");
    let rotated = |n: u32| PathBuf::from(format!("{}.{n}", log.display()));
    let mut logs = String::new();
    for _ in 0..100 {
        logs = e.ok(&["logs", "clogrot-app-1"]);
        if logs.ends_with("line 300") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(logs.ends_with("line 300"), "{logs}");
    // Rotated twice at least, never more than max-file files, none past max-size.
    assert!(rotated(1).exists() && rotated(2).exists(), "no rotation");
    assert!(!rotated(3).exists(), "more than max-file files kept");
    for f in [log.clone(), rotated(1), rotated(2)] {
        let len = std::fs::metadata(&f).unwrap().len();
        assert!(len <= 2048, "{} holds {len} bytes", f.display());
    }
    // `logs` reads the kept files oldest first: consecutive lines ending with the last one,
    // the first ones gone.
    let numbers: Vec<u32> = logs
        .lines()
        .map(|l| l.trim_start_matches("line ").parse().unwrap())
        .collect();
    assert!(
        numbers.len() < 300,
        "nothing was dropped: {}",
        numbers.len()
    );
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "lines out of order or missing: {numbers:?}"
    );
    // A bad option is refused at create, as Docker does.
    let bad = e.docker(&["create", "--log-opt", "max-size=big", IMAGE, "true"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("invalid max-size \"big\""),
        "{err}"
    );
    e.berth(p.path())
        .args(["down", "-t", "1", "--progress", "plain"])
        .ok();
}

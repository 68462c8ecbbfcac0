//! The runtime through the docker CLI against a real engine: exec, resource limits, security
//! defaults and exit codes of `docker run`.

use crate::harness::{Engine, IMAGE};
use crate::util::show;

// Every container here runs with `--network none`: these tests are about the runtime, not
// about bridges.

/// Starts `sleep 300` detached under `name` and returns its id.
fn sleeper(e: &Engine, name: &str) -> String {
    e.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        "--name",
        name,
        IMAGE,
        "sleep",
        "300",
    ])
}

#[test]
fn runtime_exec_shares_the_pid_namespace_and_reports_exit_codes() {
    let e = Engine::start("rt_exec");
    let id = sleeper(&e, "rt-exec");
    assert_eq!(
        e.ok(&["exec", "rt-exec", "cat", "/proc/1/cmdline"]),
        "sleep\x00300\x00"
    );
    let out = e.ok(&[
        "exec",
        "-e",
        "X=42",
        "-w",
        "/tmp",
        "rt-exec",
        "sh",
        "-c",
        "echo $X; pwd; hostname",
    ]);
    assert_eq!(out, format!("42\n/tmp\n{}", &id[..12]));
    let both = e.docker(&[
        "exec",
        "rt-exec",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(both.status.code(), Some(3), "{}", show(&both));
    assert_eq!(String::from_utf8_lossy(&both.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&both.stderr), "err\n");
    let missing = e.docker(&["exec", "rt-exec", "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", show(&missing));
    e.ok(&["rm", "-f", "rt-exec"]);
}

/// `/proc/self/status`'s `CapEff` of `docker run` with `flags`.
fn cap_eff(e: &Engine, flags: &[&str]) -> u64 {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[IMAGE, "grep", "CapEff", "/proc/self/status"]);
    let out = e.ok(&args);
    u64::from_str_radix(out.split_whitespace().nth(1).expect("CapEff value"), 16).unwrap()
}

#[test]
fn runtime_capabilities_follow_dockers_defaults_and_flags() {
    let e = Engine::start("rt_caps");
    let default = berth_engine::runtime::defaults::DEFAULT_CAP_MASK;
    assert_eq!(cap_eff(&e, &[]), default);
    let changed = cap_eff(&e, &["--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN"]);
    assert_eq!(changed, (default | 1 << 12) & !1);
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = host.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    let bnd = u64::from_str_radix(bnd.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(cap_eff(&e, &["--privileged"]), bnd);
}

#[test]
fn runtime_pid1_hostname_masked_paths_and_read_only_proc_sys() {
    let e = Engine::start("rt_sec");
    let script = "echo $$; hostname; \
                  for p in /proc/kcore /proc/keys /proc/timer_list; do [ -e $p ] && cat $p; done | wc -c; \
                  echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo WRITABLE || echo ro";
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--rm",
        "--hostname",
        "rt-host",
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out, "1\nrt-host\n0\nro");
}

#[test]
fn runtime_exit_codes_oom_and_pids_limit() {
    let e = Engine::start("rt_limits");
    for (cmd, code) in [("exit 0", 0), ("exit 1", 1), ("no-such-command", 127)] {
        let out = e.docker(&["run", "--rm", "--network", "none", IMAGE, "sh", "-c", cmd]);
        assert_eq!(out.status.code(), Some(code), "{cmd}: {}", show(&out));
    }
    // SIGKILL gives 137; SIGTERM forwarded by --init (tini) to the command gives 143.
    let killed = e.ok(&["run", "-d", "--network", "none", IMAGE, "sleep", "300"]);
    e.ok(&["kill", &killed]);
    assert_eq!(e.ok(&["wait", &killed]), "137");
    let termed = e.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--init",
        IMAGE,
        "sleep",
        "300",
    ]);
    e.ok(&["stop", "-t", "20", &termed]);
    assert_eq!(e.ok(&["wait", &termed]), "143");
    e.ok(&["rm", &killed, &termed]);
    let oom = e.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "rt-oom",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        IMAGE,
        "sh",
        "-c",
        "x=aaaaaaaa; while true; do x=$x$x; done",
    ]);
    let oom_log = e.docker(&["logs", "rt-oom"]);
    assert_eq!(
        oom.status.code(),
        Some(137),
        "{}\n{}",
        show(&oom),
        show(&oom_log)
    );
    let state = e.ok(&[
        "inspect",
        "-f",
        "{{.State.OOMKilled}} {{.State.ExitCode}}",
        "rt-oom",
    ]);
    assert_eq!(state, "true 137");
    e.ok(&["rm", "rt-oom"]);
    let bomb = e.docker(&[
        "run",
        "--network",
        "none",
        "--rm",
        "--pids-limit",
        "10",
        IMAGE,
        "sh",
        "-c",
        "i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; wait",
    ]);
    let err = String::from_utf8_lossy(&bomb.stderr);
    assert!(err.contains("can't fork"), "{}", show(&bomb));
}

#[test]
fn runtime_cpu_quota_and_limits_reach_the_cgroup_and_the_process() {
    let e = Engine::start("rt_cgroup");
    let id = e.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        "--cpus",
        "0.5",
        "--ulimit",
        "nofile=123:456",
        "--oom-score-adj",
        "200",
        "--security-opt",
        "no-new-privileges",
        IMAGE,
        "sleep",
        "300",
    ]);
    let inside = e.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "ulimit -n; cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status",
    ]);
    assert_eq!(inside, "123\n200\nNoNewPrivs:\t1");
    let cgroup_root = std::path::Path::new("/sys/fs/cgroup");
    let v2 = cgroup_root.join("cgroup.controllers").exists();
    let quota = match v2 {
        true => std::fs::read_to_string(cgroup_root.join(format!("berth/{id}/cpu.max"))),
        false => {
            std::fs::read_to_string(cgroup_root.join(format!("cpu/berth/{id}/cpu.cfs_quota_us")))
        }
    };
    let quota = quota.expect("the container's cpu cgroup file");
    assert!(quota.starts_with("50000"), "{quota}");
    e.ok(&["rm", "-f", &id]);
}

#[test]
fn runtime_pause_top_and_logs_with_timestamps() {
    let e = Engine::start("rt_pause");
    let id = e.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        IMAGE,
        "sh",
        "-c",
        "echo out1; echo err1 >&2; echo out2; sleep 300",
    ]);
    e.ok(&["pause", &id]);
    assert_eq!(e.ok(&["inspect", "-f", "{{.State.Status}}", &id]), "paused");
    e.ok(&["unpause", &id]);
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Status}}", &id]),
        "running"
    );
    let top = e.ok(&["top", &id]);
    assert!(top.lines().next().unwrap().contains("PID"), "{top}");
    assert!(top.contains("sleep 300"), "{top}");
    let logs = e.docker(&["logs", "-t", &id]);
    let out = String::from_utf8_lossy(&logs.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{}", show(&logs));
    assert!(
        lines[0].ends_with(" out1") && lines[1].ends_with(" out2"),
        "{out}"
    );
    assert!(lines[0] <= lines[1], "timestamps in order: {out}");
    assert!(String::from_utf8_lossy(&logs.stderr).ends_with(" err1\n"));
    e.ok(&["rm", "-f", &id]);
}

#[test]
fn runtime_container_survives_an_engine_kill() {
    let mut e = Engine::start("rt_survive");
    let keep = e.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        "--name",
        "rt-keep",
        IMAGE,
        "sleep",
        "300",
    ]);
    e.ok(&[
        "run",
        "--network",
        "none",
        "-d",
        "--name",
        "rt-quit",
        IMAGE,
        "sleep",
        "300",
    ]);
    let quit_pid = e.ok(&["inspect", "-f", "{{.State.Pid}}", "rt-quit"]);
    let quit_pid: i32 = quit_pid.parse().expect("init pid");
    e.kill_and_restart(|| {});
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Running}}", &keep]),
        "true"
    );
    // The second container ends while the engine is down: its shim records the exit.
    e.kill_and_restart(|| {
        // SAFETY: kill(2) on the init pid of a container this test started.
        assert_eq!(unsafe { libc::kill(quit_pid, libc::SIGKILL) }, 0);
    });
    let quit = e.ok(&["wait", "rt-quit"]);
    assert_eq!(quit, "137");
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Running}}", &keep]),
        "true"
    );
    assert_eq!(e.ok(&["exec", "rt-keep", "echo", "alive"]), "alive");
    e.ok(&["rm", "-f", "rt-keep", "rt-quit"]);
}

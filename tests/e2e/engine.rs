//! The real engine end to end through the docker CLI: run, exit codes, logs, inspect, stop, rm.

use std::path::Path;

use crate::harness::{Engine, IMAGE};
use crate::util::show;

#[test]
fn engine_run_rm_prints_output() {
    let e = Engine::start("run_rm");
    assert_eq!(e.ok(&["run", "--rm", IMAGE, "echo", "hi"]), "hi");
    assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm left the container behind");
}

#[test]
fn engine_exit_codes_match_docker() {
    let e = Engine::start("exit_codes");
    for (cmd, code) in [("true", 0), ("false", 1)] {
        let out = e.docker(&["run", "--rm", IMAGE, cmd]);
        assert_eq!(out.status.code(), Some(code), "{cmd}:\n{}", show(&out));
    }
    let out = e.docker(&["run", "--rm", IMAGE, "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", show(&out));
}

/// Regression: a process that ends at once could make its shim exit while the engine was
/// still finishing `start`; the exit was recorded (and `--rm` deleted the runtime state) before
/// `start` returned, so `docker run --rm` failed with "remove …/exec.fifo: No such file" and
/// `die` could come before `start`. Many such runs side by side (the race needs load) must
/// all succeed, each container's events in order.
#[test]
fn engine_run_rm_of_a_process_that_ends_at_once_never_races_its_start() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let e = Engine::start("quick_exits");
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Two spinning threads keep the CPUs busy, so the engine's threads get preempted
        // between steps as on a loaded machine.
        for _ in 0..2 {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            });
        }
        let runs: Vec<_> = (0..4)
            .map(|t| {
                let e = &e;
                s.spawn(move || {
                    for i in 0..12 {
                        let name = format!("e2e-quick-{t}-{i}");
                        let out = e.docker(&[
                            "run",
                            "--rm",
                            "--network",
                            "none",
                            "--name",
                            &name,
                            IMAGE,
                            "true",
                        ]);
                        assert!(out.status.success(), "{name}:\n{}\n{}", show(&out), e.log());
                    }
                })
            })
            .collect();
        let results: Vec<_> = runs.into_iter().map(|r| r.join()).collect();
        done.store(true, Ordering::Relaxed);
        for r in results {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let events = crate::daemon::past_events(&e, "type=container");
    let mut by_container: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
        Default::default();
    for ev in events {
        let id = ev["Actor"]["ID"].as_str().unwrap_or_default().to_owned();
        by_container.entry(id).or_default().push(ev);
    }
    assert_eq!(by_container.len(), 48, "one container per run");
    for (id, evs) in &by_container {
        let seen = crate::daemon::actions(evs);
        let life = ["create", "start", "die", "destroy"];
        let kept: Vec<&str> = seen
            .iter()
            .map(String::as_str)
            .filter(|a| life.contains(a))
            .collect();
        assert_eq!(kept, life, "events of {id}: {seen:?}");
    }
    assert_eq!(e.ok(&["ps", "-aq"]), "", "--rm left containers behind");
}

/// Regression: a command that does not exist used to hang the engine. Docker's CLI exits 127,
/// `--rm` removes the container, and without it the container records exit code 127.
#[test]
fn engine_missing_command_exits_127() {
    let e = Engine::start("missing_command");
    let out = e.docker(&["run", "--rm", IMAGE, "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("executable file not found"),
        "{}",
        show(&out)
    );
    assert_eq!(
        e.ok(&["ps", "-aq"]),
        "",
        "--rm removes the container that failed to start"
    );
    let out = e.docker(&["run", "--name", "e2e-missing", IMAGE, "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", show(&out));
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.ExitCode}}", "e2e-missing"]),
        "127"
    );
    e.ok(&["rm", "e2e-missing"]);
}

#[test]
fn engine_detached_logs_inspect_stop_rm() {
    let e = Engine::start("detached");
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "e2e-detached",
        IMAGE,
        "sh",
        "-c",
        "echo ready; exec sleep 1000",
    ]);
    assert_eq!(id.len(), 64, "run -d prints the id: {id}");
    let pid = e.ok(&["inspect", "-f", "{{.State.Pid}}", "e2e-detached"]);
    let pid: i32 = pid.parse().expect("numeric pid");
    assert!(
        pid > 0 && Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} is not live"
    );
    let logs = loop {
        let l = e.ok(&["logs", "e2e-detached"]);
        if !l.is_empty() {
            break l;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(logs, "ready");
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Status}}", &id]),
        "running"
    );
    e.ok(&["stop", "-t", "1", "e2e-detached"]);
    assert_eq!(e.ok(&["inspect", "-f", "{{.State.Status}}", &id]), "exited");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "init {pid} survived stop"
    );
    e.ok(&["rm", "e2e-detached"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn engine_berth_info_and_version_reach_the_engine() {
    let e = Engine::start("berth_info");
    let info = e
        .berth(e.scratch())
        .arg_list(&["info", "--format", "json"])
        .ok();
    let info: serde_json::Value = serde_json::from_str(&info).expect("info is JSON");
    assert_eq!(
        info["DockerRootDir"].as_str(),
        Some(e.data_root().to_str().expect("utf-8 path"))
    );
    assert_eq!(info["Images"], 1, "the busybox image: {info}");
    let version = e.berth(e.scratch()).arg("version").ok();
    assert!(
        version.contains(&format!("Engine at {}: berth", e.host())),
        "{version}"
    );
}

#[test]
fn berth_info_fails_clearly_without_an_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("none.sock");
    let err = crate::util::Berth::in_dir(dir.path())
        .env("DOCKER_HOST", &format!("unix://{}", sock.display()))
        .arg("info")
        .fails();
    assert!(err.contains("no engine answers at unix://"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn engine_berth_image_ls_lists_the_busybox_image() {
    let e = Engine::start("image_ls");
    let table = e.berth(e.scratch()).arg_list(&["image", "ls"]).ok();
    let mut lines = table.lines();
    assert!(
        lines.next().is_some_and(|h| h.starts_with("REPOSITORY")),
        "{table}"
    );
    let row = lines.next().expect("one image row");
    assert!(row.starts_with("e2e-busybox   latest"), "{table}");
    let quiet = e.berth(e.scratch()).arg_list(&["image", "ls", "-q"]).ok();
    assert_eq!(quiet.trim().len(), 12, "{quiet}");
}

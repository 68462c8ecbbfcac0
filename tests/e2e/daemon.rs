//! The engine daemon end to end: events, info and df, restart policies with a crashing
//! container, live-restore across SIGKILL and SIGTERM (the chaos loops are in `daemon_chaos`).

use std::time::{Duration, Instant, SystemTime};

use crate::harness::{Engine, IMAGE};
use crate::util::show;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls `cond` every 50 ms for at most `limit`; the limit only bounds a hang, it is not a
/// timing assertion.
fn eventually(e: &Engine, what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "gave up waiting for {what}\n--- engine log\n{}",
            e.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `docker run -d --name NAME --restart POLICY [EXTRA…] IMAGE sleep 1000`.
fn run_sleeper(e: &Engine, name: &str, policy: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name, "--restart", policy];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sleep", "1000"]);
    e.ok(&args);
}

fn inspect(e: &Engine, name: &str, format: &str) -> String {
    e.ok(&["inspect", "-f", format, name])
}

/// Past events of `container` as JSON values (`--until` now, so the answer is bounded).
fn events(e: &Engine, container: &str) -> Vec<serde_json::Value> {
    past_events(e, &format!("container={container}"))
}

/// Past events that pass `filter` (as `docker events --filter`), oldest first.
pub(crate) fn past_events(e: &Engine, filter: &str) -> Vec<serde_json::Value> {
    let until = (unix_now() + 1).to_string();
    let out = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        filter,
        "--format",
        "{{json .}}",
    ]);
    out.lines()
        .map(|l| serde_json::from_str(l).expect("event JSON"))
        .collect()
}

pub(crate) fn actions(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["Action"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn daemon_events_info_and_df() {
    let e = Engine::start("events");
    let out = e.docker(&["run", "--name", "ev-a", IMAGE, "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let id = inspect(&e, "ev-a", "{{.Id}}");
    e.ok(&["rename", "ev-a", "ev-b"]);
    // By id: the events before the rename carry the old name.
    let got = events(&e, &id);
    let acts = actions(&got);
    for want in ["create", "start", "die", "rename"] {
        assert!(
            acts.contains(&want.to_owned()),
            "{want} missing in {acts:?}"
        );
    }
    let die = got.iter().find(|e| e["Action"] == "die").unwrap();
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(die["Actor"]["Attributes"]["image"], IMAGE);
    assert_eq!(die["Type"], "container");
    let until = (unix_now() + 1).to_string();
    let only_die = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=die",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    assert_eq!(only_die, "ev-a", "die was published under the old name");
    e.ok(&["rm", "ev-b"]);
    assert!(actions(&events(&e, &id)).contains(&"destroy".to_owned()));
    e.ok(&["tag", IMAGE, "e2e-other:1"]);
    let until = (unix_now() + 1).to_string();
    let image_events = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert!(image_events.contains("tag e2e-other:1"), "{image_events}");
    let info = e.ok(&[
        "info",
        "--format",
        "{{.CgroupVersion}} {{.NCPU}} {{.MemTotal}} {{.OperatingSystem}}",
    ]);
    let words: Vec<&str> = info.split_whitespace().collect();
    assert!(matches!(words[0], "1" | "2"), "{info}");
    assert!(words[1].parse::<i64>().unwrap() >= 1, "{info}");
    assert!(words[2].parse::<i64>().unwrap() > 0, "{info}");
    let df = e.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.contains("Images 1"), "{df}");
}

/// Gaps between each `die` and the next `start` of a container, from the events' timestamps.
fn restart_gaps(events: &[serde_json::Value]) -> Vec<Duration> {
    let mut gaps = Vec::new();
    let mut died: Option<i64> = None;
    for ev in events {
        let t = ev["timeNano"].as_i64().unwrap();
        match ev["Action"].as_str() {
            Some("die") => died = Some(t),
            Some("start") => {
                if let Some(d) = died.take() {
                    gaps.push(Duration::from_nanos((t - d) as u64));
                }
            }
            _ => {}
        }
    }
    gaps
}

#[test]
fn daemon_on_failure_3_restarts_three_times_with_growing_backoff() {
    let e = Engine::start("on_failure");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "crash",
        "--restart",
        "on-failure:3",
        IMAGE,
        "sh",
        "-c",
        "exit 3",
    ]);
    eventually(
        &e,
        "three restarts then a stop",
        Duration::from_secs(60),
        || inspect(&e, "crash", "{{.State.Status}} {{.RestartCount}}") == "exited 3",
    );
    // Settled: no fourth restart comes.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        inspect(
            &e,
            "crash",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}"
        ),
        "exited 3 3"
    );
    let got = events(&e, "crash");
    let acts = actions(&got);
    assert_eq!(acts.iter().filter(|a| *a == "start").count(), 4, "{acts:?}");
    assert_eq!(acts.iter().filter(|a| *a == "die").count(), 4, "{acts:?}");
    let gaps = restart_gaps(&got);
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    // The back-off is a lower bound: 100 ms, 200 ms, 400 ms.
    for (i, gap) in gaps.iter().enumerate() {
        let min = Duration::from_millis(100 << i);
        assert!(
            *gap >= min,
            "restart {i} came after {gap:?}, before the {min:?} back-off"
        );
    }
    eprintln!("on-failure:3 restart gaps: {gaps:?}");
    // A start by the user resets the count.
    e.ok(&["start", "crash"]);
    eventually(
        &e,
        "count reset by a manual start",
        Duration::from_secs(60),
        || {
            let s = inspect(&e, "crash", "{{.State.Status}} {{.RestartCount}}");
            s == "exited 3" || s.ends_with(" 0") || s.ends_with(" 1") || s.ends_with(" 2")
        },
    );
}

#[test]
fn daemon_stop_cancels_always_and_daemon_restart_honours_unless_stopped() {
    let mut e = Engine::start("policies");
    for (name, policy) in [("pol-always", "always"), ("pol-unless", "unless-stopped")] {
        run_sleeper(&e, name, policy, &[]);
        e.ok(&["stop", "-t", "0", name]);
    }
    e.ok(&["run", "-d", "--name", "pol-keep", IMAGE, "sleep", "1000"]);
    let keep_pid = inspect(&e, "pol-keep", "{{.State.Pid}}");
    std::thread::sleep(Duration::from_millis(500));
    for name in ["pol-always", "pol-unless"] {
        assert_eq!(
            inspect(&e, name, "{{.State.Status}}"),
            "exited",
            "{name}: a stop cancels the policy"
        );
    }
    e.kill_engine(libc::SIGTERM);
    assert!(
        std::path::Path::new(&format!("/proc/{keep_pid}")).exists(),
        "SIGTERM left the container running"
    );
    e.respawn();
    eventually(
        &e,
        "always container started on daemon start",
        Duration::from_secs(30),
        || inspect(&e, "pol-always", "{{.State.Status}}") == "running",
    );
    assert_eq!(inspect(&e, "pol-unless", "{{.State.Status}}"), "exited");
    assert_eq!(
        inspect(&e, "pol-keep", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {keep_pid}")
    );
    e.ok(&["stop", "-t", "0", "pol-keep"]);
    assert_eq!(
        inspect(&e, "pol-keep", "{{.State.Status}}"),
        "exited",
        "a re-attached container stops"
    );
}

#[test]
fn daemon_sigkill_keeps_running_containers_and_learns_exits() {
    let mut e = Engine::start("live_restore");
    e.ok(&["run", "-d", "--name", "lr-keep", IMAGE, "sleep", "1000"]);
    e.ok(&["run", "-d", "--name", "lr-end", IMAGE, "sleep", "1000"]);
    let keep = inspect(&e, "lr-keep", "{{.State.Pid}}");
    let end: i32 = inspect(&e, "lr-end", "{{.State.Pid}}").parse().unwrap();
    e.kill_engine(libc::SIGKILL);
    // SAFETY: kill(2) of the init of a container this test started.
    unsafe { libc::kill(end, libc::SIGKILL) };
    e.respawn();
    assert_eq!(
        inspect(&e, "lr-keep", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {keep}")
    );
    eventually(
        &e,
        "the exit that happened while down",
        Duration::from_secs(30),
        || inspect(&e, "lr-end", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137",
    );
    // The re-attached container's exit is noticed too.
    e.ok(&["kill", "lr-keep"]);
    eventually(
        &e,
        "exit of a re-attached container",
        Duration::from_secs(30),
        || inspect(&e, "lr-keep", "{{.State.Status}}") == "exited",
    );
    let out = e.docker(&["logs", "lr-keep"]);
    assert!(out.status.success(), "{}", show(&out));
}

/// Regression: at daemon start, recovery recorded the exits that happened while the daemon was
/// down, and resumed restart policies, on a task that raced with the opening of networking: an
/// exit recorded first dropped the container's network namespace while its endpoints were not
/// loaded yet, and a restart by policy found no networking and left the container exited.
/// Here networking takes seconds to open (every `nft` call of the new engine sleeps first), so
/// the race is lost every time unless recovery waits for networking.
#[test]
fn daemon_restart_policies_and_exits_resume_once_networking_is_open() {
    let mut e = Engine::start("policy_net");
    e.ok(&["network", "create", "polnet"]);
    for (name, policy) in [("pn-always", "always"), ("pn-none", "no")] {
        run_sleeper(&e, name, policy, &["--network", "polnet"]);
    }
    let pids: Vec<i32> = ["pn-always", "pn-none"]
        .iter()
        .map(|n| inspect(&e, n, "{{.State.Pid}}").parse().unwrap())
        .collect();
    let nft = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("nft"))
        .find(|p| p.is_file())
        .expect("nft on PATH");
    let slow = e.scratch().join("slow-nft");
    std::fs::create_dir_all(&slow).unwrap();
    std::fs::write(
        slow.join("nft"),
        format!("#!/bin/sh\nsleep 2\nexec {} \"$@\"\n", nft.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        slow.join("nft"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = std::env::join_paths(
        std::iter::once(slow).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    e.kill_engine(libc::SIGKILL);
    for pid in &pids {
        // SAFETY: kill(2) of the init of a container this test started.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    e.respawn_with_env(&[("PATH", path.to_str().unwrap())]);
    eventually(
        &e,
        "the always container restarted by its policy",
        Duration::from_secs(60),
        || {
            let s = inspect(&e, "pn-always", "{{.State.Status}} {{.State.Pid}}");
            s.starts_with("running ") && s != format!("running {}", pids[0])
        },
    );
    eventually(
        &e,
        "the exit that happened while down",
        Duration::from_secs(60),
        || inspect(&e, "pn-none", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137",
    );
    assert_eq!(inspect(&e, "pn-always", "{{.RestartCount}}"), "1");
    let attached = e.ok(&["network", "inspect", "-f", "{{json .Containers}}", "polnet"]);
    let attached: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&attached).unwrap();
    let ids: Vec<String> = attached.keys().cloned().collect();
    assert_eq!(
        ids,
        [inspect(&e, "pn-always", "{{.Id}}")],
        "endpoints on polnet"
    );
    crate::daemon_debris::assert_no_debris(&e, 0);
    let out = e.docker(&[
        "exec",
        "pn-always",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(out.status.success(), "{}", show(&out));
}

/// Health checks run through exec: a passing check turns the container healthy, a failing one
/// unhealthy after its retries, each with its output in `State.Health.Log`.
#[test]
fn daemon_health_checks_run_in_the_container() {
    let e = Engine::start("health");
    let common = [
        "--network",
        "none",
        "--health-interval",
        "1s",
        "--health-timeout",
        "5s",
        "--health-retries",
        "2",
    ];
    let mut good = vec![
        "run",
        "-d",
        "--name",
        "hc-good",
        "--health-cmd",
        "echo ok-$HOSTNAME",
    ];
    good.extend(common);
    good.extend([IMAGE, "sleep", "300"]);
    e.ok(&good);
    let mut bad = vec!["run", "-d", "--name", "hc-bad", "--health-cmd", "exit 3"];
    bad.extend(common);
    bad.extend([IMAGE, "sleep", "300"]);
    e.ok(&bad);
    eventually(&e, "hc-good healthy", Duration::from_secs(60), || {
        inspect(&e, "hc-good", "{{.State.Health.Status}}") == "healthy"
    });
    let log = inspect(&e, "hc-good", "{{(index .State.Health.Log 0).Output}}");
    assert!(log.starts_with("ok-"), "probe output: {log}");
    eventually(&e, "hc-bad unhealthy", Duration::from_secs(60), || {
        inspect(&e, "hc-bad", "{{.State.Health.Status}}") == "unhealthy"
    });
    assert_eq!(
        inspect(&e, "hc-bad", "{{(index .State.Health.Log 0).ExitCode}}"),
        "3"
    );
}

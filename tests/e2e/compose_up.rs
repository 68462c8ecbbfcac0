//! Compose verbs end to end against a real engine: `up -d` of many services, idempotent
//! re-`up`, recreation of only what changed, `scale`, `down -v`, `--exit-code-from`, `logs`
//! prefixes, one-off `run --rm`, and a `depends_on: service_healthy` chain with `--wait` on the
//! project's bridge network. Most stacks use `network_mode: none` and busybox processes that exit
//! on SIGTERM, so every test is quick.
//!
//! Every test runs twice: against berth's engine (`on_berth::…`) and against Debian's dockerd
//! (`on_dockerd::…`), so berth's compose layer behaves on Docker's own engine as on its own.

use std::collections::BTreeMap;

use crate::dockerd::Target;
use crate::harness::IMAGE;
use crate::images::registry::Registry;
use crate::util::{Project, show};

/// Each named test function (`fn(&impl Target)`) as a test against berth's engine
/// (`on_berth::NAME`) and one against dockerd (`on_dockerd::NAME`).
macro_rules! on_both_engines {
    ($($name:ident: $short:literal),* $(,)?) => {
        mod on_berth {
            $(#[test]
            fn $name() {
                super::$name(&crate::harness::Engine::start($short));
            })*
        }
        mod on_dockerd {
            $(#[test]
            fn $name() {
                super::$name(&crate::dockerd::Dockerd::start($short));
            })*
        }
    };
}

on_both_engines!(
    compose_up_twenty_services_then_noop_then_recreates_only_the_changed_one: "cup20",
    compose_scale_up_then_down_keeps_the_lowest_numbers: "cscale",
    compose_exit_code_from_returns_the_service_code: "cexit",
    compose_logs_are_prefixed_and_run_rm_is_a_labelled_one_off: "clogs",
    compose_up_wait_follows_a_healthy_chain_over_the_default_network: "cchain",
    compose_up_builds_absent_images_rebuilds_with_build_and_pushes: "cbuild",
);

/// A command that runs until SIGTERM and then exits 0 (busybox `sleep` as PID 1 would ignore
/// SIGTERM and make every stop wait for the grace period).
const SERVE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;

/// A compose file with `n` independent services `s1`…`sN` named project `name`.
fn many(name: &str, n: usize, env_of_s1: &str) -> String {
    let mut out = format!("name: {name}\nservices:\n");
    for i in 1..=n {
        out.push_str(&format!(
            "  s{i}:\n    image: {IMAGE}\n    network_mode: none\n    command: {SERVE}\n"
        ));
        if i == 1 {
            out.push_str(&format!("    environment:\n      MARK: {env_of_s1}\n"));
        }
    }
    out
}

/// Container name → id of the project's containers, as the docker CLI lists them.
fn containers(e: &impl Target, project: &str) -> BTreeMap<String, String> {
    let out = e.ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--format",
        "{{.Names}} {{.ID}}",
    ]);
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, id)| (n.trim_start_matches('/').to_owned(), id.to_owned()))
        .collect()
}

fn compose_up_twenty_services_then_noop_then_recreates_only_the_changed_one(e: &impl Target) {
    let p = Project::new();
    p.file("compose.yaml", &many("cup20", 20, "one"));
    e.berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .ok();
    let first = containers(e, "cup20");
    assert_eq!(first.len(), 20, "{first:?}");
    for i in 1..=20 {
        assert!(first.contains_key(&format!("cup20-s{i}-1")), "{first:?}");
    }
    let running = e.ok(&[
        "ps",
        "-q",
        "--filter",
        "label=com.docker.compose.project=cup20",
    ]);
    assert_eq!(running.lines().count(), 20, "all 20 run");

    let out = e
        .berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .output();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        containers(e, "cup20"),
        first,
        "a second up recreated something"
    );
    let dry = e.berth(p.path()).args(["up", "-d", "--dry-run"]).ok();
    assert_eq!(dry.trim(), "", "the no-op plan is empty: {dry}");

    p.file("compose.yaml", &many("cup20", 20, "two"));
    e.berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .ok();
    let after = containers(e, "cup20");
    assert_eq!(after.len(), 20);
    for (name, id) in &after {
        if name == "cup20-s1-1" {
            assert_ne!(
                id, &first[name],
                "s1's environment changed: it is recreated"
            );
        } else {
            assert_eq!(id, &first[name], "{name} did not change but was recreated");
        }
    }
    let env = e.ok(&["inspect", "-f", "{{json .Config.Env}}", "cup20-s1-1"]);
    assert!(env.contains("MARK=two"), "{env}");

    e.berth(p.path())
        .args(["down", "-v", "-t", "1", "--progress", "plain"])
        .ok();
    assert!(containers(e, "cup20").is_empty());
}

fn compose_scale_up_then_down_keeps_the_lowest_numbers(e: &impl Target) {
    let p = Project::new();
    p.file(
        "compose.yaml",
        &format!(
            "name: cscale\nservices:\n  web:\n    image: {IMAGE}\n    network_mode: none\n    command: {SERVE}\n"
        ),
    );
    e.berth(p.path())
        .args(["up", "-d", "--progress", "quiet"])
        .ok();
    e.berth(p.path())
        .args(["scale", "web=5", "--progress", "plain"])
        .ok();
    let five: Vec<String> = containers(e, "cscale").into_keys().collect();
    assert_eq!(
        five,
        (1..=5)
            .map(|i| format!("cscale-web-{i}"))
            .collect::<Vec<_>>()
    );
    let before = containers(e, "cscale");
    e.berth(p.path())
        .args(["scale", "web=2", "--progress", "plain"])
        .ok();
    let two = containers(e, "cscale");
    assert_eq!(
        two.keys().cloned().collect::<Vec<_>>(),
        vec!["cscale-web-1".to_owned(), "cscale-web-2".to_owned()]
    );
    assert_eq!(two["cscale-web-1"], before["cscale-web-1"], "web-1 kept");
    assert_eq!(two["cscale-web-2"], before["cscale-web-2"], "web-2 kept");
    let ps = e.berth(p.path()).args(["ps", "--services"]).ok();
    assert_eq!(ps.trim(), "web");
    let q = e.berth(p.path()).args(["ps", "-q"]).ok();
    assert_eq!(q.lines().count(), 2, "{q}");
    e.berth(p.path()).args(["down", "--progress", "quiet"]).ok();
    assert!(containers(e, "cscale").is_empty());
}

fn compose_exit_code_from_returns_the_service_code(e: &impl Target) {
    let p = Project::new();
    p.file(
        "compose.yaml",
        &format!(
            "name: cexit\nservices:\n  job:\n    image: {IMAGE}\n    network_mode: none\n    command: [\"sh\", \"-c\", \"echo working; exit 3\"]\n  side:\n    image: {IMAGE}\n    network_mode: none\n    command: {SERVE}\n"
        ),
    );
    let out = e
        .berth(p.path())
        .args([
            "up",
            "--exit-code-from",
            "job",
            "--no-color",
            "--progress",
            "quiet",
        ])
        .output();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("job-1   | working"), "{}", show(&out));
    let side = e.ok(&["inspect", "-f", "{{.State.Status}}", "cexit-side-1"]);
    assert_eq!(side, "exited", "the other service is stopped on abort");
    e.berth(p.path()).args(["down", "--progress", "quiet"]).ok();
}

fn compose_logs_are_prefixed_and_run_rm_is_a_labelled_one_off(e: &impl Target) {
    let p = Project::new();
    p.file(
        "compose.yaml",
        &format!(
            "name: clogs\nservices:\n  hello:\n    image: {IMAGE}\n    network_mode: none\n    command: [\"echo\", \"hello from compose\"]\n  tool:\n    image: {IMAGE}\n    network_mode: none\n    command: [\"true\"]\n"
        ),
    );
    e.berth(p.path())
        .args(["up", "-d", "--progress", "quiet", "hello"])
        .ok();
    e.berth(p.path()).args(["wait", "hello"]).ok();
    let logs = e.berth(p.path()).args(["logs", "--no-color", "hello"]).ok();
    assert_eq!(logs, "hello-1  | hello from compose\n");
    let bare = e.berth(p.path()).args(["logs", "--no-log-prefix"]).ok();
    assert_eq!(bare, "hello from compose\n");

    let out = e
        .berth(p.path())
        .args(["run", "--rm", "tool", "sh", "-c", "echo one-off; exit 4"])
        .output();
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("one-off"));
    let left = e.ok(&[
        "ps",
        "-aq",
        "--filter",
        "label=com.docker.compose.oneoff=True",
    ]);
    assert_eq!(left, "", "run --rm removed its container");

    let name = e.berth(p.path()).args(["run", "-d", "tool", "true"]).ok();
    let name = name.trim();
    assert!(name.starts_with("clogs-tool-run-"), "{name}");
    let label = e.ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"com.docker.compose.oneoff\"}}",
        name,
    ]);
    assert_eq!(label, "True");
    e.berth(p.path()).args(["down", "--progress", "quiet"]).ok();
    assert!(
        containers(e, "clogs").is_empty(),
        "down removes one-offs too"
    );
}

/// `StartedAt` as a sortable string: RFC 3339 with the fraction padded to nanoseconds (docker
/// trims trailing zeros, which breaks plain string comparison).
fn started_at(e: &impl Target, name: &str) -> String {
    let at = e.ok(&["inspect", "-f", "{{.State.StartedAt}}", name]);
    let at = at.trim_end_matches('Z');
    match at.split_once('.') {
        Some((secs, frac)) => format!("{secs}.{frac:0<9}"),
        None => format!("{at}.000000000"),
    }
}

/// Five services in a `depends_on: service_healthy` chain on the project's bridge network, the
/// first with a named volume: `up --wait` returns once every service is healthy, each started
/// after the one it depends on turned healthy, and the last one reaches the first by service
/// name through the embedded DNS. `down -v` leaves no container, network or volume.
fn compose_up_wait_follows_a_healthy_chain_over_the_default_network(e: &impl Target) {
    let p = Project::new();
    let web = r#"["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www"]"#;
    let check =
        r#"["CMD-SHELL", "printf 'HEAD / HTTP/1.0\r\n\r\n' | nc 127.0.0.1 80 | grep -q '200 OK'"]"#;
    let mut file = format!(
        "name: cchain\nservices:\n  web:\n    image: {IMAGE}\n    command: {web}\n    \
         volumes: [data:/data]\n    healthcheck:\n      test: {check}\n      interval: 1s\n      \
         retries: 20\n"
    );
    let chain = ["web", "b", "c", "d", "last"];
    for pair in chain.windows(2) {
        let (dep, name) = (pair[0], pair[1]);
        file.push_str(&format!(
            "  {name}:\n    image: {IMAGE}\n    depends_on:\n      {dep}:\n        condition: \
             service_healthy\n    command: [\"sh\", \"-c\", \"printf 'GET / HTTP/1.0\\r\\n\\r\\n' \
             | nc web 80 | tail -n 1 > /reply; touch /ready; trap 'exit 0' TERM; while true; do \
             sleep 1; done\"]\n    healthcheck:\n      test: [\"CMD\", \"test\", \"-e\", \"/ready\"]\n      \
             interval: 1s\n      retries: 20\n"
        ));
    }
    file.push_str("volumes:\n  data: {}\n");
    p.file("compose.yaml", &file);
    e.berth(p.path())
        .args(["up", "-d", "--wait", "--progress", "plain"])
        .ok();
    for svc in chain {
        assert_eq!(
            e.ok(&[
                "inspect",
                "-f",
                "{{.State.Health.Status}}",
                &format!("cchain-{svc}-1")
            ]),
            "healthy",
            "{svc}"
        );
    }
    for pair in chain.windows(2) {
        let (dep, svc) = (pair[0], pair[1]);
        assert!(
            started_at(e, &format!("cchain-{dep}-1")) < started_at(e, &format!("cchain-{svc}-1")),
            "{dep} starts before {svc}"
        );
    }
    assert_eq!(
        e.ok(&["exec", "cchain-last-1", "cat", "/reply"]),
        "hello-from-web",
        "last reached web by its service name"
    );
    e.berth(p.path()).args(["down", "-v"]).ok();
    assert!(containers(e, "cchain").is_empty());
    for what in [["network", "cchain_default"], ["volume", "cchain_data"]] {
        let out = e.docker(&[what[0], "inspect", what[1]]);
        assert!(
            !out.status.success(),
            "{} left behind:\n{}",
            what[0],
            show(&out)
        );
    }
}

/// `up` builds a `build:` service whose image is absent, keeps it while present (a changed
/// context is not rebuilt, nothing is recreated), `--no-build` refuses an absent image, and
/// `--build` rebuilds and recreates only the containers of the rebuilt image. `push` sends the
/// `image:` and the extra `build.tags` to a registry they can be pulled back from.
fn compose_up_builds_absent_images_rebuilds_with_build_and_pushes(e: &impl Target) {
    let reg = Registry::start("cbuild", e, None);
    let app = format!("{}/e2e/cbuild-app:v1", reg.addr);
    let extra = format!("{}/e2e/cbuild-app:extra", reg.addr);
    let p = Project::new();
    p.file(
        "app/Dockerfile",
        &format!("FROM {IMAGE}\nCOPY marker /marker\n"),
    );
    p.file("app/marker", "one\n");
    p.file(
        "compose.yaml",
        &format!(
            "name: cbuild\nservices:\n  app:\n    image: {app}\n    build:\n      context: app\n      \
             tags: [\"{extra}\"]\n    network_mode: none\n    command: {SERVE}\n  plain:\n    \
             image: {IMAGE}\n    network_mode: none\n    command: {SERVE}\n"
        ),
    );
    let up = |extra_args: &[&str]| {
        e.berth(p.path())
            .args(["up", "-d", "--progress", "quiet"])
            .args(extra_args)
    };
    let err = up(&["--no-build"]).fails();
    assert!(err.contains("--no-build") && err.contains("app"), "{err}");
    assert!(containers(e, "cbuild").is_empty(), "nothing made: {err}");

    up(&[]).ok();
    let marker = || e.ok(&["exec", "cbuild-app-1", "cat", "/marker"]);
    assert_eq!(marker(), "one", "the absent image was built");
    let first = containers(e, "cbuild");
    assert_eq!(first.len(), 2, "{first:?}");

    p.file("app/marker", "two\n");
    up(&[]).ok();
    up(&["--no-build"]).ok();
    assert_eq!(
        containers(e, "cbuild"),
        first,
        "a present image is not rebuilt"
    );
    assert_eq!(marker(), "one");

    up(&["--build"]).ok();
    let after = containers(e, "cbuild");
    assert_ne!(
        after["cbuild-app-1"], first["cbuild-app-1"],
        "app recreated"
    );
    assert_eq!(
        after["cbuild-plain-1"], first["cbuild-plain-1"],
        "plain kept"
    );
    assert_eq!(marker(), "two", "--build rebuilt the image");
    up(&[]).ok();
    assert_eq!(containers(e, "cbuild"), after, "no-op after the rebuild");

    let out = e.berth(p.path()).args(["push"]).ok();
    assert!(out.contains(&app) && out.contains(&extra), "{out}");
    e.berth(p.path()).args(["down", "--progress", "quiet"]).ok();
    e.ok(&["rmi", &app, &extra]);
    for image in [&app, &extra] {
        e.ok(&["pull", image]);
        let got = e.ok(&["run", "--rm", "--network", "none", image, "cat", "/marker"]);
        assert_eq!(got, "two", "{image} pulled back from the registry");
        e.ok(&["rmi", image]);
    }
    // As docker compose v2: the absent image of a built service is pulled first, and built
    // only when the pull fails (the first `up` above): the registry's `two`, not `three`.
    p.file("app/marker", "three\n");
    up(&[]).ok();
    assert_eq!(marker(), "two", "pulled, not built");
    e.berth(p.path()).args(["down", "--progress", "quiet"]).ok();
    e.ok(&["rmi", &app]);
}

//! Real Docker clients against berth's engine socket: the `docker` CLI's everyday verbs and
//! Debian's `docker-compose` bringing a two-service stack up and down.

use std::process::{Command, Stdio};
use std::time::SystemTime;

use crate::harness::{Engine, IMAGE};
use crate::util::show;

#[test]
fn compat_docker_cli_everyday_verbs() {
    let e = Engine::start("compat_cli");
    let version = e.ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(version.starts_with("1."), "{version}");
    assert!(e.ok(&["info", "--format", "{{.ServerVersion}}"]).len() > 1);
    assert!(
        e.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .contains(IMAGE)
    );
    let t0 = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = e.ok(&[
        "run", "-d", "--name", "compat-web", IMAGE, "sh", "-c",
        "echo ready; i=0; while [ $i -lt 3 ]; do i=$((i+1)); echo tick $i; sleep 0.2; done; sleep 1000",
    ]);
    assert_eq!(id.len(), 64, "{id}");
    assert!(
        e.ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
            .contains("compat-web Up")
    );
    // `logs -f` follows until the container stops; bounded by a stop from another thread.
    let pid: i32 = e
        .ok(&["inspect", "-f", "{{.State.Pid}}", "compat-web"])
        .parse()
        .expect("numeric pid");
    assert!(pid > 1 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    let host = e.host();
    let follower = Command::new("timeout")
        .args(["60", "docker", "-H", &host, "logs", "-f", "compat-web"])
        .env("DOCKER_CONFIG", e.scratch().join("docker-config"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker logs -f");
    let mut seen = String::new();
    for _ in 0..100 {
        seen = e.ok(&["logs", "compat-web"]);
        if seen.contains("tick 3") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(seen.contains("tick 3"), "{seen}");
    e.ok(&["stop", "-t", "1", "compat-web"]);
    let followed = follower.wait_with_output().expect("logs -f output");
    assert!(followed.status.success(), "{}", show(&followed));
    let text = String::from_utf8_lossy(&followed.stdout);
    assert!(text.starts_with("ready\ntick 1\ntick 2\ntick 3"), "{text}");
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Status}}", "compat-web"]),
        "exited"
    );
    e.ok(&["rm", "compat-web"]);
    let since = t0.to_string();
    // A past `--until` answers with the history at once.
    let now = (SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let evs = e.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &now,
        "--filter",
        "container=compat-web",
        "--format",
        "{{.Action}}",
    ]);
    let evs: Vec<&str> = evs.lines().collect();
    for want in ["create", "start", "kill", "die", "stop", "destroy"] {
        assert!(evs.contains(&want), "{want} missing from {evs:?}");
    }
}

#[test]
fn compat_docker_compose_up_ps_logs_down() {
    let e = Engine::start("compat_compose");
    let dir = e.scratch().join("stack");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "version: \"3.7\"\nservices:\n  web:\n    image: {IMAGE}\n    network_mode: none\n    command: [\"sh\", \"-c\", \"echo web up; sleep 1000\"]\n  worker:\n    image: {IMAGE}\n    network_mode: none\n    command: [\"sh\", \"-c\", \"echo worker up; sleep 1000\"]\n    depends_on: [web]\n"
        ),
    )
    .unwrap();
    let compose = |args: &[&str]| {
        Command::new("timeout")
            .args([
                "--kill-after=5",
                "120",
                "docker-compose",
                "-p",
                "compatstack",
            ])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", e.host())
            .env("DOCKER_CONFIG", e.scratch().join("docker-config"))
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run docker-compose (apt-get install docker-compose)")
    };
    let ok = |args: &[&str]| {
        let out = compose(args);
        assert!(
            out.status.success(),
            "docker-compose {args:?} failed:\n{}\n--- engine log\n{}",
            show(&out),
            e.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["up", "-d"]);
    let ps = ok(&["ps"]);
    for svc in ["compatstack_web_1", "compatstack_worker_1"] {
        let line = ps.lines().find(|l| l.contains(svc)).unwrap_or_default();
        assert!(line.contains("Up"), "{svc} not up:\n{ps}");
    }
    let mut logs = String::new();
    for _ in 0..100 {
        logs = ok(&["logs", "--no-color"]);
        if logs.contains("web up") && logs.contains("worker up") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        logs.contains("web up") && logs.contains("worker up"),
        "{logs}"
    );
    ok(&["down", "-t", "1"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "", "down removed the stack");
}

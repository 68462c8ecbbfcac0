//! Compose volumes, secrets and configs end to end with `berth up`/`down` on a real engine:
//! an external volume must exist before `up` creates anything (its `name:` is what is looked
//! up), `down` keeps every volume, `down -v` removes the project's named and anonymous volumes
//! but never the external one; secrets from `environment:` and from a file with `uid`/`mode`
//! appear in the container with their content, owner and mode. Also the volume events
//! (`create`, `mount`, `unmount`, `destroy`) `docker events` shows.

use crate::harness::{Engine, IMAGE};
use crate::util::Project;

/// Runs until SIGTERM, then exits 0 (quick stops).
const SERVE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;

/// The engine's volume names, sorted.
fn volumes(e: &Engine) -> Vec<String> {
    let mut v: Vec<String> = e
        .ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// Names of the volumes mounted in `container`.
fn mounted(e: &Engine, container: &str) -> Vec<String> {
    let out = e.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Name}} {{end}}",
        container,
    ]);
    out.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn volumes_compose_external_must_exist_and_down_v_never_removes_it() {
    let e = Engine::start("vcext");
    let p = Project::new();
    p.file(
        "compose.yaml",
        &format!(
            "name: vcext\nservices:\n  db:\n    image: {IMAGE}\n    network_mode: none\n    command: {SERVE}\n    volumes:\n      - data:/data\n      - keep:/keep\n      - /anon\nvolumes:\n  data: {{}}\n  keep:\n    external: true\n    name: vcext-precious\n"
        ),
    );
    let err = e
        .berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .fails();
    assert!(
        err.contains("volume \"vcext-precious\" is external but does not exist (")
            && err.contains("compose.yaml:13:3)")
            && err.contains("create it with \"berth volume create vcext-precious\""),
        "{err}"
    );
    assert!(volumes(&e).is_empty(), "nothing created: {:?}", volumes(&e));
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "", "no container created");

    e.berth(p.path())
        .args(["volume", "create", "vcext-precious"])
        .ok();
    e.berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .ok();
    let first = mounted(&e, "vcext-db-1");
    let anon: Vec<&String> = first
        .iter()
        .filter(|n| *n != "vcext_data" && *n != "vcext-precious")
        .collect();
    assert_eq!(anon.len(), 1, "one anonymous volume: {first:?}");
    let anon_first = anon[0].clone();
    e.ok(&[
        "exec",
        "vcext-db-1",
        "sh",
        "-c",
        "echo db > /data/f && echo keep > /keep/f && echo anon > /anon/f",
    ]);

    e.berth(p.path())
        .args(["down", "-t", "1", "--progress", "plain"])
        .ok();
    let after_down = volumes(&e);
    for v in ["vcext_data", "vcext-precious", anon_first.as_str()] {
        assert!(
            after_down.iter().any(|n| n == v),
            "plain down keeps {v}: {after_down:?}"
        );
    }

    e.berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .ok();
    assert_eq!(
        e.ok(&["exec", "vcext-db-1", "cat", "/data/f", "/keep/f"]),
        "db\nkeep",
        "named and external data survive down + up"
    );
    let second = mounted(&e, "vcext-db-1");
    let anon_second = second
        .iter()
        .find(|n| *n != "vcext_data" && *n != "vcext-precious")
        .expect("anonymous volume")
        .clone();
    e.berth(p.path())
        .args(["down", "-v", "-t", "1", "--progress", "plain"])
        .ok();
    let left = volumes(&e);
    assert!(
        !left.contains(&"vcext_data".to_owned()),
        "named volume removed: {left:?}"
    );
    assert!(
        !left.contains(&anon_second),
        "the container's anonymous volume removed: {left:?}"
    );
    assert!(
        left.contains(&"vcext-precious".to_owned()),
        "the external volume is never removed: {left:?}"
    );
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "vcext-precious:/k",
        IMAGE,
        "cat",
        "/k/f",
    ]);
    assert_eq!(out, "keep", "the external volume's data is still there");
}

#[test]
fn volumes_compose_secrets_from_environment_and_file_with_owner_and_mode() {
    let e = Engine::start("vcsec");
    let p = Project::new();
    p.file("key.txt", "KEY-DATA");
    p.file(
        "compose.yaml",
        &format!(
            "name: vcsec\nservices:\n  app:\n    image: {IMAGE}\n    network_mode: none\n    command: {SERVE}\n    secrets:\n      - token\n      - source: key\n        mode: 0400\n        uid: \"1000\"\n      - plain\n    configs:\n      - source: motd\n        target: /etc/motd\n        mode: 0640\nsecrets:\n  token:\n    environment: VCSEC_TOKEN\n  key:\n    file: ./key.txt\n  plain:\n    file: ./key.txt\nconfigs:\n  motd:\n    content: hello motd\n"
        ),
    );
    let err = e
        .berth(p.path())
        .args(["up", "-d", "--progress", "plain"])
        .fails();
    assert!(
        err.contains("compose.yaml:19:18: secret `token` reads environment variable `VCSEC_TOKEN`, which is not set"),
        "{err}"
    );
    assert_eq!(e.ok(&["ps", "-aq"]).trim(), "", "no container created");

    e.berth(p.path())
        .env("VCSEC_TOKEN", "tok-123")
        .args(["up", "-d", "--progress", "plain"])
        .ok();
    let sh = |cmd: &str| e.ok(&["exec", "vcsec-app-1", "sh", "-c", cmd]);
    assert_eq!(sh("cat /run/secrets/token"), "tok-123");
    assert_eq!(sh("stat -c '%a %u %g' /run/secrets/token"), "444 0 0");
    assert_eq!(sh("cat /run/secrets/key"), "KEY-DATA");
    assert_eq!(sh("stat -c '%a %u' /run/secrets/key"), "400 1000");
    assert_eq!(sh("cat /etc/motd"), "hello motd");
    assert_eq!(sh("stat -c '%a' /etc/motd"), "640");
    assert_eq!(sh("cat /run/secrets/plain"), "KEY-DATA");
    let err = e.docker(&[
        "exec",
        "vcsec-app-1",
        "sh",
        "-c",
        "echo x > /run/secrets/plain",
    ]);
    assert!(
        !err.status.success(),
        "a plain file secret is a read-only bind"
    );
    e.berth(p.path())
        .args(["down", "-t", "1", "--progress", "plain"])
        .ok();
}

#[test]
fn volumes_events_create_mount_unmount_destroy() {
    let e = Engine::start("vcev");
    e.ok(&["volume", "create", "vcev-named"]);
    e.ok(&[
        "run",
        "--name",
        "vcev-c",
        "--network",
        "none",
        "-v",
        "vcev-named:/d",
        "-v",
        "/anon",
        IMAGE,
        "true",
    ]);
    let anon = e.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}",
        "vcev-c",
    ]);
    assert_eq!(anon.len(), 64, "anonymous volume name: {anon:?}");
    e.ok(&["rm", "-v", "vcev-c"]);
    e.ok(&["volume", "rm", "vcev-named"]);
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let out = e.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=volume",
        "--format",
        "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.destination}}",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    for (volume, dest) in [("vcev-named", "/d"), (anon.as_str(), "/anon")] {
        for action in ["create", "destroy"] {
            let want = format!("{action} {volume} ");
            assert!(
                lines.iter().any(|l| l.starts_with(&want)),
                "{want:?} missing in:\n{out}"
            );
        }
        for action in ["mount", "unmount"] {
            let want = format!("{action} {volume} {dest}");
            assert!(
                lines.contains(&want.as_str()),
                "{want:?} missing in:\n{out}"
            );
        }
    }
}

//! `berth watch` end to end against a real engine: edits, new directories, renames and
//! deletions reach every replica; a burst of 200 changes lands in a few batches with the final
//! content; ignored paths stay out; a rebuild path rebuilds and recreates the service;
//! `sync+restart` restarts and `sync+exec` runs its command; a project without `develop` is
//! refused with the services named. Each test runs its own engine and `berth watch` process,
//! both stopped by guards even when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Engine, IMAGE};
use crate::util::Project;

/// A command that runs until SIGTERM and then exits 0.
const SERVE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;

/// Longest wait for something the watcher should do: generous, so a loaded machine does not
/// fail the test; reaching it means the sync never happened.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `berth watch`, killed when dropped; its output goes to files.
struct Watching {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    _logs: tempfile::TempDir,
}

impl Watching {
    /// Starts `berth watch ARGS` in `dir` and waits until it watches.
    fn start(e: &Engine, dir: &Path, args: &[&str]) -> Watching {
        let logs = tempfile::tempdir().expect("log dir");
        let out = logs.path().join("out");
        let err = logs.path().join("err");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .current_dir(dir)
            .arg("watch")
            .args(args)
            .env("DOCKER_HOST", e.host())
            .env("BERTH_NO_AUTOSTART", "1")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("out"))
            .stderr(std::fs::File::create(&err).expect("err"))
            .spawn()
            .expect("spawn berth watch");
        let mut w = Watching {
            child,
            out,
            err,
            _logs: logs,
        };
        w.wait(|_, err| err.contains("watching "), "the watch to start");
        w
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits until `done(stdout, stderr)`; fails with both when the process exits or
    /// [`PATIENCE`] runs out.
    fn wait(&mut self, done: impl Fn(&str, &str) -> bool, what: &str) {
        let start = Instant::now();
        loop {
            let (out, err) = (self.stdout(), self.stderr());
            if done(&out, &err) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("poll berth watch") {
                panic!("berth watch exited ({status}) before {what}:\n{out}\n--- stderr\n{err}");
            }
            assert!(
                start.elapsed() < PATIENCE,
                "gave up waiting for {what}:\n{out}\n--- stderr\n{err}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cat PATH` in `container`, or `None` when it fails (missing file).
fn cat(e: &Engine, container: &str, path: &str) -> Option<String> {
    let out = e.docker(&["exec", container, "cat", path]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until `cat PATH` in `container` gives `want` (`None`: the file is gone).
fn wait_content(e: &Engine, w: &Watching, container: &str, path: &str, want: Option<&str>) {
    let start = Instant::now();
    loop {
        let got = cat(e, container, path);
        if got.as_deref() == want {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{container}:{path} is {got:?}, want {want:?}\n--- watch stdout\n{}\n--- stderr\n{}",
            w.stdout(),
            w.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `sh -c SCRIPT` in `container` prints `want`.
fn wait_shell(e: &Engine, w: &Watching, container: &str, script: &str, want: &str) {
    let start = Instant::now();
    loop {
        let out = e.docker(&["exec", container, "sh", "-c", script]);
        let got = String::from_utf8_lossy(&out.stdout).into_owned();
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{container}: `{script}` gives {got:?}, want {want:?}\n--- watch stdout\n{}\n--- stderr\n{}",
            w.stdout(),
            w.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write(p: &Project, rel: &str, text: &str) {
    p.file(rel, text);
}

fn sync_project(name: &str, scale: u32, extra_rule: &str) -> String {
    format!(
        "name: {name}
services:
  web:
    image: {IMAGE}
    network_mode: none
    command: {SERVE}
    scale: {scale}
    develop:
      watch:
        - path: ./src
          action: sync
          target: /app
          ignore: [node_modules/, '*.secret']
{extra_rule}"
    )
}

#[test]
fn watch_edits_new_dirs_renames_and_deletes_reach_every_replica() {
    let e = Engine::start("watch_edit");
    let p = Project::new();
    let compose = sync_project("wedit", 2, "").replace(
        "          target: /app\n",
        "          target: /app\n          initial_sync: true\n",
    );
    p.file("compose.yaml", &compose)
        .file("src/old.txt", "old\n");
    let mut w = Watching::start(&e, p.path(), &[]);
    // initial_sync copied the tree before watching began.
    w.wait(|out, _| out.contains("to wedit-web-2"), "the initial sync");
    for c in ["wedit-web-1", "wedit-web-2"] {
        assert_eq!(cat(&e, c, "/app/old.txt").as_deref(), Some("old\n"));
    }
    write(&p, "src/index.html", "v1\n");
    write(&p, "src/a/b/c/deep.txt", "deep\n");
    let both = "cat /app/index.html /app/a/b/c/deep.txt";
    for c in ["wedit-web-1", "wedit-web-2"] {
        wait_shell(&e, &w, c, both, "v1\ndeep\n");
    }
    // An editor's save (write a temporary file, rename it over the original), a renamed
    // directory and a deleted file, in one go.
    write(&p, "src/index.html.tmp", "v2\n");
    std::fs::rename(
        p.path().join("src/index.html.tmp"),
        p.path().join("src/index.html"),
    )
    .expect("rename");
    std::fs::rename(p.path().join("src/a"), p.path().join("src/moved")).expect("rename dir");
    std::fs::remove_file(p.path().join("src/old.txt")).expect("delete");
    let after = "cat /app/index.html /app/moved/b/c/deep.txt; ls /app";
    for c in ["wedit-web-1", "wedit-web-2"] {
        wait_shell(&e, &w, c, after, "v2\ndeep\nindex.html\nmoved\n");
    }
    w.wait(
        |out, _| out.contains("deleted 2 paths in wedit-web-1"),
        "the delete line",
    );
}

#[test]
fn watch_burst_of_200_changes_arrives_as_a_batch_with_the_final_content() {
    let e = Engine::start("watch_burst");
    let p = Project::new();
    p.file("compose.yaml", &sync_project("wburst", 1, ""));
    let w = Watching::start(&e, p.path(), &[]);
    std::fs::create_dir_all(p.path().join("src/burst")).expect("burst dir");
    for round in 0..2 {
        for i in 0..100 {
            let path = p.path().join(format!("src/burst/f{i:03}.txt"));
            std::fs::write(path, format!("round {round} file {i}\n")).expect("write");
        }
    }
    wait_content(
        &e,
        &w,
        "wburst-web-1",
        "/app/burst/f099.txt",
        Some("round 1 file 99\n"),
    );
    let lines = w
        .stdout()
        .lines()
        .filter(|l| l.starts_with("synced "))
        .count();
    assert!(
        lines <= 4,
        "200 changes should arrive in a few batches, not {lines}:\n{}",
        w.stdout()
    );
    let listing = e.ok(&["exec", "wburst-web-1", "sh", "-c", "cat /app/burst/*"]);
    let want: String = (0..100).map(|i| format!("round 1 file {i}\n")).collect();
    assert_eq!(listing + "\n", want);
}

#[test]
fn watch_ignored_paths_are_not_synced() {
    let e = Engine::start("watch_ignore");
    let p = Project::new();
    let compose = sync_project("wign", 1, "").replace("    image: ", "    build: .\n    image: ");
    p.file("compose.yaml", &compose)
        .file("Dockerfile", &format!("FROM {IMAGE}\n"))
        .file(".dockerignore", "**/*.log\n");
    let mut w = Watching::start(&e, p.path(), &[]);
    write(&p, "src/node_modules/pkg/index.js", "ignored\n");
    write(&p, "src/key.secret", "ignored\n");
    write(&p, "src/debug.log", "ignored\n");
    write(&p, "src/.git/HEAD", "ignored\n");
    write(&p, "src/.index.html.swp", "ignored\n");
    write(&p, "src/after.txt", "synced\n");
    wait_content(&e, &w, "wign-web-1", "/app/after.txt", Some("synced\n"));
    w.wait(
        |out, _| out.contains("synced 1 file to wign-web-1"),
        "one file synced",
    );
    let found = e.ok(&["exec", "wign-web-1", "find", "/app"]);
    assert_eq!(found, "/app\n/app/after.txt", "{found}");
}

#[test]
fn watch_rebuild_path_rebuilds_and_recreates_the_service() {
    let e = Engine::start("watch_rebuild");
    let p = Project::new();
    p.file(
        "compose.yaml",
        &format!(
            "name: wreb
services:
  web:
    build: .
    network_mode: none
    command: {SERVE}
    develop:
      watch:
        - path: ./version.txt
          action: rebuild
"
        ),
    )
    .file(
        "Dockerfile",
        &format!("FROM {IMAGE}\nCOPY version.txt /version.txt\n"),
    )
    .file("version.txt", "1\n");
    let mut w = Watching::start(&e, p.path(), &["--quiet"]);
    assert_eq!(
        cat(&e, "wreb-web-1", "/version.txt").as_deref(),
        Some("1\n")
    );
    let before = e.ok(&["inspect", "-f", "{{.Id}}", "wreb-web-1"]);
    write(&p, "version.txt", "2\n");
    w.wait(|out, _| out.contains("rebuilt web"), "the rebuild");
    wait_content(&e, &w, "wreb-web-1", "/version.txt", Some("2\n"));
    let after = e.ok(&["inspect", "-f", "{{.Id}}", "wreb-web-1"]);
    assert_ne!(before, after, "the container is recreated");
}

#[test]
fn watch_sync_restart_restarts_and_sync_exec_runs_its_command() {
    let e = Engine::start("watch_restart");
    let p = Project::new();
    p.file(
        "compose.yaml",
        &format!(
            "name: wrs
services:
  app:
    image: {IMAGE}
    network_mode: none
    command: {SERVE}
    develop:
      watch:
        - path: ./conf
          action: sync+restart
          target: /etc/app
  hook:
    image: {IMAGE}
    network_mode: none
    command: {SERVE}
    develop:
      watch:
        - path: ./hooks
          action: sync+exec
          target: /hooks
          exec:
            command: [sh, -c, 'cat /hooks/h.txt > /tmp/ran; echo $$MODE >> /tmp/ran; pwd >> /tmp/ran']
            working_dir: /hooks
            environment:
              MODE: dev
"
        ),
    );
    let mut w = Watching::start(&e, p.path(), &[]);
    let started = |c: &str| e.ok(&["inspect", "-f", "{{.State.StartedAt}}", c]);
    let before = started("wrs-app-1");
    write(&p, "conf/app.ini", "x=1\n");
    w.wait(|out, _| out.contains("restarted wrs-app-1"), "the restart");
    assert_eq!(
        cat(&e, "wrs-app-1", "/etc/app/app.ini").as_deref(),
        Some("x=1\n")
    );
    assert_ne!(before, started("wrs-app-1"), "StartedAt changes");
    write(&p, "hooks/h.txt", "hooked\n");
    wait_content(
        &e,
        &w,
        "wrs-hook-1",
        "/tmp/ran",
        Some("hooked\ndev\n/hooks\n"),
    );
    w.wait(|out, _| out.contains("ran `sh -c"), "the exec line");
}

#[test]
fn watch_without_develop_section_fails_naming_the_services() {
    let e = Engine::start("watch_nodev");
    let p = Project::new();
    p.file(
        "compose.yaml",
        &format!("name: wnd\nservices:\n  api:\n    image: {IMAGE}\n  db:\n    image: {IMAGE}\n"),
    );
    let err = e.berth(p.path()).arg("watch").fails();
    assert!(
        err.contains("none of the services has a develop.watch section (api, db)"),
        "{err}"
    );
    let running = e.ok(&["ps", "-q"]);
    assert_eq!(running, "", "nothing was started");
}

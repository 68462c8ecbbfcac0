//! The real engine end to end: `berth engine` on a temporary data root and socket, a busybox
//! image imported into its store, and the docker CLI running containers through it. Needs root
//! (namespaces, mounts, cgroups) and fails loudly without it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use berth_engine::image::{ImageStore, ImportOptions};

use crate::util::show;

const BUSYBOX: &str = "/bin/busybox";
const IMAGE: &str = "e2e-busybox:latest";

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    assert_eq!(
        uid, "0",
        "the engine end-to-end tests need root (namespaces, mounts, cgroups)"
    );
    assert!(
        Path::new(BUSYBOX).exists(),
        "these tests need {BUSYBOX}: apt-get install busybox-static"
    );
}

/// Builds a busybox rootfs tarball (`/bin/busybox` and its applet links).
fn busybox_tar(dir: &Path) -> PathBuf {
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let applets = String::from_utf8(list.stdout).expect("utf-8 applet list");
    let tar_path = dir.join("busybox.tar");
    let mut tar = tar::Builder::new(std::fs::File::create(&tar_path).expect("create tar"));
    let dir_header = |name: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        (h, name.to_owned())
    };
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        let (mut h, name) = dir_header(d);
        tar.append_data(&mut h, name, std::io::empty())
            .expect("tar dir");
    }
    tar.append_path_with_name(BUSYBOX, "bin/busybox")
        .expect("tar busybox");
    for applet in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("tar link");
    }
    tar.finish().expect("finish tar");
    tar_path
}

/// A running `berth engine` with its data root, stopped and cleaned up when dropped.
struct Engine {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Engine {
    fn start(test: &str) -> Engine {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-engine-{test}-"))
            .tempdir()
            .expect("temp data root");
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("images")).expect("data root");
        let tar = busybox_tar(dir.path());
        let store = ImageStore::open(&root.join("images")).expect("open image store");
        let opts = ImportOptions {
            reference: Some(IMAGE.to_owned()),
            ..ImportOptions::default()
        };
        store
            .import(std::fs::File::open(&tar).expect("open tar"), &opts)
            .expect("import busybox");
        drop(store);
        let socket = dir.path().join("engine.sock");
        let log = std::fs::File::create(dir.path().join("engine.log")).expect("engine log");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("engine")
            .arg("--data-root")
            .arg(&root)
            .arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn berth engine");
        let mut engine = Engine { child, dir, socket };
        engine.wait_ready();
        engine
    }

    /// Waits until the API answers (or the engine died, which fails the test with its log).
    fn wait_ready(&mut self) {
        loop {
            if let Some(status) = self.child.try_wait().expect("poll engine") {
                panic!("berth engine exited with {status}:\n{}", self.log());
            }
            if self.socket.exists() && self.docker(&["version"]).status.success() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("engine.log")).unwrap_or_default()
    }

    /// Runs the docker CLI against this engine, bounded by `timeout` so that a hung request
    /// fails the test instead of hanging the suite.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(["--kill-after=5", "120", "docker"])
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .expect("run docker (the docker CLI must be on PATH)")
    }

    /// Runs docker, asserts success, returns trimmed stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed:\n{}\n--- engine log\n{}",
            show(&out),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        // A daemon that does not stop within 10 s is killed, so a hang cannot block the suite.
        for _ in 0..200 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Anything still mounted under the data root (a failed remove) goes before the dir.
        let root = self.dir.path().to_string_lossy().into_owned();
        if let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") {
            let mut points: Vec<&str> = info
                .lines()
                .filter_map(|l| l.split_whitespace().nth(4))
                .filter(|p| p.starts_with(&root))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                let _ = Command::new("umount").arg("-l").arg(p).status();
            }
        }
    }
}

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

//! A real `berth engine` for end-to-end tests: a temporary data root and socket, a busybox image
//! imported into its store, and helpers to drive it with the docker CLI or with `berth` itself.
//! Needs root (namespaces, mounts, cgroups) and fails loudly without it. Dropping the engine
//! removes its containers, stops it and unmounts whatever it left under its data root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use berth_engine::image::{ImageStore, ImportOptions};

use crate::util::{Berth, show};

/// The host busybox the test image is made of.
pub const BUSYBOX: &str = "/bin/busybox";
/// The busybox image every engine starts with.
pub const IMAGE: &str = "e2e-busybox:latest";

/// Fails the test unless it runs as root with busybox-static installed.
pub fn require_root() {
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

/// Runs the docker CLI against the engine at `socket` with its own client config, bounded by
/// `timeout` so that a hung request fails the test instead of hanging the suite.
pub fn docker_at(socket: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["--kill-after=5", "120", "docker"])
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::null())
        .output()
        .expect("run docker (the docker CLI must be on PATH)")
}

/// The trimmed stdout of a docker run that must have succeeded; otherwise fails the test with
/// its output and the engine's log.
pub fn stdout_of_success(args: &[&str], out: &Output, log: impl FnOnce() -> String) -> String {
    assert!(
        out.status.success(),
        "docker {args:?} failed:\n{}\n--- engine log\n{}",
        show(out),
        log()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A `berth` invocation in `cwd` talking to the engine at `host` (never auto-starting another).
pub fn berth_at(cwd: &Path, host: &str) -> Berth {
    Berth::in_dir(cwd)
        .env("DOCKER_HOST", host)
        .env("BERTH_NO_AUTOSTART", "1")
}

/// Mount points under `root` (from this process's mountinfo).
pub fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|p| p.starts_with(&root))
        .map(str::to_owned)
        .collect()
}

/// Lazily unmounts every mount point under `root`, deepest first, so a test's temporary
/// directory can be removed after a daemon left mounts behind.
pub fn unmount_under(root: &Path) {
    let mut points = mounts_under(root);
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").arg("-l").arg(p).status();
    }
}

/// Force-deletes, with `berth runtime delete --force`, every container still known to the
/// runtime state directory `runtime` (killing its processes; its shim then exits).
fn delete_leftover_containers(runtime: &Path) {
    let Ok(entries) = std::fs::read_dir(runtime) else {
        return;
    };
    for entry in entries.flatten().filter(|e| e.path().is_dir()) {
        eprintln!(
            "harness: container {} was left behind by its engine; deleting it",
            entry.file_name().to_string_lossy()
        );
        let _ = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("runtime")
            .arg("--root")
            .arg(runtime)
            .args(["delete", "--force"])
            .arg(entry.file_name())
            .status();
    }
}

/// Builds a busybox rootfs tarball (`/bin/busybox` and its applet links).
pub fn busybox_tar(dir: &Path) -> PathBuf {
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

/// `berth engine` in a network namespace of its own (loopback up), so engines of parallel tests
/// never share bridges, firewall tables, addresses or published ports.
fn engine_command() -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--net",
        "--",
        "sh",
        "-c",
        "ip link set lo up && exec \"$0\" \"$@\"",
    ])
    .arg(env!("CARGO_BIN_EXE_berth"))
    .arg("engine");
    cmd
}

/// A running `berth engine` with its data root, stopped and cleaned up when dropped.
pub struct Engine {
    child: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
    /// The network namespace of an engine killed by [`Engine::kill_engine`], kept open so the
    /// next [`Engine::respawn`] finds its bridges and rules as a restarted daemon would.
    held_netns: Option<std::fs::File>,
}

impl Engine {
    /// Starts an engine for `test` (a short unique name) with the busybox image loaded.
    pub fn start(test: &str) -> Engine {
        Self::start_with_config(test, None)
    }

    /// Like [`Engine::start`], with `daemon_json` (if given) as the engine's daemon.json.
    pub fn start_with_config(test: &str, daemon_json: Option<&str>) -> Engine {
        Self::start_with_args(test, daemon_json, &[])
    }

    /// Like [`Engine::start_with_config`], with extra `berth engine` flags.
    pub fn start_with_args(test: &str, daemon_json: Option<&str>, args: &[&str]) -> Engine {
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
        let mut cmd = engine_command();
        if let Some(json) = daemon_json {
            let path = dir.path().join("daemon.json");
            std::fs::write(&path, json).expect("write daemon.json");
            cmd.arg("--config").arg(path);
        }
        cmd.args(args);
        let child = cmd
            .arg("--data-root")
            .arg(&root)
            .arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn berth engine");
        let mut engine = Engine {
            child,
            dir,
            socket,
            held_netns: None,
        };
        engine.wait_ready();
        engine
    }

    /// Waits until the API answers (or the engine died, which fails the test with its log). A
    /// recovery that hangs fails the test after two minutes instead of hanging the suite.
    fn wait_ready(&mut self) {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll engine") {
                panic!("berth engine exited with {status}:\n{}", self.log());
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "berth engine did not answer within 120 s (recovery hung?):\n{}",
                self.log()
            );
            if self.socket.exists() && self.docker(&["version"]).status.success() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The engine's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("engine.log")).unwrap_or_default()
    }

    /// Runs the docker CLI against this engine, bounded so that a hung request fails the test
    /// instead of hanging the suite.
    pub fn docker(&self, args: &[&str]) -> Output {
        docker_at(&self.socket, &self.dir.path().join("docker-config"), args)
    }

    /// Runs docker, asserts success, returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        stdout_of_success(args, &self.docker(args), || self.log())
    }
}

impl Engine {
    /// The engine's `unix://` address.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The engine's pid (its network namespace is `/proc/<pid>/ns/net`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The engine's data root.
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A scratch directory that lives as long as the engine.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// A `berth` invocation in `cwd` talking to this engine (never auto-starting another).
    pub fn berth(&self, cwd: &Path) -> Berth {
        berth_at(cwd, &self.host())
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
        // Containers the engine did not remove (an engine that never came back after a kill)
        // are deleted through the runtime, so no shim or container process, and no cgroup,
        // outlives the test.
        delete_leftover_containers(&self.data_root().join("runtime"));
        // Anything still mounted under the data root (a failed remove) goes before the dir.
        unmount_under(self.dir.path());
    }
}

impl Engine {
    /// Kills the engine process with `signal` (`libc::SIGKILL`, `libc::SIGTERM`) and reaps it;
    /// its containers keep running and its network namespace is held for [`Engine::respawn`].
    pub fn kill_engine(&mut self, signal: i32) {
        self.held_netns = Some(
            std::fs::File::open(format!("/proc/{}/ns/net", self.child.id()))
                .expect("the engine's network namespace"),
        );
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let _ = self.child.wait();
    }

    /// Starts the engine again on the same data root and socket, in the network namespace of
    /// the engine [`Engine::kill_engine`] stopped, and waits until it answers.
    pub fn respawn(&mut self) {
        self.respawn_with_env(&[]);
    }

    /// Like [`Engine::respawn`], with `env` added to the new engine's environment.
    pub fn respawn_with_env(&mut self, env: &[(&str, &str)]) {
        use std::os::fd::AsRawFd as _;
        let netns = self.held_netns.take().expect("respawn follows kill_engine");
        let handle = format!("/proc/{}/fd/{}", std::process::id(), netns.as_raw_fd());
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={handle}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_berth"))
            .arg("engine")
            .envs(env.iter().copied());
        self.spawn_engine(cmd);
    }

    /// Starts `cmd` (an engine command) on this engine's data root and socket, its output
    /// appended to the same log, and waits until it answers.
    fn spawn_engine(&mut self, mut cmd: Command) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("engine.log"))
            .expect("engine log");
        self.child = cmd
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--host")
            .arg(self.host())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("respawn berth engine");
        self.wait_ready();
    }

    /// Kills the engine with SIGKILL (its shims keep running) and starts a new one on the same
    /// data root and socket, in the same network namespace; `while_down` runs in between.
    pub fn kill_and_restart(&mut self, while_down: impl FnOnce()) {
        self.kill_engine(libc::SIGKILL);
        while_down();
        self.respawn();
    }

    /// A crash: SIGKILL, then a new engine in the same network namespace.
    pub fn crash_and_restart(&mut self) {
        self.kill_and_restart(|| {});
    }

    /// A crash followed by a reboot: SIGKILL, then a new engine in a fresh network namespace,
    /// where every bridge and firewall rule of the old one is gone.
    pub fn crash_and_restart_in_fresh_netns(&mut self) {
        self.kill_engine(libc::SIGKILL);
        self.held_netns = None;
        self.spawn_engine(engine_command());
    }
}

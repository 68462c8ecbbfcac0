//! Debian's dockerd as a second engine for the compose suite: the same compose tests run against
//! berth's engine and against Docker's own, so berth's compose layer is checked against the
//! reference engine. Each [`Dockerd`] runs its own containerd (own root, state and socket) and a
//! dockerd in a network namespace of its own (own data root, exec root, pid file and socket, all
//! under a temporary directory), with the busybox image imported. Dropping it removes its
//! containers, stops both daemons and their shims and unmounts what they left.
//!
//! [`Target`] is what a test needs of either engine: the docker CLI against it and `berth`
//! pointed at it with `DOCKER_HOST`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{
    Engine, IMAGE, berth_at, busybox_tar, docker_at, require_root, stdout_of_success, unmount_under,
};
use crate::util::Berth;

/// An engine the compose tests run against.
pub trait Target {
    /// The engine's `unix://` address.
    fn host(&self) -> String;
    /// The engine's log so far (for failure messages).
    fn log(&self) -> String;
    /// The engine's pid (its network namespace is `/proc/<pid>/ns/net`).
    fn pid(&self) -> u32;
    /// Runs the docker CLI against the engine (bounded by a timeout).
    fn docker(&self, args: &[&str]) -> Output;

    /// Runs docker, asserts success, returns trimmed stdout.
    fn ok(&self, args: &[&str]) -> String {
        stdout_of_success(args, &self.docker(args), || self.log())
    }

    /// A `berth` invocation in `cwd` talking to this engine (never auto-starting another).
    fn berth(&self, cwd: &Path) -> Berth {
        berth_at(cwd, &self.host())
    }
}

impl Target for Engine {
    fn host(&self) -> String {
        Engine::host(self)
    }
    fn log(&self) -> String {
        Engine::log(self)
    }
    fn pid(&self) -> u32 {
        Engine::pid(self)
    }
    fn docker(&self, args: &[&str]) -> Output {
        Engine::docker(self, args)
    }
}

/// A running dockerd (with its containerd), stopped and cleaned up when dropped.
pub struct Dockerd {
    dockerd: Child,
    containerd: Child,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

/// Fails the test unless dockerd and containerd are installed.
fn require_docker() {
    for bin in ["dockerd", "containerd", "runc"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {bin}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the compose tests against dockerd need `{bin}`: apt-get install docker.io"
        );
    }
}

impl Dockerd {
    /// Starts containerd and dockerd for `test` (a short unique name), imports the busybox
    /// image and waits until the API answers.
    pub fn start(test: &str) -> Dockerd {
        require_root();
        require_docker();
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-dockerd-{test}-"))
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        let ctd = d.join("ctd");
        std::fs::create_dir_all(&ctd).expect("containerd dir");
        let ctd_sock = ctd.join("c.sock");
        std::fs::write(
            d.join("containerd.toml"),
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n[grpc]\n  address = \"{sock}\"\n\
                 [ttrpc]\n  address = \"{sock}.ttrpc\"\n[debug]\n  address = \"\"\n\
                 [metrics]\n  address = \"\"\n",
                root = ctd.join("root").display(),
                state = ctd.join("state").display(),
                sock = ctd_sock.display(),
            ),
        )
        .expect("containerd config");
        let log = |name: &str| std::fs::File::create(d.join(name)).expect("daemon log");
        let containerd_log = log("containerd.log");
        let containerd = Command::new("containerd")
            .arg("--config")
            .arg(d.join("containerd.toml"))
            .stdin(Stdio::null())
            .stdout(containerd_log.try_clone().expect("log fd"))
            .stderr(containerd_log)
            .spawn()
            .expect("spawn containerd");
        let socket = d.join("docker.sock");
        let dockerd_log = log("dockerd.log");
        // dockerd in a network namespace of its own (loopback up): its bridges, addresses and
        // firewall rules never meet the host's or another test's.
        let dockerd = Command::new("unshare")
            .args([
                "--net",
                "--",
                "sh",
                "-c",
                "ip link set lo up && exec \"$0\" \"$@\"",
                "dockerd",
            ])
            .arg(format!("--containerd={}", ctd_sock.display()))
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--exec-root={}", d.join("exec").display()))
            .arg(format!("--pidfile={}", d.join("docker.pid").display()))
            .arg(format!("--host=unix://{}", socket.display()))
            .arg(format!("--cgroup-parent=/{}", cgroup_parent(d)))
            .args(["--bridge=none", "--log-level=warn"])
            .stdin(Stdio::null())
            .stdout(dockerd_log.try_clone().expect("log fd"))
            .stderr(dockerd_log)
            .spawn()
            .expect("spawn dockerd");
        let mut engine = Dockerd {
            dockerd,
            containerd,
            dir,
            socket,
        };
        engine.wait_ready();
        let tar = busybox_tar(engine.dir.path());
        engine.ok(&["import", &tar.to_string_lossy(), IMAGE]);
        engine
    }

    /// Waits until the API answers (or a daemon died, which fails the test with the logs).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let exited = [
                ("containerd", self.containerd.try_wait()),
                ("dockerd", self.dockerd.try_wait()),
            ];
            for (name, status) in exited {
                if let Some(status) = status.expect("poll daemon") {
                    panic!("{name} exited with {status}:\n{}", self.log());
                }
            }
            if self.socket.exists() && self.docker(&["version"]).status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Pids of the containerd shims this engine's containerd started.
    fn shims(&self) -> Vec<i32> {
        let marker = self.dir.path().join("ctd").to_string_lossy().into_owned();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        procs
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("containerd-shim") && c.contains(&marker)
                })
            })
            .collect()
    }
}

impl Target for Dockerd {
    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- dockerd\n{}\n--- containerd\n{}",
            read("dockerd.log"),
            read("containerd.log")
        )
    }

    fn pid(&self) -> u32 {
        // `unshare` and `sh` exec dockerd: the child's pid is dockerd's.
        self.dockerd.id()
    }

    fn docker(&self, args: &[&str]) -> Output {
        docker_at(&self.socket, &self.dir.path().join("docker-config"), args)
    }
}

/// The cgroup (under every hierarchy) the containers of the engine in `dir` go to.
fn cgroup_parent(dir: &Path) -> String {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    name.unwrap_or_else(|| "berth-dockerd".into())
}

/// Removes the (empty) cgroup `name` from every hierarchy, v1 and v2.
fn remove_cgroups(name: &str) {
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup").join(name)];
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        dirs.extend(entries.filter_map(|e| Some(e.ok()?.path().join(name))));
    }
    for dir in dirs.into_iter().filter(|d| d.is_dir()) {
        let _ = std::fs::remove_dir(&dir);
    }
}

/// Sends SIGTERM to `child`, kills it after `grace`, and reaps it.
fn stop(child: &mut Child, grace: Duration) {
    // SAFETY: kill(2) on the pid of our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", "-v", id]);
        }
        stop(&mut self.dockerd, Duration::from_secs(15));
        stop(&mut self.containerd, Duration::from_secs(10));
        for pid in self.shims() {
            // SAFETY: kill(2) on a shim of the containerd this harness started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        remove_cgroups(&cgroup_parent(self.dir.path()));
        unmount_under(self.dir.path());
    }
}

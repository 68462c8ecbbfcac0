//! Root tests of the runtime against the real kernel: each test builds a busybox rootfs in its
//! own temp dir, generates a Docker-default spec, runs `berth-runtime` and removes the
//! container, its cgroup and the temp dir on drop, even when the test fails.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_runtime::Runtime;
use berth_runtime::cgroups::{Cgroup, Cgroups};
use berth_runtime::spec::{self, ContainerConfig, ImageConfig};

const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");
const BUSYBOX: &str = "/bin/busybox";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root (namespaces, mounts, cgroups): run `cargo test` as root"
    );
    assert!(
        Path::new(BUSYBOX).exists(),
        "this test needs {BUSYBOX}: apt-get install busybox-static"
    );
}

/// A container bundle in a temp dir, removed with its container and cgroup on drop.
struct Fixture {
    id: String,
    dir: tempfile::TempDir,
    config: ContainerConfig,
    cgroup_root: PathBuf,
}

impl Fixture {
    fn new(test: &str, args: &[&str]) -> Self {
        require_root();
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        let list = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
            }
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        let config = ContainerConfig {
            rootfs,
            image: ImageConfig {
                cmd: args.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            hostname: format!("h-{test}"),
            ..Default::default()
        };
        Fixture {
            id: format!("{test}-{}", std::process::id()),
            dir,
            config,
            cgroup_root: PathBuf::from(CGROUP_ROOT),
        }
    }

    fn state_root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn runtime(&self) -> Runtime {
        Runtime::new(self.state_root(), &self.cgroup_root)
    }

    fn write_bundle(&self) {
        let spec = spec::generate(&self.config).expect("spec");
        spec.save(self.dir.path().join("config.json"))
            .expect("save config.json");
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root")
            .arg(self.state_root())
            .arg("--cgroup-root")
            .arg(&self.cgroup_root)
            .args(args);
        c
    }

    /// `berth-runtime run`: returns (exit code, stdout, stderr).
    fn run(&self) -> (i32, String, String) {
        self.write_bundle();
        let bundle = self.dir.path().display().to_string();
        let out = self
            .cmd(&["run", "--keep", &self.id, "--bundle", &bundle])
            .output()
            .expect("spawn");
        decode(out)
    }

    fn create(&self) -> i32 {
        self.write_bundle();
        let bundle = self.dir.path().display().to_string();
        let pid_file = self.dir.path().join("pid");
        // The container keeps the stdio it was created with: give it files, not pipes that
        // would hold `output()` open until the container exits.
        let log = self.dir.path().join("create.log");
        let status = self
            .cmd(&["create", &self.id, "--bundle", &bundle, "--pid-file"])
            .arg(&pid_file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .status()
            .expect("spawn");
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.success(), "create failed: {err}");
        std::fs::read_to_string(pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("spawn");
        assert!(
            out.status.success(),
            "{args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn status(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["state", &self.id])).unwrap();
        v["status"].as_str().unwrap().to_string()
    }

    /// Polls until the container exists with status `want` (the runtime may still be creating).
    fn wait_status(&self, want: &str) {
        for _ in 0..1000 {
            let out = self.cmd(&["state", &self.id]).output().expect("spawn");
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if v["status"] == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("container {} never became {want}", self.id);
    }

    fn cgroup(&self) -> Cgroup {
        Cgroup::open(&self.cgroup_root, &Path::new("berth").join(&self.id)).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let rt = self.runtime();
        if rt.state(&self.id).is_ok() {
            if let Err(e) = rt.delete(&self.id, true) {
                eprintln!("cleanup of {}: {e}", self.id);
            }
        }
        if let Ok(cg) = Cgroup::open(&self.cgroup_root, &Path::new("berth").join(&self.id)) {
            let _ = cg.remove();
        }
    }
}

fn decode(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sh(script: &str) -> Vec<&str> {
    vec!["sh", "-c", script]
}

fn cap_eff(out: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .expect("CapEff line");
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn entrypoint_is_pid_1_and_hostname_is_set() {
    let f = Fixture::new("pid1", &sh("echo $$; hostname"));
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "1\nh-pid1\n");
}

#[test]
fn default_capabilities_are_dockers_mask() {
    let f = Fixture::new("capdef", &["cat", "/proc/self/status"]);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(cap_eff(&out), berth_runtime::defaults::DEFAULT_CAP_MASK);
}

#[test]
fn cap_add_and_cap_drop_change_the_mask() {
    let mut f = Fixture::new("capmod", &["cat", "/proc/self/status"]);
    f.config.cap_add = vec!["NET_ADMIN".into()];
    f.config.cap_drop = vec!["CHOWN".into(), "KILL".into()];
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "stderr: {err}");
    let want = (berth_runtime::defaults::DEFAULT_CAP_MASK | 1 << 12) & !(1 << 0) & !(1 << 5);
    assert_eq!(cap_eff(&out), want);
}

#[test]
fn privileged_gets_every_capability_the_host_holds() {
    let mut f = Fixture::new("capall", &["cat", "/proc/self/status"]);
    f.config.privileged = true;
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "stderr: {err}");
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = host.lines().find(|l| l.starts_with("CapBnd:")).unwrap();
    let bnd = u64::from_str_radix(bnd.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(cap_eff(&out), bnd);
}

#[test]
fn non_root_user_from_rootfs_passwd_has_no_effective_caps() {
    let mut f = Fixture::new("nobody", &sh("id; grep CapEff /proc/self/status"));
    f.config.user = Some("nobody".into());
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.starts_with("uid=65534(nobody) gid=65534(nogroup)"),
        "{out}"
    );
    assert_eq!(cap_eff(&out), 0);
}

#[test]
fn masked_paths_are_empty_and_proc_sys_is_read_only() {
    let script = "for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do \
                  [ -e $p ] && cat $p; done; ls /sys/firmware; \
                  echo x > /proc/sys/kernel/domainname && echo WRITABLE; \
                  grep ' /proc/sys ' /proc/mounts";
    let f = Fixture::new("masked", &sh(script));
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "stderr: {err}");
    assert!(!out.contains("WRITABLE"), "{out}");
    assert!(err.contains("Read-only file system"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "masked files must read empty: {out}");
    assert!(lines[0].contains(" ro,"), "{out}");
}

#[test]
fn exit_codes_follow_docker() {
    for (script, want) in [("exit 0", 0), ("exit 1", 1), ("exit 42", 42)] {
        let f = Fixture::new(&format!("exit{want}"), &sh(script));
        assert_eq!(f.run().0, want, "{script}");
    }
    let f = Fixture::new("exit127", &["no-such-command"]);
    let (code, _, err) = f.run();
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("not found"), "{err}");
}

fn spawn_run(f: &Fixture) -> std::process::Child {
    f.write_bundle();
    let bundle = f.dir.path().display().to_string();
    let cmd = &mut f.cmd(&["run", "--keep", &f.id, "--bundle", &bundle]);
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

#[test]
fn sigkill_gives_137() {
    let f = Fixture::new("sigkill", &["sleep", "100"]);
    let mut child = spawn_run(&f);
    f.wait_status("running");
    f.ok(&["kill", &f.id, "KILL"]);
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert_eq!(f.status(), "stopped");
}

#[test]
fn sigterm_through_init_gives_143() {
    let tini = Path::new("/usr/bin/tini-static");
    assert!(
        tini.exists(),
        "this test needs {}: apt-get install tini",
        tini.display()
    );
    let mut f = Fixture::new("sigterm", &["sleep", "100"]);
    f.config.init = Some(tini.to_path_buf());
    let mut child = spawn_run(&f);
    f.wait_status("running");
    // tini installs its signal handling before it forks the command: wait for the fork.
    let v: serde_json::Value = serde_json::from_str(&f.ok(&["state", &f.id])).unwrap();
    let pid = v["pid"].as_i64().unwrap();
    let children = format!("/proc/{pid}/task/{pid}/children");
    for _ in 0..1000 {
        if !std::fs::read_to_string(&children)
            .unwrap_or_default()
            .trim()
            .is_empty()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f.ok(&["kill", &f.id, "TERM"]);
    assert_eq!(child.wait().unwrap().code(), Some(143));
}

#[test]
fn memory_limit_oom_kills_and_is_reported() {
    let mut f = Fixture::new("oom", &sh("x=aaaaaaaa; while true; do x=$x$x; done"));
    f.config.memory = Some(16 << 20);
    f.config.memory_swap = Some(16 << 20);
    let (code, _, err) = f.run();
    assert_eq!(code, 137, "{err}");
    let stats: serde_json::Value = serde_json::from_str(&f.ok(&["stats", &f.id])).unwrap();
    assert!(stats["oom_kills"].as_u64().unwrap() >= 1, "{stats}");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let script = "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; wait";
    let mut f = Fixture::new("pids", &sh(script));
    f.config.pids_limit = Some(20);
    let (_, _, err) = f.run();
    assert!(
        err.contains("can't fork"),
        "forks past the limit must fail: {err}"
    );
}

fn first_block_device() -> (i64, i64) {
    for entry in std::fs::read_dir("/sys/block").unwrap().flatten() {
        if let Ok(dev) = std::fs::read_to_string(entry.path().join("dev")) {
            let (maj, min) = dev.trim().split_once(':').unwrap();
            return (maj.parse().unwrap(), min.parse().unwrap());
        }
    }
    panic!("no block device in /sys/block");
}

#[test]
fn cpu_quota_and_blkio_throttle_land_in_cgroup_files() {
    let (major, minor) = first_block_device();
    let mut f = Fixture::new("cgfiles", &["sleep", "100"]);
    f.config.cpus = Some(0.5);
    f.config.device_read_bps = vec![spec::DeviceRate {
        major,
        minor,
        rate: 1_048_576,
    }];
    f.config.device_write_iops = vec![spec::DeviceRate {
        major,
        minor,
        rate: 100,
    }];
    f.config.blkio_weight = Some(300);
    f.create();
    let read =
        |p: PathBuf| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    match f.cgroup() {
        Cgroup::V1(c) => {
            assert_eq!(read(c.dir("cpu").join("cpu.cfs_quota_us")).trim(), "50000");
            assert_eq!(
                read(c.dir("cpu").join("cpu.cfs_period_us")).trim(),
                "100000"
            );
            let bps = read(c.dir("blkio").join("blkio.throttle.read_bps_device"));
            assert!(bps.contains(&format!("{major}:{minor} 1048576")), "{bps}");
            let iops = read(c.dir("blkio").join("blkio.throttle.write_iops_device"));
            assert!(iops.contains(&format!("{major}:{minor} 100")), "{iops}");
            let weight = ["blkio.weight", "blkio.bfq.weight"].map(|w| c.dir("blkio").join(w));
            match weight.iter().find(|p| p.exists()) {
                Some(p) => assert!(read(p.clone()).contains("300"), "{}", p.display()),
                None => println!("SKIP: blkio weight: the IO scheduler here has no weight file"),
            }
        }
        Cgroup::V2(c) => {
            assert_eq!(read(c.dir().join("cpu.max")).trim(), "50000 100000");
            let io = read(c.dir().join("io.max"));
            assert!(
                io.contains(&format!("{major}:{minor} rbps=1048576")),
                "{io}"
            );
        }
    }
    f.ok(&["delete", "--force", &f.id]);
    match f.cgroup() {
        Cgroup::V1(c) => assert!(!c.dir("cpu").exists()),
        Cgroup::V2(c) => assert!(!c.dir().exists()),
    }
}

/// Runs the runtime with `fd` (a host directory) open without close-on-exec.
fn run_with_leaked_fd(f: &Fixture, fd: i32) -> (i32, String, String) {
    f.write_bundle();
    let host_dir = std::fs::File::open(f.dir.path()).unwrap();
    let bundle = f.dir.path().display().to_string();
    let mut cmd = f.cmd(&["run", &f.id, "--bundle", &bundle]);
    let raw = std::os::fd::AsRawFd::as_raw_fd(&host_dir);
    // SAFETY: dup2 is async-signal-safe; it runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, fd) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    decode(cmd.output().expect("spawn"))
}

#[test]
fn no_host_fd_leaks_into_the_container() {
    let f = Fixture::new("fdleak", &sh("ls /proc/$$/fd; true"));
    let (code, out, err) = run_with_leaked_fd(&f, 9);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2"],
        "{out}"
    );
}

#[test]
fn cwd_outside_rootfs_is_refused() {
    let mut f = Fixture::new("cwdesc", &["pwd"]);
    f.config.workdir = Some("/proc/self/fd/7".into());
    let (code, out, err) = run_with_leaked_fd(&f, 7);
    assert_ne!(code, 0, "container ran with an escaped cwd: {out}");
    assert!(err.contains("outside of the container root"), "{err}");
}

#[test]
fn init_exe_is_a_sealed_copy_then_the_container_binary() {
    use std::os::unix::fs::MetadataExt;
    let f = Fixture::new("exe", &["sleep", "100"]);
    let pid = f.create();
    let exe_path = format!("/proc/{pid}/exe");
    let host = std::fs::metadata(BIN).unwrap();
    // Created, not yet exec'd: the init runs the runtime, but through a private read-only
    // overlay of its directory (or, on a kernel without one, a sealed memfd copy).
    let exe = std::fs::metadata(&exe_path).unwrap();
    assert_ne!(
        (exe.dev(), exe.ino()),
        (host.dev(), host.ino()),
        "init runs the host binary"
    );
    let held = std::fs::File::open(&exe_path).unwrap();
    let how = berth_runtime::sealed::protection_of(&held);
    assert!(how.is_some(), "{:?}", std::fs::read_link(&exe_path));
    // The CVE-2019-5736 attack: the exe, or a held descriptor of it, opened for writing.
    for path in [
        exe_path.clone(),
        format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&held)),
    ] {
        let write = std::fs::OpenOptions::new().write(true).open(&path);
        assert!(
            write.is_err(),
            "the runtime binary behind the init must not be writable ({how:?}, {path})"
        );
    }
    f.ok(&["start", &f.id]);
    let busybox = std::fs::metadata(f.config.rootfs.join("bin/busybox")).unwrap();
    let want = (busybox.dev(), busybox.ino());
    for _ in 0..1000 {
        let exe = std::fs::metadata(&exe_path).unwrap();
        if (exe.dev(), exe.ino()) == want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("init never exec'd the container's busybox");
}

#[test]
fn lifecycle_create_start_pause_kill_delete() {
    let f = Fixture::new("life", &["sleep", "100"]);
    let pid = f.create();
    let v: serde_json::Value = serde_json::from_str(&f.ok(&["state", &f.id])).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["pid"].as_i64()),
        (Some("created"), Some(pid as i64))
    );
    assert_eq!(v["ociVersion"], "1.0.2");
    f.ok(&["start", &f.id]);
    assert_eq!(f.status(), "running");
    f.ok(&["pause", &f.id]);
    assert_eq!(f.status(), "paused");
    f.ok(&["resume", &f.id]);
    assert_eq!(f.status(), "running");
    let busy = f.cmd(&["delete", &f.id]).output().unwrap();
    assert!(
        !busy.status.success(),
        "deleting a running container needs --force"
    );
    f.ok(&["kill", &f.id, "9"]);
    f.wait_status("stopped");
    f.ok(&["delete", &f.id]);
    assert!(!f.cmd(&["state", &f.id]).output().unwrap().status.success());
}

#[test]
fn seccomp_filter_is_installed_unless_unconfined() {
    let f = Fixture::new("seccomp", &["grep", "^Seccomp:", "/proc/self/status"]);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.split_whitespace().nth(1), Some("2"), "{out}");
    let mut f = Fixture::new("unconfined", &["grep", "^Seccomp:", "/proc/self/status"]);
    f.config.seccomp_unconfined = true;
    let (code, out, _) = f.run();
    assert_eq!(code, 0);
    assert_eq!(out.split_whitespace().nth(1), Some("0"), "{out}");
}

#[test]
fn read_only_rootfs_refuses_writes() {
    let mut f = Fixture::new(
        "rofs",
        &sh("touch /newfile && echo WROTE; touch /dev/shm/ok && echo SHM"),
    );
    f.config.read_only = true;
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "SHM\n", "{err}");
}

#[test]
fn shim_logs_json_lines_records_exit_and_runs_in_own_session() {
    use std::io::BufRead as _;
    let f = Fixture::new("shim", &sh("echo out; echo err >&2; exit 3"));
    f.write_bundle();
    let log = f.dir.path().join("ctr.log");
    let exit = f.dir.path().join("exit.json");
    let bundle = f.dir.path().display().to_string();
    let mut shim = f
        .cmd(&["shim", &f.id, "--bundle", &bundle, "--log"])
        .arg(&log)
        .arg("--exit-file")
        .arg(&exit)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shim");
    let mut first = String::new();
    std::io::BufReader::new(shim.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let pid: i32 = first
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("shim said {first:?}"));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", shim.id())).unwrap();
    let session: u32 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(session, shim.id(), "the shim must lead its own session");
    let init_stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: u32 = init_stat[init_stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ppid, shim.id(), "the shim must be the init's parent");
    f.ok(&["start", &f.id]);
    assert!(shim.wait().unwrap().success());
    let lines: Vec<berth_runtime::shim::LogLine> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |stream: &str| {
        lines
            .iter()
            .find(|l| l.stream == stream)
            .unwrap_or_else(|| panic!("{lines:?}"))
    };
    assert_eq!(find("stdout").log, "out\n");
    assert_eq!(find("stderr").log, "err\n");
    assert!(find("stdout").time.ends_with('Z'));
    let rec = berth_runtime::shim::read_exit(&exit).unwrap();
    assert_eq!((rec.exit_code, rec.oom_killed), (3, false));
}

#[test]
fn unified_hierarchy_container_gets_its_own_cgroup_namespace() {
    use berth_runtime::cgroups::{Version, detect};
    // On a v2 host the whole suite runs on v2; on a hybrid host use the unified mount.
    let root = [CGROUP_ROOT, "/sys/fs/cgroup/unified"]
        .into_iter()
        .find(|r| detect(Path::new(r)).ok() == Some(Version::V2));
    let Some(root) = root else {
        println!("SKIP: no cgroup v2 hierarchy mounted on this host");
        return;
    };
    let mut f = Fixture::new(
        "unified",
        &sh("cat /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/mounts"),
    );
    f.cgroup_root = PathBuf::from(root);
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l == "0::/"),
        "cgroup namespace root expected: {out}"
    );
    assert!(out.contains("cgroup2"), "{out}");
    let Cgroup::V2(cg) = f.cgroup() else {
        panic!("expected v2 at {root}")
    };
    assert!(cg.dir().is_dir());
    f.ok(&["delete", &f.id]);
    assert!(!cg.dir().exists());
}

#[test]
fn ulimits_sysctls_tmpfs_and_shm_size_apply() {
    let script = "ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; \
                  cat /proc/sys/kernel/msgmax; grep -E ' /dev/shm | /scratch ' /proc/mounts";
    let mut f = Fixture::new("limits", &sh(script));
    f.config.ulimits = vec![spec::Ulimit {
        name: "nofile".into(),
        soft: 100,
        hard: 200,
    }];
    f.config
        .sysctls
        .insert("kernel.msgmax".into(), "4096".into());
    f.config.shm_size = Some(2 << 20);
    f.config.tmpfs = vec![("/scratch".into(), "size=1m".into())];
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..4], ["100", "200", "0", "4096"], "{out}");
    assert!(
        out.contains("shm /dev/shm tmpfs") && out.contains("size=2048k"),
        "{out}"
    );
    assert!(
        out.contains("tmpfs /scratch tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
}

#[test]
fn bind_mounts_honour_read_only() {
    let script = "cat /ro/hello; touch /ro/x 2>/dev/null && echo RO-WRITABLE; \
                  echo new > /rw/out && echo RW-OK";
    let mut f = Fixture::new("binds", &sh(script));
    let (ro, rw) = (f.dir.path().join("ro-src"), f.dir.path().join("rw-src"));
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("hello"), "from host\n").unwrap();
    f.config.binds = vec![
        spec::BindMount {
            source: ro,
            destination: "/ro".into(),
            read_only: true,
        },
        spec::BindMount {
            source: rw.clone(),
            destination: "/rw".into(),
            read_only: false,
        },
    ];
    let (code, out, err) = f.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "from host\nRW-OK\n");
    assert_eq!(std::fs::read_to_string(rw.join("out")).unwrap(), "new\n");
}

#[test]
fn created_init_sits_in_its_cgroup_in_every_hierarchy() {
    // On v1 the init joins its cgroup itself (through `tasks` files its parent opened) before
    // anything else; seen from the host, every hierarchy lists it in the container's cgroup.
    let f = Fixture::new("joins", &["sleep", "100"]);
    let pid = f.create();
    let own = format!("/berth/{}", f.id);
    let lines = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    match f.cgroup() {
        Cgroup::V1(cg) => {
            for c in berth_runtime::cgroups::v1::CONTROLLERS {
                if !cg.dir(c).is_dir() {
                    continue;
                }
                let line = lines
                    .lines()
                    .find(|l| {
                        l.split(':')
                            .nth(1)
                            .is_some_and(|cs| cs.split(',').any(|x| x == c))
                    })
                    .unwrap_or_else(|| panic!("no {c} line in {lines}"));
                assert!(line.ends_with(&own), "{c}: {line} (want {own})");
                let procs = std::fs::read_to_string(cg.dir(c).join("cgroup.procs")).unwrap();
                assert!(procs.lines().any(|p| p == pid.to_string()), "{c}: {procs}");
            }
        }
        Cgroup::V2(_) => {
            assert!(lines.lines().any(|l| l == format!("0::{own}")), "{lines}");
        }
    }
}

#[test]
fn exec_joins_the_containers_namespaces_and_cgroup() {
    let mut f = Fixture::new("exec", &["sleep", "100"]);
    f.config.env = vec!["FROM_CTR=1".into()];
    f.create();
    f.ok(&["start", &f.id]);
    let script = "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; echo $FROM_CTR $X; \
                  pwd; id -u; grep CapEff /proc/self/status; cut -d: -f3 /proc/self/cgroup | sort -u";
    let out = f.ok(&[
        "exec", "-e", "X=2", "--cwd", "/tmp", &f.id, "sh", "-c", script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..5],
        ["sleep 100 ", "h-exec", "1 2", "/tmp", "0"],
        "{out}"
    );
    assert_eq!(cap_eff(&out), berth_runtime::defaults::DEFAULT_CAP_MASK);
    // In the container's cgroup namespace, its own cgroup is the root of every hierarchy.
    assert_eq!(lines.last(), Some(&"/"), "{out}");
    let nobody = f.ok(&["exec", "--user", "65534", &f.id, "id", "-u"]);
    assert_eq!(nobody, "65534\n");
    let code = |args: &[&str]| f.cmd(args).output().unwrap().status.code();
    assert_eq!(code(&["exec", &f.id, "sh", "-c", "exit 3"]), Some(3));
    assert_eq!(code(&["exec", &f.id, "no-such-command"]), Some(127));
    assert_eq!(code(&["exec", &f.id, "sh", "-c", "kill -9 $$"]), Some(137));
    f.ok(&["kill", &f.id, "9"]);
    f.wait_status("stopped");
    assert_ne!(
        code(&["exec", &f.id, "true"]),
        Some(0),
        "exec into a stopped container"
    );
}

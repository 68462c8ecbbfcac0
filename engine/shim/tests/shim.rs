//! Root tests of the `berth-shim` binary. As the engine runs it, spawned from one sealed memfd
//! copy ([`RuntimeBinary`]): it supervises a container (log lines, exit record), keeps no
//! descriptor of the copy, and the container's init never runs the host binary. Run directly:
//! it re-executes itself through a private read-only overlay, which no process can write
//! through (CVE-2019-5736), instead of copying itself.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use berth_runtime::Runtime;
use berth_runtime::sealed::{RuntimeBinary, SHIM_NAME};
use berth_runtime::spec::{self, ContainerConfig, ImageConfig};

const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");
const BUSYBOX: &str = "/bin/busybox";
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A bundle in a temp dir; the container and its cgroup are removed on drop.
struct Fixture {
    id: String,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(test: &str, script: &str) -> Self {
        assert!(
            nix::unistd::Uid::effective().is_root(),
            "this test needs root (namespaces, mounts, cgroups): run `cargo test` as root"
        );
        assert!(
            Path::new(BUSYBOX).exists(),
            "this test needs {BUSYBOX}: apt-get install busybox-static"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "echo", "sleep", "cat"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
        let config = ContainerConfig {
            rootfs,
            image: ImageConfig {
                cmd: vec!["sh".into(), "-c".into(), script.into()],
                ..Default::default()
            },
            ..Default::default()
        };
        spec::generate(&config)
            .expect("spec")
            .save(dir.path().join("config.json"))
            .expect("save config.json");
        Fixture {
            id: format!("shimbin-{test}-{}", std::process::id()),
            dir,
        }
    }

    fn runtime(&self) -> Runtime {
        Runtime::new(self.dir.path().join("state"), CGROUP_ROOT)
    }

    /// `berth` and `berth-shim` side by side, as installed.
    fn install(&self) -> PathBuf {
        let bin = self.dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("berth"), b"not this one").unwrap();
        std::fs::copy(SHIM, bin.join(SHIM_NAME)).unwrap();
        bin.join("berth")
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
    }
}

#[test]
fn shim_binary_runs_a_container_from_the_engines_sealed_copy() {
    let f = Fixture::new("run", "echo out; echo err >&2; cat /proc/1/cmdline; exit 5");
    let berth = f.install();
    let bin = RuntimeBinary::seal(&berth, Path::new("/proc"));
    assert!(bin.is_sealed(), "the engine's copy could not be sealed");
    assert_eq!(bin.source, berth.with_file_name(SHIM_NAME));
    let (log, exit) = (f.dir.path().join("ctr.log"), f.dir.path().join("exit.json"));
    let mut shim = bin
        .command()
        .arg("--root")
        .arg(f.dir.path().join("state"))
        .arg("--cgroup-root")
        .arg(CGROUP_ROOT)
        .arg("shim")
        .arg(&f.id)
        .arg("--bundle")
        .arg(f.dir.path())
        .arg("--log")
        .arg(&log)
        .arg("--exit-file")
        .arg(&exit)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth-shim");
    let mut first = String::new();
    std::io::BufReader::new(shim.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let Ok(pid) = first.trim().parse::<i32>() else {
        let out = shim.wait_with_output().unwrap();
        panic!(
            "shim said {first:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // The shim and the waiting init both run the memfd, never a file on the host.
    for p in [shim.id() as i32, pid] {
        let exe = std::fs::read_link(format!("/proc/{p}/exe")).unwrap();
        assert!(exe.to_string_lossy().starts_with("/memfd:"), "{p}: {exe:?}");
    }
    let fds: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{}/fd", shim.id()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .collect();
    assert!(
        !fds.iter().any(|l| l.to_string_lossy().contains("memfd")),
        "the shim holds the engine's copy open: {fds:?}"
    );
    f.runtime().start(&f.id).expect("start");
    assert!(shim.wait().unwrap().success());
    let lines: Vec<berth_runtime::shim::LogLine> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let text = |stream: &str| -> String {
        lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.log.as_str())
            .collect()
    };
    assert!(text("stdout").starts_with("out\n"), "{lines:?}");
    assert!(text("stdout").contains("sh\0-c\0"), "{lines:?}");
    assert_eq!(text("stderr"), "err\n");
    let rec = berth_runtime::shim::read_exit(&exit).unwrap();
    assert_eq!((rec.exit_code, rec.oom_killed), (5, false));
}

#[test]
fn shim_binary_speaks_the_runtime_command_line() {
    let d = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(SHIM)
        .args(["spec", "--bundle"])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(d.path().join("config.json").is_file());
    let out = std::process::Command::new(SHIM)
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
}

/// The mount ids listed in `/proc/self/mountinfo`.
fn mount_ids() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').next().map(str::to_owned))
        .collect()
}

#[test]
fn directly_run_shim_reexecutes_through_a_private_read_only_overlay() {
    use berth_runtime::sealed::{Protection, protection_of};
    use std::io::Read as _;
    use std::os::fd::AsRawFd as _;
    let f = Fixture::new("direct", "exit 0");
    let shim = f.install().with_file_name(SHIM_NAME);
    let host = std::fs::read(&shim).unwrap();
    let mounts_before = mount_ids();
    let state = f.dir.path().join("state");
    let out = std::process::Command::new(&shim)
        .arg("--root")
        .arg(&state)
        .arg("--cgroup-root")
        .arg(CGROUP_ROOT)
        .args(["create", &f.id, "--bundle"])
        .arg(f.dir.path())
        .arg("--pid-file")
        .arg(f.dir.path().join("init.pid"))
        // The waiting init inherits stdout and stderr: pipes would never see their end.
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run berth-shim create");
    assert!(out.success(), "berth-shim create: {out:?}");
    let pid = std::fs::read_to_string(f.dir.path().join("init.pid")).unwrap();
    let exe_path = format!("/proc/{}/exe", pid.trim());
    // The waiting init runs the runtime binary without a copy: a file of an overlay that is in
    // no mount table, read-only, with the host binary's content.
    let link = std::fs::read_link(&exe_path).unwrap();
    assert!(
        !link.to_string_lossy().starts_with("/memfd:"),
        "copied: {link:?}"
    );
    let mut held = std::fs::File::open(&exe_path).unwrap();
    assert_eq!(
        protection_of(&held),
        Some(Protection::PrivateOverlay),
        "{link:?}"
    );
    let mut seen = Vec::new();
    held.read_to_end(&mut seen).unwrap();
    assert!(seen == host, "the overlay shows another file than the shim");
    assert_eq!(
        mount_ids(),
        mounts_before,
        "the overlay was attached somewhere"
    );
    // The CVE-2019-5736 attack: open the exe, or reopen a held descriptor, for writing.
    for path in [
        exe_path.clone(),
        format!("/proc/self/fd/{}", held.as_raw_fd()),
    ] {
        let w = std::fs::OpenOptions::new().write(true).open(&path);
        let errno = w.as_ref().err().and_then(std::io::Error::raw_os_error);
        assert_eq!(
            errno,
            Some(nix::libc::EROFS),
            "{path} opened for writing: {w:?}"
        );
    }
    drop(held);
    let rt = f.runtime();
    rt.start(&f.id).expect("start");
    rt.delete(&f.id, true).expect("delete");
    assert_eq!(
        std::fs::read(&shim).unwrap(),
        host,
        "the host binary changed"
    );
}

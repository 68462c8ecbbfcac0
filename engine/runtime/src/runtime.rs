//! The container lifecycle (`create`, `start`, `state`, `kill`, `delete`, `wait`, `stats`,
//! `pause`/`resume`) over a state directory, a cgroup root and the init in [`crate::init`].

use std::io::Read as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::cgroups::{self, Cgroup, CgroupError, Cgroups, Stats};
use crate::init::{self, CgroupMount, InitConfig};
use crate::state::{self, Record, State, StateError, Status};

pub(crate) const PROC: &str = "/proc";

/// Errors of the container lifecycle.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Ids are `[A-Za-z0-9_.-]+`.
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    /// A container with this id exists.
    #[error("container {0} already exists")]
    AlreadyExists(String),
    /// No such container.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// The operation does not fit the container's status.
    #[error("container {id} is {status:?}: cannot {op}")]
    Conflict {
        /// Container id.
        id: String,
        /// Its status.
        status: Status,
        /// What was asked.
        op: &'static str,
    },
    /// `create` must run in a single-threaded process (it clones into namespaces).
    #[error("create must run in a single-threaded process (this one has {0} threads)")]
    MultiThreaded(usize),
    /// The bundle's `config.json` is unreadable or invalid.
    #[error("bundle {path}: {message}")]
    Bundle {
        /// The config file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The command does not exist in the container (Docker reports exit code 127).
    #[error("{0}")]
    CommandNotFound(String),
    /// The command is not executable (Docker reports exit code 126).
    #[error("{0}")]
    CommandNotExecutable(String),
    /// The container init failed before `start`.
    #[error("container init: {0}")]
    Init(String),
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// Why.
        source: nix::Error,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Path involved.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Cgroup management failed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// State store failure.
    #[error(transparent)]
    State(#[from] StateError),
    /// The seccomp profile could not be compiled.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
}

fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> RuntimeError {
    move |source| RuntimeError::Sys { op, source }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError {
    let path = path.to_path_buf();
    move |source| RuntimeError::Io { op, path, source }
}

/// How a container's init ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exited with a code.
    Code(i32),
    /// Killed by a signal.
    Signaled(i32),
}

impl ExitStatus {
    /// Docker's single number: the code, or 128 + signal.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// The runtime: container state lives under `root`, cgroups under `cgroup_root`.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// State directory (`/run/berth/runtime`).
    pub root: PathBuf,
    /// Where the cgroup hierarchy is mounted (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
}

/// Rolls back a half-created container unless committed.
struct CreateGuard<'a> {
    dir: &'a Path,
    cgroup: Option<Cgroup>,
    committed: bool,
}

impl Drop for CreateGuard<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.remove();
        }
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

pub(crate) fn thread_count() -> usize {
    std::fs::read_to_string(Path::new(PROC).join("self/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("Threads:")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(1)
}

/// The v1 hierarchies mounted under `root` and their mount options, for `/sys/fs/cgroup`.
fn legacy_hierarchies(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in cgroups::v1::CONTROLLERS {
        let p = root.join(c);
        if p.is_dir() && !p.is_symlink() {
            out.push((c.to_string(), c.to_string()));
        }
    }
    if root.join("systemd").is_dir() {
        out.push(("systemd".into(), "none,name=systemd".into()));
    }
    out
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Fork-like `clone3` into new namespaces (and the cgroup, when given). Returns 0 in the child.
fn clone3(flags: u64, cgroup_fd: Option<i32>) -> Result<i32, nix::Error> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 without CLONE_VM and with a null stack behaves like fork; the caller is
    // single-threaded (checked by `create`), so the child may run arbitrary code.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if rc < 0 {
        Err(nix::Error::last())
    } else {
        Ok(rc as i32)
    }
}

fn namespace_flags(spec: &Spec) -> u64 {
    let mut flags = 0i32;
    for ns in spec
        .linux()
        .iter()
        .flat_map(|l| l.namespaces().iter().flatten())
    {
        if ns.path().is_some() {
            continue;
        }
        flags |= match ns.typ() {
            LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
            LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
            LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
            LinuxNamespaceType::Network => libc::CLONE_NEWNET,
            // Unshared by the child once it sits in its cgroup.
            _ => 0,
        };
    }
    flags as u32 as u64
}

fn pipe() -> Result<(OwnedFd, OwnedFd), RuntimeError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))
}

impl Runtime {
    /// A runtime keeping state under `root` and cgroups under `cgroup_root`.
    pub fn new(root: impl Into<PathBuf>, cgroup_root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            cgroup_root: cgroup_root.into(),
        }
    }

    fn dir(&self, id: &str) -> Result<PathBuf, RuntimeError> {
        let ok = !id.is_empty()
            && id != "."
            && id != ".."
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return Err(RuntimeError::InvalidId(id.to_string()));
        }
        Ok(self.root.join(id))
    }

    fn record(&self, id: &str) -> Result<Record, RuntimeError> {
        let path = self.dir(id)?.join("state.json");
        if !path.exists() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Ok(state::load(&path)?)
    }

    fn cgroup(&self, rec: &Record) -> Result<Cgroup, RuntimeError> {
        Ok(Cgroup::open(&self.cgroup_root, &rec.cgroup)?)
    }

    /// The cgroup of container `id`.
    pub fn container_cgroup(&self, id: &str) -> Result<Cgroup, RuntimeError> {
        let rec = self.record(id)?;
        self.cgroup(&rec)
    }

    /// Creates container `id` from the bundle and returns the init's pid. The init waits for
    /// [`Runtime::start`]. Must be called from a single-threaded process: the CLI or the shim.
    pub fn create(&self, id: &str, bundle: &Path) -> Result<i32, RuntimeError> {
        self.create_with_console(id, bundle).map(|(pid, _)| pid)
    }

    /// [`Runtime::create`], also returning the master end of the init's terminal when the
    /// spec asks for one (`process.terminal`). Without it a terminal process gets none.
    pub fn create_with_console(
        &self,
        id: &str,
        bundle: &Path,
    ) -> Result<(i32, Option<OwnedFd>), RuntimeError> {
        let threads = thread_count();
        if threads != 1 {
            return Err(RuntimeError::MultiThreaded(threads));
        }
        let dir = self.dir(id)?;
        let config = bundle.join("config.json");
        let bundle_err = |message: String| RuntimeError::Bundle {
            path: config.clone(),
            message,
        };
        let spec = Spec::load(&config).map_err(|e| bundle_err(e.to_string()))?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| bundle_err("no root".into()))?;
        let rootfs = bundle.join(root.path());
        let rootfs = rootfs
            .canonicalize()
            .map_err(io("resolve rootfs", &rootfs))?;
        std::fs::create_dir_all(&self.root).map_err(io("create", &self.root))?;
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::AlreadyExists(id.to_string()));
            }
            other => other.map_err(io("create", &dir))?,
        }
        let mut guard = CreateGuard {
            dir: &dir,
            cgroup: None,
            committed: false,
        };
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| bundle_err("no linux section".into()))?;
        let cgroup_rel = linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.strip_prefix("/").unwrap_or(p).to_path_buf())
            .unwrap_or_else(|| Path::new("berth").join(id));
        let cgroup = Cgroup::open(&self.cgroup_root, &cgroup_rel)?;
        cgroup.create()?;
        guard.cgroup = Some(cgroup.clone());
        if let Some(res) = linux.resources() {
            cgroup.apply(res)?;
        }
        let seccomp = match linux.seccomp() {
            Some(profile) => crate::seccomp::compile(profile)?,
            None => Vec::new(),
        };
        let fifo_path = dir.join("exec.fifo");
        nix::unistd::mkfifo(&fifo_path, nix::sys::stat::Mode::from_bits_truncate(0o622))
            .map_err(sys("mkfifo"))?;
        // mkfifo honours the umask; the init may run as any user.
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            &fifo_path,
            nix::sys::stat::Mode::from_bits_truncate(0o622),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(sys("chmod exec fifo"))?;
        let fifo = nix::fcntl::open(
            &fifo_path,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(sys("open exec fifo"))?;
        let cgroup_mount = match cgroup.unified_dir() {
            Some(_) => CgroupMount::Unified,
            None => CgroupMount::Legacy(legacy_hierarchies(&self.cgroup_root)),
        };
        let terminal = spec
            .process()
            .as_ref()
            .is_some_and(|p| p.terminal() == Some(true));
        let (console_parent, console_child) = match terminal {
            true => {
                let (a, b) = crate::tty::channel().map_err(sys("socketpair"))?;
                (Some(a), Some(b))
            }
            false => (None, None),
        };
        // v1: the child joins its cgroup itself (no grace period to wait for; see
        // `V1Cgroup::self_join_files`); v2: it is cloned into it.
        let join_cgroup = cgroup.self_join_files()?;
        let joins_itself = !join_cgroup.is_empty();
        let init_cfg = InitConfig {
            spec: spec.clone(),
            rootfs,
            cgroup_mount,
            fifo: fifo.as_raw_fd(),
            seccomp,
            console: console_child,
            join_cgroup,
        };
        let (sync_r, sync_w) = pipe()?;
        let (rep_r, rep_w) = pipe()?;
        let cgroup_dir = match cgroup.unified_dir() {
            Some(d) => Some(std::fs::File::open(&d).map_err(io("open cgroup", &d))?),
            None => None,
        };
        let flags = namespace_flags(&spec);
        let (pid, placed) = match clone3(flags, cgroup_dir.as_ref().map(|f| f.as_raw_fd())) {
            Err(nix::Error::ENOSYS | nix::Error::E2BIG | nix::Error::EINVAL)
                if cgroup_dir.is_some() =>
            {
                (clone3(flags, None).map_err(sys("clone3"))?, false)
            }
            other => (other.map_err(sys("clone3"))?, cgroup_dir.is_some()),
        };
        if pid == 0 {
            drop(sync_w);
            drop(rep_r);
            init::run(&init_cfg, sync_r, rep_w);
        }
        drop(sync_r);
        drop(rep_w);
        let kill_child = || {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        };
        if !placed && !joins_itself {
            if let Err(e) = cgroup.add_pid(pid) {
                kill_child();
                return Err(e.into());
            }
        }
        if nix::unistd::write(&sync_w, b"1").is_err() {
            kill_child();
            return Err(RuntimeError::Init("init died before setup".into()));
        }
        let mut reply = Vec::new();
        // SAFETY: `rep_r` is an owned pipe end we hand over to the File.
        let mut rep =
            unsafe { std::fs::File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(rep_r)) };
        let _ = rep.read_to_end(&mut reply);
        let msg = String::from_utf8_lossy(reply.get(1..).unwrap_or_default()).into_owned();
        match reply.first() {
            Some(b'R') => {}
            Some(b'N') => {
                kill_child();
                return Err(RuntimeError::CommandNotFound(msg));
            }
            Some(b'X') => {
                kill_child();
                return Err(RuntimeError::CommandNotExecutable(msg));
            }
            Some(_) => {
                kill_child();
                return Err(RuntimeError::Init(msg));
            }
            None => {
                kill_child();
                return Err(RuntimeError::Init("init exited without reporting".into()));
            }
        }
        let pid_start = state::proc_stat(Path::new(PROC), pid)
            .map(|s| s.1)
            .unwrap_or(0);
        let rec = Record {
            id: id.to_string(),
            pid,
            pid_start,
            bundle: bundle.to_path_buf(),
            cgroup: cgroup_rel,
            annotations: spec.annotations().clone().unwrap_or_default(),
        };
        // The init sent its terminal's master before reporting ready.
        let console = match console_parent {
            Some(sock) => match crate::tty::receive_master(&sock) {
                Ok(m) => Some(m),
                Err(e) => {
                    kill_child();
                    return Err(RuntimeError::Init(format!(
                        "no terminal from the init: {e}"
                    )));
                }
            },
            None => None,
        };
        state::save_json(&dir.join("state.json"), &rec)?;
        guard.committed = true;
        Ok((pid, console))
    }

    fn alive(rec: &Record) -> bool {
        matches!(state::proc_stat(Path::new(PROC), rec.pid), Some((s, start)) if s != 'Z' && start == rec.pid_start)
    }

    fn status(&self, rec: &Record) -> Result<Status, RuntimeError> {
        if !Self::alive(rec) {
            return Ok(Status::Stopped);
        }
        if self.dir(&rec.id)?.join("exec.fifo").exists() {
            return Ok(Status::Created);
        }
        let frozen = match self.cgroup(rec)? {
            Cgroup::V1(c) => std::fs::read_to_string(c.dir("freezer").join("freezer.state"))
                .is_ok_and(|s| s.trim() == "FROZEN"),
            Cgroup::V2(c) => std::fs::read_to_string(c.dir().join("cgroup.freeze"))
                .is_ok_and(|s| s.trim() == "1"),
        };
        Ok(if frozen {
            Status::Paused
        } else {
            Status::Running
        })
    }

    /// Lets a created container run its process.
    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        let rec = self.record(id)?;
        let status = self.status(&rec)?;
        if status != Status::Created {
            return Err(RuntimeError::Conflict {
                id: id.into(),
                status,
                op: "start",
            });
        }
        let fifo_path = self.dir(id)?.join("exec.fifo");
        let fifo = nix::fcntl::open(
            &fifo_path,
            nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(sys("open exec fifo"))?;
        loop {
            let mut fds = [nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&fifo),
                nix::poll::PollFlags::POLLIN,
            )];
            let n = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16))
                .map_err(sys("poll"))?;
            if n > 0 {
                let mut b = [0u8; 1];
                if nix::unistd::read(&fifo, &mut b) == Ok(1) {
                    break;
                }
            }
            if !Self::alive(&rec) {
                return Err(RuntimeError::Init(
                    "container init exited before start".into(),
                ));
            }
        }
        // The process runs from here on. A fifo already gone means a `delete` of the ended
        // container got there first: the start itself happened.
        match std::fs::remove_file(&fifo_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &fifo_path)(e)),
            _ => Ok(()),
        }
    }

    /// The OCI state of container `id`.
    pub fn state(&self, id: &str) -> Result<State, RuntimeError> {
        let rec = self.record(id)?;
        let status = self.status(&rec)?;
        Ok(State {
            oci_version: "1.0.2".into(),
            id: rec.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                rec.pid
            },
            bundle: rec.bundle.clone(),
            annotations: rec.annotations.clone(),
        })
    }

    /// Sends `signal` to the container init.
    pub fn kill(&self, id: &str, signal: Signal) -> Result<(), RuntimeError> {
        let rec = self.record(id)?;
        let status = self.status(&rec)?;
        if status == Status::Stopped {
            return Err(RuntimeError::Conflict {
                id: id.into(),
                status,
                op: "kill",
            });
        }
        nix::sys::signal::kill(Pid::from_raw(rec.pid), signal).map_err(sys("kill"))
    }

    /// Removes a stopped container (or, with `force`, kills it first): cgroup and state.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let rec = match self.record(id) {
            // A state file a machine crash left unreadable (it is written without fsync): its
            // processes are gone; forcing removes what is left of it.
            Err(RuntimeError::State(StateError::Corrupt { .. })) if force => {
                let dir = self.dir(id)?;
                return std::fs::remove_dir_all(&dir).map_err(io("remove", &dir));
            }
            other => other?,
        };
        let status = self.status(&rec)?;
        if status != Status::Stopped && status != Status::Created && !force {
            return Err(RuntimeError::Conflict {
                id: id.into(),
                status,
                op: "delete",
            });
        }
        let cg = self.cgroup(&rec)?;
        if status == Status::Paused {
            cg.set_frozen(false)?;
        }
        cg.remove()?;
        let dir = self.dir(id)?;
        std::fs::remove_dir_all(&dir).map_err(io("remove", &dir))
    }

    /// Waits for an init this process created (`run`), returning how it ended.
    pub fn wait(&self, pid: i32) -> Result<ExitStatus, RuntimeError> {
        use nix::sys::wait::{WaitStatus, waitpid};
        loop {
            match waitpid(Pid::from_raw(pid), None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(ExitStatus::Signaled(sig as i32)),
                Ok(_) | Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(sys("waitpid")(e)),
            }
        }
    }

    /// Resource usage of container `id`.
    pub fn stats(&self, id: &str) -> Result<Stats, RuntimeError> {
        let rec = self.record(id)?;
        Ok(self.cgroup(&rec)?.stats()?)
    }

    /// Freezes (`true`) or thaws every process of container `id`.
    pub fn set_paused(&self, id: &str, paused: bool) -> Result<(), RuntimeError> {
        let rec = self.record(id)?;
        Ok(self.cgroup(&rec)?.set_frozen(paused)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_delete_clears_an_unreadable_state() {
        let d = tempfile::tempdir().unwrap();
        let rt = Runtime::new(d.path().join("state"), d.path().join("cgroup"));
        let dir = d.path().join("state/c1");
        std::fs::create_dir_all(&dir).unwrap();
        // What a power loss can leave of a state written without fsync.
        std::fs::write(dir.join("state.json"), "").unwrap();
        assert!(matches!(
            rt.delete("c1", false),
            Err(RuntimeError::State(StateError::Corrupt { .. }))
        ));
        rt.delete("c1", true).unwrap();
        assert!(!dir.exists());
    }
}

//! `exec`: runs one more process inside a running container. The caller is a fresh
//! single-threaded process (the `exec` verb, re-executed from the sealed binary): it joins the
//! container's cgroup and PID namespace, forks, and the child enters the remaining namespaces
//! (IPC, UTS, network, cgroup, mount), then takes the process's user, capabilities,
//! `no_new_privs`, seccomp filter, rlimits, working directory and environment before `execve`.
//! Nothing here ever runs in the multi-threaded daemon.

use std::ffi::CString;
use std::fs::File;
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::cgroups::Cgroups as _;
use crate::init::{self, InitError};
use crate::runtime::{ExitStatus, Runtime, RuntimeError};
use crate::state::Status;
use crate::user::{self, UserError};

/// Errors of preparing an exec process.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No command was given.
    #[error("no exec command specified")]
    NoCommand,
    /// The container's spec has no process to start from.
    #[error("the container spec has no process")]
    NoProcess,
    /// The user could not be resolved in the container's rootfs.
    #[error(transparent)]
    User(#[from] UserError),
    /// The process document is invalid.
    #[error("exec process: {0}")]
    Invalid(#[from] serde_json::Error),
}

/// What to run in the container (Docker's exec create body, reduced to what the spec needs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// Command and arguments.
    pub args: Vec<String>,
    /// Extra `KEY=value` entries, overriding the container's.
    pub env: Vec<String>,
    /// Working directory; the container's when `None`.
    pub cwd: Option<String>,
    /// `user[:group]` resolved in the container; the container's user when `None`.
    pub user: Option<String>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Every capability and no seccomp filter (`docker exec --privileged`).
    pub privileged: bool,
}

/// The namespaces joined in the child after the cgroup, in runc's order (mount last: after it
/// the host's `/proc` is out of reach).
const CHILD_NAMESPACES: [(LinuxNamespaceType, &str); 5] = [
    (LinuxNamespaceType::Ipc, "ipc"),
    (LinuxNamespaceType::Uts, "uts"),
    (LinuxNamespaceType::Network, "net"),
    (LinuxNamespaceType::Cgroup, "cgroup"),
    (LinuxNamespaceType::Mount, "mnt"),
];

/// Builds the exec's process from the container's own process: same capabilities, rlimits,
/// `no_new_privs` and user unless overridden; `rootfs` is the host path of the container's root
/// (its `/etc/passwd` and `/etc/group` resolve a user name).
pub fn process_for(spec: &Spec, req: &ExecRequest, rootfs: &Path) -> Result<Process, ExecError> {
    if req.args.is_empty() {
        return Err(ExecError::NoCommand);
    }
    let mut process = spec.process().clone().ok_or(ExecError::NoProcess)?;
    process.set_args(Some(req.args.clone()));
    process.set_terminal(Some(req.tty));
    let mut env = process.env().clone().unwrap_or_default();
    for kv in &req.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    if req.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    process.set_env(Some(env));
    if let Some(cwd) = req.cwd.as_deref().filter(|c| !c.is_empty()) {
        process.set_cwd(cwd.into());
    }
    if let Some(spec_user) = req.user.as_deref().filter(|u| !u.is_empty()) {
        let u = user::resolve_in_rootfs(spec_user, rootfs)?;
        let mut pu = process.user().clone();
        pu.set_uid(u.uid);
        pu.set_gid(u.gid);
        pu.set_additional_gids(Some(u.additional_gids));
        process.set_user(pu);
    }
    if req.privileged {
        let all: Vec<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
        let caps: serde_json::Value = serde_json::json!({
            "bounding": all, "effective": all, "permitted": all,
        });
        process.set_capabilities(Some(serde_json::from_value(caps)?));
    }
    Ok(process)
}

fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> RuntimeError {
    move |source| RuntimeError::Sys { op, source }
}

fn open_ns(proc_root: &Path, pid: i32, name: &str) -> Result<File, RuntimeError> {
    let path = proc_root.join(format!("{pid}/ns/{name}"));
    File::open(&path).map_err(|source| RuntimeError::Io {
        op: "open namespace",
        path,
        source,
    })
}

/// Descriptors that stay open for the child before it execs (closed by `close_range` then).
struct Prepared {
    namespaces: Vec<File>,
    seccomp: Vec<seccompiler::BpfProgram>,
    /// The child's end of the channel the terminal master is sent over.
    console: Option<OwnedFd>,
    /// v1: the container cgroup's `tasks` files; the child joins the cgroup itself.
    join_cgroup: Vec<File>,
}

/// A started exec process.
#[derive(Debug)]
pub struct ExecChild {
    /// Host pid of the process (a child of the caller).
    pub pid: i32,
    /// Host pid of the container's init.
    pub init_pid: i32,
    /// The master end of its terminal, when `process.terminal` is set: relay it with
    /// [`crate::tty::relay`].
    pub console: Option<OwnedFd>,
}

impl Runtime {
    /// Runs `process` in running container `id` and waits for it; returns how it ended. Output
    /// goes to this process's stdio. Must be called from a single-threaded process.
    pub fn exec(&self, id: &str, process: &Process) -> Result<ExitStatus, RuntimeError> {
        let child = self.exec_spawn(id, process)?;
        if let Some(master) = &child.console {
            crate::tty::relay(master);
        }
        self.wait(child.pid)
    }

    /// Starts `process` in running container `id`. Must be called from a single-threaded
    /// process.
    pub fn exec_spawn(&self, id: &str, process: &Process) -> Result<ExecChild, RuntimeError> {
        let threads = crate::runtime::thread_count();
        if threads != 1 {
            return Err(RuntimeError::MultiThreaded(threads));
        }
        let st = self.state(id)?;
        if st.status != Status::Running {
            return Err(RuntimeError::Conflict {
                id: id.into(),
                status: st.status,
                op: "exec",
            });
        }
        let config = st.bundle.join("config.json");
        let spec = Spec::load(&config).map_err(|e| RuntimeError::Bundle {
            path: config.clone(),
            message: e.to_string(),
        })?;
        let linux = spec.linux().clone().unwrap_or_default();
        let proc_root = Path::new(crate::runtime::PROC);
        let mut namespaces = Vec::new();
        let declared = linux.namespaces().clone().unwrap_or_default();
        for (typ, name) in CHILD_NAMESPACES {
            if declared.iter().any(|n| n.typ() == typ) {
                namespaces.push(open_ns(proc_root, st.pid, name)?);
            }
        }
        let pid_ns = open_ns(proc_root, st.pid, "pid")?;
        let privileged = process
            .capabilities()
            .as_ref()
            .and_then(|c| c.bounding().as_ref())
            .is_some_and(|b| b.len() >= caps::all().len());
        let seccomp = match linux.seccomp() {
            Some(profile) if !privileged => crate::seccomp::compile(profile)?,
            _ => Vec::new(),
        };
        let (console_parent, console_child) = match process.terminal() == Some(true) {
            true => {
                let (a, b) = crate::tty::channel().map_err(sys("socketpair"))?;
                (Some(a), Some(b))
            }
            false => (None, None),
        };
        let rec_cgroup = self.container_cgroup(id)?;
        // As the init does (see `V1Cgroup::self_join_files`): no grace period to wait for.
        let join_cgroup = rec_cgroup.self_join_files()?;
        let joins_itself = !join_cgroup.is_empty();
        let prepared = Prepared {
            namespaces,
            seccomp,
            console: console_child,
            join_cgroup,
        };
        nix::sched::setns(&pid_ns, nix::sched::CloneFlags::CLONE_NEWPID)
            .map_err(sys("setns pid"))?;
        drop(pid_ns);
        let (sync_r, sync_w) = pipe()?;
        // SAFETY: the caller is single-threaded (checked above), so the child may run any code.
        let fork = unsafe { nix::unistd::fork() }.map_err(sys("fork"))?;
        let child = match fork {
            nix::unistd::ForkResult::Child => {
                drop(sync_w);
                child_main(&prepared, process, sync_r)
            }
            nix::unistd::ForkResult::Parent { child } => child,
        };
        drop(sync_r);
        drop(prepared);
        if !joins_itself {
            if let Err(e) = rec_cgroup.add_pid(child.as_raw()) {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(e.into());
            }
        }
        let _ = nix::unistd::write(&sync_w, b"1");
        // No master arrives when the child failed before its terminal existed; its exit
        // status tells why.
        let console = console_parent.and_then(|sock| crate::tty::receive_master(&sock).ok());
        Ok(ExecChild {
            pid: child.as_raw(),
            init_pid: st.pid,
            console,
        })
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), RuntimeError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))
}

/// The forked child: waits for the parent, joins the cgroup unless placed by the parent,
/// enters the container, execs. Reports failures on stderr and exits 126 (cannot run) or 127
/// (not found), as Docker does.
fn child_main(prep: &Prepared, process: &Process, sync: OwnedFd) -> ! {
    let mut b = [0u8; 1];
    if nix::unistd::read(&sync, &mut b) != Ok(1) {
        init::exit(1);
    }
    drop(sync);
    if let Err(e) = crate::cgroups::join_self(&prep.join_cgroup) {
        let _ = writeln!(
            std::io::stderr(),
            "berth-runtime exec: join the container's cgroup: {e}"
        );
        init::exit(126);
    }
    match enter(prep, process) {
        Ok(args) => {
            let env: Vec<CString> = process
                .env()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| CString::new(e).ok())
                .collect();
            let err = nix::unistd::execve(&args.0, &args.1, &env).unwrap_err();
            let _ = writeln!(std::io::stderr(), "exec {:?}: {err}", args.0);
            init::exit(if err == nix::Error::ENOENT { 127 } else { 126 });
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "berth-runtime exec: {e}");
            init::exit(match e {
                InitError::NotFound(_) => 127,
                _ => 126,
            });
        }
    }
}

fn enter(prep: &Prepared, process: &Process) -> Result<init::ExecArgs, InitError> {
    for ns in &prep.namespaces {
        nix::sched::setns(ns, nix::sched::CloneFlags::empty()).map_err(|source| {
            InitError::Sys {
                op: "setns".into(),
                source,
            }
        })?;
    }
    if let Some(sock) = &prep.console {
        crate::tty::attach_new_terminal(sock)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|source| {
            InitError::Io {
                op: "oom_score_adj".into(),
                source,
            }
        })?;
    }
    for r in process.rlimits().iter().flatten() {
        init::set_rlimit(init::rlimit_resource(r.typ()), r.soft(), r.hard()).map_err(|source| {
            InitError::Io {
                op: format!("setrlimit {:?}", r.typ()),
                source,
            }
        })?;
    }
    let nnp = process.no_new_privileges() == Some(true);
    if !nnp {
        crate::seccomp::install(&prep.seccomp)?;
    }
    crate::caps::apply(process)?;
    if nnp {
        // SAFETY: prctl with constant arguments affecting only this process.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(InitError::Io {
                op: "no_new_privs".into(),
                source: std::io::Error::last_os_error(),
            });
        }
        crate::seccomp::install(&prep.seccomp)?;
    }
    init::enter_cwd(process.cwd())?;
    let args = init::exec_args(process)?;
    // Dies with the exec runner (set after the credential change, which clears it).
    // SAFETY: prctl with constant arguments affecting only this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    init::close_from_3()?;
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        let d = tempfile::tempdir().unwrap();
        let cfg = crate::spec::ContainerConfig {
            rootfs: d.path().to_path_buf(),
            image: crate::spec::ImageConfig {
                cmd: vec!["sh".into()],
                env: vec!["A=1".into(), "B=2".into()],
                ..Default::default()
            },
            hostname: "h".into(),
            ..Default::default()
        };
        crate::spec::generate(&cfg).unwrap()
    }

    #[test]
    fn exec_process_inherits_and_overrides() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\n").unwrap();
        let req = ExecRequest {
            args: vec!["ps".into()],
            env: vec!["B=3".into()],
            cwd: Some("/tmp".into()),
            user: Some("nobody".into()),
            ..Default::default()
        };
        let p = process_for(&spec(), &req, d.path()).unwrap();
        assert_eq!(p.args().clone().unwrap(), ["ps"]);
        let env = p.env().clone().unwrap();
        assert!(env.contains(&"A=1".to_string()) && env.contains(&"B=3".to_string()));
        assert!(!env.contains(&"B=2".to_string()));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (65534, 65534));
        let caps = p.capabilities().clone().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 14);
    }

    #[test]
    fn privileged_exec_gets_every_capability() {
        let req = ExecRequest {
            args: vec!["id".into()],
            privileged: true,
            ..Default::default()
        };
        let p = process_for(&spec(), &req, Path::new("/nonexistent")).unwrap();
        let caps = p.capabilities().clone().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), caps::all().len());
    }

    #[test]
    fn exec_without_command_is_refused() {
        let err = process_for(&spec(), &ExecRequest::default(), Path::new("/")).unwrap_err();
        assert!(matches!(err, ExecError::NoCommand));
    }
}

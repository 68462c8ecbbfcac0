//! The container init: what the freshly cloned child does, in order, between `clone` and
//! `execve` (namespaces, mounts, `/dev`, `pivot_root`, masked paths, hostname, rlimits, user,
//! capabilities, `no_new_privs`, seccomp, cwd check, fd hygiene). It runs in a single-threaded
//! child and reports failure to its parent through a pipe.

use std::ffi::CString;
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::unistd::{Gid, Uid, chdir, fchdir, pivot_root};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use seccompiler::BpfProgram;

use crate::mounts::{self, MountPlan, secure_join};

/// Errors the init reports to its parent.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: String,
        /// Why.
        source: nix::Error,
    },
    /// A file operation failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// Why.
        source: std::io::Error,
    },
    /// The executable was not found in the container.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    /// The executable is not executable by the container user.
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    /// The working directory resolves outside the container's root.
    #[error("current working directory {0:?} is outside of the container root")]
    CwdOutsideRoot(PathBuf),
    /// Mount planning failed.
    #[error(transparent)]
    Mount(#[from] mounts::MountError),
    /// Installing seccomp failed.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// Setting capabilities failed.
    #[error("capabilities: {0}")]
    Caps(String),
    /// A device path of the container is a symlink (an image's `/dev` seen through a volume).
    #[error(
        "device {0:?} in the container is a symlink (from the image or a volume mounted at \
         /dev?): refusing to create the device through it"
    )]
    DeviceIsSymlink(PathBuf),
    /// The container's `/dev/null` is not the null device, so it cannot hide masked paths.
    #[error(
        "/dev/null in the container is not the null character device 1:3 (a symlink or file \
         from the image or a volume mounted at /dev?): refusing to mask paths with it"
    )]
    NotNullDevice,
    /// The spec lacks a required part.
    #[error("spec has no {0}")]
    Missing(&'static str),
}

fn sys(op: impl Into<String>) -> impl FnOnce(nix::Error) -> InitError {
    let op = op.into();
    move |source| InitError::Sys { op, source }
}

fn io(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> InitError {
    let op = op.into();
    move |source| InitError::Io { op, source }
}

/// How `/sys/fs/cgroup` is mounted inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupMount {
    /// One `cgroup2` mount.
    Unified,
    /// A tmpfs holding one `cgroup` mount per v1 hierarchy: (directory name, mount options).
    Legacy(Vec<(String, String)>),
}

/// Everything the child needs, prepared by the parent before `clone`.
#[derive(Debug)]
pub struct InitConfig {
    /// The runtime spec.
    pub spec: Spec,
    /// Absolute host path of the rootfs.
    pub rootfs: PathBuf,
    /// Cgroup filesystem layout to mount.
    pub cgroup_mount: CgroupMount,
    /// `O_PATH` descriptor of the exec fifo; opened for writing to wait for `start`.
    pub fifo: RawFd,
    /// Seccomp programs to install.
    pub seccomp: Vec<BpfProgram>,
    /// When the process gets a terminal: the child's end of the channel its master is sent
    /// over (see [`crate::tty`]).
    pub console: Option<OwnedFd>,
    /// On cgroup v1, the container cgroup's `tasks` files, opened by the parent: the child
    /// joins its cgroup itself, first thing ([`crate::cgroups::join_self`]). Empty when the
    /// parent placed it (v2).
    pub join_cgroup: Vec<File>,
}

/// Child entry point: sets the container up, reports to `report`, waits for `start`, execs.
/// Never returns.
pub fn run(cfg: &InitConfig, sync_in: OwnedFd, report: OwnedFd) -> ! {
    let mut report = File::from(report);
    // Wait until the parent is ready (EOF means the parent died), then join the cgroup unless
    // the parent placed us.
    let mut b = [0u8; 1];
    if nix::unistd::read(&sync_in, &mut b) != Ok(1) {
        exit(1);
    }
    drop(sync_in);
    if let Err(e) = crate::cgroups::join_self(&cfg.join_cgroup) {
        let _ = write!(report, "Ejoin the container's cgroup: {e}");
        exit(1);
    }
    let args = match setup(cfg) {
        Ok(args) => args,
        Err(e) => {
            let kind = match e {
                InitError::NotFound(_) => 'N',
                InitError::NotExecutable(_) => 'X',
                _ => 'E',
            };
            let _ = write!(report, "{kind}{e}");
            exit(1);
        }
    };
    if report.write_all(b"R").is_err() {
        exit(1);
    }
    drop(report);
    // Blocks until `start` opens the fifo for reading.
    let fifo = format!("/proc/self/fd/{}", cfg.fifo);
    match std::fs::OpenOptions::new().write(true).open(&fifo) {
        Ok(mut f) => {
            if f.write_all(b"0").is_err() {
                exit(1);
            }
        }
        Err(_) => exit(1),
    }
    let env: Vec<CString> = cfg
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| CString::new(e).ok())
        .collect();
    let err = nix::unistd::execve(&args.0, &args.1, &env).unwrap_err();
    eprintln!("berth-runtime: exec {:?}: {err}", args.0);
    exit(if err == nix::Error::ENOENT { 127 } else { 126 });
}

pub(crate) fn exit(code: i32) -> ! {
    // SAFETY: `_exit` ends the process without running the parent's atexit handlers or
    // destructors, which must not run twice after a fork-like clone.
    unsafe { libc::_exit(code) }
}

/// The resolved executable and its argv.
pub(crate) type ExecArgs = (CString, Vec<CString>);

fn setup(cfg: &InitConfig) -> Result<ExecArgs, InitError> {
    let spec = &cfg.spec;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or(InitError::Missing("linux section"))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or(InitError::Missing("process"))?;
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let has_ns = |t: LinuxNamespaceType| {
        namespaces
            .iter()
            .any(|n| n.typ() == t && n.path().is_none())
    };
    for ns in namespaces.iter().filter(|n| n.path().is_some()) {
        let path = ns.path().as_ref().expect("filtered on path");
        let f = File::open(path).map_err(io(format!("open namespace {}", path.display())))?;
        nix::sched::setns(&f, nix::sched::CloneFlags::empty())
            .map_err(sys(format!("setns {}", path.display())))?;
    }
    if has_ns(LinuxNamespaceType::Cgroup) {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(sys("unshare cgroup"))?;
    }
    if has_ns(LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname() {
            nix::unistd::sethostname(h).map_err(sys("sethostname"))?;
        }
        if let Some(d) = spec.domainname() {
            set_domainname(d)?;
        }
    }
    setup_rootfs(cfg)?;
    if let Some(sock) = &cfg.console {
        crate::tty::attach_new_terminal(sock)?;
    }
    for (key, value) in linux.sysctl().clone().unwrap_or_default() {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value).map_err(io(format!("sysctl {key}")))?;
    }
    let masked = linux.masked_paths().clone().unwrap_or_default();
    if !masked.is_empty() {
        let null = open_dev_null()?;
        for p in &masked {
            mask_path(Path::new(p), &null)?;
        }
    }
    for p in linux.readonly_paths().iter().flatten() {
        readonly_path(Path::new(p))?;
    }
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        remount_readonly(Path::new("/"))?;
    }
    for r in process.rlimits().iter().flatten() {
        set_rlimit(rlimit_resource(r.typ()), r.soft(), r.hard())
            .map_err(io(format!("setrlimit {:?}", r.typ())))?;
    }
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(io("oom_score_adj"))?;
    }
    let nnp = process.no_new_privileges() == Some(true);
    if !nnp {
        crate::seccomp::install(&cfg.seccomp)?;
    }
    crate::caps::apply(process)?;
    if nnp {
        // SAFETY: prctl with constant arguments affecting only this process.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io("no_new_privs")(std::io::Error::last_os_error()));
        }
        crate::seccomp::install(&cfg.seccomp)?;
    }
    enter_cwd(process.cwd())?;
    let args = exec_args(process)?;
    close_from_3()?;
    Ok(args)
}

/// Flags every descriptor from 3 up close-on-exec, so no host descriptor reaches the container
/// process (CVE-2024-21626).
pub(crate) fn close_from_3() -> Result<(), InitError> {
    // SAFETY: close_range only flags descriptors close-on-exec; nothing is closed under us.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        return Err(io("close_range")(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn set_domainname(name: &str) -> Result<(), InitError> {
    // SAFETY: the pointer and length describe a live byte buffer.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if rc != 0 {
        return Err(io("setdomainname")(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Sets a resource limit. Raising a hard limit needs `CAP_SYS_RESOURCE`; without it (a
/// sandboxed host) the current hard limit is kept and the soft limit clamped to it.
pub(crate) fn set_rlimit(res: i32, soft: u64, hard: u64) -> std::io::Result<()> {
    let set = |soft: u64, hard: u64| {
        // SAFETY: plain setrlimit on this process with a valid struct.
        let rc = unsafe {
            libc::setrlimit(
                res as _,
                &libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                },
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    match set(soft, hard) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the valid struct.
            if unsafe { libc::getrlimit(res as _, &mut cur) } != 0 || hard <= cur.rlim_max {
                return Err(e);
            }
            set(soft.min(cur.rlim_max), cur.rlim_max)
        }
        other => other,
    }
}

pub(crate) fn rlimit_resource(t: oci_spec::runtime::PosixRlimitType) -> i32 {
    use oci_spec::runtime::PosixRlimitType as T;
    (match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }) as i32
}

fn do_mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: &str,
) -> Result<(), InitError> {
    let data = (!data.is_empty()).then_some(data);
    mount(Some(src), target, Some(fstype), flags, data)
        .map_err(sys(format!("mount {fstype} on {}", target.display())))
}

fn setup_rootfs(cfg: &InitConfig) -> Result<(), InitError> {
    let rootfs = &cfg.rootfs;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys("make / rprivate"))?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("bind rootfs"))?;
    for m in cfg.spec.mounts().iter().flatten() {
        let plan = mounts::plan(m)?;
        mount_one(cfg, &plan)?;
    }
    create_devices(cfg)?;
    // pivot_root(".", ".") then detach the old root stacked on top (runc's approach).
    let old = File::open("/").map_err(io("open old root"))?;
    let new = File::open(rootfs).map_err(io("open rootfs"))?;
    fchdir(&new).map_err(sys("chdir rootfs"))?;
    pivot_root(".", ".").map_err(sys("pivot_root"))?;
    fchdir(&old).map_err(sys("chdir old root"))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("make old root rslave"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("detach old root"))?;
    chdir("/").map_err(sys("chdir /"))?;
    Ok(())
}

fn mount_one(cfg: &InitConfig, plan: &MountPlan) -> Result<(), InitError> {
    if plan.fstype != "cgroup" {
        let src_is_file = plan.is_bind() && Path::new(&plan.source).is_file();
        return mount_at_fd(cfg, plan, src_is_file);
    }
    let target = secure_join(&cfg.rootfs, &plan.destination)?;
    std::fs::create_dir_all(&target).map_err(io(format!("mkdir {}", target.display())))?;
    mount_cgroups(cfg, plan, &target)
}

/// Mounts on the target opened fd-relative inside the rootfs (see [`crate::safe_path`]); flags
/// and propagation then go to the new mount, reopened through the same resolution.
fn mount_at_fd(cfg: &InitConfig, plan: &MountPlan, file: bool) -> Result<(), InitError> {
    let fd_dir = Path::new("/proc/self/fd");
    let open = || {
        crate::safe_path::open_target(&cfg.rootfs, &plan.destination, file).map_err(io(format!(
            "mount target {} in rootfs",
            plan.destination.display()
        )))
    };
    let fd = open()?;
    let target = crate::safe_path::fd_target(fd_dir, &fd);
    let bind = plan.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
    if plan.is_bind() {
        do_mount(&plan.source, &target, "bind", bind, "")?;
    } else {
        do_mount(&plan.source, &target, &plan.fstype, plan.flags, &plan.data)?;
    }
    let rest = plan.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    let remount = plan.is_bind() && !rest.is_empty();
    if !remount && plan.propagation.is_empty() {
        return Ok(());
    }
    let mounted = open()?;
    let target = crate::safe_path::fd_target(fd_dir, &mounted);
    if remount {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rest;
        do_mount("", &target, "bind", flags, "")?;
    }
    if !plan.propagation.is_empty() {
        mount(
            None::<&str>,
            &target,
            None::<&str>,
            plan.propagation,
            None::<&str>,
        )
        .map_err(sys(format!(
            "propagation of {}",
            plan.destination.display()
        )))?;
    }
    Ok(())
}

fn mount_cgroups(cfg: &InitConfig, plan: &MountPlan, target: &Path) -> Result<(), InitError> {
    match &cfg.cgroup_mount {
        CgroupMount::Unified => do_mount("cgroup", target, "cgroup2", plan.flags, ""),
        CgroupMount::Legacy(hierarchies) => {
            let base = plan.flags & !MsFlags::MS_RDONLY;
            do_mount("tmpfs", target, "tmpfs", base, "mode=755")?;
            for (dir, opts) in hierarchies {
                let sub = target.join(dir);
                std::fs::create_dir_all(&sub).map_err(io(format!("mkdir {}", sub.display())))?;
                do_mount("cgroup", &sub, "cgroup", plan.flags, opts)?;
            }
            if plan.flags.contains(MsFlags::MS_RDONLY) {
                do_mount(
                    "",
                    target,
                    "tmpfs",
                    base | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    "mode=755",
                )?;
            }
            Ok(())
        }
    }
}

fn create_devices(cfg: &InitConfig) -> Result<(), InitError> {
    let dev = secure_join(&cfg.rootfs, Path::new("/dev"))?;
    let linux = cfg
        .spec
        .linux()
        .as_ref()
        .ok_or(InitError::Missing("linux section"))?;
    // The OCI spec's default devices exist even when the spec does not list them (as runc).
    let defaults = crate::defaults::DEFAULT_DEVICES.iter().filter_map(|d| {
        let listed = linux
            .devices()
            .iter()
            .flatten()
            .any(|l| l.path() == Path::new(d.path));
        let dev = serde_json::json!({"path": d.path, "type": "c", "major": d.major,
            "minor": d.minor, "fileMode": 0o666, "uid": 0, "gid": 0});
        (!listed).then(|| serde_json::from_value::<oci_spec::runtime::LinuxDevice>(dev).ok())?
    });
    let all: Vec<oci_spec::runtime::LinuxDevice> = linux
        .devices()
        .iter()
        .flatten()
        .cloned()
        .chain(defaults)
        .collect();
    for d in &all {
        // The parent resolves inside the rootfs; the node itself is never made through a link.
        let name = d
            .path()
            .file_name()
            .ok_or_else(|| InitError::DeviceIsSymlink(d.path().clone()))?;
        let parent = secure_join(&cfg.rootfs, d.path().parent().unwrap_or(Path::new("/")))?;
        std::fs::create_dir_all(&parent).map_err(io(format!("mkdir {}", parent.display())))?;
        let target = parent.join(name);
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(InitError::DeviceIsSymlink(d.path().clone()));
        }
        let kind = match d.typ() {
            oci_spec::runtime::LinuxDeviceType::B => SFlag::S_IFBLK,
            oci_spec::runtime::LinuxDeviceType::P => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        };
        let mode = Mode::from_bits_truncate(d.file_mode().unwrap_or(0o666));
        let rdev = makedev(d.major() as u64, d.minor() as u64);
        match mknod(&target, kind, mode, rdev) {
            Ok(()) => {
                // mknod honours the umask; set the exact mode asked for.
                nix::sys::stat::fchmodat(
                    nix::fcntl::AT_FDCWD,
                    &target,
                    mode,
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .map_err(sys(format!("chmod {}", target.display())))?;
                nix::unistd::chown(
                    &target,
                    d.uid().map(Uid::from_raw),
                    d.gid().map(Gid::from_raw),
                )
                .map_err(sys(format!("chown {}", target.display())))?;
            }
            Err(nix::Error::EPERM) => {
                // No mknod here (user namespace): bind the host's node instead.
                File::create(&target).map_err(io(format!("create {}", target.display())))?;
                let host = d.path().display().to_string();
                do_mount(&host, &target, "bind", MsFlags::MS_BIND, "")?;
            }
            Err(e) => return Err(sys(format!("mknod {}", target.display()))(e)),
        }
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let path = dev.join(link);
        if std::fs::symlink_metadata(&path).is_err() {
            std::os::unix::fs::symlink(to, &path)
                .map_err(io(format!("symlink {}", path.display())))?;
        }
    }
    Ok(())
}

/// Opens the container's `/dev/null` without following a symlink and checks it is the null
/// character device (1:3). A `/dev/null` that an image, a volume at `/dev` or a racing
/// container made a symlink or a file would otherwise turn a masked path into a bind of a host
/// file such as `/proc/sys/kernel/core_pattern` (CVE-2025-31133).
fn open_dev_null() -> Result<OwnedFd, InitError> {
    use nix::fcntl::{OFlag, open};
    let fd = open(
        "/dev/null",
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open /dev/null to mask paths"))?;
    let st = nix::sys::stat::fstat(&fd).map_err(sys("stat /dev/null"))?;
    let is_char = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_null_device(is_char, st.st_rdev) {
        return Err(InitError::NotNullDevice);
    }
    Ok(fd)
}

/// True for the character device 1:3.
fn is_null_device(is_char: bool, rdev: u64) -> bool {
    is_char && rdev == makedev(1, 3)
}

/// Hides `path`: an empty read-only tmpfs over a directory, the verified null device (`null`,
/// from [`open_dev_null`]) over anything else. The target is opened without following a final
/// symlink and mounted on through its descriptor.
fn mask_path(path: &Path, null: &OwnedFd) -> Result<(), InitError> {
    use nix::fcntl::{OFlag, open};
    let target = match open(
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(_) => return Ok(()),
    };
    let st = nix::sys::stat::fstat(&target).map_err(sys(format!("stat {}", path.display())))?;
    let fd_dir = Path::new("/proc/self/fd");
    let at = crate::safe_path::fd_target(fd_dir, &target);
    match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFDIR => do_mount("tmpfs", &at, "tmpfs", MsFlags::MS_RDONLY, ""),
        // A symlink is not followed: what it names is masked under its own name, or not at all.
        SFlag::S_IFLNK => Ok(()),
        _ => {
            let src = crate::safe_path::fd_target(fd_dir, null);
            let src = src.display().to_string();
            do_mount(&src, &at, "bind", MsFlags::MS_BIND, "")
        }
    }
}

fn remount_readonly(path: &Path) -> Result<(), InitError> {
    let st =
        nix::sys::statvfs::statvfs(path).map_err(sys(format!("statvfs {}", path.display())))?;
    use nix::sys::statvfs::FsFlags;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for (f, m) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if st.flags().contains(f) {
            flags |= m;
        }
    }
    do_mount("", path, "bind", flags, "")
}

fn readonly_path(path: &Path) -> Result<(), InitError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    let p = path.display().to_string();
    do_mount(&p, path, "bind", MsFlags::MS_BIND | MsFlags::MS_REC, "")?;
    remount_readonly(path)
}

/// Enters the working directory and refuses one that resolves outside the container root
/// (a leaked host descriptor reached through `/proc/self/fd/N`, CVE-2024-21626).
pub(crate) fn enter_cwd(cwd: &Path) -> Result<(), InitError> {
    chdir(cwd).map_err(sys(format!("chdir {}", cwd.display())))?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the raw getcwd syscall writes at most `buf.len()` bytes into `buf`. The raw
    // syscall is used because it reports "(unreachable)" paths instead of hiding them.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        return Err(InitError::CwdOutsideRoot(cwd.to_path_buf()));
    }
    if buf.first() != Some(&b'/') {
        return Err(InitError::CwdOutsideRoot(cwd.to_path_buf()));
    }
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok() && path.is_file()
}

/// Resolves `args[0]` against the container's `PATH` the way `execvp` would.
pub(crate) fn exec_args(process: &oci_spec::runtime::Process) -> Result<ExecArgs, InitError> {
    let args = process.args().clone().unwrap_or_default();
    let first = args.first().ok_or(InitError::Missing("process.args"))?;
    let path = if first.contains('/') {
        let p = PathBuf::from(first);
        if !p.exists() {
            return Err(InitError::NotFound(first.clone()));
        }
        if !is_executable(&p) {
            return Err(InitError::NotExecutable(first.clone()));
        }
        p
    } else {
        let env = process.env().clone().unwrap_or_default();
        let search = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("");
        search
            .split(':')
            .map(|dir| Path::new(dir).join(first))
            .find(|p| is_executable(p))
            .ok_or_else(|| InitError::NotFound(first.clone()))?
    };
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| InitError::NotFound(first.clone()))?;
    let argv = args
        .iter()
        .filter_map(|a| CString::new(a.as_str()).ok())
        .collect();
    Ok((cpath, argv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_character_device_1_3_masks_paths() {
        assert!(is_null_device(true, makedev(1, 3)));
        assert!(!is_null_device(false, makedev(1, 3)), "a block device 1:3");
        assert!(!is_null_device(true, makedev(1, 5)), "/dev/zero");
        assert!(!is_null_device(false, 0), "a symlink or a file");
    }
}

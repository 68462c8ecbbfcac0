//! Control groups of containers, v1 and v2 behind one narrow trait. The cgroup root is a
//! parameter, so the file-writing logic runs against a fake tree in a tempdir; the planners
//! ([`v1::plan`], [`v2::plan`]) turn OCI resources into a list of [`Write`]s that one small
//! applier performs.

pub mod v1;
pub mod v2;

use std::fs::File;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

/// Errors of cgroup management.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Neither a v1 nor a v2 hierarchy is mounted at the root.
    #[error("no cgroup hierarchy found at {0}")]
    NoHierarchy(PathBuf),
    /// A file operation failed.
    #[error("cgroup {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value read from a cgroup file could not be parsed.
    #[error("cannot parse {path}: {content:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it held.
        content: String,
    },
    /// The cgroup still holds processes after they were killed.
    #[error("cgroup {0} still busy after killing its processes")]
    Busy(PathBuf),
}

pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.to_path_buf();
    move |source| CgroupError::Io { op, path, source }
}

/// One write to a cgroup file, as planned from OCI resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// v1 controller directory (`memory`, `cpu`, ...); empty on v2.
    pub controller: &'static str,
    /// File name inside the cgroup directory.
    pub file: &'static str,
    /// Value written.
    pub value: String,
    /// The file may be absent on this kernel (swap accounting off): skip silently then.
    pub optional: bool,
}

impl Write {
    pub(crate) fn new(controller: &'static str, file: &'static str, value: impl ToString) -> Self {
        Self {
            controller,
            file,
            value: value.to_string(),
            optional: false,
        }
    }
}

/// Resource usage of a container, read from its cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// CPU time used, nanoseconds.
    pub cpu_usage_ns: u64,
    /// Memory in use, bytes.
    pub memory_usage: u64,
    /// Peak memory use, bytes (0 when the kernel does not track it).
    pub memory_max_usage: u64,
    /// Number of processes.
    pub pids_current: u64,
    /// Bytes read from block devices.
    pub blkio_read_bytes: u64,
    /// Bytes written to block devices.
    pub blkio_write_bytes: u64,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kills: u64,
}

/// What berth needs from a container's cgroup, for either cgroup version.
pub trait Cgroups {
    /// Creates the cgroup (and missing parents).
    fn create(&self) -> Result<(), CgroupError>;
    /// Moves a process into the cgroup.
    fn add_pid(&self, pid: i32) -> Result<(), CgroupError>;
    /// Applies resource limits.
    fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError>;
    /// Freezes (`true`) or thaws (`false`) every process.
    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError>;
    /// Reads usage counters.
    fn stats(&self) -> Result<Stats, CgroupError>;
    /// Processes in the cgroup.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Kills every process (SIGKILL) and removes the cgroup directories.
    fn remove(&self) -> Result<(), CgroupError>;
}

/// A container cgroup of the hierarchy found at the root.
#[derive(Debug, Clone)]
pub enum Cgroup {
    /// Legacy per-controller hierarchies.
    V1(v1::V1Cgroup),
    /// Unified hierarchy.
    V2(v2::V2Cgroup),
}

/// Which cgroup version is mounted at `root`.
pub fn detect(root: &Path) -> Result<Version, CgroupError> {
    if root.join("cgroup.controllers").exists() {
        Ok(Version::V2)
    } else if root.join("memory").is_dir() || root.join("pids").is_dir() {
        Ok(Version::V1)
    } else {
        Err(CgroupError::NoHierarchy(root.to_path_buf()))
    }
}

/// A cgroup version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// cgroup v1.
    V1,
    /// cgroup v2.
    V2,
}

impl Cgroup {
    /// The cgroup at `relative` (e.g. `berth/<id>`) under the hierarchy mounted at `root`.
    pub fn open(root: &Path, relative: &Path) -> Result<Self, CgroupError> {
        Ok(match detect(root)? {
            Version::V1 => Cgroup::V1(v1::V1Cgroup::new(root, relative)),
            Version::V2 => Cgroup::V2(v2::V2Cgroup::new(root, relative)),
        })
    }

    /// On v2, the directory to pass to `clone3(CLONE_INTO_CGROUP)`.
    pub fn unified_dir(&self) -> Option<PathBuf> {
        match self {
            Cgroup::V1(_) => None,
            Cgroup::V2(c) => Some(c.dir()),
        }
    }

    /// On v1, the files through which a single-threaded process joins the cgroup itself
    /// ([`join_self`]; see [`v1::V1Cgroup::self_join_files`]); empty on v2, where a child is
    /// cloned into its cgroup.
    pub fn self_join_files(&self) -> Result<Vec<File>, CgroupError> {
        match self {
            Cgroup::V1(c) => c.self_join_files(),
            Cgroup::V2(_) => Ok(Vec::new()),
        }
    }

    fn inner(&self) -> &dyn Cgroups {
        match self {
            Cgroup::V1(c) => c,
            Cgroup::V2(c) => c,
        }
    }
}

impl Cgroups for Cgroup {
    fn create(&self) -> Result<(), CgroupError> {
        self.inner().create()
    }
    fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        self.inner().add_pid(pid)
    }
    fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        self.inner().apply(resources)
    }
    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        self.inner().set_frozen(frozen)
    }
    fn stats(&self) -> Result<Stats, CgroupError> {
        self.inner().stats()
    }
    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        self.inner().pids()
    }
    fn remove(&self) -> Result<(), CgroupError> {
        self.inner().remove()
    }
}

/// Moves the calling thread (the whole process when it has one thread) into the cgroup whose
/// [`Cgroup::self_join_files`] these are, by writing `0` to each.
pub fn join_self(files: &[File]) -> std::io::Result<()> {
    for mut f in files {
        f.write_all(b"0")?;
    }
    Ok(())
}

/// Writes `value` to `path` (created when absent, which only a fake tree allows).
pub(crate) fn write_file(path: &Path, value: &str) -> Result<(), CgroupError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err("open", path))?;
    f.write_all(value.as_bytes()).map_err(io_err("write", path))
}

/// Performs planned writes, resolving each to a directory with `dir_of`.
pub(crate) fn apply_writes(
    writes: &[Write],
    dir_of: impl Fn(&'static str) -> PathBuf,
) -> Result<(), CgroupError> {
    for w in writes {
        let dir = dir_of(w.controller);
        let mut path = dir.join(w.file);
        for (plain, bfq) in [
            ("blkio.weight", "blkio.bfq.weight"),
            ("io.weight", "io.bfq.weight"),
        ] {
            if w.file == plain && !path.exists() && dir.join(bfq).exists() {
                path = dir.join(bfq);
            }
        }
        match write_file(&path, &w.value) {
            Err(CgroupError::Io { source, .. })
                if w.optional
                    && matches!(
                        source.kind(),
                        ErrorKind::NotFound | ErrorKind::PermissionDenied
                    ) => {}
            other => other?,
        }
    }
    Ok(())
}

pub(crate) fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let s = std::fs::read_to_string(path).map_err(io_err("read", path))?;
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        content: s.clone(),
    })
}

/// Reads a counter that may be absent on this kernel (0 then).
pub(crate) fn read_u64_or_zero(path: &Path) -> Result<u64, CgroupError> {
    if path.exists() { read_u64(path) } else { Ok(0) }
}

/// The value of `key` in a flat-keyed file (`key value` lines).
pub(crate) fn keyed(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

pub(crate) fn read_pids(path: &Path) -> Result<Vec<i32>, CgroupError> {
    let s = std::fs::read_to_string(path).map_err(io_err("read", path))?;
    Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Kills every process listed in `procs` and removes `dirs` (deepest first), retrying while the
/// kernel finishes tearing the processes down.
pub(crate) fn kill_and_remove(procs: &Path, dirs: &[PathBuf]) -> Result<(), CgroupError> {
    for attempt in 0..200 {
        if procs.exists() {
            for pid in read_pids(procs)? {
                // Errors mean the process is already gone.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let mut busy = None;
        for dir in dirs {
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => busy = Some(dir.clone()),
                Err(e) => return Err(io_err("remove", dir)(e)),
            }
        }
        match busy {
            None => return Ok(()),
            Some(dir) if attempt == 199 => return Err(CgroupError::Busy(dir)),
            Some(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_versions() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(detect(d.path()), Err(CgroupError::NoHierarchy(_))));
        std::fs::create_dir(d.path().join("memory")).unwrap();
        assert_eq!(detect(d.path()).unwrap(), Version::V1);
        std::fs::write(d.path().join("cgroup.controllers"), "cpu memory").unwrap();
        assert_eq!(detect(d.path()).unwrap(), Version::V2);
    }

    #[test]
    fn keyed_values() {
        assert_eq!(
            keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            Some(3)
        );
        assert_eq!(keyed("a 1\n", "b"), None);
    }
}

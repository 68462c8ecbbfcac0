//! Re-executes the runtime from a binary no container can write to before it clones a
//! container init, so that nothing in the container can reach the host binary through
//! `/proc/<pid>/exe` and overwrite it (CVE-2019-5736): what `/proc/<pid>/exe` of the init
//! points at until the user's `execve` is either the binary seen through a private read-only
//! overlay ([`overlay`], no copy: tried first) or a copy in a memfd sealed against writes
//! (when the kernel or the caller's privileges refuse the overlay).
//!
//! Copying is the expensive part of a container start when the binary is big, so:
//! - the copied binary is the small `berth-shim` when one sits next to the running binary
//!   ([`SHIM_NAME`], [`shim_next_to`]), as runc 1.2 and crun keep the re-executed part small;
//! - an engine seals its runtime binary ONCE ([`RuntimeBinary::seal`]) and spawns every shim and
//!   exec straight from that memfd ([`RuntimeBinary::command`]); such a process sees itself
//!   already sealed ([`running_sealed`]) and copies nothing;
//! - a directly run `berth-shim run|create|exec|shim` re-executes itself through the overlay,
//!   which costs a mount instead of a copy of the whole binary per run.

pub mod overlay;

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

/// File name of the small runtime binary looked for next to `berth`.
pub const SHIM_NAME: &str = "berth-shim";

/// Errors of sealing the binary.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A step failed.
    #[error("sealed binary copy: {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

fn err(op: &'static str) -> impl FnOnce(std::io::Error) -> SealError {
    move |source| SealError::Io { op, source }
}

const SEALS: i32 = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// How the running binary is kept from being written through `/proc/<pid>/exe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// A memfd copy sealed against writes.
    SealedMemfd,
    /// The file seen through a private read-only overlay ([`overlay::open`]).
    PrivateOverlay,
}

/// How the file `exe` is protected, if it is.
pub fn protection_of(exe: &File) -> Option<Protection> {
    // SAFETY: F_GET_SEALS only reads the seals of a descriptor we own.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & libc::F_SEAL_WRITE != 0 {
        return Some(Protection::SealedMemfd);
    }
    overlay::is_private_read_only(exe).then_some(Protection::PrivateOverlay)
}

/// True when the running binary is already protected: a write-sealed memfd or a file of a
/// private read-only overlay.
pub fn running_sealed() -> bool {
    File::open("/proc/self/exe").is_ok_and(|exe| protection_of(&exe).is_some())
}

/// The `berth-shim` binary next to `exe`, when there is one (and `exe` is not it).
pub fn shim_next_to(exe: &Path) -> Option<PathBuf> {
    let shim = exe.parent()?.join(SHIM_NAME);
    (exe.file_name() != shim.file_name() && shim.is_file()).then_some(shim)
}

/// Copies the file `source` into a new memfd sealed against any change. The descriptor is
/// close-on-exec.
pub fn seal_file(source: &Path) -> Result<OwnedFd, SealError> {
    let name = c"berth-runtime";
    // SAFETY: memfd_create with a valid C string; the returned descriptor is owned below.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(err("memfd_create")(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let mut memfd = unsafe { File::from_raw_fd(fd) };
    let mut exe = File::open(source).map_err(err("open the binary"))?;
    std::io::copy(&mut exe, &mut memfd).map_err(err("copy"))?;
    // SAFETY: F_ADD_SEALS on our own memfd.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(err("seal")(std::io::Error::last_os_error()));
    }
    Ok(memfd.into())
}

/// A descriptor of `binary` that no container can write through: opened through a private
/// read-only overlay (`spare`: an existing directory for the overlay's second layer), or,
/// when the overlay cannot be made, a sealed memfd copy of `copy_from` (the same file, or
/// `/proc/self/exe` when its path is gone).
pub fn protected_binary(
    binary: Option<&Path>,
    copy_from: &Path,
    spare: &Path,
) -> Result<(OwnedFd, Protection), SealError> {
    if let Some(bin) = binary {
        if let Ok(fd) = overlay::open(bin, spare) {
            return Ok((fd, Protection::PrivateOverlay));
        }
    }
    Ok((seal_file(copy_from)?, Protection::SealedMemfd))
}

/// Unless already running protected ([`running_sealed`]), re-executes the runtime binary (the
/// `berth-shim` next to this one when there is one, else this binary) from a descriptor no
/// container can write through ([`protected_binary`]; `scratch` is a directory of the
/// runtime's own, created when missing, that the overlay uses as its bottom layer) with `args`
/// and the current environment. Returns only on error or when already protected.
pub fn ensure_sealed(args: &[OsString], scratch: &Path) -> Result<(), SealError> {
    if running_sealed() {
        return Ok(());
    }
    let exe = std::env::current_exe().ok();
    let shim = exe.as_deref().and_then(shim_next_to);
    let (binary, copy_from) = match &shim {
        Some(s) => (Some(s.clone()), s.clone()),
        // A binary replaced since it started reads "… (deleted)": copy the running one.
        None => (exe.filter(|e| e.is_file()), PathBuf::from("/proc/self/exe")),
    };
    let _ = std::fs::create_dir_all(scratch);
    let (fd, _) = protected_binary(binary.as_deref(), &copy_from, scratch)?;
    let argv: Vec<CString> = args
        .iter()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let e = nix::unistd::fexecve(&fd, &argv, &envp).unwrap_err();
    Err(err("fexecve")(std::io::Error::from_raw_os_error(e as i32)))
}

/// The runtime binary an engine spawns for shims and execs, sealed once for all of them.
#[derive(Debug)]
pub struct RuntimeBinary {
    /// The binary that was copied (`berth-shim`, or `berth` itself).
    pub source: PathBuf,
    /// Arguments before the runtime's own (`runtime` when `source` is `berth`).
    pub prefix: Vec<OsString>,
    /// The sealed copy; `None` when sealing failed (each process then seals itself).
    memfd: Option<OwnedFd>,
    proc_root: PathBuf,
}

impl RuntimeBinary {
    /// Picks the runtime binary for the `berth` binary `exe`: `berth-shim` next to it, else
    /// `exe runtime …`; and seals a copy of it once. `proc_root` is where procfs is mounted
    /// (the copy is spawned as `<proc_root>/self/fd/<n>`). A failed seal is not fatal: the
    /// spawned process then seals itself, as a directly run `berth runtime` does.
    pub fn seal(exe: &Path, proc_root: &Path) -> Self {
        let (source, prefix) = match shim_next_to(exe) {
            Some(shim) => (shim, Vec::new()),
            None => (exe.to_path_buf(), vec![OsString::from("runtime")]),
        };
        let memfd = seal_file(&source).ok();
        Self {
            source,
            prefix,
            memfd,
            proc_root: proc_root.to_path_buf(),
        }
    }

    /// True when processes are spawned from the engine's sealed copy.
    pub fn is_sealed(&self) -> bool {
        self.memfd.is_some()
    }

    /// A command running the runtime binary (its `argv[0]` is the binary's path, its first
    /// arguments the [`prefix`](Self::prefix)); add the runtime's arguments.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = match &self.memfd {
            // The memfd is close-on-exec: the path resolves in the child before `execve`
            // closes it, so the shim holds no descriptor of it afterwards.
            Some(fd) => {
                let mut cmd = std::process::Command::new(
                    self.proc_root
                        .join("self/fd")
                        .join(fd.as_raw_fd().to_string()),
                );
                cmd.arg0(&self.source);
                cmd
            }
            None => std::process::Command::new(&self.source),
        };
        cmd.args(&self.prefix);
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_copy_refuses_writes_and_keeps_the_content() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("bin");
        std::fs::write(&src, b"#!/bin/sh\necho sealed\n").unwrap();
        let fd = seal_file(&src).unwrap();
        let mut f = File::from(fd);
        let mut back = Vec::new();
        std::io::Seek::rewind(&mut f).unwrap();
        std::io::Read::read_to_end(&mut f, &mut back).unwrap();
        assert_eq!(back, b"#!/bin/sh\necho sealed\n");
        assert!(std::io::Write::write_all(&mut f, b"x").is_err());
        // SAFETY: F_GET_SEALS only reads the seals of a descriptor we own.
        let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
        assert_eq!(seals & SEALS, SEALS);
    }

    #[test]
    fn without_an_overlay_the_binary_is_copied_into_a_sealed_memfd() {
        // A missing bottom layer makes the overlay fail for root too (and the overlay needs
        // root): the fallback copies.
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("bin");
        std::fs::write(&src, b"binary").unwrap();
        let spare = d.path().join("missing");
        let (fd, how) = protected_binary(Some(&src), &src, &spare).unwrap();
        assert_eq!(how, Protection::SealedMemfd);
        assert_eq!(
            protection_of(&File::from(fd)),
            Some(Protection::SealedMemfd)
        );
        let (_, how) = protected_binary(None, &src, d.path()).unwrap();
        assert_eq!(how, Protection::SealedMemfd);
    }

    #[test]
    fn the_shim_next_to_berth_is_preferred() {
        let d = tempfile::tempdir().unwrap();
        let berth = d.path().join("berth");
        std::fs::write(&berth, b"big").unwrap();
        assert_eq!(shim_next_to(&berth), None);
        let rt = RuntimeBinary::seal(&berth, Path::new("/proc"));
        assert_eq!(rt.source, berth);
        assert_eq!(rt.prefix, [OsString::from("runtime")]);
        assert!(rt.is_sealed());
        let shim = d.path().join(SHIM_NAME);
        std::fs::write(&shim, b"small").unwrap();
        assert_eq!(shim_next_to(&berth), Some(shim.clone()));
        assert_eq!(shim_next_to(&shim), None);
        let rt = RuntimeBinary::seal(&berth, Path::new("/proc"));
        assert_eq!(rt.source, shim);
        assert!(rt.prefix.is_empty());
    }

    #[test]
    fn the_sealed_copy_runs_and_sees_itself_sealed() {
        // A script would be run through its interpreter; copy a real binary instead.
        let d = tempfile::tempdir().unwrap();
        let berth = d.path().join("berth");
        std::fs::write(&berth, b"big").unwrap();
        std::fs::copy("/bin/cat", d.path().join(SHIM_NAME)).unwrap();
        let rt = RuntimeBinary::seal(&berth, Path::new("/proc"));
        assert!(rt.is_sealed() && rt.prefix.is_empty());
        let mut cmd = rt.command();
        // `cat /proc/self/exe` would read itself: check that what runs is the memfd instead.
        let out = cmd.arg("/proc/self/maps").output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let maps = String::from_utf8_lossy(&out.stdout);
        assert!(maps.contains("/memfd:berth-runtime"), "{maps}");
    }
}

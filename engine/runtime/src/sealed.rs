//! Re-executes the runtime from a sealed in-memory copy of its own binary before it clones a
//! container init, so that nothing in the container can reach the host binary through
//! `/proc/<pid>/exe` and overwrite it (CVE-2019-5736): the copy is a memfd sealed against
//! writes, and it is what `/proc/<pid>/exe` of the init points at until the user's `execve`.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;

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

/// True when the running binary is already a write-sealed memfd.
pub fn running_sealed() -> bool {
    let Ok(exe) = File::open("/proc/self/exe") else {
        return false;
    };
    // SAFETY: F_GET_SEALS only reads the seals of a descriptor we own.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & libc::F_SEAL_WRITE != 0
}

/// Unless already running from a sealed copy, copies `/proc/self/exe` into a sealed memfd and
/// `fexecve`s it with `args` and the current environment. Returns only on error or when sealed.
pub fn ensure_sealed(args: &[OsString]) -> Result<(), SealError> {
    if running_sealed() {
        return Ok(());
    }
    let name = c"berth-runtime";
    // SAFETY: memfd_create with a valid C string; the returned descriptor is owned below.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(err("memfd_create")(std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    let mut memfd = unsafe { File::from_raw_fd(fd) };
    let mut exe = File::open("/proc/self/exe").map_err(err("open /proc/self/exe"))?;
    std::io::copy(&mut exe, &mut memfd).map_err(err("copy"))?;
    // SAFETY: F_ADD_SEALS on our own memfd.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(err("seal")(std::io::Error::last_os_error()));
    }
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
    let e = nix::unistd::fexecve(&memfd, &argv, &envp).unwrap_err();
    Err(err("fexecve")(std::io::Error::from_raw_os_error(e as i32)))
}

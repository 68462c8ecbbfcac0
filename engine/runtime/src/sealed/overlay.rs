//! The zero-copy way to run the runtime from a binary no container can write to (what runc
//! 1.2 does before falling back to a memfd copy): the binary's directory becomes the top lower
//! layer of a private overlay mount that has two lower layers and no upper one. Such an
//! overlay is read-only for good (no option makes it writable: it has no layer to write to),
//! it is never attached to any mount table (`fsmount` only returns a descriptor), and the
//! binary opened through it is what `/proc/<pid>/exe` names once it is executed. Opening that
//! link for writing fails with `EROFS`, so a container process that holds it cannot reach the
//! host binary (CVE-2019-5736), and nothing is copied. It needs `fsopen` (Linux 5.2), overlay
//! and `CAP_SYS_ADMIN`; without them callers copy the binary into a sealed memfd instead.

use std::ffi::CString;
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use super::{SealError, err};

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

fn last_os_error(op: &'static str) -> SealError {
    err(op)(std::io::Error::last_os_error())
}

fn c_string(bytes: &[u8], op: &'static str) -> Result<CString, SealError> {
    CString::new(bytes)
        .map_err(|e| err(op)(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))
}

/// A lower directory as overlay's `lowerdir` option spells it: `\` and `:` escaped.
pub(super) fn escape_lower(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for b in dir.as_os_str().as_bytes() {
        if matches!(b, b'\\' | b':') {
            out.push(b'\\');
        }
        out.push(*b);
    }
    out
}

fn fsconfig_string(ctx: &OwnedFd, key: &str, value: &[u8]) -> Result<(), SealError> {
    let key = c_string(key.as_bytes(), "fsconfig")?;
    let value = c_string(value, "fsconfig")?;
    // SAFETY: fsconfig on a descriptor we own, with two NUL-terminated strings that outlive
    // the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(last_os_error("fsconfig")),
    }
}

/// Opens `binary` (an absolute path) through a private read-only overlay of its directory.
/// `spare` is an existing directory used as the second, bottom lower layer (overlay needs two
/// to mount without an upper layer); the binary's directory is on top, so nothing in `spare`
/// can stand in for it. The returned `O_PATH` descriptor is close-on-exec and can be executed
/// with `execveat(AT_EMPTY_PATH)` (`fexecve`).
pub fn open(binary: &Path, spare: &Path) -> Result<OwnedFd, SealError> {
    let binary = binary.canonicalize().map_err(err("resolve the binary"))?;
    let (Some(dir), Some(name)) = (binary.parent(), binary.file_name()) else {
        return Err(err("resolve the binary")(std::io::Error::from(
            std::io::ErrorKind::InvalidInput,
        )));
    };
    let source = std::fs::metadata(&binary).map_err(err("stat the binary"))?;
    let fstype = c"overlay";
    // SAFETY: fsopen with a NUL-terminated file system name; the descriptor is owned below.
    let ctx = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if ctx < 0 {
        return Err(last_os_error("fsopen overlay"));
    }
    // SAFETY: `ctx` is a fresh descriptor nothing else owns.
    let ctx = unsafe { OwnedFd::from_raw_fd(ctx as i32) };
    let mut lower = escape_lower(dir);
    lower.push(b':');
    lower.extend(escape_lower(spare));
    fsconfig_string(&ctx, "lowerdir", &lower)?;
    // Inode number mapping is of no use here and only logs when the layers' file systems
    // differ; kernels without the option keep their default.
    let _ = fsconfig_string(&ctx, "xino", b"off");
    // SAFETY: fsconfig's create command on our context takes no key nor value.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if rc != 0 {
        return Err(last_os_error("create the overlay"));
    }
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    // SAFETY: fsmount on our configured context; the descriptor is owned below.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    if mnt < 0 {
        return Err(last_os_error("fsmount"));
    }
    // SAFETY: `mnt` is a fresh descriptor nothing else owns.
    let mnt = unsafe { OwnedFd::from_raw_fd(mnt as i32) };
    let fd = nix::fcntl::openat(
        mnt.as_fd(),
        name,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| err("open the binary in the overlay")(std::io::Error::from(e)))?;
    // The overlay gives the file its own device and inode numbers; what must match is that
    // it is the same regular file (size, mode, change time).
    let seen = nix::sys::stat::fstat(fd.as_fd())
        .map_err(|e| err("stat the overlay's binary")(std::io::Error::from(e)))?;
    let same = u64::from(seen.st_mode) == u64::from(source.mode())
        && seen.st_size as u64 == source.size()
        && seen.st_ctime == source.ctime()
        && source.is_file();
    if !same {
        return Err(err("open the binary in the overlay")(
            std::io::Error::other("the overlay shows another file than the binary"),
        ));
    }
    Ok(fd)
}

/// The mount id of the file behind `fd` (`mnt_id` of `/proc/self/fdinfo/<fd>`).
fn mount_id(fd: &File) -> Option<u64> {
    let mut info = String::new();
    File::open(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .and_then(|mut f| f.read_to_string(&mut info))
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether mount `id` is in `mountinfo` (the text of `/proc/self/mountinfo`).
pub(super) fn listed(mountinfo: &str, id: u64) -> bool {
    mountinfo
        .lines()
        .any(|l| l.split(' ').next().and_then(|v| v.parse::<u64>().ok()) == Some(id))
}

/// True when `exe` is a file of a read-only overlay mount that is in no mount table: what
/// [`open`] makes (a process cannot reach such a mount except through descriptors).
pub fn is_private_read_only(exe: &File) -> bool {
    let overlay = nix::sys::statfs::fstatfs(exe)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC);
    let read_only = nix::sys::statvfs::fstatvfs(exe)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    if !overlay || !read_only {
        return false;
    }
    let Some(id) = mount_id(exe) else {
        return false;
    };
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| !listed(&m, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_dirs_are_escaped() {
        assert_eq!(escape_lower(Path::new("/usr/bin")), b"/usr/bin");
        assert_eq!(escape_lower(Path::new("/a:b\\c")), b"/a\\:b\\\\c");
    }

    #[test]
    fn mount_ids_are_found_by_their_first_field() {
        let info = "22 1 0:21 / /proc rw - proc proc rw\n\
                    123 22 0:5 / /dev rw - devtmpfs udev rw\n";
        assert!(listed(info, 22));
        assert!(listed(info, 123));
        assert!(!listed(info, 1));
        assert!(!listed(info, 12));
    }
}

//! The `local` driver's `driver_opts` (`type`, `device`, `o`, as `mount -t type -o o device`):
//! validated at create, turned into a [`LocalMount`] (the effect as data) and performed by a
//! [`Mounter`], the narrow port to `mount(2)` so the store's logic is testable without root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::error::{Result, VolumeError};

/// Keys the local driver accepts in `driver_opts`.
const KEYS: [&str; 4] = ["type", "device", "o", "size"];

/// A mount of a volume's device on its `_data` directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMount {
    /// Device, host path (bind) or pseudo-filesystem name.
    pub source: String,
    /// Where it goes: the volume's `_data`.
    pub target: PathBuf,
    /// Filesystem type (empty for a bind).
    pub fstype: String,
    /// Mount flags.
    pub flags: MsFlags,
    /// Filesystem data (`size=64m,uid=1000`).
    pub data: String,
}

/// Checks `driver_opts` of a local volume: known keys only, `device` needs `type` (and the
/// other way round), and a `bind` needs an absolute existing host path.
pub fn validate(name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
    let bad = |reason: String| VolumeError::InvalidOption {
        name: name.to_owned(),
        reason,
    };
    if let Some(k) = opts.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(bad(format!(
            "invalid option key: {k:?} (the local driver accepts type, device, o)"
        )));
    }
    let typ = opts.get("type").map_or("", String::as_str);
    let device = opts.get("device").map_or("", String::as_str);
    let o = opts.get("o").map_or("", String::as_str);
    if typ.is_empty() && !device.is_empty() || !typ.is_empty() && device.is_empty() {
        return Err(bad(
            "missing required option: the local driver needs both \"type\" and \"device\" (for example type=tmpfs device=tmpfs, or type=none device=/srv/data o=bind)".to_owned(),
        ));
    }
    if typ.is_empty() && !o.is_empty() {
        return Err(bad("option \"o\" needs \"type\" and \"device\"".to_owned()));
    }
    if is_bind(o) && !Path::new(device).is_absolute() {
        return Err(bad(format!(
            "bind device {device:?} must be an absolute host path"
        )));
    }
    Ok(())
}

fn is_bind(o: &str) -> bool {
    o.split(',').any(|x| x == "bind" || x == "rbind")
}

/// The mount a local volume with `opts` needs on `target`, or `None` for a plain directory.
pub fn plan(opts: &BTreeMap<String, String>, target: &Path) -> Option<LocalMount> {
    let typ = opts.get("type").map_or("", String::as_str);
    let device = opts.get("device").map_or("", String::as_str);
    if typ.is_empty() || device.is_empty() {
        return None;
    }
    let (mut flags, data) = split_options(opts.get("o").map_or("", String::as_str));
    let fstype = if flags.contains(MsFlags::MS_BIND) {
        String::new()
    } else {
        typ.to_owned()
    };
    if fstype.is_empty() {
        flags |= MsFlags::MS_BIND;
    }
    Some(LocalMount {
        source: device.to_owned(),
        target: target.to_owned(),
        fstype,
        flags,
        data,
    })
}

/// Splits `o` into mount flags and filesystem data, as mount(8) does.
pub fn split_options(o: &str) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        match opt {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => flags &= !MsFlags::MS_RDONLY,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "bind" => flags |= MsFlags::MS_BIND,
            "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
            "suid" | "dev" | "exec" | "defaults" | "async" => {}
            other => data.push(other),
        }
    }
    (flags, data.join(","))
}

/// The kernel effects of the local driver.
pub trait Mounter: Send + Sync + std::fmt::Debug {
    /// Performs `m`.
    fn mount(&self, m: &LocalMount) -> std::io::Result<()>;
    /// Detaches whatever is mounted on `target`.
    fn unmount(&self, target: &Path) -> std::io::Result<()>;
    /// True when something is mounted exactly on `target`.
    fn is_mounted(&self, target: &Path) -> std::io::Result<bool>;
}

/// [`Mounter`] over `mount(2)`, reading mount points from `<proc>/self/mountinfo`.
#[derive(Debug, Clone)]
pub struct KernelMounter {
    proc_root: PathBuf,
}

impl KernelMounter {
    /// A mounter that reads mount points under `proc_root` (normally `/proc`).
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        Self {
            proc_root: proc_root.into(),
        }
    }
}

impl Mounter for KernelMounter {
    fn mount(&self, m: &LocalMount) -> std::io::Result<()> {
        let data = (!m.data.is_empty()).then_some(m.data.as_str());
        let fstype = (!m.fstype.is_empty()).then_some(m.fstype.as_str());
        let base = m.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
        let first = if base.is_empty() { m.flags } else { base };
        nix::mount::mount(Some(m.source.as_str()), &m.target, fstype, first, data)?;
        let rest = m.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !base.is_empty() && !rest.is_empty() {
            let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rest;
            if let Err(e) =
                nix::mount::mount(None::<&str>, &m.target, None::<&str>, remount, None::<&str>)
            {
                let _ = nix::mount::umount2(&m.target, MntFlags::MNT_DETACH);
                return Err(e.into());
            }
        }
        Ok(())
    }

    fn unmount(&self, target: &Path) -> std::io::Result<()> {
        nix::mount::umount2(target, MntFlags::MNT_DETACH)?;
        Ok(())
    }

    fn is_mounted(&self, target: &Path) -> std::io::Result<bool> {
        let info = std::fs::read_to_string(self.proc_root.join("self/mountinfo"))?;
        Ok(mount_points(&info).any(|p| Path::new(&p) == target))
    }
}

/// Mount points listed in a mountinfo document (octal escapes decoded).
pub fn mount_points(mountinfo: &str) -> impl Iterator<Item = String> + '_ {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let n = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(n);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_validated_with_a_hint() {
        assert!(validate("v", &opts(&[])).is_ok());
        assert!(
            validate(
                "v",
                &opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")])
            )
            .is_ok()
        );
        let e = validate("v", &opts(&[("colour", "red")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid option key: \"colour\""), "{e}");
        let e = validate("v", &opts(&[("type", "tmpfs")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs both"), "{e}");
        let e = validate(
            "v",
            &opts(&[("type", "none"), ("device", "rel"), ("o", "bind")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("absolute"), "{e}");
    }

    #[test]
    fn plans_tmpfs_and_bind_mounts() {
        let t = Path::new("/v/_data");
        let m = plan(
            &opts(&[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m,uid=7,ro"),
            ]),
            t,
        )
        .unwrap();
        assert_eq!(
            (m.source.as_str(), m.fstype.as_str(), m.data.as_str()),
            ("tmpfs", "tmpfs", "size=1m,uid=7")
        );
        assert_eq!(m.flags, MsFlags::MS_RDONLY);
        let m = plan(
            &opts(&[("type", "none"), ("device", "/srv"), ("o", "bind")]),
            t,
        )
        .unwrap();
        assert!(m.flags.contains(MsFlags::MS_BIND) && m.fstype.is_empty());
        assert!(plan(&opts(&[]), t).is_none());
    }

    #[test]
    fn mountinfo_points_are_unescaped() {
        let info = "36 35 98:0 / /mnt/a\\040b rw - ext3 /dev/root rw\n";
        assert_eq!(mount_points(info).collect::<Vec<_>>(), ["/mnt/a b"]);
    }
}

//! Making a distribution root filesystem with `debootstrap`: the validated request, the exact
//! command line (as data, so it is tested without running anything), the clean-up that strips
//! package caches, logs and host files from the tree, and a guard that removes a tree (after
//! unmounting whatever a failed debootstrap left mounted inside it) unless it is kept.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

/// The mirror used when none is given.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// The suite used when none is given.
pub const DEFAULT_SUITE: &str = "bookworm";
/// debootstrap's package-set variants berth accepts.
pub const VARIANTS: [&str; 3] = ["minbase", "buildd", "fakechroot"];

/// A validated debootstrap request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Debian suite or codename (`bookworm`, `stable`, …).
    pub suite: String,
    /// Package mirror URL.
    pub mirror: String,
    /// debootstrap variant; `None` is debootstrap's default set (required + important).
    pub variant: Option<String>,
    /// Extra packages.
    pub include: Vec<String>,
}

fn is_package_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(c))
}

impl Request {
    /// Checks every field and says which one is wrong and how to fix it.
    pub fn new(
        suite: &str,
        mirror: &str,
        variant: Option<&str>,
        include: &[String],
    ) -> anyhow::Result<Request> {
        let suite_ok = !suite.is_empty()
            && suite
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if !suite_ok {
            bail!(
                "--suite {suite:?} is not a suite name (hint: a codename such as bookworm or \
                 trixie, or stable/testing)"
            );
        }
        let scheme_ok = ["http://", "https://", "file:///"]
            .iter()
            .any(|s| mirror.len() > s.len() && mirror.starts_with(s));
        if !scheme_ok || mirror.chars().any(char::is_whitespace) {
            bail!(
                "--mirror {mirror:?} is not a mirror URL (hint: http://, https:// or file:/// \
                 followed by the archive root, e.g. {DEFAULT_MIRROR})"
            );
        }
        if let Some(v) = variant {
            if !VARIANTS.contains(&v) {
                bail!(
                    "--variant {v:?} is not a debootstrap variant (hint: one of {}; leave it out \
                     for debootstrap's default package set)",
                    VARIANTS.join(", ")
                );
            }
        }
        let mut packages: Vec<String> = Vec::new();
        for name in include.iter().flat_map(|s| s.split(',')).map(str::trim) {
            if name.is_empty() {
                continue;
            }
            if !is_package_name(name) {
                bail!(
                    "--include: {name:?} is not a Debian package name (hint: lower-case letters, \
                     digits and + - . separated by commas, e.g. --include curl,ca-certificates)"
                );
            }
            if !packages.iter().any(|p| p == name) {
                packages.push(name.to_owned());
            }
        }
        packages.sort();
        Ok(Request {
            suite: suite.to_owned(),
            mirror: mirror.trim_end_matches('/').to_owned(),
            variant: variant.map(str::to_owned),
            include: packages,
        })
    }

    /// The `debootstrap` arguments that build this request into `target`.
    pub fn argv(&self, target: &Path) -> Vec<OsString> {
        let mut argv: Vec<OsString> = Vec::new();
        if let Some(v) = &self.variant {
            argv.push(format!("--variant={v}").into());
        }
        if !self.include.is_empty() {
            argv.push(format!("--include={}", self.include.join(",")).into());
        }
        argv.push(self.suite.clone().into());
        argv.push(target.as_os_str().to_owned());
        argv.push(self.mirror.clone().into());
        argv
    }

    /// A cache directory name: the suite and variant (readable) plus a hash of every field.
    pub fn cache_key(&self) -> String {
        let mut hash = Sha256::new();
        for part in [&self.suite, &self.mirror] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hash.update(self.variant.as_deref().unwrap_or("").as_bytes());
        hash.update([0]);
        hash.update(self.include.join(",").as_bytes());
        let digest = hash.finalize();
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{hex}",
            self.suite,
            self.variant.as_deref().unwrap_or("default")
        )
    }
}

/// Directories whose contents are removed from a fresh tree: package caches and lists, logs and
/// temporary files (what the official Debian images leave out).
pub const EMPTIED_DIRS: [&str; 5] = [
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/log",
    "tmp",
    "var/tmp",
];

/// Files emptied because they hold the build host's own settings (the engine mounts its own).
pub const EMPTIED_FILES: [&str; 2] = ["etc/resolv.conf", "etc/hostname"];

/// Strips `root` of caches, logs and host files. Directories are kept (empty), so packages
/// that expect them still work.
pub fn clean(root: &Path) -> anyhow::Result<()> {
    for dir in EMPTIED_DIRS {
        let dir = root.join(dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries {
            let path = entry
                .with_context(|| format!("reading {}", dir.display()))?
                .path();
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            if meta.is_dir() {
                remove_children(&path)?;
            } else {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
    }
    for file in EMPTIED_FILES {
        let path = root.join(file);
        let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        if is_file {
            std::fs::write(&path, b"").with_context(|| format!("emptying {}", path.display()))?;
        }
    }
    Ok(())
}

/// Removes what is inside `dir` except sub-directories, which are emptied in turn (apt expects
/// `var/cache/apt/archives/partial` and `var/lib/apt/lists/partial` to exist).
fn remove_children(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            remove_children(&path)?;
        } else {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Mount points at or under `root` in a `/proc/self/mountinfo` text, deepest first.
pub fn mounts_under(mountinfo: &str, root: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(unescape_mount_path)
        .filter(|p| p.starts_with(root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    points.dedup();
    points
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&out),
    ))
}

/// A tree that is removed when dropped unless [`TreeGuard::keep`] is called. Anything mounted
/// inside it (`proc`, `sys`, bind-mounted devices of an interrupted debootstrap) is unmounted
/// first, so removal never reaches into the host's filesystems.
pub struct TreeGuard {
    path: PathBuf,
    mountinfo: PathBuf,
    keep: bool,
}

impl TreeGuard {
    /// Guards `path`; `mountinfo` is the mount table to consult (`/proc/self/mountinfo`).
    pub fn new(path: PathBuf, mountinfo: PathBuf) -> TreeGuard {
        TreeGuard {
            path,
            mountinfo,
            keep: false,
        }
    }

    /// The guarded path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the tree: dropping the guard no longer removes it.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }

    /// Unmounts everything under the tree; returns the mount points that would not go.
    pub fn unmount_all(&self) -> Vec<PathBuf> {
        let table = std::fs::read_to_string(&self.mountinfo).unwrap_or_default();
        mounts_under(&table, &self.path)
            .into_iter()
            .filter(|p| nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH).is_err())
            .collect()
    }
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let stuck = self.unmount_all();
        if !stuck.is_empty() {
            eprintln!(
                "warning: leaving {} in place: cannot unmount {:?}",
                self.path.display(),
                stuck
            );
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("warning: cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(variant: Option<&str>, include: &[&str]) -> anyhow::Result<Request> {
        let include: Vec<String> = include.iter().map(|s| (*s).to_owned()).collect();
        Request::new(DEFAULT_SUITE, DEFAULT_MIRROR, variant, &include)
    }

    #[test]
    fn argv_is_debootstraps_command_line() {
        let r = req(Some("minbase"), &["curl,ca-certificates", "curl"]).expect("valid");
        let argv: Vec<String> = r
            .argv(Path::new("/tmp/t"))
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect();
        assert_eq!(
            argv,
            [
                "--variant=minbase",
                "--include=ca-certificates,curl",
                "bookworm",
                "/tmp/t",
                "http://deb.debian.org/debian",
            ]
        );
        let plain = req(None, &[]).expect("valid");
        assert_eq!(plain.argv(Path::new("/t")).len(), 3);
    }

    #[test]
    fn bad_inputs_name_the_flag_and_give_a_hint() {
        let cases: [(&str, &str, Option<&str>, &[&str], &str); 5] = [
            ("Bookworm!", DEFAULT_MIRROR, None, &[], "--suite"),
            ("bookworm", "ftp://x/debian", None, &[], "--mirror"),
            ("bookworm", "http://", None, &[], "--mirror"),
            ("bookworm", DEFAULT_MIRROR, Some("tiny"), &[], "--variant"),
            ("bookworm", DEFAULT_MIRROR, None, &["curl;rm"], "--include"),
        ];
        for (suite, mirror, variant, include, flag) in cases {
            let include: Vec<String> = include.iter().map(|s| (*s).to_owned()).collect();
            let err = Request::new(suite, mirror, variant, &include).expect_err(flag);
            let text = format!("{err:#}");
            assert!(
                text.contains(flag) && text.contains("hint"),
                "{flag}: {text}"
            );
        }
    }

    #[test]
    fn cache_key_is_readable_and_changes_with_every_field() {
        let a = req(Some("minbase"), &[]).expect("valid");
        assert!(
            a.cache_key().starts_with("bookworm-minbase-"),
            "{}",
            a.cache_key()
        );
        let b = req(Some("minbase"), &["curl"]).expect("valid");
        let c = req(None, &[]).expect("valid");
        let d = Request::new("trixie", DEFAULT_MIRROR, Some("minbase"), &[]).expect("valid");
        let e = Request::new("bookworm", "http://m/debian", Some("minbase"), &[]).expect("valid");
        let keys = [&a, &b, &c, &d, &e].map(Request::cache_key);
        for (i, k) in keys.iter().enumerate() {
            for other in &keys[i + 1..] {
                assert_ne!(k, other);
            }
        }
        assert_eq!(
            a.cache_key(),
            req(Some("minbase"), &[]).expect("valid").cache_key()
        );
    }

    #[test]
    fn clean_empties_caches_logs_and_host_files_but_keeps_dirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in [
            "var/cache/apt/archives/partial",
            "var/lib/apt/lists/partial",
            "var/log/apt",
            "etc",
            "usr/bin",
        ] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        for (f, body) in [
            ("var/cache/apt/pkgcache.bin", "x"),
            ("var/cache/apt/archives/bash.deb", "x"),
            ("var/lib/apt/lists/deb.debian.org_Packages", "x"),
            ("var/log/dpkg.log", "x"),
            ("var/log/apt/history.log", "x"),
            ("etc/resolv.conf", "nameserver 192.0.2.1\n"),
            ("etc/hostname", "buildhost\n"),
            ("usr/bin/bash", "keep"),
        ] {
            std::fs::write(root.join(f), body).expect("write");
        }
        clean(root).expect("clean");
        for gone in [
            "var/cache/apt/pkgcache.bin",
            "var/cache/apt/archives/bash.deb",
            "var/lib/apt/lists/deb.debian.org_Packages",
            "var/log/dpkg.log",
            "var/log/apt/history.log",
        ] {
            assert!(!root.join(gone).exists(), "{gone} survived");
        }
        for kept in [
            "var/cache/apt/archives/partial",
            "var/lib/apt/lists/partial",
            "var/log/apt",
        ] {
            assert!(root.join(kept).is_dir(), "{kept} was removed");
        }
        assert_eq!(
            std::fs::read_to_string(root.join("etc/resolv.conf")).expect("read"),
            ""
        );
        assert_eq!(
            std::fs::read_to_string(root.join("usr/bin/bash")).expect("read"),
            "keep"
        );
    }

    #[test]
    fn mounts_under_picks_the_tree_deepest_first_and_unescapes() {
        let table = "\
22 1 8:1 / / rw - ext4 /dev/vda rw
30 22 0:5 / /tmp/boot rw - tmpfs tmpfs rw
31 30 0:6 / /tmp/boot/proc rw - proc proc rw
32 30 0:7 / /tmp/boot/dev/pts rw - devpts devpts rw
33 22 0:8 / /tmp/bootstrap rw - tmpfs tmpfs rw
34 30 0:9 / /tmp/boot/with\\040space rw - tmpfs tmpfs rw
";
        let points = mounts_under(table, Path::new("/tmp/boot"));
        assert_eq!(
            points,
            [
                PathBuf::from("/tmp/boot/with space"),
                PathBuf::from("/tmp/boot/dev/pts"),
                PathBuf::from("/tmp/boot/proc"),
                PathBuf::from("/tmp/boot"),
            ]
        );
    }

    #[test]
    fn guard_removes_the_tree_unless_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mountinfo = dir.path().join("mountinfo");
        std::fs::write(&mountinfo, "").expect("write");
        let gone = dir.path().join("gone");
        std::fs::create_dir_all(gone.join("etc")).expect("mkdir");
        drop(TreeGuard::new(gone.clone(), mountinfo.clone()));
        assert!(!gone.exists());
        let kept = dir.path().join("kept");
        std::fs::create_dir_all(&kept).expect("mkdir");
        let path = TreeGuard::new(kept.clone(), mountinfo).keep();
        assert_eq!(path, kept);
        assert!(kept.exists());
    }
}

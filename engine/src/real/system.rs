//! Facts about the host for `GET /info` (cgroup version, kernel, operating system, CPUs,
//! memory), read from roots given as parameters and parsed by pure functions.

use std::path::Path;

use super::Paths;

/// Where the operating system describes itself.
pub const OS_RELEASE: &str = "/etc/os-release";

/// What `/info` reports about the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// `1` or `2`.
    pub cgroup_version: String,
    /// `uname -r`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of os-release.
    pub operating_system: String,
    /// Online CPUs.
    pub ncpu: i64,
    /// Total memory in bytes.
    pub mem_total: i64,
}

/// `2` when a unified hierarchy is mounted at `cgroup_root`, else `1`.
pub fn cgroup_version(cgroup_root: &Path) -> &'static str {
    if cgroup_root.join("cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

/// `MemTotal` of `/proc/meminfo` text, in bytes.
pub fn parse_meminfo(text: &str) -> Option<i64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: i64 = words.next()?.parse().ok()?;
    Some(match words.next() {
        Some("kB") | None => n * 1024,
        Some(_) => n,
    })
}

/// `PRETTY_NAME` of os-release text (quotes removed), or `NAME`, or `Linux`.
pub fn parse_os_release(text: &str) -> String {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_owned())
    };
    value("PRETTY_NAME")
        .or_else(|| value("NAME"))
        .unwrap_or_else(|| "Linux".to_owned())
}

/// Reads the host facts (`<proc>/meminfo`, [`OS_RELEASE`], uname, the cgroup root).
pub fn host_facts(paths: &Paths) -> HostFacts {
    let meminfo = std::fs::read_to_string(paths.proc_root.join("meminfo")).unwrap_or_default();
    let os = std::fs::read_to_string(OS_RELEASE).unwrap_or_default();
    HostFacts {
        cgroup_version: cgroup_version(&paths.cgroup_root).to_owned(),
        kernel_version: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        operating_system: parse_os_release(&os),
        ncpu: std::thread::available_parallelism().map_or(1, |n| n.get() as i64),
        mem_total: parse_meminfo(&meminfo).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_and_os_release_parse() {
        let mem = "MemTotal:       16314356 kB\nMemFree:         1000 kB\n";
        assert_eq!(parse_meminfo(mem), Some(16_314_356 * 1024));
        assert_eq!(parse_meminfo("nothing"), None);
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(parse_os_release(os), "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(parse_os_release("NAME=Alpine"), "Alpine");
        assert_eq!(parse_os_release(""), "Linux");
    }

    #[test]
    fn cgroup_version_follows_the_unified_marker() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cgroup_version(dir.path()), "1");
        std::fs::write(dir.path().join("cgroup.controllers"), "cpu memory").unwrap();
        assert_eq!(cgroup_version(dir.path()), "2");
    }
}

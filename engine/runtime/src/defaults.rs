//! Docker's runtime defaults, written down once so the spec generator and its tests agree with
//! `docker run` (moby `oci/defaults.go`, `oci/caps/defaults.go`, `daemon/oci_linux.go`).

/// The 14 capabilities every Docker container gets unless told otherwise.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// `CapEff` of a root process holding exactly [`DEFAULT_CAPABILITIES`].
pub const DEFAULT_CAP_MASK: u64 = 0x0000_0000_a804_25fb;

/// Paths hidden from the container (`/dev/null` over files, an empty read-only tmpfs over dirs).
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths bind-mounted read-only over themselves.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// `PATH` set when neither the image nor the user sets one.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Size of `/dev/shm` when `shm_size` is not given (64 MiB).
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// A default device node: path, type, major, minor, mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultDevice {
    /// Path inside the container.
    pub path: &'static str,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
}

/// Character devices created in every container's `/dev`.
pub const DEFAULT_DEVICES: [DefaultDevice; 6] = [
    DefaultDevice {
        path: "/dev/null",
        major: 1,
        minor: 3,
    },
    DefaultDevice {
        path: "/dev/zero",
        major: 1,
        minor: 5,
    },
    DefaultDevice {
        path: "/dev/full",
        major: 1,
        minor: 7,
    },
    DefaultDevice {
        path: "/dev/random",
        major: 1,
        minor: 8,
    },
    DefaultDevice {
        path: "/dev/urandom",
        major: 1,
        minor: 9,
    },
    DefaultDevice {
        path: "/dev/tty",
        major: 5,
        minor: 0,
    },
];

/// Device cgroup allow rules beyond the default devices: type, major, minor, access
/// (`None` is the `*` wildcard).
pub const DEFAULT_DEVICE_RULES: [(&str, Option<i64>, Option<i64>, &str); 5] = [
    ("c", None, None, "m"),
    ("b", None, None, "m"),
    ("c", Some(136), None, "rwm"),
    ("c", Some(5), Some(2), "rwm"),
    ("c", Some(10), Some(200), "rwm"),
];

/// Sysctls Docker sets in every container with its own network namespace.
pub const DEFAULT_NET_SYSCTLS: [(&str, &str); 2] = [
    ("net.ipv4.ip_unprivileged_port_start", "0"),
    ("net.ipv4.ping_group_range", "0 2147483647"),
];

/// Default `RLIMIT_NOFILE` (soft, hard), as Docker ≥ 25 gives containers.
pub const DEFAULT_NOFILE: (u64, u64) = (1024, 524_288);

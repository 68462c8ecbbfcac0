//! Generates the OCI runtime spec (`config.json`) of a container from its image config and the
//! user's options, with Docker's defaults: the engine calls [`generate`] and writes the result
//! into the bundle the runtime executes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{Value, json};

use crate::defaults::{
    DEFAULT_CAPABILITIES, DEFAULT_DEVICE_RULES, DEFAULT_DEVICES, DEFAULT_NET_SYSCTLS,
    DEFAULT_NOFILE, DEFAULT_PATH, DEFAULT_SHM_SIZE, MASKED_PATHS, READONLY_PATHS,
};
use crate::user::{self, UserError};

/// Errors of spec generation.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the image nor the options give a command.
    #[error("no command specified")]
    NoCommand,
    /// A capability name is not known.
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    /// An unknown ulimit name.
    #[error("unknown ulimit {0:?}")]
    UnknownUlimit(String),
    /// The user could not be resolved in the rootfs.
    #[error(transparent)]
    User(#[from] UserError),
    /// The generated document did not fit the OCI schema (a bug).
    #[error("generated spec is invalid: {0}")]
    Invalid(#[from] serde_json::Error),
    /// A device path could not be inspected.
    #[error("device {path}: {source}")]
    Device {
        /// Host path of the device.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The parts of an OCI image config the runtime spec needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env` (`KEY=value`).
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `User`.
    pub user: String,
}

/// A block device rate limit (`--device-read-bps` and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRate {
    /// Device major number.
    pub major: i64,
    /// Device minor number.
    pub minor: i64,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// A host device made available in the container (`--device`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    /// Path inside the container.
    pub container_path: String,
    /// `c` or `b`.
    pub kind: char,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// File mode bits of the node.
    pub file_mode: u32,
    /// Cgroup access (`rwm` by default).
    pub permissions: String,
}

impl DeviceMapping {
    /// Inspects a host device node.
    pub fn from_host(host: &Path, container: &str, permissions: &str) -> Result<Self, SpecError> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let err = |source| SpecError::Device {
            path: host.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(host).map_err(err)?;
        let kind = if meta.file_type().is_block_device() {
            'b'
        } else {
            'c'
        };
        let rdev = meta.rdev();
        Ok(Self {
            container_path: container.to_string(),
            kind,
            major: libc::major(rdev) as i64,
            minor: libc::minor(rdev) as i64,
            file_mode: meta.mode() & 0o7777,
            permissions: permissions.to_string(),
        })
    }
}

/// A bind mount (`-v /host:/ctr:ro`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Host path.
    pub source: PathBuf,
    /// Path inside the container.
    pub destination: String,
    /// Mount read-only.
    pub read_only: bool,
}

/// A `--ulimit name=soft:hard`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// Docker's name (`nofile`, `nproc`, `core`, ...).
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Everything that decides a container's runtime spec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerConfig {
    /// Root filesystem (absolute host path).
    pub rootfs: PathBuf,
    /// The image's config.
    pub image: ImageConfig,
    /// Overrides the image's `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// Overrides the image's `Cmd`.
    pub command: Option<Vec<String>>,
    /// Container hostname.
    pub hostname: String,
    /// Container NIS domain name.
    pub domainname: String,
    /// Extra environment (`KEY=value`), overriding the image's.
    pub env: Vec<String>,
    /// Overrides the image's user.
    pub user: Option<String>,
    /// Overrides the image's working directory.
    pub workdir: Option<String>,
    /// `--cap-add` (with or without `CAP_`, or `ALL`).
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--read-only`.
    pub read_only: bool,
    /// `--memory` in bytes.
    pub memory: Option<i64>,
    /// `--memory-swap` (memory + swap) in bytes, -1 unlimited.
    pub memory_swap: Option<i64>,
    /// `--memory-reservation` in bytes.
    pub memory_reservation: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--cpu-quota` in microseconds per period (takes precedence over `cpus`).
    pub cpu_quota: Option<i64>,
    /// `--cpu-period` in microseconds (100 ms by default).
    pub cpu_period: Option<u64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--blkio-weight` (10..1000).
    pub blkio_weight: Option<u16>,
    /// `--device-read-bps`.
    pub device_read_bps: Vec<DeviceRate>,
    /// `--device-write-bps`.
    pub device_write_bps: Vec<DeviceRate>,
    /// `--device-read-iops`.
    pub device_read_iops: Vec<DeviceRate>,
    /// `--device-write-iops`.
    pub device_write_iops: Vec<DeviceRate>,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `--sysctl`.
    pub sysctls: BTreeMap<String, String>,
    /// `--shm-size` in bytes.
    pub shm_size: Option<u64>,
    /// `--device`.
    pub devices: Vec<DeviceMapping>,
    /// `--tmpfs path[:options]`: (path, options).
    pub tmpfs: Vec<(String, String)>,
    /// `-v` bind mounts.
    pub binds: Vec<BindMount>,
    /// `--init`: host path of the init binary (Docker uses tini as `docker-init`).
    pub init: Option<PathBuf>,
    /// `--tty`.
    pub tty: bool,
    /// The terminal's `(height, width)` at start (`process.consoleSize`), with `tty`.
    pub console_size: Option<(u32, u32)>,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i32>,
    /// `--group-add`: extra groups (names from the rootfs' `/etc/group`, or ids).
    pub group_add: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// `--security-opt seccomp=unconfined`.
    pub seccomp_unconfined: bool,
    /// Join this network namespace (a bind-mounted handle) instead of creating one.
    pub netns_path: Option<PathBuf>,
}

fn canonical_cap(name: &str) -> Result<String, SpecError> {
    let up = name.to_ascii_uppercase();
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    full.parse::<caps::Capability>()
        .map(|_| full.clone())
        .map_err(|_| SpecError::UnknownCapability(name.to_string()))
}

/// Docker's capability arithmetic: defaults, then drops, then adds (`ALL` allowed on both).
pub fn capabilities(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
) -> Result<BTreeSet<String>, SpecError> {
    let all = || {
        caps::all()
            .into_iter()
            .map(|c| c.to_string())
            .collect::<BTreeSet<_>>()
    };
    if privileged {
        return Ok(all());
    }
    let is_all = |v: &[String]| v.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    let mut set: BTreeSet<String> = if is_all(cap_drop) {
        BTreeSet::new()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    for c in cap_drop.iter().filter(|c| !c.eq_ignore_ascii_case("ALL")) {
        set.remove(&canonical_cap(c)?);
    }
    if is_all(cap_add) {
        set.extend(all());
    }
    for c in cap_add.iter().filter(|c| !c.eq_ignore_ascii_case("ALL")) {
        set.insert(canonical_cap(c)?);
    }
    Ok(set)
}

fn rlimit_type(name: &str) -> Result<String, SpecError> {
    const KNOWN: [&str; 16] = [
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    if KNOWN.contains(&name) {
        Ok(format!("RLIMIT_{}", name.to_ascii_uppercase()))
    } else {
        Err(SpecError::UnknownUlimit(name.to_string()))
    }
}

/// Merges `KEY=value` lists: later lists override earlier keys, order of first appearance kept.
fn merge_env(lists: &[&[String]]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in lists {
        for kv in *list {
            let key = kv.split('=').next().unwrap_or_default();
            match out.iter_mut().find(|e| e.split('=').next() == Some(key)) {
                Some(e) => *e = kv.clone(),
                None => out.push(kv.clone()),
            }
        }
    }
    out
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": source, "options": options})
}

fn default_mounts(cfg: &ContainerConfig) -> Vec<Value> {
    let sys_mode = if cfg.privileged { "rw" } else { "ro" };
    let shm = format!("size={}", cfg.shm_size.unwrap_or(DEFAULT_SHM_SIZE));
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_mode],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[sys_mode, "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm],
        ),
    ];
    for (path, opts) in &cfg.tmpfs {
        let mut o = vec!["nosuid", "nodev", "noexec"];
        o.extend(opts.split(',').filter(|s| !s.is_empty()));
        mounts.push(mount(path, "tmpfs", "tmpfs", &o));
    }
    for b in &cfg.binds {
        let src = b.source.to_string_lossy();
        let ro = if b.read_only { "ro" } else { "rw" };
        mounts.push(mount(
            &b.destination,
            "bind",
            &src,
            &["rbind", ro, "rprivate"],
        ));
    }
    if let Some(init) = &cfg.init {
        let src = init.to_string_lossy();
        mounts.push(mount("/sbin/docker-init", "bind", &src, &["bind", "ro"]));
    }
    mounts
}

fn devices_and_rules(cfg: &ContainerConfig) -> (Vec<Value>, Vec<Value>) {
    let mut devices: Vec<Value> = DEFAULT_DEVICES
        .iter()
        .map(|d| {
            json!({"path": d.path, "type": "c", "major": d.major, "minor": d.minor,
                   "fileMode": 0o666, "uid": 0, "gid": 0})
        })
        .collect();
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    if cfg.privileged {
        rules = vec![json!({"allow": true, "access": "rwm"})];
    }
    for (typ, major, minor, access) in DEFAULT_DEVICE_RULES {
        rules.push(
            json!({"allow": true, "type": typ, "major": major, "minor": minor,
                          "access": access}),
        );
    }
    for d in DEFAULT_DEVICES {
        rules.push(
            json!({"allow": true, "type": "c", "major": d.major, "minor": d.minor,
                          "access": "rwm"}),
        );
    }
    for d in &cfg.devices {
        let typ = d.kind.to_string();
        devices.push(
            json!({"path": d.container_path, "type": typ, "major": d.major,
                            "minor": d.minor, "fileMode": d.file_mode, "uid": 0, "gid": 0}),
        );
        rules.push(
            json!({"allow": true, "type": typ, "major": d.major, "minor": d.minor,
                          "access": d.permissions}),
        );
    }
    (devices, rules)
}

fn resources(cfg: &ContainerConfig, device_rules: Vec<Value>) -> Value {
    let rates = |v: &[DeviceRate]| -> Vec<Value> {
        v.iter()
            .map(|r| json!({"major": r.major, "minor": r.minor, "rate": r.rate}))
            .collect()
    };
    let mut memory = serde_json::Map::new();
    if let Some(m) = cfg.memory {
        memory.insert("limit".into(), json!(m));
        // Docker: without --memory-swap, swap is as large as memory (memory+swap = 2x).
        let swap = cfg.memory_swap.unwrap_or(m * 2);
        memory.insert("swap".into(), json!(swap));
    }
    if let Some(r) = cfg.memory_reservation {
        memory.insert("reservation".into(), json!(r));
    }
    let mut cpu = serde_json::Map::new();
    let period = cfg.cpu_period.unwrap_or(100_000);
    if let Some(q) = cfg.cpu_quota {
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(q));
    } else if let Some(cpus) = cfg.cpus {
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!((cpus * period as f64).round() as i64));
    } else if let Some(p) = cfg.cpu_period {
        cpu.insert("period".into(), json!(p));
    }
    if let Some(s) = cfg.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(c) = &cfg.cpuset_cpus {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = &cfg.cpuset_mems {
        cpu.insert("mems".into(), json!(m));
    }
    let mut res = json!({"devices": device_rules, "memory": memory, "cpu": cpu});
    if let Some(p) = cfg.pids_limit {
        res["pids"] = json!({"limit": p});
    }
    let mut blkio = serde_json::Map::new();
    if let Some(w) = cfg.blkio_weight {
        blkio.insert("weight".into(), json!(w));
    }
    for (key, list) in [
        ("throttleReadBpsDevice", &cfg.device_read_bps),
        ("throttleWriteBpsDevice", &cfg.device_write_bps),
        ("throttleReadIOPSDevice", &cfg.device_read_iops),
        ("throttleWriteIOPSDevice", &cfg.device_write_iops),
    ] {
        if !list.is_empty() {
            blkio.insert(key.into(), json!(rates(list)));
        }
    }
    if !blkio.is_empty() {
        res["blockIO"] = Value::Object(blkio);
    }
    res
}

/// Builds the runtime spec for `cfg` (reads the rootfs' `/etc/passwd` and `/etc/group`).
pub fn generate(cfg: &ContainerConfig) -> Result<Spec, SpecError> {
    let ent = cfg.entrypoint.as_ref().unwrap_or(&cfg.image.entrypoint);
    let cmd = match (&cfg.entrypoint, &cfg.command) {
        (_, Some(c)) => c.clone(),
        // Docker: overriding the entrypoint drops the image's Cmd.
        (Some(_), None) => Vec::new(),
        (None, None) => cfg.image.cmd.clone(),
    };
    let mut args: Vec<String> = ent.iter().chain(cmd.iter()).cloned().collect();
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    if cfg.init.is_some() {
        args.splice(0..0, ["/sbin/docker-init".to_string(), "--".to_string()]);
    }
    let user_spec = cfg.user.clone().unwrap_or_else(|| cfg.image.user.clone());
    let mut user = user::resolve_in_rootfs(&user_spec, &cfg.rootfs)?;
    if !cfg.group_add.is_empty() {
        let groups = std::fs::read_to_string(cfg.rootfs.join("etc/group")).unwrap_or_default();
        for g in user::resolve_groups(&cfg.group_add, &groups)? {
            if !user.additional_gids.contains(&g) {
                user.additional_gids.push(g);
            }
        }
    }
    let mut base = vec![
        DEFAULT_PATH.to_string(),
        format!("HOSTNAME={}", cfg.hostname),
    ];
    if cfg.tty {
        base.push("TERM=xterm".into());
    }
    let mut env = merge_env(&[&base, &cfg.image.env, &cfg.env]);
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!(
            "HOME={}",
            user.home.clone().unwrap_or_else(|| "/".into())
        ));
    }
    let cwd = cfg.workdir.clone().filter(|w| !w.is_empty());
    let cwd = cwd.unwrap_or_else(|| cfg.image.working_dir.clone());
    let cwd = if cwd.is_empty() { "/".to_string() } else { cwd };

    let caps = capabilities(&cfg.cap_add, &cfg.cap_drop, cfg.privileged)?;
    let mut rlimits =
        vec![json!({"type": "RLIMIT_NOFILE", "soft": DEFAULT_NOFILE.0, "hard": DEFAULT_NOFILE.1})];
    for u in &cfg.ulimits {
        let typ = rlimit_type(&u.name)?;
        rlimits.retain(|r| r["type"] != typ.as_str());
        rlimits.push(json!({"type": typ, "soft": u.soft, "hard": u.hard}));
    }
    let mut sysctl: BTreeMap<String, String> = BTreeMap::new();
    if cfg.netns_path.is_none() {
        for (k, v) in DEFAULT_NET_SYSCTLS {
            sysctl.insert(k.into(), v.into());
        }
    }
    sysctl.extend(cfg.sysctls.clone());
    let (devices, device_rules) = devices_and_rules(cfg);
    let mut namespaces: Vec<Value> = ["pid", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .map(|t| json!({"type": t}))
        .collect();
    namespaces.push(match &cfg.netns_path {
        Some(p) => json!({"type": "network", "path": p}),
        None => json!({"type": "network"}),
    });
    let mut linux = json!({
        "namespaces": namespaces,
        "devices": devices,
        "resources": resources(cfg, device_rules),
        "sysctl": sysctl,
    });
    if !cfg.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if !cfg.privileged && !cfg.seccomp_unconfined {
        linux["seccomp"] = crate::seccomp::docker_default(&caps);
    }
    let mut process = json!({
        "terminal": cfg.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits,
        "noNewPrivileges": cfg.no_new_privileges,
    });
    if let Some(adj) = cfg.oom_score_adj {
        process["oomScoreAdj"] = json!(adj);
    }
    if let (true, Some((height, width))) = (cfg.tty, cfg.console_size) {
        process["consoleSize"] = json!({"height": height, "width": width});
    }
    let mut doc = json!({
        "ociVersion": "1.0.2",
        "root": {"path": cfg.rootfs, "readonly": cfg.read_only},
        "hostname": cfg.hostname,
        "mounts": default_mounts(cfg),
        "process": process,
        "linux": linux,
    });
    if !cfg.domainname.is_empty() {
        doc["domainname"] = json!(cfg.domainname);
    }
    Ok(serde_json::from_value(doc)?)
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;

//! Turns the resource and security part of a create request's `HostConfig` into the runtime's
//! [`ContainerConfig`]: memory, CPU, cpuset, pids, block I/O, ulimits, devices, sysctls
//! (namespaced ones only), security options, OOM score, `init`, `/dev/shm` size and extra
//! groups. Every value that cannot be honoured is refused with a message naming it.

use std::path::{Path, PathBuf};

use berth_runtime::spec::{ContainerConfig, DeviceMapping, DeviceRate, Ulimit};

use crate::api::models::{HostConfig, ThrottleDevice};
use crate::backend::{BackendError, BackendResult};

/// Where an init binary for `--init` is looked for on the host (Docker ships tini as
/// `docker-init`); it is bind-mounted read-only at `/sbin/docker-init`.
const INIT_CANDIDATES: [&str; 4] = [
    "/usr/bin/docker-init",
    "/usr/libexec/docker/docker-init",
    "/usr/bin/tini-static",
    "/usr/bin/tini",
];

/// Sysctls of the IPC namespace that a container may set.
const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

fn invalid(message: String) -> BackendError {
    BackendError::invalid(message)
}

/// Decides whether `key` belongs to a namespace the container owns (Docker's and runc's rule).
pub(super) fn check_sysctl(key: &str, host_network: bool) -> BackendResult<()> {
    if IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        return Ok(());
    }
    if key.starts_with("net.") {
        if host_network {
            return Err(invalid(format!(
                "sysctl {key:?} is not allowed in host network namespace"
            )));
        }
        return Ok(());
    }
    Err(invalid(format!(
        "sysctl {key:?} is not in a separate kernel namespace"
    )))
}

/// What the security options ask for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct SecurityOpts {
    pub(super) no_new_privileges: bool,
    pub(super) seccomp_unconfined: bool,
    pub(super) warnings: Vec<String>,
}

/// Parses `--security-opt` values (`key=value` or the legacy `key:value`).
pub(super) fn security_opts(opts: &[String]) -> BackendResult<SecurityOpts> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        match (key, value) {
            ("no-new-privileges", None | Some("true")) => out.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => out.no_new_privileges = false,
            ("seccomp", Some("unconfined")) => out.seccomp_unconfined = true,
            ("seccomp", Some(_)) => {
                return Err(invalid(
                    "custom seccomp profiles are not supported yet (use seccomp=unconfined or the default)"
                        .to_owned(),
                ));
            }
            ("apparmor" | "label", Some(_)) => out.warnings.push(format!(
                "security option {opt:?} is ignored (no LSM support)"
            )),
            _ => return Err(invalid(format!("invalid --security-opt: {opt:?}"))),
        }
    }
    Ok(out)
}

fn block_device(path: &str) -> BackendResult<(i64, i64)> {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let meta =
        std::fs::metadata(path).map_err(|e| invalid(format!("block device {path:?}: {e}")))?;
    if !meta.file_type().is_block_device() {
        return Err(invalid(format!("{path:?} is not a block device")));
    }
    let rdev = meta.rdev();
    Ok((libc::major(rdev) as i64, libc::minor(rdev) as i64))
}

fn rates(list: &[ThrottleDevice]) -> BackendResult<Vec<DeviceRate>> {
    list.iter()
        .map(|t| {
            let (major, minor) = block_device(&t.path)?;
            Ok(DeviceRate {
                major,
                minor,
                rate: t.rate,
            })
        })
        .collect()
}

/// The host's init binary for `--init`.
fn find_init(candidates: &[&str]) -> BackendResult<PathBuf> {
    candidates
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.to_path_buf()))
        .ok_or_else(|| {
            invalid(
                "--init needs docker-init or tini on the host (apt-get install tini)".to_owned(),
            )
        })
}

/// Applies `h` to `cfg`; returns warnings for options accepted but not applied.
pub(super) fn apply(
    cfg: &mut ContainerConfig,
    h: &HostConfig,
    host_network: bool,
) -> BackendResult<Vec<String>> {
    let r = &h.resources;
    let positive = |v: i64| (v > 0).then_some(v);
    cfg.memory = positive(h.memory);
    cfg.memory_reservation = positive(r.memory_reservation);
    cfg.memory_swap = match r.memory_swap {
        0 => None,
        -1 => Some(-1),
        v if v > 0 && h.memory > 0 && v < h.memory => {
            return Err(invalid(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        v if v > 0 && h.memory <= 0 => {
            return Err(invalid(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
                    .into(),
            ));
        }
        v => Some(v),
    };
    if h.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set".into(),
        ));
    }
    cfg.cpus = (h.nano_cpus > 0).then(|| h.nano_cpus as f64 / 1e9);
    cfg.cpu_quota = positive(r.cpu_quota);
    cfg.cpu_period = u64::try_from(r.cpu_period).ok().filter(|p| *p > 0);
    cfg.cpu_shares = u64::try_from(h.cpu_shares).ok().filter(|s| *s > 0);
    cfg.cpuset_cpus = (!h.cpuset_cpus.is_empty()).then(|| h.cpuset_cpus.clone());
    cfg.cpuset_mems = (!r.cpuset_mems.is_empty()).then(|| r.cpuset_mems.clone());
    cfg.pids_limit = h.pids_limit.filter(|p| *p > 0);
    if r.blkio_weight != 0 && !(10..=1000).contains(&r.blkio_weight) {
        return Err(invalid(format!(
            "invalid blkio weight {}: range is 10 to 1000",
            r.blkio_weight
        )));
    }
    cfg.blkio_weight = (r.blkio_weight > 0).then_some(r.blkio_weight);
    cfg.device_read_bps = rates(&r.blkio_device_read_bps)?;
    cfg.device_write_bps = rates(&r.blkio_device_write_bps)?;
    cfg.device_read_iops = rates(&r.blkio_device_read_iops)?;
    cfg.device_write_iops = rates(&r.blkio_device_write_iops)?;
    cfg.ulimits = h
        .ulimits
        .iter()
        .map(|u| {
            if u.soft < 0 || u.hard < 0 || u.soft > u.hard {
                return Err(invalid(format!(
                    "invalid ulimit {}: soft {} must be between 0 and hard {}",
                    u.name, u.soft, u.hard
                )));
            }
            Ok(Ulimit {
                name: u.name.clone(),
                soft: u.soft as u64,
                hard: u.hard as u64,
            })
        })
        .collect::<BackendResult<_>>()?;
    for key in h.sysctls.keys() {
        check_sysctl(key, host_network)?;
    }
    cfg.sysctls = h.sysctls.clone();
    cfg.devices = h
        .devices
        .iter()
        .map(|d| {
            let inside = match d.path_in_container.as_str() {
                "" => d.path_on_host.as_str(),
                p => p,
            };
            let perms = match d.cgroup_permissions.as_str() {
                "" => "rwm",
                p => p,
            };
            DeviceMapping::from_host(Path::new(&d.path_on_host), inside, perms).map_err(|e| {
                invalid(format!(
                    "error gathering device information while adding custom device {:?}: {e}",
                    d.path_on_host
                ))
            })
        })
        .collect::<BackendResult<_>>()?;
    let sec = security_opts(&h.security_opt)?;
    cfg.no_new_privileges = sec.no_new_privileges;
    cfg.seccomp_unconfined = sec.seccomp_unconfined;
    cfg.oom_score_adj = (r.oom_score_adj != 0).then_some(r.oom_score_adj);
    if !(-1000..=1000).contains(&r.oom_score_adj) {
        return Err(invalid(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            r.oom_score_adj
        )));
    }
    cfg.shm_size = u64::try_from(h.shm_size).ok().filter(|s| *s > 0);
    cfg.group_add = r.group_add.clone();
    if h.init == Some(true) {
        cfg.init = Some(find_init(&INIT_CANDIDATES)?);
    }
    Ok(sec.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::ContainerCreateBody;

    fn host(json: &str) -> HostConfig {
        let body: ContainerCreateBody =
            serde_json::from_str(&format!(r#"{{"Image":"x","HostConfig":{json}}}"#)).unwrap();
        body.host_config
    }

    #[test]
    fn docker_cli_fields_become_runtime_limits() {
        let h = host(
            r#"{"Memory":67108864,"MemorySwap":-1,"MemoryReservation":33554432,
                "NanoCpus":1500000000,"CpuShares":512,"CpusetCpus":"0","CpusetMems":"0",
                "PidsLimit":20,"BlkioWeight":300,"OomScoreAdj":100,"ShmSize":1048576,
                "Ulimits":[{"Name":"nofile","Soft":100,"Hard":200}],
                "Sysctls":{"kernel.shmmax":"1000","net.ipv4.ip_forward":"1"},
                "SecurityOpt":["no-new-privileges","seccomp=unconfined"],
                "GroupAdd":["audio"],"BlkioDeviceReadBps":null}"#,
        );
        let mut cfg = ContainerConfig::default();
        let warnings = apply(&mut cfg, &h, false).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(cfg.memory, Some(64 << 20));
        assert_eq!(cfg.memory_swap, Some(-1));
        assert_eq!(cfg.memory_reservation, Some(32 << 20));
        assert_eq!(cfg.cpus, Some(1.5));
        assert_eq!(cfg.cpu_shares, Some(512));
        assert_eq!(cfg.cpuset_mems.as_deref(), Some("0"));
        assert_eq!(cfg.pids_limit, Some(20));
        assert_eq!(cfg.blkio_weight, Some(300));
        assert_eq!(cfg.oom_score_adj, Some(100));
        assert_eq!(cfg.shm_size, Some(1 << 20));
        assert_eq!(cfg.ulimits[0].soft, 100);
        assert!(cfg.no_new_privileges && cfg.seccomp_unconfined);
        assert_eq!(cfg.group_add, ["audio"]);
    }

    #[test]
    fn cpu_quota_and_period_pass_through() {
        let h = host(r#"{"CpuQuota":50000,"CpuPeriod":200000}"#);
        let mut cfg = ContainerConfig::default();
        apply(&mut cfg, &h, false).unwrap();
        assert_eq!(
            (cfg.cpu_quota, cfg.cpu_period),
            (Some(50_000), Some(200_000))
        );
        let both = host(r#"{"CpuQuota":50000,"NanoCpus":1000000000}"#);
        assert!(apply(&mut cfg, &both, false).is_err());
    }

    #[test]
    fn host_sysctls_are_refused() {
        assert!(check_sysctl("kernel.msgmax", false).is_ok());
        assert!(check_sysctl("fs.mqueue.msg_max", false).is_ok());
        assert!(check_sysctl("net.core.somaxconn", false).is_ok());
        assert!(check_sysctl("net.core.somaxconn", true).is_err());
        let e = check_sysctl("vm.swappiness", false).unwrap_err();
        assert!(
            e.message.contains("not in a separate kernel namespace"),
            "{e}"
        );
    }

    #[test]
    fn security_options_parse_like_docker() {
        let s = security_opts(&["no-new-privileges:true".into()]).unwrap();
        assert!(s.no_new_privileges);
        let s = security_opts(&["apparmor=unconfined".into()]).unwrap();
        assert_eq!(s.warnings.len(), 1);
        assert!(security_opts(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}".into()]).is_err());
        assert!(security_opts(&["bogus".into()]).is_err());
    }

    #[test]
    fn bad_values_are_refused_with_the_field() {
        let mut cfg = ContainerConfig::default();
        let e = apply(&mut cfg, &host(r#"{"BlkioWeight":5}"#), false).unwrap_err();
        assert!(e.message.contains("blkio weight"), "{e}");
        let e = apply(&mut cfg, &host(r#"{"Memory":100,"MemorySwap":50}"#), false).unwrap_err();
        assert!(e.message.contains("memoryswap"), "{e}");
        let e = apply(
            &mut cfg,
            &host(r#"{"BlkioDeviceReadBps":[{"Path":"/etc/hostname","Rate":1}]}"#),
            false,
        )
        .unwrap_err();
        assert!(e.message.contains("not a block device"), "{e}");
        let e = apply(&mut cfg, &host(r#"{"OomScoreAdj":5000}"#), false).unwrap_err();
        assert!(e.message.contains("oom score adj"), "{e}");
    }

    #[test]
    fn init_needs_a_host_binary() {
        assert!(find_init(&["/nonexistent/tini"]).is_err());
    }
}

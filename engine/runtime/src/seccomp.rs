//! Seccomp: Docker's default profile written as an OCI `linux.seccomp` section (default allow,
//! Docker's blocked syscalls fail with `EPERM`, `clone3` with `ENOSYS` so libc falls back to
//! `clone`), and the compiler that turns an OCI seccomp section into BPF programs for the
//! container init to install just before `execve`.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

/// Errors of seccomp compilation and installation.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile uses a feature this runtime does not implement.
    #[error("unsupported seccomp profile: {0}")]
    Unsupported(String),
    /// seccompiler refused the filter.
    #[error("building seccomp filter: {0}")]
    Build(#[from] seccompiler::BackendError),
    /// The kernel refused the filter.
    #[error("installing seccomp filter: {0}")]
    Install(#[source] std::io::Error),
}

/// Syscalls Docker's default profile refuses, each with the capability that lifts the ban
/// (`None`: always refused). Names unknown on the running architecture are ignored.
pub const DOCKER_BLOCKED: &[(&str, Option<&str>)] = &[
    ("acct", Some("CAP_SYS_PACCT")),
    ("add_key", None),
    ("bpf", Some("CAP_SYS_ADMIN")),
    ("clock_adjtime", Some("CAP_SYS_TIME")),
    ("clock_settime", Some("CAP_SYS_TIME")),
    ("create_module", None),
    ("delete_module", Some("CAP_SYS_MODULE")),
    ("finit_module", Some("CAP_SYS_MODULE")),
    ("fsconfig", Some("CAP_SYS_ADMIN")),
    ("fsmount", Some("CAP_SYS_ADMIN")),
    ("fsopen", Some("CAP_SYS_ADMIN")),
    ("fspick", Some("CAP_SYS_ADMIN")),
    ("get_kernel_syms", None),
    ("get_mempolicy", Some("CAP_SYS_NICE")),
    ("init_module", Some("CAP_SYS_MODULE")),
    ("ioperm", Some("CAP_SYS_RAWIO")),
    ("iopl", Some("CAP_SYS_RAWIO")),
    ("kexec_file_load", Some("CAP_SYS_BOOT")),
    ("kexec_load", Some("CAP_SYS_BOOT")),
    ("keyctl", None),
    ("lookup_dcookie", Some("CAP_SYS_ADMIN")),
    ("mbind", Some("CAP_SYS_NICE")),
    ("mount", Some("CAP_SYS_ADMIN")),
    ("move_mount", Some("CAP_SYS_ADMIN")),
    ("move_pages", Some("CAP_SYS_NICE")),
    ("name_to_handle_at", Some("CAP_SYS_ADMIN")),
    ("nfsservctl", None),
    ("open_by_handle_at", Some("CAP_DAC_READ_SEARCH")),
    ("open_tree", Some("CAP_SYS_ADMIN")),
    ("perf_event_open", Some("CAP_SYS_ADMIN")),
    ("pivot_root", Some("CAP_SYS_ADMIN")),
    ("query_module", None),
    ("quotactl", Some("CAP_SYS_ADMIN")),
    ("reboot", Some("CAP_SYS_BOOT")),
    ("request_key", None),
    ("set_mempolicy", Some("CAP_SYS_NICE")),
    ("setns", Some("CAP_SYS_ADMIN")),
    ("settimeofday", Some("CAP_SYS_TIME")),
    ("stime", Some("CAP_SYS_TIME")),
    ("swapoff", Some("CAP_SYS_ADMIN")),
    ("swapon", Some("CAP_SYS_ADMIN")),
    ("syslog", Some("CAP_SYSLOG")),
    ("sysfs", None),
    ("_sysctl", None),
    ("umount", Some("CAP_SYS_ADMIN")),
    ("umount2", Some("CAP_SYS_ADMIN")),
    ("unshare", Some("CAP_SYS_ADMIN")),
    ("uselib", None),
    ("userfaultfd", None),
    ("ustat", None),
    ("vhangup", Some("CAP_SYS_TTY_CONFIG")),
    ("vm86", None),
    ("vm86old", None),
];

/// Docker's default profile for a container holding `caps`, as an OCI seccomp section.
pub fn docker_default(caps: &BTreeSet<String>) -> serde_json::Value {
    let blocked: Vec<&str> = DOCKER_BLOCKED
        .iter()
        .filter(|(_, cap)| cap.is_none_or(|c| !caps.contains(c)))
        .map(|(name, _)| *name)
        .collect();
    let mut syscalls = vec![serde_json::json!({
        "names": blocked, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM,
    })];
    if !caps.contains("CAP_SYS_ADMIN") {
        syscalls.push(serde_json::json!({
            "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS,
        }));
    }
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
        "syscalls": syscalls,
    })
}

fn target_arch() -> Result<TargetArch, SeccompError> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|_| SeccompError::Unsupported(format!("architecture {}", std::env::consts::ARCH)))
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<SeccompAction, SeccompError> {
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => {
            SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32))
        }
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        other => return Err(SeccompError::Unsupported(format!("action {other:?}"))),
    })
}

/// Compiles an OCI seccomp section into BPF programs to install in order.
///
/// Rules are grouped by action and each group becomes one filter whose mismatch action is the
/// profile's default; the kernel applies the strictest verdict of stacked filters, so this is
/// exact when the default is "allow", or when a non-allow default has a single allow group.
/// Argument conditions are not supported yet and are refused rather than ignored.
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<BpfProgram>, SeccompError> {
    let arch = target_arch()?;
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    let mut groups: BTreeMap<String, (SeccompAction, BTreeSet<i64>)> = BTreeMap::new();
    for rule in profile.syscalls().iter().flatten() {
        if rule.args().as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(SeccompError::Unsupported(
                "syscall argument conditions".into(),
            ));
        }
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let entry = groups
            .entry(format!("{act:?}"))
            .or_insert((act, BTreeSet::new()));
        for name in rule.names() {
            if let Ok(nr) = syscalls::Sysno::from_str(name) {
                entry.1.insert(nr.id() as i64);
            }
        }
    }
    if default != SeccompAction::Allow
        && (groups.len() > 1 || groups.values().any(|(a, _)| *a != SeccompAction::Allow))
    {
        return Err(SeccompError::Unsupported(
            "non-allow default action with several rule actions".into(),
        ));
    }
    let mut programs = Vec::new();
    for (act, numbers) in groups.into_values() {
        if numbers.is_empty() {
            continue;
        }
        let rules = numbers.into_iter().map(|nr| (nr, Vec::new())).collect();
        let filter = SeccompFilter::new(rules, default.clone(), act, arch)?;
        programs.push(BpfProgram::try_from(filter)?);
    }
    Ok(programs)
}

/// Installs compiled programs on the calling thread. Needs `no_new_privs` or `CAP_SYS_ADMIN`.
pub fn install(programs: &[BpfProgram]) -> Result<(), SeccompError> {
    for prog in programs {
        let fprog = libc::sock_fprog {
            len: u16::try_from(prog.len())
                .map_err(|_| SeccompError::Unsupported("filter too long".into()))?,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `fprog` points at a live, correctly sized BPF program (seccompiler's
        // `sock_filter` has the kernel layout) for the duration of the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &fprog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(SeccompError::Install(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(caps: &[&str]) -> LinuxSeccomp {
        let caps = caps.iter().map(|c| c.to_string()).collect();
        serde_json::from_value(docker_default(&caps)).expect("valid OCI seccomp section")
    }

    #[test]
    fn default_profile_blocks_mount_unless_sys_admin() {
        let names =
            |p: &LinuxSeccomp| -> Vec<String> { p.syscalls().as_ref().unwrap()[0].names().clone() };
        assert!(names(&profile(&[])).contains(&"mount".to_string()));
        assert!(names(&profile(&[])).contains(&"keyctl".to_string()));
        assert!(!names(&profile(&["CAP_SYS_ADMIN"])).contains(&"mount".to_string()));
        assert!(names(&profile(&["CAP_SYS_ADMIN"])).contains(&"keyctl".to_string()));
    }

    #[test]
    fn default_profile_compiles_to_two_filters() {
        let progs = compile(&profile(&[])).expect("compiles");
        assert_eq!(
            progs.len(),
            2,
            "one EPERM filter, one ENOSYS filter for clone3"
        );
        assert!(progs.iter().all(|p| !p.is_empty()));
    }

    #[test]
    fn argument_conditions_are_refused() {
        let p: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]
        }))
        .unwrap();
        assert!(matches!(compile(&p), Err(SeccompError::Unsupported(_))));
    }
}

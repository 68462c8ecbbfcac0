//! Service keys that berth's engine cannot honour, refused at load instead of being dropped
//! (per-network entry keys and `expose` entries that are not ports included).
//!
//! Every key of the Compose Specification is parsed into [`Service`], but the engine has no
//! field for some of them (`runtime`, `cgroup_parent`, `gpus`, hooks, …) and refuses some
//! values of others at create (custom seccomp profiles, host-wide sysctls, `cpus` together
//! with `cpu_quota`). A file using them gets an error pointing at the value with a hint, and
//! nothing is created. Values that only restate the engine's own default (`ipc: private`,
//! `cgroup: private`, `runtime: runc`, `platform: linux/<host arch>`) are accepted so that
//! common files keep working. Conflicting pairs of `deploy.resources` and the older keys are
//! refused with docker compose's words.

use crate::error::{Error, ErrorKind};
use crate::path::Seg;
use crate::yaml::Node;

use super::conv::Conv;
use super::service::{Resource, Service};

/// Sysctls of the IPC namespace a container may set (Docker's and runc's list). The engine
/// applies the same rule at create (`engine/src/real/resources.rs`); compose keeps its own copy
/// because it does not depend on the engine, and refuses at load with the file's position.
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

/// The host's architecture in Docker's words (`amd64`, `arm64`, …).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Whether `platform` (`os[/arch[/variant]]`) names the host's platform.
fn is_host_platform(platform: &str) -> bool {
    let mut parts = platform.split('/');
    let os = parts.next().unwrap_or_default();
    let arch = parts.next();
    let same_arch = |a: &str| {
        let a = match a {
            "x86_64" | "x86-64" => "amd64",
            "aarch64" => "arm64",
            a => a,
        };
        a == host_arch()
    };
    os.eq_ignore_ascii_case("linux") && arch.is_none_or(same_arch)
}

/// Why the engine cannot apply security option `opt`, if it cannot.
fn security_opt_problem(opt: &str) -> Option<String> {
    let (key, value) = match opt.split_once(['=', ':']) {
        Some((k, v)) => (k, Some(v)),
        None => (opt, None),
    };
    match (key, value) {
        ("no-new-privileges", None | Some("true" | "false")) => None,
        ("seccomp", Some("unconfined")) => None,
        // no LSM is loaded for containers: unconfined and disabled are what they get anyway
        ("apparmor", Some("unconfined")) | ("label", Some("disable")) => None,
        ("seccomp", Some(_)) => Some("custom seccomp profiles are not supported".into()),
        ("apparmor" | "label", Some(_)) => Some(format!(
            "`{opt}` needs an LSM profile and berth's engine applies none"
        )),
        _ => Some(format!("`{opt}` is not a security option")),
    }
}

/// Why sysctl `key` cannot be set in a container, if it cannot (the engine's rule).
fn sysctl_problem(key: &str, host_network: bool) -> Option<&'static str> {
    if IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        None
    } else if key.starts_with("net.") {
        host_network.then_some("it would change the host's network namespace")
    } else {
        Some("it is not in a kernel namespace of the container")
    }
}

impl Conv<'_> {
    /// Refuses the value at `at` (an error at its position, with a hint).
    pub(super) fn refuse(&mut self, at: &Node, message: String, hint: &str) {
        self.errors.push(Error::at_hint(
            ErrorKind::InvalidValue,
            &at.loc,
            message,
            hint,
        ));
    }

    /// Refuses the keys of service `svc` (read from `node`) that the engine cannot honour.
    pub(crate) fn check_engine_support(&mut self, svc: &Service, node: &Node, prefix: &Seg<'_>) {
        self.check_unsupported_keys(svc, node, prefix);
        self.check_namespaces(svc, node, prefix);
        self.check_resource_values(svc, node, prefix);
        self.check_deploy_resources(svc, node, prefix);
        self.check_networking(svc, node, prefix);
    }

    /// Per-network entry keys the engine has no equivalent for, and `expose` entries that are
    /// not ports.
    fn check_networking(&mut self, svc: &Service, node: &Node, prefix: &Seg<'_>) {
        let entries = node.get("networks");
        for (key, sn) in &svc.networks {
            let Some(sn) = sn else { continue };
            let present = [
                ("interface_name", sn.interface_name.is_some()),
                ("link_local_ips", !sn.link_local_ips.is_empty()),
                ("driver_opts", !sn.driver_opts.is_empty()),
                ("gw_priority", sn.gw_priority != 0),
            ];
            let unsupported: Vec<&str> = present
                .iter()
                .filter_map(|(k, set)| set.then_some(*k))
                .collect();
            // The error points at the first of them in the file.
            let entry = entries.and_then(|n| n.get(key));
            let Some(at) = unsupported
                .iter()
                .filter_map(|k| entry.and_then(|e| e.get(k)))
                .min_by_key(|n| (n.loc.line, n.loc.col))
            else {
                continue;
            };
            let keys: Vec<String> = unsupported.iter().map(|k| format!("`{k}`")).collect();
            let mut hint = "remove them".to_owned();
            if unsupported.contains(&"gw_priority") {
                hint.push_str(
                    "; the first network by `priority` (then by name) carries the default route",
                );
            }
            if unsupported.contains(&"interface_name") {
                hint.push_str("; interfaces are named eth0, eth1, … in joining order");
            }
            let message = format!(
                "`{prefix}.networks.{key}`: {} not supported by berth's engine",
                keys.join(", ")
            );
            self.refuse(at, message, &hint);
        }
        let items = node
            .get("expose")
            .and_then(Node::as_seq)
            .unwrap_or_default();
        for (i, (entry, item)) in svc.expose.iter().zip(items).enumerate() {
            if let Err(why) = super::syntax::parse_expose(entry) {
                let message = format!("`{prefix}.expose[{i}]`: {why}");
                let hint =
                    "write a port or range with an optional protocol: `80`, `53/udp`, `8000-8010`";
                self.refuse(item, message, hint);
            }
        }
    }

    fn check_unsupported_keys(&mut self, svc: &Service, node: &Node, prefix: &Seg<'_>) {
        let unsupported: [(&str, bool, &str, &str); 15] = [
            (
                "annotations",
                !svc.annotations.is_empty(),
                "container annotations are not supported by berth's engine",
                "remove `annotations`; use `labels` for metadata",
            ),
            (
                "cgroup_parent",
                svc.cgroup_parent.as_ref().is_some_and(|c| !c.is_empty()),
                "berth's engine places every container in its own cgroup and takes no parent",
                "remove `cgroup_parent`",
            ),
            (
                "cpu_count",
                svc.cpu_count != 0,
                "`cpu_count` is a Windows-only option",
                "limit CPU time with `cpus` instead",
            ),
            (
                "cpu_percent",
                svc.cpu_percent != 0.0,
                "`cpu_percent` is a Windows-only option",
                "limit CPU time with `cpus` instead",
            ),
            (
                "cpu_rt_period",
                svc.cpu_rt_period != 0,
                "real-time CPU scheduling is not supported by berth's engine",
                "remove `cpu_rt_period` and `cpu_rt_runtime`",
            ),
            (
                "cpu_rt_runtime",
                svc.cpu_rt_runtime != 0,
                "real-time CPU scheduling is not supported by berth's engine",
                "remove `cpu_rt_period` and `cpu_rt_runtime`",
            ),
            (
                "credential_spec",
                svc.credential_spec.is_some(),
                "`credential_spec` is a Windows-only option",
                "remove `credential_spec`",
            ),
            (
                "device_cgroup_rules",
                !svc.device_cgroup_rules.is_empty(),
                "device cgroup rules are not supported by berth's engine",
                "give each device under `devices:` instead",
            ),
            (
                "gpus",
                !svc.gpus.is_empty(),
                "GPU requests are not supported by berth's engine",
                "remove `gpus`; map device nodes with `devices:`",
            ),
            (
                "mem_swappiness",
                svc.mem_swappiness.is_some(),
                "berth's engine does not set memory swappiness",
                "remove `mem_swappiness`",
            ),
            (
                "oom_kill_disable",
                svc.oom_kill_disable,
                "berth's engine cannot disable the OOM killer",
                "remove `oom_kill_disable`; lower the kill priority with `oom_score_adj`",
            ),
            (
                "storage_opt",
                !svc.storage_opt.is_empty(),
                "storage driver options are not supported by berth's engine",
                "remove `storage_opt`",
            ),
            (
                "use_api_socket",
                svc.use_api_socket,
                "`use_api_socket` is not supported",
                "remove it; bind-mount the engine's socket with `volumes:` if the container needs it",
            ),
            (
                "post_start",
                !svc.post_start.is_empty(),
                "lifecycle hooks are not supported yet",
                "remove it; run the command from the entrypoint",
            ),
            (
                "pre_stop",
                !svc.pre_stop.is_empty(),
                "lifecycle hooks are not supported yet",
                "remove it; run the command from the entrypoint",
            ),
        ];
        for (key, set, message, hint) in unsupported {
            if set && let Some(v) = node.get(key) {
                self.refuse(v, format!("`{prefix}.{key}`: {message}"), hint);
            }
        }
        if let Some(p) = &svc.platform
            && !is_host_platform(p)
            && let Some(v) = node.get("platform")
        {
            let host = format!("linux/{}", host_arch());
            let message = format!(
                "`{prefix}.platform`: `{p}` is not this host's platform ({host}); berth runs images of the host platform only"
            );
            self.refuse(v, message, &format!("remove `platform` or set `{host}`"));
        }
    }

    fn check_namespaces(&mut self, svc: &Service, node: &Node, prefix: &Seg<'_>) {
        // (key, value, values that restate the engine's behaviour, what the engine does)
        let modes: [(&str, &Option<String>, &[&str], &str); 7] = [
            (
                "ipc",
                &svc.ipc,
                &["", "private", "shareable"],
                "every container gets a private IPC namespace",
            ),
            (
                "pid",
                &svc.pid,
                &[""],
                "every container gets a private PID namespace",
            ),
            (
                "uts",
                &svc.uts,
                &[""],
                "every container gets a private UTS namespace",
            ),
            (
                "cgroup",
                &svc.cgroup,
                &["", "private"],
                "every container gets a private cgroup namespace",
            ),
            (
                "userns_mode",
                &svc.userns_mode,
                &["", "host"],
                "berth's engine does not remap users",
            ),
            (
                "isolation",
                &svc.isolation,
                &["", "default"],
                "isolation modes other than `default` are Windows-only",
            ),
            (
                "runtime",
                &svc.runtime,
                &["", "runc"],
                "berth runs containers with its own runtime only",
            ),
        ];
        for (key, value, accepted, what) in modes {
            if let Some(v) = value
                && !accepted.contains(&v.as_str())
                && let Some(n) = node.get(key)
            {
                let message = format!("`{prefix}.{key}`: `{v}` is not supported: {what}");
                self.refuse(n, message, &format!("remove `{key}`"));
            }
        }
    }

    fn check_resource_values(&mut self, svc: &Service, node: &Node, prefix: &Seg<'_>) {
        if let Some(list) = node.get("security_opt") {
            let items = list.as_seq().unwrap_or(std::slice::from_ref(list));
            for (opt, item) in svc.security_opt.iter().zip(items) {
                if let Some(problem) = security_opt_problem(opt) {
                    let message = format!("`{prefix}.security_opt`: {problem}");
                    let hint = "use `no-new-privileges:true`, `seccomp:unconfined`, `apparmor:unconfined` or `label:disable`";
                    self.refuse(item, message, hint);
                }
            }
        }
        let host_network = svc.network_mode.as_deref() == Some("host");
        if let Some(map) = node.get("sysctls") {
            for key in svc.sysctls.keys() {
                if let Some(why) = sysctl_problem(key, host_network) {
                    let message = format!("`{prefix}.sysctls`: `{key}` cannot be set: {why}");
                    let hint = "containers may set `net.*` (not with network_mode: host), `fs.mqueue.*` and the IPC `kernel.*` sysctls";
                    self.refuse(map, message, hint);
                }
            }
        }
        if let Some(b) = &svc.blkio_config
            && !b.weight_device.is_empty()
            && let Some(v) = node
                .get("blkio_config")
                .and_then(|n| n.get("weight_device"))
        {
            let message = format!(
                "`{prefix}.blkio_config.weight_device`: per-device weights are not applied by berth's engine"
            );
            self.refuse(
                v,
                message,
                "use `blkio_config.weight` for the whole container",
            );
        }
        if let Some(d) = svc.logging.as_ref().and_then(|l| l.driver.as_deref())
            && d != "json-file"
            && let Some(v) = node.get("logging").and_then(|n| n.get("driver"))
        {
            let message = format!(
                "`{prefix}.logging.driver`: log driver `{d}` is not supported: berth's engine keeps container output as json-file"
            );
            self.refuse(v, message, "remove `driver` or set `json-file`");
        }
        if !(-1000..=1000).contains(&svc.oom_score_adj)
            && let Some(v) = node.get("oom_score_adj")
        {
            let message = format!(
                "`{prefix}.oom_score_adj`: {} is out of range",
                svc.oom_score_adj
            );
            self.refuse(v, message, "give a value from -1000 to 1000");
        }
        if svc.cpu_quota != 0
            && (svc.cpus != 0.0 || limits(svc).and_then(|l| l.cpus).is_some())
            && let Some(v) = node.get("cpu_quota")
        {
            let message =
                format!("`{prefix}.cpu_quota`: `cpus` and `cpu_quota` cannot both be set");
            self.refuse(
                v,
                message,
                "keep `cpus` (it sets the quota for you) or `cpu_quota` with `cpu_period`",
            );
        }
        let memory = limits(svc).and_then(|l| l.memory).or(svc.mem_limit);
        if let Some(swap) = svc.memswap_limit.filter(|s| *s > 0)
            && let Some(v) = node.get("memswap_limit")
        {
            match memory {
                None => self.refuse(
                    v,
                    format!("`{prefix}.memswap_limit`: a swap limit needs a memory limit"),
                    "add `mem_limit`, or use `memswap_limit: -1` for unlimited swap",
                ),
                Some(m) if (swap as u64) < m.0 => self.refuse(
                    v,
                    format!("`{prefix}.memswap_limit`: {swap} bytes is below the memory limit of {} bytes", m.0),
                    "`memswap_limit` counts memory plus swap: make it at least `mem_limit`",
                ),
                Some(_) => {}
            }
        }
    }

    fn check_deploy_resources(&mut self, svc: &Service, node: &Node, prefix: &Seg<'_>) {
        let Some(resources) = node.get("deploy").and_then(|d| d.get("resources")) else {
            return;
        };
        let limit_nodes = resources.get("limits");
        let reservation_nodes = resources.get("reservations");
        let reservations = svc
            .deploy
            .as_ref()
            .and_then(|d| d.resources.as_ref())
            .and_then(|r| r.reservations.as_ref());
        let l = limits(svc);
        let pairs = [
            (
                "cpus",
                limit_nodes,
                "limits.cpus",
                (svc.cpus != 0.0).then_some(svc.cpus.to_string()),
                l.and_then(|l| l.cpus).map(|c| c.to_string()),
            ),
            (
                "mem_limit",
                limit_nodes,
                "limits.memory",
                svc.mem_limit.map(|m| m.0.to_string()),
                l.and_then(|l| l.memory).map(|m| m.0.to_string()),
            ),
            (
                "pids_limit",
                limit_nodes,
                "limits.pids",
                (svc.pids_limit != 0).then_some(svc.pids_limit.to_string()),
                l.and_then(|l| l.pids).map(|p| p.to_string()),
            ),
            (
                "mem_reservation",
                reservation_nodes,
                "reservations.memory",
                svc.mem_reservation.map(|m| m.0.to_string()),
                reservations.and_then(|r| r.memory).map(|m| m.0.to_string()),
            ),
        ];
        for (key, parent, deploy_key, old, new) in pairs {
            let field = deploy_key.split('.').nth(1).unwrap_or_default();
            if let (Some(a), Some(b)) = (old, new)
                && a != b
                && let Some(v) = parent.and_then(|p| p.get(field))
            {
                let message = format!(
                    "`{prefix}`: can't set distinct values on '{key}' and 'deploy.resources.{deploy_key}'"
                );
                self.refuse(
                    v,
                    message,
                    "keep one of the two, or give both the same value",
                );
            }
        }
        for (which, parent) in [("limits", limit_nodes), ("reservations", reservation_nodes)] {
            if let Some(v) = parent.and_then(|p| p.get("devices"))
                && v.as_seq().is_some_and(|s| !s.is_empty())
            {
                let message = format!(
                    "`{prefix}.deploy.resources.{which}.devices`: device requests (GPUs) are not supported by berth's engine"
                );
                self.refuse(v, message, "remove them; map device nodes with `devices:`");
            }
        }
    }
}

fn limits(svc: &Service) -> Option<&Resource> {
    svc.deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_platform_forms_are_recognised() {
        let host = format!("linux/{}", host_arch());
        assert!(is_host_platform(&host));
        assert!(is_host_platform("linux"));
        assert!(is_host_platform("LINUX"));
        assert!(!is_host_platform("windows/amd64"));
        assert!(!is_host_platform("linux/s390x"));
    }

    #[test]
    fn security_options_the_engine_applies_pass() {
        for ok in [
            "no-new-privileges",
            "no-new-privileges:true",
            "no-new-privileges=false",
            "seccomp:unconfined",
            "apparmor=unconfined",
            "label:disable",
        ] {
            assert_eq!(security_opt_problem(ok), None, "{ok}");
        }
        for bad in [
            "seccomp:profile.json",
            "apparmor:docker-default",
            "label:user:USER",
            "bogus",
        ] {
            assert!(security_opt_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn only_namespaced_sysctls_pass() {
        assert_eq!(sysctl_problem("net.core.somaxconn", false), None);
        assert!(sysctl_problem("net.core.somaxconn", true).is_some());
        assert_eq!(sysctl_problem("kernel.shmmax", false), None);
        assert_eq!(sysctl_problem("fs.mqueue.msg_max", false), None);
        assert!(sysctl_problem("vm.swappiness", false).is_some());
        assert!(sysctl_problem("kernel.domainname", false).is_some());
    }
}

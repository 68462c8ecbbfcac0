//! Service networking entries berth cannot honour as written: an `ipv4_address` on an
//! IPv6-only network, per-network keys the engine has no equivalent for, and `expose` entries
//! that are not ports. Refused at load, with the entry's path, so a file never silently gets
//! less than it asked for.

use crate::error::{Error, ErrorKind};
use crate::model::{Project, Service};

/// Checks the networking entries of `svc`.
pub(super) fn check(project: &Project, svc: &Service, errors: &mut Vec<Error>) {
    check_ipv4_on_ipv6_only(project, svc, errors);
    check_unsupported_entry_keys(svc, errors);
    check_expose(svc, errors);
}

/// An `ipv4_address` on an IPv6-only network (`enable_ipv4: false`) cannot be honoured.
fn check_ipv4_on_ipv6_only(project: &Project, svc: &Service, errors: &mut Vec<Error>) {
    for (key, sn) in &svc.networks {
        let Some(ip) = sn.as_ref().and_then(|sn| sn.ipv4_address.as_ref()) else {
            continue;
        };
        let ipv6_only = project
            .networks
            .get(key)
            .is_some_and(|n| n.enable_ipv4 == Some(false));
        if let (true, Some(loc)) = (ipv6_only, svc.loc_of("networks")) {
            errors.push(Error::at_hint(
                ErrorKind::InvalidValue,
                loc,
                format!(
                    "service `{}` asks for IPv4 address `{ip}` on network `{key}`, which is IPv6-only",
                    svc.name
                ),
                "give `ipv6_address` instead, or remove `enable_ipv4: false` from the network",
            ));
        }
    }
}

/// Per-network keys of a service the engine has no equivalent for.
fn check_unsupported_entry_keys(svc: &Service, errors: &mut Vec<Error>) {
    let Some(loc) = svc.loc_of("networks") else {
        return;
    };
    for (key, sn) in &svc.networks {
        let Some(sn) = sn else { continue };
        let mut unsupported = Vec::new();
        if sn.interface_name.is_some() {
            unsupported.push("interface_name");
        }
        if !sn.link_local_ips.is_empty() {
            unsupported.push("link_local_ips");
        }
        if !sn.driver_opts.is_empty() {
            unsupported.push("driver_opts");
        }
        if sn.gw_priority != 0 {
            unsupported.push("gw_priority");
        }
        if unsupported.is_empty() {
            continue;
        }
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
        errors.push(Error::at_hint(
            ErrorKind::InvalidValue,
            loc,
            format!(
                "`services.{}.networks.{key}`: {} not supported by berth's engine",
                svc.name,
                keys.join(", ")
            ),
            hint,
        ));
    }
}

/// `expose` entries are ports or port ranges with an optional protocol: `80`, `80/udp`,
/// `8000-8010`.
fn check_expose(svc: &Service, errors: &mut Vec<Error>) {
    let Some(loc) = svc.loc_of("expose") else {
        return;
    };
    let bad: Vec<String> = svc
        .expose
        .iter()
        .filter(|entry| !is_port_entry(entry))
        .map(|entry| format!("`{entry}`"))
        .collect();
    if !bad.is_empty() {
        errors.push(Error::at_hint(
            ErrorKind::InvalidValue,
            loc,
            format!(
                "`services.{}.expose`: {} not a port",
                svc.name,
                bad.join(", ")
            ),
            "write a port or range with an optional protocol: `80`, `53/udp`, `8000-8010`",
        ));
    }
}

/// `80`, `80/udp`, `8000-8010/tcp`: ports 1–65535, a range low to high, tcp, udp or sctp.
fn is_port_entry(entry: &str) -> bool {
    let (ports, proto) = entry.split_once('/').unwrap_or((entry, "tcp"));
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    let ports_ok = match ports.split_once('-') {
        Some((a, b)) => matches!((port(a), port(b)), (Some(a), Some(b)) if a <= b),
        None => port(ports).is_some(),
    };
    ports_ok && matches!(proto, "tcp" | "udp" | "sctp")
}

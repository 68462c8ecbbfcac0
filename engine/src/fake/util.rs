//! Small pure helpers of the fake engine: ids, times, names, references, ports and mounts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use futures_util::Stream;
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, watch};

use super::{Lifecycle, TimedChunk};
use crate::api::models::{ContainerCreateBody, MountPoint, Port};
use crate::backend::{BackendError, BackendResult};

/// A fresh 64-hex-digit id, unique within the process.
pub(super) fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!("{n}-{}-{}", now.as_nanos(), std::process::id());
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// The sha256 of `text` in hex (stable ids for pulled references).
pub(super) fn digest_of(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// RFC 3339 with nanoseconds, as Docker prints times.
pub(super) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Docker's container name rule: `/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(super) fn valid_container_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Signal number of `SIGTERM`, `TERM`, `term` or `15`.
pub(super) fn signal_number(sig: &str) -> BackendResult<i64> {
    if let Ok(n) = sig.parse::<i64>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let upper = sig.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i64)
        .map_err(|_| BackendError::invalid(format!("Invalid signal: {sig}")))
}

/// Docker's short form of a reference: `busybox` → `busybox:latest`, without `docker.io/library/`.
pub(super) fn normalize_ref(reference: &str) -> String {
    let r = reference
        .strip_prefix("docker.io/library/")
        .or_else(|| reference.strip_prefix("docker.io/"))
        .or_else(|| reference.strip_prefix("index.docker.io/library/"))
        .unwrap_or(reference);
    let last = r.rsplit('/').next().unwrap_or(r);
    if r.contains('@') || last.contains(':') {
        r.to_owned()
    } else {
        format!("{r}:latest")
    }
}

/// Whether `reference` is a syntactically valid image reference (lower-case repository).
pub(super) fn valid_reference(reference: &str) -> bool {
    let repo = match reference.rsplit_once('/') {
        Some((_, last)) => &reference[..reference.len() - last.len()],
        None => "",
    };
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let name = last.split([':', '@']).next().unwrap_or(last);
    !reference.is_empty()
        && !name.is_empty()
        && !reference.contains(char::is_whitespace)
        && repo
            .chars()
            .chain(name.chars())
            .all(|c| !c.is_ascii_uppercase())
}

/// Ports of the list summary: exposed ports, plus published ones when running.
pub(super) fn ports(body: &ContainerCreateBody, running: bool) -> Vec<Port> {
    let mut keys: Vec<&String> = body.config.exposed_ports.keys().collect();
    keys.extend(body.host_config.port_bindings.keys());
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let (num, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(private_port) = num.parse::<u16>() else {
            continue;
        };
        let bindings = body.host_config.port_bindings.get(key).filter(|_| running);
        match bindings {
            Some(list) if !list.is_empty() => {
                for b in list {
                    out.push(Port {
                        ip: Some(if b.host_ip.is_empty() {
                            "0.0.0.0".to_owned()
                        } else {
                            b.host_ip.clone()
                        }),
                        private_port,
                        public_port: b.host_port.parse().ok(),
                        typ: proto.to_owned(),
                    });
                }
            }
            _ => out.push(Port {
                ip: None,
                private_port,
                public_port: None,
                typ: proto.to_owned(),
            }),
        }
    }
    out
}

/// Names of the named volumes a container uses (binds whose source is not a path, and
/// `volume` mounts).
pub(super) fn named_volumes(body: &ContainerCreateBody) -> Vec<String> {
    let binds = body.host_config.binds.iter().filter_map(|b| {
        let (src, _) = b.split_once(':')?;
        (!src.starts_with('/')).then(|| src.to_owned())
    });
    let mounts = body
        .host_config
        .mounts
        .iter()
        .filter(|m| m.typ == "volume" && !m.source.is_empty())
        .map(|m| m.source.clone());
    binds.chain(mounts).collect()
}

/// Mount points reported for a container's binds and mounts.
pub(super) fn mount_points(body: &ContainerCreateBody, data_root: &str) -> Vec<MountPoint> {
    let volume_path = |name: &str| format!("{data_root}/volumes/{name}/_data");
    let mut out: Vec<MountPoint> = body
        .host_config
        .binds
        .iter()
        .filter_map(|b| {
            let mut parts = b.splitn(3, ':');
            let (src, dst) = (parts.next()?, parts.next()?);
            let mode = parts.next().unwrap_or("").to_owned();
            let rw = !mode.split(',').any(|m| m == "ro");
            let named = !src.starts_with('/');
            Some(MountPoint {
                typ: if named { "volume" } else { "bind" }.to_owned(),
                name: named.then(|| src.to_owned()),
                source: if named {
                    volume_path(src)
                } else {
                    src.to_owned()
                },
                destination: dst.to_owned(),
                driver: named.then(|| "local".to_owned()),
                mode,
                rw,
                propagation: if named {
                    String::new()
                } else {
                    "rprivate".to_owned()
                },
            })
        })
        .collect();
    out.extend(body.host_config.mounts.iter().map(|m| {
        let named = m.typ == "volume";
        MountPoint {
            typ: m.typ.clone(),
            name: named.then(|| m.source.clone()),
            source: if named {
                volume_path(&m.source)
            } else {
                m.source.clone()
            },
            destination: m.target.clone(),
            driver: named.then(|| "local".to_owned()),
            mode: String::new(),
            rw: !m.read_only,
            propagation: String::new(),
        }
    }));
    out
}

/// Live log chunks until the container stops running.
pub(super) fn follow_logs(
    logs: broadcast::Receiver<TimedChunk>,
    lifecycle: watch::Receiver<Lifecycle>,
    wanted: impl Fn(&TimedChunk) -> bool + Send + 'static,
) -> impl Stream<Item = TimedChunk> + Send {
    futures_util::stream::unfold(
        (logs, lifecycle, wanted),
        |(mut logs, mut life, wanted)| async move {
            loop {
                tokio::select! {
                    biased;
                    chunk = logs.recv() => match chunk {
                        Ok(c) if wanted(&c) => return Some((c, (logs, life, wanted))),
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    changed = life.changed() => {
                        let stopped = { let l = life.borrow_and_update(); !l.running || l.removed };
                        if changed.is_err() || stopped {
                            return None;
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_follow_docker_rule() {
        assert!(valid_container_name("web-1"));
        assert!(valid_container_name("/app_db.2"));
        assert!(!valid_container_name("a"));
        assert!(!valid_container_name("-bad"));
        assert!(!valid_container_name("has space"));
    }

    #[test]
    fn references_are_normalized_like_docker() {
        assert_eq!(normalize_ref("busybox"), "busybox:latest");
        assert_eq!(
            normalize_ref("docker.io/library/alpine:3.19"),
            "alpine:3.19"
        );
        assert_eq!(
            normalize_ref("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert!(valid_reference("localhost:5000/app:v1"));
        assert!(!valid_reference("Busybox"));
        assert!(!valid_reference(""));
    }

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(signal_number("SIGKILL").unwrap(), 9);
        assert_eq!(signal_number("term").unwrap(), 15);
        assert_eq!(signal_number("2").unwrap(), 2);
        assert!(signal_number("SIGNOPE").is_err());
    }
}

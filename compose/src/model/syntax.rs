//! Parsers for Compose's short string syntaxes (ports, volumes, devices, hosts, policies).
//!
//! Each parser is a pure function from the written string to the long form, returning a
//! message on error; the caller attaches the position. Semantics follow docker compose
//! (compose-go and docker's `nat.ParsePortSpec`) where the specification leaves them open.

use std::path::Path;

use super::service::{BindOptions, Device, Mount, Port, VolumeOptions};

fn parse_port_number(s: &str, what: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("invalid {what} port `{s}`: must be 1-65535")),
    }
}

/// A port or an inclusive port range.
fn parse_range(s: &str, what: &str) -> Result<(u16, u16), String> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse_port_number(a, what)?, parse_port_number(b, what)?);
            if b < a {
                return Err(format!("invalid {what} port range `{s}`: end before start"));
            }
            Ok((a, b))
        }
        None => {
            let p = parse_port_number(s, what)?;
            Ok((p, p))
        }
    }
}

/// Checks a protocol name.
pub fn check_protocol(p: &str) -> Result<(), String> {
    match p {
        "tcp" | "udp" | "sctp" => Ok(()),
        _ => Err(format!(
            "invalid protocol `{p}`: expected `tcp`, `udp` or `sctp`"
        )),
    }
}

/// The `port/protocol` keys of one `expose` entry (`80`, `80/udp`, a range `8000-8002`),
/// as `Config.ExposedPorts` takes them.
pub fn parse_expose(entry: &str) -> Result<Vec<String>, String> {
    let (ports, protocol) = entry.split_once('/').unwrap_or((entry, "tcp"));
    check_protocol(protocol)?;
    let (a, b) = parse_range(ports, "exposed")?;
    Ok((a..=b).map(|p| format!("{p}/{protocol}")).collect())
}

/// Parses a short port spec `[[host_ip:][published]:]target[/protocol]` into long-form ports
/// (several when `target` is a range).
pub fn parse_port(spec: &str) -> Result<Vec<Port>, String> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    check_protocol(&protocol)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let n = parts.len();
    let target = parts[n - 1];
    let (ip, published) = match n {
        1 => ("", ""),
        2 => ("", parts[0]),
        3 => (parts[0], parts[1]),
        _ => {
            let ip_end = rest.len() - target.len() - parts[n - 2].len() - 2;
            (&rest[..ip_end], parts[n - 2])
        }
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid host IP `{ip}` in port `{spec}`"));
    }
    if target.is_empty() {
        return Err(format!("invalid port `{spec}`: no container port"));
    }
    let (t0, t1) = parse_range(target, "container")?;
    let host_ip = (!ip.is_empty()).then(|| ip.to_string());
    let base = Port {
        mode: "ingress".into(),
        host_ip,
        protocol,
        ..Port::default()
    };
    if published.is_empty() {
        return Ok((t0..=t1)
            .map(|t| Port {
                target: t,
                ..base.clone()
            })
            .collect());
    }
    let (p0, p1) = parse_range(published, "published")?;
    if t0 == t1 {
        return Ok(vec![Port {
            target: t0,
            published: Some(published.to_string()),
            ..base
        }]);
    }
    if p1 - p0 != t1 - t0 {
        return Err(format!(
            "invalid port `{spec}`: published range `{published}` and container range `{target}` differ in size"
        ));
    }
    Ok((t0..=t1)
        .zip(p0..=p1)
        .map(|(t, p)| Port {
            target: t,
            published: Some(p.to_string()),
            ..base.clone()
        })
        .collect())
}

/// Checks a long-form `published` value (port or range).
pub fn check_published(p: &str) -> Result<(), String> {
    parse_range(p, "published").map(|_| ())
}

/// Whether a short volume source is a path (bind mount) rather than a volume name.
fn is_path(src: &str) -> bool {
    src.starts_with(['.', '/', '~'])
}

/// Resolves a path written in a compose file: `~` against `home`, relative against `base`.
pub fn resolve_path(p: &str, base: &Path, home: Option<&str>) -> String {
    if let Some(rest) = p.strip_prefix('~')
        && (rest.is_empty() || rest.starts_with('/'))
        && let Some(h) = home
    {
        return format!("{h}{rest}");
    }
    let path = Path::new(p);
    if path.is_absolute() {
        return p.to_string();
    }
    clean(&base.join(path))
}

/// Removes `.` and `..` components lexically (like Go's `filepath.Clean`).
fn clean(p: &Path) -> String {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.last(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !matches!(out.last(), Some(Component::RootDir)) {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    let s: std::path::PathBuf = out.iter().collect();
    let s = s.to_string_lossy().into_owned();
    if s.is_empty() { ".".into() } else { s }
}

/// Parses a short volume spec `[source:]target[:options]`; the bind source is resolved with
/// [`resolve_path`].
pub fn parse_volume(spec: &str, base: &Path, home: Option<&str>) -> Result<Mount, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, o] => (Some(*s), *t, Some(*o)),
        _ => return Err(format!("invalid volume `{spec}`: too many `:`")),
    };
    if target.is_empty() {
        return Err(format!("invalid volume `{spec}`: empty target"));
    }
    if !target.starts_with('/') {
        return Err(format!(
            "invalid volume `{spec}`: the target `{target}` must be an absolute path"
        ));
    }
    let mut m = Mount {
        target: target.to_string(),
        ..Mount::default()
    };
    match source {
        Some("") => return Err(format!("invalid volume `{spec}`: empty source")),
        Some(s) if is_path(s) => {
            m.kind = "bind".into();
            m.source = Some(resolve_path(s, base, home));
            m.bind = Some(BindOptions {
                create_host_path: true,
                ..BindOptions::default()
            });
        }
        Some(s) => {
            m.kind = "volume".into();
            m.source = Some(s.to_string());
            m.volume = Some(VolumeOptions::default());
        }
        None => {
            m.kind = "volume".into();
            m.volume = Some(VolumeOptions::default());
        }
    }
    for opt in options.into_iter().flat_map(|o| o.split(',')) {
        match opt {
            "ro" => m.read_only = true,
            "rw" => m.read_only = false,
            "z" | "Z" | "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate"
                if m.kind == "bind" =>
            {
                let b = m.bind.get_or_insert_with(BindOptions::default);
                if opt.eq_ignore_ascii_case("z") {
                    b.selinux = Some(opt.to_string());
                } else {
                    b.propagation = Some(opt.to_string());
                }
            }
            "nocopy" if m.kind == "volume" => {
                m.volume.get_or_insert_with(VolumeOptions::default).nocopy = true;
            }
            "cached" | "delegated" | "consistent" => {
                m.consistency = Some(opt.to_string());
                // compose-go leaves the bind options out when a consistency mode is given
                if m.bind
                    == Some(BindOptions {
                        create_host_path: true,
                        ..BindOptions::default()
                    })
                {
                    m.bind = None;
                }
            }
            other => {
                return Err(format!(
                    "invalid volume `{spec}`: option `{other}` is not valid for a {} mount",
                    m.kind
                ));
            }
        }
    }
    Ok(m)
}

/// Parses a short device spec `source[:target[:permissions]]`.
pub fn parse_device(spec: &str) -> Result<Device, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, perms) = match parts.as_slice() {
        [s] => (*s, *s, "rwm"),
        [s, t] if t.chars().all(|c| "rwm".contains(c)) && !t.starts_with('/') => (*s, *s, *t),
        [s, t] => (*s, *t, "rwm"),
        [s, t, p] => (*s, *t, *p),
        _ => return Err(format!("invalid device `{spec}`: too many `:`")),
    };
    if source.is_empty() || perms.is_empty() || !perms.chars().all(|c| "rwm".contains(c)) {
        return Err(format!(
            "invalid device `{spec}`: expected `source[:target[:permissions]]` with permissions from `rwm`"
        ));
    }
    Ok(Device {
        source: source.to_string(),
        target: target.to_string(),
        permissions: perms.to_string(),
    })
}

/// Parses an `extra_hosts` list entry `host=ip` or `host:ip`.
pub fn parse_extra_host(entry: &str) -> Result<(String, String), String> {
    let split = entry.split_once('=').or_else(|| entry.split_once(':'));
    match split {
        Some((h, ip)) if !h.is_empty() && !ip.is_empty() => {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            if ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err() {
                return Err(format!(
                    "invalid extra host `{entry}`: `{ip}` is not an IP address"
                ));
            }
            Ok((h.to_string(), ip.to_string()))
        }
        _ => Err(format!(
            "invalid extra host `{entry}`: expected `host=ip` or `host:ip`"
        )),
    }
}

/// Checks a `restart` policy.
pub fn check_restart(p: &str) -> Result<(), String> {
    match p {
        "no" | "always" | "unless-stopped" | "on-failure" => Ok(()),
        _ => match p.strip_prefix("on-failure:") {
            Some(n) if n.parse::<u32>().is_ok() => Ok(()),
            _ => Err(format!(
                "invalid restart policy `{p}`: expected `no`, `always`, `on-failure[:max-retries]` or `unless-stopped`"
            )),
        },
    }
}

/// Checks a `pull_policy`.
pub fn check_pull_policy(p: &str) -> Result<(), String> {
    let ok = match p {
        "always" | "never" | "missing" | "if_not_present" | "build" | "refresh" | "daily"
        | "weekly" => true,
        _ => p
            .strip_prefix("every_")
            .is_some_and(|d| crate::units::Duration::parse(d).is_ok() || every_days(d)),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid pull_policy `{p}`: expected `always`, `never`, `missing`, `build`, `daily`, `weekly` or `every_<duration>`"
        ))
    }
}

fn every_days(d: &str) -> bool {
    d.strip_suffix(['d', 'w'])
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a `network_mode`, `ipc`, `pid` or `uts` value of the `kind:name` forms.
pub fn check_namespace_ref(key: &str, v: &str) -> Result<(), String> {
    for prefix in ["service:", "container:"] {
        if let Some(name) = v.strip_prefix(prefix)
            && name.is_empty()
        {
            return Err(format!(
                "invalid {key} `{v}`: missing a name after `{prefix}`"
            ));
        }
    }
    if v.is_empty() {
        return Err(format!("invalid {key}: empty value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(spec: &str) -> Vec<(Option<String>, u16, Option<String>, String)> {
        parse_port(spec)
            .unwrap()
            .into_iter()
            .map(|p| (p.host_ip, p.target, p.published, p.protocol))
            .collect()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn ports_short_forms() {
        assert_eq!(port("80"), vec![(None, 80, None, "tcp".into())]);
        assert_eq!(port("8080:80"), vec![(None, 80, s("8080"), "tcp".into())]);
        assert_eq!(
            port("127.0.0.1:8080:80"),
            vec![(s("127.0.0.1"), 80, s("8080"), "tcp".into())]
        );
        assert_eq!(
            port("127.0.0.1::80"),
            vec![(s("127.0.0.1"), 80, None, "tcp".into())]
        );
        assert_eq!(port("53:53/udp"), vec![(None, 53, s("53"), "udp".into())]);
        assert_eq!(
            port("[::1]:5000:5000"),
            vec![(s("::1"), 5000, s("5000"), "tcp".into())]
        );
        assert_eq!(
            port("::1:5000:5000"),
            vec![(s("::1"), 5000, s("5000"), "tcp".into())]
        );
        assert_eq!(
            port("[::]:5000:5000/udp"),
            vec![(s("::"), 5000, s("5000"), "udp".into())]
        );
        assert_eq!(port("::5000/udp"), vec![(None, 5000, None, "udp".into())]);
    }

    #[test]
    fn port_ranges_expand() {
        assert_eq!(
            port("9090-9091:8080-8081"),
            vec![
                (None, 8080, s("9090"), "tcp".into()),
                (None, 8081, s("9091"), "tcp".into())
            ]
        );
        assert_eq!(port("3000-3001").len(), 2);
        assert_eq!(
            port("9000-9010:80"),
            vec![(None, 80, s("9000-9010"), "tcp".into())]
        );
    }

    #[test]
    fn bad_ports() {
        for bad in [
            "",
            "abc",
            "0",
            "70000",
            "80/xyz",
            "1.2.3:80:80",
            "9090-9092:8080-8081",
            "8081-8080",
            "8080:",
        ] {
            assert!(parse_port(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn volumes_short_forms() {
        let base = Path::new("/proj");
        let v = parse_volume("./data:/data:ro,z", base, None).unwrap();
        assert_eq!(v.kind, "bind");
        assert_eq!(v.source.as_deref(), Some("/proj/data"));
        assert!(v.read_only);
        let b = v.bind.unwrap();
        assert_eq!(b.selinux.as_deref(), Some("z"));
        assert!(b.create_host_path);

        let v = parse_volume("db:/var/lib/db", base, None).unwrap();
        assert_eq!(
            (v.kind.as_str(), v.source.as_deref()),
            ("volume", Some("db"))
        );
        assert_eq!(v.volume, Some(VolumeOptions::default()));

        let v = parse_volume("/cache", base, None).unwrap();
        assert_eq!((v.kind.as_str(), v.source), ("volume", None));

        let v = parse_volume("~/x:/x", base, Some("/home/u")).unwrap();
        assert_eq!(v.source.as_deref(), Some("/home/u/x"));
        let v = parse_volume("../up/./x:/x:rshared", base, None).unwrap();
        assert_eq!(v.source.as_deref(), Some("/up/x"));
        assert_eq!(v.bind.unwrap().propagation.as_deref(), Some("rshared"));
        let v = parse_volume("db:/x:nocopy", base, None).unwrap();
        assert!(v.volume.unwrap().nocopy);
        let v = parse_volume("./opt:/opt/cached:cached", base, None).unwrap();
        assert_eq!((v.consistency.as_deref(), v.bind), (Some("cached"), None));
    }

    #[test]
    fn bad_volumes() {
        let base = Path::new("/p");
        for bad in [
            "data",
            ":/x",
            "db:relative",
            "a:/b:c:d",
            "db:/x:z",
            "./a:/x:bogus",
        ] {
            assert!(
                parse_volume(bad, base, None).is_err(),
                "{bad:?} should fail"
            );
        }
    }

    #[test]
    fn devices_forms() {
        let d = parse_device("/dev/sda").unwrap();
        assert_eq!(
            (d.target.as_str(), d.permissions.as_str()),
            ("/dev/sda", "rwm")
        );
        let d = parse_device("/dev/sda:/dev/xvda:r").unwrap();
        assert_eq!(
            (d.target.as_str(), d.permissions.as_str()),
            ("/dev/xvda", "r")
        );
        let d = parse_device("/dev/fuse:rw").unwrap();
        assert_eq!(
            (d.target.as_str(), d.permissions.as_str()),
            ("/dev/fuse", "rw")
        );
        assert!(parse_device("/dev/a:/dev/b:xyz").is_err());
    }

    #[test]
    fn extra_hosts_forms() {
        assert_eq!(
            parse_extra_host("db:10.0.0.2").unwrap(),
            ("db".into(), "10.0.0.2".into())
        );
        assert_eq!(
            parse_extra_host("v6=::1").unwrap(),
            ("v6".into(), "::1".into())
        );
        assert_eq!(
            parse_extra_host("gw:host-gateway").unwrap().1,
            "host-gateway"
        );
        assert!(parse_extra_host("nohost").is_err());
        assert!(parse_extra_host("a=not-an-ip").is_err());
    }

    #[test]
    fn policies() {
        for ok in [
            "no",
            "always",
            "on-failure",
            "on-failure:3",
            "unless-stopped",
        ] {
            assert!(check_restart(ok).is_ok(), "{ok}");
        }
        for bad in ["yes", "on-failure:x", "sometimes"] {
            assert!(check_restart(bad).is_err(), "{bad}");
        }
        for ok in ["always", "missing", "every_12h", "every_2d", "daily"] {
            assert!(check_pull_policy(ok).is_ok(), "{ok}");
        }
        assert!(check_pull_policy("sometimes").is_err());
        assert!(check_namespace_ref("network_mode", "service:").is_err());
        assert!(check_namespace_ref("network_mode", "service:db").is_ok());
        assert!(check_namespace_ref("network_mode", "host").is_ok());
    }
}

//! What a container asks to have mounted, parsed from its create body (pure, unit-tested):
//! `HostConfig.Binds` (`src:dst[:opts]`), `HostConfig.Mounts` (bind/volume/tmpfs with their
//! options), `HostConfig.Tmpfs`, `HostConfig.VolumesFrom`, and the image's and the request's
//! `Volumes` (anonymous volumes). Precedence is Docker's: explicit mounts first (a duplicate
//! destination is an error), then volumes from other containers, then anonymous volumes for
//! paths nothing else covers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::models::{ContainerCreateBody, Mount, MountPoint};
use crate::backend::{BackendError, BackendResult};

/// A mount as resolved at create time, persisted in `containers/<id>/mounts.json` (also what
/// inspect shows and what `--volumes-from` copies).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Resolved {
    /// `bind`, `volume` or `tmpfs`.
    pub typ: String,
    /// Volume name.
    pub name: Option<String>,
    /// Host path (bind source or the volume's `_data`).
    pub source: String,
    /// Path inside the container.
    pub destination: String,
    /// Mode text as given (`ro,z`).
    pub mode: String,
    /// Writable.
    pub rw: bool,
    /// Propagation (`rprivate` by default).
    pub propagation: String,
    /// tmpfs options (`size=…`, `mode=…`).
    pub options: Vec<String>,
    /// The volume was created for this container (removed by `rm -v`).
    pub anonymous: bool,
}

impl Resolved {
    /// Docker's `Mounts[]` entry of inspect.
    pub(super) fn view(&self) -> MountPoint {
        MountPoint {
            typ: self.typ.clone(),
            name: self.name.clone(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            driver: self.name.as_ref().map(|_| "local".to_owned()),
            mode: self.mode.clone(),
            rw: self.rw,
            propagation: if self.typ == "bind" {
                self.propagation.clone()
            } else {
                String::new()
            },
        }
    }
}

/// Where a wanted mount's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// A host path; `create` makes a missing one (short syntax), else it must exist.
    Bind { source: PathBuf, create: bool },
    /// A named volume (empty name: a new anonymous volume).
    Volume {
        name: String,
        nocopy: bool,
        labels: BTreeMap<String, String>,
        driver: String,
        driver_opts: BTreeMap<String, String>,
    },
    /// A fresh tmpfs with these options.
    Tmpfs { options: Vec<String> },
    /// A mount of another container (`--volumes-from`).
    From(Resolved),
}

/// One mount the container asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Wanted {
    pub destination: String,
    pub kind: Kind,
    pub read_only: bool,
    pub propagation: String,
    pub mode: String,
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// A clean absolute container path, or an error naming the spec it came from.
pub(super) fn clean_destination(dst: &str, spec: &str) -> BackendResult<String> {
    if !dst.starts_with('/') {
        return Err(BackendError::invalid(format!(
            "invalid mount config: {spec:?}: mount path {dst:?} must be absolute"
        )));
    }
    let mut out = PathBuf::from("/");
    for c in Path::new(dst).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    if out == Path::new("/") {
        return Err(BackendError::invalid(format!(
            "invalid mount config: {spec:?}: destination can't be '/'"
        )));
    }
    Ok(out.display().to_string())
}

fn volume(name: &str, nocopy: bool) -> Kind {
    Kind::Volume {
        name: name.to_owned(),
        nocopy,
        labels: BTreeMap::new(),
        driver: String::new(),
        driver_opts: BTreeMap::new(),
    }
}

/// `src:dst[:opts]` of `-v`/`HostConfig.Binds`.
pub(super) fn parse_bind(spec: &str) -> BackendResult<Wanted> {
    let parts: Vec<&str> = spec.split(':').collect();
    let bad =
        |why: &str| BackendError::invalid(format!("invalid volume specification: '{spec}': {why}"));
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => return Err(bad("expected source:destination[:options]")),
    };
    let (mut read_only, mut propagation, mut nocopy) = (false, String::new(), false);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" | "consistent" | "cached" | "delegated" => {}
            "nocopy" => nocopy = true,
            p if PROPAGATIONS.contains(&p) => propagation = p.to_owned(),
            other => return Err(bad(&format!("invalid mode: {other}"))),
        }
    }
    let destination = clean_destination(dst, spec)?;
    let kind = if src.starts_with('/') {
        if nocopy {
            return Err(bad("nocopy applies to volumes, not to host paths"));
        }
        Kind::Bind {
            source: PathBuf::from(src),
            create: true,
        }
    } else if berth_volume::meta::valid_name(src) {
        if !propagation.is_empty() {
            return Err(bad("propagation applies to host paths, not to volumes"));
        }
        volume(src, nocopy)
    } else {
        return Err(bad(&format!(
            "{src:?} is neither an absolute host path nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]); relative host paths must be made absolute"
        )));
    };
    Ok(Wanted {
        destination,
        kind,
        read_only,
        propagation,
        mode: opts.to_owned(),
    })
}

/// One `HostConfig.Mounts[]` entry.
pub(super) fn parse_mount(m: &Mount) -> BackendResult<Wanted> {
    let spec = format!("type={},source={},target={}", m.typ, m.source, m.target);
    let bad = |why: String| {
        BackendError::invalid(format!("invalid mount config for type {:?}: {why}", m.typ))
    };
    let destination = clean_destination(&m.target, &spec)?;
    let mut propagation = String::new();
    let kind = match m.typ.as_str() {
        "bind" => {
            if !m.source.starts_with('/') {
                return Err(bad(format!(
                    "invalid mount path: {:?} mount path must be absolute",
                    m.source
                )));
            }
            let o = m.bind_options.clone().unwrap_or_default();
            if !o.propagation.is_empty() {
                if !PROPAGATIONS.contains(&o.propagation.as_str()) {
                    return Err(bad(format!("invalid propagation mode: {}", o.propagation)));
                }
                propagation = o.propagation;
            }
            Kind::Bind {
                source: PathBuf::from(&m.source),
                create: o.create_mountpoint,
            }
        }
        "volume" => {
            if !m.source.is_empty() && !berth_volume::meta::valid_name(&m.source) {
                return Err(bad(format!("invalid volume name {:?}", m.source)));
            }
            let o = m.volume_options.clone().unwrap_or_default();
            let dc = o.driver_config.unwrap_or_default();
            Kind::Volume {
                name: m.source.clone(),
                nocopy: o.no_copy,
                labels: o.labels.into_iter().collect(),
                driver: dc.name,
                driver_opts: dc.options,
            }
        }
        "tmpfs" => {
            if !m.source.is_empty() {
                return Err(bad("source must not be specified".to_owned()));
            }
            let o = m.tmpfs_options.clone().unwrap_or_default();
            let mut options = Vec::new();
            if o.size_bytes < 0 {
                return Err(bad(format!("invalid size {}", o.size_bytes)));
            }
            if o.size_bytes > 0 {
                options.push(format!("size={}", o.size_bytes));
            }
            options.push(format!(
                "mode={:o}",
                if o.mode == 0 { 0o1777 } else { o.mode & 0o7777 }
            ));
            Kind::Tmpfs { options }
        }
        other => {
            return Err(bad(format!(
                "mount type {other:?} is not supported (bind, volume, tmpfs)"
            )));
        }
    };
    Ok(Wanted {
        destination,
        kind,
        read_only: m.read_only,
        propagation,
        mode: String::new(),
    })
}

/// One `HostConfig.Tmpfs` entry (`/run` → `size=64m,mode=1770`).
pub(super) fn parse_tmpfs(dst: &str, opts: &str) -> BackendResult<Wanted> {
    let destination = clean_destination(dst, dst)?;
    let mut options: Vec<String> = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    let read_only = options.iter().any(|o| o == "ro");
    options.retain(|o| o != "ro" && o != "rw");
    if !options.iter().any(|o| o.starts_with("mode=")) {
        options.push("mode=1777".to_owned());
    }
    Ok(Wanted {
        destination,
        kind: Kind::Tmpfs { options },
        read_only,
        propagation: String::new(),
        mode: opts.to_owned(),
    })
}

/// `ctr[:ro|rw]` of `HostConfig.VolumesFrom`.
pub(super) fn parse_volumes_from(spec: &str) -> BackendResult<(String, Option<bool>)> {
    match spec.split_once(':') {
        None => Ok((spec.to_owned(), None)),
        Some((c, "ro")) => Ok((c.to_owned(), Some(true))),
        Some((c, "rw")) => Ok((c.to_owned(), Some(false))),
        Some((_, m)) => Err(BackendError::invalid(format!(
            "invalid mode for volumes-from {spec:?}: {m} (use ro or rw)"
        ))),
    }
}

/// Everything a container asks to have mounted, in Docker's precedence. `from` gives the
/// resolved mounts of a container named in `VolumesFrom`.
pub(super) fn wanted(
    body: &ContainerCreateBody,
    image_volumes: &[String],
    from: impl Fn(&str) -> BackendResult<Vec<Resolved>>,
) -> BackendResult<Vec<Wanted>> {
    let h = &body.host_config;
    let mut out: Vec<Wanted> = Vec::new();
    let mut taken = BTreeSet::new();
    let mut explicit = Vec::new();
    for b in &h.binds {
        explicit.push(parse_bind(b)?);
    }
    for m in &h.mounts {
        explicit.push(parse_mount(m)?);
    }
    for (dst, opts) in &h.tmpfs {
        explicit.push(parse_tmpfs(dst, opts)?);
    }
    for w in explicit {
        if !taken.insert(w.destination.clone()) {
            return Err(BackendError::invalid(format!(
                "Duplicate mount point: {}",
                w.destination
            )));
        }
        out.push(w);
    }
    for spec in &h.volumes_from {
        let (ctr, ro) = parse_volumes_from(spec)?;
        for r in from(&ctr)? {
            if r.typ == "tmpfs" || !taken.insert(r.destination.clone()) {
                continue;
            }
            let read_only = ro.unwrap_or(!r.rw);
            out.push(Wanted {
                destination: r.destination.clone(),
                read_only,
                propagation: r.propagation.clone(),
                mode: if read_only {
                    "ro".to_owned()
                } else {
                    String::new()
                },
                kind: Kind::From(r),
            });
        }
    }
    let anon = body
        .config
        .volumes
        .keys()
        .map(String::as_str)
        .chain(image_volumes.iter().map(String::as_str));
    for path in anon {
        let destination = clean_destination(path, path)?;
        if taken.insert(destination.clone()) {
            out.push(Wanted {
                destination,
                kind: volume("", false),
                read_only: false,
                propagation: String::new(),
                mode: String::new(),
            });
        }
    }
    // Parents before children, so a mount under another one lands on top of it.
    out.sort_by_key(|w| Path::new(&w.destination).components().count());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::{BindOptions, TmpfsOptions};

    fn body(json: &str) -> ContainerCreateBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn binds_are_host_paths_or_volume_names() {
        let w = parse_bind("/srv/conf:/etc/app:ro,z").unwrap();
        assert_eq!(
            w.kind,
            Kind::Bind {
                source: "/srv/conf".into(),
                create: true
            }
        );
        assert!(w.read_only);
        let w = parse_bind("db_data:/var/lib/mysql/:nocopy").unwrap();
        assert!(matches!(w.kind, Kind::Volume { ref name, nocopy: true, .. } if name == "db_data"));
        assert_eq!(w.destination, "/var/lib/mysql");
        let w = parse_bind("/a:/b:rshared").unwrap();
        assert_eq!(w.propagation, "rshared");
        for bad in [
            "./rel:/x",
            "/a",
            "/a:rel",
            "/a:/b:bogus",
            "v1:/x:rshared",
            "/a:/",
        ] {
            let e = parse_bind(bad).unwrap_err();
            assert!(e.message.contains("invalid"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn mounts_carry_their_options() {
        let m = Mount {
            typ: "tmpfs".into(),
            target: "/scratch".into(),
            tmpfs_options: Some(TmpfsOptions {
                size_bytes: 1 << 20,
                mode: 0o700,
            }),
            ..Mount::default()
        };
        assert_eq!(
            parse_mount(&m).unwrap().kind,
            Kind::Tmpfs {
                options: vec!["size=1048576".into(), "mode=700".into()]
            }
        );
        let m = Mount {
            typ: "bind".into(),
            source: "/nope".into(),
            target: "/x".into(),
            bind_options: Some(BindOptions {
                propagation: "rslave".into(),
                create_mountpoint: false,
            }),
            ..Mount::default()
        };
        let w = parse_mount(&m).unwrap();
        assert_eq!(
            (w.kind, w.propagation.as_str()),
            (
                Kind::Bind {
                    source: "/nope".into(),
                    create: false
                },
                "rslave"
            )
        );
        let m = Mount {
            typ: "npipe".into(),
            target: "/x".into(),
            ..Mount::default()
        };
        assert!(parse_mount(&m).is_err());
    }

    #[test]
    fn tmpfs_defaults_to_mode_1777() {
        let w = parse_tmpfs("/run", "size=64m").unwrap();
        assert_eq!(
            w.kind,
            Kind::Tmpfs {
                options: vec!["size=64m".into(), "mode=1777".into()]
            }
        );
    }

    #[test]
    fn precedence_explicit_then_volumes_from_then_anonymous() {
        let b = body(
            r#"{"Image":"x","Volumes":{"/data":{}},"HostConfig":{"Binds":["v1:/data"],"VolumesFrom":["src:ro"],"Tmpfs":{"/tmp":""}}}"#,
        );
        let from = |c: &str| {
            assert_eq!(c, "src");
            Ok(vec![
                Resolved {
                    typ: "volume".into(),
                    name: Some("shared".into()),
                    destination: "/shared".into(),
                    rw: true,
                    ..Resolved::default()
                },
                Resolved {
                    typ: "volume".into(),
                    name: Some("other".into()),
                    destination: "/data".into(),
                    rw: true,
                    ..Resolved::default()
                },
            ])
        };
        let w = wanted(&b, &["/cache".to_owned(), "/data".to_owned()], from).unwrap();
        let dests: Vec<&str> = w.iter().map(|w| w.destination.as_str()).collect();
        assert_eq!(dests, ["/data", "/tmp", "/shared", "/cache"]);
        assert!(w[2].read_only, "volumes-from :ro makes the copy read-only");
        assert!(matches!(&w[3].kind, Kind::Volume { name, .. } if name.is_empty()));
        let dup = body(r#"{"Image":"x","HostConfig":{"Binds":["/a:/x","v1:/x/"]}}"#);
        let e = wanted(&dup, &[], |_| Ok(vec![])).unwrap_err();
        assert_eq!(e.message, "Duplicate mount point: /x");
    }
}

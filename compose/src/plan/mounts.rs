//! A service's mounts in engine form (pure): `volumes:` short and long syntax (project volume
//! keys become engine names; `bind.create_host_path`, propagation, `volume.nocopy`, tmpfs
//! size and mode carried over), the read-only binds of `secrets:`/`configs:` (see
//! [`super::files`]), and `volumes_from` resolved to container names.

use crate::engine_api::MountSpec;
use crate::model::{Project, Service};

use super::spec::container_name;

/// Every mount of `service`: its `volumes`, then its secrets and configs.
pub fn service_mounts(project: &Project, service: &Service) -> Vec<MountSpec> {
    let mut out: Vec<MountSpec> = service
        .volumes
        .iter()
        .map(|m| {
            let source = match (m.kind.as_str(), &m.source) {
                ("volume", Some(key)) => Some(
                    project
                        .volumes
                        .get(key)
                        .map_or_else(|| key.clone(), |v| v.name.clone()),
                ),
                (_, s) => s.clone(),
            };
            let bind = m.bind.clone().unwrap_or_default();
            let volume = m.volume.clone().unwrap_or_default();
            let tmpfs = m.tmpfs.clone().unwrap_or_default();
            MountSpec {
                kind: m.kind.clone(),
                source,
                target: m.target.clone(),
                read_only: m.read_only,
                propagation: bind.propagation,
                create_host_path: bind.create_host_path,
                nocopy: volume.nocopy,
                tmpfs_size: tmpfs.size.map(|s| s.0),
                tmpfs_mode: tmpfs.mode,
            }
        })
        .collect();
    out.extend(super::files::file_binds(project, service));
    out
}

/// `volumes_from` entries as the engine takes them: `service:X` (or a bare `X`) becomes the
/// container name of X's first replica, `container:Y` stays `Y`; `:ro`/`:rw` is kept.
pub fn volumes_from(project: &Project, service: &Service) -> Vec<String> {
    service
        .volumes_from
        .iter()
        .map(|item| {
            let (what, mode) = match item.rsplit_once(':') {
                Some((w, m)) if m == "ro" || m == "rw" => (w, Some(m)),
                _ => (item.as_str(), None),
            };
            let name = match what.strip_prefix("container:") {
                Some(c) => c.to_owned(),
                None => {
                    let svc = what.strip_prefix("service:").unwrap_or(what);
                    project
                        .services
                        .get(svc)
                        .map_or_else(|| svc.to_owned(), |s| container_name(&project.name, s, 1))
                }
            };
            match mode {
                Some(m) => format!("{name}:{m}"),
                None => name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "\
services:
  db:
    image: mysql
    volumes:
      - data:/var/lib/mysql
      - type: bind
        source: ./conf
        target: /etc/mysql/conf.d
        read_only: true
        bind: {propagation: rslave}
      - type: bind
        source: ./made
        target: /made
        bind: {create_host_path: true}
      - type: volume
        source: data
        target: /nocopy
        volume: {nocopy: true}
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1m, mode: 0o700}
      - ./short:/short
    tmpfs: [/run]
    secrets:
      - db_pass
      - {source: db_pass, target: custom}
    configs:
      - source: my_cnf
        target: /etc/my.cnf
  backup:
    image: busybox
    volumes_from: [db, 'service:db:ro', 'container:legacy:rw']
volumes:
  data: {}
secrets:
  db_pass: {file: ./pass.txt}
configs:
  my_cnf: {file: ./my.cnf}
";

    #[test]
    fn long_syntax_secrets_and_volumes_from_reach_the_engine_spec() {
        let p = crate::testutil::project(APP, "app");
        let m = service_mounts(&p, &p.services["db"]);
        let by_target = |t: &str| {
            m.iter()
                .find(|m| m.target == t)
                .unwrap_or_else(|| panic!("{t}: {m:?}"))
        };
        assert_eq!(
            by_target("/var/lib/mysql").source.as_deref(),
            Some("app_data")
        );
        let conf = by_target("/etc/mysql/conf.d");
        assert!(conf.read_only && !conf.create_host_path);
        assert_eq!(conf.propagation.as_deref(), Some("rslave"));
        assert!(by_target("/made").create_host_path);
        assert!(
            by_target("/short").create_host_path,
            "short syntax creates the host path"
        );
        assert!(by_target("/nocopy").nocopy);
        let t = by_target("/scratch");
        assert_eq!((t.tmpfs_size, t.tmpfs_mode), (Some(1 << 20), Some(0o700)));
        let secret = by_target("/run/secrets/db_pass");
        assert!(secret.read_only && secret.kind == "bind");
        assert!(secret.source.as_deref().unwrap().ends_with("pass.txt"));
        assert!(by_target("/run/secrets/custom").read_only);
        assert!(
            by_target("/etc/my.cnf")
                .source
                .as_deref()
                .unwrap()
                .ends_with("my.cnf")
        );
        let from = volumes_from(&p, &p.services["backup"]);
        assert_eq!(from, ["app-db-1", "app-db-1:ro", "legacy:rw"]);
    }
}

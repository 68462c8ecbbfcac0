//! Secrets and configs of a service in engine form (pure). A `file:` source with no `uid`,
//! `gid` or `mode` is a read-only bind (as docker compose does); every other one (an
//! `environment:` or `content:` source, or a file with owner or mode) becomes a
//! [`FileCopy`] the executor writes into the container after create and before start, with
//! mode 0444 and owner 0:0 unless set. Targets: secrets under `/run/secrets/`, configs under
//! `/`, unless `target` is absolute.

use std::path::Path;

use crate::engine_api::{FileCopy, FileSource, MountSpec};
use crate::error::{Error, ErrorKind};
use crate::model::{FileObject, FileRef, Project, Service};

use super::{Action, Plan};

/// Secrets or configs: where relative targets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    Config,
}

/// The absolute path `r` lands at in the container.
fn target(kind: Kind, r: &FileRef) -> String {
    let base = match kind {
        Kind::Secret => "/run/secrets/",
        Kind::Config => "/",
    };
    match &r.target {
        Some(t) if t.starts_with('/') => t.clone(),
        Some(t) => format!("{base}{t}"),
        None => format!("{base}{}", r.source),
    }
}

/// Every secret and config reference of `service` with its object and kind.
fn refs<'a>(
    project: &'a Project,
    service: &'a Service,
) -> impl Iterator<Item = (Kind, &'a FileRef, &'a FileObject)> {
    let secrets = service
        .secrets
        .iter()
        .filter_map(|r| Some((Kind::Secret, r, project.secrets.get(&r.source)?)));
    let configs = service
        .configs
        .iter()
        .filter_map(|r| Some((Kind::Config, r, project.configs.get(&r.source)?)));
    secrets.chain(configs)
}

fn has_owner_or_mode(r: &FileRef) -> bool {
    r.uid.is_some() || r.gid.is_some() || r.mode.is_some()
}

/// The read-only binds: `file:` sources without `uid`, `gid` or `mode`.
pub fn file_binds(project: &Project, service: &Service) -> Vec<MountSpec> {
    refs(project, service)
        .filter(|(_, r, _)| !has_owner_or_mode(r))
        .filter_map(|(kind, r, obj)| {
            let file = obj.file.as_ref()?;
            Some(MountSpec {
                kind: "bind".to_owned(),
                source: Some(
                    project
                        .working_dir
                        .join(Path::new(file))
                        .display()
                        .to_string(),
                ),
                target: target(kind, r),
                read_only: true,
                ..MountSpec::default()
            })
        })
        .collect()
}

/// Checks the secrets and configs of every service `plan` creates a container for, before it
/// runs: an `environment:` source must be set in the project environment, `uid`/`gid` must
/// be numbers. Reports every problem with where it is written.
pub fn check_files(project: &Project, plan: &Plan) -> Result<(), Error> {
    let mut services: Vec<&str> = plan
        .operations
        .iter()
        .filter_map(|op| match &op.action {
            Action::CreateContainer { service, .. } => Some(service.as_str()),
            _ => None,
        })
        .collect();
    services.sort_unstable();
    services.dedup();
    let mut errors = Vec::new();
    for service in services.iter().filter_map(|s| project.services.get(*s)) {
        for (kind, r, obj) in refs(project, service) {
            let word = match kind {
                Kind::Secret => "secret",
                Kind::Config => "config",
            };
            if let Some(var) = &obj.environment
                && obj.environment_value.is_none()
            {
                let message = format!(
                    "{word} `{}` reads environment variable `{var}`, which is not set",
                    r.source
                );
                let hint = format!("set {var} in the environment or in the project's .env file");
                errors.push(match obj.environment_loc.as_ref().or(obj.loc.as_ref()) {
                    Some(loc) => Error::at_hint(ErrorKind::UndefinedReference, loc, message, hint),
                    None => Error::Project {
                        message,
                        hint: Some(hint),
                    },
                });
            }
            for (what, id) in [("uid", &r.uid), ("gid", &r.gid)] {
                if let Some(id) = id.as_ref().filter(|id| id.parse::<u32>().is_err()) {
                    let message = format!(
                        "service `{}`: {word} `{}` has {what} `{id}`, which is not a number",
                        service.name, r.source
                    );
                    let hint = format!("write the numeric {what} (for example \"1000\")");
                    let key = match kind {
                        Kind::Secret => "secrets",
                        Kind::Config => "configs",
                    };
                    errors.push(match service.loc_of(key) {
                        Some(loc) => Error::at_hint(ErrorKind::InvalidValue, loc, message, hint),
                        None => Error::Project {
                            message,
                            hint: Some(hint),
                        },
                    });
                }
            }
        }
    }
    Error::collect(errors)
}

/// The files copied in: `environment:` and `content:` sources, and `file:` sources with
/// `uid`, `gid` or `mode`. An unset environment variable or a non-numeric id is refused by
/// [`check_files`] before the plan runs; here they fall back to empty content and 0.
pub fn file_copies(project: &Project, service: &Service) -> Vec<FileCopy> {
    refs(project, service)
        .filter_map(|(kind, r, obj)| {
            let source = if let Some(file) = &obj.file {
                if !has_owner_or_mode(r) {
                    return None;
                }
                FileSource::HostFile(
                    project
                        .working_dir
                        .join(Path::new(file))
                        .display()
                        .to_string(),
                )
            } else if obj.environment.is_some() {
                FileSource::Content(obj.environment_value.clone().unwrap_or_default())
            } else {
                FileSource::Content(obj.content.clone()?)
            };
            let id = |v: &Option<String>| v.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
            Some(FileCopy {
                target: target(kind, r),
                source,
                uid: id(&r.uid),
                gid: id(&r.gid),
                mode: r.mode.unwrap_or(0o444),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "\
services:
  app:
    image: busybox
    secrets:
      - token
      - source: token
        target: again
      - source: key
        target: /etc/key.pem
        uid: \"1000\"
        gid: \"50\"
        mode: 0400
      - plain
    configs:
      - motd
      - source: motd
        target: etc/motd
        mode: 0644
      - source: conf
        target: /etc/app.conf
secrets:
  token:
    environment: TOKEN
  key:
    file: ./key.pem
  plain:
    file: ./plain.txt
configs:
  motd:
    content: hello
  conf:
    file: ./app.conf
";

    fn project_with_env(text: &str, env: &[(&str, &str)]) -> crate::Result<Project> {
        let env: indexmap::IndexMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let dir = Path::new("/app");
        let ctx = crate::model::NormalizeContext {
            name: "app",
            working_dir: dir,
            environment: &env,
            profiles: &[],
        };
        Project::from_node(&crate::testutil::node(text), &ctx)
    }

    /// One line per file: binds, then copies, in a stable text form.
    fn render(p: &Project) -> String {
        let s = &p.services["app"];
        let mut out = String::new();
        for m in file_binds(p, s) {
            let src = m.source.unwrap_or_default();
            out.push_str(&format!("bind {src} -> {} ro={}\n", m.target, m.read_only));
        }
        for c in file_copies(p, s) {
            let src = match &c.source {
                FileSource::Content(t) => format!("content {t:?}"),
                FileSource::HostFile(f) => format!("file {f}"),
            };
            out.push_str(&format!(
                "copy {src} -> {} {}:{} {:o}\n",
                c.target, c.uid, c.gid, c.mode
            ));
        }
        out
    }

    #[test]
    fn secrets_and_configs_become_binds_or_copies_with_owner_and_mode() {
        let p = project_with_env(APP, &[("TOKEN", "s3cret")]).expect("valid");
        assert_eq!(
            render(&p),
            "\
bind /app/plain.txt -> /run/secrets/plain ro=true
bind /app/app.conf -> /etc/app.conf ro=true
copy content \"s3cret\" -> /run/secrets/token 0:0 444
copy content \"s3cret\" -> /run/secrets/again 0:0 444
copy file /app/key.pem -> /etc/key.pem 1000:50 400
copy content \"hello\" -> /motd 0:0 444
copy content \"hello\" -> /etc/motd 0:0 644
"
        );
        let json = serde_json::to_string(&p.secrets["token"]).unwrap();
        assert!(
            !json.contains("s3cret"),
            "the value is never serialized: {json}"
        );
    }

    fn up_plan(p: &Project) -> Plan {
        super::super::plan(p, &Default::default(), &Default::default())
    }

    #[test]
    fn an_unset_environment_source_is_refused_with_its_place() {
        let p = project_with_env(APP, &[]).expect("loading needs no secret value");
        let err = check_files(&p, &up_plan(&p)).unwrap_err().to_string();
        assert!(
            err.contains(
                "c.yaml:23:18: secret `token` reads environment variable `TOKEN`, which is not set"
            ),
            "{err}"
        );
        assert!(
            err.contains("hint: set TOKEN in the environment or in the project's .env file"),
            "{err}"
        );
        let nothing_created = Plan::default();
        check_files(&p, &nothing_created).expect("no container created, no secret needed");
        let p = project_with_env(APP, &[("TOKEN", "")]).unwrap();
        check_files(&p, &up_plan(&p)).expect("an empty value is a value");
    }

    #[test]
    fn a_non_numeric_uid_is_refused() {
        let text = "services:\n  a:\n    image: x\n    secrets:\n      - source: t\n        uid: bob\nsecrets:\n  t:\n    file: ./t\n";
        let p = project_with_env(text, &[]).unwrap();
        let err = check_files(&p, &up_plan(&p)).unwrap_err().to_string();
        assert!(
            err.contains("secret `t` has uid `bob`, which is not a number"),
            "{err}"
        );
    }
}

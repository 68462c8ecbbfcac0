//! `external: true` volumes and networks belong to the user, not the project: `up` never
//! creates them and `down -v` never removes them. They must exist before anything is created,
//! so [`check_external`] lists the engine's volumes and networks once and refuses the whole
//! `up` (naming every missing one, where it is declared, and the command that creates it)
//! before the plan runs. [`missing_external`] is the pure part.

use std::collections::BTreeSet;
use std::fmt;

use crate::engine_api::{EngineApi, EngineError, LabelFilter};
use crate::error::Loc;
use crate::model::Project;

/// An external volume or network the engine does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingExternal {
    /// `volume` or `network`.
    pub kind: &'static str,
    /// The engine name looked up (the `name:` override when set, else the key).
    pub name: String,
    /// Where the resource is declared.
    pub loc: Option<Loc>,
}

impl fmt::Display for MissingExternal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name) = (self.kind, &self.name);
        write!(f, "{kind} {name:?} is external but does not exist")?;
        if let Some(loc) = &self.loc {
            write!(f, " ({loc})")?;
        }
        write!(f, "; create it with \"berth {kind} create {name}\"")
    }
}

/// Why the external resources could not be confirmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalError {
    /// One or more external resources are missing (all of them are listed).
    #[error("{}", list(.0))]
    Missing(Vec<MissingExternal>),
    /// The engine could not list its volumes or networks.
    #[error("listing the engine's {what} to check external ones: {source}")]
    Engine {
        what: &'static str,
        source: EngineError,
    },
}

fn list(missing: &[MissingExternal]) -> String {
    let lines: Vec<String> = missing.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// The external volumes and networks of `project` whose engine names are not in `volumes` /
/// `networks` (names, or ids for networks), volumes first, each sorted by key.
pub fn missing_external(
    project: &Project,
    volumes: &BTreeSet<String>,
    networks: &BTreeSet<String>,
) -> Vec<MissingExternal> {
    let mut out = Vec::new();
    for key in project.volume_names() {
        let v = &project.volumes[key];
        if v.external && !volumes.contains(&v.name) {
            out.push(MissingExternal {
                kind: "volume",
                name: v.name.clone(),
                loc: v.loc.clone(),
            });
        }
    }
    for key in project.network_names() {
        let n = &project.networks[key];
        if n.external && !networks.contains(&n.name) {
            out.push(MissingExternal {
                kind: "network",
                name: n.name.clone(),
                loc: n.loc.clone(),
            });
        }
    }
    out
}

/// Checks that every external volume and network of `project` exists in `engine`. Lists
/// only what the project declares external; makes no call when there is none.
pub async fn check_external(
    engine: &dyn EngineApi,
    project: &Project,
) -> Result<(), ExternalError> {
    let any_volume = project.volumes.values().any(|v| v.external);
    let any_network = project.networks.values().any(|n| n.external);
    let all = LabelFilter::default();
    let mut volumes = BTreeSet::new();
    if any_volume {
        let list = engine
            .list_volumes(&all)
            .await
            .map_err(|source| ExternalError::Engine {
                what: "volumes",
                source,
            })?;
        volumes.extend(list.into_iter().map(|v| v.name));
    }
    let mut networks = BTreeSet::new();
    if any_network {
        let list = engine
            .list_networks(&all)
            .await
            .map_err(|source| ExternalError::Engine {
                what: "networks",
                source,
            })?;
        networks.extend(list.into_iter().flat_map(|n| [n.name, n.id]));
    }
    let missing = missing_external(project, &volumes, &networks);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ExternalError::Missing(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine_api::{FakeEngine, NetworkInfo, VolumeInfo};
    use crate::execute::execute;
    use crate::plan::{DownOptions, PlanOptions, plan, plan_down};

    const APP: &str = "\
services:
  db:
    image: busybox
    volumes: [data:/data, logs:/logs, own:/own]
    networks: [front, back]
volumes:
  data:
    external: true
  logs:
    external: true
    name: real-logs
  own: {}
networks:
  front:
    external: true
  back: {}
";

    fn volume(name: &str) -> VolumeInfo {
        VolumeInfo {
            name: name.to_owned(),
            labels: Default::default(),
        }
    }

    #[test]
    fn every_missing_external_is_named_with_its_place_and_the_fix() {
        let p = crate::testutil::project(APP, "app");
        let missing = missing_external(&p, &BTreeSet::new(), &BTreeSet::new());
        let text = ExternalError::Missing(missing).to_string();
        assert_eq!(
            text,
            "volume \"data\" is external but does not exist (c.yaml:7:3); \
             create it with \"berth volume create data\"\n\
             volume \"real-logs\" is external but does not exist (c.yaml:9:3); \
             create it with \"berth volume create real-logs\"\n\
             network \"front\" is external but does not exist (c.yaml:14:3); \
             create it with \"berth network create front\""
        );
        let have: BTreeSet<String> = ["data", "real-logs"].map(String::from).into();
        let nets: BTreeSet<String> = ["front".to_owned()].into();
        assert!(missing_external(&p, &have, &nets).is_empty());
        let by_key: BTreeSet<String> = ["data", "logs"].map(String::from).into();
        let m = missing_external(&p, &by_key, &nets);
        assert_eq!(
            m.len(),
            1,
            "`name:` is what is looked up, not the key: {m:?}"
        );
        assert_eq!(m[0].name, "real-logs");
    }

    #[tokio::test]
    async fn up_with_a_missing_external_volume_creates_nothing() {
        let p = crate::testutil::project(APP, "app");
        let engine = FakeEngine::new();
        engine.insert_volume(volume("data"));
        engine.insert_network(NetworkInfo {
            id: "n1".into(),
            name: "front".into(),
            labels: Default::default(),
        });
        let err = check_external(&engine, &p).await.unwrap_err();
        let ExternalError::Missing(m) = &err else {
            panic!("{err}")
        };
        assert_eq!(
            m.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["real-logs"]
        );
        assert!(
            engine.log().is_empty(),
            "nothing created: {:?}",
            engine.log()
        );

        engine.insert_volume(volume("real-logs"));
        check_external(&engine, &p)
            .await
            .expect("all external ones exist");
        let plan = plan(&p, &Default::default(), &PlanOptions::default());
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        execute(&plan, &engine, &tx).await.expect("up");
        let log = engine.log();
        assert!(log.contains(&"create-volume app_own".to_owned()), "{log:?}");
        assert!(
            log.contains(&"create-network app_back".to_owned()),
            "{log:?}"
        );
        assert!(
            !log.iter()
                .any(|l| l.contains("data") || l.contains("logs") || l.ends_with(" front")),
            "external resources are never created: {log:?}"
        );
    }

    #[tokio::test]
    async fn a_network_may_be_named_by_id_and_no_call_is_made_without_externals() {
        let p = crate::testutil::project(
            "services:\n  a:\n    image: x\n    networks: [n]\nnetworks:\n  n:\n    external: true\n    name: abc123\n",
            "app",
        );
        let engine = FakeEngine::new();
        engine.insert_network(NetworkInfo {
            id: "abc123".into(),
            name: "other".into(),
            labels: Default::default(),
        });
        check_external(&engine, &p).await.expect("found by id");
        let plain = crate::testutil::project("services:\n  a:\n    image: x\n", "app");
        check_external(&FakeEngine::new(), &plain)
            .await
            .expect("nothing external");
    }

    async fn volume_names(engine: &FakeEngine) -> Vec<String> {
        let all = engine.list_volumes(&LabelFilter::default()).await.unwrap();
        all.into_iter().map(|v| v.name).collect()
    }

    #[tokio::test]
    async fn down_v_removes_named_and_anonymous_volumes_but_never_an_external_one() {
        let p = crate::testutil::project(
            "services:\n  db:\n    image: busybox\n    volumes: [data:/data, ext:/ext, /anon]\n\
             volumes:\n  data: {}\n  ext:\n    external: true\n",
            "app",
        );
        let engine = FakeEngine::new();
        engine.insert_volume(volume("ext"));
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let up = plan(&p, &Default::default(), &PlanOptions::default());
        execute(&up, &engine, &tx).await.expect("up");
        let after_up = volume_names(&engine).await;
        assert_eq!(
            after_up.len(),
            3,
            "named, external and one anonymous: {after_up:?}"
        );

        let observed = crate::execute::observe(&engine, "app").await.unwrap();
        let keep = plan_down(&p, &observed, &DownOptions::default());
        assert_eq!(
            keep.to_string(),
            "0: stop app-db-1 (down)\n1: remove app-db-1 (down) after 0\n2: remove-network app_default (down) after 1\n"
        );
        execute(&keep, &engine, &tx).await.expect("down");
        assert_eq!(
            volume_names(&engine).await,
            after_up,
            "plain down keeps every volume"
        );

        execute(&up, &engine, &tx).await.expect("up again");
        let observed = crate::execute::observe(&engine, "app").await.unwrap();
        let options = DownOptions {
            volumes: true,
            ..DownOptions::default()
        };
        let down = plan_down(&p, &observed, &options);
        assert_eq!(
            down.to_string(),
            "0: stop app-db-1 (down)\n1: remove app-db-1 -v (down) after 0\n\
             2: remove-network app_default (down) after 1\n3: remove-volume app_data (down) after 1\n"
        );
        execute(&down, &engine, &tx).await.expect("down -v");
        let left = volume_names(&engine).await;
        assert_eq!(
            left.iter().filter(|n| n.starts_with("anon-")).count(),
            1,
            "the first up's anonymous volume stays (its container was removed without -v): {left:?}"
        );
        assert!(
            left.contains(&"ext".to_owned()),
            "external volume kept: {left:?}"
        );
        assert!(!left.contains(&"app_data".to_owned()), "{left:?}");
    }
}

//! What every compose verb starts from: the loaded project (or, for verbs that work on what
//! the engine holds, just its name), the engine behind the compose port, and the project's
//! containers as the engine lists them, sorted by service and replica number.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use berth_compose::engine_api::LabelFilter;
use berth_compose::model::Project;
use berth_compose::plan::labels;
use berth_engine::api::models::ContainerSummary;
use berth_engine::backend::ListContainersOptions;
use berth_engine::client::Client;

use crate::compose_engine::{ComposeEngine, label_filters};
use crate::connect::connect;
use crate::global::GlobalArgs;

/// A loaded project and the engine it lives on.
pub struct Stack {
    pub project: Project,
    /// The compose files, for the `config_files` label.
    pub config_files: Vec<String>,
    pub engine: ComposeEngine,
    /// False when no compose file was found and only `--project-name` names the project.
    pub has_file: bool,
}

impl Stack {
    /// Loads the project and connects to the engine.
    pub async fn open(global: &GlobalArgs) -> anyhow::Result<Stack> {
        let (project, config_files) = load(global)?;
        let engine = ComposeEngine::new(connect(global).await?);
        Ok(Stack {
            project,
            config_files,
            engine,
            has_file: true,
        })
    }

    /// Like [`Stack::open`], but with `-p NAME` and no compose file, works on what the engine
    /// holds for that project (`down`, `ps`, `logs`, `stop`, … need no file).
    pub async fn open_by_name(global: &GlobalArgs) -> anyhow::Result<Stack> {
        let loaded = load(global);
        let (project, config_files, has_file) = match (loaded, &global.project_name) {
            (Ok((p, f)), _) => (p, f, true),
            (Err(e), Some(name)) if global.files.is_empty() && is_missing_file(&e) => {
                let project = Project {
                    name: name.clone(),
                    ..Project::default()
                };
                (project, Vec::new(), false)
            }
            (Err(e), _) => return Err(e),
        };
        let engine = ComposeEngine::new(connect(global).await?);
        Ok(Stack {
            project,
            config_files,
            engine,
            has_file,
        })
    }

    /// The engine client.
    pub fn client(&self) -> &Client {
        self.engine.client()
    }

    /// Checks that every name in `services` is a service of the project.
    pub fn check_services(&self, services: &[String]) -> anyhow::Result<()> {
        if !self.has_file {
            return Ok(());
        }
        for s in services {
            if !self.project.services.contains_key(s)
                && !self.project.disabled_services.contains_key(s)
            {
                bail!("no such service: {s}");
            }
        }
        Ok(())
    }

    /// The project's containers (one-off ones only with `oneoff`), of `services` when not
    /// empty, stopped ones too when `all`; sorted by service, then number.
    pub async fn containers(
        &self,
        services: &[String],
        all: bool,
        oneoff: bool,
    ) -> anyhow::Result<Vec<ContainerSummary>> {
        let filter = LabelFilter::project(&self.project.name);
        let opts = ListContainersOptions {
            all,
            limit: None,
            filters: label_filters(&filter),
        };
        let mut list = self
            .client()
            .list_containers(&opts)
            .await
            .context("listing the project's containers")?;
        list.retain(|c| {
            let service = c.labels.get(labels::SERVICE).map_or("", String::as_str);
            let is_oneoff = c
                .labels
                .get(labels::ONEOFF)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            (services.is_empty() || services.iter().any(|s| s == service)) && (oneoff || !is_oneoff)
        });
        list.sort_by_cached_key(|c| (service_of(c).to_owned(), number_of(c), name_of(c)));
        Ok(list)
    }

    /// The running container number `index` of `service` (checked against the compose file
    /// first), as `exec`, `attach` and `port` address one replica.
    pub async fn replica(&self, service: &str, index: u64) -> anyhow::Result<ContainerSummary> {
        let services = [service.to_owned()];
        self.check_services(&services)?;
        let list = self.containers(&services, false, false).await?;
        match list.into_iter().find(|c| number_of(c) == index) {
            Some(c) => Ok(c),
            None => bail!(
                "service {service:?} is not running container #{index} (hint: berth up -d {service})"
            ),
        }
    }
}

/// Whether a load error means "no compose file here" (rather than a broken one).
fn is_missing_file(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<berth_compose::Error>()
            .is_some_and(|e| e.to_string().contains("no compose file found"))
    })
}

/// Loads the project the global flags name; returns it with its compose files.
pub fn load(global: &GlobalArgs) -> anyhow::Result<(Project, Vec<String>)> {
    let opts = global.load_options(false)?;
    let loaded = berth_compose::load_project(&opts)?;
    for w in &loaded.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let files = loaded
        .config_files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    Ok((loaded.project, files))
}

/// The container's name without Docker's leading slash.
pub fn name_of(c: &ContainerSummary) -> String {
    c.names
        .first()
        .map(|n| n.trim_start_matches('/').to_owned())
        .unwrap_or_default()
}

/// The container's service label.
pub fn service_of(c: &ContainerSummary) -> &str {
    c.labels.get(labels::SERVICE).map_or("", String::as_str)
}

/// The container's replica number (0 when unlabelled).
pub fn number_of(c: &ContainerSummary) -> u64 {
    c.labels
        .get(labels::NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The global flags with `files` added: for verbs whose `-f` means something else and which
/// take compose files as `--file` after the verb.
pub fn with_files(global: &GlobalArgs, files: &[std::path::PathBuf]) -> GlobalArgs {
    let mut all = global.files.clone();
    all.extend(files.iter().filter(|f| !global.files.contains(f)).cloned());
    GlobalArgs {
        files: all,
        project_name: global.project_name.clone(),
        project_directory: global.project_directory.clone(),
        env_files: global.env_files.clone(),
        profiles: global.profiles.clone(),
        host: global.host.clone(),
        log_level: global.log_level.clone(),
    }
}

/// Parses `SERVICE=N` arguments (`--scale`, `scale`).
pub fn parse_scale(items: &[String]) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for item in items {
        let Some((service, n)) = item.split_once('=') else {
            bail!("invalid scale {item:?}: expected SERVICE=REPLICAS (for example web=3)");
        };
        let n: u64 = n.parse().with_context(|| {
            format!("invalid scale {item:?}: the replica count must be a whole number")
        })?;
        out.insert(service.to_owned(), n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_arguments_parse_and_bad_ones_say_why() {
        let m = parse_scale(&["web=3".into(), "db=0".into()]).unwrap();
        assert_eq!(m["web"], 3);
        assert_eq!(m["db"], 0);
        let e = parse_scale(&["web".into()]).unwrap_err().to_string();
        assert!(e.contains("SERVICE=REPLICAS"), "{e}");
        let e = format!("{:#}", parse_scale(&["web=x".into()]).unwrap_err());
        assert!(e.contains("whole number"), "{e}");
    }
}

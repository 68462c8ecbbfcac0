//! The front end in one call: load the files, then normalize and validate the project.
//!
//! This is the function the CLI and the orchestrator use; the stages it chains are tested on
//! their own in their modules.

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::error::{Error, Result};
use crate::graph::ServiceGraph;
use crate::load::{LoadOptions, load_raw};
use crate::model::{NormalizeContext, Project};

/// A loaded project with what was learnt on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The normalized, validated project.
    pub project: Project,
    /// The compose files read, in order.
    pub config_files: Vec<PathBuf>,
    /// The project directory.
    pub working_dir: PathBuf,
    /// The environment used for interpolation.
    pub environment: IndexMap<String, String>,
    /// Warnings for the user (unset variables, obsolete keys).
    pub warnings: Vec<String>,
}

/// Loads, interpolates, merges, normalizes and validates the project `opts` describe.
pub fn load_project(opts: &LoadOptions) -> Result<Loaded> {
    let raw = load_raw(opts)?;
    let ctx = NormalizeContext {
        name: &raw.name,
        working_dir: &raw.working_dir,
        environment: &raw.environment,
        profiles: &raw.profiles,
    };
    let project = Project::from_node(&raw.doc, &ctx)?;
    Ok(Loaded {
        project,
        config_files: raw.config_files,
        working_dir: raw.working_dir,
        environment: raw.environment,
        warnings: raw.warnings,
    })
}

impl Project {
    /// The project restricted to `names` (and, with `with_deps`, everything they depend on),
    /// keeping only the networks, volumes, secrets and configs those services use.
    pub fn select_services(mut self, names: &[String], with_deps: bool) -> Result<Project> {
        let unknown: Vec<Error> = names
            .iter()
            .filter(|n| !self.services.contains_key(n.as_str()))
            .map(|n| Error::Project {
                message: format!("no such service: {n}"),
                hint: crate::error::did_you_mean(n, self.services.keys().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?")),
            })
            .collect();
        Error::collect(unknown)?;
        let keep = self.with_dependencies(names, with_deps);
        self.services.retain(|name, _| keep.contains(name));
        self.finish();
        Ok(self)
    }

    /// The services of `names` that exist plus, with `with_deps`, every service they depend on,
    /// transitively (the names `select_services` keeps, and what a verb acting on some
    /// services and their dependencies works on).
    pub fn with_dependencies(&self, names: &[String], with_deps: bool) -> Vec<String> {
        let mut keep: Vec<String> = names
            .iter()
            .filter(|n| self.services.contains_key(n.as_str()))
            .cloned()
            .collect();
        if with_deps {
            let graph = ServiceGraph::new(self);
            let mut i = 0;
            while i < keep.len() {
                for dep in graph.dependencies(&keep[i]) {
                    if !keep.iter().any(|k| k == dep) {
                        keep.push(dep.to_owned());
                    }
                }
                i += 1;
            }
        }
        keep
    }
}

//! Observe → plan: what must change in the engine to make it match a project.
//!
//! [`Observed`] is the engine's state as plain data, built once from label sets.
//! [`plan`] and [`plan_down`] are pure: they compare the project with what was observed and
//! return a [`Plan`], a DAG of one-call operations, each with its cause and the operations it
//! must wait for. The executor ([`crate::execute`]) runs it and decides nothing.

mod files;
mod mounts;
mod observe;
mod resources;
mod spec;
mod up;

use std::collections::BTreeMap;
use std::fmt;

pub use files::check_files;
pub use observe::{Observed, ObservedContainer, ObservedNetwork, ObservedVolume};
pub use spec::{container_name, container_spec, network_spec, volume_spec};
pub use up::{plan, plan_down};

use crate::engine_api::{ContainerSpec, NetworkSpec, VolumeSpec};

/// Label keys docker compose puts on what it creates.
pub mod labels {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    pub const NUMBER: &str = "com.docker.compose.container-number";
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
    pub const VERSION: &str = "com.docker.compose.version";
    pub const NETWORK: &str = "com.docker.compose.network";
    pub const VOLUME: &str = "com.docker.compose.volume";
    /// The id of the image a container was created from, as the service's image resolved
    /// when it was created (a rebuilt or re-pulled image recreates it).
    pub const IMAGE: &str = "com.docker.compose.image";
}

/// The compose version berth writes in [`labels::VERSION`].
pub const COMPOSE_VERSION: &str = "2.30.0";

/// Options of `up` (and `create`, `start`, `scale`) that change the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Only these services (and their dependencies unless `no_deps`); empty: all.
    pub services: Vec<String>,
    pub no_deps: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub always_recreate_deps: bool,
    pub remove_orphans: bool,
    /// Replica counts overriding the model.
    pub scale: BTreeMap<String, u64>,
    /// Create containers without starting them.
    pub no_start: bool,
    /// Compose files, for the [`labels::CONFIG_FILES`] label.
    pub config_files: Vec<String>,
    /// Stop timeout in seconds for every stop in the plan (`-t`), overriding
    /// `stop_grace_period`.
    pub timeout_s: Option<u64>,
    /// Image id per service, as the engine resolves the service's image now: put in the
    /// [`labels::IMAGE`] label of new containers, and a kept container whose label differs is
    /// recreated (its image was rebuilt or re-pulled). Services missing here are not compared.
    pub image_ids: BTreeMap<String, String>,
}

/// Options that contradict each other or the project.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no such service: {0}")]
    UnknownService(String),
    #[error("--force-recreate and --no-recreate are incompatible")]
    ForceAndNoRecreate,
    #[error("--always-recreate-deps and --no-recreate are incompatible")]
    AlwaysRecreateDepsAndNoRecreate,
    #[error("service {service} has container_name {name}: it cannot be scaled to {replicas}")]
    ScaledContainerName {
        service: String,
        name: String,
        replicas: u64,
    },
}

impl PlanOptions {
    /// Checks the options against each other and the project, before planning.
    pub fn validate(&self, project: &crate::model::Project) -> Result<(), PlanError> {
        if self.force_recreate && self.no_recreate {
            return Err(PlanError::ForceAndNoRecreate);
        }
        if self.always_recreate_deps && self.no_recreate {
            return Err(PlanError::AlwaysRecreateDepsAndNoRecreate);
        }
        let names = self.services.iter().chain(self.scale.keys());
        if let Some(s) = names
            .into_iter()
            .find(|s| !project.services.contains_key(*s))
        {
            return Err(PlanError::UnknownService(s.clone()));
        }
        for (service, &replicas) in &self.scale {
            if let Some(name) = &project.services[service].container_name
                && replicas > 1
            {
                return Err(PlanError::ScaledContainerName {
                    service: service.clone(),
                    name: name.clone(),
                    replicas,
                });
            }
        }
        Ok(())
    }
}

/// Options of `down`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DownOptions {
    /// Also remove named volumes the project declares.
    pub volumes: bool,
    pub remove_orphans: bool,
    /// Stop timeout in seconds (`-t`), overriding `stop_grace_period`.
    pub timeout_s: Option<u64>,
}

/// A `depends_on` condition the executor waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Healthy,
    CompletedSuccessfully,
}

/// One engine call.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    CreateNetwork(Box<NetworkSpec>),
    RemoveNetwork {
        name: String,
    },
    CreateVolume(Box<VolumeSpec>),
    RemoveVolume {
        name: String,
    },
    CreateContainer {
        service: String,
        number: u64,
        spec: Box<ContainerSpec>,
    },
    StartContainer {
        service: String,
        name: String,
    },
    StopContainer {
        service: String,
        name: String,
        timeout_s: Option<u64>,
    },
    RemoveContainer {
        service: String,
        name: String,
        /// Also remove the container's anonymous volumes (`down -v`).
        volumes: bool,
    },
    /// Waits for a container of a dependency to be healthy or to have exited with 0.
    Wait {
        service: String,
        name: String,
        condition: Condition,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::CreateNetwork(n) => write!(f, "create-network {}", n.name),
            Action::RemoveNetwork { name } => write!(f, "remove-network {name}"),
            Action::CreateVolume(v) => write!(f, "create-volume {}", v.name),
            Action::RemoveVolume { name } => write!(f, "remove-volume {name}"),
            Action::CreateContainer { spec, .. } => write!(f, "create {}", spec.name),
            Action::StartContainer { name, .. } => write!(f, "start {name}"),
            Action::StopContainer { name, .. } => write!(f, "stop {name}"),
            Action::RemoveContainer { name, volumes, .. } => {
                write!(f, "remove {name}{}", if *volumes { " -v" } else { "" })
            }
            Action::Wait {
                name, condition, ..
            } => match condition {
                Condition::Healthy => write!(f, "wait-healthy {name}"),
                Condition::CompletedSuccessfully => write!(f, "wait-completed {name}"),
            },
        }
    }
}

/// Why an operation is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Missing,
    ConfigHashChanged,
    /// The service's image now resolves to another id (rebuilt or re-pulled).
    ImageChanged,
    ForceRecreate,
    /// `--always-recreate-deps` on a dependency.
    RecreateDependency,
    /// A container that exists but is not running.
    NotRunning,
    /// `depends_on` with `restart: true` on a recreated service.
    DependencyRecreated,
    ScaleDown,
    Orphan,
    /// `depends_on` with a condition.
    DependsOn,
    Down,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::Missing => "missing",
            Cause::ConfigHashChanged => "config hash changed",
            Cause::ImageChanged => "image changed",
            Cause::ForceRecreate => "--force-recreate",
            Cause::RecreateDependency => "--always-recreate-deps",
            Cause::NotRunning => "not running",
            Cause::DependencyRecreated => "dependency recreated",
            Cause::ScaleDown => "scale down",
            Cause::Orphan => "orphan",
            Cause::DependsOn => "depends_on",
            Cause::Down => "down",
        })
    }
}

/// One operation of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub action: Action,
    pub cause: Cause,
    /// Indexes of the operations that must finish first (always lower than this one's).
    pub deps: Vec<usize>,
}

/// A DAG of operations in a stable order; dependencies always point backwards.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub operations: Vec<Operation>,
    /// Things the user should know that need no operation (orphans left alone).
    pub warnings: Vec<String>,
}

impl Plan {
    /// Whether nothing needs to be done.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }

    /// Appends an operation and returns its index.
    pub(crate) fn push(&mut self, action: Action, cause: Cause, mut deps: Vec<usize>) -> usize {
        deps.sort_unstable();
        deps.dedup();
        self.operations.push(Operation {
            action,
            cause,
            deps,
        });
        self.operations.len() - 1
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for (i, op) in self.operations.iter().enumerate() {
            write!(f, "{i}: {} ({})", op.action, op.cause)?;
            if !op.deps.is_empty() {
                let deps: Vec<String> = op.deps.iter().map(ToString::to_string).collect();
                write!(f, " after {}", deps.join(","))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

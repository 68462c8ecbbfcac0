//! The watch rules of a project, checked and compiled: each `develop.watch` entry of the
//! selected services becomes a [`Rule`] with its action, container target, `exec` hook and a
//! [`RuleFilter`]. Everything a rule needs is validated here, once, with errors that name the
//! service and the rule, so the watch loop never meets a half-valid rule.

use std::path::{Path, PathBuf};

use crate::model::{Hook, Project, Service};

use super::filter::{MatcherFactory, PathMatcher, RuleFilter};

/// What a rule does when a file under its path changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Copy the changed files into the running containers.
    Sync,
    /// Build the service's image again and recreate its containers.
    Rebuild,
    /// Restart the service's containers.
    Restart,
    /// Sync, then restart.
    SyncRestart,
    /// Sync, then run the rule's `exec` command in every container.
    SyncExec,
}

impl Action {
    /// Parses the compose spelling.
    pub fn parse(text: &str) -> Option<Action> {
        Some(match text {
            "sync" => Action::Sync,
            "rebuild" => Action::Rebuild,
            "restart" => Action::Restart,
            "sync+restart" => Action::SyncRestart,
            "sync+exec" => Action::SyncExec,
            _ => return None,
        })
    }

    /// Whether the action copies files (and so needs a `target`).
    pub fn syncs(self) -> bool {
        matches!(self, Action::Sync | Action::SyncRestart | Action::SyncExec)
    }

    /// The compose spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Sync => "sync",
            Action::Rebuild => "rebuild",
            Action::Restart => "restart",
            Action::SyncRestart => "sync+restart",
            Action::SyncExec => "sync+exec",
        }
    }
}

/// The command a `sync+exec` rule runs in each container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    pub command: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    /// `KEY=VALUE` entries.
    pub environment: Vec<String>,
    pub privileged: bool,
}

impl ExecSpec {
    fn from_hook(hook: &Hook) -> ExecSpec {
        ExecSpec {
            command: hook.command.clone(),
            user: hook.user.clone(),
            working_dir: hook.working_dir.clone(),
            environment: hook
                .environment
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect(),
            privileged: hook.privileged,
        }
    }
}

/// One checked `develop.watch` rule.
#[derive(Debug)]
pub struct Rule {
    pub service: String,
    /// The rule's position in the service's `develop.watch` list.
    pub index: usize,
    pub action: Action,
    /// Where synced files go in the container (for syncing actions).
    pub target: Option<String>,
    pub exec: Option<ExecSpec>,
    pub initial_sync: bool,
    pub filter: RuleFilter,
}

/// Why the rules cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("no such service: {0}")]
    UnknownService(String),
    #[error(
        "none of the services has a develop.watch section ({services}) (hint: add `develop: {{watch: [{{path: ./src, action: sync, target: /app/src}}]}}` to a service)"
    )]
    NoDevelop { services: String },
    #[error(
        "service {service} has no develop.watch section (hint: add one, or name only services that have it)"
    )]
    ServiceWithoutDevelop { service: String },
    #[error(
        "service {service}, develop.watch[{index}]: unknown action {action:?} (expected sync, rebuild, restart, sync+restart or sync+exec)"
    )]
    UnknownAction {
        service: String,
        index: usize,
        action: String,
    },
    #[error(
        "service {service}, develop.watch[{index}]: action {action} needs a target (the path in the container to sync to)"
    )]
    MissingTarget {
        service: String,
        index: usize,
        action: &'static str,
    },
    #[error(
        "service {service}, develop.watch[{index}]: target {target:?} must be an absolute path in the container"
    )]
    RelativeTarget {
        service: String,
        index: usize,
        target: String,
    },
    #[error(
        "service {service}, develop.watch[{index}]: action sync+exec needs an exec.command (hint: exec: {{command: ...}})"
    )]
    MissingExec { service: String, index: usize },
    #[error(
        "service {service}, develop.watch[{index}]: action rebuild needs a build section (the service only has an image)"
    )]
    RebuildWithoutBuild { service: String, index: usize },
    #[error("service {service}, develop.watch[{index}]: {what}: {message}")]
    BadPattern {
        service: String,
        index: usize,
        what: &'static str,
        message: String,
    },
    #[error("service {service}: .dockerignore of {context}: {message}")]
    BadDockerignore {
        service: String,
        context: PathBuf,
        message: String,
    },
}

/// The rules of the watched services.
#[derive(Debug, Default)]
pub struct WatchSet {
    pub rules: Vec<Rule>,
}

impl WatchSet {
    /// Compiles the rules of `services` (every service with a `develop` section when empty).
    /// `factory` compiles patterns and finds each build context's `.dockerignore`.
    pub fn new(
        project: &Project,
        services: &[String],
        factory: &dyn ContextIgnores,
    ) -> Result<WatchSet, WatchError> {
        for s in services {
            if !project.services.contains_key(s) {
                return Err(WatchError::UnknownService(s.clone()));
            }
        }
        let has_rules = |s: &Service| s.develop.as_ref().is_some_and(|d| !d.watch.is_empty());
        let mut rules = Vec::new();
        let mut selected = 0;
        for (name, service) in &project.services {
            if !services.is_empty() && !services.contains(name) {
                continue;
            }
            if !has_rules(service) {
                if !services.is_empty() {
                    return Err(WatchError::ServiceWithoutDevelop {
                        service: name.clone(),
                    });
                }
                continue;
            }
            selected += 1;
            rules.extend(service_rules(project, name, service, factory)?);
        }
        if selected == 0 {
            let names: Vec<&str> = project.services.keys().map(String::as_str).collect();
            return Err(WatchError::NoDevelop {
                services: names.join(", "),
            });
        }
        Ok(WatchSet { rules })
    }

    /// The watched services, each once, in order.
    pub fn services(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.rules.iter().map(|r| r.service.as_str()).collect();
        out.dedup();
        out
    }

    /// The watched roots (each rule's path), each once, sorted.
    pub fn roots(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = self.rules.iter().map(|r| r.filter.root.as_path()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether a directory is left unwatched: every rule whose root covers it skips it.
    pub fn skip_dir(&self, dir: &Path) -> bool {
        self.rules
            .iter()
            .filter(|r| dir.starts_with(&r.filter.root))
            .all(|r| r.filter.skip_dir(dir))
    }

    /// Whether any rule cares about `path`.
    pub fn matches(&self, path: &Path) -> bool {
        self.rules.iter().any(|r| r.filter.matches(path))
    }
}

/// [`MatcherFactory`] plus where a build context's `.dockerignore` comes from.
pub trait ContextIgnores: MatcherFactory {
    /// The compiled `.dockerignore` of the build context `context` (`None` without one).
    fn context_ignore(&self, context: &Path) -> Result<Option<Box<dyn PathMatcher>>, String>;
}

fn service_rules(
    project: &Project,
    name: &str,
    service: &Service,
    factory: &dyn ContextIgnores,
) -> Result<Vec<Rule>, WatchError> {
    let context = service
        .build
        .as_ref()
        .filter(|b| !b.context.contains("://"))
        .map(|b| project.working_dir.join(&b.context));
    let watch = service.develop.as_ref().map_or(&[][..], |d| &d.watch[..]);
    let mut out = Vec::new();
    for (index, w) in watch.iter().enumerate() {
        let action = Action::parse(&w.action).ok_or_else(|| WatchError::UnknownAction {
            service: name.to_owned(),
            index,
            action: w.action.clone(),
        })?;
        let target = w.target.clone().filter(|t| !t.is_empty());
        if action.syncs() {
            match &target {
                None => {
                    return Err(WatchError::MissingTarget {
                        service: name.to_owned(),
                        index,
                        action: action.as_str(),
                    });
                }
                Some(t) if !t.starts_with('/') => {
                    return Err(WatchError::RelativeTarget {
                        service: name.to_owned(),
                        index,
                        target: t.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        let exec = w.exec.as_ref().filter(|h| !h.command.is_empty());
        if action == Action::SyncExec && exec.is_none() {
            return Err(WatchError::MissingExec {
                service: name.to_owned(),
                index,
            });
        }
        if action == Action::Rebuild && service.build.is_none() {
            return Err(WatchError::RebuildWithoutBuild {
                service: name.to_owned(),
                index,
            });
        }
        let compile = |what: &'static str, patterns: &[String]| {
            if patterns.is_empty() {
                return Ok(None);
            }
            factory
                .compile(patterns)
                .map(Some)
                .map_err(|message| WatchError::BadPattern {
                    service: name.to_owned(),
                    index,
                    what,
                    message,
                })
        };
        let ignore = compile("ignore", &w.ignore)?;
        let include = compile("include", &w.include)?;
        let docker = match &context {
            Some(ctx) => {
                let compiled =
                    factory
                        .context_ignore(ctx)
                        .map_err(|message| WatchError::BadDockerignore {
                            service: name.to_owned(),
                            context: ctx.clone(),
                            message,
                        })?;
                compiled.map(|m| (ctx.clone(), m))
            }
            None => None,
        };
        out.push(Rule {
            service: name.to_owned(),
            index,
            action,
            target,
            exec: exec.map(ExecSpec::from_hook),
            initial_sync: w.initial_sync,
            filter: RuleFilter::new(PathBuf::from(&w.path), ignore, include, docker),
        });
    }
    Ok(out)
}

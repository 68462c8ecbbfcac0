//! The action plan of one batch, as data: given the rules, what the shell found at each
//! changed path (present file or directory, or gone) and the running replicas of each
//! service, decide which files go to which container paths (one archive per container),
//! which paths to delete, and which services to rebuild, containers to restart or commands
//! to run. Nothing here touches a file or the engine; [`WatchPlan`] has a stable `Display`
//! for golden tests and [`Step::summary`] is the one line the CLI prints per action.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::filter::relative;
use super::rules::{Action, ExecSpec, Rule, WatchSet};

/// What the shell found at a changed path when the batch was due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The path exists: a file (or symlink), or a directory (`dir`).
    Present { path: PathBuf, dir: bool },
    /// The path is gone (deleted, or renamed away).
    Missing { path: PathBuf },
}

impl Change {
    /// The changed path.
    pub fn path(&self) -> &Path {
        match self {
            Change::Present { path, .. } | Change::Missing { path } => path,
        }
    }
}

/// Drops the deletions of paths that were created and removed within the batch: the
/// container never had them (an editor's write-to-temp-then-rename save).
pub fn settle(changes: Vec<Change>, fresh: &std::collections::BTreeSet<PathBuf>) -> Vec<Change> {
    changes
        .into_iter()
        .filter(|c| !matches!(c, Change::Missing { path } if fresh.contains(path)))
        .collect()
}

/// One host path copied to one container path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Copy {
    /// The absolute path in the container.
    pub container: String,
    pub host: PathBuf,
    /// A directory entry (created, not filled: its files come as their own copies).
    pub dir: bool,
}

/// One call of the watch applier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Build the service's image and recreate its containers.
    Rebuild { service: String },
    /// Copy files into a container (one archive) and delete paths in it.
    Sync {
        service: String,
        container: String,
        copies: Vec<Copy>,
        deletes: Vec<String>,
    },
    /// Restart a container.
    Restart { service: String, container: String },
    /// Run a rule's command in a container.
    Exec {
        service: String,
        container: String,
        exec: ExecSpec,
    },
}

impl Step {
    /// The line the CLI prints once the step is done.
    pub fn summary(&self) -> String {
        match self {
            Step::Rebuild { service } => format!("rebuilt {service}"),
            Step::Sync {
                container,
                copies,
                deletes,
                ..
            } => {
                let files = copies.iter().filter(|c| !c.dir).count();
                let plural = |n: usize, one: &str, many: &str| {
                    format!("{n} {}", if n == 1 { one } else { many })
                };
                match (files, deletes.len()) {
                    (f, 0) => format!("synced {} to {container}", plural(f, "file", "files")),
                    (0, d) => format!("deleted {} in {container}", plural(d, "path", "paths")),
                    (f, d) => format!(
                        "synced {} and deleted {} in {container}",
                        plural(f, "file", "files"),
                        plural(d, "path", "paths")
                    ),
                }
            }
            Step::Restart { container, .. } => format!("restarted {container}"),
            Step::Exec {
                container, exec, ..
            } => format!("ran `{}` in {container}", exec.command.join(" ")),
        }
    }
}

/// The steps of one batch, in the order they run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchPlan {
    pub steps: Vec<Step>,
}

impl fmt::Display for WatchPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            match step {
                Step::Rebuild { service } => writeln!(f, "rebuild {service}")?,
                Step::Sync {
                    container,
                    copies,
                    deletes,
                    ..
                } => {
                    writeln!(f, "sync {container}")?;
                    for c in copies {
                        let slash = if c.dir { "/" } else { "" };
                        writeln!(f, "  + {}{slash} <- {}", c.container, c.host.display())?;
                    }
                    for d in deletes {
                        writeln!(f, "  - {d}")?;
                    }
                }
                Step::Restart { container, .. } => writeln!(f, "restart {container}")?,
                Step::Exec {
                    container, exec, ..
                } => writeln!(f, "exec {container}: {}", exec.command.join(" "))?,
            }
        }
        Ok(())
    }
}

/// Which rules' actions a batch triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// File events: every matching rule acts.
    Changes,
    /// The start of watching: only `initial_sync` rules, and only their sync part.
    Initial,
}

/// Plans one batch. `replicas` maps each service to its running containers' names.
pub fn plan_batch(
    set: &WatchSet,
    changes: &[Change],
    replicas: &BTreeMap<String, Vec<String>>,
    trigger: Trigger,
) -> WatchPlan {
    #[derive(Default)]
    struct PerService<'a> {
        rebuild: bool,
        restart: bool,
        copies: BTreeSet<Copy>,
        deletes: BTreeSet<String>,
        execs: Vec<&'a ExecSpec>,
    }
    let mut services: BTreeMap<&str, PerService<'_>> = BTreeMap::new();
    for rule in &set.rules {
        if trigger == Trigger::Initial && !(rule.initial_sync && rule.action.syncs()) {
            continue;
        }
        let hits: Vec<&Change> = changes
            .iter()
            .filter(|c| rule.filter.matches(c.path()))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let s = services.entry(&rule.service).or_default();
        match rule.action {
            Action::Rebuild => s.rebuild = true,
            Action::Restart => s.restart = true,
            Action::Sync | Action::SyncRestart | Action::SyncExec => {
                for c in &hits {
                    add_sync(rule, c, &mut s.copies, &mut s.deletes);
                }
                if trigger == Trigger::Changes {
                    s.restart |= rule.action == Action::SyncRestart;
                    if let (Action::SyncExec, Some(exec)) = (rule.action, &rule.exec)
                        && !s.execs.contains(&exec)
                    {
                        s.execs.push(exec);
                    }
                }
            }
        }
    }
    let mut steps = Vec::new();
    let none = Vec::new();
    for (service, s) in services {
        let service = service.to_owned();
        if s.rebuild {
            steps.push(Step::Rebuild { service });
            continue;
        }
        let containers = replicas.get(&service).unwrap_or(&none);
        let copies: Vec<Copy> = s.copies.into_iter().collect();
        let deletes = prune_deletes(s.deletes);
        if !copies.is_empty() || !deletes.is_empty() {
            steps.extend(containers.iter().map(|c| Step::Sync {
                service: service.clone(),
                container: c.clone(),
                copies: copies.clone(),
                deletes: deletes.clone(),
            }));
        }
        if s.restart {
            steps.extend(containers.iter().map(|c| Step::Restart {
                service: service.clone(),
                container: c.clone(),
            }));
        }
        for exec in s.execs {
            steps.extend(containers.iter().map(|c| Step::Exec {
                service: service.clone(),
                container: c.clone(),
                exec: exec.clone(),
            }));
        }
    }
    WatchPlan { steps }
}

/// Adds what one matching change means for one syncing rule.
fn add_sync(
    rule: &Rule,
    change: &Change,
    copies: &mut BTreeSet<Copy>,
    deletes: &mut BTreeSet<String>,
) {
    let (Some(target), Some(rel)) = (&rule.target, relative(&rule.filter.root, change.path()))
    else {
        return;
    };
    let container = container_path(target, &rel);
    match change {
        Change::Present { path, dir } => {
            copies.insert(Copy {
                container,
                host: path.clone(),
                dir: *dir,
            });
        }
        Change::Missing { .. } => {
            deletes.insert(container);
        }
    }
}

/// `target` joined with a `/`-separated relative path.
pub fn container_path(target: &str, rel: &str) -> String {
    let base = target.trim_end_matches('/');
    match (base.is_empty(), rel.is_empty()) {
        (_, true) if base.is_empty() => "/".to_owned(),
        (_, true) => base.to_owned(),
        (true, false) => format!("/{rel}"),
        (false, false) => format!("{base}/{rel}"),
    }
}

/// Drops deletions already covered by the deletion of a parent directory.
fn prune_deletes(deletes: BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in deletes {
        let covered = out.iter().any(|p| {
            d.strip_prefix(p.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
        });
        if !covered {
            out.push(d);
        }
    }
    out
}

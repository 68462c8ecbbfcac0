//! The `up` and `down` planners: pure functions from project, observed state and options to a
//! [`Plan`].

use std::collections::{BTreeMap, BTreeSet};

use super::{
    Action, Cause, Condition, DownOptions, Observed, ObservedContainer, Plan, PlanOptions,
    container_spec,
};
use crate::engine_api::RunState;
use crate::graph::ServiceGraph;
use crate::model::{Project, Service};
use crate::output::config_hash;

/// When the kept containers of a service are recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recreate {
    Never,
    Diverged,
    Force(Cause),
}

/// Services grouped by start level (dependencies first), names sorted in a level.
fn levels(graph: &ServiceGraph, project: &Project) -> Vec<Vec<String>> {
    graph.start_levels().unwrap_or_else(|_| {
        let mut all: Vec<String> = project.services.keys().cloned().collect();
        all.sort();
        vec![all]
    })
}

/// Selected services plus, unless `no_deps`, everything they depend on.
fn targets(graph: &ServiceGraph, project: &Project, options: &PlanOptions) -> BTreeSet<String> {
    if options.services.is_empty() {
        return project.services.keys().cloned().collect();
    }
    let mut out: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = options.services.clone();
    while let Some(s) = todo.pop() {
        if !project.services.contains_key(&s) || !out.insert(s.clone()) {
            continue;
        }
        if !options.no_deps {
            todo.extend(graph.dependencies(&s).into_iter().map(str::to_string));
        }
    }
    out
}

/// How many replicas of `service` the plan keeps: `--scale`, else `scale`, else
/// `deploy.replicas`, else 1.
pub(super) fn replicas(service: &Service, options: &PlanOptions) -> u64 {
    options
        .scale
        .get(&service.name)
        .copied()
        .or(service.scale)
        .or(service.deploy.as_ref().and_then(|d| d.replicas))
        .unwrap_or(1)
}

fn is_running(c: &ObservedContainer) -> bool {
    matches!(
        c.state,
        RunState::Running | RunState::Restarting | RunState::Paused
    )
}

/// Known services: active ones and those disabled by profiles (never orphans).
fn is_known(project: &Project, service: &str) -> bool {
    project.services.contains_key(service) || project.disabled_services.contains_key(service)
}

/// `-t` when given, else the service's `stop_grace_period` in whole seconds, rounded up
/// (engine default when unset or when the service is not in the project).
fn stop_timeout(project: &Project, service: &str, timeout_s: Option<u64>) -> Option<u64> {
    if timeout_s.is_some() {
        return timeout_s;
    }
    let grace = project.services.get(service)?.stop_grace_period?;
    Some(grace.0.div_ceil(1_000_000_000))
}

/// Pushes stop (when running) and remove of `c` (with its anonymous volumes when `volumes`),
/// after `deps`; returns the remove's index.
fn stop_and_remove(
    project: &Project,
    plan: &mut Plan,
    c: &ObservedContainer,
    cause: Cause,
    deps: Vec<usize>,
    (timeout_s, volumes): (Option<u64>, bool),
) -> usize {
    let deps = if is_running(c) {
        let stop = Action::StopContainer {
            service: c.service.clone(),
            name: c.name.clone(),
            timeout_s: stop_timeout(project, &c.service, timeout_s),
        };
        vec![plan.push(stop, cause, deps)]
    } else {
        deps
    };
    let remove = Action::RemoveContainer {
        service: c.service.clone(),
        name: c.name.clone(),
        volumes,
    };
    plan.push(remove, cause, deps)
}

/// A container that dependents wait for, with the operation that starts it in this plan.
#[derive(Debug, Clone)]
struct Ready {
    name: String,
    start: Option<usize>,
}

struct Up<'a> {
    project: &'a Project,
    observed: &'a Observed,
    options: &'a PlanOptions,
    plan: Plan,
    /// Network and volume creations every container creation waits for.
    resources: Vec<usize>,
    created: BTreeMap<String, Vec<usize>>,
    ready: BTreeMap<String, Vec<Ready>>,
    waits: BTreeMap<String, usize>,
    /// Services with a recreated container in this plan.
    recreated: BTreeSet<String>,
}

impl Up<'_> {
    /// What the start of a container of `service` waits for: the start of every dependency
    /// container, or a wait for its condition.
    fn start_deps(&mut self, service: &Service) -> Vec<usize> {
        let mut deps = Vec::new();
        for (dep, d) in &service.depends_on {
            let condition = match d.condition.as_str() {
                "service_healthy" => Some(Condition::Healthy),
                "service_completed_successfully" => Some(Condition::CompletedSuccessfully),
                _ => None,
            };
            let ready = self.ready.get(dep).cloned().unwrap_or_else(|| {
                self.observed
                    .service_containers(dep)
                    .into_iter()
                    .map(|c| Ready {
                        name: c.name.clone(),
                        start: None,
                    })
                    .collect()
            });
            for r in ready {
                let Some(condition) = condition else {
                    deps.extend(r.start);
                    continue;
                };
                let key = format!("{}/{condition:?}", r.name);
                let idx = match self.waits.get(&key) {
                    Some(&i) => i,
                    None => {
                        let wait = Action::Wait {
                            service: dep.clone(),
                            name: r.name.clone(),
                            condition,
                        };
                        let i =
                            self.plan
                                .push(wait, Cause::DependsOn, r.start.into_iter().collect());
                        self.waits.insert(key, i);
                        i
                    }
                };
                deps.push(idx);
            }
        }
        deps
    }

    fn create_deps(&self, service: &Service) -> Vec<usize> {
        let mut deps = self.resources.clone();
        for dep in service.depends_on.keys() {
            deps.extend(self.created.get(dep).into_iter().flatten());
        }
        deps
    }

    /// Creates replica `number` (after `after`, with the anonymous volumes of `replaces`) and
    /// starts it unless `no_start`.
    fn create_and_start(
        &mut self,
        service: &Service,
        (number, replaces): (u64, Option<&ObservedContainer>),
        cause: Cause,
        after: Vec<usize>,
    ) -> Ready {
        let mut spec = container_spec(self.project, service, number, self.options);
        if let Some(old) = replaces {
            super::mounts::inherit_anonymous(&mut spec.mounts, service, &old.volumes);
        }
        let name = spec.name.clone();
        let mut deps = self.create_deps(service);
        deps.extend(after);
        let create = Action::CreateContainer {
            service: service.name.clone(),
            number,
            spec: Box::new(spec),
        };
        let created = self.plan.push(create, cause, deps);
        self.created
            .entry(service.name.clone())
            .or_default()
            .push(created);
        let start = (!self.options.no_start).then(|| {
            let mut deps = self.start_deps(service);
            deps.push(created);
            let start = Action::StartContainer {
                service: service.name.clone(),
                name: name.clone(),
            };
            self.plan.push(start, cause, deps)
        });
        Ready { name, start }
    }

    /// Whether `c` was created from another image than the one `service` resolves to now
    /// (containers without the image label are not compared).
    fn image_changed(&self, service: &Service, c: &ObservedContainer) -> bool {
        let now = self.options.image_ids.get(&service.name);
        let then = c.labels.get(super::labels::IMAGE);
        matches!((now, then), (Some(now), Some(then)) if now != then)
    }

    fn service(&mut self, service: &Service, policy: Recreate) {
        let want = replicas(service, self.options);
        let hash = config_hash(service);
        let existing = self.observed.service_containers(&service.name);
        let keep_n = existing
            .len()
            .min(usize::try_from(want).unwrap_or(usize::MAX));
        let (keep, excess) = existing.split_at(keep_n);
        // The excess replicas are stopped and removed concurrently (as docker compose v2 does):
        // nothing depends on them, and one after another a scale 20 -> 1 costs 19 stop times.
        for c in excess.iter().rev() {
            stop_and_remove(
                self.project,
                &mut self.plan,
                c,
                Cause::ScaleDown,
                Vec::new(),
                (self.options.timeout_s, false),
            );
        }
        // `depends_on: {x: {restart: true}}`: restart when x is recreated in this plan.
        let restart_after_dep = service
            .depends_on
            .iter()
            .any(|(dep, d)| d.restart && self.recreated.contains(dep));
        let mut ready = Vec::new();
        for c in keep {
            let cause = match policy {
                Recreate::Force(cause) => Some(cause),
                Recreate::Diverged if c.config_hash != hash => Some(Cause::ConfigHashChanged),
                Recreate::Diverged if self.image_changed(service, c) => Some(Cause::ImageChanged),
                _ => None,
            };
            if let Some(cause) = cause {
                self.recreated.insert(service.name.clone());
                let removed = stop_and_remove(
                    self.project,
                    &mut self.plan,
                    c,
                    cause,
                    Vec::new(),
                    (self.options.timeout_s, false),
                );
                ready.push(self.create_and_start(
                    service,
                    (c.number, Some(c)),
                    cause,
                    vec![removed],
                ));
            } else if !self.options.no_start && (!is_running(c) || restart_after_dep) {
                let mut deps = self.start_deps(service);
                let cause = if is_running(c) {
                    let stop = Action::StopContainer {
                        service: service.name.clone(),
                        name: c.name.clone(),
                        timeout_s: stop_timeout(
                            self.project,
                            &service.name,
                            self.options.timeout_s,
                        ),
                    };
                    deps.push(self.plan.push(stop, Cause::DependencyRecreated, Vec::new()));
                    Cause::DependencyRecreated
                } else {
                    Cause::NotRunning
                };
                let start = Action::StartContainer {
                    service: service.name.clone(),
                    name: c.name.clone(),
                };
                let start = self.plan.push(start, cause, deps);
                ready.push(Ready {
                    name: c.name.clone(),
                    start: Some(start),
                });
            } else {
                ready.push(Ready {
                    name: c.name.clone(),
                    start: None,
                });
            }
        }
        let used: BTreeSet<u64> = keep.iter().map(|c| c.number).collect();
        let missing = want.saturating_sub(keep.len() as u64);
        let free = (1..).filter(|n| !used.contains(n));
        for number in free.take(usize::try_from(missing).unwrap_or(usize::MAX)) {
            ready.push(self.create_and_start(service, (number, None), Cause::Missing, Vec::new()));
        }
        self.ready.insert(service.name.clone(), ready);
    }
}

/// Plans `up`: creates missing networks and volumes, converges every target service to its
/// replica count (recreating containers whose config hash changed), starts what is stopped
/// and handles orphans.
pub fn plan(project: &Project, observed: &Observed, options: &PlanOptions) -> Plan {
    let graph = ServiceGraph::new(project);
    let targets = targets(&graph, project, options);
    let selected: BTreeSet<&str> = if options.services.is_empty() {
        targets.iter().map(String::as_str).collect()
    } else {
        options.services.iter().map(String::as_str).collect()
    };
    let mut up = Up {
        project,
        observed,
        options,
        plan: Plan::default(),
        resources: Vec::new(),
        created: BTreeMap::new(),
        ready: BTreeMap::new(),
        waits: BTreeMap::new(),
        recreated: BTreeSet::new(),
    };
    for key in project.network_names() {
        let net = &project.networks[key];
        if net.external || observed.networks.iter().any(|n| n.name == net.name) {
            continue;
        }
        let spec = super::network_spec(&project.name, key, net);
        let i = up.plan.push(
            Action::CreateNetwork(Box::new(spec)),
            Cause::Missing,
            Vec::new(),
        );
        up.resources.push(i);
    }
    for key in project.volume_names() {
        let vol = &project.volumes[key];
        if vol.external || observed.volumes.iter().any(|v| v.name == vol.name) {
            continue;
        }
        let spec = super::volume_spec(&project.name, key, vol);
        let i = up.plan.push(
            Action::CreateVolume(Box::new(spec)),
            Cause::Missing,
            Vec::new(),
        );
        up.resources.push(i);
    }
    let orphans: Vec<&ObservedContainer> = observed
        .containers
        .iter()
        .filter(|c| !c.oneoff && !is_known(project, &c.service))
        .collect();
    if options.remove_orphans {
        for c in &orphans {
            stop_and_remove(
                project,
                &mut up.plan,
                c,
                Cause::Orphan,
                Vec::new(),
                (options.timeout_s, false),
            );
        }
    } else if !orphans.is_empty() {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        up.plan.warnings.push(format!(
            "found orphan containers ({}) for this project; use --remove-orphans to clean them up",
            names.join(", ")
        ));
    }
    for level in levels(&graph, project) {
        for name in level.iter().filter(|n| targets.contains(*n)) {
            let service = &project.services[name];
            let policy = if selected.contains(name.as_str()) {
                if options.force_recreate {
                    Recreate::Force(Cause::ForceRecreate)
                } else if options.no_recreate {
                    Recreate::Never
                } else {
                    Recreate::Diverged
                }
            } else if options.always_recreate_deps {
                Recreate::Force(Cause::RecreateDependency)
            } else if options.no_recreate {
                Recreate::Never
            } else {
                Recreate::Diverged
            };
            up.service(service, policy);
        }
    }
    up.plan
}

/// Plans `down`: stops containers with dependents first, removes them, then removes the
/// project's networks and, with `volumes`, its named volumes.
pub fn plan_down(project: &Project, observed: &Observed, options: &DownOptions) -> Plan {
    let graph = ServiceGraph::new(project);
    let mut plan = Plan::default();
    let mut removed: Vec<usize> = Vec::new();
    let orphans: Vec<&ObservedContainer> = observed
        .containers
        .iter()
        .filter(|c| !is_known(project, &c.service))
        .collect();
    if options.remove_orphans {
        for c in &orphans {
            removed.push(stop_and_remove(
                project,
                &mut plan,
                c,
                Cause::Orphan,
                Vec::new(),
                (options.timeout_s, options.volumes),
            ));
        }
    } else if !orphans.is_empty() {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        plan.warnings.push(format!(
            "found orphan containers ({}) for this project; use --remove-orphans to clean them up",
            names.join(", ")
        ));
    }
    let mut known: Vec<String> = project.disabled_services.keys().cloned().collect();
    let mut stop_levels = levels(&graph, project);
    stop_levels.reverse();
    known.extend(stop_levels.into_iter().flatten());
    let mut done: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for service in &known {
        let deps: Vec<usize> = graph
            .dependents(service)
            .into_iter()
            .flat_map(|d| done.get(d).cloned().unwrap_or_default())
            .collect();
        let mut mine = Vec::new();
        for c in observed.containers.iter().filter(|c| &c.service == service) {
            let deps = deps.clone();
            let i = if is_running(c) {
                let stop = Action::StopContainer {
                    service: c.service.clone(),
                    name: c.name.clone(),
                    timeout_s: stop_timeout(project, &c.service, options.timeout_s),
                };
                let stop = plan.push(stop, Cause::Down, deps);
                mine.push(stop);
                let remove = Action::RemoveContainer {
                    service: c.service.clone(),
                    name: c.name.clone(),
                    volumes: options.volumes,
                };
                plan.push(remove, Cause::Down, vec![stop])
            } else {
                let remove = Action::RemoveContainer {
                    service: c.service.clone(),
                    name: c.name.clone(),
                    volumes: options.volumes,
                };
                let i = plan.push(remove, Cause::Down, deps);
                mine.push(i);
                i
            };
            removed.push(i);
        }
        done.insert(service.clone(), mine);
    }
    for key in project.network_names() {
        let net = &project.networks[key];
        if !net.external && observed.networks.iter().any(|n| n.name == net.name) {
            let rm = Action::RemoveNetwork {
                name: net.name.clone(),
            };
            plan.push(rm, Cause::Down, removed.clone());
        }
    }
    if options.volumes {
        for key in project.volume_names() {
            let vol = &project.volumes[key];
            if !vol.external && observed.volumes.iter().any(|v| v.name == vol.name) {
                let rm = Action::RemoveVolume {
                    name: vol.name.clone(),
                };
                plan.push(rm, Cause::Down, removed.clone());
            }
        }
    }
    plan
}

//! Project-level rules that no single attribute can check: references between objects,
//! dependency cycles, and combinations docker compose rejects.
//!
//! Runs over the converted model and reports every problem with the position recorded during
//! conversion and, where it helps, a hint ("did you mean `db`?", "enable profile `debug`").

use std::collections::HashMap;

use crate::error::{Error, ErrorKind, did_you_mean};
use crate::graph::ServiceGraph;
use crate::model::{Project, RefKind, Reference, Service};

/// Checks the project; returns every problem found.
pub fn check(project: &Project) -> Vec<Error> {
    let mut errors = Vec::new();
    check_name(project, &mut errors);
    let mut container_names: HashMap<&str, &str> = HashMap::new();
    for (name, svc) in &project.services {
        for r in &svc.meta.refs {
            check_reference(project, svc, r, &mut errors);
        }
        check_service_rules(svc, &mut errors);
        networking::check(project, svc, &mut errors);
        if let Some(cn) = &svc.container_name
            && let Some(other) = container_names.insert(cn, name)
            && let Some(loc) = svc.loc_of("container_name")
        {
            errors.push(Error::at(
                ErrorKind::Project,
                loc,
                format!("services `{other}` and `{name}` both use container_name `{cn}`"),
            ));
        }
    }
    let graph = ServiceGraph::depends_on_only(project);
    if let Some(cycle) = graph.find_cycle() {
        let first = &project.services[cycle[0].as_str()];
        let message = format!("dependency cycle between services: {}", cycle.join(" -> "));
        errors.push(match first.loc_of("depends_on") {
            Some(loc) => Error::at(ErrorKind::Cycle, loc, message),
            None => Error::Project {
                message,
                hint: None,
            },
        });
    }
    errors
}

fn check_name(project: &Project, errors: &mut Vec<Error>) {
    let n = &project.name;
    let ok = !n.is_empty()
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        errors.push(Error::Project {
            message: format!(
                "invalid project name `{n}`: it must contain only lowercase letters, digits, `-` and `_`, and start with a letter or digit"
            ),
            hint: None,
        });
    }
}

fn check_reference(project: &Project, svc: &Service, r: &Reference, errors: &mut Vec<Error>) {
    let me = &svc.name;
    if r.kind == RefKind::Service && r.name == *me {
        errors.push(Error::at(
            ErrorKind::Cycle,
            &r.loc,
            format!("service `{me}` depends on itself (through `{}`)", r.via),
        ));
        return;
    }
    let defined = match r.kind {
        RefKind::Service => project.services.contains_key(&r.name),
        RefKind::Network => r.name == "default" || project.networks.contains_key(&r.name),
        RefKind::Volume => project.volumes.contains_key(&r.name),
        RefKind::Secret => project.secrets.contains_key(&r.name),
        RefKind::Config => project.configs.contains_key(&r.name),
        RefKind::Model => project.models.contains_key(&r.name),
    };
    if defined {
        return;
    }
    let word = r.kind.word();
    if r.kind == RefKind::Service {
        if !r.required {
            return;
        }
        if let Some(profiles) = project.disabled_services.get(&r.name) {
            errors.push(Error::at_hint(
                ErrorKind::UndefinedReference,
                &r.loc,
                format!(
                    "service `{me}` needs service `{}` (through `{}`), which is not enabled",
                    r.name, r.via
                ),
                format!(
                    "enable one of its profiles ({}) with `--profile`, or mark the dependency `required: false`",
                    profiles.join(", ")
                ),
            ));
            return;
        }
    }
    let message = format!(
        "service `{me}` refers to undefined {word} `{}` (in `{}`)",
        r.name, r.via
    );
    let candidates: Vec<&str> = match r.kind {
        RefKind::Service => project.services.keys().map(String::as_str).collect(),
        RefKind::Network => project.networks.keys().map(String::as_str).collect(),
        RefKind::Volume => project.volumes.keys().map(String::as_str).collect(),
        RefKind::Secret => project.secrets.keys().map(String::as_str).collect(),
        RefKind::Config => project.configs.keys().map(String::as_str).collect(),
        RefKind::Model => project.models.keys().map(String::as_str).collect(),
    };
    let hint = match did_you_mean(&r.name, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None if r.kind == RefKind::Service => "define it under `services:`".to_string(),
        None => format!("declare it under the top-level `{word}s:` key"),
    };
    errors.push(Error::at_hint(
        ErrorKind::UndefinedReference,
        &r.loc,
        message,
        hint,
    ));
}

fn check_service_rules(svc: &Service, errors: &mut Vec<Error>) {
    let name = &svc.name;
    if svc.container_name.is_some()
        && svc.replicas() > 1
        && let Some(loc) = svc.loc_of("container_name")
    {
        errors.push(Error::at_hint(
            ErrorKind::Project,
            loc,
            format!(
                "service `{name}` sets container_name but asks for {} replicas; container names must be unique",
                svc.replicas()
            ),
            "remove `container_name` or run a single replica",
        ));
    }
    if svc.network_mode.is_some()
        && svc.meta.get("networks").is_some()
        && let Some(loc) = svc.loc_of("network_mode")
    {
        errors.push(Error::at(
            ErrorKind::Project,
            loc,
            format!("service `{name}` sets both `network_mode` and `networks`; use only one"),
        ));
    }
    if svc.image.is_none()
        && svc.build.is_none()
        && svc.provider.is_none()
        && let Some(loc) = svc.meta.loc.as_ref()
    {
        errors.push(Error::at_hint(
            ErrorKind::Project,
            loc,
            format!("service `{name}` has neither an image nor a build context"),
            "add `image:` or `build:`",
        ));
    }
}

mod networking;
#[cfg(test)]
mod tests;
